/**
 * ADD OR ADC SBB AND SUB XOR CMP (opcodes 00-3D and group 1: 80 81 83), TEST (84 85 A8 A9),
 * INC/DEC (FE FF /0 /1, 40-4F outside 64-bit mode), NOT/NEG (F6 F7 /2 /3).
 */
import type { Cpu } from '../cpu.js';
import { carryFlag, Lazy, LazyOp } from '../flags.js';
import type { Handler, Insn } from '../insn.js';
import {
  aluAccI,
  aluEG,
  aluEI,
  aluGE,
  type JitAlu,
  type JitTemplate,
  testEG,
} from '../jit/templates.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { getRegSized, linear, readSized, setRegSized, writeSized } from './operands.js';
import { sized } from './sized.js';

export const enum AluOp {
  Add = 0,
  Or = 1,
  Adc = 2,
  Sbb = 3,
  And = 4,
  Sub = 5,
  Xor = 6,
  Cmp = 7,
}

const MASK = [0, 0xff, 0xffff, 0, 0xffffffff | 0] as const;

/**
 * Computes `a op b` at `size` bits, records the lazy flags and returns the result (lo; hi in
 * cpu.hi for 64 bits). Values narrower than 32 bits are returned masked.
 */
export function alu(
  cpu: Cpu,
  op: AluOp,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
): number {
  const lazy = cpu.lazy;
  let lo: number;
  let hi = 0;
  let lazyOp: LazyOp;
  switch (op) {
    case AluOp.Add:
    case AluOp.Adc: {
      const carryIn = op === AluOp.Adc && carryFlag(cpu) !== 0 ? 1 : 0;
      lo = (aLo + bLo + carryIn) | 0;
      if (size === 64) {
        const carry = lo >>> 0 < aLo >>> 0 || (carryIn === 1 && lo === aLo) ? 1 : 0;
        hi = (aHi + bHi + carry) | 0;
      }
      lazyOp = carryIn ? LazyOp.Adc1 : LazyOp.Add;
      break;
    }
    case AluOp.Sub:
    case AluOp.Cmp:
    case AluOp.Sbb: {
      const borrowIn = op === AluOp.Sbb && carryFlag(cpu) !== 0 ? 1 : 0;
      lo = (aLo - bLo - borrowIn) | 0;
      if (size === 64) {
        const borrow = aLo >>> 0 < bLo >>> 0 || (borrowIn === 1 && aLo === bLo) ? 1 : 0;
        hi = (aHi - bHi - borrow) | 0;
      }
      lazyOp = borrowIn ? LazyOp.Sbb1 : LazyOp.Sub;
      break;
    }
    case AluOp.Or:
      lo = aLo | bLo;
      hi = aHi | bHi;
      lazyOp = LazyOp.Logic;
      break;
    case AluOp.And:
      lo = aLo & bLo;
      hi = aHi & bHi;
      lazyOp = LazyOp.Logic;
      break;
    default:
      lo = aLo ^ bLo;
      hi = aHi ^ bHi;
      lazyOp = LazyOp.Logic;
  }
  if (size < 32) lo &= MASK[size >> 3]!;
  lazy[Lazy.Op] = lazyOp;
  lazy[Lazy.Size] = size;
  lazy[Lazy.Res] = lo;
  lazy[Lazy.ResHi] = hi;
  lazy[Lazy.A] = aLo;
  lazy[Lazy.AHi] = aHi;
  lazy[Lazy.B] = bLo;
  lazy[Lazy.BHi] = bHi;
  cpu.hi = hi;
  return lo;
}

/** Handlers for one ALU op in one operand form, for 8 or for 16/32/64 bits. */
/** E ← E op G (00 01 08 09 …): register or read-modify-write memory destination. */
function formEG(op: AluOp, size: number): Handler {
  return (cpu: Cpu, i: Insn) => {
    const b = getRegSized(cpu, i.reg, size);
    const bHi = cpu.hi;
    if (i.mod === 3) {
      const a = getRegSized(cpu, i.rm, size);
      const r = alu(cpu, op, size, a, cpu.hi, b, bHi);
      if (op !== AluOp.Cmp) setRegSized(cpu, i.rm, size, r, cpu.hi);
    } else {
      const lo = linear(cpu, i);
      const hi = cpu.eaHi;
      const a = readSized(cpu, lo, hi, size);
      const r = alu(cpu, op, size, a, cpu.hi, b, bHi);
      if (op !== AluOp.Cmp) writeSized(cpu, lo, hi, size, r, cpu.hi);
    }
  };
}

/** G ← G op E (02 03 0A 0B …). */
function formGE(op: AluOp, size: number): Handler {
  return (cpu: Cpu, i: Insn) => {
    let b: number;
    let bHi: number;
    if (i.mod === 3) {
      b = getRegSized(cpu, i.rm, size);
      bHi = cpu.hi;
    } else {
      b = readSized(cpu, linear(cpu, i), cpu.eaHi, size);
      bHi = cpu.hi;
    }
    const a = getRegSized(cpu, i.reg, size);
    const r = alu(cpu, op, size, a, cpu.hi, b, bHi);
    if (op !== AluOp.Cmp) setRegSized(cpu, i.reg, size, r, cpu.hi);
  };
}

