/**
 * Exact x87 arithmetic on 80-bit values: add, subtract, multiply, divide, square root,
 * partial remainders, scale, round-to-integer, extract and compare. Results are correctly
 * rounded to the precision control (24, 53 or 64 bits) and rounding control of the FCW,
 * with the masked responses for special operands, and the exception flags they raise.
 *
 * Every operation takes its operands as `F80` and writes its result into `out` (which may
 * alias an operand) and returns `Ex` flags.
 */
import {
  Cls,
  EXT_EMAX,
  EXT_EMIN,
  Ex,
  type F80,
  fromInt32,
  indefinite,
  Num,
  normalize,
  pack80,
  Rc,
  round,
  roundToInteger,
  shiftRight,
  unpackF80,
} from './float80.js';

const A = new Num();
const B = new Num();
const T = new Num();

/** Precision in bits from the FCW's PC field (the reserved value 01 acts as extended). */
export function precisionOf(fcw: number): number {
  const pc = (fcw >> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}

export function roundingOf(fcw: number): Rc {
  return ((fcw >> 10) & 3) as Rc;
}

function isNaNum(n: Num): boolean {
  return n.cls === Cls.QNaN || n.cls === Cls.SNaN;
}

/** Writes `n`'s NaN, quieted. */
function quietNaN(n: Num, out: F80): void {
  out.set((n.sign << 15) | 0x7fff, n.hi | 0x40000000, n.lo);
}

/**
 * NaN and unsupported operands of a two-operand operation: writes the result and returns
 * its flags, or -1 when neither operand is one. The NaN chosen is the one hardware picks: a
 * QNaN over an SNaN, else the larger significand, else the positive one.
 */
export function nanOperands(a: Num, b: Num, out: F80): number {
  if (a.cls === Cls.Unsupported || b.cls === Cls.Unsupported) {
    indefinite(out);
    return Ex.IE;
  }
  const aNaN = isNaNum(a);
  const bNaN = isNaNum(b);
  if (!aNaN && !bNaN) return -1;
  const signaling = a.cls === Cls.SNaN || b.cls === Cls.SNaN;
  let pick: Num;
  if (!bNaN) pick = a;
  else if (!aNaN) pick = b;
  else if (a.cls === Cls.SNaN && b.cls === Cls.QNaN) pick = b;
  else if (b.cls === Cls.SNaN && a.cls === Cls.QNaN) pick = a;
  else {
    const ah = a.hi | 0x40000000;
    const bh = b.hi | 0x40000000;
    if (ah !== bh) pick = ah >>> 0 > bh >>> 0 ? a : b;
    else if (a.lo !== b.lo) pick = a.lo > b.lo ? a : b;
    else pick = a.sign <= b.sign ? a : b;
  }
  quietNaN(pick, out);
  return signaling ? Ex.IE : 0;
}

/** One-operand NaN / unsupported handling; -1 when `a` is neither. */
export function nanOperand(a: Num, out: F80): number {
  if (a.cls === Cls.Unsupported) {
    indefinite(out);
    return Ex.IE;
  }
  if (!isNaNum(a)) return -1;
  quietNaN(a, out);
  return a.cls === Cls.SNaN ? Ex.IE : 0;
}

function denormals(a: Num, b: Num): number {
  return a.denormal || b.denormal ? Ex.DE : 0;
}

/** Rounds into the extended range and packs; unmasked OE/UE in `fcw` bias the result. */
function roundPack(n: Num, prec: number, fcw: number, out: F80): number {
  const flags = round(n, prec, EXT_EMIN, EXT_EMAX, roundingOf(fcw), ~fcw & (Ex.OE | Ex.UE));
  pack80(n, out);
  return flags;
}

function copyNum(from: Num, to: Num): Num {
  to.cls = from.cls;
  to.sign = from.sign;
  to.exp = from.exp;
  to.hi = from.hi;
  to.lo = from.lo;
  to.ext = from.ext;
  to.denormal = from.denormal;
  return to;
}

/** A finite operand returned as the result: re-encoded (a pseudo-denormal comes back normal). */
function passThrough(n: Num, fcw: number, out: F80): number {
  const flags = round(n, 64, EXT_EMIN, EXT_EMAX, Rc.Nearest, ~fcw & Ex.UE);
  pack80(n, out);
  return flags & (Ex.UE | Ex.Tiny);
}

/** Marks operands that were denormals in their memory format (bit 0: a, bit 1: b). */
function markDenormals(source: number): void {
  if (source & 1) A.denormal = true;
  if (source & 2) B.denormal = true;
}

/**
 * a + b, or a - b when `subtract`. `denormalSource` (here and in mul, div, compare) marks
 * operands that were single or double denormals before widening: bit 0 a, bit 1 b.
 */
export function add(
  a: F80,
  b: F80,
  subtract: boolean,
  fcw: number,
  out: F80,
  denormalSource = 0,
): number {
  unpackF80(a, A);
  unpackF80(b, B);
  markDenormals(denormalSource);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  if (subtract) B.sign ^= 1;
  const rc = roundingOf(fcw);
  if (A.cls === Cls.Inf || B.cls === Cls.Inf) {
    if (A.cls === Cls.Inf && B.cls === Cls.Inf && A.sign !== B.sign) {
      indefinite(out);
      return Ex.IE;
    }
    out.set(((A.cls === Cls.Inf ? A.sign : B.sign) << 15) | 0x7fff, 0x80000000, 0);
    return denormals(A, B);
  }
  const flags = denormals(A, B);
  if (A.cls === Cls.Zero && B.cls === Cls.Zero) {
    const sign = A.sign === B.sign ? A.sign : rc === Rc.Down ? 1 : 0;
    out.set(sign << 15, 0, 0);
    return flags;
  }
  const prec = precisionOf(fcw);
  if (A.cls === Cls.Zero) return flags | roundPack(B, prec, fcw, out);
  if (B.cls === Cls.Zero) return flags | roundPack(A, prec, fcw, out);
  // big ≥ small in magnitude.
  let big = A;
  let small = B;
  if (B.exp > A.exp || (B.exp === A.exp && (B.hi > A.hi || (B.hi === A.hi && B.lo > A.lo)))) {
    big = B;
    small = A;
  }
  const r = copyNum(big, T);
  shiftRight(small, big.exp - small.exp);
  if (big.sign === small.sign) {
    r.ext = small.ext;
    const lo = r.lo + small.lo;
    const hi = r.hi + small.hi + (lo > 0xffffffff ? 1 : 0);
    r.lo = lo >>> 0;
    r.hi = hi >>> 0;
    if (hi > 0xffffffff) {
      shiftRight(r, 1);
      r.hi = (r.hi | 0x80000000) >>> 0;
      r.exp++;
    }
  } else {
    const ext = 0 - small.ext;
    const borrow0 = ext < 0 ? 1 : 0;
    const lo = r.lo - small.lo - borrow0;
    const borrow1 = lo < 0 ? 1 : 0;
    r.ext = ext >>> 0;
    r.lo = lo >>> 0;
    r.hi = (r.hi - small.hi - borrow1) >>> 0;
    if (r.hi === 0 && r.lo === 0 && r.ext === 0) {
      out.set(rc === Rc.Down ? 0x8000 : 0, 0, 0);
      return flags;
    }
    normalize(r);
  }
  return flags | roundPack(r, prec, fcw, out);
}

// 32 × 32 → 64-bit products, high half in mulHi.
let mulHi = 0;
function mul32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid % 0x10000) * 0x10000;
  mulHi = a1 * b1 + Math.floor(mid / 0x10000) + Math.floor(low / 0x100000000);
  return low >>> 0;
}

