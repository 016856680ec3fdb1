/**
 * x87 transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS,
 * FSINCOS. Special operands (zeros, infinities, NaNs, out-of-range arguments) follow the
 * SDM's tables exactly; finite results are computed with JavaScript's double-precision
 * Math functions and widened, so they carry about 53 significant bits where hardware gives
 * 64 (a relative error of a few 1e-16). Exponent ranges beyond a double's are handled by
 * scaling. Arguments of FSIN/FCOS/FPTAN are reduced exactly (as doubles) rather than with
 * the hardware's 66-bit π, so results near multiples of π/2 differ from hardware.
 */
import { add, nanOperand, nanOperands } from './arith80.js';
import {
  Cls,
  Ex,
  F80,
  fromDouble,
  fromDoubleScaled,
  indefinite,
  Num,
  toDouble,
  unpackF80,
} from './float80.js';

const A = new Num();
const B = new Num();
const T1 = new F80();
const T2 = new F80();
const MINUS_ONE = new F80().set(0xbfff, 0x80000000, 0);

/** The significand of a finite nonzero value as a double in [1, 2). */
function significand(n: Num): number {
  return n.hi * 2 ** -31 + n.lo * 2 ** -63;
}

/** log2 of a finite positive value; near 1 through log1p of the exact x - 1. */
function log2Of(v: F80, n: Num): number {
  if (n.exp === 0 || n.exp === -1) {
    add(v, MINUS_ONE, false, 0x037f, T1); // exact (Sterbenz)
    return Math.log1p(toDouble(T1)) / Math.LN2;
  }
  return n.exp + Math.log2(significand(n));
}

/** y × l for a finite nonzero y and a finite double l, without leaving the double range. */
function scaledProduct(y: Num, l: number, out: F80): number {
  const sign = y.sign ? -1 : 1;
  return fromDoubleScaled(sign * significand(y) * l, y.exp, out) | Ex.PE;
}

/** F2XM1: 2^x - 1 (defined for -1 ≤ x ≤ 1). */
export function f2xm1(a: F80, out: F80): number {
  unpackF80(a, A);
  const special = nanOperand(A, out);
  if (special >= 0) return special;
  switch (A.cls) {
    case Cls.Zero:
      out.copy(a);
      return 0;
    case Cls.Inf:
      if (A.sign) out.copy(MINUS_ONE);
      else out.copy(a);
      return 0;
  }
  const x = toDouble(a);
  const flags = A.denormal ? Ex.DE | Ex.PE : Ex.PE;
  if (x === 1 || x === -1) {
    fromDouble(x === 1 ? 1 : -0.5, out);
    return A.denormal ? Ex.DE : 0;
  }
  return flags | (fromDoubleScaled(Math.expm1(x * Math.LN2), 0, out) & ~Ex.PE);
}

/** FYL2X: y × log2(x). */
export function fyl2x(x: F80, y: F80, out: F80): number {
  unpackF80(x, A);
  unpackF80(y, B);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  const flags = A.denormal || B.denormal ? Ex.DE : 0;
  if (A.sign && A.cls !== Cls.Zero) return invalid(out);
  if (A.cls === Cls.Zero) {
    if (B.cls === Cls.Zero) return invalid(out);
    out.set(((B.sign ^ 1) << 15) | 0x7fff, 0x80000000, 0);
    return B.cls === Cls.Inf ? flags : flags | Ex.ZE;
  }
  if (A.cls === Cls.Inf) {
    if (B.cls === Cls.Zero) return invalid(out);
    out.set((B.sign << 15) | 0x7fff, 0x80000000, 0);
    return flags;
  }
  const one = A.exp === 0 && A.hi === 0x80000000 && A.lo === 0;
  if (one) {
    if (B.cls === Cls.Inf) return invalid(out);
    out.set(B.sign << 15, 0, 0);
    return flags;
  }
  const below = A.exp < 0; // log2(x) < 0
  if (B.cls === Cls.Inf) {
    out.set(((B.sign ^ (below ? 1 : 0)) << 15) | 0x7fff, 0x80000000, 0);
    return flags;
  }
  if (B.cls === Cls.Zero) {
    out.set((B.sign ^ (below ? 1 : 0)) << 15, 0, 0);
    return flags;
  }
  return flags | scaledProduct(B, log2Of(x, A), out);
}

