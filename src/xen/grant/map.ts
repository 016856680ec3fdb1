/**
 * GNTTABOP_map_grant_ref and GNTTABOP_unmap_grant_ref / unmap_and_replace (Xen's
 * map_grant_ref, unmap_common and unmap_common_complete), and the release of a dying
 * domain's mappings (gnttab_release_mappings).
 *
 * A mapping pins the granter's active entry (one counter per host/device and read/write
 * kind), holds one frame reference per kind mapped, and occupies a maptrack handle in the
 * mapper's table. The frame is read from the grant entry only when the entry is first
 * pinned; every later use takes it from the active entry.
 */

import {
  GNTMAP_application_map,
  GNTMAP_contains_pte,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_dev_addr,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_handle,
  GNTST_general_error,
  GNTST_no_space,
  GNTST_okay,
} from '../../abi/grant_table.js';
import { type ActiveEntry, Pin } from './active.js';
import type { GrantCore } from './core.js';
import { PAGE_SIZE, readFrameV1, readFrameV2 } from './entries.js';
import type { MapOp, MappingInfo, MapResult, UnmapOp, UnmapResult } from './types.js';

const MAPPED = GNTMAP_host_map | GNTMAP_device_map;

function failed(status: number): MapResult {
  return { status, handle: -1, mfn: -1, devBusAddr: -1 };
}

/** The pin counters a mapping with these GNTMAP_* flags uses (device first, as Xen). */
function pinKinds(flags: number): Pin[] {
  const readonly = (flags & GNTMAP_readonly) !== 0;
  const kinds: Pin[] = [];
  if (flags & GNTMAP_device_map) kinds.push(readonly ? Pin.DevRead : Pin.DevWrite);
  if (flags & GNTMAP_host_map) kinds.push(readonly ? Pin.HostRead : Pin.HostWrite);
  return kinds;
}

export function mapGrantRef(ld: GrantCore, op: MapOp): MapResult {
  const flags = op.flags >>> 0;
  const ref = op.ref >>> 0;
  const dom = op.dom & 0xffff;
  const readonly = (flags & GNTMAP_readonly) !== 0;
  const kinds = pinKinds(flags);

  if (kinds.length === 0) return failed(GNTST_bad_gntref);
  if (
    ld.domain.external === true &&
    flags & (GNTMAP_device_map | GNTMAP_application_map | GNTMAP_contains_pte)
  ) {
    return failed(GNTST_general_error);
  }
  const rd = ld.byId(dom);
  if (rd === undefined) return failed(GNTST_bad_domain);
  if (ld.dying) return failed(GNTST_no_space);

  const handle = ld.maptrack.get();
  if (handle < 0) return failed(GNTST_no_space);
  const fail = (status: number): MapResult => {
    ld.maptrack.put(handle);
    return failed(status);
  };

  if (ref >= rd.nrEntries) return fail(GNTST_bad_gntref);
  // A dying granter's frames cannot be pinned any more (Xen's "could not pin" path).
  if (rd.dying) return fail(GNTST_general_error);

  const act = rd.activeEntry(ref);
  if (act.pinned && (act.domid !== ld.domid || act.wouldOverflow(kinds) || act.isSubPage)) {
    return fail(GNTST_general_error);
  }

  let refs = 0;
  if (!act.pinned || (!readonly && !act.writablePins)) {
    const e = rd.address(ref);
    const rc = rd.setStatus(e, { pinned: act.pinned, readonly, mapping: true, domid: ld.domid });
    if (rc !== GNTST_okay) return fail(rc);
    if (!act.pinned) {
      // The frame is read once, after the flags say the entry is in use.
      const gfn = rd.version === 1 ? readFrameV1(rd.mem, e) : readFrameV2(rd.mem, e);
      const mfn = rd.getPagedFrame(gfn, readonly);
      if (mfn < 0) {
        rd.reduceStatus(ref, act, readonly);
        return fail(mfn);
      }
      refs = 1;
      act.domid = ld.domid;
      act.mfn = mfn;
      act.start = 0;
      act.length = PAGE_SIZE;
      act.isSubPage = false;
      act.srcDomid = rd.domid;
      act.transGref = ref;
    }
  }
  for (const k of kinds) rd.pin(act, k);
  const mfn = act.mfn;

  const undo = (status: number): MapResult => {
    while (refs > 0) {
      rd.domain.putFrame(mfn, !readonly);
      refs--;
    }
    for (const k of kinds) rd.unpin(act, k);
    rd.reduceStatus(ref, act, readonly);
    return fail(status);
  };

  // One frame reference per kind mapped; get_paged_frame's counts as the first.
  for (; refs < kinds.length; refs++) {
    if (!rd.domain.getFrame(mfn, !readonly)) return undo(GNTST_general_error);
  }
  if (flags & GNTMAP_host_map && ld.domain.createHostMapping !== undefined) {
    const rc = ld.domain.createHostMapping(op.hostAddr, mfn, flags);
    if (rc !== GNTST_okay) return undo(rc < 0 ? rc : GNTST_general_error);
  }

  const mt = ld.maptrack.entries[handle]!;
  mt.ref = ref;
  mt.domid = dom;
  mt.mfn = mfn;
  mt.flags = flags & (MAPPED | GNTMAP_readonly);
  return { status: GNTST_okay, handle, mfn, devBusAddr: mfn * PAGE_SIZE };
}

