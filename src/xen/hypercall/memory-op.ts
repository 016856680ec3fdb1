/**
 * HYPERVISOR_memory_op(cmd, arg) for HVM/PVH domains (Xen's hvm_memory_op in front of
 * do_memory_op, arch_memory_op and subarch_memory_op). cmd's low 6 bits are the
 * sub-operation, the rest the extent a continuation resumes from. The sub-operations live
 * in memory-op-*.ts; the small queries are here.
 */
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM, XEN_ESRCH } from '../../abi/errno.js';
import {
  XENMEM_access_op,
  XENMEM_acquire_resource,
  XENMEM_add_to_physmap,
  XENMEM_add_to_physmap_batch,
  XENMEM_claim_pages,
  XENMEM_current_reservation,
  XENMEM_decrease_reservation,
  XENMEM_exchange,
  XENMEM_get_pod_target,
  XENMEM_get_sharing_freed_pages,
  XENMEM_get_sharing_shared_pages,
  XENMEM_get_vnumainfo,
  XENMEM_increase_reservation,
  XENMEM_machine_memory_map,
  XENMEM_machphys_compat_mfn_list,
  XENMEM_machphys_mapping,
  XENMEM_machphys_mfn_list,
  XENMEM_maximum_gpfn,
  XENMEM_maximum_ram_page,
  XENMEM_maximum_reservation,
  XENMEM_memory_map,
  XENMEM_populate_physmap,
  XENMEM_remove_from_physmap,
  XENMEM_reserved_device_memory_map,
  XENMEM_set_memory_map,
  XENMEM_set_pod_target,
  xen_memory_domain,
} from '../../abi/memory.js';
import { argPointer, readStruct } from './guest-args.js';
import { highestMappedGfn, MEMOP_CMD_MASK, MEMOP_EXTENT_SHIFT } from './memory-op-common.js';
import { memoryMap, reservedDeviceMemoryMap, setMemoryMap } from './memory-op-map.js';
import {
  acquireResource,
  claimPages,
  getVnumaInfo,
  machphysMfnList,
  memAccessOp,
  memoryExchange,
  podTarget,
} from './memory-op-misc.js';
import { addToPhysmap, addToPhysmapBatch, removeFromPhysmap } from './memory-op-physmap.js';
import { reservationOp } from './memory-op-reservation.js';
import type { HypercallCall } from './table.js';
import { domainByAnyId, xsmTarget } from './xsm.js';

export function memoryOp(call: HypercallCall): number {
  // A 32-bit guest goes through Xen's compat_memory_op (32-bit handles and xen_ulong_t),
  // which is not translated here.
  if (call.vcpu.cpu.codeSize !== 64) return -XEN_ENOSYS;
  const cmdLo = call.argLo[1]!;
  const op = cmdLo & MEMOP_CMD_MASK;
  // Exact below 2^53; beyond, only "too large" matters.
  const start =
    (call.argHi[1]! >>> 0) * 2 ** (32 - MEMOP_EXTENT_SHIFT) + (cmdLo >>> MEMOP_EXTENT_SHIFT);
  switch (op) {
    // hvm_memory_op: not for HVM guests, whatever the rest of cmd.
    case XENMEM_machine_memory_map:
    case XENMEM_machphys_mapping:
      return -XEN_ENOSYS;
    case XENMEM_increase_reservation:
    case XENMEM_decrease_reservation:
    case XENMEM_populate_physmap:
      return reservationOp(call, op, start);
    case XENMEM_exchange:
      return start !== 0 ? -XEN_EINVAL : memoryExchange(call);
    case XENMEM_maximum_ram_page:
      // max_page: one past the highest machine frame.
      return start !== 0 ? -XEN_EINVAL : call.hv.memory.frames;
    case XENMEM_current_reservation:
    case XENMEM_maximum_reservation:
    case XENMEM_maximum_gpfn:
      return start !== 0 ? -XEN_EINVAL : reservationQuery(call, op);
    case XENMEM_add_to_physmap:
      return addToPhysmap(call, start);
    case XENMEM_add_to_physmap_batch:
      return addToPhysmapBatch(call, start);
    case XENMEM_remove_from_physmap:
      return removeFromPhysmap(call, start);
    case XENMEM_access_op:
      return memAccessOp(call);
    case XENMEM_claim_pages:
      return start !== 0 ? -XEN_EINVAL : claimPages(call);
    case XENMEM_get_vnumainfo:
      return start !== 0 ? -XEN_EINVAL : getVnumaInfo(call);
    case XENMEM_reserved_device_memory_map:
      return start !== 0 ? -XEN_EINVAL : reservedDeviceMemoryMap(call);
    case XENMEM_acquire_resource:
      return acquireResource(call);
    default:
      // arch_memory_op and subarch_memory_op match the whole of cmd.
      return start !== 0 ? -XEN_ENOSYS : archMemoryOp(call, op);
  }
}

function archMemoryOp(call: HypercallCall, op: number): number {
  switch (op) {
    case XENMEM_set_memory_map:
      return setMemoryMap(call);
    case XENMEM_memory_map:
      return memoryMap(call);
    case XENMEM_set_pod_target:
    case XENMEM_get_pod_target:
      return podTarget(call, op);
    case XENMEM_machphys_mfn_list:
    case XENMEM_machphys_compat_mfn_list:
      return machphysMfnList(call);
    // No page sharing: nothing saved, nothing shared.
    case XENMEM_get_sharing_freed_pages:
    case XENMEM_get_sharing_shared_pages:
      return 0;
    default:
      // Including paging_op and sharing_op: Xen 4.17 builds them only with
      // CONFIG_MEM_PAGING / CONFIG_MEM_SHARING, which default to off.
      return -XEN_ENOSYS;
  }
}

/** XENMEM_current_reservation, maximum_reservation and maximum_gpfn of a domain. */
function reservationQuery(call: HypercallCall, op: number): number {
  const arg = readStruct(call, xen_memory_domain, argPointer(call, 2));
  if (arg === undefined) return -XEN_EFAULT;
  const d = domainByAnyId(call, arg.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (!xsmTarget(call.vcpu.domain, d)) return -XEN_EPERM;
  if (op === XENMEM_current_reservation) return d.totPages;
  // max_pages is an unsigned int in Xen.
  if (op === XENMEM_maximum_reservation) return Math.min(d.maxPages, 0xffffffff);
  return highestMappedGfn(d.p2m);
}
