/**
 * GrantTable: one domain's grant table and the GNTTABOP_* operations it makes, with Xen's
 * semantics and results (xen/common/grant_table.c).
 *
 * The hypercall dispatcher decodes each op's struct, calls the method for it on the
 * calling domain's table, and writes the result back. Batches (count > 1) are the
 * dispatcher's loop; setup_table, query_size and get_status_frames take exactly one op
 * (count !== 1 is -EINVAL there), as in Xen.
 */

import {
  XEN_EBUSY,
  XEN_EINVAL,
  XEN_ENOSYS,
  XEN_EPERM,
  XEN_ERANGE,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_page,
  GNTST_eagain,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GNTTAB_CACHE_CLEAN,
  GNTTAB_CACHE_INVAL,
  GNTTAB_NR_RESERVED_ENTRIES,
  GTF_permit_access,
  GTF_reading,
  GTF_transitive,
  GTF_type_mask,
  GTF_writing,
} from '../../abi/grant_table.js';
import { grantCopy } from './copy.js';
import { GrantCore } from './core.js';
import {
  flagsOf,
  GrantMemory,
  grantToStatusFrames,
  PAGE_SIZE,
  readFrameV2High,
  readFrameV2Low,
  readHeader,
  STATUS_SIZE,
  statusToGrantFrames,
  V1_FRAME,
  V1_SIZE,
  V2_FRAME,
  V2_SIZE,
} from './entries.js';
import { mapGrantRef, mappingOf, releaseMappings, unmapGrantRef } from './map.js';
import {
  type CacheFlushOp,
  type CopyOp,
  type DestroyResult,
  type FramesResult,
  type GrantDomain,
  type GrantLimits,
  type GrantMachine,
  GrantTableError,
  type MapOp,
  type MappingInfo,
  type MapResult,
  type QuerySizeResult,
  type TransferOp,
  type UnmapOp,
  type UnmapResult,
  type VersionResult,
} from './types.js';

let coreOf: (table: GrantTable) => GrantCore;

export class GrantTable {
  readonly #core: GrantCore;

  static {
    coreOf = (table) => table.#core;
  }

