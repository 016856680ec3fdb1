/**
 * SSE/SSE2/SSE3 floating-point arithmetic: ADD SUB MUL DIV MIN MAX SQRT (PS PD SS SD),
 * RCP/RSQRT (PS SS), CMPPS/PD/SS/SD, COMISS/COMISD/UCOMISS/UCOMISD, ADDSUBPS/PD and
 * HADD/HSUB PS/PD. The arithmetic itself is in fp.ts.
 */
import { read32 } from '../access.js';
import type { Cpu } from '../cpu.js';
import { Flag, setArithFlags } from '../flags.js';
import type { Handler, Insn } from '../insn.js';
import { linear } from '../isa/operands.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import {
  Arith,
  arithD,
  arithS,
  compareD,
  compareOrderD,
  compareOrderS,
  compareS,
  env,
  minMaxD,
  minMaxS,
  reciprocalS,
  sqrtD,
  sqrtS,
} from './fp.js';
import {
  A,
  B,
  checkSse,
  fpBegin,
  fpEnd,
  loadXmmReg,
  loadXmmRm,
  loadXmmRm64,
  R,
  storeXmmReg,
} from './regs.js';

/** A lane operation on single-precision bits (destination, source). */
type LaneS = (a: number, b: number) => number;
/** A lane operation on doubles: lo/hi of destination and source; returns lo, hi in env.hi. */
type LaneD = (aLo: number, aHi: number, bLo: number, bHi: number) => number;

/** The low dword of the xmm/m32 source into B.i32[0]. */
function loadScalarS(cpu: Cpu, i: Insn): void {
  B.i32[0] = i.mod === 3 ? cpu.fpu.xmm[i.rm * 4]! : read32(cpu, linear(cpu, i), cpu.eaHi);
}

function packedS(f: LaneS): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    loadXmmReg(cpu, i.reg, A);
    loadXmmRm(cpu, i, B);
    fpBegin(cpu);
    const a = A.i32;
    const b = B.i32;
    const r = R.i32;
    r[0] = f(a[0]!, b[0]!);
    r[1] = f(a[1]!, b[1]!);
    r[2] = f(a[2]!, b[2]!);
    r[3] = f(a[3]!, b[3]!);
    fpEnd(cpu);
    storeXmmReg(cpu, i.reg, R);
  };
}

function scalarS(f: LaneS): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    loadScalarS(cpu, i);
    fpBegin(cpu);
    const x = cpu.fpu.xmm;
    const result = f(x[i.reg * 4]!, B.i32[0]!);
    fpEnd(cpu);
    x[i.reg * 4] = result;
  };
}

function packedD(f: LaneD): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    loadXmmReg(cpu, i.reg, A);
    loadXmmRm(cpu, i, B);
    fpBegin(cpu);
    const a = A.i32;
    const b = B.i32;
    const r = R.i32;
    r[0] = f(a[0]!, a[1]!, b[0]!, b[1]!);
    r[1] = env.hi;
    r[2] = f(a[2]!, a[3]!, b[2]!, b[3]!);
    r[3] = env.hi;
    fpEnd(cpu);
    storeXmmReg(cpu, i.reg, R);
  };
}

function scalarD(f: LaneD): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    loadXmmRm64(cpu, i, B);
    fpBegin(cpu);
    const x = cpu.fpu.xmm;
    const d = i.reg * 4;
    const lo = f(x[d]!, x[d + 1]!, B.i32[0]!, B.i32[1]!);
    const hi = env.hi;
    fpEnd(cpu);
    x[d] = lo;
    x[d + 1] = hi;
  };
}

const laneS =
  (op: Arith): LaneS =>
  (a, b) =>
    arithS(op, a, b);
const laneD =
  (op: Arith): LaneD =>
  (aLo, aHi, bLo, bHi) =>
    arithD(op, aLo, aHi, bLo, bHi);

