/**
 * The x87 80-bit extended format: classification, exact unpacking into a sign / exponent /
 * 96-bit significand form, rounding to a precision and exponent range under a rounding mode,
 * and exact conversions between it and single, double, integer and packed-BCD operands.
 *
 * No BigInt: significands travel as unsigned 32-bit halves (`hi`, `lo`, and `ext` for the
 * bits below them, whose bit 0 is sticky). Results that do not fit in one return value are
 * left in caller-supplied objects.
 */

/** Exception flags and condition bits returned by the operations, at their FSW positions. */
export const enum Ex {
  IE = 0x1,
  DE = 0x2,
  ZE = 0x4,
  OE = 0x8,
  UE = 0x10,
  PE = 0x20,
  SF = 0x40,
  /** The six maskable exceptions. */
  Exceptions = 0x3f,
  C0 = 0x100,
  /** Rounded up (magnitude increased), or stack overflow with SF. */
  C1 = 0x200,
  C2 = 0x400,
  C3 = 0x4000,
  /** Not an FSW bit: the result was tiny (an unmasked underflow trap would be taken). */
  Tiny = 0x10000,
}

/** Rounding control (FCW bits 10-11). */
export const enum Rc {
  Nearest = 0,
  Down = 1,
  Up = 2,
  Zero = 3,
}

/** A packed 80-bit value: `se` is the sign (bit 15) and biased exponent, `hi:lo` the 64-bit
 * significand with its explicit integer bit (bit 31 of `hi`). Halves are int32 as stored in
 * `FpuState.st`. */
export class F80 {
  se = 0;
  hi = 0;
  lo = 0;

  set(se: number, hi: number, lo: number): this {
    this.se = se & 0xffff;
    this.hi = hi | 0;
    this.lo = lo | 0;
    return this;
  }

  copy(from: F80): this {
    this.se = from.se;
    this.hi = from.hi;
    this.lo = from.lo;
    return this;
  }
}

export const enum Cls {
  Zero = 0,
  /** Normal, denormal or pseudo-denormal (see `Num.denormal`); significand normalized. */
  Finite = 1,
  Inf = 2,
  QNaN = 3,
  SNaN = 4,
  /** Unnormal, pseudo-NaN, pseudo-infinity: invalid operands since the 80387. */
  Unsupported = 5,
}

/** The unpacked form: value = (-1)^sign × hi:lo:ext × 2^(exp - 63), hi bit 31 set when
 * normalized. `ext` holds 32 bits below `lo`, bit 0 sticky. */
export class Num {
  cls: Cls = Cls.Zero;
  sign = 0;
  exp = 0;
  hi = 0;
  lo = 0;
  ext = 0;
  /** The operand was a denormal (or pseudo-denormal) in its source format. */
  denormal = false;
}

/** Exponent bias and ranges of the formats (unbiased exponent of the integer bit). */
export const EXT_EMIN = -16382;
export const EXT_EMAX = 16383;
export const DBL_EMIN = -1022;
export const DBL_EMAX = 1023;
export const SGL_EMIN = -126;
export const SGL_EMAX = 127;

export const INDEFINITE_SE = 0xffff;
export const INDEFINITE_HI = 0xc0000000 | 0;

/** Unpacks an 80-bit value; finite values come back normalized. */
export function unpack80(se: number, hi: number, lo: number, n: Num): Num {
  const e = se & 0x7fff;
  n.sign = (se >>> 15) & 1;
  n.hi = hi >>> 0;
  n.lo = lo >>> 0;
  n.ext = 0;
  n.denormal = false;
  if (e === 0x7fff) {
    n.exp = EXT_EMAX + 1;
    if (n.hi < 0x80000000) n.cls = Cls.Unsupported;
    else if (n.hi === 0x80000000 && n.lo === 0) n.cls = Cls.Inf;
    else n.cls = n.hi & 0x40000000 ? Cls.QNaN : Cls.SNaN;
  } else if (e === 0) {
    if (n.hi === 0 && n.lo === 0) {
      n.cls = Cls.Zero;
      n.exp = EXT_EMIN;
    } else {
      n.cls = Cls.Finite;
      n.denormal = true;
      n.exp = EXT_EMIN;
      normalize(n);
    }
  } else if (n.hi < 0x80000000) {
    n.cls = Cls.Unsupported;
    n.exp = e - 16383;
  } else {
    n.cls = Cls.Finite;
    n.exp = e - 16383;
  }
  return n;
}

