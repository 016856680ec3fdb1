/**
 * IEEE 754 arithmetic as the SSE unit does it: single and double precision with the four
 * MXCSR rounding modes, DAZ and FTZ, x86 NaN rules (first-operand NaN wins, SNaNs are
 * quietened, invalid operations give the negative "indefinite" QNaN) and the six exception
 * flags.
 *
 * Values travel as raw bits (single: one int32; double: lo/hi int32, hi in `env.hi`) so that
 * NaN payloads survive: a NaN never passes through a JS number. Arithmetic is done in JS
 * doubles with an error-free transformation (TwoSum, Dekker's product) giving the sign of the
 * rounding error, so every result can be rounded exactly in any mode and inexactness is known;
 * the common case (round to nearest, normal result) takes a fast path.
 *
 * The exception rules, checked against hardware by the differential tests:
 * - Tininess is detected after rounding. With UM masked, UE is raised only for a tiny and
 *   inexact result, and FTZ returns a signed zero with UE and PE; with UM unmasked, UE is
 *   raised for any tiny result, with PE only if it is inexact even at full precision.
 *   Likewise an unmasked OE comes with PE only if the result is inexact at full precision.
 * - A NaN operand hides DE; x/0 with a denormal x raises only ZE; the square root of a
 *   negative denormal raises only IE. DAZ zeroes denormal operands without DE, including
 *   the second operand MIN/MAX return for a NaN, and the source of integer conversions.
 * - An unmasked IE/DE/ZE in any lane suppresses the other lanes' OE/UE/PE (regs.ts fpEnd).
 * RCP/RSQRT are approximations (see reciprocalS).
 */

export const enum Mxcsr {
  IE = 0x1,
  DE = 0x2,
  ZE = 0x4,
  OE = 0x8,
  UE = 0x10,
  PE = 0x20,
  DAZ = 0x40,
  IM = 0x80,
  DM = 0x100,
  ZM = 0x200,
  OM = 0x400,
  UM = 0x800,
  PM = 0x1000,
  RC = 0x6000,
  FTZ = 0x8000,
  /** The six exception flags. */
  Flags = 0x3f,
  /** The six exception masks; also the power-on MXCSR. */
  Masks = 0x1f80,
}

/** The MXCSR bits this CPU implements (FXSAVE's MXCSR_MASK): DAZ, no MM. */
export const MXCSR_MASK = 0xffff;

/** MXCSR.RC. */
export const enum Rc {
  Nearest = 0,
  Down = 1,
  Up = 2,
  Zero = 3,
}

/**
 * The floating-point environment of the instruction being executed: the MXCSR it started
 * with and the exception flags it has raised so far. One per thread (the interpreter is
 * single-threaded per worker); `begin` resets it.
 */
export const env = {
  mxcsr: Mxcsr.Masks as number,
  rc: Rc.Nearest as number,
  daz: false,
  /** FTZ and UM both set. */
  flush: false,
  flags: 0,
  /** The high half of a double result. */
  hi: 0,
};

export function begin(mxcsr: number): void {
  env.mxcsr = mxcsr;
  env.rc = (mxcsr >> 13) & 3;
  env.daz = (mxcsr & Mxcsr.DAZ) !== 0;
  env.flush = (mxcsr & (Mxcsr.FTZ | Mxcsr.UM)) === (Mxcsr.FTZ | Mxcsr.UM);
  env.flags = 0;
}

/** The flags raised whose exceptions are unmasked. */
export function unmasked(): number {
  return env.flags & ~(env.mxcsr >> 7) & Mxcsr.Flags;
}

// Bit-level views for moving between numbers and their encodings.
const f64 = new Float64Array(1);
const w64 = new Int32Array(f64.buffer);
const f32 = new Float32Array(1);
const w32 = new Int32Array(f32.buffer);

/** The value of single-precision bits (not a NaN). */
export function fromS(bits: number): number {
  w32[0] = bits;
  return f32[0]!;
}

/** The single-precision bits of a value exactly representable in single (not a NaN). */
export function toS(value: number): number {
  f32[0] = value;
  return w32[0]!;
}

export function fromD(lo: number, hi: number): number {
  w64[0] = lo;
  w64[1] = hi;
  return f64[0]!;
}