/** Drops what one mapping kind held: the frame reference and the pin. */
function dropKind(rd: GrantCore, act: ActiveEntry, kind: Pin, readonly: boolean): void {
  rd.domain.putFrame(act.mfn, !readonly);
  rd.unpin(act, kind);
}

export function unmapGrantRef(ld: GrantCore, op: UnmapOp): UnmapResult {
  const handle = op.handle >>> 0;
  if (handle >= ld.maptrack.limit) return { status: GNTST_bad_handle, mfn: -1 };
  const map = ld.maptrack.entries[handle]!;
  if (map.flags === 0) return { status: GNTST_bad_handle, mfn: -1 };

  const rd = ld.byId(map.domid);
  if (rd === undefined) {
    // Xen crashes the mapper here: its granter vanished while mapped, which our zombie
    // rule prevents. Forget the mapping rather than keep a handle to nothing.
    ld.maptrack.put(handle);
    return { status: GNTST_general_error, mfn: -1 };
  }
  const ref = map.ref;
  if (ref >= rd.nrEntries) return { status: GNTST_bad_handle, mfn: -1 };
  const act = rd.activeEntry(ref);
  const mfn = act.mfn;
  const flags = map.flags;
  const readonly = (flags & GNTMAP_readonly) !== 0;
  const hostAddr = op.hostAddr;
  const devBusAddr = op.devBusAddr;

  if (devBusAddr !== 0 && flags & GNTMAP_device_map && devBusAddr !== mfn * PAGE_SIZE) {
    return { status: GNTST_bad_dev_addr, mfn };
  }
  let done = 0;
  if (hostAddr !== 0 && flags & GNTMAP_host_map) {
    const hook = ld.domain.destroyHostMapping;
    if (hook !== undefined) {
      const rc = hook.call(ld.domain, hostAddr, mfn, flags, op.newAddr ?? 0);
      if (rc < 0) return { status: rc, mfn };
    }
    map.flags &= ~GNTMAP_host_map;
    done |= GNTMAP_host_map;
  }
  if (devBusAddr !== 0 && flags & GNTMAP_device_map) {
    map.flags &= ~GNTMAP_device_map;
    done |= GNTMAP_device_map;
  }
  if ((map.flags & MAPPED) === 0) ld.maptrack.put(handle);

  if (done & GNTMAP_device_map) dropKind(rd, act, readonly ? Pin.DevRead : Pin.DevWrite, readonly);
  if (done & GNTMAP_host_map) dropKind(rd, act, readonly ? Pin.HostRead : Pin.HostWrite, readonly);
  if (done !== 0) {
    rd.reduceStatus(ref, act, readonly);
    if (!readonly) rd.domain.markDirty?.(mfn);
  }
  return { status: GNTST_okay, mfn };
}

/** What handle `handle` maps, or undefined for a free or bad handle. */
export function mappingOf(ld: GrantCore, handle: number): MappingInfo | undefined {
  const map = ld.maptrack.entries[handle >>> 0];
  if (map === undefined || map.flags === 0) return undefined;
  return { dom: map.domid, ref: map.ref, flags: map.flags, mfn: map.mfn };
}

/**
 * Xen's gnttab_release_mappings: a dying domain gives up every mapping it holds of other
 * domains' grants (its host mappings go with its address space, which the hypervisor
 * tears down; no destroyHostMapping calls are made).
 */
export function releaseMappings(ld: GrantCore): void {
  const entries = ld.maptrack.entries;
  for (let handle = entries.length - 1; handle >= 0; handle--) {
    const map = entries[handle]!;
    if ((map.flags & MAPPED) === 0) continue;
    const rd = ld.byId(map.domid);
    if (rd !== undefined && map.ref < rd.nrEntries) {
      const act = rd.activeEntry(map.ref);
      const readonly = (map.flags & GNTMAP_readonly) !== 0;
      if (map.flags & GNTMAP_device_map) {
        dropKind(rd, act, readonly ? Pin.DevRead : Pin.DevWrite, readonly);
      }
      if (map.flags & GNTMAP_host_map) {
        dropKind(rd, act, readonly ? Pin.HostRead : Pin.HostWrite, readonly);
      }
      rd.reduceStatus(map.ref, act, readonly);
    }
    map.flags = 0;
  }
  ld.maptrack.close();
}