export function unpackF80(v: F80, n: Num): Num {
  return unpack80(v.se, v.hi, v.lo, n);
}

/** Shifts a nonzero hi:lo:ext left until bit 31 of hi is set, adjusting exp. */
export function normalize(n: Num): void {
  if (n.hi === 0 && n.lo === 0 && n.ext === 0) return;
  while (n.hi === 0) {
    n.hi = n.lo;
    n.lo = n.ext;
    n.ext = 0;
    n.exp -= 32;
  }
  const s = Math.clz32(n.hi);
  if (s > 0) {
    n.hi = ((n.hi << s) | (n.lo >>> (32 - s))) >>> 0;
    n.lo = ((n.lo << s) | (n.ext >>> (32 - s))) >>> 0;
    n.ext = (n.ext << s) >>> 0;
    n.exp -= s;
  }
}

/** Shifts hi:lo:ext right by `count`, folding the bits shifted out into ext's sticky bit. */
export function shiftRight(n: Num, count: number): void {
  if (count <= 0) return;
  let sticky = 0;
  if (count >= 96) {
    sticky = n.hi | n.lo | n.ext;
    n.hi = n.lo = n.ext = 0;
  } else {
    while (count >= 32) {
      sticky |= n.ext;
      n.ext = n.lo;
      n.lo = n.hi;
      n.hi = 0;
      count -= 32;
    }
    if (count > 0) {
      sticky |= n.ext << (32 - count);
      n.ext = ((n.ext >>> count) | (n.lo << (32 - count))) >>> 0;
      n.lo = ((n.lo >>> count) | (n.hi << (32 - count))) >>> 0;
      n.hi = n.hi >>> count;
    }
  }
  if (sticky !== 0) n.ext = (n.ext | 1) >>> 0;
}

/** Whether rounding hi:lo:ext at `prec` bits under `rc` would carry out of bit 63. */
function carriesOut(n: Num, prec: number, rc: Rc): boolean {
  let ones: boolean;
  let round: number;
  let sticky: boolean;
  if (prec === 64) {
    ones = n.hi === 0xffffffff && n.lo === 0xffffffff;
    round = n.ext >>> 31;
    sticky = (n.ext & 0x7fffffff) !== 0;
  } else if (prec === 53) {
    ones = n.hi === 0xffffffff && n.lo >>> 11 === 0x1fffff;
    round = (n.lo >>> 10) & 1;
    sticky = (n.lo & 0x3ff) !== 0 || n.ext !== 0;
  } else {
    ones = n.hi >>> 8 === 0xffffff;
    round = (n.hi >>> 7) & 1;
    sticky = (n.hi & 0x7f) !== 0 || n.lo !== 0 || n.ext !== 0;
  }
  if (!ones) return false;
  switch (rc) {
    case Rc.Nearest:
      return round === 1; // all kept bits are ones, so a tie rounds up too
    case Rc.Down:
      return n.sign === 1 && (round === 1 || sticky);
    case Rc.Up:
      return n.sign === 0 && (round === 1 || sticky);
    default:
      return false;
  }
}

/** The exponent bias applied to register results when OE or UE is unmasked. */
export const TRAP_BIAS = 24576;

/**
 * Rounds a finite, normalized (or zero) `n` in place to `prec` bits (24, 53 or 64) within
 * the exponent range [emin, emax] under `rc`. With masked exceptions tiny results are
 * denormalized (exp = emin, hi bit 31 clear) and overflows become infinity or the largest
 * finite value. `trap` holds OE and/or UE when they are unmasked (extended-range register
 * results only): the result is then rounded normally and its exponent biased by ∓24576, as
 * the x87 delivers it to the trap handler. Returns PE, UE, OE, C1 (rounded up) and Tiny.
 * Tininess is detected after rounding, as this hardware does.
 */
