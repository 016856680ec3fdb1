/**
 * The x87 FPU: escape opcodes D8-DF and FWAIT (9B).
 *
 * Values live in `cpu.fpu` in their 80-bit form; arithmetic is exact (fpu/arith80.ts) and
 * rounds to the FCW's precision and rounding controls; transcendental functions go through
 * doubles (fpu/transcendental.ts). Stack faults, masked and unmasked exceptions, #NM
 * (CR0.EM/TS) and deferred #MF follow fpu/x87.ts.
 *
 * Memory forms are group entries (ModRM.reg) marked MemOnly; register forms are defined one
 * by one (`defineRegisterForm`), so an undefined register encoding is #UD. The undocumented
 * aliases (FSTP1, FCOM2, FCOMP3, FXCH4, FCOMP5, FFREEP, FXCH7, FSTP8, FSTP9) and the 8087/287
 * leftovers FENI, FDISI, FSETPM (no-ops) are included.
 *
 * FOP, FIP/FCS and FDP/FDS are recorded by every non-control instruction (FDP only by those
 * with a memory operand); FCS/FDS are the selectors, FDP the operand's offset.
 */
import { read8, read16, read32, read64, write8, write16, write32, write64 } from '../access.js';
import { type Cpu, Cr0 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { condition, Flag, setArithFlags } from '../flags.js';
import {
  add,
  compare,
  div,
  extract,
  mul,
  remainder,
  roundInt,
  roundingOf,
  scale,
  sqrt,
} from '../fpu/arith80.js';
import {
  Cls,
  Ex,
  F80,
  fromBcd,
  fromInt32,
  fromInt64,
  indefinite,
  isSignaling,
  Num,
  Pair,
  pack80,
  Rc,
  toBcd,
  toFloat32,
  toFloat64,
  toInt,
  unpack32,
  unpack64,
  unpackF80,
} from '../fpu/float80.js';
import type { FpuState } from '../fpu/state.js';
import {
  f2xm1,
  fcos,
  fpatan,
  fptan,
  fsin,
  fsincos,
  fyl2x,
  fyl2xp1,
} from '../fpu/transcendental.js';
import {
  blocked,
  checkAvailable,
  checkPending,
  free,
  isEmpty,
  loadEnvironment,
  noteInstruction,
  noteOperand,
  pop,
  push,
  pushFault,
  read80,
  readST,
  record,
  restoreState,
  saveState,
  setControlWord,
  source,
  statusWord,
  storeEnvironment,
  updateSummary,
  write80,
  writeST,
} from '../fpu/x87.js';
import { type Handler, type Insn, NO_REG, RIP_BASE } from '../insn.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { effectiveAddress, linear, setReg16 } from './operands.js';

// Scratch values: handlers never nest.
const X = new F80();
const Y = new F80();
const Z = new F80();
const W = new F80();
const N = new Num();
const pair = new Pair();
const bcd = new Uint8Array(10);
const ONE = new F80().set(0x3fff, 0x80000000, 0);

/** Condition codes C0 C1 C2 C3. */
const CC = Ex.C0 | Ex.C1 | Ex.C2 | Ex.C3;

/** Memory operand formats. */
const enum Fmt {
  F32 = 0,
  F64 = 1,
  F80 = 2,
  I16 = 3,
  I32 = 4,
  I64 = 5,
}

/** ModRM.rm of a 16-bit memory operand, by base and index (see the decoder's MODRM16). */
function rm16(base: number, index: number): number {
  if (index === 6) return base === 3 ? 0 : 2;
  if (index === 7) return base === 3 ? 1 : 3;
  return base === 6 ? 4 : base === 7 ? 5 : base === 3 ? 7 : 6;
}

/**
 * The ModRM byte, for FOP. The decoder keeps the memory operand in decoded form, so rm is
 * recovered from it; an encoding with a redundant SIB byte (which compilers do not emit)
 * comes back as its shorter equivalent.
 */
function modrmOf(i: Insn): number {
  let rm: number;
  if (i.mod === 3) rm = i.rm & 7;
  else if (i.adsize === 16) rm = rm16(i.base, i.index);
  else if (i.base === RIP_BASE) rm = 5;
  else if (i.index !== NO_REG || (i.base & 7) === 4) rm = 4;
  else if (i.base === NO_REG) rm = i.adsize === 64 || i.mod !== 0 ? 4 : 5;
  else rm = i.base & 7;
  return (i.mod << 6) | ((i.reg & 7) << 3) | rm;
}

/** The prologue of a non-control instruction: #NM, pending #MF, then FOP/FIP. */
function start(cpu: Cpu, i: Insn): FpuState {
  checkAvailable(cpu);
  checkPending(cpu);
  noteInstruction(cpu, i.op, modrmOf(i));
  return cpu.fpu;
}

/** The memory operand's linear address (lo; hi in cpu.eaHi); records FDP/FDS if `note`. */
function address(cpu: Cpu, i: Insn, note = true): number {
  if (note) {
    const offset = effectiveAddress(cpu, i);
    noteOperand(cpu, offset, cpu.eaHi, i.seg);
  }
  return linear(cpu, i);
}

/** Reads a memory operand as an 80-bit value; returns DE for denormal reals (SNaNs kept). */
function load(cpu: Cpu, i: Insn, fmt: Fmt, out: F80): number {
  const lo = address(cpu, i);
  const hi = cpu.eaHi;
  switch (fmt) {
    case Fmt.F32:
      pack80(unpack32(read32(cpu, lo, hi), N), out);
      return N.denormal ? Ex.DE : 0;
    case Fmt.F64: {
      const low = read64(cpu, lo, hi);
      pack80(unpack64(low, cpu.hi, N), out);
      return N.denormal ? Ex.DE : 0;
    }
    case Fmt.F80:
      read80(cpu, lo, hi, out);
      return 0;
    case Fmt.I16:
      fromInt32((read16(cpu, lo, hi) << 16) >> 16, out);
      return 0;
    case Fmt.I32:
      fromInt32(read32(cpu, lo, hi), out);
      return 0;
    default: {
      const low = read64(cpu, lo, hi);
      fromInt64(low, cpu.hi, out);
      return 0;
    }
  }
}

/** Adds UE when the result was tiny and underflow is unmasked (it then traps even if exact). */
function withTiny(fpu: FpuState, ex: number): number {
  return ex & Ex.Tiny && !(fpu.fcw & Ex.UE) ? ex | Ex.UE : ex;
}

// ---- arithmetic ---------------------------------------------------------------------

/** dst op src for the ModRM.reg operation (4 sub, 5 subr, 6 div, 7 divr); `srcDenormal`
 * says the source was a single/double denormal in memory. */
function arithmetic(
  op: number,
  a: F80,
  b: F80,
  fcw: number,
  out: F80,
  srcDenormal: boolean,
): number {
  const asB = srcDenormal ? 2 : 0;
  const asA = srcDenormal ? 1 : 0;
  switch (op) {
    case 0:
      return add(a, b, false, fcw, out, asB);
    case 1:
      return mul(a, b, fcw, out, asB);
    case 4:
      return add(a, b, true, fcw, out, asB);
    case 5:
      return add(b, a, true, fcw, out, asA);
    case 6:
      return div(a, b, fcw, out, asB);
    default:
      return div(b, a, fcw, out, asA);
  }
}

/** ST(dst) ← X op Y, then `pops` pops; `ex` carries the operands' stack faults. */
function finishArithmetic(
  fpu: FpuState,
  op: number,
  ex: number,
  dst: number,
  pops: number,
  srcDenormal = false,
): void {
  if (ex & Ex.SF) indefinite(Z);
  else ex |= arithmetic(op, X, Y, fpu.fcw, Z, srcDenormal);
  if (blocked(fpu, ex)) return;
  writeST(fpu, dst, Z);
  if (pops) pop(fpu);
  record(fpu, ex);
}

/** Compares X with Y into C0 C2 C3 (or EFLAGS for FCOMI), popping `pops` times. */
function finishCompare(
  cpu: Cpu,
  ex: number,
  quiet: boolean,
  pops: number,
  eflags: boolean,
  srcDenormal = false,
): void {
  const fpu = cpu.fpu;
  if (ex & Ex.SF) ex |= Ex.C3 | Ex.C2 | Ex.C0;
  else ex |= compare(X, Y, quiet, srcDenormal ? 2 : 0);
  // The comparison (unordered for an invalid operand) is reported even when the exception
  // is unmasked; only the pops are skipped then.
  if (eflags) {
    setArithFlags(
      cpu,
      (ex & Ex.C3 ? Flag.ZF : 0) | (ex & Ex.C2 ? Flag.PF : 0) | (ex & Ex.C0 ? Flag.CF : 0),
    );
    ex &= ~(Ex.C0 | Ex.C2 | Ex.C3);
  } else {
    fpu.fsw = (fpu.fsw & ~(Ex.C0 | Ex.C2 | Ex.C3)) | (ex & (Ex.C0 | Ex.C2 | Ex.C3));
  }
  if (blocked(fpu, ex)) return;
  for (let k = 0; k < pops; k++) pop(fpu);
  record(fpu, ex, eflags ? Ex.C1 : CC);
}

/** D8 DC DA DE memory forms: ST0 ← ST0 op m (reg 2/3: FCOM/FCOMP, FICOM/FICOMP). */
function arithMemory(fmt: Fmt): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const denormal = load(cpu, i, fmt, Y) !== 0;
    const ex = source(fpu, 0, X);
    const op = i.reg & 7;
    if (op === 2 || op === 3) finishCompare(cpu, ex, false, op - 2, false, denormal);
    else finishArithmetic(fpu, op, ex, 0, 0, denormal);
  };
}

