/**
 * Hypervisor-private bookkeeping: the active entry shadowing each grant in use (Xen's
 * struct active_grant_entry) and the maptrack table of a domain's mappings of others'
 * grants (struct grant_mapping), whose indices are the handles map_grant_ref returns.
 *
 * None of this lives in guest-visible memory: once a grant is pinned, the frame, the
 * grantee and the sub-page bounds come from here, not from the shared entry.
 */

/** Width of each pin counter; a counter with its top bit set refuses more (Xen: 8 bits). */
const PIN_LIMIT = 0x80;

/** Which pin counter an operation uses. */
export const enum Pin {
  /** Writable host-CPU mapping (also: a copy writing). */
  HostWrite = 0,
  /** Read-only host-CPU mapping (also: a copy reading). */
  HostRead = 1,
  DevWrite = 2,
  DevRead = 3,
}

/** The shadow of one grant entry while it is pinned by mappings or copies. */
export class ActiveEntry {
  /** Reference counts by Pin kind. */
  readonly pins = new Uint16Array(4);
  /** Domain being granted access. */
  domid = 0;
  /** The granting domain whose frame this is (differs for a transitive grant). */
  srcDomid = 0;
  /** The grant reference in srcDomid's table. */
  transGref = 0;
  mfn = -1;
  /** Sub-page bounds: [start, start + length). */
  start = 0;
  length = 0;
  isSubPage = false;

  get pinned(): boolean {
    return (this.pins[0]! | this.pins[1]! | this.pins[2]! | this.pins[3]!) !== 0;
  }

  get writablePins(): boolean {
    return (this.pins[Pin.HostWrite]! | this.pins[Pin.DevWrite]!) !== 0;
  }

  /** True when one more pin of these kinds would overflow a counter. */
  wouldOverflow(kinds: readonly Pin[]): boolean {
    return kinds.some((k) => this.pins[k]! >= PIN_LIMIT);
  }
}

/** Maptrack entries per frame: PAGE_SIZE / sizeof(struct grant_mapping). */
export const MAPTRACK_PER_FRAME = 256;

/** One of a domain's mappings of a grant. flags === 0: the handle is free. */
export interface MaptrackEntry {
  ref: number;
  domid: number;
  /** GNTMAP_host_map / device_map still mapped, plus GNTMAP_readonly. */
  flags: number;
  /** The frame it maps (kept for queries; the active entry is authoritative). */
  mfn: number;
}

/**
 * The handle table. Handles are allocated a frame's worth at a time up to the limit, and
 * freed handles are reused oldest first (Xen keeps its per-vCPU free lists in FIFO order,
 * which makes a stale handle less likely to name a new mapping).
 */
export class Maptrack {
  readonly entries: MaptrackEntry[] = [];
  readonly #free: number[] = [];
  #freeHead = 0;
  #maxEntries: number;

  constructor(maxFrames: number) {
    this.#maxEntries = maxFrames * MAPTRACK_PER_FRAME;
  }

  /** Handles ever allocated (Xen's maptrack_limit): a handle at or above is bad. */
  get limit(): number {
    return this.entries.length;
  }

  /** Handles in use. */
  get used(): number {
    return this.entries.length - (this.#free.length - this.#freeHead);
  }

  /** A free handle, or -1 when the table is at its limit and full. */
  get(): number {
    if (this.#freeHead < this.#free.length) {
      const handle = this.#free[this.#freeHead++]!;
      if (this.#freeHead > 1024 && this.#freeHead * 2 > this.#free.length) {
        this.#free.splice(0, this.#freeHead);
        this.#freeHead = 0;
      }
      return handle;
    }
    const first = this.entries.length;
    if (first + MAPTRACK_PER_FRAME > this.#maxEntries) return -1;
    for (let i = 0; i < MAPTRACK_PER_FRAME; i++) {
      this.entries.push({ ref: 0, domid: 0, flags: 0, mfn: -1 });
      if (i > 0) this.#free.push(first + i);
    }
    return first;
  }

  put(handle: number): void {
    const e = this.entries[handle]!;
    e.flags = 0;
    e.mfn = -1;
    this.#free.push(handle);
  }

  /** Drops every handle and refuses new ones (the domain is dying). */
  close(): void {
    this.entries.length = 0;
    this.#free.length = 0;
    this.#freeHead = 0;
    this.#maxEntries = 0;
  }
}
