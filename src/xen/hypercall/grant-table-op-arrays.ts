/**
 * The array commands of HYPERVISOR_grant_table_op: map, unmap, unmap_and_replace,
 * transfer, copy, swap_grant_ref and cache_flush, each over `count` structs at uop (Xen's
 * gnttab_* loops). Every element is read, handed to the calling domain's GrantTable, and
 * only the fields Xen writes back are written; a fault reading or writing an element
 * stops the loop with -EFAULT, the elements before it done. Between elements (between
 * batches of 32 for the unmaps) a long array is preempted: the hypercall continues with
 * uop and count moved past what is done.
 */
import { XEN_EFAULT, XEN_EILSEQ, XEN_EOPNOTSUPP } from '../../abi/errno.js';
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST_okay,
  GNTTAB_CACHE_CLEAN,
  gnttab_cache_flush,
  gnttab_copy,
  gnttab_map_grant_ref,
  gnttab_swap_grant_ref,
  gnttab_transfer,
  gnttab_unmap_and_replace,
  gnttab_unmap_grant_ref,
} from '../../abi/grant_table.js';
import type { Fields, Layout, ValueOf } from '../../abi/layout.js';
import type { GuestPointer } from '../common/domain.js';
import { hypercallCreateContinuation, hypercallPreemptCheck } from './continuation.js';
import { offsetPointer, readStruct, writeBytes } from './guest-args.js';
import type { HypercallCall } from './table.js';

/**
 * Xen's __copy_field_to_guest: writes one scalar at `offset` in the struct at `base`
 * (size 2: int16, 4: uint32, 8: uint64 from a safe integer, -1 writing all ones).
 */
export function writeField(
  call: HypercallCall,
  base: GuestPointer,
  offset: number,
  size: 2 | 4 | 8,
  value: number,
): boolean {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  if (size === 2) view.setInt16(0, value, true);
  else if (size === 4) view.setUint32(0, value >>> 0, true);
  else if (value < 0) bytes.fill(0xff);
  else {
    view.setUint32(0, value % 0x100000000, true);
    view.setUint32(4, Math.floor(value / 0x100000000), true);
  }
  return writeBytes(call, offsetPointer(base, offset), bytes);
}

/**
 * A guest's 64-bit address or frame as a number. Above 2^53 it becomes the largest safe
 * integer: still non-zero, never page aligned and beyond every P2M, so it names nothing.
 */
function num(value: bigint): number {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : Number.MAX_SAFE_INTEGER;
}

/** Xen's GNTTAB_UNMAP_BATCH_SIZE: unmaps are preempted only between batches. */
const UNMAP_BATCH = 32;

/** The hypercall goes on later with the `done` elements of `size` bytes behind it. */
function preempt(
  call: HypercallCall,
  uop: GuestPointer,
  size: number,
  done: number,
  count: number,
  cmd?: number,
): number {
  const args = { 2: offsetPointer(uop, done * size), 3: count - done };
  return hypercallCreateContinuation(call, cmd === undefined ? args : { ...args, 1: cmd });
}

/**
 * Runs `each` on the `count` structs at uop (false from it means a write-back fault),
 * checking for preemption before every `batch`-th element but the first.
 */
function forEach<F extends Fields>(
  call: HypercallCall,
  uop: GuestPointer,
  count: number,
  layout: Layout<F>,
  each: (op: ValueOf<F>, at: GuestPointer) => boolean,
  batch = 1,
): number {
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % batch === 0 && hypercallPreemptCheck(call, i)) {
      return preempt(call, uop, layout.size, i, count);
    }
    const at = offsetPointer(uop, i * layout.size);
    const op = readStruct(call, layout, at);
    if (op === undefined || !each(op, at)) return -XEN_EFAULT;
  }
  return 0;
}

export function mapOps(call: HypercallCall, uop: GuestPointer, count: number): number {
  const table = call.vcpu.domain.grants;
  const { offsets } = gnttab_map_grant_ref;
  return forEach(call, uop, count, gnttab_map_grant_ref, (op, at) => {
    const r = table.mapGrantRef({
      hostAddr: num(op.host_addr),
      flags: op.flags,
      ref: op.ref,
      dom: op.dom,
    });
    // A failed map leaves handle and dev_bus_addr as the guest wrote them.
    if (
      r.status === GNTST_okay &&
      !(
        writeField(call, at, offsets.handle, 4, r.handle) &&
        writeField(call, at, offsets.dev_bus_addr, 8, r.devBusAddr)
      )
    ) {
      return false;
    }
    return writeField(call, at, offsets.status, 2, r.status);
  });
}