export function round(n: Num, prec: number, emin: number, emax: number, rc: Rc, trap = 0): number {
  if (n.hi === 0 && n.lo === 0 && n.ext === 0) {
    n.cls = Cls.Zero;
    return 0;
  }
  let flags = 0;
  let tiny = false;
  if (n.exp < emin) {
    tiny = n.exp < emin - 1 || !carriesOut(n, prec, rc);
    if (tiny && trap & Ex.UE) {
      if (n.exp + TRAP_BIAS < emin) {
        // Too small even for the biased exponent: zero.
        n.cls = Cls.Zero;
        n.hi = n.lo = n.ext = 0;
        return Ex.UE | Ex.PE;
      }
      n.exp += TRAP_BIAS;
      return (round(n, prec, emin, emax, rc) & ~Ex.Tiny) | Ex.UE;
    }
    shiftRight(n, emin - n.exp);
    n.exp = emin;
  }
  let roundBit: number;
  let sticky: boolean;
  let lsb: number;
  if (prec === 64) {
    roundBit = n.ext >>> 31;
    sticky = (n.ext & 0x7fffffff) !== 0;
    lsb = n.lo & 1;
  } else if (prec === 53) {
    roundBit = (n.lo >>> 10) & 1;
    sticky = (n.lo & 0x3ff) !== 0 || n.ext !== 0;
    lsb = (n.lo >>> 11) & 1;
    n.lo = (n.lo & ~0x7ff) >>> 0;
  } else {
    roundBit = (n.hi >>> 7) & 1;
    sticky = (n.hi & 0x7f) !== 0 || n.lo !== 0 || n.ext !== 0;
    lsb = (n.hi >>> 8) & 1;
    n.hi = (n.hi & ~0xff) >>> 0;
    n.lo = 0;
  }
  n.ext = 0;
  const inexact = roundBit === 1 || sticky;
  let up: boolean;
  switch (rc) {
    case Rc.Nearest:
      up = roundBit === 1 && (sticky || lsb === 1);
      break;
    case Rc.Down:
      up = inexact && n.sign === 1;
      break;
    case Rc.Up:
      up = inexact && n.sign === 0;
      break;
    default:
      up = false;
  }
  if (up) {
    flags |= Ex.C1;
    if (prec === 64) {
      n.lo = (n.lo + 1) >>> 0;
      if (n.lo === 0) n.hi = (n.hi + 1) >>> 0;
    } else if (prec === 53) {
      const lo = n.lo + 0x800;
      n.lo = lo >>> 0;
      if (lo > 0xffffffff) n.hi = (n.hi + 1) >>> 0;
    } else {
      n.hi = (n.hi + 0x100) >>> 0;
    }
    if (n.hi === 0 && n.lo === 0) {
      // Carried out of the integer bit.
      n.hi = 0x80000000;
      n.exp++;
    }
  }
  if (inexact) flags |= Ex.PE;
  if (tiny) {
    flags |= Ex.Tiny;
    if (inexact) flags |= Ex.UE;
  }
  if (n.hi === 0 && n.lo === 0) {
    n.cls = Cls.Zero;
    return flags;
  }
  n.cls = Cls.Finite;
  if (n.exp > emax) {
    if (trap & Ex.OE) {
      if (n.exp - TRAP_BIAS <= emax) {
        n.exp -= TRAP_BIAS;
        return flags | Ex.OE;
      }
      // Too large even for the biased exponent: infinity.
      n.cls = Cls.Inf;
      n.hi = 0x80000000;
      n.lo = 0;
      return Ex.OE | Ex.PE | Ex.C1;
    }
    return flags | overflow(n, prec, emax, rc);
  }
  return flags;
}

