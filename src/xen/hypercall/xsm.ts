/**
 * Finding the domain a hypercall names, and the checks of Xen's dummy XSM policy that the
 * hypercall families share.
 */
import { DOMID_SELF } from '../../abi/xen.js';
import type { Domain } from '../common/domain.js';
import type { HypercallCall } from './table.js';

/** rcu_lock_domain_by_any_id: DOMID_SELF is the caller. */
export function domainByAnyId(call: HypercallCall, domid: number): Domain | undefined {
  return domid === DOMID_SELF ? call.vcpu.domain : call.hv.domains.get(domid);
}

/** XSM_TARGET: the domain itself, or a control domain. */
export function xsmTarget(caller: Domain, target: Domain): boolean {
  return caller === target || caller.privileged;
}

/** is_hardware_domain: the privileged domain 0 owns the (here absent) hardware. */
export function isHardwareDomain(d: Domain): boolean {
  return d.id === 0 && d.privileged;
}
