/**
 * A vif's transmit rate limit (xl.cfg `rate=`, backend key `rate` = "bytes,usecs"), modelled on
 * Linux xen-netback's credit scheme: the queue holds `remaining` bytes of credit; each
 * interval, counted from the window start, adds `bytesPerInterval` more, up to a burst of
 * max(128 KiB, bytesPerInterval) so that the largest packet can always go eventually. A packet
 * bigger than the credit left waits for the end of the current window (netback's
 * credit_timeout), and while that timer runs nothing else goes either, so packets keep their
 * order.
 */

/** tx_add_credit's least burst: a 64 KiB GSO packet and more must fit, or the vif seizes up. */
export const MIN_CREDIT_BURST = 131072;

export class CreditLimiter {
  private bytesPerInterval: number;
  private intervalMs: number;
  private remaining: number;
  private windowStart: number;
  /** When credit_timeout fires, while it is pending. */
  private timerAt: number | undefined;

  constructor(
    bytesPerInterval: number,
    intervalUsecs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    checkRate(bytesPerInterval, intervalUsecs);
    this.bytesPerInterval = bytesPerInterval;
    this.intervalMs = intervalUsecs / 1000;
    // netback's connect(): a fresh queue starts with one interval's worth of credit.
    this.remaining = bytesPerInterval;
    this.windowStart = now();
  }

  /** 0 if a packet of `bytes` may go now (credit is taken), else the milliseconds until it may be tried again. */
  take(bytes: number): number {
    const now = this.now();
    if (this.timerAt !== undefined) {
      if (now < this.timerAt) return this.timerAt - now;
      // credit_timeout fired: its callback adds one interval's credit.
      this.timerAt = undefined;
      this.addCredit(1);
    }
    // A packet bigger than the largest burst could never go; it waits for a full bucket instead.
    const needed = Math.min(bytes, this.maxBurst());
    if (needed <= this.remaining || !this.exceeded(needed, now)) {
      this.remaining = Math.max(0, this.remaining - bytes);
      return 0;
    }
    return this.timerAt! - now;
  }

  /**
   * A new `rate` from the watch on it (xen_net_rate_changed): a pending timer fires at once,
   * otherwise credit above the new interval's worth is cut back to it.
   */
  update(bytesPerInterval: number, intervalUsecs: number): void {
    checkRate(bytesPerInterval, intervalUsecs);
    this.bytesPerInterval = bytesPerInterval;
    this.intervalMs = intervalUsecs / 1000;
    if (this.timerAt !== undefined) this.timerAt = this.now();
    else if (this.remaining > bytesPerInterval) this.remaining = bytesPerInterval;
  }

  /** The bytes that may go now without waiting. */
  get credit(): number {
    return this.remaining;
  }

  private maxBurst(): number {
    return Math.max(MIN_CREDIT_BURST, this.bytesPerInterval);
  }

  private addCredit(intervals: number): void {
    this.remaining = Math.min(this.remaining + intervals * this.bytesPerInterval, this.maxBurst());
  }

  /** tx_credit_exceeded: refills if a window has passed; if still short, arms the timer for the window's end. */
  private exceeded(needed: number, now: number): boolean {
    const next = this.windowStart + this.intervalMs;
    if (now >= next) {
      // Netback restarts the window now with one interval's credit; if that is not enough, the
      // timer it arms for the boundary already passed fires at once and the retry adds more,
      // one interval at a time, until the missed windows are made up. Done here in one step.
      const passed = Math.floor((now - this.windowStart) / this.intervalMs);
      this.addCredit(1);
      if (needed > this.remaining) this.addCredit(passed - 1);
      if (needed <= this.remaining) {
        this.windowStart = now;
        return false;
      }
      this.windowStart += (passed + 1) * this.intervalMs;
    } else {
      this.windowStart = next;
    }
    this.timerAt = this.windowStart;
    return true;
  }
}

function checkRate(bytesPerInterval: number, intervalUsecs: number): void {
  if (!(bytesPerInterval > 0) || !(intervalUsecs > 0)) {
    throw new RangeError(
      `rate limit needs a positive byte count and interval, not ${bytesPerInterval} bytes per ${intervalUsecs} us`,
    );
  }
}

/**
 * The backend's `rate` key, "bytes,usecs" in decimal as xen_net_read_rate reads it; undefined
 * (unlimited) when it is absent, malformed, or either number is zero.
 */
export function parseRate(
  text: string | undefined,
): { bytesPerInterval: number; intervalUsecs: number } | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+),(\d+)$/.exec(text);
  if (match === null) return undefined;
  const bytesPerInterval = Number(match[1]);
  const intervalUsecs = Number(match[2]);
  if (!(bytesPerInterval > 0) || !(intervalUsecs > 0)) return undefined;
  if (!Number.isSafeInteger(bytesPerInterval) || !Number.isSafeInteger(intervalUsecs)) {
    return undefined;
  }
  return { bytesPerInterval, intervalUsecs };
}
