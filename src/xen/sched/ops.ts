/** The scheduler interface: every scheduler (round robin now; credit, credit2, RTDS, ARINC 653 later) implements it. */
import type { Vcpu } from '../common/domain.js';

export interface SchedulerOps {
  readonly name: string;
  /** Instructions a vCPU runs before the scheduler is asked again. */
  readonly sliceInstructions: number;
  insert(vcpu: Vcpu): void;
  remove(vcpu: Vcpu): void;
  /** The next vCPU to run on physical CPU `pcpu`, or undefined when none is runnable. */
  pick(pcpu: number): Vcpu | undefined;
  /**
   * An event arrived for a vCPU that is not running (Xen's vcpu_kick): it runs next, as a
   * woken vCPU preempts under Xen's credit scheduler, so its interrupt is taken promptly.
   */
  wake(vcpu: Vcpu): void;
  /** The vCPU gives up the rest of its slice. */
  yield(vcpu: Vcpu): void;
  /**
   * Whether another vCPU waits to run soon: one woken with an event, or one that yielded
   * spinning on what `picked` may hold. `picked`'s slice is then kept short, as Xen's
   * credit scheduler lets a woken vCPU preempt the running one after its rate limit.
   */
  othersWaiting(picked: Vcpu): boolean;
}
