/**
 * Preempting a hypercall and continuing it later (Xen's hypercall_create_continuation and
 * hypercall_preempt_check). How the dispatcher resumes one is described in table.ts.
 */
import { XEN_ERESTART } from '../../abi/errno.js';
import { Flag } from '../../x86/flags.js';
import type { GuestPointer } from '../common/domain.js';
import type { HypercallCall } from './table.js';

/** New values for some of arguments 1-5: a number (below 2^53) or a guest pointer. */
export type ContinuationArgs = { readonly [n in 1 | 2 | 3 | 4 | 5]?: number | GuestPointer };

/**
 * Units of work (multicall entries, pages, grant operations) a hypercall does in one go before
 * it preempts itself. Xen preempts when its timer softirq is pending; here the budget is
 * counted, so a run stays deterministic and one guest cannot hold the host for long.
 */
export const HYPERCALL_PREEMPT_WORK = 128;

/**
 * Records the arguments the hypercall continues with and returns the value the handler
 * returns: `return hypercallCreateContinuation(call, { 2: remaining })`.
 */
export function hypercallCreateContinuation(
  call: HypercallCall,
  args: ContinuationArgs = {},
): number {
  for (let n = 1; n <= 5; n++) {
    const value = args[n as 1 | 2 | 3 | 4 | 5];
    if (value === undefined) continue;
    if (typeof value === 'number') {
      call.argLo[n] = value | 0;
      call.argHi[n] = Math.floor(value / 0x100000000) | 0;
    } else {
      call.argLo[n] = value.lo;
      call.argHi[n] = value.hi;
    }
  }
  return -XEN_ERESTART;
}

/**
 * Whether a hypercall that has done `work` units should stop here and continue later: its
 * budget is spent, its vCPU may no longer run (it blocked, its domain was shut down or
 * paused), or an interrupt is waiting that the guest can take now (Xen's softirq_pending ||
 * local_events_need_delivery).
 */
export function hypercallPreemptCheck(call: HypercallCall, work = 0): boolean {
  if (work >= HYPERCALL_PREEMPT_WORK) return true;
  const { vcpu, hv } = call;
  if (!vcpu.runnable || vcpu.cpu.stopRequested) return true;
  return (vcpu.cpu.flags & Flag.IF) !== 0 && hv.eventPending(vcpu);
}
