/**
 * HYPERVISOR_grant_table_op(cmd, uop, count) (Xen's do_grant_table_op, and the
 * hvm_grant_table_op filter in front of it for HVM/PVH guests). This file holds the entry
 * points and the whole-table commands; the per-entry array commands are in
 * grant-table-op-arrays.ts. The GrantTable of the calling domain does the work; here
 * each struct is read with its layout and only the fields Xen writes are written back.
 *
 * Long arrays are preempted as in Xen: the hypercall continues with uop advanced past the
 * elements done and count reduced (cache_flush would also carry a grant cursor in cmd's
 * bits 12 and up). A count that is negative as an int is -EINVAL, Xen's only bound.
 */
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS } from '../../abi/errno.js';
import {
  GNTST_bad_virt_addr,
  GNTST_okay,
  GNTTABOP_cache_flush,
  GNTTABOP_copy,
  GNTTABOP_get_status_frames,
  GNTTABOP_get_version,
  GNTTABOP_map_grant_ref,
  GNTTABOP_query_size,
  GNTTABOP_set_version,
  GNTTABOP_setup_table,
  GNTTABOP_swap_grant_ref,
  GNTTABOP_transfer,
  GNTTABOP_unmap_and_replace,
  GNTTABOP_unmap_grant_ref,
  gnttab_get_status_frames,
  gnttab_get_version,
  gnttab_query_size,
  gnttab_set_version,
  gnttab_setup_table,
} from '../../abi/grant_table.js';
import { DOMID_SELF } from '../../abi/xen.js';
import type { Domain, GuestPointer } from '../common/domain.js';
import {
  cacheFlushOps,
  copyOps,
  mapOps,
  swapOps,
  transferOps,
  unmapAndReplaceOps,
  unmapOps,
  writeField,
} from './grant-table-op-arrays.js';
import { argPointer, handlePointer, offsetPointer, readStruct } from './guest-args.js';
import type { HypercallCall } from './table.js';

/** cmd's low 12 bits are the command; the rest is a continuation argument (Xen's ABI). */
export const GNTTABOP_CONTINUATION_ARG_SHIFT = 12;
export const GNTTABOP_CMD_MASK = (1 << GNTTABOP_CONTINUATION_ARG_SHIFT) - 1;

/** The commands Xen 4.17 lets an HVM/PVH guest make; the others "need auditing" (-ENOSYS). */
const HVM_COMMANDS: ReadonlySet<number> = new Set([
  GNTTABOP_query_size,
  GNTTABOP_setup_table,
  GNTTABOP_set_version,
  GNTTABOP_get_version,
  GNTTABOP_copy,
  GNTTABOP_map_grant_ref,
  GNTTABOP_unmap_grant_ref,
  GNTTABOP_swap_grant_ref,
]);

/** The hypercall table's handler: HVM/PVH domains (Xen's hvm_grant_table_op). */
export function grantTableOp(call: HypercallCall): number {
  // Xen switches on the whole cmd, so continuation bits make any command unknown here.
  if (!HVM_COMMANDS.has(call.argLo[1]! >>> 0)) return -XEN_ENOSYS;
  return doGrantTableOp(call);
}

/** Xen's do_grant_table_op: every command, as a PV guest would reach them. */
export function doGrantTableOp(call: HypercallCall): number {
  const raw = call.argLo[1]! >>> 0;
  const uop = argPointer(call, 2);
  const count = call.argLo[3]!; // unsigned int, rejected when negative as an int
  if (count < 0) return -XEN_EINVAL;
  const cmd = raw & GNTTABOP_CMD_MASK;
  const opaque = raw >>> GNTTABOP_CONTINUATION_ARG_SHIFT;
  if (cmd !== GNTTABOP_cache_flush && opaque !== 0) return -XEN_EINVAL;
  switch (cmd) {
    case GNTTABOP_map_grant_ref:
      return mapOps(call, uop, count);
    case GNTTABOP_unmap_grant_ref:
      return unmapOps(call, uop, count);
    case GNTTABOP_unmap_and_replace:
      return unmapAndReplaceOps(call, uop, count);
    case GNTTABOP_setup_table:
      return setupTable(call, uop, count);
    case GNTTABOP_transfer:
      return transferOps(call, uop, count);
    case GNTTABOP_copy:
      return copyOps(call, uop, count);
    case GNTTABOP_query_size:
      return querySize(call, uop, count);
    case GNTTABOP_set_version:
      return setVersion(call, uop);
    case GNTTABOP_get_status_frames:
      return getStatusFrames(call, uop, count);
    case GNTTABOP_get_version:
      return getVersion(call, uop);
    case GNTTABOP_swap_grant_ref:
      return swapOps(call, uop, count);
    case GNTTABOP_cache_flush:
      return cacheFlushOps(call, uop, count, cmd, opaque);
    default:
      // GNTTABOP_dump_table (3) is not in Xen 4.17's switch either.
      return -XEN_ENOSYS;
  }
}