/** The double bits of a value (not a NaN): returns lo, leaves hi in env.hi. */
export function toD(value: number): number {
  f64[0] = value;
  env.hi = w64[1]!;
  return w64[0]!;
}

export const QNAN_BIT_S = 0x00400000;
export const QNAN_BIT_D = 0x00080000;
/** The QNaN floating-point indefinite. */
export const INDEFINITE_S = 0xffc00000 | 0;
export const INDEFINITE_D_HI = 0xfff80000 | 0;

export function isNanS(x: number): boolean {
  return (x & 0x7fffffff) > 0x7f800000;
}

export function isSnanS(x: number): boolean {
  return (x & 0x7fffffff) > 0x7f800000 && (x & QNAN_BIT_S) === 0;
}

export function isNanD(lo: number, hi: number): boolean {
  const h = hi & 0x7fffffff;
  return h > 0x7ff00000 || (h === 0x7ff00000 && lo !== 0);
}

export function isSnanD(lo: number, hi: number): boolean {
  return isNanD(lo, hi) && (hi & QNAN_BIT_D) === 0;
}

function isDenormalS(x: number): boolean {
  return (x & 0x7f800000) === 0 && (x & 0x7fffff) !== 0;
}

function isDenormalD(lo: number, hi: number): boolean {
  return (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) !== 0 || lo !== 0);
}

/** A source operand: a denormal raises DE, or under DAZ becomes a zero of its sign. */
export function operandS(x: number): number {
  if (isDenormalS(x)) {
    if (env.daz) return x & 0x80000000;
    env.flags |= Mxcsr.DE;
  }
  return x;
}

/** As operandS for doubles: returns the value as a number (not a NaN). */
export function operandD(lo: number, hi: number): number {
  if (isDenormalD(lo, hi)) {
    if (env.daz) return hi < 0 ? -0 : 0;
    env.flags |= Mxcsr.DE;
  }
  return fromD(lo, hi);
}

/** Under DAZ a denormal source becomes zero, without raising DE (integer conversions). */
function dazS(x: number): number {
  return env.daz && isDenormalS(x) ? x & 0x80000000 : x;
}

function dazD(lo: number, hi: number): number {
  return env.daz && isDenormalD(lo, hi) ? (hi < 0 ? -0 : 0) : fromD(lo, hi);
}

/** The NaN result of a two-operand operation with a NaN operand: the first NaN, quietened. */
function nanS(a: number, b: number): number {
  if (isSnanS(a) || isSnanS(b)) env.flags |= Mxcsr.IE;
  return isNanS(a) ? a | QNAN_BIT_S : b | QNAN_BIT_S;
}

function nanD(aLo: number, aHi: number, bLo: number, bHi: number): number {
  if (isSnanD(aLo, aHi) || isSnanD(bLo, bHi)) env.flags |= Mxcsr.IE;
  if (isNanD(aLo, aHi)) {
    env.hi = aHi | QNAN_BIT_D;
    return aLo;
  }
  env.hi = bHi | QNAN_BIT_D;
  return bLo;
}

function invalidS(): number {
  env.flags |= Mxcsr.IE;
  return INDEFINITE_S;
}

function invalidD(): number {
  env.flags |= Mxcsr.IE;
  env.hi = INDEFINITE_D_HI;
  return 0;
}

// ---- Exact rounding --------------------------------------------------------------------

interface Format {
  /** Significand bits. */
  p: number;
  emin: number;
  emax: number;
  max: number;
}

const MAX_S = (2 - 2 ** -23) * 2 ** 127;
const SINGLE: Format = { p: 24, emin: -126, emax: 127, max: MAX_S };
const DOUBLE: Format = { p: 53, emin: -1022, emax: 1023, max: Number.MAX_VALUE };
const MIN_NORMAL_S = 2 ** -126;
const MIN_NORMAL_D = 2 ** -1022;

/** x · 2^n, exact whenever the result is representable. */
function scale(x: number, n: number): number {
  while (n > 1000) {
    x *= 2 ** 1000;
    n -= 1000;
  }
  while (n < -1000) {
    x *= 2 ** -1000;
    n += 1000;
  }
  return x * 2 ** n;
}