/** The masked overflow response: infinity or the largest finite value of the precision. */
function overflow(n: Num, prec: number, emax: number, rc: Rc): number {
  const toInfinity =
    rc === Rc.Nearest || (rc === Rc.Down ? n.sign === 1 : rc === Rc.Up && n.sign === 0);
  if (toInfinity) {
    n.cls = Cls.Inf;
    n.hi = 0x80000000;
    n.lo = 0;
    n.exp = emax + 1;
    return Ex.OE | Ex.PE | Ex.C1;
  }
  n.cls = Cls.Finite;
  n.exp = emax;
  n.hi = prec === 24 ? 0xffffff00 : 0xffffffff;
  n.lo = prec === 64 ? 0xffffffff : prec === 53 ? 0xfffff800 : 0;
  return (Ex.OE | Ex.PE) & ~Ex.C1;
}

/** Packs `n` (rounded to the extended range, or special) into `out`. */
export function pack80(n: Num, out: F80): F80 {
  const sign = n.sign << 15;
  switch (n.cls) {
    case Cls.Zero:
      return out.set(sign, 0, 0);
    case Cls.Inf:
      return out.set(sign | 0x7fff, 0x80000000, 0);
    case Cls.QNaN:
    case Cls.SNaN:
    case Cls.Unsupported:
      return out.set(sign | 0x7fff, n.hi, n.lo);
    default:
      return out.set(n.hi >= 0x80000000 ? sign | (n.exp + 16383) : sign, n.hi, n.lo);
  }
}

/** Sets `out` to the QNaN indefinite (negative, significand C000000000000000). */
export function indefinite(out: F80): F80 {
  return out.set(INDEFINITE_SE, INDEFINITE_HI, 0);
}

/** 80-bit tag of a value: 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unsupported). */
export function tagOf(se: number, hi: number, lo: number): number {
  const e = se & 0x7fff;
  if (e === 0x7fff) return 2;
  if (e === 0) return hi === 0 && lo === 0 ? 1 : 2;
  return hi < 0 ? 0 : 2;
}

// ---- single and double precision ------------------------------------------------------

/** Two 32-bit halves returned by a conversion. */
export class Pair {
  lo = 0;
  hi = 0;
}

/** Unpacks an IEEE single; finite values normalized, `denormal` set for denormals. */
export function unpack32(bits: number, n: Num): Num {
  n.sign = bits >>> 31;
  const e = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  n.ext = 0;
  n.lo = 0;
  n.denormal = false;
  if (e === 0xff) {
    n.exp = EXT_EMAX + 1;
    n.hi = (0x80000000 | (frac << 8)) >>> 0;
    n.cls = frac === 0 ? Cls.Inf : frac & 0x400000 ? Cls.QNaN : Cls.SNaN;
  } else if (e === 0) {
    n.hi = (frac << 8) >>> 0;
    n.exp = SGL_EMIN;
    n.cls = frac === 0 ? Cls.Zero : Cls.Finite;
    n.denormal = frac !== 0;
    normalize(n);
  } else {
    n.cls = Cls.Finite;
    n.hi = (0x80000000 | (frac << 8)) >>> 0;
    n.exp = e - 127;
  }
  return n;
}

/** Unpacks an IEEE double given as lo/hi halves. */
export function unpack64(lo: number, hi: number, n: Num): Num {
  n.sign = hi >>> 31;
  const e = (hi >>> 20) & 0x7ff;
  const fracHi = hi & 0xfffff;
  const fracLo = lo >>> 0;
  n.ext = 0;
  n.denormal = false;
  n.hi = ((fracHi << 11) | (fracLo >>> 21)) >>> 0;
  n.lo = (fracLo << 11) >>> 0;
  if (e === 0x7ff) {
    n.exp = EXT_EMAX + 1;
    n.hi = (n.hi | 0x80000000) >>> 0;
    n.cls = fracHi === 0 && fracLo === 0 ? Cls.Inf : fracHi & 0x80000 ? Cls.QNaN : Cls.SNaN;
  } else if (e === 0) {
    n.exp = DBL_EMIN;
    n.cls = fracHi === 0 && fracLo === 0 ? Cls.Zero : Cls.Finite;
    n.denormal = n.cls === Cls.Finite;
    normalize(n);
  } else {
    n.cls = Cls.Finite;
    n.hi = (n.hi | 0x80000000) >>> 0;
    n.exp = e - 1023;
  }
  return n;
}