export function mul(a: F80, b: F80, fcw: number, out: F80, denormalSource = 0): number {
  unpackF80(a, A);
  unpackF80(b, B);
  markDenormals(denormalSource);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  const sign = A.sign ^ B.sign;
  if (A.cls === Cls.Inf || B.cls === Cls.Inf) {
    if (A.cls === Cls.Zero || B.cls === Cls.Zero) {
      indefinite(out);
      return Ex.IE;
    }
    out.set((sign << 15) | 0x7fff, 0x80000000, 0);
    return denormals(A, B);
  }
  const flags = denormals(A, B);
  if (A.cls === Cls.Zero || B.cls === Cls.Zero) {
    out.set(sign << 15, 0, 0);
    return flags;
  }
  // 128-bit product of the significands, as four 32-bit words w3..w0.
  const ll = mul32(A.lo, B.lo);
  const llHi = mulHi;
  const lh = mul32(A.lo, B.hi);
  const lhHi = mulHi;
  const hl = mul32(A.hi, B.lo);
  const hlHi = mulHi;
  const hh = mul32(A.hi, B.hi);
  const hhHi = mulHi;
  const w0 = ll;
  let t = llHi + lh + hl;
  const w1 = t >>> 0;
  t = Math.floor(t / 0x100000000) + lhHi + hlHi + hh;
  const w2 = t >>> 0;
  const w3 = (Math.floor(t / 0x100000000) + hhHi) >>> 0;
  const r = T;
  r.cls = Cls.Finite;
  r.sign = sign;
  r.exp = A.exp + B.exp + 1;
  r.hi = w3;
  r.lo = w2;
  r.ext = w1;
  if (r.hi < 0x80000000) {
    r.hi = ((r.hi << 1) | (r.lo >>> 31)) >>> 0;
    r.lo = ((r.lo << 1) | (r.ext >>> 31)) >>> 0;
    r.ext = ((r.ext << 1) | (w0 >>> 31)) >>> 0;
    r.exp--;
    if ((w0 & 0x7fffffff) !== 0) r.ext = (r.ext | 1) >>> 0;
  } else if (w0 !== 0) {
    r.ext = (r.ext | 1) >>> 0;
  }
  return flags | roundPack(r, precisionOf(fcw), fcw, out);
}

