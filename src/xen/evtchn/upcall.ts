/** Telling a vCPU that events are pending: shared by both ABIs. */

import { vcpu_info } from '../../abi/xen.js';
import { testAndSetBit } from './atomic.js';
import type { EvtchnDomain } from './types.js';

const UPCALL_PENDING = vcpu_info.offsets.evtchn_upcall_pending;

/**
 * Xen's vcpu_mark_events_pending: set evtchn_upcall_pending in the vCPU's vcpu_info and,
 * if it was clear, kick the vCPU. A vCPU without a vcpu_info (beyond the legacy 32 and not
 * registered) gets nothing, as Xen's dummy vcpu_info swallows it.
 */
export function markEventsPending(domain: EvtchnDomain, vcpu: number): void {
  const info = domain.vcpuInfo(vcpu);
  if (info === undefined) return;
  if (testAndSetBit(info.view, info.offset + UPCALL_PENDING, 0)) return;
  domain.kick(vcpu);
}