/** Packs a rounded (to single range) or special `n` as single-precision bits. */
export function pack32(n: Num): number {
  const sign = n.sign << 31;
  switch (n.cls) {
    case Cls.Zero:
      return sign;
    case Cls.Inf:
      return sign | 0x7f800000;
    case Cls.QNaN:
    case Cls.SNaN:
    case Cls.Unsupported:
      return sign | 0x7f800000 | ((n.hi >>> 8) & 0x7fffff);
    default: {
      const e = n.hi >= 0x80000000 ? n.exp + 127 : 0;
      return sign | (e << 23) | ((n.hi >>> 8) & 0x7fffff);
    }
  }
}

/** Packs a rounded (to double range) or special `n` as double-precision halves. */
export function pack64(n: Num, out: Pair): Pair {
  const sign = n.sign << 31;
  const fracHi = (n.hi >>> 11) & 0xfffff;
  const fracLo = (n.hi << 21) | (n.lo >>> 11) | 0;
  switch (n.cls) {
    case Cls.Zero:
      out.hi = sign;
      out.lo = 0;
      break;
    case Cls.Inf:
      out.hi = sign | 0x7ff00000;
      out.lo = 0;
      break;
    case Cls.QNaN:
    case Cls.SNaN:
    case Cls.Unsupported:
      out.hi = sign | 0x7ff00000 | fracHi;
      out.lo = fracLo;
      break;
    default: {
      const e = n.hi >= 0x80000000 ? n.exp + 1023 : 0;
      out.hi = sign | (e << 20) | fracHi;
      out.lo = fracLo;
    }
  }
  return out;
}

// ---- JavaScript doubles ---------------------------------------------------------------

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE ? 0 : 1;
const HI = LITTLE ? 1 : 0;
const scratch = new Num();
const pair = new Pair();

/** The double nearest to an 80-bit value (round to nearest even; NaNs keep their payload's
 * top bits, quieted). */
export function toDouble(v: F80): number {
  const n = unpackF80(v, scratch);
  if (n.cls === Cls.Unsupported) return Number.NaN;
  if (n.cls === Cls.SNaN) n.hi = (n.hi | 0x40000000) >>> 0;
  if (n.cls === Cls.Finite) round(n, 53, DBL_EMIN, DBL_EMAX, Rc.Nearest);
  pack64(n, pair);
  u32[LO] = pair.lo;
  u32[HI] = pair.hi;
  return f64[0]!;
}

/** The 80-bit value of a double (exact). */
export function fromDouble(d: number, out: F80): F80 {
  f64[0] = d;
  return pack80(unpack64(u32[LO]!, u32[HI]!, scratch), out);
}

// ---- integers -------------------------------------------------------------------------

/** The 80-bit value of a signed 64-bit integer lo/hi (exact). */
export function fromInt64(lo: number, hi: number, out: F80): F80 {
  const n = scratch;
  n.sign = hi >>> 31;
  n.ext = 0;
  if (n.sign) {
    // Negate the 64-bit two's complement value.
    lo = ~lo + 1;
    hi = ~hi + (lo === 0 ? 1 : 0);
  }
  n.hi = hi >>> 0;
  n.lo = lo >>> 0;
  if (n.hi === 0 && n.lo === 0) return out.set(0, 0, 0);
  n.exp = 63;
  n.cls = Cls.Finite;
  normalize(n);
  return pack80(n, out);
}

/** The 80-bit value of a signed 32-bit (or narrower, sign-extended) integer. */
export function fromInt32(value: number, out: F80): F80 {
  return fromInt64(value | 0, value >> 31, out);
}

/**
 * Rounds finite `n` in place to an integer under `rc`: afterwards hi:lo is the integer
 * magnitude (uint64) and `n.ext` is 1 when it carried past 2^64 (hi:lo then zero).
 * Returns PE and C1 (rounded up).
 */