/** D8 register forms: ST0 ← ST0 op ST(i). */
const arithST0: Handler = (cpu, i) => {
  const fpu = start(cpu, i);
  const ex = source(fpu, 0, X) | source(fpu, i.rm & 7, Y);
  finishArithmetic(fpu, i.reg & 7, ex, 0, 0);
};

/** DC and DE register forms: ST(i) ← ST(i) op ST0 (sub/subr and div/divr swap names). */
function arithSTi(pops: number): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const n = i.rm & 7;
    const ex = source(fpu, n, X) | source(fpu, 0, Y);
    const op = i.reg & 7;
    finishArithmetic(fpu, op >= 4 ? op ^ 1 : op, ex, n, pops);
  };
}

/** FCOM/FCOMP/FUCOM/FUCOMP ST(i), FCOMPP, FUCOMPP, FCOMI/FUCOMI(P). */
function compareST(quiet: boolean, pops: number, eflags: boolean, fixed = -1): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const ex = source(fpu, 0, X) | source(fpu, fixed >= 0 ? fixed : i.rm & 7, Y);
    finishCompare(cpu, ex, quiet, pops, eflags);
  };
}

/** ST0 ← f(ST0). */
function unary(f: (a: F80, fcw: number, out: F80) => number, cc = Ex.C1): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    let ex = source(fpu, 0, X);
    if (ex & Ex.SF) indefinite(Z);
    else ex |= f(X, fpu.fcw, Z);
    if (blocked(fpu, ex)) return;
    if (!(ex & Ex.C2 && cc & Ex.C2 && !(ex & Ex.SF))) writeST(fpu, 0, Z);
    record(fpu, ex, cc);
  };
}

