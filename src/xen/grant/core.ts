/**
 * One domain's grant table state: its shared and status frames in machine memory, the
 * active entries shadowing its grants in use, its maptrack of others' grants it maps, and
 * the operations the map/copy code shares (pinning, status flags, frame lookup, growth).
 *
 * Module-internal: the rest of the hypervisor holds a GrantTable, never a GrantCore.
 */

import { XEN_ENOMEM } from '../../abi/errno.js';
import { GNTST_bad_page, GTF_reading, GTF_writing } from '../../abi/grant_table.js';
import { DOMID_FIRST_RESERVED, DOMID_SELF } from '../../abi/xen.js';
import { ActiveEntry, Maptrack, type Pin } from './active.js';
import {
  clearStatus,
  type EntryAddress,
  type GrantMemory,
  grantToStatusFrames,
  PAGE_SIZE,
  type PinRequest,
  STATUS_PER_FRAME,
  setStatusV1,
  setStatusV2,
  V1_PER_FRAME,
  V1_SIZE,
  V2_PER_FRAME,
  V2_SIZE,
} from './entries.js';
import { type GrantDomain, GrantTableError } from './types.js';

export class GrantCore {
  /** 1 or 2; every table starts at 1. */
  version: 1 | 2 = 1;
  /** Machine frames of the shared entries, in table order. */
  readonly shared: number[] = [];
  /** Machine frames of the v2 status entries (empty under v1). */
  readonly status: number[] = [];
  /** Active entries by grant reference, made on first use. */
  readonly active: (ActiveEntry | undefined)[] = [];
  readonly maptrack: Maptrack;
  /** Grant entries pinned (mapped or being copied) by anyone. */
  pinnedCount = 0;
  /** destroy() was called: the domain's grants can no longer be newly used. */
  dying = false;
  /** The table's frames have been given back. */
  freed = false;

  constructor(
    readonly domain: GrantDomain,
    readonly mem: GrantMemory,
    readonly maxFrames: number,
    readonly maxVersion: 1 | 2,
    maxMaptrackFrames: number,
    /** Another domain's table by id (never a reserved id). */
    readonly lookup: (domid: number) => GrantCore | undefined,
  ) {
    this.maptrack = new Maptrack(maxMaptrackFrames);
  }

  get domid(): number {
    return this.domain.domid;
  }

  /** A table by id as Xen's rcu_lock_domain_by_id finds it: no reserved ids. */
  byId(domid: number): GrantCore | undefined {
    return domid >= DOMID_FIRST_RESERVED ? undefined : this.lookup(domid);
  }

  /** As rcu_lock_domain_by_any_id: DOMID_SELF is this table. */
  byAnyId(domid: number): GrantCore | undefined {
    return domid === DOMID_SELF ? this : this.byId(domid);
  }

  /** Number of grant entries under the current version. */
  get nrEntries(): number {
    return this.shared.length * (this.version === 1 ? V1_PER_FRAME : V2_PER_FRAME);
  }

  /** Where entry `ref` lives. `ref` must be below nrEntries. */
  address(ref: number): EntryAddress {
    if (this.version === 1) {
      const at =
        this.shared[Math.floor(ref / V1_PER_FRAME)]! * PAGE_SIZE + (ref % V1_PER_FRAME) * V1_SIZE;
      return { at, status: at >>> 1 };
    }
    const at =
      this.shared[Math.floor(ref / V2_PER_FRAME)]! * PAGE_SIZE + (ref % V2_PER_FRAME) * V2_SIZE;
    const statusFrame = this.status[Math.floor(ref / STATUS_PER_FRAME)]!;
    return { at, status: (statusFrame * PAGE_SIZE) / 2 + (ref % STATUS_PER_FRAME) };
  }

  activeEntry(ref: number): ActiveEntry {
    let act = this.active[ref];
    if (act === undefined) {
      act = new ActiveEntry();
      this.active[ref] = act;
    }
    return act;
  }

  /** Sets GTF_reading/GTF_writing for a new pin (Xen's _set_status). */
  setStatus(e: EntryAddress, req: PinRequest): number {
    return this.version === 1 ? setStatusV1(this.mem, e, req) : setStatusV2(this.mem, e, req);
  }

