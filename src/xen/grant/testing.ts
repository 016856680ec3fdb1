/**
 * Test fixtures for the grant table: a small machine memory, a frame pool, and fake
 * GrantDomain objects that own RAM frames and count the references taken on them.
 */

import { grant_entry_v1, grant_entry_v2 } from '../../abi/grant_table.js';
import { PAGE_SIZE } from '../../x86/memory.js';
import { GrantTable } from './table.js';
import type { GrantDomain, GrantLimits, GrantMachine } from './types.js';

export class FakeMachine implements GrantMachine {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly #free: number[] = [];

  constructor(readonly frames: number) {
    const buffer = new SharedArrayBuffer(frames * PAGE_SIZE);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    for (let mfn = frames - 1; mfn >= 1; mfn--) this.#free.push(mfn); // frame 0 is never used
  }

  alloc(): number | undefined {
    return this.#free.pop();
  }

  free(mfn: number): void {
    this.#free.push(mfn);
  }

  get freeFrames(): number {
    return this.#free.length;
  }
}

export interface FakeDomainOptions {
  /** Guest frames of RAM (gfn 0 … ram-1). */
  ram?: number;
  external?: boolean;
  controls?: readonly number[];
  limits?: Partial<GrantLimits>;
}

export class FakeDomain implements GrantDomain {
  /** gfn → mfn of the domain's RAM. */
  readonly p2m = new Map<number, number>();
  /** Outstanding references by mfn: [read, write]. */
  readonly refs = new Map<number, [number, number]>();
  readonly xenFrames = new Set<number>();
  readonly freed: number[] = [];
  readonly dirty: number[] = [];
  /** Frames getFrame refuses for writing (a PV page table, say). */
  readonly noWrite = new Set<number>();
  oom = false;
  releasedCalls = 0;
  external: boolean;
  controlled: Set<number>;
  /** Called at the start of gfnToMfn and getFrame: lets a test race the operation. */
  onAccess: (() => void) | undefined;

  createHostMapping?(hostAddr: number, mfn: number, flags: number): number;
  destroyHostMapping?(hostAddr: number, mfn: number, flags: number, newAddr: number): number;

  constructor(
    readonly domid: number,
    readonly machine: FakeMachine,
    options: FakeDomainOptions = {},
  ) {
    this.external = options.external ?? false;
    this.controlled = new Set(options.controls ?? []);
    for (let gfn = 0; gfn < (options.ram ?? 4); gfn++) {
      const mfn = machine.alloc();
      if (mfn === undefined) throw new Error('fake machine out of frames');
      this.p2m.set(gfn, mfn);
    }
  }

  allocXenFrame(): number | undefined {
    if (this.oom) return undefined;
    const mfn = this.machine.alloc();
    if (mfn !== undefined) this.xenFrames.add(mfn);
    return mfn;
  }

  freeXenFrame(mfn: number): void {
    if (!this.xenFrames.delete(mfn)) throw new Error(`d${this.domid}: freeing ${mfn} twice`);
    this.freed.push(mfn);
    this.machine.free(mfn);
  }

  gfnToMfn(gfn: number): number | undefined {
    this.onAccess?.();
    return this.p2m.get(gfn);
  }

  ownsRam(mfn: number): boolean {
    for (const m of this.p2m.values()) if (m === mfn) return true;
    return false;
  }

  getFrame(mfn: number, writable: boolean): boolean {
    this.onAccess?.();
    if (!this.ownsRam(mfn)) return false;
    if (writable && this.noWrite.has(mfn)) return false;
    const r = this.refs.get(mfn) ?? [0, 0];
    r[writable ? 1 : 0]++;
    this.refs.set(mfn, r);
    return true;
  }

  putFrame(mfn: number, writable: boolean): void {
    const r = this.refs.get(mfn);
    if (r === undefined || r[writable ? 1 : 0] === 0) {
      throw new Error(`d${this.domid}: putFrame(${mfn}, ${writable}) without a reference`);
    }
    r[writable ? 1 : 0]--;
    if (r[0] === 0 && r[1] === 0) this.refs.delete(mfn);
  }

  controls(domid: number): boolean {
    return this.controlled.has(domid);
  }

  markDirty(mfn: number): void {
    this.dirty.push(mfn);
  }

  released(): void {
    this.releasedCalls++;
  }

  /** References outstanding on all frames. */
  get refCount(): number {
    let n = 0;
    for (const [r, w] of this.refs.values()) n += r + w;
    return n;
  }

