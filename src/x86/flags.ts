/**
 * RFLAGS with lazily computed arithmetic flags.
 *
 * An ALU instruction records its operation, size, operands and result in `Cpu.lazy`; CF, PF,
 * AF, ZF, SF and OF are computed only when something reads them. Conditional jumps after
 * CMP/SUB/TEST/logic ops read the operands directly without building RFLAGS.
 */
import type { Cpu } from './cpu.js';

export const enum Flag {
  CF = 1 << 0,
  PF = 1 << 2,
  AF = 1 << 4,
  ZF = 1 << 6,
  SF = 1 << 7,
  TF = 1 << 8,
  IF = 1 << 9,
  DF = 1 << 10,
  OF = 1 << 11,
  IOPL = 3 << 12,
  NT = 1 << 14,
  RF = 1 << 16,
  VM = 1 << 17,
  AC = 1 << 18,
  VIF = 1 << 19,
  VIP = 1 << 20,
  ID = 1 << 21,
  /** CF PF AF ZF SF OF: the flags arithmetic computes. */
  Arith = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 11),
  /** Bit 1 always reads as 1. */
  Fixed = 1 << 1,
}

/** What produced the arithmetic flags; `Eager` means RFLAGS holds them already. */
export const enum LazyOp {
  Eager = 0,
  Add = 1,
  /** ADC with carry-in 1 (carry-in 0 is recorded as Add). */
  Adc1 = 2,
  Sub = 3,
  /** SBB with borrow-in 1. */
  Sbb1 = 4,
  /** AND/OR/XOR/TEST: CF = OF = 0, AF = 0. */
  Logic = 5,
  /** INC: CF is kept (in Lazy.Carry); OF when the result is the smallest signed value. */
  Inc = 6,
  Dec = 7,
}

/** Slots of `Cpu.lazy`. Operands and result are kept as lo/hi int32 halves. */
export const enum Lazy {
  Op = 0,
  Size = 1,
  Res = 2,
  ResHi = 3,
  A = 4,
  AHi = 5,
  B = 6,
  BHi = 7,
  /** CF to keep for INC/DEC. */
  Carry = 8,
  Length = 9,
}

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let bits = 0;
  for (let b = i; b; b >>= 1) bits += b & 1;
  PARITY[i] = bits & 1 ? 0 : Flag.PF;
}

/** The sign bit of a value of `size` bits held as lo/hi halves. */
function signOf(size: number, lo: number, hi: number): number {
  switch (size) {
    case 8:
      return (lo >>> 7) & 1;
    case 16:
      return (lo >>> 15) & 1;
    case 32:
      return lo >>> 31;
    default:
      return hi >>> 31;
  }
}

function isSignedMin(size: number, lo: number, hi: number): boolean {
  switch (size) {
    case 8:
      return (lo & 0xff) === 0x80;
    case 16:
      return (lo & 0xffff) === 0x8000;
    case 32:
      return lo === (0x80000000 | 0);
    default:
      return lo === 0 && hi === (0x80000000 | 0);
  }
}

function isZero(size: number, lo: number, hi: number): boolean {
  switch (size) {
    case 8:
      return (lo & 0xff) === 0;
    case 16:
      return (lo & 0xffff) === 0;
    case 32:
      return lo === 0;
    default:
      return (lo | hi) === 0;
  }
}

/** Unsigned a < b at `size` bits. */
export function below(size: number, aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  switch (size) {
    case 8:
      return (aLo & 0xff) < (bLo & 0xff);
    case 16:
      return (aLo & 0xffff) < (bLo & 0xffff);
    case 32:
      return aLo >>> 0 < bLo >>> 0;
    default:
      return aHi >>> 0 < bHi >>> 0 || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
  }
}

function equal(size: number, aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  return isZero(size, aLo ^ bLo, aHi ^ bHi);
}

