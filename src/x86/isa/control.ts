/** Near branches: JMP, Jcc, CALL, RET, LOOP family, JCXZ; INT n, INT3, INTO. */
import type { Cpu } from '../cpu.js';
import { softwareInterrupt } from '../exceptions.js';
import { condition, Flag, readFlags } from '../flags.js';
import type { Handler, Insn } from '../insn.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { readRmSized } from './operands.js';
import { sized } from './sized.js';
import { discard, pop, push } from './stack.js';

/** Sets RIP to the address after the instruction. */
export function stepOver(cpu: Cpu, i: Insn): void {
  const next = (cpu.ripLo + i.len) | 0;
  if (cpu.codeSize === 64) {
    if (next >>> 0 < cpu.ripLo >>> 0) cpu.ripHi = (cpu.ripHi + 1) | 0;
    cpu.ripLo = next;
  } else {
    cpu.ripLo = cpu.codeSize === 32 ? next : next & 0xffff;
  }
}

/** Jumps to an absolute target of the instruction's operand size. */
export function jumpTo(cpu: Cpu, size: number, lo: number, hi: number): void {
  if (size === 64) {
    cpu.ripLo = lo;
    cpu.ripHi = hi;
  } else {
    cpu.ripLo = size === 32 ? lo : lo & 0xffff;
    cpu.ripHi = 0;
  }
}

/** Jumps relative to the next instruction by the sign-extended immediate. */
export function jumpRelative(cpu: Cpu, i: Insn): void {
  stepOver(cpu, i);
  const lo = (cpu.ripLo + i.immLo) | 0;
  if (i.opsize === 64) {
    const carry = lo >>> 0 < cpu.ripLo >>> 0 ? 1 : 0;
    cpu.ripHi = (cpu.ripHi + i.immHi + carry) | 0;
    cpu.ripLo = lo;
  } else {
    jumpTo(cpu, i.opsize, lo, 0);
  }
}

/** Pushes the return address (the next instruction). */
function pushReturn(cpu: Cpu, i: Insn): void {
  const size = i.opsize;
  const next = (cpu.ripLo + i.len) | 0;
  const nextHi = next >>> 0 < cpu.ripLo >>> 0 ? (cpu.ripHi + 1) | 0 : cpu.ripHi;
  push(cpu, size, size === 16 ? next & 0xffff : next, nextHi);
}

const jmpRel: Handler = (cpu, i) => jumpRelative(cpu, i);

const jcc: Handler = (cpu, i) => {
  if (condition(cpu, i.op & 0xf)) jumpRelative(cpu, i);
  else stepOver(cpu, i);
};

const callRel: Handler = (cpu, i) => {
  pushReturn(cpu, i);
  jumpRelative(cpu, i);
};

const jmpIndirect =
  (size: number): Handler =>
  (cpu, i) => {
    const lo = readRmSized(cpu, i, size);
    jumpTo(cpu, size, lo, cpu.hi);
  };

const callIndirect =
  (size: number): Handler =>
  (cpu, i) => {
    const lo = readRmSized(cpu, i, size);
    const hi = cpu.hi;
    pushReturn(cpu, i);
    jumpTo(cpu, size, lo, hi);
  };

const ret =
  (size: number, withImmediate: boolean): Handler =>
  (cpu, i) => {
    const lo = pop(cpu, size);
    const hi = cpu.hi;
    if (withImmediate) discard(cpu, i.immLo & 0xffff);
    jumpTo(cpu, size, lo, hi);
  };