  /**
   * A domain's table, starting at version 1 with one frame (Xen's
   * INITIAL_NR_GRANT_FRAMES on x86). `lookup` finds another domain's table by id; it must
   * keep returning a destroyed table until that table's `released` hook has run.
   * Throws GrantTableError if the limits are bad or the first frame cannot be allocated.
   */
  constructor(
    domain: GrantDomain,
    memory: GrantMachine,
    lookup: (domid: number) => GrantTable | undefined,
    limits: GrantLimits,
  ) {
    const { maxFrames, maxMaptrackFrames } = limits;
    const maxVersion = limits.maxVersion ?? 2;
    if (!Number.isSafeInteger(maxFrames) || maxFrames < 1) {
      throw new GrantTableError(`d${domain.domid}: bad grant table size: ${maxFrames} frames`);
    }
    if (!Number.isSafeInteger(maxMaptrackFrames) || maxMaptrackFrames < 0) {
      throw new GrantTableError(`d${domain.domid}: bad maptrack size: ${maxMaptrackFrames}`);
    }
    if (maxVersion !== 1 && maxVersion !== 2) {
      throw new GrantTableError(`d${domain.domid}: bad grant table version ${maxVersion}`);
    }
    const mem = new GrantMemory(memory);
    this.#core = new GrantCore(domain, mem, maxFrames, maxVersion, maxMaptrackFrames, (domid) => {
      const t = lookup(domid);
      return t === undefined ? undefined : coreOf(t);
    });
    if (this.#core.grow(1) !== 0) {
      throw new GrantTableError(`d${domain.domid}: out of memory for the grant table`);
    }
  }

  // -------------------------------------------------------------------------------------
  // Observation

  get domid(): number {
    return this.#core.domid;
  }

  get version(): 1 | 2 {
    return this.#core.version;
  }

  /** Machine frames of the shared entries. */
  get sharedFrames(): readonly number[] {
    return [...this.#core.shared];
  }

  /** Machine frames of the v2 status entries. */
  get statusFrames(): readonly number[] {
    return [...this.#core.status];
  }

  /** Grant entries under the current version. */
  get nrEntries(): number {
    return this.#core.nrEntries;
  }

  /** This domain's grant entries in use by mappings (its own or others'). */
  get pinned(): number {
    return this.#core.pinnedCount;
  }

  /** Maptrack handles in use: this domain's mappings of grants. */
  get mappings(): number {
    return this.#core.maptrack.used;
  }

  /** Destroyed, but others still map its grants. */
  get zombie(): boolean {
    return this.#core.dying && !this.#core.freed;
  }

  /** What a maptrack handle maps, or undefined for a free or bad handle. */
  mapping(handle: number): MappingInfo | undefined {
    return mappingOf(this.#core, handle);
  }

  // -------------------------------------------------------------------------------------
  // Table management

  /** The table `dom` names as Xen's XSM_TARGET check lets this domain reach it. */
  #target(dom: number): GrantCore | number {
    const core = this.#core;
    const id = dom & 0xffff;
    const t = core.byAnyId(id);
    if (t === undefined) return GNTST_bad_domain;
    if (t !== core && core.domain.controls?.(id) !== true) return GNTST_permission_denied;
    return t;
  }

  /**
   * GNTTABOP_setup_table: grows `dom`'s table to `nrFrames` and returns its first
   * `nrFrames` machine frames (a PV guest maps them; the dispatcher returns their GFNs to
   * a translated guest).
   */
  setupTable(dom: number, nrFrames: number): FramesResult {
    const t = this.#target(dom);
    if (typeof t === 'number') return { status: t, frames: [] };
    const n = nrFrames >>> 0;
    if (n > t.maxFrames) return { status: GNTST_general_error, frames: [] };
    if (
      (n > t.shared.length || (t.version > 1 && grantToStatusFrames(n) > t.status.length)) &&
      t.grow(n) !== 0
    ) {
      return { status: GNTST_general_error, frames: [] };
    }
    return { status: GNTST_okay, frames: t.shared.slice(0, n) };
  }

  /** GNTTABOP_query_size. */
  querySize(dom: number): QuerySizeResult {
    const t = this.#target(dom);
    if (typeof t === 'number') return { status: t, nrFrames: 0, maxNrFrames: 0 };
    return { status: GNTST_okay, nrFrames: t.shared.length, maxNrFrames: t.maxFrames };
  }

  /**
   * XENMAPSPACE_grant_table (Xen's gnttab_map_frame): the machine frame of shared frame
   * `idx`, or of status frame `idx` with `status` (XENMAPIDX_grant_table_status) under v2,
   * growing the table up to its limit as needed; -XEN_EINVAL past the limit, or for a
   * status frame under v1. The caller puts the frame in the P2M at the requested GFN.
   */
  frameForIndex(idx: number, status: boolean): number {
    const core = this.#core;
    const i = Number.isSafeInteger(idx) && idx >= 0 ? idx : Number.MAX_SAFE_INTEGER;
    if (status) {
      if (core.version !== 2) return -XEN_EINVAL;
      if (i >= core.status.length) {
        const nrGrant = statusToGrantFrames(i + 1);
        if (nrGrant <= core.maxFrames) core.grow(nrGrant);
        if (i >= core.status.length) return -XEN_EINVAL;
      }
      return core.status[i]!;
    }
    if (i >= core.shared.length) {
      if (i + 1 <= core.maxFrames) core.grow(i + 1);
      if (i >= core.shared.length) return -XEN_EINVAL;
    }
    return core.shared[i]!;
  }

  /**
   * GNTTABOP_set_version. Switching needs every entry but the first 8 (the toolstack's,
   * which xenstored and xenconsoled keep mapped) out of use; the table is then cleared
   * except those 8, which are converted: v1 → v2 moves GTF_reading/GTF_writing into the
   * status entries, v2 → v1 merges them back (refusing, with -ERANGE, a reserved grant v1
   * cannot express: a frame above 2^32 or a transitive grant) and frees the status frames.
   */
  setVersion(version: number): VersionResult {
    const core = this.#core;
    const v = version >>> 0;
    const done = (rc: number): VersionResult => ({ rc, version: core.version });
    if (v !== 1 && v !== 2) return done(-XEN_EINVAL);
    if (v === 2 && core.maxVersion === 1) return done(-XEN_ENOSYS);
    if (v === core.version) return done(0);

    const nr = core.nrEntries;
    for (let ref = GNTTAB_NR_RESERVED_ENTRIES; ref < nr; ref++) {
      if (core.active[ref]?.pinned === true) return done(-XEN_EBUSY);
    }

    const mem = core.mem;
    const base = core.shared[0]! * PAGE_SIZE;
    const u32 = mem.u32;
    const u16 = mem.u16;
    // Reserved entries as v1 words: [header, frame].
    const saved: [number, number][] = [];
    if (core.version === 1) {
      const rc = core.populateStatus();
      if (rc < 0) return done(rc);
      for (let i = 0; i < GNTTAB_NR_RESERVED_ENTRIES; i++) {
        const at = (base + i * V1_SIZE) >>> 2;
        saved.push([Atomics.load(u32, at), Atomics.load(u32, at + (V1_FRAME >>> 2))]);
      }
    } else {
      for (let i = 0; i < GNTTAB_NR_RESERVED_ENTRIES; i++) {
        const e = core.address(i);
        const type = flagsOf(readHeader(mem, e)) & GTF_type_mask;
        if (
          type === GTF_transitive ||
          (type === GTF_permit_access && readFrameV2High(mem, e) !== 0)
        ) {
          return done(-XEN_ERANGE);
        }
      }
      for (let i = 0; i < GNTTAB_NR_RESERVED_ENTRIES; i++) {
        const e = core.address(i);
        const header = readHeader(mem, e);
        if ((flagsOf(header) & GTF_type_mask) === GTF_permit_access) {
          const status = Atomics.load(u16, e.status);
          saved.push([(header | status) >>> 0, readFrameV2Low(mem, e)]);
        } else {
          saved.push([0, 0]);
        }
      }
      core.unpopulateStatus();
    }

    for (const mfn of core.shared) mem.clearFrame(mfn);

    if (v === 1) {
      saved.forEach(([header, frame], i) => {
        const at = (base + i * V1_SIZE) >>> 2;
        Atomics.store(u32, at + (V1_FRAME >>> 2), frame);
        Atomics.store(u32, at, header);
      });
    } else {
      const statusBase = (core.status[0]! * PAGE_SIZE) / STATUS_SIZE;
      const busy = GTF_reading | GTF_writing;
      saved.forEach(([header, frame], i) => {
        const at = (base + i * V2_SIZE) >>> 2;
        Atomics.store(u16, statusBase + i, header & busy);
        Atomics.store(u32, at + (V2_FRAME >>> 2), frame);
        Atomics.store(u32, at, (header & ~busy) >>> 0);
      });
    }
    core.version = v;
    return done(0);
  }

  /** GNTTABOP_get_version: -ESRCH for no such domain, -EPERM for one not ours to see. */
  getVersion(dom: number): VersionResult {
    const t = this.#target(dom);
    if (t === GNTST_bad_domain) return { rc: -XEN_ESRCH, version: 0 };
    if (typeof t === 'number') return { rc: -XEN_EPERM, version: 0 };
    return { rc: 0, version: t.version };
  }

  /** GNTTABOP_get_status_frames: the first `nrFrames` status frames (v2). */
  getStatusFrames(dom: number, nrFrames: number): FramesResult {
    const t = this.#target(dom);
    if (typeof t === 'number') return { status: t, frames: [] };
    const n = nrFrames >>> 0;
    if (n > t.status.length) return { status: GNTST_general_error, frames: [] };
    return { status: GNTST_okay, frames: t.status.slice(0, n) };
  }

  /** GNTTABOP_swap_grant_ref: swaps two of this domain's entries (with their status). */
  swapGrantRef(refA: number, refB: number): number {
    const core = this.#core;
    const a = refA >>> 0;
    const b = refB >>> 0;
    if (a >= core.nrEntries || b >= core.nrEntries) return GNTST_bad_gntref;
    if (a === b) return GNTST_okay;
    if (core.active[a]?.pinned === true || core.active[b]?.pinned === true) return GNTST_eagain;
    const { u32, u16 } = core.mem;
    const ea = core.address(a);
    const eb = core.address(b);
    const words = (core.version === 1 ? V1_SIZE : V2_SIZE) / 4;
    for (let w = 0; w < words; w++) {
      const ia = (ea.at >>> 2) + w;
      const ib = (eb.at >>> 2) + w;
      const t = Atomics.load(u32, ia);
      Atomics.store(u32, ia, Atomics.load(u32, ib));
      Atomics.store(u32, ib, t);
    }
    if (core.version === 2) {
      const t = Atomics.load(u16, ea.status);
      Atomics.store(u16, ea.status, Atomics.load(u16, eb.status));
      Atomics.store(u16, eb.status, t);
    }
    return GNTST_okay;
  }

  // -------------------------------------------------------------------------------------
  // Mapping and copying

  /** GNTTABOP_map_grant_ref. */
  mapGrantRef(op: MapOp): MapResult {
    return mapGrantRef(this.#core, op);
  }

  /** GNTTABOP_unmap_grant_ref (and GNTTABOP_unmap_and_replace, with op.newAddr). */
  unmapGrantRef(op: UnmapOp): UnmapResult {
    return unmapGrantRef(this.#core, op);
  }

  /** GNTTABOP_copy. */
  copy(op: CopyOp): number {
    return grantCopy(this.#core, op);
  }

  /**
   * GNTTABOP_transfer. Not implemented: Xen refuses it for HVM and PVH guests (steal_page
   * fails on a translated domain, giving GNTST_general_error), and Linux domUs no longer
   * use it; a PV guest gets the same refusal here. A frame that is not the caller's RAM
   * is GNTST_bad_page first, as in Xen.
   */
  transfer(op: TransferOp): number {
    const gfn = op.mfn;
    const mfn = Number.isSafeInteger(gfn) && gfn >= 0 ? this.#core.domain.gfnToMfn(gfn) : undefined;
    if (mfn === undefined || !this.#core.mem.validFrame(mfn)) return GNTST_bad_page;
    return GNTST_general_error;
  }

  /**
   * GNTTABOP_cache_flush, with Xen's (Arm) argument checks, as a no-op: machine memory
   * here is coherent. 0 for a frame of the caller's or one it has mapped through a grant;
   * -EINVAL otherwise. (Xen on x86 does not build this op and answers -ENOSYS; the
   * dispatcher decides which to offer.)
   */
  cacheFlush(op: CacheFlushOp): number {
    const core = this.#core;
    const offset = op.offset & 0xffff;
    const length = op.length & 0xffff;
    const what = op.op >>> 0;
    if (
      offset >= PAGE_SIZE ||
      length > PAGE_SIZE ||
      offset + length > PAGE_SIZE ||
      what & ~(GNTTAB_CACHE_INVAL | GNTTAB_CACHE_CLEAN)
    ) {
      return -XEN_EINVAL;
    }
    if (length === 0 || what === 0) return 0;
    const mfn = Math.floor(op.a / PAGE_SIZE);
    if (!core.mem.validFrame(mfn)) return -XEN_EINVAL;
    if (core.domain.getFrame(mfn, false)) {
      core.domain.putFrame(mfn, false);
      return 0;
    }
    const mapped = core.maptrack.entries.some(
      (m) => m.flags & (GNTMAP_host_map | GNTMAP_device_map) && m.mfn === mfn,
    );
    return mapped ? 0 : -XEN_EINVAL;
  }

  // -------------------------------------------------------------------------------------
  // Destruction

  /**
   * The domain is dying (Xen's gnttab_release_mappings, then grant_table_destroy once
   * nothing is left): releases every mapping it holds of others' grants, and refuses new
   * uses of its own. If other domains still map its grants it stays a zombie — its table
   * frames are kept so their unmaps work, and `released` is called when the last goes;
   * otherwise its frames are freed now.
   */
  destroy(): DestroyResult {
    const core = this.#core;
    if (!core.dying) {
      releaseMappings(core);
      core.dying = true;
      if (core.pinnedCount === 0) core.freeFrames();
    }
    return { zombie: core.pinnedCount > 0, pinned: core.pinnedCount };
  }
}
