/**
 * Per-vCPU guest timers, as a priority queue keyed by system time that the hypervisor polls:
 * after each exit (or when it would otherwise sleep) it compares `nextDeadline()` with
 * NOW() and calls `expire(now)`, which hands back the timers that are due, earliest first.
 *
 * `VcpuTimers` gives the single-shot and periodic timers Xen's semantics
 * (xen/common/domain.c VCPUOP_*_timer, xen/common/sched/core.c do_set_timer_op and
 * vcpu_periodic_timer_work); an expired 'singleshot' or 'periodic' timer means "send
 * VIRQ_TIMER to that vCPU". Other kinds ('lapic' for a vlapic's setTimer callback, 'poll'
 * for a SCHEDOP_poll timeout) are plain one-shot deadlines in the same queue.
 */

import { XEN_EINVAL, XEN_ETIME } from '../../../../abi/errno.js';
import { VCPU_SSHOTTMR_future } from '../../../../abi/vcpu.js';

export type TimerKind = 'singleshot' | 'periodic' | 'lapic' | 'poll';

/** A timer that came due: whose, which, and the deadline it had. */
export interface ExpiredTimer<K extends string = TimerKind> {
  vcpu: number;
  kind: K;
  deadline: number;
}

interface Entry<K extends string> {
  vcpu: number;
  kind: K;
  deadline: number;
  /** Arming order, which breaks ties between equal deadlines. */
  seq: number;
  /** Position in the heap. */
  index: number;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * One timer per (vCPU, kind), ordered by deadline and then by arming order, in a binary heap
 * indexed by key so re-arming and cancelling cost O(log n). `vcpu` is whatever integer the
 * owner uses to name a vCPU (with one queue for the machine, a global vCPU index).
 */
export class TimerQueue<K extends string = TimerKind> {
  private readonly heap: Entry<K>[] = [];
  private readonly byKey = new Map<string, Entry<K>>();
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Arms (or re-arms) the vCPU's timer of this kind. */
  set(vcpu: number, kind: K, deadline: number): void {
    if (Number.isNaN(deadline)) throw new RangeError('timer deadline is NaN');
    const key = `${vcpu}/${kind}`;
    const entry = this.byKey.get(key);
    if (entry !== undefined) {
      entry.deadline = deadline;
      entry.seq = this.seq++;
      this.siftUp(entry.index);
      this.siftDown(entry.index);
      return;
    }
    const fresh: Entry<K> = { vcpu, kind, deadline, seq: this.seq++, index: this.heap.length };
    this.byKey.set(key, fresh);
    this.heap.push(fresh);
    this.siftUp(fresh.index);
  }

  /** Disarms the vCPU's timer of this kind; false if it was not armed. */
  cancel(vcpu: number, kind: K): boolean {
    const key = `${vcpu}/${kind}`;
    const entry = this.byKey.get(key);
    if (entry === undefined) return false;
    this.byKey.delete(key);
    this.removeAt(entry.index);
    return true;
  }

  /** Disarms every timer of a vCPU. */
  cancelAll(vcpu: number): void {
    for (const entry of [...this.heap]) {
      if (entry.vcpu === vcpu) this.cancel(entry.vcpu, entry.kind);
    }
  }

  /** The deadline of the vCPU's timer of this kind, if armed. */
  deadline(vcpu: number, kind: K): number | undefined {
    return this.byKey.get(`${vcpu}/${kind}`)?.deadline;
  }

  /** The earliest deadline, if any timer is armed. */
  nextDeadline(): number | undefined {
    return this.heap[0]?.deadline;
  }

  /** Removes and returns every timer whose deadline is at or before `now`, earliest first. */
  expire(now: number): readonly ExpiredTimer<K>[] {
    const first = this.heap[0];
    if (first === undefined || first.deadline > now) return NONE;
    const out: ExpiredTimer<K>[] = [];
    for (let top = this.heap[0]; top !== undefined && top.deadline <= now; top = this.heap[0]) {
      this.byKey.delete(`${top.vcpu}/${top.kind}`);
      this.removeAt(0);
      out.push({ vcpu: top.vcpu, kind: top.kind, deadline: top.deadline });
    }
    return out;
  }

  private before(a: Entry<K>, b: Entry<K>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private place(entry: Entry<K>, index: number): void {
    this.heap[index] = entry;
    entry.index = index;
  }

  private removeAt(index: number): void {
    const last = this.heap.pop()!;
    if (index === this.heap.length) return;
    this.place(last, index);
    this.siftUp(index);
    this.siftDown(last.index);
  }

  private siftUp(index: number): void {
    const entry = this.heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.heap[parentIndex]!;
      if (!this.before(entry, parent)) break;
      this.place(parent, index);
      index = parentIndex;
    }
    this.place(entry, index);
  }

  private siftDown(index: number): void {
    const entry = this.heap[index]!;
    const n = this.heap.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.before(this.heap[right]!, this.heap[left]!)) child = right;
      const childEntry = this.heap[child]!;
      if (!this.before(childEntry, entry)) break;
      this.place(childEntry, index);
      index = child;
    }
    this.place(entry, index);
  }
}

/** 1 ms: the shortest period VCPUOP_set_periodic_timer accepts. */
export const MIN_PERIOD_NS = 1_000_000;
/** Xen's STIME_DELTA_MAX, 2^62 − 1 (as a double: periods of 2^62 and more are refused). */
export const STIME_DELTA_MAX = 2 ** 62;
/** Timeouts further than this (2^50 ns, about 13 days) are treated as a guest bug. */
const HUGE_TIMEOUT_NS = 2 ** 50;
/** What do_set_timer_op sets for a negative or huge timeout instead: 100 ms from now. */
const HUGE_TIMEOUT_FALLBACK_NS = 100_000_000;