export function roundToInteger(n: Num, rc: Rc): number {
  if (n.exp >= 63) {
    // Already an integer; exp > 63 is out of any integer range (caller checks).
    n.ext = 0;
    return 0;
  }
  n.ext = 0;
  shiftRight(n, 63 - n.exp);
  n.exp = 63;
  const round = n.ext >>> 31;
  const sticky = (n.ext & 0x7fffffff) !== 0;
  const inexact = round === 1 || sticky;
  let up: boolean;
  switch (rc) {
    case Rc.Nearest:
      up = round === 1 && (sticky || (n.lo & 1) === 1);
      break;
    case Rc.Down:
      up = inexact && n.sign === 1;
      break;
    case Rc.Up:
      up = inexact && n.sign === 0;
      break;
    default:
      up = false;
  }
  n.ext = 0;
  if (up) {
    n.lo = (n.lo + 1) >>> 0;
    if (n.lo === 0) {
      n.hi = (n.hi + 1) >>> 0;
      if (n.hi === 0) n.ext = 1;
    }
  }
  return (inexact ? Ex.PE : 0) | (up ? Ex.C1 : 0);
}

/**
 * Converts an 80-bit value to a signed integer of `size` bits (16, 32, 64) under `rc`, into
 * `out` (two's complement, hi = sign extension for 16/32). Out of range, NaN, infinity and
 * unsupported values give IE and the integer indefinite (the most negative value).
 */
export function toInt(v: F80, size: number, rc: Rc, out: Pair): number {
  const n = unpackF80(v, scratch);
  let flags = 0;
  if (n.cls === Cls.Zero) {
    out.lo = out.hi = 0;
    return 0;
  }
  if (n.cls !== Cls.Finite || n.exp > 63) return integerIndefinite(size, out);
  flags |= roundToInteger(n, rc);
  // Range: magnitude ≤ 2^(size-1) - 1, or 2^(size-1) when negative.
  let fits: boolean;
  if (n.ext !== 0) fits = false;
  else if (size === 64)
    fits = n.hi < 0x80000000 || (n.sign === 1 && n.hi === 0x80000000 && n.lo === 0);
  else if (size === 32)
    fits = n.hi === 0 && (n.lo < 0x80000000 || (n.sign === 1 && n.lo === 0x80000000));
  else fits = n.hi === 0 && (n.lo < 0x8000 || (n.sign === 1 && n.lo === 0x8000));
  if (!fits) return integerIndefinite(size, out);
  let lo = n.lo | 0;
  let hi = n.hi | 0;
  if (n.sign) {
    lo = (~lo + 1) | 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  }
  out.lo = size === 16 ? lo & 0xffff : lo;
  out.hi = size === 64 ? hi : 0;
  return flags;
}

function integerIndefinite(size: number, out: Pair): number {
  out.lo = size === 16 ? 0x8000 : size === 32 ? 0x80000000 | 0 : 0;
  out.hi = size === 64 ? 0x80000000 | 0 : 0;
  return Ex.IE;
}

// ---- packed BCD ----------------------------------------------------------------------

/** FBLD: 18 BCD digits (bytes 0-8, least significant first) and the sign (byte 9 bit 7).
 * Digits above 9 are weighted as they stand, as hardware does. */
export function fromBcd(bytes: Uint8Array, out: F80): F80 {
  // value = Σ digit × 10^k, in four 16-bit limbs.
  const limb = [0, 0, 0, 0];
  for (let i = 8; i >= 0; i--) {
    const byte = bytes[i]!;
    for (const digit of [byte >> 4, byte & 15]) {
      let carry = digit;
      for (let k = 0; k < 4; k++) {
        const t = limb[k]! * 10 + carry;
        limb[k] = t & 0xffff;
        carry = Math.floor(t / 0x10000);
      }
    }
  }
  // At most 15 × (10^18 - 1) / 9 < 2^63: a non-negative int64.
  fromInt64(limb[0]! | (limb[1]! << 16), limb[2]! | (limb[3]! << 16), out);
  if (bytes[9]! & 0x80) out.se |= 0x8000;
  return out;
}