export function unmapOps(call: HypercallCall, uop: GuestPointer, count: number): number {
  const table = call.vcpu.domain.grants;
  const at = gnttab_unmap_grant_ref.offsets.status;
  return forEach(
    call,
    uop,
    count,
    gnttab_unmap_grant_ref,
    (op, p) => {
      const r = table.unmapGrantRef({
        handle: op.handle,
        hostAddr: num(op.host_addr),
        devBusAddr: num(op.dev_bus_addr),
      });
      return writeField(call, p, at, 2, r.status);
    },
    UNMAP_BATCH,
  );
}

export function unmapAndReplaceOps(call: HypercallCall, uop: GuestPointer, count: number): number {
  const table = call.vcpu.domain.grants;
  const at = gnttab_unmap_and_replace.offsets.status;
  return forEach(
    call,
    uop,
    count,
    gnttab_unmap_and_replace,
    (op, p) => {
      const r = table.unmapGrantRef({
        handle: op.handle,
        hostAddr: num(op.host_addr),
        devBusAddr: 0,
        newAddr: num(op.new_addr),
      });
      return writeField(call, p, at, 2, r.status);
    },
    UNMAP_BATCH,
  );
}

export function transferOps(call: HypercallCall, uop: GuestPointer, count: number): number {
  const table = call.vcpu.domain.grants;
  const at = gnttab_transfer.offsets.status;
  return forEach(call, uop, count, gnttab_transfer, (op, p) => {
    const status = table.transfer({ mfn: num(op.mfn), domid: op.domid, ref: op.ref });
    return writeField(call, p, at, 2, status);
  });
}

export function copyOps(call: HypercallCall, uop: GuestPointer, count: number): number {
  const table = call.vcpu.domain.grants;
  const at = gnttab_copy.offsets.status;
  return forEach(call, uop, count, gnttab_copy, (op, p) => {
    // The union holds a grant reference with GNTCOPY_*_gref, else the caller's own GFN.
    const srcGref = (op.flags & GNTCOPY_source_gref) !== 0;
    const dstGref = (op.flags & GNTCOPY_dest_gref) !== 0;
    const status = table.copy({
      source: {
        u: srcGref ? op.source.u.ref : num(op.source.u.gmfn),
        domid: op.source.domid,
        offset: op.source.offset,
      },
      dest: {
        u: dstGref ? op.dest.u.ref : num(op.dest.u.gmfn),
        domid: op.dest.domid,
        offset: op.dest.offset,
      },
      len: op.len,
      flags: op.flags,
    });
    return writeField(call, p, at, 2, status);
  });
}

export function swapOps(call: HypercallCall, uop: GuestPointer, count: number): number {
  const table = call.vcpu.domain.grants;
  const at = gnttab_swap_grant_ref.offsets.status;
  return forEach(call, uop, count, gnttab_swap_grant_ref, (op, p) => {
    return writeField(call, p, at, 2, table.swapGrantRef(op.ref_a, op.ref_b));
  });
}

/**
 * GNTTABOP_cache_flush with x86 Xen's answers: a clean (with or without invalidate)
 * succeeds, as x86 flushes by cache line; an invalidate alone is -EOPNOTSUPP. `cursor` is
 * the continuation's grant cursor (cmd >> 12): Xen's search for a mapping of the frame
 * resumes there; here the search is never cut short, so only its -EILSEQ check remains.
 */
export function cacheFlushOps(
  call: HypercallCall,
  uop: GuestPointer,
  count: number,
  cmd: number,
  cursor: number,
): number {
  const table = call.vcpu.domain.grants;
  const size = gnttab_cache_flush.size;
  let cur = cursor;
  for (let i = 0; i < count; i++) {
    // The cursor is back to 0 after each element, so the command continues without it.
    if (i > 0 && hypercallPreemptCheck(call, i)) return preempt(call, uop, size, i, count, cmd);
    const op = readStruct(call, gnttab_cache_flush, offsetPointer(uop, i * size));
    if (op === undefined) return -XEN_EFAULT;
    const rc = table.cacheFlush({
      a: num(op.a.dev_bus_addr),
      offset: op.offset,
      length: op.length,
      op: op.op,
    });
    if (rc < 0) return rc;
    if (op.length === 0 || op.op === 0) {
      if (cur !== 0) return -XEN_EILSEQ;
    } else if ((op.op & GNTTAB_CACHE_CLEAN) === 0) {
      return -XEN_EOPNOTSUPP;
    }
    cur = 0;
  }
  return 0;
}