  mfn(gfn: number): number {
    const mfn = this.p2m.get(gfn);
    if (mfn === undefined) throw new Error(`d${this.domid}: no gfn ${gfn}`);
    return mfn;
  }
}

/** Several domains with grant tables over one machine. */
export class World {
  readonly machine: FakeMachine;
  readonly domains = new Map<number, FakeDomain>();
  readonly tables = new Map<number, GrantTable>();
  readonly lookup = (domid: number): GrantTable | undefined => this.tables.get(domid);

  constructor(frames = 256) {
    this.machine = new FakeMachine(frames);
  }

  add(domid: number, options: FakeDomainOptions = {}): { dom: FakeDomain; gt: GrantTable } {
    const dom = new FakeDomain(domid, this.machine, options);
    const gt = new GrantTable(dom, this.machine, this.lookup, {
      maxFrames: 8,
      maxMaptrackFrames: 4,
      ...options.limits,
    });
    this.domains.set(domid, dom);
    this.tables.set(domid, gt);
    return { dom, gt };
  }

  get view(): DataView {
    return this.machine.view;
  }
}

/** Byte address of v1 entry `ref` of `gt` (which must be at version 1). */
export function v1Addr(gt: GrantTable, ref: number): number {
  const per = PAGE_SIZE / grant_entry_v1.size;
  return gt.sharedFrames[Math.floor(ref / per)]! * PAGE_SIZE + (ref % per) * grant_entry_v1.size;
}

/** Byte address of v2 entry `ref`. */
export function v2Addr(gt: GrantTable, ref: number): number {
  const per = PAGE_SIZE / grant_entry_v2.size;
  return gt.sharedFrames[Math.floor(ref / per)]! * PAGE_SIZE + (ref % per) * grant_entry_v2.size;
}

/** Byte address of v2 status entry `ref`. */
export function statusAddr(gt: GrantTable, ref: number): number {
  const per = PAGE_SIZE / 2;
  return gt.statusFrames[Math.floor(ref / per)]! * PAGE_SIZE + (ref % per) * 2;
}

/** Writes a v1 grant entry through the abi layout (frame last, flags last of all). */
export function grantV1(
  w: World,
  gt: GrantTable,
  ref: number,
  e: { flags: number; domid: number; frame: number },
): void {
  const at = v1Addr(gt, ref);
  grant_entry_v1.write(w.view, at, { frame: e.frame, domid: e.domid });
  grant_entry_v1.write(w.view, at, { flags: e.flags });
}

export function readV1(w: World, gt: GrantTable, ref: number) {
  return grant_entry_v1.read(w.view, v1Addr(gt, ref));
}

/** Writes a v2 full-page (or transfer) entry through the abi layout. */
export function grantV2(
  w: World,
  gt: GrantTable,
  ref: number,
  e: { flags: number; domid: number; frame: number | bigint },
): void {
  const at = v2Addr(gt, ref);
  grant_entry_v2.write(w.view, at, { full_page: { pad0: 0, frame: e.frame } });
  grant_entry_v2.write(w.view, at, { hdr: { flags: e.flags, domid: e.domid } });
}

export function grantV2SubPage(
  w: World,
  gt: GrantTable,
  ref: number,
  e: { flags: number; domid: number; frame: number; pageOff: number; length: number },
): void {
  const at = v2Addr(gt, ref);
  grant_entry_v2.write(w.view, at, {
    sub_page: { page_off: e.pageOff, length: e.length, frame: e.frame },
  });
  grant_entry_v2.write(w.view, at, { hdr: { flags: e.flags, domid: e.domid } });
}

export function grantV2Transitive(
  w: World,
  gt: GrantTable,
  ref: number,
  e: { flags: number; domid: number; transDomid: number; gref: number },
): void {
  const at = v2Addr(gt, ref);
  grant_entry_v2.write(w.view, at, {
    transitive: { trans_domid: e.transDomid, pad0: 0, gref: e.gref },
  });
  grant_entry_v2.write(w.view, at, { hdr: { flags: e.flags, domid: e.domid } });
}

export function readV2(w: World, gt: GrantTable, ref: number) {
  return grant_entry_v2.read(w.view, v2Addr(gt, ref));
}

export function readStatus(w: World, gt: GrantTable, ref: number): number {
  return w.view.getUint16(statusAddr(gt, ref), true);
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