  /**
   * Xen's reduce_status_for_pin: after an unpin, clears the status bits no pin needs any
   * more (GTF_reading when nothing is pinned, GTF_writing when no writable pin is left).
   */
  reduceStatus(ref: number, act: ActiveEntry, readonly: boolean): void {
    if (this.freed || ref >= this.nrEntries) return;
    let clear = act.pinned ? 0 : GTF_reading;
    if (!readonly && !act.writablePins) clear |= GTF_writing;
    if (clear) clearStatus(this.mem, this.address(ref), clear);
  }

  pin(act: ActiveEntry, kind: Pin): void {
    if (!act.pinned) this.pinnedCount++;
    act.pins[kind]!++;
  }

  unpin(act: ActiveEntry, kind: Pin): void {
    if (act.pins[kind] === 0) throw new GrantTableError(`d${this.domid}: pin count underflow`);
    act.pins[kind]!--;
    if (!act.pinned) {
      this.pinnedCount--;
      if (this.dying && this.pinnedCount === 0 && !this.freed) {
        this.freeFrames();
        this.domain.released?.();
      }
    }
  }

  /**
   * Xen's get_paged_frame: the machine frame of this domain's RAM at `gfn`, with a
   * reference taken; a negative GNTST_* code when there is none.
   */
  getPagedFrame(gfn: number, readonly: boolean): number {
    if (!Number.isSafeInteger(gfn) || gfn < 0) return GNTST_bad_page;
    const mfn = this.domain.gfnToMfn(gfn);
    if (mfn === undefined || !this.mem.validFrame(mfn)) return GNTST_bad_page;
    if (!this.domain.getFrame(mfn, !readonly)) return GNTST_bad_page;
    return mfn;
  }

  /** A fresh zeroed Xen frame for the table, or undefined when out of memory. */
  #allocFrame(): number | undefined {
    const mfn = this.domain.allocXenFrame();
    if (mfn === undefined) return undefined;
    if (!this.mem.validFrame(mfn)) {
      throw new GrantTableError(`d${this.domid}: allocXenFrame returned frame ${mfn}`);
    }
    this.mem.clearFrame(mfn);
    return mfn;
  }

  /**
   * Xen's gnttab_grow_table: at least `frames` shared frames (and their status frames
   * under v2). 0, or -XEN_ENOMEM with nothing changed. The caller checks maxFrames.
   */
  grow(frames: number): number {
    const want = Math.max(frames, 1);
    const added: number[] = [];
    const undo = (): number => {
      for (const mfn of added) this.domain.freeXenFrame(mfn);
      return -XEN_ENOMEM;
    };
    for (let i = this.shared.length; i < want; i++) {
      const mfn = this.#allocFrame();
      if (mfn === undefined) return undo();
      added.push(mfn);
    }
    const sharedAdded = added.length;
    if (this.version === 2) {
      for (let i = this.status.length; i < grantToStatusFrames(want); i++) {
        const mfn = this.#allocFrame();
        if (mfn === undefined) return undo();
        added.push(mfn);
      }
    }
    this.shared.push(...added.slice(0, sharedAdded));
    this.status.push(...added.slice(sharedAdded));
    return 0;
  }

  /** Status frames for the current shared frames (switch to v2). 0 or -XEN_ENOMEM. */
  populateStatus(): number {
    const added: number[] = [];
    for (let i = this.status.length; i < grantToStatusFrames(this.shared.length); i++) {
      const mfn = this.#allocFrame();
      if (mfn === undefined) {
        for (const m of added) this.domain.freeXenFrame(m);
        return -XEN_ENOMEM;
      }
      added.push(mfn);
    }
    this.status.push(...added);
    return 0;
  }

  /** Gives the status frames back (switch to v1). */
  unpopulateStatus(): void {
    for (const mfn of this.status.splice(0)) this.domain.freeXenFrame(mfn);
  }

  /** Gives every table frame back (final destruction). */
  freeFrames(): void {
    this.freed = true;
    this.unpopulateStatus();
    for (const mfn of this.shared.splice(0)) this.domain.freeXenFrame(mfn);
  }
}
