/** The first scheduler: runnable vCPUs take equal time slices in turn, over N virtual pCPUs. */
import type { Vcpu } from '../common/domain.js';
import type { SchedulerOps } from './ops.js';

export class RoundRobinScheduler implements SchedulerOps {
  readonly name = 'rr';
  private readonly queue: Vcpu[] = [];
  private next = 0;

  constructor(readonly sliceInstructions = 1_000_000) {}

  insert(vcpu: Vcpu): void {
    if (!this.queue.includes(vcpu)) this.queue.push(vcpu);
  }

  remove(vcpu: Vcpu): void {
    const index = this.queue.indexOf(vcpu);
    if (index < 0) return;
    this.queue.splice(index, 1);
    if (this.next > index) this.next--;
  }

  pick(_pcpu: number): Vcpu | undefined {
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