/** floor(log2(a)) for a finite a > 0. */
function ilogb(a: number): number {
  f64[0] = a;
  const e = (w64[1]! >>> 20) & 0x7ff;
  if (e !== 0) return e - 1023;
  f64[0] = a * 2 ** 64;
  return ((w64[1]! >>> 20) & 0x7ff) - 1023 - 64;
}

/** Set by roundInteger: whether the rounding was inexact. */
let inexact = false;

/**
 * Rounds t + δ (t ≥ 0 a double, δ tiny with sign `e`, the magnitude of a result with sign
 * `neg`) to an integer in the current mode.
 */
function roundInteger(t: number, e: number, neg: boolean): number {
  let whole = Math.floor(t);
  const frac = t - whole;
  // 0 exact, 1 below half, 2 half, 3 above half.
  let position: number;
  if (frac === 0) {
    if (e === 0) position = 0;
    else if (e > 0) position = 1;
    else {
      whole -= 1;
      position = 3;
    }
  } else if (frac < 0.5) position = 1;
  else if (frac > 0.5) position = 3;
  else position = e > 0 ? 3 : e < 0 ? 1 : 2;
  inexact = position !== 0;
  let up: boolean;
  switch (env.rc) {
    case Rc.Nearest:
      up = position === 3 || (position === 2 && whole % 2 === 1);
      break;
    case Rc.Down:
      up = neg && inexact;
      break;
    case Rc.Up:
      up = !neg && inexact;
      break;
    default:
      up = false;
  }
  return up ? whole + 1 : whole;
}

/** Overflow; `inexact`: whether rounding with an unbounded exponent was inexact (what an
 * unmasked OE reports as PE; masked, the result is always inexact). */
function overflow(neg: boolean, format: Format, inexact: boolean): number {
  env.flags |= env.mxcsr & Mxcsr.OM || inexact ? Mxcsr.OE | Mxcsr.PE : Mxcsr.OE;
  const rc = env.rc;
  const infinite = rc === Rc.Nearest || (rc === Rc.Up && !neg) || (rc === Rc.Down && neg);
  const magnitude = infinite ? Number.POSITIVE_INFINITY : format.max;
  return neg ? -magnitude : magnitude;
}

/**
 * Rounds the exact value (v + δ)·2^k, where v is a finite non-zero double and δ is smaller
 * than half an ulp of v with the sign of `e`, to `format` in the current mode. Returns the
 * rounded value (exactly representable in the format, or ±Infinity) and raises OE UE PE.
 */
function round(v: number, e: number, k: number, format: Format): number {
  const neg = v < 0;
  const a = neg ? -v : v;
  if (neg) e = -e;
  let exponent = ilogb(a) + k;
  // Just below a power of two the exact value is in the binade below, whose grid is finer.
  f64[0] = a;
  if (e < 0 && w64[0] === 0 && (w64[1]! & 0xfffff) === 0 && (w64[1]! & 0x7ff00000) !== 0)
    exponent -= 1;
  // Rounded to full precision with an unbounded exponent: the quantum is 2^(exponent - p + 1).
  const fullShift = k - exponent + format.p - 1;
  if (exponent > format.emax) {
    roundInteger(scale(a, fullShift), e, neg);
    return overflow(neg, format, inexact);
  }
  const quantum = (exponent < format.emin ? format.emin : exponent) - (format.p - 1);
  const r = roundInteger(scale(a, k - quantum), e, neg);
  const wasInexact = inexact;
  if (r === 2 ** format.p && quantum + format.p > format.emax)
    return overflow(neg, format, wasInexact);
  let tiny = false;
  if (exponent < format.emin - 1) {
    tiny = true;
  } else if (exponent === format.emin - 1) {
    // Tiny unless rounding to full precision with an unbounded exponent carries to 2^emin.
    tiny = roundInteger(scale(a, fullShift), e, neg) !== 2 ** format.p;
  }
  if (tiny) {
    if (!(env.mxcsr & Mxcsr.UM)) {
      // Unmasked: UE, and PE if the result is inexact even at full precision.
      roundInteger(scale(a, fullShift), e, neg);
      env.flags |= inexact ? Mxcsr.UE | Mxcsr.PE : Mxcsr.UE;
    } else if (env.flush) {
      env.flags |= Mxcsr.UE | Mxcsr.PE;
      return neg ? -0 : 0;
    } else if (wasInexact) {
      env.flags |= Mxcsr.UE | Mxcsr.PE;
    }
  } else if (wasInexact) {
    env.flags |= Mxcsr.PE;
  }
  const m = scale(r, quantum);
  return neg ? -m : m;
}