/** FYL2XP1: y × log2(x + 1) (defined for |x| < 1 - √2/2). */
export function fyl2xp1(x: F80, y: F80, out: F80): number {
  unpackF80(x, A);
  unpackF80(y, B);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  const flags = A.denormal || B.denormal ? Ex.DE : 0;
  if (A.cls === Cls.Zero) {
    if (B.cls === Cls.Inf) return invalid(out);
    out.set((A.sign ^ B.sign) << 15, 0, 0);
    return flags;
  }
  if (A.cls === Cls.Inf) {
    // Outside the domain; log2(+∞ + 1) = +∞ times y.
    if (A.sign || B.cls === Cls.Zero) return invalid(out);
    out.set((B.sign << 15) | 0x7fff, 0x80000000, 0);
    return flags;
  }
  const l = Math.log1p(toDouble(x)) / Math.LN2;
  if (Number.isNaN(l)) return invalid(out);
  if (B.cls === Cls.Inf) {
    out.set(((B.sign ^ (l < 0 ? 1 : 0)) << 15) | 0x7fff, 0x80000000, 0);
    return flags;
  }
  if (B.cls === Cls.Zero) {
    out.set((B.sign ^ (l < 0 ? 1 : 0)) << 15, 0, 0);
    return flags;
  }
  return flags | scaledProduct(B, l, out);
}

/** FPATAN: arctan(y / x) in the quadrant of (x, y). */
export function fpatan(x: F80, y: F80, out: F80): number {
  unpackF80(x, A);
  unpackF80(y, B);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  const flags = A.denormal || B.denormal ? Ex.DE : 0;
  // Scale both by the same power of two into the double range (atan2 is scale-free).
  let xd: number;
  let yd: number;
  if (A.cls === Cls.Finite && B.cls === Cls.Finite) {
    const shift = Math.max(A.exp, B.exp);
    xd = (A.sign ? -1 : 1) * significand(A) * 2 ** Math.max(A.exp - shift, -1100);
    yd = (B.sign ? -1 : 1) * significand(B) * 2 ** Math.max(B.exp - shift, -1100);
  } else {
    xd = A.cls === Cls.Finite ? (A.sign ? -1 : 1) : toDouble(x);
    yd = B.cls === Cls.Finite ? (B.sign ? -1 : 1) : toDouble(y);
  }
  const r = Math.atan2(yd, xd);
  fromDouble(r, out);
  return r === 0 ? flags : flags | Ex.PE;
}

const enum Trig {
  Sin = 0,
  Cos = 1,
  Tan = 2,
}

/**
 * The common part of FSIN, FCOS, FPTAN, FSINCOS: returns -1 when the operand is finite and
 * in range (|x| < 2^63) so the caller computes; otherwise writes `out` (and `second`, the
 * FSINCOS cosine / FPTAN's 1.0 slot) and returns the flags, with C2 for out of range.
 */
function trigSpecial(a: F80, out: F80): number {
  unpackF80(a, A);
  const special = nanOperand(A, out);
  if (special >= 0) return special;
  if (A.cls === Cls.Inf) return invalid(out);
  if (A.cls === Cls.Finite && A.exp >= 63) return Ex.C2;
  return -1;
}

function trig(kind: Trig, a: F80, out: F80): number {
  const flags = A.denormal ? Ex.DE : 0;
  if (A.cls === Cls.Zero) {
    if (kind === Trig.Cos) out.set(0x3fff, 0x80000000, 0);
    else out.copy(a);
    return 0;
  }
  if (A.exp < -32) {
    // sin x = tan x = x and cos x = 1 to 64 bits.
    if (kind === Trig.Cos) out.set(0x3fff, 0x80000000, 0);
    else out.copy(a);
    return flags | Ex.PE;
  }
  const x = toDouble(a);
  const r = kind === Trig.Sin ? Math.sin(x) : kind === Trig.Cos ? Math.cos(x) : Math.tan(x);
  fromDouble(r, out);
  return flags | Ex.PE;
}

export function fsin(a: F80, out: F80): number {
  const special = trigSpecial(a, out);
  return special >= 0 ? special : trig(Trig.Sin, a, out);
}

export function fcos(a: F80, out: F80): number {
  const special = trigSpecial(a, out);
  return special >= 0 ? special : trig(Trig.Cos, a, out);
}

/** FPTAN's tangent (the caller pushes 1.0 unless C2 or an exception). */
export function fptan(a: F80, out: F80): number {
  const special = trigSpecial(a, out);
  return special >= 0 ? special : trig(Trig.Tan, a, out);
}

/** FSINCOS: `sin` and `cos` of a (NaN operands give the NaN in both). */
export function fsincos(a: F80, sin: F80, cos: F80): number {
  const special = trigSpecial(a, sin);
  if (special >= 0) {
    cos.copy(sin);
    return special;
  }
  T2.copy(a);
  const flags = trig(Trig.Sin, T2, sin);
  unpackF80(T2, A);
  return flags | trig(Trig.Cos, T2, cos);
}

function invalid(out: F80): number {
  indefinite(out);
  return Ex.IE;
}