/** CMPPS/CMPSS/CMPPD/CMPSD: the predicate is imm8 bits 0-2. */
function compare(packed: boolean, double: boolean): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    const predicate = i.immLo & 7;
    const x = cpu.fpu.xmm;
    const d = i.reg * 4;
    fpBegin(cpu);
    if (packed) {
      loadXmmReg(cpu, i.reg, A);
      loadXmmRm(cpu, i, B);
      const a = A.i32;
      const b = B.i32;
      const r = R.i32;
      if (double) {
        r[0] = r[1] = compareD(predicate, a[0]!, a[1]!, b[0]!, b[1]!);
        r[2] = r[3] = compareD(predicate, a[2]!, a[3]!, b[2]!, b[3]!);
      } else {
        for (let k = 0; k < 4; k++) r[k] = compareS(predicate, a[k]!, b[k]!);
      }
      fpEnd(cpu);
      storeXmmReg(cpu, i.reg, R);
    } else if (double) {
      loadXmmRm64(cpu, i, B);
      const result = compareD(predicate, x[d]!, x[d + 1]!, B.i32[0]!, B.i32[1]!);
      fpEnd(cpu);
      x[d] = x[d + 1] = result;
    } else {
      loadScalarS(cpu, i);
      const result = compareS(predicate, x[d]!, B.i32[0]!);
      fpEnd(cpu);
      x[d] = result;
    }
  };
}

/** COMISS/UCOMISS/COMISD/UCOMISD: ZF PF CF from the comparison; OF SF AF cleared. */
function compareFlags(signaling: boolean, double: boolean): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    const x = cpu.fpu.xmm;
    const d = i.reg * 4;
    fpBegin(cpu);
    let order: number;
    if (double) {
      loadXmmRm64(cpu, i, B);
      order = compareOrderD(signaling, x[d]!, x[d + 1]!, B.i32[0]!, B.i32[1]!);
    } else {
      loadScalarS(cpu, i);
      order = compareOrderS(signaling, x[d]!, B.i32[0]!);
    }
    fpEnd(cpu);
    const flags =
      order === 2 ? Flag.ZF | Flag.PF | Flag.CF : order < 0 ? Flag.CF : order === 0 ? Flag.ZF : 0;
    setArithFlags(cpu, flags);
  };
}

const addSubS: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmReg(cpu, i.reg, A);
  loadXmmRm(cpu, i, B);
  fpBegin(cpu);
  for (let k = 0; k < 4; k++)
    R.i32[k] = arithS(k & 1 ? Arith.Add : Arith.Sub, A.i32[k]!, B.i32[k]!);
  fpEnd(cpu);
  storeXmmReg(cpu, i.reg, R);
};

const addSubD: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmReg(cpu, i.reg, A);
  loadXmmRm(cpu, i, B);
  fpBegin(cpu);
  const a = A.i32;
  const b = B.i32;
  R.i32[0] = arithD(Arith.Sub, a[0]!, a[1]!, b[0]!, b[1]!);
  R.i32[1] = env.hi;
  R.i32[2] = arithD(Arith.Add, a[2]!, a[3]!, b[2]!, b[3]!);
  R.i32[3] = env.hi;
  fpEnd(cpu);
  storeXmmReg(cpu, i.reg, R);
};

/** HADDPS/HSUBPS: pairs of A's lanes, then pairs of B's. */
function horizontalS(op: Arith): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    loadXmmReg(cpu, i.reg, A);
    loadXmmRm(cpu, i, B);
    fpBegin(cpu);
    const a = A.i32;
    const b = B.i32;
    const r = R.i32;
    r[0] = arithS(op, a[0]!, a[1]!);
    r[1] = arithS(op, a[2]!, a[3]!);
    r[2] = arithS(op, b[0]!, b[1]!);
    r[3] = arithS(op, b[2]!, b[3]!);
    fpEnd(cpu);
    storeXmmReg(cpu, i.reg, R);
  };
}

function horizontalD(op: Arith): Handler {
  return (cpu, i) => {
    checkSse(cpu);
    loadXmmReg(cpu, i.reg, A);
    loadXmmRm(cpu, i, B);
    fpBegin(cpu);
    const a = A.i32;
    const b = B.i32;
    const r = R.i32;
    r[0] = arithD(op, a[0]!, a[1]!, a[2]!, a[3]!);
    r[1] = env.hi;
    r[2] = arithD(op, b[0]!, b[1]!, b[2]!, b[3]!);
    r[3] = env.hi;
    fpEnd(cpu);
    storeXmmReg(cpu, i.reg, R);
  };
}

const M = OpFlag.ModRM;

