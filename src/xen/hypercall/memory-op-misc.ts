/**
 * The memory_op sub-operations that have nothing to do for an HVM/PVH domain here, each with
 * the answer Xen 4.17 gives after the same checks: XENMEM_exchange (a translated guest's
 * pages cannot be stolen), claims, vNUMA, populate-on-demand targets, mem_access (no
 * vm_event ring), acquire_resource and the machine-to-phys table lists.
 */
import {
  XEN_EACCES,
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENODEV,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  XENMEM_set_pod_target,
  xen_machphys_mfn_list,
  xen_mem_access_op,
  xen_mem_acquire_resource,
  xen_memory_exchange,
  xen_memory_reservation,
  xen_pod_target,
  xen_vnuma_topology_info,
} from '../../abi/memory.js';
import { argPointer, handlePointer, offsetPointer, readStruct, writeBytes } from './guest-args.js';
import { maxOrder, propagateNode, readGuestU64 } from './memory-op-common.js';
import type { HypercallCall } from './table.js';
import { domainByAnyId, isHardwareDomain, xsmTarget } from './xsm.js';

const U64_MAX = 2n ** 64n - 1n;

/**
 * XENMEM_exchange (memory_exchange). Its checks run as in Xen; the first page it would
 * take from a translated domain fails (steal_page: -EOPNOTSUPP), and nr_exchanged is
 * written back, as on any failure.
 */
export function memoryExchange(call: HypercallCall): number {
  const arg = argPointer(call, 2);
  const exch = readStruct(call, xen_memory_exchange, arg);
  if (exch === undefined) return -XEN_EFAULT;
  const fail = (rc: number, exchanged: bigint): number => {
    const field = new Uint8Array(8);
    new DataView(field.buffer).setBigUint64(0, exchanged, true);
    const at = offsetPointer(arg, xen_memory_exchange.offsets.nr_exchanged);
    return writeBytes(call, at, field) ? rc : -XEN_EFAULT;
  };
  const { in: input, out } = exch;
  const caller = call.vcpu.domain;
  if (Math.max(input.extent_order, out.extent_order) > maxOrder(caller)) {
    return fail(-XEN_EPERM, exch.nr_exchanged);
  }
  const inOrder = BigInt(input.extent_order);
  const outOrder = BigInt(out.extent_order);
  if (
    exch.nr_exchanged > input.nr_extents ||
    input.domid !== out.domid ||
    U64_MAX >> inOrder < input.nr_extents ||
    U64_MAX >> outOrder < out.nr_extents ||
    input.nr_extents << inOrder !== out.nr_extents << outOrder
  ) {
    return fail(-XEN_EINVAL, exch.nr_exchanged);
  }
  if (exch.nr_exchanged === input.nr_extents) return 0;
  if (propagateNode(caller, out.mem_flags) === 'invalid') {
    return fail(-XEN_EINVAL, exch.nr_exchanged);
  }
  const d = domainByAnyId(call, input.domid);
  if (d === undefined) return fail(-XEN_ESRCH, exch.nr_exchanged);
  if (!xsmTarget(caller, d)) return fail(-XEN_EPERM, exch.nr_exchanged);
  const inChunkOrder = input.extent_order <= out.extent_order ? outOrder - inOrder : 0n;
  const first = (exch.nr_exchanged >> inChunkOrder) << inChunkOrder;
  if (first >> inChunkOrder >= input.nr_extents >> inChunkOrder) {
    // No whole chunk left to do: Xen's loop does nothing and reports all exchanged.
    return fail(0, input.nr_extents);
  }
  const gmfn = readGuestU64(call, handlePointer(input.extent_start), Number(first));
  if (gmfn === undefined) return fail(-XEN_EFAULT, first);
  if (d.mfnOf(gmfn) < 0) return fail(-XEN_EINVAL, first);
  return fail(-XEN_EOPNOTSUPP, first);
}