/** E ← E op immediate (group 1, and AL/rAX forms where `accumulator`). */
function formEI(op: AluOp, size: number, accumulator: boolean): Handler {
  return (cpu: Cpu, i: Insn) => {
    const b = i.immLo;
    const bHi = i.immHi;
    if (accumulator || i.mod === 3) {
      const n = accumulator ? 0 : i.rm;
      const a = getRegSized(cpu, n, size);
      const r = alu(cpu, op, size, a, cpu.hi, b, bHi);
      if (op !== AluOp.Cmp) setRegSized(cpu, n, size, r, cpu.hi);
    } else {
      const lo = linear(cpu, i);
      const hi = cpu.eaHi;
      const a = readSized(cpu, lo, hi, size);
      const r = alu(cpu, op, size, a, cpu.hi, b, bHi);
      if (op !== AluOp.Cmp) writeSized(cpu, lo, hi, size, r, cpu.hi);
    }
  };
}

/** TEST E, G / TEST E, imm / TEST acc, imm: AND without writing. */
function formTest(size: number, source: 'reg' | 'imm', accumulator: boolean): Handler {
  return (cpu: Cpu, i: Insn) => {
    let b = i.immLo;
    let bHi = i.immHi;
    if (source === 'reg') {
      b = getRegSized(cpu, i.reg, size);
      bHi = cpu.hi;
    }
    let a: number;
    if (accumulator || i.mod === 3) a = getRegSized(cpu, accumulator ? 0 : i.rm, size);
    else a = readSized(cpu, linear(cpu, i), cpu.eaHi, size);
    alu(cpu, AluOp.And, size, a, cpu.hi, b, bHi);
  };
}

/** INC/DEC: like ADD/SUB 1 but CF is kept. */
function formIncDec(size: number, dec: boolean, register: boolean): Handler {
  return (cpu: Cpu, i: Insn) => {
    const carry = carryFlag(cpu);
    const apply = (a: number, aHi: number): number => {
      const r = alu(cpu, dec ? AluOp.Sub : AluOp.Add, size, a, aHi, 1, 0);
      cpu.lazy[Lazy.Op] = dec ? LazyOp.Dec : LazyOp.Inc;
      cpu.lazy[Lazy.Carry] = carry;
      return r;
    };
    if (register || i.mod === 3) {
      const n = register ? i.reg : i.rm;
      const r = apply(getRegSized(cpu, n, size), cpu.hi);
      setRegSized(cpu, n, size, r, cpu.hi);
    } else {
      const lo = linear(cpu, i);
      const hi = cpu.eaHi;
      const r = apply(readSized(cpu, lo, hi, size), cpu.hi);
      writeSized(cpu, lo, hi, size, r, cpu.hi);
    }
  };
}

/** NOT (no flags) and NEG (SUB from 0: CF = operand ≠ 0). */
function formNotNeg(size: number, neg: boolean): Handler {
  return (cpu: Cpu, i: Insn) => {
    const compute = (a: number, aHi: number): number => {
      if (neg) return alu(cpu, AluOp.Sub, size, 0, 0, a, aHi);
      cpu.hi = ~aHi;
      return size < 32 ? ~a & MASK[size >> 3]! : ~a;
    };
    if (i.mod === 3) {
      const r = compute(getRegSized(cpu, i.rm, size), cpu.hi);
      setRegSized(cpu, i.rm, size, r, cpu.hi);
    } else {
      const lo = linear(cpu, i);
      const hi = cpu.eaHi;
      const r = compute(readSized(cpu, lo, hi, size), cpu.hi);
      writeSized(cpu, lo, hi, size, r, cpu.hi);
    }
  };
}

const NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