/** Single-precision bits of (v + δ) rounded, v a finite double, δ with the sign of e. */
function finishS(v: number, e: number): number {
  if (v === 0) return toS(v);
  if (env.rc === Rc.Nearest) {
    const f = Math.fround(v);
    const af = f < 0 ? -f : f;
    if (af >= MIN_NORMAL_S && af <= MAX_S) {
      if (f === v) {
        if (e !== 0) env.flags |= Mxcsr.PE;
        return toS(f);
      }
      f64[0] = v;
      // A double exactly halfway between two singles needs δ to break the tie.
      if (e === 0 || (w64[0]! & 0x1fffffff) !== 0x10000000) {
        env.flags |= Mxcsr.PE;
        return toS(f);
      }
    }
  }
  return toS(round(v, e, 0, SINGLE));
}

/** Single-precision bits of a double value (exact), rounded: CVTSD2SS, CVTSI2SS. */
export function roundToS(v: number): number {
  return finishS(v, 0);
}

/** Double bits of (v + δ)·2^k rounded. */
function finishD(v: number, e: number, k: number): number {
  if (v === 0) return toD(v);
  if (k === 0 && env.rc === Rc.Nearest) {
    const av = v < 0 ? -v : v;
    if (av >= MIN_NORMAL_D && av <= Number.MAX_VALUE) {
      if (e !== 0) env.flags |= Mxcsr.PE;
      return toD(v);
    }
  }
  return toD(round(v, e, k, DOUBLE));
}

// ---- Error-free transformations ---------------------------------------------------------

/** The sign of the rounding error of s = RN(a + b). */
function sumErrorSign(a: number, b: number, s: number): number {
  const bv = s - a;
  const av = s - bv;
  const err = a - av + (b - bv);
  return err > 0 ? 1 : err < 0 ? -1 : 0;
}

const SPLITTER = 134217729; // 2^27 + 1

