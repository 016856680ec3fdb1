/**
 * XENMEM_add_to_physmap, XENMEM_add_to_physmap_batch and XENMEM_remove_from_physmap
 * (xen/common/memory.c, and xenmem_add_to_physmap_one in xen/arch/x86/mm/p2m.c): putting
 * shared_info, grant-table frames and the guest's own pages at guest frames of its choice.
 */
import {
  XEN_EACCES,
  XEN_EDOM,
  XEN_EFAULT,
  XEN_EILSEQ,
  XEN_EINVAL,
  XEN_ENOENT,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EOVERFLOW,
  XEN_EPERM,
  XEN_ESRCH,
  XEN_EXDEV,
} from '../../abi/errno.js';
import {
  XENMAPIDX_grant_table_status,
  XENMAPSPACE_dev_mmio,
  XENMAPSPACE_gmfn,
  XENMAPSPACE_gmfn_foreign,
  XENMAPSPACE_gmfn_range,
  XENMAPSPACE_grant_table,
  XENMAPSPACE_shared_info,
  XENMEM_add_to_physmap,
  XENMEM_add_to_physmap_batch,
  xen_add_to_physmap,
  xen_add_to_physmap_batch,
  xen_remove_from_physmap,
} from '../../abi/memory.js';
import { DOMID_XEN } from '../../abi/xen.js';
import { P2m } from '../../x86/memory.js';
import type { Domain, GuestPointer } from '../common/domain.js';
import { hypercallCreateContinuation, hypercallPreemptCheck } from './continuation.js';
import {
  argPointer,
  handlePointer,
  offsetPointer,
  readBytes,
  readStruct,
  writeBytes,
} from './guest-args.js';
import {
  gfnOf,
  isOwnRam,
  isSpecial,
  mapFrame,
  memopCmd,
  removeGuestPage,
  unhookSpecial,
} from './memory-op-common.js';
import type { HypercallCall } from './table.js';
import { domainByAnyId, isHardwareDomain, xsmTarget } from './xsm.js';

const U64_MAX = 2n ** 64n - 1n;
/** INVALID_GFN: ~0UL. */
const INVALID_GFN = U64_MAX;

export function addToPhysmap(call: HypercallCall, start: number): number {
  // The size field is 16 bits: so is the continuation's start.
  if (start > 0xffff) return -XEN_EDOM;
  const xatp = readStruct(call, xen_add_to_physmap, argPointer(call, 2));
  if (xatp === undefined) return -XEN_EFAULT;
  // Foreign mappings go through add_to_physmap_batch only.
  if (xatp.space === XENMAPSPACE_gmfn_foreign) return -XEN_ENOSYS;
  const d = domainByAnyId(call, xatp.domid);
  if (d === undefined) return -XEN_ESRCH;
  const denied = permissionCheck(call, d, xatp.space);
  if (denied !== 0) return denied;
  if (xatp.gpfn === INVALID_GFN) return -XEN_EINVAL;
  if (xatp.space !== XENMAPSPACE_gmfn_range) {
    return addToPhysmapOne(call, d, xatp.space, xatp.idx, xatp.gpfn);
  }
  if (xatp.size < start) return -XEN_EILSEQ;
  const size = BigInt(xatp.size);
  if (xatp.gpfn + size > U64_MAX || xatp.idx + size > U64_MAX) return -XEN_EOVERFLOW;
  // A range moves the guest's pages one by one, preempted between them.
  for (let done = start; done < xatp.size; ) {
    const offset = BigInt(done);
    const rc = addToPhysmapOne(call, d, XENMAPSPACE_gmfn, xatp.idx + offset, xatp.gpfn + offset);
    if (rc < 0) return rc;
    done++;
    if (done < xatp.size && hypercallPreemptCheck(call, done - start)) {
      return hypercallCreateContinuation(call, { 1: memopCmd(XENMEM_add_to_physmap, done) });
    }
  }
  return 0;
}