/** Defines the PS, PD, SS and SD forms of an opcode. */
function defineFour(t: OpcodeTable, opcode: number, name: string, s: LaneS, d: LaneD): void {
  t.definePrefixed(opcode, 'none', { name: `${name}ps`, exec: packedS(s), flags: M });
  t.definePrefixed(opcode, 'p66', { name: `${name}pd`, exec: packedD(d), flags: M });
  t.definePrefixed(opcode, 'pf3', { name: `${name}ss`, exec: scalarS(s), flags: M });
  t.definePrefixed(opcode, 'pf2', { name: `${name}sd`, exec: scalarD(d), flags: M });
}

export function install(t: OpcodeTable): void {
  defineFour(t, 0x0f58, 'add', laneS(Arith.Add), laneD(Arith.Add));
  defineFour(t, 0x0f59, 'mul', laneS(Arith.Mul), laneD(Arith.Mul));
  defineFour(t, 0x0f5c, 'sub', laneS(Arith.Sub), laneD(Arith.Sub));
  defineFour(t, 0x0f5e, 'div', laneS(Arith.Div), laneD(Arith.Div));
  defineFour(
    t,
    0x0f5d,
    'min',
    (a, b) => minMaxS(false, a, b),
    (aLo, aHi, bLo, bHi) => minMaxD(false, aLo, aHi, bLo, bHi),
  );
  defineFour(
    t,
    0x0f5f,
    'max',
    (a, b) => minMaxS(true, a, b),
    (aLo, aHi, bLo, bHi) => minMaxD(true, aLo, aHi, bLo, bHi),
  );
  defineFour(
    t,
    0x0f51,
    'sqrt',
    (_a, b) => sqrtS(b),
    (_aLo, _aHi, bLo, bHi) => sqrtD(bLo, bHi),
  );
  const rsqrt: LaneS = (_a, b) => reciprocalS(b, true);
  const rcp: LaneS = (_a, b) => reciprocalS(b, false);
  t.definePrefixed(0x0f52, 'none', { name: 'rsqrtps', exec: packedS(rsqrt), flags: M });
  t.definePrefixed(0x0f52, 'pf3', { name: 'rsqrtss', exec: scalarS(rsqrt), flags: M });
  t.definePrefixed(0x0f53, 'none', { name: 'rcpps', exec: packedS(rcp), flags: M });
  t.definePrefixed(0x0f53, 'pf3', { name: 'rcpss', exec: scalarS(rcp), flags: M });

  const cmp = { flags: M, imm: Imm.Ub };
  t.definePrefixed(0x0fc2, 'none', { name: 'cmpps', exec: compare(true, false), ...cmp });
  t.definePrefixed(0x0fc2, 'p66', { name: 'cmppd', exec: compare(true, true), ...cmp });
  t.definePrefixed(0x0fc2, 'pf3', { name: 'cmpss', exec: compare(false, false), ...cmp });
  t.definePrefixed(0x0fc2, 'pf2', { name: 'cmpsd', exec: compare(false, true), ...cmp });
  t.definePrefixed(0x0f2e, 'none', { name: 'ucomiss', exec: compareFlags(false, false), flags: M });
  t.definePrefixed(0x0f2e, 'p66', { name: 'ucomisd', exec: compareFlags(false, true), flags: M });
  t.definePrefixed(0x0f2f, 'none', { name: 'comiss', exec: compareFlags(true, false), flags: M });
  t.definePrefixed(0x0f2f, 'p66', { name: 'comisd', exec: compareFlags(true, true), flags: M });

  t.definePrefixed(0x0fd0, 'p66', { name: 'addsubpd', exec: addSubD, flags: M });
  t.definePrefixed(0x0fd0, 'pf2', { name: 'addsubps', exec: addSubS, flags: M });
  t.definePrefixed(0x0f7c, 'p66', { name: 'haddpd', exec: horizontalD(Arith.Add), flags: M });
  t.definePrefixed(0x0f7c, 'pf2', { name: 'haddps', exec: horizontalS(Arith.Add), flags: M });
  t.definePrefixed(0x0f7d, 'p66', { name: 'hsubpd', exec: horizontalD(Arith.Sub), flags: M });
  t.definePrefixed(0x0f7d, 'pf2', { name: 'hsubps', exec: horizontalS(Arith.Sub), flags: M });
}
