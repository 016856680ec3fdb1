/**
 * TSC ↔ nanosecond scaling in Xen's form (xen/arch/x86/time.c): a 32-bit binary fraction
 * `mul` and a power-of-two `shift`, with
 *
 *     ns = ((ticks << shift) * mul) >> 32        (a negative shift shifts right first)
 *
 * which is exactly what a guest computes from vcpu_time_info.tsc_to_system_mul and
 * tsc_shift (Linux's pvclock_scale_delta: a 64×32-bit multiply keeping bits 95:32).
 *
 * All arithmetic here is on doubles holding integers below 2^53, split into 16- and 32-bit
 * pieces where a product would not fit, so results are exact without BigInt. Inputs are
 * TSC values and nanosecond counts, which stay below 2^53 for months (2^53 ticks of a
 * 2 GHz TSC are 52 days; the CPU's `clock` hook is a double too).
 */

const TWO_32 = 0x100000000;
const NS_PER_SECOND = 1_000_000_000;
/** 2^k and 2^-k for k in 0..64, looked up rather than computed on the hot path. */
const POW2 = new Float64Array(65);
const INV_POW2 = new Float64Array(65);
for (let k = 0; k <= 64; k++) {
  POW2[k] = 2 ** k;
  INV_POW2[k] = 2 ** -k;
}

/** A scale from ticks to nanoseconds: ns = ((ticks << shift) * mul) >> 32. */
export interface TimeScale {
  /** The 32-bit fraction (vcpu_time_info.tsc_to_system_mul), in [2^31, 2^32). */
  readonly mul: number;
  /** The power of two applied to ticks before the multiply (vcpu_time_info.tsc_shift). */
  readonly shift: number;
}

/** Thrown for a frequency or a value the exact arithmetic here cannot take. */
export class TimeScaleError extends RangeError {
  override name = 'TimeScaleError';
}

/**
 * floor(q0 · 2^bits + r0 · 2^bits / d) for a quotient q0 and a remainder 0 ≤ r0 < d < 2^32:
 * long division continued over `bits` more binary digits, 20 at a time so that every
 * partial dividend stays below 2^52. Each digit is corrected for the rounding of `/`.
 */
function continueDivision(q0: number, r0: number, d: number, bits: number): number {
  let q = q0;
  let r = r0;
  while (bits > 0) {
    const step = bits > 20 ? 20 : bits;
    const n = r * POW2[step]!;
    let digit = Math.floor(n / d);
    r = n - digit * d;
    if (r < 0) {
      digit -= 1;
      r += d;
    } else if (r >= d) {
      digit += 1;
      r -= d;
    }
    q = q * POW2[step]! + digit;
    bits -= step;
  }
  return q;
}

/** floor(dividend · 2^32 / divisor) for 0 ≤ dividend < divisor < 2^32 (Xen's div_frac). */
export function divFrac(dividend: number, divisor: number): number {
  return continueDivision(0, dividend, divisor, 32);
}

/**
 * The scale for a clock of `ticksPerSecond`, computed as Xen's set_time_scale does: the
 * frequency is halved (shift down) until it is at most 2 GHz and doubled (shift up) while it
 * is at most 1 GHz, and mul is 10^9 / frequency as a 32-bit fraction.
 */
export function timeScale(ticksPerSecond: number): TimeScale {
  if (!Number.isSafeInteger(ticksPerSecond) || ticksPerSecond <= 0) {
    throw new TimeScaleError(`TSC frequency must be a positive integer, not ${ticksPerSecond}`);
  }
  let tps = ticksPerSecond;
  let shift = 0;
  while (tps > 2 * NS_PER_SECOND) {
    tps = Math.floor(tps / 2);
    shift--;
  }
  while (tps <= NS_PER_SECOND) {
    tps *= 2;
    shift++;
  }
  return { mul: divFrac(NS_PER_SECOND, tps), shift };
}

/**
 * floor(x · mul / 2^e) for integers 0 ≤ x < 2^53, 0 ≤ mul < 2^32, 0 ≤ e ≤ 32, exact as long
 * as the result is below 2^53.
 */
function mulShr(x: number, mul: number, e: number): number {
  const xh = Math.floor(x * INV_POW2[32]!);
  const xl = x - xh * TWO_32;
  const mh = mul >>> 16;
  const ml = mul & 0xffff;
  const high = xh * mul * POW2[32 - e]!;
  const a = xl * ml; // < 2^48
  const b = xl * mh; // < 2^48; xl · mul = b · 2^16 + a
  const low =
    e >= 16
      ? Math.floor((b + Math.floor(a * INV_POW2[16]!)) * INV_POW2[e - 16]!)
      : b * POW2[16 - e]! + Math.floor(a * INV_POW2[e]!);
  return high + low;
}

/**
 * Ticks to nanoseconds, exactly as a guest reading a pvclock record does: the ticks are
 * shifted (right shifts drop bits), multiplied by the 32-bit fraction and the low 32 bits of
 * the product dropped.
 */
export function scaleDelta(ticks: number, scale: TimeScale): number {
  const shift = scale.shift;
  if (shift < 0) return mulShr(Math.floor(ticks * INV_POW2[-shift]!), scale.mul, 32);
  return mulShr(ticks, scale.mul, 32 - shift);
}

/**
 * Nanoseconds to ticks: floor(ns · 2^(32 − shift) / mul), the exact inverse of the line that
 * `scaleDelta` floors. A clock that counts ticks this way and converts back with `scaleDelta`
 * loses less than one tick's worth of nanoseconds (under 1 ns for a 1 GHz or faster TSC).
 */
export function ticksForNs(ns: number, scale: TimeScale): number {
  const mul = scale.mul;
  let q = Math.floor(ns / mul);
  let r = ns - q * mul;
  if (r < 0) {
    q -= 1;
    r += mul;
  } else if (r >= mul) {
    q += 1;
    r -= mul;
  }
  return continueDivision(q, r, mul, 32 - scale.shift);
}

/**
 * The smallest number of ticks that `scaleDelta` maps to at least `ns`: how long to wait,
 * in ticks, for `ns` nanoseconds to have passed as a guest measures them.
 */
export function ticksCoveringNs(ns: number, scale: TimeScale): number {
  let ticks = ticksForNs(ns, scale);
  while (scaleDelta(ticks, scale) < ns) ticks++;
  return ticks;
}

/**
 * The stamp alignment of a scale: a power of two P such that for every tick count T0 that
 * is a multiple of P and every T ≥ T0,
 *
 *     scaleDelta(T0) + scaleDelta(T − T0) = scaleDelta(T).
 *
 * A pvclock record stamped at such a T0 gives a guest exactly the value the hypervisor's
 * own clock line gives, however far the guest reads from the stamp: no rounding step appears
 * when the record is refreshed, so the guest's clock never steps back. P is
 * 2^(32 − shift − trailing zero bits of mul): tick·mul/2^(32−shift) is an integer there.
 */
export function stampAlignment(scale: TimeScale): number {
  const trailingZeros = 31 - Math.clz32(scale.mul & -scale.mul);
  const exponent = 32 - scale.shift - trailingZeros;
  return exponent > 0 ? 2 ** exponent : 1;
}