/** XENMEM_claim_pages: checked as in Xen; claims themselves are not kept. */
export function claimPages(call: HypercallCall): number {
  const r = readStruct(call, xen_memory_reservation, argPointer(call, 2));
  if (r === undefined) return -XEN_EFAULT;
  if (r.extent_start !== 0n || r.extent_order !== 0 || r.mem_flags !== 0) return -XEN_EINVAL;
  // rcu_lock_domain_by_id: DOMID_SELF names nobody here.
  if (!call.hv.domains.has(r.domid)) return -XEN_EINVAL;
  if (!call.vcpu.domain.privileged) return -XEN_EPERM;
  // A claim of 0 cancels one, which is always done; libxc treats -ENOSYS as "no claims".
  return r.nr_extents === 0n ? 0 : -XEN_ENOSYS;
}

/** XENMEM_get_vnumainfo: no domain has a virtual NUMA topology. */
export function getVnumaInfo(call: HypercallCall): number {
  const topology = readStruct(call, xen_vnuma_topology_info, argPointer(call, 2));
  if (topology === undefined) return -XEN_EFAULT;
  if (topology.pad !== 0) return -XEN_EINVAL;
  const d = domainByAnyId(call, topology.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (!xsmTarget(call.vcpu.domain, d)) return -XEN_EPERM;
  return -XEN_EOPNOTSUPP;
}

/**
 * XENMEM_set_pod_target / get_pod_target (control domain only). There is no
 * populate-on-demand: a target is accepted up to max_pages and no PoD cache is kept (Xen
 * would fill one only for a domain with no memory yet).
 */
export function podTarget(call: HypercallCall, op: number): number {
  const arg = argPointer(call, 2);
  const target = readStruct(call, xen_pod_target, arg);
  if (target === undefined) return -XEN_EFAULT;
  const d = domainByAnyId(call, target.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (!call.vcpu.domain.privileged) return -XEN_EPERM;
  if (op === XENMEM_set_pod_target && target.target_pages > BigInt(d.maxPages)) {
    return -XEN_EINVAL;
  }
  const out = xen_pod_target.encode({
    ...target,
    tot_pages: d.totPages,
    pod_cache_pages: 0,
    pod_entries: 0,
  });
  return writeBytes(call, arg, out) ? 0 : -XEN_EFAULT;
}

/** XENMEM_access_op (mem_access_memop): another domain's, by a privileged caller with a ring. */
export function memAccessOp(call: HypercallCall): number {
  const mao = readStruct(call, xen_mem_access_op, argPointer(call, 2));
  if (mao === undefined) return -XEN_EFAULT;
  // rcu_lock_live_remote_domain_by_id.
  const d = call.hv.domains.get(mao.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (d === call.vcpu.domain) return -XEN_EPERM;
  if (!call.vcpu.domain.privileged) return -XEN_EPERM;
  // No domain has a vm_event monitor ring.
  return -XEN_ENODEV;
}

/**
 * XENMEM_acquire_resource: on x86 a translated caller must be the hardware domain. Mapping
 * the frames is not supported yet (foreign references in the P2M need the domain's destroy
 * to drop them).
 */
export function acquireResource(call: HypercallCall): number {
  const caller = call.vcpu.domain;
  if (!isHardwareDomain(caller)) return -XEN_EACCES;
  const xmar = readStruct(call, xen_mem_acquire_resource, argPointer(call, 2));
  if (xmar === undefined) return -XEN_EFAULT;
  if (xmar.pad !== 0) return -XEN_EINVAL;
  if (xmar.frame >> 32n !== 0n || (xmar.frame + BigInt(xmar.nr_frames)) >> 32n !== 0n) {
    return -XEN_EINVAL;
  }
  const d = call.hv.domains.get(xmar.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (d === caller) return -XEN_EPERM;
  return -XEN_EOPNOTSUPP;
}

/**
 * XENMEM_machphys_mfn_list / machphys_compat_mfn_list: the frames of Xen's read-only M2P
 * table, which PV guests map. There is no such table to show.
 */
export function machphysMfnList(call: HypercallCall): number {
  const xmml = readStruct(call, xen_machphys_mfn_list, argPointer(call, 2));
  return xmml === undefined ? -XEN_EFAULT : -XEN_EOPNOTSUPP;
}