export function addToPhysmapBatch(call: HypercallCall, start: number): number {
  if (start > 0xffff) return -XEN_EDOM;
  const xatpb = readStruct(call, xen_add_to_physmap_batch, argPointer(call, 2));
  if (xatpb === undefined) return -XEN_EFAULT;
  if (xatpb.space === XENMAPSPACE_gmfn_range) return -XEN_EOPNOTSUPP;
  const d = domainByAnyId(call, xatpb.domid);
  if (d === undefined) return -XEN_ESRCH;
  const denied = permissionCheck(call, d, xatpb.space);
  if (denied !== 0) return denied;
  if (xatpb.size < start) return -XEN_EILSEQ;
  if (xatpb.size === start) return start > 0 ? -XEN_EILSEQ : 0;
  // res0 (the same bytes as foreign_domid) is reserved for dev_mmio.
  if (xatpb.space === XENMAPSPACE_dev_mmio && xatpb.u.res0 !== 0) return -XEN_EOPNOTSUPP;
  const idxs = handlePointer(xatpb.idxs);
  const gpfns = handlePointer(xatpb.gpfns);
  const errs = handlePointer(xatpb.errs);
  for (let extent = start; extent < xatpb.size; ) {
    const idx = readGuestXenUlong(call, idxs, extent);
    const gpfn = readGuestXenUlong(call, gpfns, extent);
    if (idx === undefined || gpfn === undefined) return -XEN_EFAULT;
    if (gpfn === INVALID_GFN) return -XEN_EINVAL;
    const rc =
      xatpb.space === XENMAPSPACE_gmfn_foreign
        ? addForeign(call, d, xatpb.u.foreign_domid, idx, gpfn)
        : addToPhysmapOne(call, d, xatpb.space, idx, gpfn);
    const out = new Uint8Array(4);
    new DataView(out.buffer).setInt32(0, rc, true);
    if (!writeBytes(call, offsetPointer(errs, extent * 4), out)) return -XEN_EFAULT;
    extent++;
    if (extent < xatpb.size && hypercallPreemptCheck(call, extent - start)) {
      return hypercallCreateContinuation(call, {
        1: memopCmd(XENMEM_add_to_physmap_batch, extent),
      });
    }
  }
  return 0;
}