/** Computes the six arithmetic flags from the lazy record. */
export function arithFlags(lazy: Int32Array): number {
  const op = lazy[Lazy.Op]!;
  const size = lazy[Lazy.Size]!;
  const res = lazy[Lazy.Res]!;
  const resHi = lazy[Lazy.ResHi]!;
  const a = lazy[Lazy.A]!;
  const aHi = lazy[Lazy.AHi]!;
  const b = lazy[Lazy.B]!;
  const bHi = lazy[Lazy.BHi]!;
  let flags = PARITY[res & 0xff]!;
  if (isZero(size, res, resHi)) flags |= Flag.ZF;
  if (signOf(size, res, resHi)) flags |= Flag.SF;
  switch (op) {
    case LazyOp.Logic:
      return flags;
    case LazyOp.Add:
    case LazyOp.Adc1: {
      const carry =
        below(size, res, resHi, a, aHi) || (op === LazyOp.Adc1 && equal(size, res, resHi, a, aHi));
      if (carry) flags |= Flag.CF;
      if (signOf(size, (a ^ res) & (b ^ res), (aHi ^ resHi) & (bHi ^ resHi))) flags |= Flag.OF;
      break;
    }
    case LazyOp.Sub:
    case LazyOp.Sbb1: {
      const borrow =
        below(size, a, aHi, b, bHi) || (op === LazyOp.Sbb1 && equal(size, a, aHi, b, bHi));
      if (borrow) flags |= Flag.CF;
      if (signOf(size, (a ^ b) & (a ^ res), (aHi ^ bHi) & (aHi ^ resHi))) flags |= Flag.OF;
      break;
    }
    case LazyOp.Inc:
    case LazyOp.Dec: {
      flags |= lazy[Lazy.Carry]! & Flag.CF;
      // INC overflows into the smallest signed value, DEC out of it into the largest.
      if (op === LazyOp.Inc ? isSignedMin(size, res, resHi) : isSignedMin(size, a, aHi)) {
        flags |= Flag.OF;
      }
      break;
    }
  }
  flags |= (a ^ b ^ res) & Flag.AF;
  return flags;
}

/** RFLAGS as software sees it (PUSHF, interrupts, LAHF). */
export function readFlags(cpu: Cpu): number {
  const lazy = cpu.lazy;
  if (lazy[Lazy.Op] === LazyOp.Eager) return cpu.flags;
  return (cpu.flags & ~Flag.Arith) | arithFlags(lazy);
}

/** Makes RFLAGS hold the arithmetic flags, so an instruction can update some of them. */
export function materializeFlags(cpu: Cpu): number {
  const lazy = cpu.lazy;
  if (lazy[Lazy.Op] !== LazyOp.Eager) {
    cpu.flags = (cpu.flags & ~Flag.Arith) | arithFlags(lazy);
    lazy[Lazy.Op] = LazyOp.Eager;
  }
  return cpu.flags;
}

/** Sets the arithmetic flags directly (shifts, multiplies, POPF …). */
export function setArithFlags(cpu: Cpu, flags: number): void {
  cpu.flags = (cpu.flags & ~Flag.Arith) | (flags & Flag.Arith);
  cpu.lazy[Lazy.Op] = LazyOp.Eager;
}

/** Replaces the flags in `mask` (arithmetic flags only) with `value`, keeping the others. */
export function updateFlags(cpu: Cpu, mask: number, value: number): void {
  materializeFlags(cpu);
  cpu.flags = (cpu.flags & ~mask) | (value & mask);
}

/** SF, ZF and PF of a `size`-bit result (lo/hi; narrow results need not be masked). */
export function szpFlags(size: number, lo: number, hi: number): number {
  let f = PARITY[lo & 0xff]!;
  switch (size) {
    case 8:
      if ((lo & 0xff) === 0) f |= Flag.ZF;
      if (lo & 0x80) f |= Flag.SF;
      return f;
    case 16:
      if ((lo & 0xffff) === 0) f |= Flag.ZF;
      if (lo & 0x8000) f |= Flag.SF;
      return f;
    case 32:
      if (lo === 0) f |= Flag.ZF;
      if (lo < 0) f |= Flag.SF;
      return f;
    default:
      if ((lo | hi) === 0) f |= Flag.ZF;
      if (hi < 0) f |= Flag.SF;
      return f;
  }
}

