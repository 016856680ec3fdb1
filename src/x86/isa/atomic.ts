/**
 * The read-modify-write exchanges that LOCK makes atomic: XADD (0F C0 C1), CMPXCHG (0F B0 B1),
 * CMPXCHG8B and CMPXCHG16B (0F C7 /1). The interpreter runs one instruction at a time, so
 * LOCK changes nothing here but which forms are allowed.
 */
import { Fault, Vector } from '../fault.js';
import { Flag, updateFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { AluOp, alu } from './alu.js';
import {
  getRegSized,
  linear,
  readSized,
  setReg32,
  setReg64,
  setRegSized,
  writeSized,
} from './operands.js';
import { sized } from './sized.js';

const ZF = Flag.ZF;

const xadd =
  (size: number): Handler =>
  (cpu, i) => {
    const s = getRegSized(cpu, i.reg, size);
    const sHi = cpu.hi;
    let lo = 0;
    let hi = 0;
    let d: number;
    if (i.mod === 3) {
      d = getRegSized(cpu, i.rm, size);
    } else {
      lo = linear(cpu, i);
      hi = cpu.eaHi;
      d = readSized(cpu, lo, hi, size);
    }
    const dHi = cpu.hi;
    const sum = alu(cpu, AluOp.Add, size, d, dHi, s, sHi);
    const sumHi = cpu.hi;
    if (i.mod === 3) {
      setRegSized(cpu, i.reg, size, d, dHi);
      setRegSized(cpu, i.rm, size, sum, sumHi);
    } else {
      writeSized(cpu, lo, hi, size, sum, sumHi);
      setRegSized(cpu, i.reg, size, d, dHi);
    }
  };

/**
 * CMPXCHG: compares the accumulator with r/m (flags as CMP). Equal: r/m ← reg. Not equal:
 * the accumulator ← r/m, and a memory destination is written back unchanged.
 */
const cmpxchg =
  (size: number): Handler =>
  (cpu, i) => {
    const a = getRegSized(cpu, 0, size);
    const aHi = cpu.hi;
    let lo = 0;
    let hi = 0;
    let d: number;
    if (i.mod === 3) {
      d = getRegSized(cpu, i.rm, size);
    } else {
      lo = linear(cpu, i);
      hi = cpu.eaHi;
      d = readSized(cpu, lo, hi, size);
    }
    const dHi = cpu.hi;
    alu(cpu, AluOp.Cmp, size, a, aHi, d, dHi);
    const equal = a === d && (size !== 64 || aHi === dHi);
    if (equal) {
      const s = getRegSized(cpu, i.reg, size);
      if (i.mod === 3) setRegSized(cpu, i.rm, size, s, cpu.hi);
      else writeSized(cpu, lo, hi, size, s, cpu.hi);
    } else {
      if (i.mod !== 3) writeSized(cpu, lo, hi, size, d, dHi);
      setRegSized(cpu, 0, size, d, dHi);
    }
  };

const cmpxchg8b: Handler = (cpu, i) => {
  const lo = linear(cpu, i);
  const hi = cpu.eaHi;
  const mLo = readSized(cpu, lo, hi, 64);
  const mHi = cpu.hi;
  const gpr = cpu.gpr;
  if (mLo === gpr[0] && mHi === gpr[4]) {
    writeSized(cpu, lo, hi, 64, gpr[6]!, gpr[2]!);
    updateFlags(cpu, ZF, ZF);
  } else {
    writeSized(cpu, lo, hi, 64, mLo, mHi);
    setReg32(cpu, 0, mLo);
    setReg32(cpu, 2, mHi);
    updateFlags(cpu, ZF, 0);
  }
};

const cmpxchg16b: Handler = (cpu, i) => {
  const lo = linear(cpu, i);
  const hi = cpu.eaHi;
  if (lo & 15) throw new Fault(Vector.GP, 0);
  const hiLo = (lo + 8) | 0;
  const hiHi = hiLo >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi;
  const m0 = readSized(cpu, lo, hi, 64);
  const m1 = cpu.hi;
  const m2 = readSized(cpu, hiLo, hiHi, 64);
  const m3 = cpu.hi;
  const gpr = cpu.gpr;
  if (m0 === gpr[0] && m1 === gpr[1] && m2 === gpr[4] && m3 === gpr[5]) {
    writeSized(cpu, lo, hi, 64, gpr[6]!, gpr[7]!);
    writeSized(cpu, hiLo, hiHi, 64, gpr[2]!, gpr[3]!);
    updateFlags(cpu, ZF, ZF);
  } else {
    writeSized(cpu, lo, hi, 64, m0, m1);
    writeSized(cpu, hiLo, hiHi, 64, m2, m3);
    setReg64(cpu, 0, m0, m1);
    setReg64(cpu, 2, m2, m3);
    updateFlags(cpu, ZF, 0);
  }
};

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const byte = OpFlag.Byte;
  const lock = OpFlag.Lockable;

  t.define(0x0fc0, { name: 'xadd', exec: xadd(8), flags: rm | byte | lock });
  t.define(0x0fc1, { name: 'xadd', exec: sized(xadd), flags: rm | lock });
  t.define(0x0fb0, { name: 'cmpxchg', exec: cmpxchg(8), flags: rm | byte | lock });
  t.define(0x0fb1, { name: 'cmpxchg', exec: sized(cmpxchg), flags: rm | lock });
  t.defineGroup(0x0fc7, 1, {
    name: 'cmpxchg8b',
    exec: [cmpxchg8b, cmpxchg8b, cmpxchg16b],
    flags: rm | OpFlag.MemOnly | lock,
  });
}
