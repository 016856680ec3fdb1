/** The first scheduler: runnable vCPUs take equal time slices in turn, over N virtual pCPUs. */
import type { Vcpu } from '../common/domain.js';
import type { SchedulerOps } from './ops.js';

export class RoundRobinScheduler implements SchedulerOps {
  readonly name = 'rr';
  private readonly queue: Vcpu[] = [];
  private next = 0;
  /** Woken vCPUs, to run before the rotation goes on. */
  private readonly woken: Vcpu[] = [];

  constructor(readonly sliceInstructions = 1_000_000) {}

  insert(vcpu: Vcpu): void {
    if (!this.queue.includes(vcpu)) this.queue.push(vcpu);
  }

  remove(vcpu: Vcpu): void {
    const index = this.queue.indexOf(vcpu);
    if (index < 0) return;
    this.queue.splice(index, 1);
    if (this.next > index) this.next--;
    const woken = this.woken.indexOf(vcpu);
    if (woken >= 0) this.woken.splice(woken, 1);
  }

  wake(vcpu: Vcpu): void {
    if (this.queue.includes(vcpu) && !this.woken.includes(vcpu)) this.woken.push(vcpu);
  }

  pick(_pcpu: number): Vcpu | undefined {
    for (let vcpu = this.woken.shift(); vcpu !== undefined; vcpu = this.woken.shift()) {
      if (vcpu.runnable) return vcpu;
    }
    for (let tried = 0; tried < this.queue.length; tried++) {
      if (this.next >= this.queue.length) this.next = 0;
      const vcpu = this.queue[this.next++]!;
      if (vcpu.runnable) return vcpu;
    }
    return undefined;
  }

  yield(vcpu: Vcpu): void {
    vcpu.cpu.requestStop();
  }
}