/** Sets T's significand to the 66 quotient bits of x / y and a sticky bit, for a 65-bit
 * dividend top:xHi:xLo < 2y and a normalized 64-bit divisor. */
function divideSignificands(top: number, xHi: number, xLo: number, yHi: number, yLo: number): void {
  let r2 = top;
  let r1 = xHi;
  let r0 = xLo;
  let qHi = 0;
  let qLo = 0;
  let qExt = 0;
  for (let k = 0; k < 66; k++) {
    if (r2 !== 0 || r1 > yHi || (r1 === yHi && r0 >= yLo)) {
      const d0 = r0 - yLo;
      const borrow0 = d0 < 0 ? 1 : 0;
      r0 = d0 >>> 0;
      r1 = (r1 - yHi - borrow0) >>> 0;
      r2 = 0; // the difference is below y < 2^64
      if (k < 32) qHi |= 1 << (31 - k);
      else if (k < 64) qLo |= 1 << (63 - k);
      else qExt |= 1 << (95 - k);
    }
    r2 = r1 >>> 31;
    r1 = ((r1 << 1) | (r0 >>> 31)) >>> 0;
    r0 = (r0 << 1) >>> 0;
  }
  T.hi = qHi >>> 0;
  T.lo = qLo >>> 0;
  T.ext = (qExt | (r2 !== 0 || r1 !== 0 || r0 !== 0 ? 1 : 0)) >>> 0;
}

export function div(a: F80, b: F80, fcw: number, out: F80, denormalSource = 0): number {
  unpackF80(a, A);
  unpackF80(b, B);
  markDenormals(denormalSource);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  const sign = A.sign ^ B.sign;
  if (A.cls === Cls.Inf) {
    if (B.cls === Cls.Inf) {
      indefinite(out);
      return Ex.IE;
    }
    out.set((sign << 15) | 0x7fff, 0x80000000, 0);
    return denormals(A, B);
  }
  if (B.cls === Cls.Inf) {
    out.set(sign << 15, 0, 0);
    return denormals(A, B);
  }
  if (B.cls === Cls.Zero) {
    if (A.cls === Cls.Zero) {
      indefinite(out);
      return Ex.IE;
    }
    // Division by zero is detected before a denormal dividend is.
    out.set((sign << 15) | 0x7fff, 0x80000000, 0);
    return Ex.ZE;
  }
  const flags = denormals(A, B);
  if (A.cls === Cls.Zero) {
    out.set(sign << 15, 0, 0);
    return flags;
  }
  let xHi = A.hi;
  let xLo = A.lo;
  let exp = A.exp - B.exp;
  let top = 0;
  if (xHi < B.hi || (xHi === B.hi && xLo < B.lo)) {
    // x < y: start from 2x so that the first quotient bit is 1.
    top = xHi >>> 31;
    xHi = ((xHi << 1) | (xLo >>> 31)) >>> 0;
    xLo = (xLo << 1) >>> 0;
    exp--;
  }
  divideSignificands(top, xHi, xLo, B.hi, B.lo);
  T.cls = Cls.Finite;
  T.sign = sign;
  T.exp = exp;
  return flags | roundPack(T, precisionOf(fcw), fcw, out);
}