/** The low part of Dekker's exact product: a·b = p + productError(a, b, p). */
function productError(a: number, b: number, p: number): number {
  let c = SPLITTER * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLITTER * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** The sign of x - q·y computed exactly (q ≈ x / y, so x - RN(q·y) is exact). */
function remainderSign(x: number, q: number, y: number): number {
  const p = q * y;
  const r = x - p - productError(q, y, p);
  return r > 0 ? 1 : r < 0 ? -1 : 0;
}

// ---- Single precision -------------------------------------------------------------------

export const enum Arith {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
}

/** ADDSS SUBSS MULSS DIVSS on single-precision bits. */
export function arithS(op: Arith, a: number, b: number): number {
  if (isNanS(a) || isNanS(b)) return nanS(a, b);
  const flags = env.flags;
  const x = fromS(operandS(a));
  let y = fromS(operandS(b));
  let v: number;
  let e = 0;
  switch (op) {
    case Arith.Sub:
    case Arith.Add:
      if (op === Arith.Sub) y = -y;
      v = x + y;
      if (v === 0) return toS(zeroSum(x, y));
      if (Number.isNaN(v)) return invalidS();
      e = sumErrorSign(x, y, v);
      break;
    case Arith.Mul:
      v = x * y;
      if (Number.isNaN(v)) return invalidS();
      break;
    default:
      v = x / y;
      if (Number.isNaN(v)) return invalidS();
      if (y === 0) {
        if (x - x === 0) env.flags = (env.flags & ~Mxcsr.DE) | flags | Mxcsr.ZE;
        return toS(v);
      }
      if (v !== 0 && v - v === 0) e = remainderSign(x, v, y) * (y < 0 ? -1 : 1);
  }
  if (v - v !== 0) return toS(v); // an infinite operand: exact
  return finishS(v, e);
}

/** The zero that x + y = 0 gives: zeros of one sign keep it; otherwise -0 only when rounding down. */
function zeroSum(x: number, y: number): number {
  if (x === 0 && y === 0 && 1 / x < 0 === 1 / y < 0) return x;
  return env.rc === Rc.Down ? -0 : 0;
}

export function sqrtS(a: number): number {
  if (isNanS(a)) return nanS(a, a);
  a = dazS(a);
  // A negative operand is invalid before it is denormal.
  if (a < 0 && a !== (0x80000000 | 0)) return invalidS();
  const x = fromS(operandS(a));
  if (x === 0) return a & 0x80000000;
  if (x === Number.POSITIVE_INFINITY) return a;
  const s = Math.sqrt(x);
  return finishS(s, remainderSign(x, s, s));
}

/** MINSS/MAXSS: the second operand unless the first is strictly less (greater). */
export function minMaxS(max: boolean, a: number, b: number): number {
  if (isNanS(a) || isNanS(b)) {
    env.flags |= Mxcsr.IE;
    return dazS(b);
  }
  const a1 = operandS(a);
  const b1 = operandS(b);
  const x = fromS(a1);
  const y = fromS(b1);
  return (max ? x > y : x < y) ? a1 : b1;
}

/** CMPPS predicates 0-7: EQ LT LE UNORD NEQ NLT NLE ORD; true is all ones. */
export function compareS(predicate: number, a: number, b: number): number {
  const unordered = isNanS(a) || isNanS(b);
  if (unordered) {
    if (isSnanS(a) || isSnanS(b) || (predicate & 3) === 1 || (predicate & 3) === 2) {
      env.flags |= Mxcsr.IE;
    }
    return predicate >= 3 && predicate <= 6 ? -1 : 0;
  }
  return comparePredicate(predicate, fromS(operandS(a)), fromS(operandS(b)));
}

function comparePredicate(predicate: number, x: number, y: number): number {
  let r: boolean;
  switch (predicate & 3) {
    case 0:
      r = x === y;
      break;
    case 1:
      r = x < y;
      break;
    case 2:
      r = x <= y;
      break;
    default:
      return predicate === 7 ? -1 : 0; // ORD / UNORD of ordered operands
  }
  return r !== predicate >= 4 ? -1 : 0;
}

/** COMISS/UCOMISS: -1 less, 0 equal, 1 greater, 2 unordered. */
export function compareOrderS(signaling: boolean, a: number, b: number): number {
  if (isNanS(a) || isNanS(b)) {
    if (signaling || isSnanS(a) || isSnanS(b)) env.flags |= Mxcsr.IE;
    return 2;
  }
  const x = fromS(operandS(a));
  const y = fromS(operandS(b));
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---- Double precision ---------------------------------------------------------------------

/** ADDSD SUBSD MULSD DIVSD: returns lo, hi in env.hi. */
export function arithD(op: Arith, aLo: number, aHi: number, bLo: number, bHi: number): number {
  if (isNanD(aLo, aHi) || isNanD(bLo, bHi)) return nanD(aLo, aHi, bLo, bHi);
  const flags = env.flags;
  const x = operandD(aLo, aHi);
  let y = operandD(bLo, bHi);
  switch (op) {
    case Arith.Sub:
      y = -y;
      return addD(x, y);
    case Arith.Add:
      return addD(x, y);
    case Arith.Mul:
      return mulD(x, y);
    default:
      return divD(x, y, flags);
  }
}

function addD(x: number, y: number): number {
  let v = x + y;
  if (v === 0) return toD(zeroSum(x, y));
  if (Number.isNaN(v)) return invalidD();
  if (v - v !== 0) {
    if (x - x !== 0 || y - y !== 0) return toD(v); // an infinite operand
    // Overflow: redo at half scale, which is exact since both operands are large.
    const hx = x * 0.5;
    const hy = y * 0.5;
    v = hx + hy;
    return finishD(v, sumErrorSign(hx, hy, v), 1);
  }
  return finishD(v, sumErrorSign(x, y, v), 0);
}

const SAFE_HIGH = 2 ** 400;
const SAFE_LOW = 2 ** -400;

function inSafeRange(x: number): boolean {
  const a = x < 0 ? -x : x;
  return a < SAFE_HIGH && a > SAFE_LOW;
}

/** Splits a finite non-zero x into m·2^splitExponent with 1 ≤ |m| < 2. */
let splitExponent = 0;
function split(x: number): number {
  splitExponent = ilogb(x < 0 ? -x : x);
  return scale(x, -splitExponent);
}

function mulD(x: number, y: number): number {
  const v = x * y;
  if (Number.isNaN(v)) return invalidD();
  if (x === 0 || y === 0 || x - x !== 0 || y - y !== 0) return toD(v); // exact
  if (env.rc === Rc.Nearest && inSafeRange(x) && inSafeRange(y)) {
    const err = productError(x, y, v);
    if (err !== 0) env.flags |= Mxcsr.PE;
    return toD(v);
  }
  const mx = split(x);
  const ex = splitExponent;
  const my = split(y);
  const p = mx * my;
  const err = productError(mx, my, p);
  return finishD(p, err > 0 ? 1 : err < 0 ? -1 : 0, ex + splitExponent);
}

function divD(x: number, y: number, flags: number): number {
  const v = x / y;
  if (Number.isNaN(v)) return invalidD();
  if (y === 0) {
    // A denormal dividend does not raise DE as well.
    if (x - x === 0) env.flags = (env.flags & ~Mxcsr.DE) | flags | Mxcsr.ZE;
    return toD(v);
  }
  if (x === 0 || x - x !== 0 || y - y !== 0) return toD(v); // exact
  if (env.rc === Rc.Nearest && inSafeRange(x) && inSafeRange(y)) {
    if (remainderSign(x, v, y) !== 0) env.flags |= Mxcsr.PE;
    return toD(v);
  }
  const mx = split(x);
  const ex = splitExponent;
  const my = split(y);
  const q = mx / my;
  const e = remainderSign(mx, q, my) * (my < 0 ? -1 : 1);
  return finishD(q, e, ex - splitExponent);
}

export function sqrtD(lo: number, hi: number): number {
  if (isNanD(lo, hi)) return nanD(lo, hi, lo, hi);
  if (hi < 0 && (lo !== 0 || hi !== (0x80000000 | 0)) && !(env.daz && isDenormalD(lo, hi))) {
    return invalidD();
  }
  const x = operandD(lo, hi);
  if (x === 0) {
    env.hi = hi & 0x80000000;
    return 0;
  }
  if (x === Number.POSITIVE_INFINITY) {
    env.hi = hi;
    return lo;
  }
  let m = split(x);
  let ex = splitExponent;
  if (ex & 1) {
    m *= 2;
    ex -= 1;
  }
  const s = Math.sqrt(m);
  return finishD(s, remainderSign(m, s, s), ex / 2);
}

export function minMaxD(max: boolean, aLo: number, aHi: number, bLo: number, bHi: number): number {
  if (isNanD(aLo, aHi) || isNanD(bLo, bHi)) {
    env.flags |= Mxcsr.IE;
    if (env.daz && isDenormalD(bLo, bHi)) {
      env.hi = bHi & 0x80000000;
      return 0;
    }
    env.hi = bHi;
    return bLo;
  }
  const x = operandD(aLo, aHi);
  const y = operandD(bLo, bHi);
  return toD((max ? x > y : x < y) ? x : y);
}

export function compareD(
  predicate: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
): number {
  if (isNanD(aLo, aHi) || isNanD(bLo, bHi)) {
    const p = predicate & 3;
    if (isSnanD(aLo, aHi) || isSnanD(bLo, bHi) || p === 1 || p === 2) env.flags |= Mxcsr.IE;
    return predicate >= 3 && predicate <= 6 ? -1 : 0;
  }
  return comparePredicate(predicate, operandD(aLo, aHi), operandD(bLo, bHi));
}

export function compareOrderD(
  signaling: boolean,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
): number {
  if (isNanD(aLo, aHi) || isNanD(bLo, bHi)) {
    if (signaling || isSnanD(aLo, aHi) || isSnanD(bLo, bHi)) env.flags |= Mxcsr.IE;
    return 2;
  }
  const x = operandD(aLo, aHi);
  const y = operandD(bLo, bHi);
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---- Conversions ------------------------------------------------------------------------

/** CVTSS2SD: exact; an SNaN is quietened (IE), a QNaN keeps its payload. */
export function singleToDouble(a: number): number {
  if (isNanS(a)) {
    if (!(a & QNAN_BIT_S)) env.flags |= Mxcsr.IE;
    env.hi = (a & 0x80000000) | 0x7ff80000 | ((a & 0x3fffff) >>> 3);
    return (a & 7) << 29;
  }
  return toD(fromS(operandS(a)));
}

/** CVTSD2SS: rounded; a NaN keeps the top of its payload. */
export function doubleToSingle(lo: number, hi: number): number {
  if (isNanD(lo, hi)) {
    if (!(hi & QNAN_BIT_D)) env.flags |= Mxcsr.IE;
    return (hi & 0x80000000) | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (lo >>> 29);
  }
  const v = operandD(lo, hi);
  if (v === 0 || v - v !== 0) return toS(v);
  return finishS(v, 0);
}

/** A signed 64-bit integer (lo/hi) as a double, rounded to nearest, with the error's sign. */
let int64Error = 0;
function int64Value(lo: number, hi: number): number {
  const high = hi * 4294967296;
  const low = lo >>> 0;
  const v = high + low;
  int64Error = sumErrorSign(high, low, v);
  return v;
}

/** CVTSI2SS from a 32-bit (hi ignored when !wide) or 64-bit integer. */
export function intToS(lo: number, hi: number, wide: boolean): number {
  if (!wide) return finishS(lo, 0);
  const v = int64Value(lo, hi);
  return finishS(v, int64Error);
}

export function intToD(lo: number, hi: number, wide: boolean): number {
  if (!wide) return toD(lo);
  const v = int64Value(lo, hi);
  return finishD(v, int64Error, 0);
}

/**
 * A value to an integer of `bits` (32 or 64) bits, rounded by MXCSR.RC or truncated; NaN
 * and out-of-range values raise IE and give the integer indefinite (the smallest integer).
 * Returns lo, leaves hi in env.hi.
 */
function toInteger(v: number, truncate: boolean, bits: number): number {
  let r: number;
  if (Number.isNaN(v)) r = Number.NaN;
  else if (truncate) r = Math.trunc(v);
  else {
    switch (env.rc) {
      case Rc.Nearest: {
        r = Math.floor(v);
        const frac = v - r;
        if (frac > 0.5 || (frac === 0.5 && r % 2 !== 0)) r += 1;
        break;
      }
      case Rc.Down:
        r = Math.floor(v);
        break;
      case Rc.Up:
        r = Math.ceil(v);
        break;
      default:
        r = Math.trunc(v);
    }
  }
  const limit = bits === 32 ? 2 ** 31 : 2 ** 63;
  if (!(r >= -limit && r < limit)) {
    env.flags |= Mxcsr.IE;
    env.hi = bits === 32 ? 0 : 0x80000000 | 0;
    return bits === 32 ? 0x80000000 | 0 : 0;
  }
  if (r !== v) env.flags |= Mxcsr.PE;
  if (bits === 32) {
    env.hi = 0;
    return r | 0;
  }
  const high = Math.floor(r / 4294967296);
  env.hi = high | 0;
  return (r - high * 4294967296) | 0;
}

/** CVT(T)SS2SI and friends: returns lo, hi in env.hi. */
export function singleToInt(a: number, truncate: boolean, bits: number): number {
  return toInteger(isNanS(a) ? Number.NaN : fromS(dazS(a)), truncate, bits);
}

export function doubleToInt(lo: number, hi: number, truncate: boolean, bits: number): number {
  return toInteger(isNanD(lo, hi) ? Number.NaN : dazD(lo, hi), truncate, bits);
}

// ---- Approximations -----------------------------------------------------------------------

/**
 * RCPSS/RSQRTSS: the exact reciprocal (square root) rounded to 12 significant bits, within
 * the architected relative error of 1.5·2^-12 (the hardware's table values differ by model).
 * Denormal inputs count as zero, denormal results are flushed; no flags.
 */
export function reciprocalS(a: number, sqrt: boolean): number {
  if (isNanS(a)) return a | QNAN_BIT_S;
  const sign = a & 0x80000000;
  const magnitude = a & 0x7fffffff;
  if (magnitude < 0x00800000) return sign | 0x7f800000; // ±0 and denormals: ±∞
  if (sqrt && sign) return INDEFINITE_S;
  if (magnitude === 0x7f800000) return sign;
  const x = fromS(magnitude);
  const r = sqrt ? 1 / Math.sqrt(x) : 1 / x;
  if (r < MIN_NORMAL_S) return sign;
  const bits = (toS(Math.fround(r)) + 0x800) & ~0xfff;
  return sign | bits;
}