export function carryFlag(cpu: Cpu): number {
  const lazy = cpu.lazy;
  switch (lazy[Lazy.Op]) {
    case LazyOp.Eager:
      return cpu.flags & Flag.CF;
    case LazyOp.Logic:
      return 0;
    case LazyOp.Inc:
    case LazyOp.Dec:
      return lazy[Lazy.Carry]! & Flag.CF;
    default:
      return arithFlags(lazy) & Flag.CF;
  }
}

/**
 * Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc): O NO B AE E NE BE A
 * S NS P NP L GE LE G. SUB/CMP and logic results take a direct path.
 */
export function condition(cpu: Cpu, cc: number): boolean {
  const lazy = cpu.lazy;
  const op = lazy[Lazy.Op];
  if (op === LazyOp.Sub) {
    const size = lazy[Lazy.Size]!;
    const a = lazy[Lazy.A]!;
    const aHi = lazy[Lazy.AHi]!;
    const b = lazy[Lazy.B]!;
    const bHi = lazy[Lazy.BHi]!;
    switch (cc) {
      case 2:
        return below(size, a, aHi, b, bHi);
      case 3:
        return !below(size, a, aHi, b, bHi);
      case 4:
        return equal(size, a, aHi, b, bHi);
      case 5:
        return !equal(size, a, aHi, b, bHi);
      case 6:
        return below(size, a, aHi, b, bHi) || equal(size, a, aHi, b, bHi);
      case 7:
        return !(below(size, a, aHi, b, bHi) || equal(size, a, aHi, b, bHi));
      case 12:
        return less(size, a, aHi, b, bHi);
      case 13:
        return !less(size, a, aHi, b, bHi);
      case 14:
        return less(size, a, aHi, b, bHi) || equal(size, a, aHi, b, bHi);
      case 15:
        return !(less(size, a, aHi, b, bHi) || equal(size, a, aHi, b, bHi));
    }
  } else if (op === LazyOp.Logic) {
    const size = lazy[Lazy.Size]!;
    const res = lazy[Lazy.Res]!;
    const resHi = lazy[Lazy.ResHi]!;
    switch (cc) {
      case 4:
        return isZero(size, res, resHi);
      case 5:
        return !isZero(size, res, resHi);
      case 8:
        return signOf(size, res, resHi) === 1;
      case 9:
        return signOf(size, res, resHi) === 0;
    }
  }
  return conditionFromFlags(readFlags(cpu), cc);
}

/** Signed a < b at `size` bits. */
function less(size: number, aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  switch (size) {
    case 8:
      return aLo << 24 < bLo << 24;
    case 16:
      return aLo << 16 < bLo << 16;
    case 32:
      return aLo < bLo;
    default:
      return aHi < bHi || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
  }
}

export function conditionFromFlags(flags: number, cc: number): boolean {
  let result: boolean;
  switch (cc >> 1) {
    case 0:
      result = (flags & Flag.OF) !== 0;
      break;
    case 1:
      result = (flags & Flag.CF) !== 0;
      break;
    case 2:
      result = (flags & Flag.ZF) !== 0;
      break;
    case 3:
      result = (flags & (Flag.CF | Flag.ZF)) !== 0;
      break;
    case 4:
      result = (flags & Flag.SF) !== 0;
      break;
    case 5:
      result = (flags & Flag.PF) !== 0;
      break;
    case 6:
      result = ((flags & Flag.SF) !== 0) !== ((flags & Flag.OF) !== 0);
      break;
    default:
      result = (flags & Flag.ZF) !== 0 || ((flags & Flag.SF) !== 0) !== ((flags & Flag.OF) !== 0);
  }
  return (cc & 1) === 0 ? result : !result;
}