export function sqrt(a: F80, fcw: number, out: F80): number {
  unpackF80(a, A);
  const special = nanOperand(A, out);
  if (special >= 0) return special;
  if (A.cls === Cls.Zero) {
    out.copy(a);
    return 0;
  }
  if (A.sign === 1) {
    indefinite(out);
    return Ex.IE;
  }
  if (A.cls === Cls.Inf) {
    out.copy(a);
    return 0;
  }
  const flags = A.denormal ? Ex.DE : 0;
  // N = m × 2^k with k ∈ {67, 68} so that E - 63 - k is even; root = ⌊√N⌋ has 66 bits.
  const k = (A.exp & 1) === 0 ? 67 : 68;
  const mHi = A.hi;
  const mLo = A.lo;
  const bitOfN = (j: number): number => {
    const i = j - k;
    if (i < 0 || i > 63) return 0;
    return i >= 32 ? (mHi >>> (i - 32)) & 1 : (mLo >>> i) & 1;
  };
  // rem and root as three 32-bit limbs (small values; top limbs stay tiny).
  let rem2 = 0;
  let rem1 = 0;
  let rem0 = 0;
  let root2 = 0;
  let root1 = 0;
  let root0 = 0;
  for (let i = 65; i >= 0; i--) {
    // rem = rem << 2 | next two bits
    rem2 = ((rem2 << 2) | (rem1 >>> 30)) >>> 0;
    rem1 = ((rem1 << 2) | (rem0 >>> 30)) >>> 0;
    rem0 = ((rem0 << 2) | (bitOfN(2 * i + 1) << 1) | bitOfN(2 * i)) >>> 0;
    // trial = root << 2 | 1
    const t2 = ((root2 << 2) | (root1 >>> 30)) >>> 0;
    const t1 = ((root1 << 2) | (root0 >>> 30)) >>> 0;
    const t0 = ((root0 << 2) | 1) >>> 0;
    // root <<= 1
    root2 = ((root2 << 1) | (root1 >>> 31)) >>> 0;
    root1 = ((root1 << 1) | (root0 >>> 31)) >>> 0;
    root0 = (root0 << 1) >>> 0;
    if (rem2 > t2 || (rem2 === t2 && (rem1 > t1 || (rem1 === t1 && rem0 >= t0)))) {
      const d0 = rem0 - t0;
      const b0 = d0 < 0 ? 1 : 0;
      const d1 = rem1 - t1 - b0;
      const b1 = d1 < 0 ? 1 : 0;
      rem0 = d0 >>> 0;
      rem1 = d1 >>> 0;
      rem2 = (rem2 - t2 - b1) >>> 0;
      root0 = (root0 | 1) >>> 0;
    }
  }
  const r = T;
  r.cls = Cls.Finite;
  r.sign = 0;
  r.exp = 65 + (A.exp - 63 - k) / 2;
  r.hi = ((root2 << 30) | (root1 >>> 2)) >>> 0;
  r.lo = ((root1 << 30) | (root0 >>> 2)) >>> 0;
  r.ext = ((root0 << 30) | (rem2 !== 0 || rem1 !== 0 || rem0 !== 0 ? 1 : 0)) >>> 0;
  return flags | roundPack(r, precisionOf(fcw), fcw, out);
}

/**
 * FPREM (`nearest` false: truncating quotient) and FPREM1 (`nearest`: IEEE remainder) of
 * a by b. Returns the flags with C2 set when the reduction is partial (exponent difference
 * ≥ 64: reduced by 2^(D - N), N = 32 + D mod 32), else C0 C3 C1 = quotient bits 2 1 0.
 */