export function removeFromPhysmap(call: HypercallCall, start: number): number {
  if (start !== 0) return -XEN_EINVAL;
  const xrfp = readStruct(call, xen_remove_from_physmap, argPointer(call, 2));
  if (xrfp === undefined) return -XEN_EFAULT;
  const d = domainByAnyId(call, xrfp.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (!xsmTarget(call.vcpu.domain, d)) return -XEN_EPERM;
  const gfn = gfnOf(xrfp.gpfn);
  const mfn = d.mfnOf(gfn);
  if (mfn < 0) return -XEN_ENOENT;
  if (removeForeign(call, d, gfn)) return 0;
  // get_page_from_gfn finds the domain's own pages only (a grant mapping is not one).
  if (isOwnRam(call, d, gfn, mfn)) {
    // guest_physmap_remove_page: the page stays allocated until the domain dies.
    d.displaceRam(gfn);
    return 0;
  }
  if (!isSpecial(call, mfn) || d.grantMapped.has(gfn)) return -XEN_ENOENT;
  unhookSpecial(call, d, gfn, mfn);
  return 0;
}

/** Element `index` of a guest array of xen_ulong_t / xen_pfn_t, exactly. */
function readGuestXenUlong(
  call: HypercallCall,
  base: GuestPointer,
  index: number,
): bigint | undefined {
  const bytes = readBytes(call, offsetPointer(base, index * 8), 8);
  return bytes === undefined ? undefined : new DataView(bytes.buffer).getBigUint64(0, true);
}

/** xatp_permission_check. */
function permissionCheck(call: HypercallCall, d: Domain, space: number): number {
  const caller = call.vcpu.domain;
  if (space === XENMAPSPACE_dev_mmio && (!isHardwareDomain(d) || d !== caller)) {
    return -XEN_EACCES;
  }
  return xsmTarget(caller, d) ? 0 : -XEN_EPERM;
}

/** xenmem_add_to_physmap_one for shared_info, grant-table frames and the guest's own pages. */
function addToPhysmapOne(
  call: HypercallCall,
  d: Domain,
  space: number,
  idx: bigint,
  gpfn: bigint,
): number {
  const frames = call.hv.frames;
  let mfn = -1;
  let gfn = -1;
  switch (space) {
    case XENMAPSPACE_shared_info:
      if (idx === 0n) mfn = d.sharedInfoMfn;
      break;
    case XENMAPSPACE_grant_table: {
      // Under v1 the status bit is just part of a (far too large) frame index: -EINVAL too.
      const status = (idx & BigInt(XENMAPIDX_grant_table_status)) !== 0n;
      const frame = status ? idx & ~BigInt(XENMAPIDX_grant_table_status) : idx;
      const rc = d.grants.frameForIndex(gfnOf(frame), status);
      if (rc < 0) return rc;
      mfn = rc;
      break;
    }
    case XENMAPSPACE_gmfn: {
      // get_page_from_mfn(mfn, d): the domain's own page, RAM or special.
      gfn = gfnOf(idx);
      const m = d.mfnOf(gfn);
      if (m >= 0 && (frames.owner[m] === d.id || isSpecial(call, m))) mfn = m;
      break;
    }
    default:
      break; // dev_mmio has no meaning on x86; other spaces are unknown
  }
  if (mfn < 0) return -XEN_EINVAL;
  const target = gfnOf(gpfn);
  // p2m_set_entry refuses a frame beyond the P2M; refuse before anything moves.
  if (target >= d.p2m.length) return -XEN_EINVAL;
  const oldGfn = frames.m2p[mfn]!;
  if (space === XENMAPSPACE_gmfn && oldGfn !== gfn) return -XEN_EXDEV;
  // What was at the target goes: a special page is unhooked, the guest's RAM freed.
  const prev = d.mfnOf(target);
  if (prev >= 0) {
    if (isSpecial(call, prev)) unhookSpecial(call, d, target, prev);
    else if (prev !== mfn) {
      const rc = removeGuestPage(call, d, target);
      if (rc !== 0) return rc;
    }
  }
  // Then the frame leaves its old place, if it had one.
  if (oldGfn >= 0 && oldGfn !== target && d.mfnOf(oldGfn) === mfn) d.setP2m(oldGfn, P2m.None);
  mapFrame(call, d, target, mfn);
  return 0;
}

/**
 * p2m_add_foreign: page `idx` of domain `foreignDomid` mapped at `gpfn` of `tdom` (Dom0's
 * privcmd mapping a guest's memory). The mapping holds a reference on the page, so it
 * outlives the foreign domain's destroy until it is removed or `tdom` dies. On x86 only
 * the hardware domain may map foreign pages into a translated P2M.
 */
function addForeign(
  call: HypercallCall,
  tdom: Domain,
  foreignDomid: number,
  idx: bigint,
  gpfn: bigint,
): number {
  if (!isHardwareDomain(tdom)) return -XEN_EPERM;
  if (foreignDomid === DOMID_XEN) return -XEN_EOPNOTSUPP; // Xen's own pages: not mapped here
  const fdom = call.hv.domains.get(foreignDomid);
  if (fdom === undefined) return -XEN_ESRCH;
  if (fdom === call.vcpu.domain) return -XEN_EPERM;
  if (fdom === tdom) return -XEN_EINVAL;
  if (!xsmTarget(tdom, fdom)) return -XEN_EPERM;
  // get_page_from_gfn(fdom, …): RAM or a special page of the foreign domain, not a grant
  // or foreign mapping of its own.
  const fgfn = gfnOf(idx);
  const mfn = fdom.mfnOf(fgfn);
  const frames = call.hv.frames;
  if (mfn < 0 || fdom.grantMapped.has(fgfn) || fdom.foreignMapped.has(fgfn)) return -XEN_EINVAL;
  const owner = frames.owner[mfn];
  if (owner !== fdom.id && !isSpecial(call, mfn)) return -XEN_EINVAL;
  const target = gfnOf(gpfn);
  if (target >= tdom.p2m.length) return -XEN_EINVAL;
  // What was at the target goes: a special page is unhooked, RAM freed, a foreign page put.
  if (tdom.mfnOf(target) >= 0) {
    const rc = removeForeign(call, tdom, target) ? 0 : removeGuestPage(call, tdom, target);
    if (rc !== 0) return rc;
  }
  frames.refs[mfn]!++;
  tdom.setP2m(target, mfn);
  tdom.foreignMapped.set(target, mfn);
  return 0;
}

/** Drops a foreign mapping at `gfn` of `d`, if there is one. */
function removeForeign(call: HypercallCall, d: Domain, gfn: number): boolean {
  const mfn = d.foreignMapped.get(gfn);
  if (mfn === undefined) return false;
  d.foreignMapped.delete(gfn);
  d.setP2m(gfn, P2m.None);
  call.hv.frames.put(mfn);
  return true;
}
