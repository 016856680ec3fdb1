/** Data movement: MOV, LEA, XCHG, NOP, MOVZX/MOVSX/MOVSXD, PUSH/POP, CBW/CWD families. */
import { Fault, Vector } from '../fault.js';
import type { Handler } from '../insn.js';
import {
  lea as jitLea,
  movEG as jitMovEG,
  movGE as jitMovGE,
  movImm,
  movzxByte,
} from '../jit/templates.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import {
  effectiveAddress,
  getReg8,
  getRegSized,
  linear,
  readRm8,
  readRm16,
  readRmSized,
  readSized,
  setRegSized,
  writeRmSized,
  writeSized,
} from './operands.js';
import { sized } from './sized.js';
import { pop, push } from './stack.js';

const movEG =
  (size: number): Handler =>
  (cpu, i) => {
    const value = getRegSized(cpu, i.reg, size);
    writeRmSized(cpu, i, size, value, cpu.hi);
  };

const movGE =
  (size: number): Handler =>
  (cpu, i) => {
    const value = readRmSized(cpu, i, size);
    setRegSized(cpu, i.reg, size, value, cpu.hi);
  };

/** MOV r, imm (B0+r, B8+r) and MOV r/m, imm (C6 /0, C7 /0). */
const movImmReg =
  (size: number): Handler =>
  (cpu, i) =>
    setRegSized(cpu, i.reg, size, i.immLo, i.immHi);
const movImmRm =
  (size: number): Handler =>
  (cpu, i) =>
    writeRmSized(cpu, i, size, i.immLo, i.immHi);

/** A0-A3: MOV between the accumulator and a memory offset. */
const movAccFromMem =
  (size: number): Handler =>
  (cpu, i) => {
    const value = readSized(cpu, linear(cpu, i), cpu.eaHi, size);
    setRegSized(cpu, 0, size, value, cpu.hi);
  };
const movMemFromAcc =
  (size: number): Handler =>
  (cpu, i) => {
    const value = getRegSized(cpu, 0, size);
    writeSized(cpu, linear(cpu, i), cpu.eaHi, size, value, cpu.hi);
  };

/** LEA: the effective address without the segment base, truncated to the operand size. */
const lea =
  (size: number): Handler =>
  (cpu, i) => {
    const lo = effectiveAddress(cpu, i);
    setRegSized(cpu, i.reg, size, lo, cpu.eaHi);
  };

const xchgEG =
  (size: number): Handler =>
  (cpu, i) => {
    const regValue = getRegSized(cpu, i.reg, size);
    const regHi = cpu.hi;
    if (i.mod === 3) {
      const other = getRegSized(cpu, i.rm, size);
      setRegSized(cpu, i.rm, size, regValue, regHi);
      setRegSized(cpu, i.reg, size, other, cpu.hi);
    } else {
      const lo = linear(cpu, i);
      const hi = cpu.eaHi;
      const memory = readSized(cpu, lo, hi, size);
      const memoryHi = cpu.hi;
      writeSized(cpu, lo, hi, size, regValue, regHi);
      setRegSized(cpu, i.reg, size, memory, memoryHi);
    }
  };

/** 90+r: XCHG rAX, r (90 itself without REX.B is NOP; F3 90 is PAUSE). */
const xchgAcc =
  (size: number): Handler =>
  (cpu, i) => {
    if (i.reg === 0) {
      // 90 is NOP, even in 64-bit mode where XCHG EAX,EAX would zero-extend; F3 90 is PAUSE.
      if (i.rep === 1) cpu.pause();
      return;
    }
    const a = getRegSized(cpu, 0, size);
    const aHi = cpu.hi;
    const b = getRegSized(cpu, i.reg, size);
    setRegSized(cpu, 0, size, b, cpu.hi);
    setRegSized(cpu, i.reg, size, a, aHi);
  };

const nop: Handler = () => {};

const movzx8 =
  (size: number): Handler =>
  (cpu, i) =>
    setRegSized(cpu, i.reg, size, readRm8(cpu, i), 0);
const movzx16 =
  (size: number): Handler =>
  (cpu, i) =>
    setRegSized(cpu, i.reg, size, readRm16(cpu, i), 0);
const movsx8 =
  (size: number): Handler =>
  (cpu, i) => {
    const value = (readRm8(cpu, i) << 24) >> 24;
    setRegSized(cpu, i.reg, size, size === 16 ? value & 0xffff : value, value >> 31);
  };
const movsx16 =
  (size: number): Handler =>
  (cpu, i) => {
    const value = (readRm16(cpu, i) << 16) >> 16;
    setRegSized(cpu, i.reg, size, size === 16 ? value & 0xffff : value, value >> 31);
  };
/** 63: MOVSXD r64, r/m32 in 64-bit mode. Outside it, 63 is ARPL, which no guest we run uses. */
const movsxd =
  (size: number): Handler =>
  (cpu, i) => {
    if (cpu.codeSize !== 64) throw new Fault(Vector.UD);
    const value = readRmSized(cpu, i, 32);
    setRegSized(cpu, i.reg, size, value, size === 64 ? value >> 31 : 0);
  };

const pushReg =
  (size: number): Handler =>
  (cpu, i) => {
    const value = getRegSized(cpu, i.reg, size);
    push(cpu, size, value, cpu.hi);
  };
const popReg =
  (size: number): Handler =>
  (cpu, i) => {
    const value = pop(cpu, size);
    setRegSized(cpu, i.reg, size, value, cpu.hi);
  };
const pushImm =
  (size: number): Handler =>
  (cpu, i) =>
    push(cpu, size, i.immLo, i.immHi);