/** The count register at the address size, after decrementing it (LOOP) or as is (JCXZ). */
function counter(cpu: Cpu, i: Insn, decrement: boolean): boolean {
  const gpr = cpu.gpr;
  if (i.adsize === 64) {
    if (decrement) {
      const lo = (gpr[2]! - 1) | 0;
      if (lo === -1) gpr[3] = (gpr[3]! - 1) | 0;
      gpr[2] = lo;
    }
    return (gpr[2]! | gpr[3]!) !== 0;
  }
  if (i.adsize === 32) {
    if (decrement) {
      gpr[2] = (gpr[2]! - 1) | 0;
      if (cpu.codeSize === 64) gpr[3] = 0;
    }
    return gpr[2] !== 0;
  }
  if (decrement) gpr[2] = (gpr[2]! & ~0xffff) | ((gpr[2]! - 1) & 0xffff);
  return (gpr[2]! & 0xffff) !== 0;
}

/** E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JCXZ/JECXZ/JRCXZ. */
const loop: Handler = (cpu, i) => {
  let taken: boolean;
  switch (i.op) {
    case 0xe0:
      taken = counter(cpu, i, true) && !(readFlags(cpu) & Flag.ZF);
      break;
    case 0xe1:
      taken = counter(cpu, i, true) && (readFlags(cpu) & Flag.ZF) !== 0;
      break;
    case 0xe2:
      taken = counter(cpu, i, true);
      break;
    default:
      taken = !counter(cpu, i, false);
  }
  if (taken) jumpRelative(cpu, i);
  else stepOver(cpu, i);
};

const intN: Handler = (cpu, i) => {
  const start = cpu.ripLo;
  const startHi = cpu.ripHi;
  stepOver(cpu, i);
  try {
    softwareInterrupt(cpu, i.op === 0xcc ? 3 : i.op === 0xce ? 4 : i.immLo);
  } catch (error) {
    // A fault in delivery is reported at the INT instruction itself.
    cpu.ripLo = start;
    cpu.ripHi = startHi;
    throw error;
  }
};

const into: Handler = (cpu, i) => {
  if (readFlags(cpu) & Flag.OF) intN(cpu, i);
  else stepOver(cpu, i);
};

export function install(t: OpcodeTable): void {
  const branch = OpFlag.Branch;
  const direct = branch | OpFlag.DirectJump | OpFlag.Force64;
  t.define(0xeb, { name: 'jmp', exec: jmpRel, flags: direct, imm: Imm.Jb });
  t.define(0xe9, { name: 'jmp', exec: jmpRel, flags: direct, imm: Imm.Jz });
  t.define(0xe8, { name: 'call', exec: callRel, flags: direct, imm: Imm.Jz });
  const conditional = branch | OpFlag.Conditional | OpFlag.Force64;
  for (let cc = 0; cc < 16; cc++) {
    t.define(0x70 + cc, { name: 'jcc', exec: jcc, flags: conditional, imm: Imm.Jb });
    t.define(0x0f80 + cc, { name: 'jcc', exec: jcc, flags: conditional, imm: Imm.Jz });
  }
  for (let op = 0xe0; op <= 0xe3; op++) {
    t.define(op, { name: 'loop', exec: loop, flags: branch | OpFlag.Force64, imm: Imm.Jb });
  }
  t.defineGroup(0xff, 2, {
    name: 'call',
    exec: sized(callIndirect),
    flags: branch | OpFlag.ModRM | OpFlag.Force64,
  });
  t.defineGroup(0xff, 4, {
    name: 'jmp',
    exec: sized(jmpIndirect),
    flags: branch | OpFlag.ModRM | OpFlag.Force64,
  });
  t.define(0xc3, {
    name: 'ret',
    exec: sized((s) => ret(s, false)),
    flags: branch | OpFlag.Force64,
  });
  t.define(0xc2, {
    name: 'ret',
    exec: sized((s) => ret(s, true)),
    flags: branch | OpFlag.Force64,
    imm: Imm.Iw,
  });
  t.define(0xcd, { name: 'int', exec: intN, flags: branch, imm: Imm.Ub });
  t.define(0xcc, { name: 'int3', exec: intN, flags: branch });
  t.define(0xce, { name: 'into', exec: into, flags: branch | OpFlag.Invalid64 });
}
