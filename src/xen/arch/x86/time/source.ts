/**
 * The machine's clock: Xen's system time (NOW(), nanoseconds since the hypervisor started),
 * the TSC that guests read, and the wallclock.
 *
 * The host's monotonic clock is the master. The TSC is derived from it through the exact
 * inverse of the pvclock scale (`ticksForNs`), and system time is derived back from the TSC
 * through the scale itself (`scaleDelta`), so the hypervisor's NOW() is, to the nanosecond,
 * what a guest computes from its vcpu_time_info at the same TSC — and within 1 ns of the
 * host's elapsed time for a TSC of 1 GHz or more. The TSC's true rate is therefore the
 * scale's (it differs from the nominal frequency by less than 2^-31).
 *
 * Guests see the TSC plus an offset: the vCPU's `Cpu.tscOffset` (start it at a domain's
 * offset; a guest WRMSR to IA32_TSC changes it), with `Cpu.clock` set to `source.clock`.
 */

import {
  scaleDelta,
  stampAlignment,
  type TimeScale,
  TimeScaleError,
  ticksCoveringNs,
  ticksForNs,
  timeScale,
} from './scale.js';

/** A point in time as seconds and nanoseconds (0 ≤ nsec < 10^9). */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** A pvclock stamp: a TSC value and the system time it stands for. */
export interface TimeStamp {
  tsc: number;
  systemTime: number;
}

export interface TimeSourceOptions {
  /** The host's monotonic clock in nanoseconds (e.g. `() => Number(process.hrtime.bigint())`). */
  hostNs: () => number;
  /** The guests' nominal TSC frequency in Hz (default 2 GHz). */
  tscHz?: number;
  /** The host's wall-clock time now (default `Date.now()`); read once, at construction. */
  wallClock?: () => Timespec;
}

export const DEFAULT_TSC_HZ = 2_000_000_000;
const NS_PER_SECOND = 1_000_000_000;

function dateNow(): Timespec {
  const ms = Date.now();
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: (ms - sec * 1000) * 1_000_000 };
}

export class TimeSource {
  readonly tscHz: number;
  readonly scale: TimeScale;
  /** Ticks between the TSC values at which pvclock stamps are taken (see `stampAlignment`). */
  readonly stampPeriod: number;
  private readonly hostNs: () => number;
  private readonly bootHostNs: number;
  private readonly wallAtZero: Timespec;
  private lastElapsed = 0;

  /** The CPU's `clock` hook: the machine TSC now. */
  readonly clock: () => number = () => this.tsc();

  constructor(options: TimeSourceOptions) {
    this.tscHz = options.tscHz ?? DEFAULT_TSC_HZ;
    this.scale = timeScale(this.tscHz);
    this.stampPeriod = stampAlignment(this.scale);
    this.hostNs = options.hostNs;
    this.bootHostNs = options.hostNs();
    const wall = (options.wallClock ?? dateNow)();
    if (!Number.isSafeInteger(wall.sec) || !(wall.nsec >= 0 && wall.nsec < NS_PER_SECOND)) {
      throw new TimeScaleError(`bad wall-clock time ${wall.sec}.${wall.nsec}`);
    }
    this.wallAtZero = { sec: wall.sec, nsec: Math.floor(wall.nsec) };
  }

  /** Host nanoseconds since construction, never going backwards. */
  private elapsed(): number {
    const elapsed = Math.floor(this.hostNs() - this.bootHostNs);
    if (elapsed > this.lastElapsed) this.lastElapsed = elapsed;
    return this.lastElapsed;
  }

  /** The machine TSC now (a guest's TSC is this plus its offset). */
  tsc(): number {
    return ticksForNs(this.elapsed(), this.scale);
  }

  /** Xen's NOW(): system time in nanoseconds — what a guest's pvclock gives at this TSC. */
  now(): number {
    return this.systemTimeAt(this.tsc());
  }

  /** The system time a machine TSC value stands for. */
  systemTimeAt(tsc: number): number {
    return scaleDelta(tsc, this.scale);
  }

  /** The machine TSC at a system time (the largest TSC whose system time is at most it). */
  tscAt(systemTime: number): number {
    return ticksForNs(systemTime, this.scale);
  }

  /** Ticks to nanoseconds (for TSC deltas, e.g. an APIC TSC deadline). */
  ticksToNs(ticks: number): number {
    return scaleDelta(ticks, this.scale);
  }

  /** The fewest ticks that measure at least `ns` nanoseconds. */
  nsToTicks(ns: number): number {
    return ticksCoveringNs(ns, this.scale);
  }

  /**
   * The newest pvclock stamp: the last multiple of `stampPeriod` at or before the TSC now,
   * with its system time. A record built on it is exact for every later TSC.
   */
  stamp(): TimeStamp {
    const tsc = Math.floor(this.tsc() / this.stampPeriod) * this.stampPeriod;
    return { tsc, systemTime: this.systemTimeAt(tsc) };
  }

  /**
   * The wallclock a domain finds in shared_info: the wall time at system time 0, moved by
   * the domain's offset in seconds (XEN_DOMCTL_settimeoffset).
   */
  wallclock(offsetSeconds = 0): Timespec {
    return { sec: this.wallAtZero.sec + offsetSeconds, nsec: this.wallAtZero.nsec };
  }

  /** The wall time now, as a guest computes it from the wallclock and its pvclock. */
  wallTime(offsetSeconds = 0): Timespec {
    const now = this.now();
    const whole = Math.floor(now / NS_PER_SECOND);
    let nsec = this.wallAtZero.nsec + (now - whole * NS_PER_SECOND);
    let sec = this.wallAtZero.sec + offsetSeconds + whole;
    if (nsec >= NS_PER_SECOND) {
      nsec -= NS_PER_SECOND;
      sec += 1;
    }
    return { sec, nsec };
  }

  /** A TSC offset that makes a guest's TSC read 0 now (as Xen starts an HVM guest's TSC). */
  zeroTscOffset(): number {
    return -this.tsc();
  }
}