/** ST0 ← f(ST0, ST1) (FSCALE, FPREM, FPREM1). */
function binaryST0(f: (a: F80, b: F80, fcw: number, out: F80) => number, cc = Ex.C1): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    let ex = source(fpu, 0, X) | source(fpu, 1, Y);
    if (ex & Ex.SF) indefinite(Z);
    else ex |= f(X, Y, fpu.fcw, Z);
    if (blocked(fpu, ex)) return;
    writeST(fpu, 0, Z);
    record(fpu, ex, cc);
  };
}

/** ST1 ← f(ST0, ST1), pop (FYL2X, FYL2XP1, FPATAN). */
function binaryPop(f: (st0: F80, st1: F80, out: F80) => number): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    let ex = source(fpu, 0, X) | source(fpu, 1, Y);
    if (ex & Ex.SF) indefinite(Z);
    else ex |= f(X, Y, Z);
    if (blocked(fpu, ex)) return;
    writeST(fpu, 1, Z);
    pop(fpu);
    record(fpu, ex);
  };
}

/** FPTAN, FSINCOS, FXTRACT: ST0 ← first result, then push the second. */
function unaryPush(f: (a: F80, first: F80, second: F80) => number): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    let ex = source(fpu, 0, X);
    if (!(ex & Ex.SF)) ex |= pushFault(fpu);
    if (ex & Ex.SF) {
      indefinite(Z);
      indefinite(W);
    } else {
      ex |= f(X, Z, W);
      if (ex & Ex.C2) {
        // Argument out of range: nothing changes.
        record(fpu, ex & ~Ex.C1, Ex.C1 | Ex.C2);
        return;
      }
    }
    if (blocked(fpu, ex)) return;
    writeST(fpu, 0, Z);
    push(fpu, W);
    record(fpu, ex, Ex.C1 | Ex.C2);
  };
}

