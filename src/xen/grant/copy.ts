/**
 * GNTTABOP_copy (Xen's gnttab_copy_one with acquire_grant_for_copy and
 * release_grant_for_copy): copies bytes between two frames, each named by a grant
 * reference of another domain or by a guest frame of the caller, validating both sides.
 *
 * A grant side is pinned (host read/write counter) and its frame referenced for the
 * duration of the copy, then released; the copy itself is a byte move in machine memory.
 * v2 sub-page grants bound the offsets; v2 transitive grants are followed one level, as
 * Xen does.
 */

import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GTF_sub_page,
  GTF_transitive,
  GTF_type_mask,
} from '../../abi/grant_table.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { Pin } from './active.js';
import type { GrantCore } from './core.js';
import {
  flagsOf,
  PAGE_SIZE,
  readFrameV1,
  readFrameV2,
  readHeader,
  readSubPage,
  readTransitive,
  setStatusV2,
} from './entries.js';
import type { CopyOp, CopyPtr } from './types.js';

/** A frame acquired for a copy: where it is, the bytes the grant allows, who owns it. */
interface Claim {
  mfn: number;
  start: number;
  length: number;
  /** The domain whose frame reference is held. */
  owner: GrantCore;
  /** The grant pinned for the copy, if the side is a grant reference. */
  grant: { rd: GrantCore; ref: number } | undefined;
}

type Acquired = Omit<Claim, 'grant'>;

/**
 * Pins grant `gref` of `rd` for a copy by domain `ldom`, taking a reference on its frame.
 * Returns the frame and bounds, or a negative GNTST_* code with nothing held.
 */
function acquireForCopy(
  rd: GrantCore,
  gref: number,
  ldom: number,
  readonly: boolean,
  allowTransitive: boolean,
): Acquired | number {
  if (gref >= rd.nrEntries) return GNTST_bad_gntref;
  if (rd.dying) return GNTST_bad_domain;
  const kind = readonly ? Pin.HostRead : Pin.HostWrite;
  const act = rd.activeEntry(gref);
  if (act.pinned && (act.domid !== ldom || act.wouldOverflow([kind]))) return GNTST_general_error;

  const e = rd.address(gref);
  const mem = rd.mem;
  const oldPinned = act.pinned;
  const needStatus = !oldPinned || (!readonly && !act.writablePins);
  const clearOut = (rc: number): number => {
    rd.reduceStatus(gref, act, readonly);
    return rc;
  };

  if (rd.version === 2 && (flagsOf(readHeader(mem, e)) & GTF_type_mask) === GTF_transitive) {
    if (needStatus) {
      const rc = setStatusV2(mem, e, { pinned: oldPinned, readonly, mapping: false, domid: ldom });
      if (rc !== GNTST_okay) return rc;
    }
    if (!allowTransitive) return clearOut(GNTST_general_error);
    const [transDomid, transGref] = readTransitive(mem, e);
    if (transDomid === rd.domid) return clearOut(GNTST_general_error);
    const td = rd.byId(transDomid);
    if (td === undefined) return clearOut(GNTST_general_error);

    const inner = acquireForCopy(td, transGref, rd.domid, readonly, false);
    if (typeof inner === 'number') return clearOut(inner);
    if (
      oldPinned &&
      (act.mfn !== inner.mfn ||
        act.start !== inner.start ||
        act.length !== inner.length ||
        act.srcDomid !== td.domid ||
        act.transGref !== transGref ||
        !act.isSubPage)
    ) {
      // The granter changed the entry under a live pin. Xen restarts the hypercall; with
      // nothing else running here a restart would see the same mismatch, so fail.
      releaseForCopy(td, transGref, readonly);
      inner.owner.domain.putFrame(inner.mfn, !readonly);
      return clearOut(GNTST_general_error);
    }
    if (!oldPinned) {
      act.domid = ldom;
      act.start = inner.start;
      act.length = inner.length;
      act.srcDomid = td.domid;
      act.transGref = transGref;
      act.mfn = inner.mfn;
      // Always treated as sub-page, which keeps transitive grants from being mapped.
      act.isSubPage = true;
    }
    rd.pin(act, kind);
    return { mfn: act.mfn, start: act.start, length: act.length, owner: inner.owner };
  }

  if (needStatus) {
    const rc = rd.setStatus(e, { pinned: oldPinned, readonly, mapping: false, domid: ldom });
    if (rc !== GNTST_okay) return rc;
    let gfn: number;
    let isSubPage = false;
    let start = 0;
    let length = PAGE_SIZE;
    if (rd.version === 1) {
      gfn = readFrameV1(mem, e);
    } else {
      gfn = readFrameV2(mem, e);
      if (flagsOf(readHeader(mem, e)) & GTF_sub_page) {
        isSubPage = true;
        [start, length] = readSubPage(mem, e);
      }
    }
    const mfn = rd.getPagedFrame(gfn, readonly);
    if (mfn < 0) return clearOut(mfn);
    if (!act.pinned) {
      act.domid = ldom;
      act.isSubPage = isSubPage;
      act.start = start;
      act.length = length;
      act.srcDomid = rd.domid;
      act.transGref = gref;
      act.mfn = mfn;
    } else if (
      mfn !== act.mfn ||
      act.srcDomid !== rd.domid ||
      act.transGref !== gref ||
      (act.isSubPage && (!isSubPage || act.start !== start || act.length !== length))
    ) {
      rd.domain.putFrame(mfn, !readonly);
      return clearOut(GNTST_general_error);
    }
  } else if (!rd.domain.getFrame(act.mfn, !readonly)) {
    // Pinned already for this access: the frame must still be the granter's.
    return clearOut(GNTST_bad_domain);
  }
  rd.pin(act, kind);
  return { mfn: act.mfn, start: act.start, length: act.length, owner: rd };
}