export function remainder(a: F80, b: F80, nearest: boolean, fcw: number, out: F80): number {
  unpackF80(a, A);
  unpackF80(b, B);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  if (A.cls === Cls.Inf || B.cls === Cls.Zero) {
    indefinite(out);
    return Ex.IE;
  }
  const flags = denormals(A, B);
  if (A.cls === Cls.Zero) {
    out.copy(a);
    return flags;
  }
  if (B.cls === Cls.Inf) return flags | passThrough(A, fcw, out);
  let d = A.exp - B.exp;
  let partial = false;
  let yExp = B.exp;
  if (d >= 64) {
    const n = 32 + (d & 31);
    yExp += d - n;
    d = n;
    partial = true;
  }
  let q = 0;
  let sign = A.sign;
  const r = T;
  r.cls = Cls.Finite;
  r.ext = 0;
  if (d < 0) {
    // |a| < |b|: quotient 0, unless FPREM1 rounds |a| ≥ |b|/2 up to 1.
    if (nearest && d === -1 && (A.hi > B.hi || (A.hi === B.hi && A.lo > B.lo))) {
      // |b| - |a| = (2·mB - mA) × 2^(eB - 64), exact.
      q = 1;
      sign ^= 1;
      const dbl0 = B.lo * 2;
      const dbl1 = B.hi * 2 + (dbl0 > 0xffffffff ? 1 : 0);
      let lo = (dbl0 >>> 0) - A.lo;
      const borrow = lo < 0 ? 1 : 0;
      lo >>>= 0;
      const hi = (dbl1 - A.hi - borrow) >>> 0; // < 2^64 since 2mB - mA < mB
      r.hi = hi;
      r.lo = lo;
      r.exp = B.exp - 1;
    } else {
      return flags | passThrough(A, fcw, out);
    }
  } else {
    // Long division over d + 1 quotient bits; the remainder stays below mB.
    let r2 = 0;
    let r1 = A.hi;
    let r0 = A.lo;
    const yHi = B.hi;
    const yLo = B.lo;
    for (let i = 0; i <= d; i++) {
      q = (q << 1) & 7;
      if (r2 !== 0 || r1 > yHi || (r1 === yHi && r0 >= yLo)) {
        const d0 = r0 - yLo;
        const b0 = d0 < 0 ? 1 : 0;
        const d1 = r1 - yHi - b0;
        r0 = d0 >>> 0;
        r1 = d1 >>> 0;
        r2 = 0;
        q |= 1;
      }
      if (i < d) {
        r2 = r1 >>> 31;
        r1 = ((r1 << 1) | (r0 >>> 31)) >>> 0;
        r0 = (r0 << 1) >>> 0;
      }
    }
    if (nearest && !partial) {
      // Compare 2r with mB: round the quotient to nearest, ties to even.
      const tw2 = r1 >>> 31;
      const tw1 = ((r1 << 1) | (r0 >>> 31)) >>> 0;
      const tw0 = (r0 << 1) >>> 0;
      const above = tw2 !== 0 || tw1 > yHi || (tw1 === yHi && tw0 > yLo);
      const tie = tw2 === 0 && tw1 === yHi && tw0 === yLo;
      if (above || (tie && (q & 1) === 1)) {
        q = (q + 1) & 7;
        sign ^= 1;
        const d0 = yLo - r0;
        const b0 = d0 < 0 ? 1 : 0;
        r0 = d0 >>> 0;
        r1 = (yHi - r1 - b0) >>> 0;
      }
    }
    r.hi = r1;
    r.lo = r0;
    r.exp = yExp;
  }
  const cc = partial
    ? Ex.C2
    : ((q & 4) !== 0 ? Ex.C0 : 0) | ((q & 2) !== 0 ? Ex.C3 : 0) | ((q & 1) !== 0 ? Ex.C1 : 0);
  if (r.hi === 0 && r.lo === 0) {
    out.set(A.sign << 15, 0, 0);
    return flags | cc;
  }
  r.sign = sign;
  normalize(r);
  const rounding = round(r, 64, EXT_EMIN, EXT_EMAX, Rc.Nearest, ~fcw & Ex.UE);
  pack80(r, out);
  return flags | cc | (rounding & (Ex.UE | Ex.Tiny));
}

