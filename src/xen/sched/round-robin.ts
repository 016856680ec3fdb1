/** The first scheduler: runnable vCPUs take equal time slices in turn, over N virtual pCPUs. */
import type { Vcpu } from '../common/domain.js';
import type { SchedulerOps } from './ops.js';

export class RoundRobinScheduler implements SchedulerOps {
  readonly name = 'rr';
  private readonly queue: Vcpu[] = [];
  private next = 0;
  /** Woken vCPUs, to run before the rotation goes on. */
  private readonly woken: Vcpu[] = [];
  /**
   * The last pick was a woken vCPU: the next one comes from the rotation. A vCPU whose events
   * keep arriving while others wait (its timer falls due in each of its own slices) must not
   * run slice after slice ahead of them, one of them perhaps halfway through its own
   * interrupt handler.
   */
  private lastWasWoken = false;
  /** The last vCPU to yield (spinning on a lock or flag), until it runs again. */
  private yielded: Vcpu | undefined = undefined;

  constructor(readonly sliceInstructions = 1_000_000) {}

  insert(vcpu: Vcpu): void {
    if (!this.queue.includes(vcpu)) this.queue.push(vcpu);
  }

  remove(vcpu: Vcpu): void {
    const index = this.queue.indexOf(vcpu);
    if (index < 0) return;
    this.queue.splice(index, 1);
    if (this.next > index) this.next--;
    this.dropWoken(vcpu);
    if (this.yielded === vcpu) this.yielded = undefined;
  }

  wake(vcpu: Vcpu): void {
    if (this.queue.includes(vcpu) && !this.woken.includes(vcpu)) this.woken.push(vcpu);
  }

  pick(_pcpu: number): Vcpu | undefined {
    const vcpu = this.choose();
    if (vcpu === this.yielded) this.yielded = undefined;
    return vcpu;
  }

  private choose(): Vcpu | undefined {
    if (!this.lastWasWoken) {
      for (let vcpu = this.woken.shift(); vcpu !== undefined; vcpu = this.woken.shift()) {
        if (!vcpu.runnable) continue;
        // Its turn in the rotation, if it was next, is taken.
        if (this.queue[this.next % this.queue.length] === vcpu) this.next++;
        this.lastWasWoken = true;
        return vcpu;
      }
    }
    this.lastWasWoken = false;
    for (let tried = 0; tried < this.queue.length; tried++) {
      if (this.next >= this.queue.length) this.next = 0;
      const vcpu = this.queue[this.next++]!;
      if (!vcpu.runnable) continue;
      this.dropWoken(vcpu); // running now: its event is taken
      return vcpu;
    }
    return undefined;
  }

  yield(vcpu: Vcpu): void {
    this.yielded = vcpu;
    vcpu.cpu.requestStop();
  }

  othersWaiting(picked: Vcpu): boolean {
    if (this.yielded !== undefined && this.yielded !== picked && this.yielded.runnable) return true;
    if (this.woken.some((vcpu) => vcpu !== picked && vcpu.runnable)) return true;
    // A vCPU of the same guest stopped with interrupts off, midway through an interrupt
    // handler or holding a lock: Xen would run it beside `picked` on a pCPU of its own. A
    // long slice here kept Linux's tick handler waiting on vCPU 0, whose time the guest's
    // early clock loses (it rearms the tick from the handler).
    return this.queue.some(
      (vcpu) =>
        vcpu !== picked &&
        vcpu.domain === picked.domain &&
        vcpu.runnable &&
        !vcpu.cpu.interruptible,
    );
  }

  private dropWoken(vcpu: Vcpu): void {
    const index = this.woken.indexOf(vcpu);
    if (index >= 0) this.woken.splice(index, 1);
  }
}