/** A guest's signed 64-bit argument (lo, hi halves) as a double (exact below 2^53). */
export function s64(lo: number, hi: number): number {
  return (hi | 0) * 0x100000000 + (lo >>> 0);
}

/** A guest's unsigned 64-bit argument (lo, hi halves) as a double (exact below 2^53). */
export function u64(lo: number, hi: number): number {
  return (hi >>> 0) * 0x100000000 + (lo >>> 0);
}

/**
 * The single-shot and periodic timers of every vCPU, with Xen's hypercall semantics, in
 * one queue the hypervisor polls. Return values are 0 or a negative Xen errno. The checks
 * Xen makes on the calling vCPU itself (VCPUOP_*_singleshot_timer only for the current vCPU,
 * else -EINVAL) are the dispatcher's.
 */
export class VcpuTimers {
  readonly queue = new TimerQueue<TimerKind>();
  private readonly periods = new Map<number, number>();
  private readonly lastPeriodic = new Map<number, number>();

  /**
   * VCPUOP_set_singleshot_timer. A timeout already in the past fails with -ETIME under
   * VCPU_SSHOTTMR_future; without it the timer fires at once (it is due at the next poll).
   * Current Xen ignores the flag and always fires; Linux passes flags 0.
   */
  setSingleshot(vcpu: number, timeoutAbsNs: number, flags: number, now: number): number {
    if (timeoutAbsNs < now && flags & VCPU_SSHOTTMR_future) return -XEN_ETIME;
    this.queue.set(vcpu, 'singleshot', timeoutAbsNs < now ? now : timeoutAbsNs);
    return 0;
  }

  /** VCPUOP_stop_singleshot_timer. */
  stopSingleshot(vcpu: number): number {
    this.queue.cancel(vcpu, 'singleshot');
    return 0;
  }

  /**
   * HYPERVISOR_set_timer_op(timeout): 0 stops the single-shot timer; a negative timeout, or
   * one more than 2^50 ns ahead, is taken as 100 ms from now (Xen's workaround for Linux's
   * jiffies wrap); anything else arms it (a time in the past fires at once). `timeout` is
   * the signed 64-bit argument (see `s64`).
   */
  setTimerOp(vcpu: number, timeout: number, now: number): number {
    if (timeout === 0) {
      this.queue.cancel(vcpu, 'singleshot');
    } else if (timeout < 0 || timeout - now >= HUGE_TIMEOUT_NS) {
      this.queue.set(vcpu, 'singleshot', now + HUGE_TIMEOUT_FALLBACK_NS);
    } else {
      this.queue.set(vcpu, 'singleshot', timeout);
    }
    return 0;
  }

  /**
   * VCPUOP_set_periodic_timer: periods under 1 ms or over STIME_DELTA_MAX are -EINVAL. The
   * first tick is due at once when a period has passed since the vCPU's last periodic tick
   * (always, the first time), else one period after that tick.
   */
  setPeriodic(vcpu: number, periodNs: number, now: number): number {
    if (!(periodNs >= MIN_PERIOD_NS) || periodNs >= STIME_DELTA_MAX) return -XEN_EINVAL;
    this.queue.cancel(vcpu, 'periodic');
    this.periods.set(vcpu, periodNs);
    const next = (this.lastPeriodic.get(vcpu) ?? 0) + periodNs;
    this.queue.set(vcpu, 'periodic', now >= next ? now : next);
    return 0;
  }

  /** VCPUOP_stop_periodic_timer. */
  stopPeriodic(vcpu: number): number {
    this.queue.cancel(vcpu, 'periodic');
    this.periods.delete(vcpu);
    return 0;
  }

  /** The period of the vCPU's periodic timer, or 0 when it is stopped. */
  period(vcpu: number): number {
    return this.periods.get(vcpu) ?? 0;
  }

  /** Arms a plain one-shot timer of another kind ('lapic', 'poll'). */
  arm(vcpu: number, kind: 'lapic' | 'poll', deadline: number): void {
    this.queue.set(vcpu, kind, deadline);
  }

  /** Disarms a timer of another kind. */
  disarm(vcpu: number, kind: 'lapic' | 'poll'): void {
    this.queue.cancel(vcpu, kind);
  }

  /** Drops every timer of a vCPU (it is going away). */
  remove(vcpu: number): void {
    this.queue.cancelAll(vcpu);
    this.periods.delete(vcpu);
    this.lastPeriodic.delete(vcpu);
  }

  nextDeadline(): number | undefined {
    return this.queue.nextDeadline();
  }

  /**
   * The timers due at `now`, earliest first. A periodic timer that fires is re-armed one
   * period after `now` (ticks missed while the vCPU was not polled are not replayed, as in
   * Xen).
   */
  expire(now: number): readonly ExpiredTimer<TimerKind>[] {
    const due = this.queue.expire(now);
    for (const timer of due) {
      if (timer.kind !== 'periodic') continue;
      const period = this.periods.get(timer.vcpu);
      if (period === undefined) continue;
      this.lastPeriodic.set(timer.vcpu, now);
      this.queue.set(timer.vcpu, 'periodic', now + period);
    }
    return due;
  }
}
