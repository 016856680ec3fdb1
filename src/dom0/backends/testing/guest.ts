/**
 * A guest domain that runs no code but does, through the hypervisor's guest interface, what
 * a guest kernel does for its frontends: allocate pages, grant them, allocate event channels
 * for Dom0 and notify.
 */
import {
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
} from '../../../abi/grant_table.js';
import { XEN_PAGE_SIZE } from '../../../abi/io/ring.js';
import { DOMID_SELF } from '../../../abi/xen.js';
import type { Domain } from '../../../xen/common/domain.js';
import type { LocalClient } from '../../xenstored/index.js';
import type { BackendRig } from './rig.js';

/** Grant-table frames each fake guest sets up: 512 v1 entries each. */
const GRANT_FRAMES = 8;
/** GNTTAB_NR_RESERVED_ENTRIES: refs a guest kernel never hands out. */
const FIRST_FREE_REF = 8;
/** Where a fake guest's RAM starts (pages are populated as they are asked for). */
const FIRST_GFN = 0x100;

export interface GrantOptions {
  /** GTF_readonly. */
  readonly?: boolean;
  /** The domain allowed to use the grant (default Dom0). */
  to?: number;
}

export class FakeGuest {
  private nextGfn = FIRST_GFN;
  private nextRef = FIRST_FREE_REF;
  private readonly freeGfns: number[] = [];
  private readonly freeRefs: number[] = [];
  private readonly table: readonly number[];
  /** The guest's own store connection, for its frontend directories. */
  readonly store: LocalClient;

  constructor(
    readonly rig: BackendRig,
    readonly domid: number,
    readonly domain: Domain,
  ) {
    const { status, frames } = domain.grants.setupTable(DOMID_SELF, GRANT_FRAMES);
    if (status !== 0) throw new Error(`grant table setup for d${domid}: status ${status}`);
    this.table = frames;
    this.store = rig.xenstored.connectLocal(`d${domid} frontends`);
  }

  /** A zeroed page of guest RAM (a freed one, or a fresh one); its frame number. */
  page(): number {
    let gfn = this.freeGfns.pop();
    if (gfn === undefined) {
      gfn = this.nextGfn++;
      if (this.rig.hv.populatePhysmap(this.domain, gfn, 1) !== 1) {
        throw new Error(`d${this.domid}: no RAM for gfn ${gfn.toString(16)}`);
      }
    }
    this.bytes(gfn).fill(0);
    return gfn;
  }

  /** Gives a page back for `page()` to hand out again. */
  freePage(gfn: number): void {
    this.freeGfns.push(gfn);
  }

  /** The guest page `gfn`, as a view of machine memory. */
  bytes(gfn: number): Uint8Array {
    const mfn = this.domain.mfnOf(gfn);
    if (mfn < 0) throw new Error(`d${this.domid}: gfn ${gfn.toString(16)} is not populated`);
    return this.rig.hv.memory.bytes.subarray(mfn * XEN_PAGE_SIZE, (mfn + 1) * XEN_PAGE_SIZE);
  }

  /** Grants `gfn` (to Dom0 unless told otherwise), as gnttab_grant_foreign_access does. */
  grant(gfn: number, options: GrantOptions = {}): number {
    const ref = this.freeRefs.pop() ?? this.nextRef++;
    const flags = GTF_permit_access | (options.readonly === true ? GTF_readonly : 0);
    this.setGrant(ref, flags, options.to ?? 0, gfn);
    return ref;
  }

  /**
   * gnttab_end_foreign_access: clears the entry unless Dom0 still has it mapped (then, as
   * Linux does, the reference is left alone rather than reused).
   */
  endGrant(ref: number): void {
    const frame = this.table[Math.floor(ref / 512)];
    if (frame === undefined) return;
    const at = frame * XEN_PAGE_SIZE + (ref % 512) * 8;
    if (this.rig.hv.memory.view.getUint16(at, true) & (GTF_reading | GTF_writing)) return;
    this.setGrant(ref, 0, 0, 0);
    this.freeRefs.push(ref);
  }

  /** A grant reference the guest has never filled in. */
  unusedRef(): number {
    return this.nextRef++;
  }

  /** Writes grant entry `ref` (v1: flags, domid, frame), flags last as a guest must. */
  setGrant(ref: number, flags: number, domid: number, gfn: number): void {
    const frame = this.table[Math.floor(ref / 512)];
    if (frame === undefined) throw new Error(`grant ref ${ref} is past the table`);
    const view = this.rig.hv.memory.view;
    const at = frame * XEN_PAGE_SIZE + (ref % 512) * 8;
    view.setUint16(at + 2, domid, true);
    view.setUint32(at + 4, gfn, true);
    view.setUint16(at, flags, true);
  }

  /** An unbound event channel of the guest that Dom0 may bind (xenbus_alloc_evtchn). */
  allocPort(): number {
    const arg = { dom: DOMID_SELF, remote_dom: 0, port: 0 };
    const rc = this.domain.evtchn.allocUnbound(arg);
    if (rc < 0) throw new Error(`d${this.domid}: EVTCHNOP_alloc_unbound: ${rc}`);
    return arg.port;
  }

  /** EVTCHNOP_send on one of the guest's ports. */
  notify(port: number): void {
    this.domain.evtchn.send({ port });
  }

  /** Whether the guest's port is pending (Dom0 notified it). */
  pending(port: number): boolean {
    return this.domain.evtchn.isPending(port);
  }
}