/** The domain `dom` names (rcu_lock_domain_by_any_id), dying ones included. */
function domainByAnyId(call: HypercallCall, dom: number): Domain | undefined {
  const id = dom & 0xffff;
  return id === DOMID_SELF ? call.vcpu.domain : call.hv.domainById(id);
}

/**
 * Xen's mfn_to_gfn for a translated domain: where `d` has the table frame `mfn` in its
 * P2M (the M2P entry), or -1 (INVALID_GFN) when it is not mapped there.
 */
function frameGfn(call: HypercallCall, d: Domain | undefined, mfn: number): number {
  const gfn = call.hv.frames.m2p[mfn] ?? -1;
  return d !== undefined && gfn >= 0 && d.mfnOf(gfn) === mfn ? gfn : -1;
}

/** Writes xen_pfn_t / uint64_t list entries: the table frames' GFNs (all ones: INVALID_GFN). */
function writeFrameList(
  call: HypercallCall,
  list: GuestPointer,
  d: Domain | undefined,
  frames: readonly number[],
): number {
  let status: number = GNTST_okay;
  frames.forEach((mfn, i) => {
    if (!writeField(call, offsetPointer(list, i * 8), 0, 8, frameGfn(call, d, mfn))) {
      status = GNTST_bad_virt_addr;
    }
  });
  return status;
}

function setupTable(call: HypercallCall, uop: GuestPointer, count: number): number {
  if (count !== 1) return -XEN_EINVAL;
  const op = readStruct(call, gnttab_setup_table, uop);
  if (op === undefined) return -XEN_EFAULT;
  const result = call.vcpu.domain.grants.setupTable(op.dom, op.nr_frames);
  let status = result.status;
  if (status === GNTST_okay) {
    const d = domainByAnyId(call, op.dom);
    status = writeFrameList(call, handlePointer(op.frame_list), d, result.frames);
  }
  return writeField(call, uop, gnttab_setup_table.offsets.status, 2, status) ? 0 : -XEN_EFAULT;
}

function querySize(call: HypercallCall, uop: GuestPointer, count: number): number {
  if (count !== 1) return -XEN_EINVAL;
  const op = readStruct(call, gnttab_query_size, uop);
  if (op === undefined) return -XEN_EFAULT;
  const result = call.vcpu.domain.grants.querySize(op.dom);
  const { offsets } = gnttab_query_size;
  // Xen copies the whole struct back; on failure only status differs from what was read.
  const ok =
    (result.status !== GNTST_okay ||
      (writeField(call, uop, offsets.nr_frames, 4, result.nrFrames) &&
        writeField(call, uop, offsets.max_nr_frames, 4, result.maxNrFrames))) &&
    writeField(call, uop, offsets.status, 2, result.status);
  return ok ? 0 : -XEN_EFAULT;
}

function setVersion(call: HypercallCall, uop: GuestPointer): number {
  const op = readStruct(call, gnttab_set_version, uop);
  if (op === undefined) return -XEN_EFAULT;
  const result = call.vcpu.domain.grants.setVersion(op.version);
  // The version in force is reported whatever happened.
  if (!writeField(call, uop, gnttab_set_version.offsets.version, 4, result.version)) {
    return -XEN_EFAULT;
  }
  return result.rc;
}

function getVersion(call: HypercallCall, uop: GuestPointer): number {
  const op = readStruct(call, gnttab_get_version, uop);
  if (op === undefined) return -XEN_EFAULT;
  const result = call.vcpu.domain.grants.getVersion(op.dom);
  if (result.rc !== 0) return result.rc;
  const at = gnttab_get_version.offsets.version;
  return writeField(call, uop, at, 4, result.version) ? 0 : -XEN_EFAULT;
}

function getStatusFrames(call: HypercallCall, uop: GuestPointer, count: number): number {
  if (count !== 1) return -XEN_EINVAL;
  const op = readStruct(call, gnttab_get_status_frames, uop);
  if (op === undefined) return -XEN_EFAULT;
  const result = call.vcpu.domain.grants.getStatusFrames(op.dom, op.nr_frames);
  let status = result.status;
  if (status === GNTST_okay) {
    const d = domainByAnyId(call, op.dom);
    status = writeFrameList(call, handlePointer(op.frame_list), d, result.frames);
  }
  const at = gnttab_get_status_frames.offsets.status;
  return writeField(call, uop, at, 2, status) ? 0 : -XEN_EFAULT;
}