// ---- loads and stores ---------------------------------------------------------------

/** FLD m32/m64/m80, FILD m16/m32/m64. */
function loadMemory(fmt: Fmt): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    let ex = load(cpu, i, fmt, X);
    if ((fmt === Fmt.F32 || fmt === Fmt.F64) && isSignaling(X)) {
      ex |= Ex.IE;
      X.hi |= 0x40000000;
    }
    const overflow = pushFault(fpu);
    if (overflow) {
      ex = overflow;
      indefinite(X);
    }
    // A denormal operand is loaded even when DE is unmasked.
    if (blocked(fpu, ex, Ex.IE)) return;
    push(fpu, X);
    record(fpu, ex);
  };
}

/** FLD ST(i). */
const loadST: Handler = (cpu, i) => {
  const fpu = start(cpu, i);
  let ex = source(fpu, i.rm & 7, X);
  const overflow = pushFault(fpu);
  if (overflow) {
    ex = overflow;
    indefinite(X);
  }
  if (blocked(fpu, ex)) return;
  push(fpu, X);
  record(fpu, ex);
};

/** FST/FSTP m32/m64/m80. */
function storeMemory(fmt: Fmt, pops: boolean): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const lo = address(cpu, i);
    const hi = cpu.eaHi;
    let ex = source(fpu, 0, X);
    const rc = roundingOf(fpu.fcw);
    if (fmt === Fmt.F32) ex |= toFloat32(X, rc, pair);
    else if (fmt === Fmt.F64) ex |= toFloat64(X, rc, pair);
    ex = withTiny(fpu, ex);
    if (blocked(fpu, ex, Ex.IE | Ex.OE | Ex.UE)) return;
    if (fmt === Fmt.F32) write32(cpu, lo, hi, pair.lo);
    else if (fmt === Fmt.F64) write64(cpu, lo, hi, pair.lo, pair.hi);
    else write80(cpu, lo, hi, X);
    if (pops) pop(fpu);
    record(fpu, ex);
  };
}

/** FST/FSTP ST(i) (and the FSTP1/8/9 aliases). */
function storeST(pops: boolean): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const ex = source(fpu, 0, X);
    if (blocked(fpu, ex)) return;
    writeST(fpu, i.rm & 7, X);
    if (pops) pop(fpu);
    record(fpu, ex);
  };
}

/** FIST/FISTP m16/m32/m64 and FISTTP (truncating). */
function storeInteger(size: number, pops: boolean, truncate: boolean): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const lo = address(cpu, i);
    const hi = cpu.eaHi;
    let ex = source(fpu, 0, X);
    ex |= toInt(X, size, truncate ? Rc.Zero : roundingOf(fpu.fcw), pair);
    if (blocked(fpu, ex)) return;
    if (size === 16) write16(cpu, lo, hi, pair.lo);
    else if (size === 32) write32(cpu, lo, hi, pair.lo);
    else write64(cpu, lo, hi, pair.lo, pair.hi);
    if (pops) pop(fpu);
    record(fpu, ex);
  };
}

const fbld: Handler = (cpu, i) => {
  const fpu = start(cpu, i);
  const lo = address(cpu, i);
  const hi = cpu.eaHi;
  for (let k = 0; k < 10; k++)
    bcd[k] = read8(cpu, (lo + k) | 0, (lo >>> 0) + k > 0xffffffff ? hi + 1 : hi);
  fromBcd(bcd, X);
  const ex = pushFault(fpu);
  if (ex) indefinite(X);
  if (blocked(fpu, ex)) return;
  push(fpu, X);
  record(fpu, ex);
};