/** Undoes acquireForCopy's pin (not its frame reference). */
function releaseForCopy(rd: GrantCore, gref: number, readonly: boolean): void {
  const act = rd.activeEntry(gref);
  const td = act.srcDomid !== rd.domid ? rd.byId(act.srcDomid) : undefined;
  const transGref = act.transGref;
  rd.unpin(act, readonly ? Pin.HostRead : Pin.HostWrite);
  rd.reduceStatus(gref, act, readonly);
  if (td !== undefined) releaseForCopy(td, transGref, readonly);
}

function claim(
  ld: GrantCore,
  d: GrantCore,
  ptr: CopyPtr,
  isGref: boolean,
  readonly: boolean,
): Claim | number {
  if (isGref) {
    const ref = ptr.u >>> 0;
    const a = acquireForCopy(d, ref, ld.domid, readonly, true);
    if (typeof a === 'number') return a;
    return { ...a, grant: { rd: d, ref } };
  }
  const mfn = d.getPagedFrame(ptr.u, readonly);
  if (mfn < 0) return mfn;
  return { mfn, start: 0, length: PAGE_SIZE, owner: d, grant: undefined };
}

function release(c: Claim, readonly: boolean): void {
  if (c.grant !== undefined) releaseForCopy(c.grant.rd, c.grant.ref, readonly);
  c.owner.domain.putFrame(c.mfn, !readonly);
}

export function grantCopy(ld: GrantCore, op: CopyOp): number {
  const len = op.len & 0xffff;
  if (len === 0) return GNTST_okay;
  const flags = op.flags & 0xffff;
  const srcGref = (flags & GNTCOPY_source_gref) !== 0;
  const dstGref = (flags & GNTCOPY_dest_gref) !== 0;
  const srcDom = op.source.domid & 0xffff;
  const dstDom = op.dest.domid & 0xffff;

  // Only DOMID_SELF may name a frame directly; anyone else's must be a grant.
  if (srcDom !== DOMID_SELF && !srcGref) return GNTST_permission_denied;
  const sd = ld.byAnyId(srcDom);
  if (sd === undefined) return GNTST_bad_domain;
  if (dstDom !== DOMID_SELF && !dstGref) return GNTST_permission_denied;
  const dd = ld.byAnyId(dstDom);
  if (dd === undefined) return GNTST_bad_domain;
  if (ld.dying) return GNTST_general_error;

  const src = claim(ld, sd, op.source, srcGref, true);
  if (typeof src === 'number') return src;
  const dst = claim(ld, dd, op.dest, dstGref, false);
  if (typeof dst === 'number') {
    release(src, true);
    return dst;
  }

  const srcOff = op.source.offset & 0xffff;
  const dstOff = op.dest.offset & 0xffff;
  let rc: number = GNTST_okay;
  if (srcOff + len > PAGE_SIZE || dstOff + len > PAGE_SIZE) {
    rc = GNTST_bad_copy_arg;
  } else if (srcOff < src.start || srcOff + len > src.start + src.length) {
    rc = GNTST_general_error;
  } else if (dstOff < dst.start || dstOff + len > dst.start + dst.length) {
    rc = GNTST_general_error;
  } else {
    const from = src.mfn * PAGE_SIZE + srcOff;
    ld.mem.bytes.copyWithin(dst.mfn * PAGE_SIZE + dstOff, from, from + len);
    dst.owner.domain.markDirty?.(dst.mfn);
  }
  release(dst, false);
  release(src, true);
  return rc;
}