const pushRm =
  (size: number): Handler =>
  (cpu, i) => {
    const value = readRmSized(cpu, i, size);
    push(cpu, size, value, cpu.hi);
  };
/** POP r/m: the address is computed after RSP moves, as the architecture says. */
const popRm =
  (size: number): Handler =>
  (cpu, i) => {
    const saved0 = cpu.gpr[8]!;
    const saved1 = cpu.gpr[9]!;
    const value = pop(cpu, size);
    const valueHi = cpu.hi;
    try {
      writeRmSized(cpu, i, size, value, valueHi);
    } catch (error) {
      cpu.gpr[8] = saved0;
      cpu.gpr[9] = saved1;
      throw error;
    }
  };

/** 98: CBW / CWDE / CDQE. */
const convertAcc =
  (size: number): Handler =>
  (cpu) => {
    if (size === 16) setRegSized(cpu, 0, 16, ((getReg8(cpu, 0) << 24) >> 24) & 0xffff, 0);
    else if (size === 32) setRegSized(cpu, 0, 32, (cpu.gpr[0]! << 16) >> 16, 0);
    else setRegSized(cpu, 0, 64, cpu.gpr[0]!, cpu.gpr[0]! >> 31);
  };
/** 99: CWD / CDQ / CQO. */
const convertDx =
  (size: number): Handler =>
  (cpu) => {
    if (size === 16) setRegSized(cpu, 2, 16, (cpu.gpr[0]! << 16) >> 31, 0);
    else if (size === 32) setRegSized(cpu, 2, 32, cpu.gpr[0]! >> 31, 0);
    else setRegSized(cpu, 2, 64, cpu.gpr[1]! >> 31, cpu.gpr[1]! >> 31);
  };

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  t.define(0x88, { name: 'mov', exec: movEG(8), flags: rm | OpFlag.Byte });
  t.define(0x89, { name: 'mov', exec: sized(movEG), flags: rm, jit: jitMovEG });
  t.define(0x8a, { name: 'mov', exec: movGE(8), flags: rm | OpFlag.Byte });
  t.define(0x8b, { name: 'mov', exec: sized(movGE), flags: rm, jit: jitMovGE });
  t.define(0xa0, { name: 'mov', exec: movAccFromMem(8), imm: Imm.Ob });
  t.define(0xa1, { name: 'mov', exec: sized(movAccFromMem), imm: Imm.Ob });
  t.define(0xa2, { name: 'mov', exec: movMemFromAcc(8), imm: Imm.Ob });
  t.define(0xa3, { name: 'mov', exec: sized(movMemFromAcc), imm: Imm.Ob });
  for (let r = 0; r < 8; r++) {
    t.define(0xb0 + r, {
      name: 'mov',
      exec: movImmReg(8),
      flags: OpFlag.RegInOpcode | OpFlag.ByteRm,
      imm: Imm.Ub,
    });
    t.define(0xb8 + r, {
      name: 'mov',
      exec: sized(movImmReg),
      flags: OpFlag.RegInOpcode,
      imm: Imm.Iv,
      jit: movImm,
    });
    t.define(0x50 + r, {
      name: 'push',
      exec: sized(pushReg),
      flags: OpFlag.RegInOpcode | OpFlag.Default64,
    });
    t.define(0x58 + r, {
      name: 'pop',
      exec: sized(popReg),
      flags: OpFlag.RegInOpcode | OpFlag.Default64,
    });
    t.define(0x90 + r, {
      name: r === 0 ? 'nop' : 'xchg',
      exec: sized(xchgAcc),
      flags: OpFlag.RegInOpcode,
    });
  }
  t.defineGroup(0xc6, 0, { name: 'mov', exec: movImmRm(8), flags: rm | OpFlag.Byte, imm: Imm.Ub });
  t.defineGroup(0xc7, 0, { name: 'mov', exec: sized(movImmRm), flags: rm, imm: Imm.Iz });
  t.define(0x8d, { name: 'lea', exec: sized(lea), flags: rm | OpFlag.MemOnly, jit: jitLea });
  t.define(0x86, { name: 'xchg', exec: xchgEG(8), flags: rm | OpFlag.Byte | OpFlag.Lockable });
  t.define(0x87, { name: 'xchg', exec: sized(xchgEG), flags: rm | OpFlag.Lockable });
  t.defineGroup(0x0f1f, 0, { name: 'nop', exec: nop, flags: rm });
  t.define(0x0fb6, {
    name: 'movzx',
    exec: sized(movzx8),
    flags: rm | OpFlag.ByteRm,
    jit: movzxByte,
  });
  t.define(0x0fb7, { name: 'movzx', exec: sized(movzx16), flags: rm });
  t.define(0x0fbe, { name: 'movsx', exec: sized(movsx8), flags: rm | OpFlag.ByteRm });
  t.define(0x0fbf, { name: 'movsx', exec: sized(movsx16), flags: rm });
  t.define(0x63, { name: 'movsxd', exec: sized(movsxd), flags: rm });
  t.define(0x68, { name: 'push', exec: sized(pushImm), flags: OpFlag.Default64, imm: Imm.Iz });
  t.define(0x6a, { name: 'push', exec: sized(pushImm), flags: OpFlag.Default64, imm: Imm.Ib });
  t.defineGroup(0xff, 6, { name: 'push', exec: sized(pushRm), flags: rm | OpFlag.Default64 });
  t.defineGroup(0x8f, 0, { name: 'pop', exec: sized(popRm), flags: rm | OpFlag.Default64 });
  t.define(0x98, { name: 'cbw', exec: sized(convertAcc) });
  t.define(0x99, { name: 'cwd', exec: sized(convertDx) });
}
