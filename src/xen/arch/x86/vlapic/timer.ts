/**
 * The local APIC timer: one-shot and periodic counting of the initial count at the bus
 * clock divided by the divide configuration, and TSC-deadline mode (IA32_TSC_DEADLINE).
 *
 * Time is guest nanoseconds from the owner's `now()`. The counter is not stored: it is
 * computed from `start`, the guest time at which the current count was the initial count
 * (Xen's timer_last_update). The owner's scheduler is told the next deadline through
 * `setTimer` and calls back (through Vlapic.fireTimer) when it passes.
 */

import { Lvt } from './regs.js';

/** The guest TSC, for TSC-deadline mode. */
export interface TscClock {
  /** The guest TSC now (what RDTSC returns on this vCPU). */
  now(): number;
  /** TSC ticks to guest nanoseconds. */
  ticksToNs(ticks: number): number;
}

export interface TimerClock {
  now(): number;
  setTimer(deadlineNs: number | undefined): void;
  tsc: TscClock | undefined;
  busCycleNs: number;
}

/** The timer's state in a snapshot. */
export interface ApicTimerState {
  initialCount: number;
  divideConfig: number;
  /** Guest ns at which the count was the initial count; null when the timer is stopped. */
  start: number | null;
  /** Guest ns of the next expiry; null when disarmed. */
  deadline: number | null;
  tscDeadlineLo: number;
  tscDeadlineHi: number;
}

const TWO_32 = 0x100000000;

const timerMode = (lvtt: number): number => lvtt & Lvt.TimerModeMask;
const counting = (mode: number): boolean => mode === Lvt.TimerOneShot || mode === Lvt.TimerPeriodic;

/** The divisor a divide configuration selects: bits 0, 1 and 3; 0b1011 is 1. */
export function timerDivisor(divideConfig: number): number {
  return 1 << ((((divideConfig & 3) | ((divideConfig & 8) >> 1)) + 1) & 7);
}

export class ApicTimer {
  private initialCount = 0;
  private divideConfig = 0;
  private divisor = 2;
  private start: number | undefined = undefined;
  private deadline: number | undefined = undefined;
  private tscDeadlineLo = 0;
  private tscDeadlineHi = 0;

  constructor(private readonly clock: TimerClock) {}

  /** Stops the timer and clears its registers (reset and INIT). */
  reset(): void {
    this.initialCount = 0;
    this.divideConfig = 0;
    this.divisor = 2;
    this.start = undefined;
    this.tscDeadlineLo = 0;
    this.tscDeadlineHi = 0;
    this.disarm();
  }

  /** The armed expiry in guest ns, if any. */
  get armedDeadline(): number | undefined {
    return this.deadline;
  }

  get divide(): number {
    return this.divideConfig;
  }

  initialCountFor(lvtt: number): number {
    return counting(timerMode(lvtt)) ? this.initialCount : 0;
  }

  currentCount(lvtt: number): number {
    const mode = timerMode(lvtt);
    if (!counting(mode) || this.initialCount === 0 || this.start === undefined) return 0;
    let passed = Math.floor(
      (this.clock.now() - this.start) / (this.clock.busCycleNs * this.divisor),
    );
    if (mode === Lvt.TimerPeriodic) passed %= this.initialCount;
    return passed < this.initialCount ? this.initialCount - passed : 0;
  }

  /** TMICT write: (re)starts counting from `value`, or stops the timer for 0. */
  writeInitialCount(lvtt: number, value: number): void {
    const mode = timerMode(lvtt);
    if (!counting(mode)) return; // ignored in TSC-deadline (and the reserved) mode
    this.initialCount = value >>> 0;
    this.update(mode, mode, true, this.divisor);
  }

  /** TDCR write: the count so far is kept and the rest runs at the new rate. */
  writeDivideConfig(lvtt: number, value: number): void {
    const old = this.divisor;
    this.divideConfig = value & 0xb;
    this.divisor = timerDivisor(this.divideConfig);
    const mode = timerMode(lvtt);
    if (mode !== Lvt.TimerTscDeadline) this.update(mode, mode, false, old);
  }

  /**
   * LVT timer write: entering or leaving TSC-deadline mode stops the timer and clears the
   * initial count and the deadline; switching between one-shot and periodic keeps a running
   * count going (an expired one-shot stays expired).
   */
  writeLvt(oldLvtt: number, newLvtt: number): void {
    const oldMode = timerMode(oldLvtt);
    const newMode = timerMode(newLvtt);
    if ((oldMode === Lvt.TimerTscDeadline) !== (newMode === Lvt.TimerTscDeadline)) {
      this.initialCount = 0;
      this.tscDeadlineLo = 0;
      this.tscDeadlineHi = 0;
      this.start = undefined;
      this.disarm();
      return;
    }
    if (newMode !== Lvt.TimerTscDeadline) this.update(oldMode, newMode, false, this.divisor);
  }