/** FSCALE: a × 2^trunc(b). */
export function scale(a: F80, b: F80, fcw: number, out: F80): number {
  unpackF80(a, A);
  unpackF80(b, B);
  const special = nanOperands(A, B, out);
  if (special >= 0) return special;
  const flags = denormals(A, B);
  if (B.cls === Cls.Inf) {
    if (B.sign === 0) {
      if (A.cls === Cls.Zero) {
        indefinite(out);
        return Ex.IE;
      }
      out.set((A.sign << 15) | 0x7fff, 0x80000000, 0);
      return flags;
    }
    if (A.cls === Cls.Inf) {
      indefinite(out);
      return Ex.IE;
    }
    out.set(A.sign << 15, 0, 0);
    return flags;
  }
  if (A.cls !== Cls.Finite) {
    out.copy(a);
    return flags;
  }
  let shift = 0;
  if (B.cls === Cls.Finite && B.exp >= 0) {
    // trunc(b), clamped well beyond any reachable exponent.
    shift = B.exp > 20 ? 1 << 20 : Math.floor((B.hi >>> 0) / 2 ** (31 - B.exp));
    if (B.sign) shift = -shift;
  }
  A.exp += shift;
  return flags | roundPack(A, 64, fcw, out);
}

/** FRNDINT. */
export function roundInt(a: F80, fcw: number, out: F80): number {
  unpackF80(a, A);
  const special = nanOperand(A, out);
  if (special >= 0) return special;
  if (A.cls !== Cls.Finite || A.exp >= 63) {
    out.copy(a);
    return 0;
  }
  const flags = (A.denormal ? Ex.DE : 0) | roundToInteger(A, roundingOf(fcw));
  if (A.hi === 0 && A.lo === 0) {
    out.set(A.sign << 15, 0, 0);
    return flags;
  }
  A.exp = 63;
  normalize(A);
  pack80(A, out);
  return flags;
}

/** FXTRACT: `sig` gets the significand (exponent 0), `exp` the unbiased exponent. */
export function extract(a: F80, sig: F80, exp: F80): number {
  unpackF80(a, A);
  const special = nanOperand(A, sig);
  if (special >= 0) {
    exp.copy(sig);
    return special;
  }
  switch (A.cls) {
    case Cls.Zero:
      sig.copy(a);
      exp.set(0xffff, 0x80000000, 0);
      return Ex.ZE;
    case Cls.Inf:
      sig.copy(a);
      exp.set(0x7fff, 0x80000000, 0);
      return 0;
    default:
      sig.set((A.sign << 15) | 0x3fff, A.hi, A.lo);
      fromInt32(A.exp, exp);
      return A.denormal ? Ex.DE : 0;
  }
}

/**
 * Compares a with b: C3 C2 C0 = 000 greater, 001 less, 100 equal, 111 unordered. IE for
 * SNaN and unsupported operands, and for QNaN too unless `quiet` (FUCOM*).
 */
export function compare(a: F80, b: F80, quiet: boolean, denormalSource = 0): number {
  unpackF80(a, A);
  unpackF80(b, B);
  markDenormals(denormalSource);
  if (A.cls === Cls.Unsupported || B.cls === Cls.Unsupported || isNaNum(A) || isNaNum(B)) {
    const invalid =
      !quiet ||
      A.cls === Cls.SNaN ||
      B.cls === Cls.SNaN ||
      A.cls === Cls.Unsupported ||
      B.cls === Cls.Unsupported;
    return Ex.C3 | Ex.C2 | Ex.C0 | (invalid ? Ex.IE : 0);
  }
  const flags = denormals(A, B);
  const order = compareNums(A, B);
  return flags | (order === 0 ? Ex.C3 : order < 0 ? Ex.C0 : 0);
}

/** Orders two non-NaN unpacked values: -1, 0, 1. */
function compareNums(a: Num, b: Num): number {
  if (a.cls === Cls.Zero && b.cls === Cls.Zero) return 0;
  if (a.sign !== b.sign) return a.sign ? -1 : 1;
  const magnitude = compareMagnitudes(a, b);
  return a.sign ? -magnitude : magnitude;
}

function compareMagnitudes(a: Num, b: Num): number {
  if (a.cls === Cls.Zero) return b.cls === Cls.Zero ? 0 : -1;
  if (b.cls === Cls.Zero) return 1;
  if (a.cls === Cls.Inf) return b.cls === Cls.Inf ? 0 : 1;
  if (b.cls === Cls.Inf) return -1;
  if (a.exp !== b.exp) return a.exp > b.exp ? 1 : -1;
  if (a.hi !== b.hi) return a.hi > b.hi ? 1 : -1;
  if (a.lo !== b.lo) return a.lo > b.lo ? 1 : -1;
  return 0;
}