/** FBSTP: rounds under `rc` and writes 10 bytes of packed BCD; IE and the BCD indefinite
 * when the value is not finite or |value| ≥ 10^18. */
export function toBcd(v: F80, rc: Rc, out: Uint8Array): number {
  const n = unpackF80(v, scratch);
  let flags = 0;
  out.fill(0, 0, 10);
  if (n.cls === Cls.Zero) {
    out[9] = n.sign << 7;
    return 0;
  }
  if (n.cls !== Cls.Finite || n.exp > 63) return bcdIndefinite(out);
  flags |= roundToInteger(n, rc);
  // 10^18 = 0x0DE0B6B3A7640000
  if (n.ext !== 0 || n.hi > 0x0de0b6b3 || (n.hi === 0x0de0b6b3 && n.lo >= 0xa7640000)) {
    return bcdIndefinite(out);
  }
  const limb = [n.lo & 0xffff, n.lo >>> 16, n.hi & 0xffff, n.hi >>> 16];
  for (let d = 0; d < 18; d++) {
    let rem = 0;
    for (let k = 3; k >= 0; k--) {
      const t = rem * 0x10000 + limb[k]!;
      limb[k] = Math.floor(t / 10);
      rem = t % 10;
    }
    out[d >> 1]! |= d & 1 ? rem << 4 : rem;
  }
  out[9] = n.sign << 7;
  return flags;
}

function bcdIndefinite(out: Uint8Array): number {
  out.fill(0, 0, 10);
  out[7] = 0xc0;
  out[8] = 0xff;
  out[9] = 0xff;
  return Ex.IE;
}

/** Whether `v` is a signaling NaN (exponent all ones, integer bit set, quiet bit clear). */
export function isSignaling(v: F80): boolean {
  return (
    (v.se & 0x7fff) === 0x7fff &&
    v.hi < 0 &&
    (v.hi & 0x40000000) === 0 &&
    ((v.hi & 0x3fffffff) | v.lo) !== 0
  );
}

/** FST m32: rounds under `rc`; the single's bits go to `out.lo`. */
export function toFloat32(v: F80, rc: Rc, out: Pair): number {
  const n = unpackF80(v, scratch);
  let flags = 0;
  if (n.cls === Cls.Unsupported) {
    out.lo = 0xffc00000 | 0;
    return Ex.IE;
  }
  if (n.cls === Cls.SNaN) {
    flags = Ex.IE;
    n.hi = (n.hi | 0x40000000) >>> 0;
  } else if (n.cls === Cls.Finite) {
    flags = round(n, 24, SGL_EMIN, SGL_EMAX, rc);
  }
  out.lo = pack32(n);
  return flags;
}

/** FST m64: rounds under `rc` into `out`. */
export function toFloat64(v: F80, rc: Rc, out: Pair): number {
  const n = unpackF80(v, scratch);
  let flags = 0;
  if (n.cls === Cls.Unsupported) {
    out.lo = 0;
    out.hi = 0xfff80000 | 0;
    return Ex.IE;
  }
  if (n.cls === Cls.SNaN) {
    flags = Ex.IE;
    n.hi = (n.hi | 0x40000000) >>> 0;
  } else if (n.cls === Cls.Finite) {
    flags = round(n, 53, DBL_EMIN, DBL_EMAX, rc);
  }
  pack64(n, out);
  return flags;
}

/** A double times 2^scale as an 80-bit value, rounded to nearest into the extended range. */
export function fromDoubleScaled(d: number, scale: number, out: F80): number {
  f64[0] = d;
  const n = unpack64(u32[LO]!, u32[HI]!, scratch);
  if (n.cls !== Cls.Finite) {
    pack80(n, out);
    return 0;
  }
  n.exp += scale;
  const flags = round(n, 64, EXT_EMIN, EXT_EMAX, Rc.Nearest);
  pack80(n, out);
  return flags;
}
