/**
 * The grant-table module's interface to the rest of the hypervisor: what it needs from a
 * domain (GrantDomain), the machine memory it works in (GrantMachine), and the shapes of
 * its operations' arguments and results.
 *
 * Guest-visible results are numbers: GNTST_* status codes for the per-entry operations,
 * negative Xen errno values for the others, exactly as Xen's do_grant_table_op reports
 * them. Nothing a guest can do makes this module throw; it throws GrantTableError only for
 * hypervisor bugs (a frame allocator returning a frame outside machine memory, …).
 */

/** What the grant table needs from the domain that owns it. */
export interface GrantDomain {
  readonly domid: number;
  /**
   * Allocates a Xen-owned frame for the grant table / status frames (zeroed), returning its
   * machine frame number; undefined when out of memory.
   */
  allocXenFrame(): number | undefined;
  /**
   * The frame is no longer part of the table (status frames dropped by a switch to v1, or
   * the table's frames at final destruction). If it is mapped in the domain's P2M the
   * hypervisor removes it there first, as Xen's gnttab_unpopulate_status_frames does.
   */
  freeXenFrame(mfn: number): void;
  /** Guest frame → machine frame of this domain's RAM (undefined if not RAM or not present). */
  gfnToMfn(gfn: number): number | undefined;
  /**
   * Takes/drops a reference on a machine frame owned by this domain (mappings and copies
   * keep frames alive). `writable`: the reference is for writing (Xen's PGT_writable_page
   * type reference); refuse it for frames the domain may not have written by others.
   * Returns false when the frame is not this domain's (or cannot be referenced so).
   */
  getFrame(mfn: number, writable: boolean): boolean;
  putFrame(mfn: number, writable: boolean): void;

  // Optional hooks; each says what happens without it.

  /**
   * Xen's paging_mode_external: an HVM or PVH domain. Such a domain cannot make
   * GNTMAP_device_map / application_map / contains_pte mappings, nor transfer pages.
   * Default false (PV rules).
   */
  readonly external?: boolean;
  /**
   * Whether this domain may operate on `domid`'s grant table (setup_table, query_size,
   * get_version, get_status_frames of another domain: Xen's XSM_TARGET — the control
   * domain, or a device model over its target). Default: only its own.
   */
  controls?(domid: number): boolean;
  /**
   * Inserts a granted frame into this domain's address space at `hostAddr` (Xen's
   * create_grant_host_mapping: for HVM/PVH the P2M at gfn hostAddr >> 12, with
   * GNTMAP_readonly making it read-only). Returns a GNTST_* code; on failure the map
   * operation is undone and fails with it. Without the hook the caller inserts
   * `MapResult.mfn` itself after a successful map (and unmaps by handle if that fails).
   */
  createHostMapping?(hostAddr: number, mfn: number, flags: number): number;
  /**
   * Removes the mapping at `hostAddr`, checking that it maps `mfn` (Xen's
   * replace_grant_host_mapping; `newAddr` is GNTTABOP_unmap_and_replace's, else 0). Returns
   * a GNTST_* code; on failure the mapping stays and unmap fails with it. Without the hook
   * the caller removes it itself, using `mapping(handle)` beforehand to check the address.
   */
  destroyHostMapping?(hostAddr: number, mfn: number, flags: number, newAddr: number): number;
  /** One of this domain's frames was written through a grant (log-dirty for migration). */
  markDirty?(mfn: number): void;
  /**
   * Called once when a destroyed domain's table has become idle — the last mapping or
   * copy of its grants by another domain is gone — and its frames have been freed: the
   * hypervisor can finish destroying the zombie.
   */
  released?(): void;
}

/** Machine memory: one buffer of 4 KiB frames. */
export interface GrantMachine {
  bytes: Uint8Array;
  view: DataView;
}

/** Per-domain limits (Xen's max_grant_frames, max_maptrack_frames, max_grant_version). */
export interface GrantLimits {
  /** Grant-table frames the domain may have (Xen's default: 64). At least 1. */
  maxFrames: number;
  /** Maptrack frames of 256 handles each (Xen's default: 1024). 0: the domain cannot map. */
  maxMaptrackFrames: number;
  /** Highest version set_version accepts (Xen's default: 2). */
  maxVersion?: 1 | 2;
}

/** GNTTABOP_map_grant_ref's inputs. */
export interface MapOp {
  /** Guest-physical address (HVM/PVH) or virtual address (PV) of the mapping. */
  hostAddr: number;
  /** GNTMAP_* */
  flags: number;
  ref: number;
  /** The granting domain. */
  dom: number;
}

/**
 * GNTTABOP_map_grant_ref's outputs. On failure only `status` is meaningful (the others are
 * -1) and only it is written back to the guest, as Xen leaves the other fields untouched.
 */
export interface MapResult {
  status: number;
  handle: number;
  /** The granted machine frame (for the caller to insert at hostAddr). */
  mfn: number;
  /** Machine address of the frame, as Xen reports it in dev_bus_addr. */
  devBusAddr: number;
}

/** GNTTABOP_unmap_grant_ref's inputs (GNTTABOP_unmap_and_replace adds newAddr). */
export interface UnmapOp {
  handle: number;
  /** Non-zero: remove the host mapping (GNTMAP_host_map). */
  hostAddr: number;
  /** Non-zero: remove the device mapping (GNTMAP_device_map); must match the frame. */
  devBusAddr: number;
  /** GNTTABOP_unmap_and_replace's new_addr; 0 for unmap_grant_ref. */
  newAddr?: number;
}

export interface UnmapResult {
  status: number;
  /** The frame the handle mapped (-1 when the handle was bad). */
  mfn: number;
}

/** A live mapping, by handle. */
export interface MappingInfo {
  dom: number;
  ref: number;
  /** GNTMAP_* bits still mapped (host_map / device_map, with readonly). */
  flags: number;
  mfn: number;
}

/** One side of GNTTABOP_copy. */
export interface CopyPtr {
  /** The grant reference (with GNTCOPY_*_gref) or guest frame number (without). */
  u: number;
  domid: number;
  offset: number;
}

export interface CopyOp {
  source: CopyPtr;
  dest: CopyPtr;
  len: number;
  /** GNTCOPY_* */
  flags: number;
}

export interface TransferOp {
  /** The caller's guest frame to give away. */
  mfn: number;
  domid: number;
  ref: number;
}

export interface CacheFlushOp {
  /** dev_bus_addr, or a grant reference with GNTTAB_CACHE_SOURCE_GREF. */
  a: number;
  offset: number;
  length: number;
  /** GNTTAB_CACHE_* */
  op: number;
}

/** setup_table / get_status_frames: a GNTST_* status and the machine frames. */
export interface FramesResult {
  status: number;
  frames: number[];
}

export interface QuerySizeResult {
  status: number;
  nrFrames: number;
  maxNrFrames: number;
}

/** set_version / get_version: 0 or a negative errno, and the (current) version. */
export interface VersionResult {
  rc: number;
  version: number;
}

export interface DestroyResult {
  /** Other domains still map or copy this domain's grants: keep it as a zombie. */
  zombie: boolean;
  /** How many of its grant entries are still in use by others. */
  pinned: number;
}

/** A hypervisor bug detected by the grant table (never a guest's doing). */
export class GrantTableError extends Error {
  override name = 'GrantTableError';
}