export function install(t: OpcodeTable): void {
  for (let op = 0; op < 8; op++) {
    const name = NAMES[op]!;
    const lock = op === AluOp.Cmp ? 0 : OpFlag.Lockable;
    const base = op * 8;
    // ADC and SBB need the carry: no template, they run their handlers.
    const jit = op === AluOp.Adc || op === AluOp.Sbb ? undefined : (op as number as JitAlu);
    const withJit = (template: ((op: JitAlu) => JitTemplate) | undefined) =>
      jit === undefined || template === undefined ? {} : { jit: template(jit) };
    t.define(base + 0, { name, exec: formEG(op, 8), flags: OpFlag.ModRM | OpFlag.Byte | lock });
    t.define(base + 1, {
      name,
      exec: sized((s) => formEG(op, s)),
      flags: OpFlag.ModRM | lock,
      ...withJit(aluEG),
    });
    t.define(base + 2, { name, exec: formGE(op, 8), flags: OpFlag.ModRM | OpFlag.Byte });
    t.define(base + 3, {
      name,
      exec: sized((s) => formGE(op, s)),
      flags: OpFlag.ModRM,
      ...withJit(aluGE),
    });
    t.define(base + 4, { name, exec: formEI(op, 8, true), imm: Imm.Ib });
    t.define(base + 5, {
      name,
      exec: sized((s) => formEI(op, s, true)),
      imm: Imm.Iz,
      ...withJit(aluAccI),
    });
    t.defineGroup(0x80, op, {
      name,
      exec: formEI(op, 8, false),
      flags: OpFlag.ModRM | OpFlag.Byte | lock,
      imm: Imm.Ib,
    });
    t.defineGroup(0x81, op, {
      name,
      exec: sized((s) => formEI(op, s, false)),
      flags: OpFlag.ModRM | lock,
      imm: Imm.Iz,
      ...withJit(aluEI),
    });
    t.defineGroup(0x82, op, {
      name,
      exec: formEI(op, 8, false),
      flags: OpFlag.ModRM | OpFlag.Byte | lock | OpFlag.Invalid64,
      imm: Imm.Ib,
    });
    t.defineGroup(0x83, op, {
      name,
      exec: sized((s) => formEI(op, s, false)),
      flags: OpFlag.ModRM | lock,
      imm: Imm.Ib,
      ...withJit(aluEI),
    });
  }
  t.define(0x84, {
    name: 'test',
    exec: formTest(8, 'reg', false),
    flags: OpFlag.ModRM | OpFlag.Byte,
  });
  t.define(0x85, {
    name: 'test',
    exec: sized((s) => formTest(s, 'reg', false)),
    flags: OpFlag.ModRM,
    jit: testEG,
  });
  t.define(0xa8, { name: 'test', exec: formTest(8, 'imm', true), imm: Imm.Ib });
  t.define(0xa9, { name: 'test', exec: sized((s) => formTest(s, 'imm', true)), imm: Imm.Iz });
  t.defineGroup(0xf6, 0, {
    name: 'test',
    exec: formTest(8, 'imm', false),
    flags: OpFlag.ModRM | OpFlag.Byte,
    imm: Imm.Ib,
  });
  t.defineGroup(0xf6, 1, {
    name: 'test',
    exec: formTest(8, 'imm', false),
    flags: OpFlag.ModRM | OpFlag.Byte,
    imm: Imm.Ib,
  });
  t.defineGroup(0xf7, 0, {
    name: 'test',
    exec: sized((s) => formTest(s, 'imm', false)),
    flags: OpFlag.ModRM,
    imm: Imm.Iz,
  });
  t.defineGroup(0xf7, 1, {
    name: 'test',
    exec: sized((s) => formTest(s, 'imm', false)),
    flags: OpFlag.ModRM,
    imm: Imm.Iz,
  });
  t.defineGroup(0xf6, 2, {
    name: 'not',
    exec: formNotNeg(8, false),
    flags: OpFlag.ModRM | OpFlag.Byte | OpFlag.Lockable,
  });
  t.defineGroup(0xf7, 2, {
    name: 'not',
    exec: sized((s) => formNotNeg(s, false)),
    flags: OpFlag.ModRM | OpFlag.Lockable,
  });
  t.defineGroup(0xf6, 3, {
    name: 'neg',
    exec: formNotNeg(8, true),
    flags: OpFlag.ModRM | OpFlag.Byte | OpFlag.Lockable,
  });
  t.defineGroup(0xf7, 3, {
    name: 'neg',
    exec: sized((s) => formNotNeg(s, true)),
    flags: OpFlag.ModRM | OpFlag.Lockable,
  });
  t.defineGroup(0xfe, 0, {
    name: 'inc',
    exec: formIncDec(8, false, false),
    flags: OpFlag.ModRM | OpFlag.Byte | OpFlag.Lockable,
  });
  t.defineGroup(0xfe, 1, {
    name: 'dec',
    exec: formIncDec(8, true, false),
    flags: OpFlag.ModRM | OpFlag.Byte | OpFlag.Lockable,
  });
  t.defineGroup(0xff, 0, {
    name: 'inc',
    exec: sized((s) => formIncDec(s, false, false)),
    flags: OpFlag.ModRM | OpFlag.Lockable,
  });
  t.defineGroup(0xff, 1, {
    name: 'dec',
    exec: sized((s) => formIncDec(s, true, false)),
    flags: OpFlag.ModRM | OpFlag.Lockable,
  });
  for (let r = 0; r < 8; r++) {
    const flags = OpFlag.RegInOpcode | OpFlag.Invalid64;
    t.define(0x40 + r, { name: 'inc', exec: sized((s) => formIncDec(s, false, true)), flags });
    t.define(0x48 + r, { name: 'dec', exec: sized((s) => formIncDec(s, true, true)), flags });
  }
}