const fbstp: Handler = (cpu, i) => {
  const fpu = start(cpu, i);
  const lo = address(cpu, i);
  const hi = cpu.eaHi;
  let ex = source(fpu, 0, X);
  ex |= toBcd(X, roundingOf(fpu.fcw), bcd);
  if (blocked(fpu, ex)) return;
  for (let k = 0; k < 10; k++)
    write8(cpu, (lo + k) | 0, (lo >>> 0) + k > 0xffffffff ? hi + 1 : hi, bcd[k]!);
  pop(fpu);
  record(fpu, ex);
};

// ---- stack and register operations ----------------------------------------------------

const fxch: Handler = (cpu, i) => {
  const fpu = start(cpu, i);
  const n = i.rm & 7;
  const ex = source(fpu, 0, X) | source(fpu, n, Y);
  if (blocked(fpu, ex)) return;
  writeST(fpu, 0, Y);
  writeST(fpu, n, X);
  record(fpu, ex);
};

/** FCMOVcc ST0, ST(i): `cc` is the Jcc condition code. */
function fcmov(cc: number): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const ex = source(fpu, 0, X) | source(fpu, i.rm & 7, Y);
    if (blocked(fpu, ex)) return;
    if (ex & Ex.SF)
      writeST(fpu, 0, Y); // indefinite
    else if (condition(cpu, cc)) writeST(fpu, 0, Y);
    record(fpu, ex);
  };
}

function signOp(kind: 'chs' | 'abs'): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const ex = source(fpu, 0, X);
    if (blocked(fpu, ex)) return;
    if (!(ex & Ex.SF)) X.se = kind === 'chs' ? X.se ^ 0x8000 : X.se & 0x7fff;
    writeST(fpu, 0, X);
    record(fpu, ex);
  };
}

const ZERO = new F80();

const ftst: Handler = (cpu, i) => {
  const ex = source(start(cpu, i), 0, X);
  Y.copy(ZERO);
  finishCompare(cpu, ex, false, 0, false);
};

const fxam: Handler = (cpu, i) => {
  const fpu = start(cpu, i);
  readST(fpu, 0, X);
  let cc = X.se & 0x8000 ? Ex.C1 : 0;
  if (isEmpty(fpu, 0)) cc |= Ex.C3 | Ex.C0;
  else {
    const n = unpackF80(X, N);
    switch (n.cls) {
      case Cls.Zero:
        cc |= Ex.C3;
        break;
      case Cls.Finite:
        cc |= n.denormal ? Ex.C3 | Ex.C2 : Ex.C2;
        break;
      case Cls.Inf:
        cc |= Ex.C2 | Ex.C0;
        break;
      case Cls.QNaN:
      case Cls.SNaN:
        cc |= Ex.C0;
        break;
    }
  }
  record(fpu, cc, CC);
};

/** The constants as truncated 64-bit significands, with whether nearest rounds them up. */
const CONSTANTS: readonly (readonly [string, number, number, number, boolean])[] = [
  ['fld1', 0x3fff, 0x80000000, 0, false],
  ['fldl2t', 0x4000, 0xd49a784b, 0xcd1b8afe, false],
  ['fldl2e', 0x3fff, 0xb8aa3b29, 0x5c17f0bb, true],
  ['fldpi', 0x4000, 0xc90fdaa2, 0x2168c234, true],
  ['fldlg2', 0x3ffd, 0x9a209a84, 0xfbcff798, true],
  ['fldln2', 0x3ffe, 0xb17217f7, 0xd1cf79ab, true],
  ['fldz', 0, 0, 0, false],
];

function loadConstant(index: number): Handler {
  const [, se, hi, lo, nearestUp] = CONSTANTS[index]!;
  const exact = index === 0 || index === 6;
  return (cpu, i) => {
    const fpu = start(cpu, i);
    const rc = roundingOf(fpu.fcw);
    const up = !exact && (rc === Rc.Up || (rc === Rc.Nearest && nearestUp));
    X.set(se, hi, (lo + (up ? 1 : 0)) | 0);
    const ex = pushFault(fpu);
    if (ex) indefinite(X);
    if (blocked(fpu, ex)) return;
    push(fpu, X);
    record(fpu, ex);
  };
}