  /** IA32_TSC_DEADLINE as the guest reads it: the armed deadline, 0 outside TSC-deadline mode. */
  readTscDeadline(lvtt: number): [number, number] {
    if (timerMode(lvtt) !== Lvt.TimerTscDeadline) return [0, 0];
    return [this.tscDeadlineLo, this.tscDeadlineHi];
  }

  /**
   * IA32_TSC_DEADLINE write (ignored outside TSC-deadline mode): a future TSC arms the timer,
   * a past one fires it at once, 0 disarms it.
   */
  writeTscDeadline(lvtt: number, lo: number, hi: number): void {
    const tsc = this.clock.tsc;
    if (tsc === undefined || timerMode(lvtt) !== Lvt.TimerTscDeadline) return;
    const value = (hi >>> 0) * TWO_32 + (lo >>> 0);
    const now = tsc.now();
    if (value > now) {
      this.tscDeadlineLo = lo >>> 0;
      this.tscDeadlineHi = hi >>> 0;
      this.arm(this.clock.now() + tsc.ticksToNs(value - now));
      return;
    }
    this.tscDeadlineLo = 0;
    this.tscDeadlineHi = 0;
    if (value > 0) this.arm(this.clock.now());
    else this.disarm();
  }

  /**
   * The owner's timer for this APIC went off. Returns whether the timer expired (the LVT
   * timer interrupt is due, if unmasked); a call before the deadline (or, in TSC-deadline
   * mode, before the TSC reached it) re-arms and returns false. A periodic timer re-arms for
   * its next period boundary after now; periods that went by unpolled are not replayed.
   */
  fire(lvtt: number): boolean {
    const deadline = this.deadline;
    if (deadline === undefined) return false;
    const now = this.clock.now();
    if (now < deadline) {
      this.clock.setTimer(deadline);
      return false;
    }
    const mode = timerMode(lvtt);
    if (mode === Lvt.TimerTscDeadline) {
      const tsc = this.clock.tsc;
      const target = this.tscDeadlineHi * TWO_32 + this.tscDeadlineLo;
      if (tsc !== undefined && target > 0) {
        const ticks = target - tsc.now();
        if (ticks > 0) {
          this.arm(now + Math.max(1, tsc.ticksToNs(ticks)));
          return false;
        }
      }
      this.tscDeadlineLo = 0;
      this.tscDeadlineHi = 0;
      this.deadline = undefined;
      return true;
    }
    if (mode === Lvt.TimerPeriodic && this.start !== undefined && this.initialCount > 0) {
      const period = this.period(this.divisor);
      const periods = Math.max(1, Math.floor((now - this.start) / period));
      this.start += periods * period;
      this.arm(this.start + period);
      return true;
    }
    this.deadline = undefined;
    return true;
  }

  save(): ApicTimerState {
    return {
      initialCount: this.initialCount,
      divideConfig: this.divideConfig,
      start: this.start ?? null,
      deadline: this.deadline ?? null,
      tscDeadlineLo: this.tscDeadlineLo,
      tscDeadlineHi: this.tscDeadlineHi,
    };
  }

  restore(state: ApicTimerState): void {
    this.initialCount = state.initialCount >>> 0;
    this.divideConfig = state.divideConfig & 0xb;
    this.divisor = timerDivisor(this.divideConfig);
    this.start = state.start ?? undefined;
    this.tscDeadlineLo = state.tscDeadlineLo >>> 0;
    this.tscDeadlineHi = state.tscDeadlineHi >>> 0;
    if (state.deadline === null) this.disarm();
    else this.arm(state.deadline);
  }

  private period(divisor: number): number {
    return this.initialCount * this.clock.busCycleNs * divisor;
  }

  /**
   * Recomputes the expiry after a write that may change it (Xen's vlapic_update_timer):
   * what is left of the current period under the old mode and divisor carries over, scaled
   * to the new divisor; a fresh initial count starts a whole period.
   */
  private update(oldMode: number, newMode: number, fresh: boolean, oldDivisor: number): void {
    const now = this.clock.now();
    let period = this.period(oldDivisor);
    let delta = 0;
    if (fresh) {
      delta = period;
    } else if (period > 0 && this.start !== undefined) {
      let passed = now - this.start;
      if (oldMode === Lvt.TimerPeriodic) passed %= period;
      if (passed < period) delta = period - passed;
    }
    if (delta > 0 && counting(newMode)) {
      if (this.divisor !== oldDivisor) {
        period = this.period(this.divisor);
        delta = Math.floor((delta * this.divisor) / oldDivisor);
      }
      this.start = now - (period - delta);
      this.arm(now + delta);
    } else {
      this.start = undefined;
      this.disarm();
    }
  }

  private arm(deadline: number): void {
    this.deadline = deadline;
    this.clock.setTimer(deadline);
  }

  private disarm(): void {
    if (this.deadline === undefined) return;
    this.deadline = undefined;
    this.clock.setTimer(undefined);
  }
}