function stackPointer(delta: number): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    fpu.top = (fpu.top + delta) & 7;
    record(fpu, 0);
  };
}

function ffree(pops: boolean): Handler {
  return (cpu, i) => {
    const fpu = start(cpu, i);
    free(fpu, i.rm & 7);
    if (pops) pop(fpu);
  };
}

const fnop: Handler = (cpu, i) => {
  start(cpu, i);
};

// ---- control ----------------------------------------------------------------------

/** Control instructions that check for pending exceptions (FLDCW, FLDENV, FRSTOR). */
function startWaiting(cpu: Cpu): FpuState {
  checkAvailable(cpu);
  checkPending(cpu);
  return cpu.fpu;
}

/** Control instructions that do not (FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE). */
function startNoWait(cpu: Cpu): FpuState {
  checkAvailable(cpu);
  return cpu.fpu;
}

const fninit: Handler = (cpu) => {
  startNoWait(cpu).resetX87();
};

const fnclex: Handler = (cpu) => {
  const fpu = startNoWait(cpu);
  fpu.fsw &= 0x7f00;
};

/** FENI, FDISI, FSETPM: no-ops since the 80387. */
const legacyNop: Handler = (cpu) => {
  startNoWait(cpu);
};

const fldcw: Handler = (cpu, i) => {
  const fpu = startWaiting(cpu);
  const value = read16(cpu, address(cpu, i, false), cpu.eaHi);
  setControlWord(fpu, value);
  updateSummary(fpu);
};

const fnstcw: Handler = (cpu, i) => {
  const fpu = startNoWait(cpu);
  write16(cpu, address(cpu, i, false), cpu.eaHi, fpu.fcw);
};

const fnstswMemory: Handler = (cpu, i) => {
  const fpu = startNoWait(cpu);
  write16(cpu, address(cpu, i, false), cpu.eaHi, statusWord(fpu));
};

const fnstswAx: Handler = (cpu) => {
  const fpu = startNoWait(cpu);
  setReg16(cpu, 0, statusWord(fpu));
};

const fnstenv: Handler = (cpu, i) => {
  const fpu = startNoWait(cpu);
  storeEnvironment(cpu, address(cpu, i, false), cpu.eaHi, i.opsize);
  fpu.fcw |= Ex.Exceptions;
  updateSummary(fpu);
};

const fldenv: Handler = (cpu, i) => {
  startWaiting(cpu);
  loadEnvironment(cpu, address(cpu, i, false), cpu.eaHi, i.opsize);
};

const fnsave: Handler = (cpu, i) => {
  startNoWait(cpu);
  saveState(cpu, address(cpu, i, false), cpu.eaHi, i.opsize, X);
};

const frstor: Handler = (cpu, i) => {
  startWaiting(cpu);
  restoreState(cpu, address(cpu, i, false), cpu.eaHi, i.opsize);
};

/** FWAIT: #NM only when CR0.MP and CR0.TS are both set; then any pending #MF. */
const fwait: Handler = (cpu) => {
  if ((cpu.cr0 & (Cr0.MP | Cr0.TS)) === (Cr0.MP | Cr0.TS)) throw new Fault(Vector.NM);
  checkPending(cpu);
};

// ---- the table ----------------------------------------------------------------------

export function install(t: OpcodeTable): void {
  const mem = (op: number, reg: number, name: string, exec: Handler) =>
    t.defineGroup(op, reg, { name, exec, flags: OpFlag.ModRM | OpFlag.MemOnly });
  const regs = (op: number, reg: number, name: string, exec: Handler) => {
    for (let rm = 0; rm < 8; rm++)
      t.defineRegisterForm(op, reg, rm, { name, exec, flags: OpFlag.ModRM });
  };
  const one = (op: number, reg: number, rm: number, name: string, exec: Handler) =>
    t.defineRegisterForm(op, reg, rm, { name, exec, flags: OpFlag.ModRM });

  const ARITH = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
  for (let reg = 0; reg < 8; reg++) {
    const name = ARITH[reg]!;
    mem(0xd8, reg, name, arithMemory(Fmt.F32));
    mem(0xdc, reg, name, arithMemory(Fmt.F64));
    mem(0xda, reg, `fi${name.slice(1)}`, arithMemory(Fmt.I32));
    mem(0xde, reg, `fi${name.slice(1)}`, arithMemory(Fmt.I16));
    if (reg === 2 || reg === 3) {
      regs(0xd8, reg, name, compareST(false, reg - 2, false));
      regs(0xdc, reg, name, compareST(false, reg - 2, false)); // FCOM2/FCOMP3 aliases
    } else {
      regs(0xd8, reg, name, arithST0);
      const swapped = reg >= 4 ? ARITH[reg ^ 1]! : name;
      regs(0xdc, reg, swapped, arithSTi(0));
      regs(0xde, reg, `${swapped}p`, arithSTi(1));
    }
  }
  regs(0xde, 2, 'fcomp', compareST(false, 1, false)); // FCOMP5 alias
  one(0xde, 3, 1, 'fcompp', compareST(false, 2, false, 1));

  // D9
  mem(0xd9, 0, 'fld', loadMemory(Fmt.F32));
  mem(0xd9, 2, 'fst', storeMemory(Fmt.F32, false));
  mem(0xd9, 3, 'fstp', storeMemory(Fmt.F32, true));
  mem(0xd9, 4, 'fldenv', fldenv);
  mem(0xd9, 5, 'fldcw', fldcw);
  mem(0xd9, 6, 'fnstenv', fnstenv);
  mem(0xd9, 7, 'fnstcw', fnstcw);
  regs(0xd9, 0, 'fld', loadST);
  regs(0xd9, 1, 'fxch', fxch);
  one(0xd9, 2, 0, 'fnop', fnop);
  regs(0xd9, 3, 'fstp', storeST(true)); // FSTP1 alias
  one(0xd9, 4, 0, 'fchs', signOp('chs'));
  one(0xd9, 4, 1, 'fabs', signOp('abs'));
  one(0xd9, 4, 4, 'ftst', ftst);
  one(0xd9, 4, 5, 'fxam', fxam);
  CONSTANTS.forEach(([name], index) => {
    one(0xd9, 5, index, name, loadConstant(index));
  });
  one(
    0xd9,
    6,
    0,
    'f2xm1',
    unary((a, _fcw, out) => f2xm1(a, out)),
  );
  one(0xd9, 6, 1, 'fyl2x', binaryPop(fyl2x));
  one(
    0xd9,
    6,
    2,
    'fptan',
    unaryPush((a, tan, oneSlot) => {
      const ex = fptan(a, tan);
      // A NaN result (NaN operand or masked invalid) is pushed in place of 1.0.
      oneSlot.copy((tan.se & 0x7fff) === 0x7fff ? tan : ONE);
      return ex;
    }),
  );
  one(0xd9, 6, 3, 'fpatan', binaryPop(fpatan));
  one(
    0xd9,
    6,
    4,
    'fxtract',
    unaryPush((a, exponent, significand) => extract(a, significand, exponent)),
  );
  one(
    0xd9,
    6,
    5,
    'fprem1',
    binaryST0((a, b, fcw, out) => remainder(a, b, true, fcw, out), CC),
  );
  one(0xd9, 6, 6, 'fdecstp', stackPointer(-1));
  one(0xd9, 6, 7, 'fincstp', stackPointer(1));
  one(
    0xd9,
    7,
    0,
    'fprem',
    binaryST0((a, b, fcw, out) => remainder(a, b, false, fcw, out), CC),
  );
  one(0xd9, 7, 1, 'fyl2xp1', binaryPop(fyl2xp1));
  one(0xd9, 7, 2, 'fsqrt', unary(sqrt));
  one(
    0xd9,
    7,
    3,
    'fsincos',
    unaryPush((a, sin, cos) => fsincos(a, sin, cos)),
  );
  one(0xd9, 7, 4, 'frndint', unary(roundInt));
  one(0xd9, 7, 5, 'fscale', binaryST0(scale));
  one(
    0xd9,
    7,
    6,
    'fsin',
    unary((a, _fcw, out) => fsin(a, out), Ex.C1 | Ex.C2),
  );
  one(
    0xd9,
    7,
    7,
    'fcos',
    unary((a, _fcw, out) => fcos(a, out), Ex.C1 | Ex.C2),
  );

  // DA: FCMOVB/E/BE/U, FUCOMPP
  regs(0xda, 0, 'fcmovb', fcmov(2));
  regs(0xda, 1, 'fcmove', fcmov(4));
  regs(0xda, 2, 'fcmovbe', fcmov(6));
  regs(0xda, 3, 'fcmovu', fcmov(10));
  one(0xda, 5, 1, 'fucompp', compareST(true, 2, false, 1));

  // DB
  mem(0xdb, 0, 'fild', loadMemory(Fmt.I32));
  mem(0xdb, 1, 'fisttp', storeInteger(32, true, true));
  mem(0xdb, 2, 'fist', storeInteger(32, false, false));
  mem(0xdb, 3, 'fistp', storeInteger(32, true, false));
  mem(0xdb, 5, 'fld', loadMemory(Fmt.F80));
  mem(0xdb, 7, 'fstp', storeMemory(Fmt.F80, true));
  regs(0xdb, 0, 'fcmovnb', fcmov(3));
  regs(0xdb, 1, 'fcmovne', fcmov(5));
  regs(0xdb, 2, 'fcmovnbe', fcmov(7));
  regs(0xdb, 3, 'fcmovnu', fcmov(11));
  one(0xdb, 4, 0, 'feni', legacyNop);
  one(0xdb, 4, 1, 'fdisi', legacyNop);
  one(0xdb, 4, 2, 'fnclex', fnclex);
  one(0xdb, 4, 3, 'fninit', fninit);
  one(0xdb, 4, 4, 'fsetpm', legacyNop);
  regs(0xdb, 5, 'fucomi', compareST(true, 0, true));
  regs(0xdb, 6, 'fcomi', compareST(false, 0, true));

  // DD
  mem(0xdd, 0, 'fld', loadMemory(Fmt.F64));
  mem(0xdd, 1, 'fisttp', storeInteger(64, true, true));
  mem(0xdd, 2, 'fst', storeMemory(Fmt.F64, false));
  mem(0xdd, 3, 'fstp', storeMemory(Fmt.F64, true));
  mem(0xdd, 4, 'frstor', frstor);
  mem(0xdd, 6, 'fnsave', fnsave);
  mem(0xdd, 7, 'fnstsw', fnstswMemory);
  regs(0xdd, 0, 'ffree', ffree(false));
  regs(0xdd, 1, 'fxch', fxch); // FXCH4 alias
  regs(0xdd, 2, 'fst', storeST(false));
  regs(0xdd, 3, 'fstp', storeST(true));
  regs(0xdd, 4, 'fucom', compareST(true, 0, false));
  regs(0xdd, 5, 'fucomp', compareST(true, 1, false));

  // DF
  mem(0xdf, 0, 'fild', loadMemory(Fmt.I16));
  mem(0xdf, 1, 'fisttp', storeInteger(16, true, true));
  mem(0xdf, 2, 'fist', storeInteger(16, false, false));
  mem(0xdf, 3, 'fistp', storeInteger(16, true, false));
  mem(0xdf, 4, 'fbld', fbld);
  mem(0xdf, 5, 'fild', loadMemory(Fmt.I64));
  mem(0xdf, 6, 'fbstp', fbstp);
  mem(0xdf, 7, 'fistp', storeInteger(64, true, false));
  regs(0xdf, 0, 'ffreep', ffree(true));
  regs(0xdf, 1, 'fxch', fxch); // FXCH7 alias
  regs(0xdf, 2, 'fstp', storeST(true)); // FSTP8 alias
  regs(0xdf, 3, 'fstp', storeST(true)); // FSTP9 alias
  one(0xdf, 4, 0, 'fnstsw', fnstswAx);
  regs(0xdf, 5, 'fucomip', compareST(true, 1, true));
  regs(0xdf, 6, 'fcomip', compareST(false, 1, true));

  t.define(0x9b, { name: 'fwait', exec: fwait });
}
