/**
 * A test frontend kit for Dom0's split-driver backends. `BackendRig` is an in-process
 * hypervisor (virtual clock) with Dom0's kernel, xenstored, blkback and netback on top, as
 * startDom0 puts them together; `FakeGuest` is a domain that runs no code but does, through
 * the hypervisor's guest interface, what a guest kernel does for its frontends: grant pages,
 * allocate event channels for Dom0, notify. `BlkFront` and `NetFront` then write the frontend
 * keys as xen-blkfront and xen-netfront write them and speak the blkif and netif rings —
 * requests in, responses out — and give raw access to rings, grants and keys so that a test
 * can also play a frontend that breaks every rule.
 */
import { XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm } from '../../../abi/domctl.js';
import {
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
} from '../../../abi/grant_table.js';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  blkif_request,
  blkif_response,
} from '../../../abi/io/blkif.js';
import {
  NETIF_RSP_NULL,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_extra_info,
  NETTXF_more_data,
  netif_extra_info,
  netif_rx_request,
  netif_rx_response,
  netif_tx_request,
  netif_tx_response,
  XEN_NETIF_EXTRA_TYPE_GSO,
} from '../../../abi/io/netif.js';
import {
  ringEntrySize,
  ringPushNeedsNotify,
  ringSize,
  ringSlotOffset,
  XEN_PAGE_SIZE,
} from '../../../abi/io/ring.js';
import {
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitWait,
} from '../../../abi/io/xenbus.js';
import { DOMID_SELF, XEN_X86_EMU_LAPIC } from '../../../abi/xen.js';
import type { Domain } from '../../../xen/common/domain.js';
import { createControlDomain, ExternalPort } from '../../../xen/external.js';
import { Hypervisor } from '../../../xen/hypervisor.js';
import { type CreateDomainConfig, XenCtrl } from '../../libs/ctrl.js';
import { EventChannelDevice } from '../../libs/evtchn.js';
import { Dom0Kernel } from '../../libs/kernel.js';
import type { HypercallArg, Privcmd } from '../../libs/privcmd.js';
import { storeAccess } from '../../libs/store-access.js';
import type { VifRate } from '../../toolstack/config/vif-spec.js';
import { addDiskStore } from '../../toolstack/disk-store.js';
import { addNicStore } from '../../toolstack/nic-store.js';
import { type LocalClient, Xenstored } from '../../xenstored/index.js';
import { BlockBackend } from '../blk/index.js';
import { NetBackend } from '../net/index.js';

/** How long (real time) a wait in this kit may take before the test fails instead of hanging. */
export const WAIT_MS = 5000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it gives something other than undefined or false; fails after `ms`
 * with `what` in the message, so a backend that never answers fails the test, never hangs it.
 */
export async function until<T>(
  what: string | (() => string),
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = WAIT_MS,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (let round = 0; ; round++) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    }
    // The backends' work is mostly microtasks and setImmediate upcalls; image I/O is real.
    await (round < 20 ? new Promise((resolve) => setImmediate(resolve)) : sleep(1));
  }
}

/** Lets pending upcalls, watches and image I/O run for about `ms` of real time. */
export async function settle(ms = 5): Promise<void> {
  const end = performance.now() + ms;
  do await new Promise((resolve) => setImmediate(resolve));
  while (performance.now() < end);
}

// ---------------------------------------------------------------------------------------
// The machine: hypervisor, Dom0 and its backends

const GUEST: CreateDomainConfig = {
  flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
  max_vcpus: 1,
  max_evtchn_port: 1023,
  max_grant_frames: 32,
  max_maptrack_frames: -1,
  grant_opts: 2,
  arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
};

export class BackendRig {
  /** Every line Dom0 logged, in order. */
  readonly logs: string[] = [];
  readonly log = (line: string): void => {
    this.logs.push(line);
  };
  readonly ctrl: XenCtrl;
  readonly events: EventChannelDevice;
  readonly xenstored: Xenstored;
  /** Dom0's own store connection (the toolstack's). */
  readonly store: LocalClient;
  readonly blkback: BlockBackend;
  readonly netback: NetBackend;

  private constructor(
    readonly hv: Hypervisor,
    readonly kernel: Dom0Kernel,
  ) {
    this.ctrl = new XenCtrl(kernel);
    this.events = new EventChannelDevice(kernel);
    const access = storeAccess(this.ctrl, this.events);
    this.xenstored = new Xenstored({ log: this.log, domains: access });
    access.onEvent = (port) => this.xenstored.eventFired(port);
    this.store = this.xenstored.connectLocal();
    const deps = { kernel, events: this.events, store: this.store, log: this.log };
    this.blkback = new BlockBackend(deps);
    this.netback = new NetBackend({ ...deps, uplink: false });
  }

  /**
   * A machine with Dom0 running blkback and netback (bridges without a host uplink).
   * `dom0Frames`: Dom0's RAM, which holds its hypercall buffers. `threaded`: each hypercall is answered a macrotask later, as when the hypervisor runs in
   * its worker thread, so that other work (upcalls, timers) can run while one is under way.
   */
  static async start(
    options: { threaded?: boolean; dom0Frames?: number } = {},
  ): Promise<BackendRig> {
    const hv = new Hypervisor({ memoryBytes: 96 << 20, clock: 'virtual' });
    // The host gives Dom0 4096 frames (machine-services.ts); a test may give it fewer.
    const ramFrames = options.dom0Frames ?? 4096;
    const dom0 = createControlDomain(hv, { ramFrames });
    const port = new ExternalPort(hv, dom0);
    const privcmd = options.threaded === true ? new DeferredPrivcmd(port) : port;
    const kernel = new Dom0Kernel(privcmd, { ramFrames });
    await kernel.start();
    const rig = new BackendRig(hv, kernel);
    if (privcmd instanceof DeferredPrivcmd) rig.holdHypercalls = () => privcmd.hold();
    await rig.store.write('/local/domain/0/name', 'Domain-0');
    await rig.store.write('/local/domain/0/domid', '0');
    await rig.blkback.start();
    await rig.netback.start();
    return rig;
  }

  /**
   * On a threaded rig: Dom0's hypercalls wait until the function returned is called (the
   * hypervisor's thread is busy); upcalls still come.
   */
  holdHypercalls: () => () => void = () => {
    throw new Error('hypercalls can be held on a threaded rig only');
  };

  /** A new guest domain, as the toolstack creates it (no code runs in it). */
  async guest(): Promise<FakeGuest> {
    const domid = await this.ctrl.createDomain(GUEST);
    await this.ctrl.setMaxMem(domid, 64 << 10);
    await this.store.write(`/local/domain/${domid}/name`, `guest${domid}`);
    const domain = this.hv.domains.get(domid);
    if (domain === undefined) throw new Error(`domain ${domid} was not created`);
    return new FakeGuest(this, domid, domain);
  }

  /** Log lines matching `pattern`. */
  logged(pattern: RegExp): string[] {
    return this.logs.filter((line) => pattern.test(line));
  }

  async close(): Promise<void> {
    await this.blkback.close();
    await this.netback.close();
  }
}

/**
 * A privcmd whose hypercalls complete a macrotask later, as across the worker thread; while
 * held, they wait (a hypervisor thread that is busy), so that a test can keep requests in
 * flight.
 */
class DeferredPrivcmd implements Privcmd {
  readonly machine: Uint8Array;
  readonly p2m: Int32Array;
  private held: (() => void)[] | undefined;

  constructor(private readonly port: ExternalPort) {
    this.machine = port.machine;
    this.p2m = port.p2m;
  }

  hypercall(op: number, args: readonly HypercallArg[]): Promise<number> {
    return new Promise((resolve) => {
      const run = () => setImmediate(() => resolve(this.port.hypercall(op, args)));
      if (this.held === undefined) run();
      else this.held.push(run);
    });
  }

  /** Holds hypercalls until the function returned is called. */
  hold(): () => void {
    this.held ??= [];
    return () => {
      const waiting = this.held ?? [];
      this.held = undefined;
      for (const run of waiting) run();
    };
  }

  onUpcall(handler: () => void): void {
    this.port.onUpcall(handler);
  }
}

// ---------------------------------------------------------------------------------------
// A guest's side of grants and event channels

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

// ---------------------------------------------------------------------------------------
// The frontend's end of a shared ring

/** A frontend's end of a shared ring (io/ring.h's front ring), over the guest's ring pages. */
export class FrontRing {
  readonly size: number;
  reqProdPvt = 0;
  rspCons = 0;
  private readonly header: DataView;

  constructor(
    private readonly pages: readonly Uint8Array[],
    readonly entrySize: number,
  ) {
    const first = pages[0]!;
    this.header = new DataView(first.buffer, first.byteOffset, 16);
    this.size = ringSize(entrySize, pages.length * XEN_PAGE_SIZE);
    // SHARED_RING_INIT
    this.reqProd = 0;
    this.rspProd = 0;
    this.header.setUint32(4, 1, true);
    this.header.setUint32(12, 1, true);
  }

  get reqProd(): number {
    return this.header.getUint32(0, true);
  }
  /** Publishes any req_prod, sensible or not. */
  set reqProd(value: number) {
    this.header.setUint32(0, value >>> 0, true);
  }
  get reqEvent(): number {
    return this.header.getUint32(4, true);
  }
  get rspProd(): number {
    return this.header.getUint32(8, true);
  }
  private set rspProd(value: number) {
    this.header.setUint32(8, value >>> 0, true);
  }

  /** Slots free for requests (RING_FREE_REQUESTS). */
  free(): number {
    return this.size - ((this.reqProdPvt - this.rspCons) >>> 0);
  }

  /** Writes `bytes` into the slot for free-running index `index` (it may straddle pages). */
  writeSlot(index: number, bytes: Uint8Array): void {
    this.walk(index, bytes.length, (page, at, n, done) =>
      page.set(bytes.subarray(done, done + n), at),
    );
  }

  /** A copy of the slot for `index`. */
  readSlot(index: number): DataView {
    const out = new Uint8Array(this.entrySize);
    this.walk(index, this.entrySize, (page, at, n, done) =>
      out.set(page.subarray(at, at + n), done),
    );
    return new DataView(out.buffer);
  }

  /** Puts a request in the next slot, unpublished; its index. */
  put(request: Uint8Array): number {
    const index = this.reqProdPvt;
    this.writeSlot(index, request);
    this.reqProdPvt = (index + 1) >>> 0;
    return index;
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: true if the backend asked to be notified. */
  push(): boolean {
    const old = this.reqProd;
    this.reqProd = this.reqProdPvt;
    return ringPushNeedsNotify(old, this.reqProdPvt, this.reqEvent);
  }

  /** Responses published and not yet taken. */
  unconsumed(): number {
    return (this.rspProd - this.rspCons) >>> 0;
  }

  /** A copy of the response `ahead` slots past the next one to take. */
  peek(ahead = 0): DataView {
    return this.readSlot((this.rspCons + ahead) >>> 0);
  }

  /** Takes `count` responses; then asks to be notified of the next (final check). */
  take(count = 1): void {
    this.rspCons = (this.rspCons + count) >>> 0;
    this.header.setUint32(12, (this.rspCons + 1) >>> 0, true);
  }

  private walk(
    index: number,
    length: number,
    part: (page: Uint8Array, at: number, n: number, done: number) => void,
  ): void {
    let offset = ringSlotOffset(index, this.size, this.entrySize);
    let done = 0;
    while (done < length) {
      const page = this.pages[Math.floor(offset / XEN_PAGE_SIZE)]!;
      const at = offset % XEN_PAGE_SIZE;
      const n = Math.min(length - done, XEN_PAGE_SIZE - at);
      part(page, at, n, done);
      done += n;
      offset += n;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Shared frontend plumbing: keys, states

/** Keys a test changes from what the frontend driver writes: undefined leaves a key out. */
export type KeyOverrides = Readonly<Record<string, string | undefined>>;

abstract class Frontend {
  constructor(
    readonly guest: FakeGuest,
    /** /local/domain/0/backend/<kind>/<domid>/<devid> */
    readonly backend: string,
    /** /local/domain/<domid>/device/<kind>/<devid> */
    readonly frontend: string,
  ) {}

  /** The backend's xenbus state (0 if it wrote none). */
  async backendState(): Promise<number> {
    return Number((await this.guest.store.tryRead(`${this.backend}/state`)) ?? 0);
  }

  /** Waits until the backend is in `state`. */
  async waitBackend(state: number): Promise<void> {
    let last = 0;
    await until(
      () => `${this.backend} state ${state} (it is ${last})`,
      async () => {
        last = await this.backendState();
        if (last === state) return true;
        if (last === XenbusStateClosing && state < XenbusStateClosing) {
          const why = await this.hotplugError();
          throw new Error(`${this.backend} closed instead of reaching ${state}: ${why}`);
        }
        return false;
      },
    );
  }

  /** What the backend wrote to hotplug-error, if anything. */
  hotplugError(): Promise<string | undefined> {
    return this.guest.store.tryRead(`${this.backend}/hotplug-error`);
  }

  /** Sets the frontend's xenbus state. */
  setState(state: number): Promise<void> {
    return this.guest.store.write(`${this.frontend}/state`, String(state));
  }

  /**
   * Closes the device as a frontend being removed does (Closing, then Closed once the backend
   * has let go of the rings) and gives its grants and pages back.
   */
  async close(): Promise<void> {
    await this.setState(XenbusStateClosing);
    await until(
      `${this.backend} Closing`,
      async () => (await this.backendState()) >= XenbusStateClosing,
    );
    await this.setState(XenbusStateClosed);
    await this.waitBackend(XenbusStateClosed);
    this.release();
  }

  /** Ends the grants of the rings and buffers and frees their pages. */
  protected abstract release(): void;

  /** Ends a page's grant and frees it. */
  protected drop(page: { gfn: number; gref: number }): void {
    this.guest.endGrant(page.gref);
    this.guest.freePage(page.gfn);
  }

  /** Writes the frontend's keys, with a test's changes applied. */
  protected async writeKeys(keys: Map<string, string>, overrides: KeyOverrides): Promise<void> {
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) keys.delete(key);
      else keys.set(key, value);
    }
    for (const [key, value] of keys) {
      await this.guest.store.write(`${this.frontend}/${key}`, value);
    }
  }
}

// ---------------------------------------------------------------------------------------
// xen-blkfront

export const BLKIF_ENTRY_SIZE = ringEntrySize(blkif_request, blkif_response);
const BLK = blkif_request.offsets;

export interface BlkFrontOptions {
  /** The image file, as `target` of the disk (raw). */
  image: string;
  /** Default 51712 (xvda). */
  devid?: number;
  access?: 'r' | 'rw';
  /** Rings (multi-queue-num-queues); default 1. */
  queues?: number;
  /** ring-page-order; default 0 (one page, key left out as blkfront does). */
  ringPageOrder?: number;
  /** feature-persistent; default true, as blkfront offers. */
  persistent?: boolean;
  keys?: KeyOverrides;
  /** Wait for Connected (default); false returns once the keys and Initialised are written. */
  waitConnected?: boolean;
}

/** One blkif segment: a granted page and the sectors of it (inclusive). */
export interface BlkSegment {
  gref: number;
  first: number;
  last: number;
}

export interface BlkResponse {
  id: number;
  operation: number;
  status: number;
}

export class BlkFront extends Frontend {
  readonly rings: FrontRing[] = [];
  readonly ports: number[] = [];
  /** Responses taken off the rings, by request id. */
  readonly responses = new Map<number, BlkResponse>();
  private nextId = 1;
  /**
   * Granted data pages for requests, reused as xen-blkfront reuses its persistently granted
   * pages (a backend keeping them mapped sees the same references again).
   */
  private readonly pool: { gfn: number; gref: number }[] = [];
  private readonly ringPages: { gfn: number; gref: number }[] = [];

  /** Adds the disk to the store as libxl does, then connects as xen-blkfront does. */
  static async attach(guest: FakeGuest, options: BlkFrontOptions): Promise<BlkFront> {
    const devid = options.devid ?? 51712;
    const backend = await addDiskStore(guest.rig.store, guest.domid, {
      target: options.image,
      format: 'raw',
      vdev: `xvd${String.fromCharCode(97 + ((devid >> 4) & 15))}`,
      devid,
      access: options.access ?? 'rw',
      devtype: 'disk',
    });
    const front = new BlkFront(guest, backend, `/local/domain/${guest.domid}/device/vbd/${devid}`);
    await front.connect(options);
    return front;
  }

  private async connect(options: BlkFrontOptions): Promise<void> {
    const { guest } = this;
    await this.waitBackend(XenbusStateInitWait);
    const queues = options.queues ?? 1;
    const order = options.ringPageOrder ?? 0;
    const keys = new Map<string, string>();
    if (order > 0) keys.set('ring-page-order', String(order));
    if (queues > 1) keys.set('multi-queue-num-queues', String(queues));
    for (let q = 0; q < queues; q++) {
      const pages: number[] = [];
      for (let i = 0; i < 2 ** order; i++) pages.push(guest.page());
      this.rings.push(
        new FrontRing(
          pages.map((gfn) => guest.bytes(gfn)),
          BLKIF_ENTRY_SIZE,
        ),
      );
      const port = guest.allocPort();
      this.ports.push(port);
      const dir = queues > 1 ? `queue-${q}/` : '';
      const refs = pages.map((gfn) => guest.grant(gfn));
      for (const [i, gfn] of pages.entries()) this.ringPages.push({ gfn, gref: refs[i]! });
      if (order === 0) keys.set(`${dir}ring-ref`, String(refs[0]));
      else for (const [i, ref] of refs.entries()) keys.set(`${dir}ring-ref${i}`, String(ref));
      keys.set(`${dir}event-channel`, String(port));
    }
    keys.set('protocol', 'x86_64-abi');
    keys.set('feature-persistent', options.persistent === false ? '0' : '1');
    await this.writeKeys(keys, options.keys ?? {});
    await this.setState(XenbusStateInitialised);
    if (options.waitConnected === false) return;
    await this.waitBackend(XenbusStateConnected);
    await this.setState(XenbusStateConnected);
  }

  /** The disk's size in sectors, as the backend published it. */
  async sectors(): Promise<number> {
    return Number(await this.guest.store.read(`${this.backend}/sectors`));
  }

  /** A fresh request id. */
  id(): number {
    return this.nextId++;
  }

  /**
   * Puts raw request bytes in queue `q`'s ring and publishes them; notifies the backend when
   * it asked to be (or always, with `force`).
   */
  submit(request: Uint8Array, q = 0, force = false): void {
    const ring = this.rings[q]!;
    ring.put(request);
    if (ring.push() || force) this.guest.notify(this.ports[q]!);
  }

  /** A read or write request's bytes. */
  static readWrite(
    op: number,
    id: number,
    sector: number,
    segments: readonly BlkSegment[],
  ): Uint8Array {
    const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    view.setUint8(BLK.operation, op);
    view.setUint8(BLK.nr_segments, segments.length);
    view.setUint32(BLK.id, id, true);
    view.setUint32(BLK.sector_number, sector % 2 ** 32, true);
    view.setUint32(BLK.sector_number + 4, Math.floor(sector / 2 ** 32), true);
    segments.slice(0, BLKIF_MAX_SEGMENTS_PER_REQUEST).forEach((s, i) => {
      view.setUint32(BLK.seg + i * 8, s.gref, true);
      view.setUint8(BLK.seg + i * 8 + 4, s.first);
      view.setUint8(BLK.seg + i * 8 + 5, s.last);
    });
    return bytes;
  }

  /** Takes every published response off the rings. */
  collect(): void {
    for (const ring of this.rings) {
      while (ring.unconsumed() > 0) {
        const slot = ring.peek();
        ring.take();
        const id = slot.getUint32(0, true);
        this.responses.set(id, {
          id,
          operation: slot.getUint8(blkif_response.offsets.operation),
          status: slot.getInt16(blkif_response.offsets.status, true),
        });
      }
    }
  }

  /** Waits for the response to request `id`. */
  async response(id: number): Promise<BlkResponse> {
    return until(`${this.backend}: response to request ${id}`, () => {
      this.collect();
      return this.responses.get(id);
    });
  }

  /**
   * Reads `count` sectors (up to 88: eleven pages) at `sector` into fresh granted pages;
   * `readonly` grants them read-only (which the backend must refuse to write).
   */
  async read(
    sector: number,
    count: number,
    options: { queue?: number; readonly?: boolean } = {},
  ): Promise<{ status: number; data: Uint8Array }> {
    const pages = this.pagesFor(count, options.readonly === true);
    const id = this.id();
    this.submit(BlkFront.readWrite(BLKIF_OP_READ, id, sector, pages), options.queue ?? 0);
    const { status } = await this.response(id);
    const data = new Uint8Array(count * 512);
    let at = 0;
    for (const { gfn, first, last } of pages) {
      const bytes = this.guest.bytes(gfn).subarray(first * 512, (last + 1) * 512);
      data.set(bytes, at);
      at += bytes.length;
    }
    this.recycle(pages, options.readonly === true);
    return { status, data };
  }

  /** Writes `data` (whole sectors, up to 88) at `sector` from granted pages. */
  async write(sector: number, data: Uint8Array, options: { queue?: number } = {}): Promise<number> {
    const pages = this.pagesFor(data.length / 512, false);
    let at = 0;
    for (const { gfn, first, last } of pages) {
      const length = (last - first + 1) * 512;
      this.guest.bytes(gfn).set(data.subarray(at, at + length), first * 512);
      at += length;
    }
    const id = this.id();
    this.submit(BlkFront.readWrite(BLKIF_OP_WRITE, id, sector, pages), options.queue ?? 0);
    const { status } = await this.response(id);
    this.recycle(pages, false);
    return status;
  }

  /** Granted pages for `count` sectors: from the pool, or (read-only) granted afresh. */
  private pagesFor(count: number, readonly: boolean): (BlkSegment & { gfn: number })[] {
    if (!Number.isInteger(count) || count < 1 || count > 88)
      throw new RangeError(`${count} sectors`);
    const pages = [];
    for (let done = 0; done < count; done += 8) {
      let page = readonly ? undefined : this.pool.pop();
      if (page === undefined) {
        const gfn = this.guest.page();
        page = { gfn, gref: this.guest.grant(gfn, { readonly }) };
      }
      pages.push({ ...page, first: 0, last: Math.min(8, count - done) - 1 });
    }
    return pages;
  }

  private recycle(pages: readonly { gfn: number; gref: number }[], readonly: boolean): void {
    for (const { gfn, gref } of pages) {
      if (readonly) this.drop({ gfn, gref });
      else this.pool.push({ gfn, gref });
    }
  }

  protected release(): void {
    for (const page of this.pool.splice(0)) this.drop(page);
    for (const page of this.ringPages.splice(0)) this.drop(page);
  }
}

// ---------------------------------------------------------------------------------------
// xen-netfront

export const NETIF_TX_ENTRY_SIZE = ringEntrySize(netif_tx_request, netif_tx_response);
export const NETIF_RX_ENTRY_SIZE = ringEntrySize(netif_rx_request, netif_rx_response);
const TX = netif_tx_request.offsets;
const RX = netif_rx_response.offsets;
const EXTRA = netif_extra_info.offsets;

export interface NetFrontOptions {
  /** xx:xx:xx:xx:xx:xx */
  mac: string;
  devid?: number;
  /** Default xenbr0. */
  bridge?: string;
  /** Queues (multi-queue-num-queues, queue-N keys when more than one); default 1. */
  queues?: number;
  /** Separate tx and rx event channels (default), as netfront prefers when offered. */
  split?: boolean;
  rate?: VifRate;
  keys?: KeyOverrides;
  /** Wait for Connected (default); false returns once the keys and Connected are written. */
  waitConnected?: boolean;
}

export interface NetQueueFront {
  tx: FrontRing;
  rx: FrontRing;
  txPort: number;
  rxPort: number;
  txRef: number;
  rxRef: number;
  txGfn: number;
  rxGfn: number;
  /** Posted receive buffers by request id. */
  rxBuffers: Map<number, { gfn: number; gref: number }>;
  /** Pages of transmit requests sent with `send`, by request id, until their response. */
  txBuffers: Map<number, { gfn: number; gref: number }>;
}

export interface TxOptions {
  queue?: number;
  /**
   * The bytes of each slot, in order (default: the whole frame in one); they must add up to
   * the frame's length. The first request's size is still the whole packet's, as netif says.
   */
  slots?: readonly number[];
  /** Where in its page each slot's bytes start (default 0). */
  offset?: number;
  /** NETTXF_* flags for the first request besides more_data and extra_info. */
  flags?: number;
  /** A GSO extra-info slot after the first request. */
  gso?: { type: number; size: number };
}

export interface RxPacket {
  queue: number;
  data: Uint8Array;
  /** The first response's NETRXF_* flags. */
  flags: number;
  /** From the GSO extra-info slot. */
  gso?: { type: number; size: number };
  /** Every data response's status (bytes, or a negative NETIF_RSP_*). */
  statuses: number[];
}

export interface TxResponse {
  queue: number;
  id: number;
  status: number;
}

export class NetFront extends Frontend {
  readonly queues: NetQueueFront[] = [];
  readonly received: RxPacket[] = [];
  readonly txResponses: TxResponse[] = [];
  /** The vif's MAC, as the toolstack wrote it. */
  mac = '';
  private nextTxId = 0;

  /** Adds the vif to the store as libxl does, then connects as xen-netfront does. */
  static async attach(guest: FakeGuest, options: NetFrontOptions): Promise<NetFront> {
    const devid = options.devid ?? 0;
    const backend = await addNicStore(guest.rig.store, guest.domid, {
      devid,
      mac: options.mac,
      bridge: options.bridge ?? 'xenbr0',
      mtu: 1500,
      script: 'vif-bridge',
      ...(options.rate === undefined ? {} : { rate: options.rate }),
    });
    const front = new NetFront(guest, backend, `/local/domain/${guest.domid}/device/vif/${devid}`);
    front.mac = options.mac;
    await front.connect(options);
    return front;
  }

  private async connect(options: NetFrontOptions): Promise<void> {
    const { guest } = this;
    await this.waitBackend(XenbusStateInitWait);
    const count = options.queues ?? 1;
    const split = options.split !== false;
    const keys = new Map<string, string>();
    if (count > 1) keys.set('multi-queue-num-queues', String(count));
    for (let q = 0; q < count; q++) {
      const txGfn = guest.page();
      const rxGfn = guest.page();
      const txPort = guest.allocPort();
      const rxPort = split ? guest.allocPort() : txPort;
      const queue: NetQueueFront = {
        tx: new FrontRing([guest.bytes(txGfn)], NETIF_TX_ENTRY_SIZE),
        rx: new FrontRing([guest.bytes(rxGfn)], NETIF_RX_ENTRY_SIZE),
        txPort,
        rxPort,
        txRef: guest.grant(txGfn),
        rxRef: guest.grant(rxGfn),
        txGfn,
        rxGfn,
        rxBuffers: new Map(),
        txBuffers: new Map(),
      };
      this.queues.push(queue);
      const dir = count > 1 ? `queue-${q}/` : '';
      keys.set(`${dir}tx-ring-ref`, String(queue.txRef));
      keys.set(`${dir}rx-ring-ref`, String(queue.rxRef));
      if (split) {
        keys.set(`${dir}event-channel-tx`, String(txPort));
        keys.set(`${dir}event-channel-rx`, String(rxPort));
      } else {
        keys.set(`${dir}event-channel`, String(txPort));
      }
    }
    keys.set('request-rx-copy', '1');
    keys.set('feature-rx-notify', '1');
    keys.set('feature-sg', '1');
    keys.set('feature-gso-tcpv4', '1');
    keys.set('feature-gso-tcpv6', '1');
    keys.set('feature-ipv6-csum-offload', '1');
    await this.writeKeys(keys, options.keys ?? {});
    await this.setState(XenbusStateConnected);
    if (options.waitConnected === false) return;
    await this.waitBackend(XenbusStateConnected);
  }

  protected release(): void {
    for (const queue of this.queues) {
      for (const buffer of queue.rxBuffers.values()) this.drop(buffer);
      for (const buffer of queue.txBuffers.values()) this.drop(buffer);
      queue.rxBuffers.clear();
      queue.txBuffers.clear();
      this.drop({ gfn: queue.txGfn, gref: queue.txRef });
      this.drop({ gfn: queue.rxGfn, gref: queue.rxRef });
    }
  }

  /** Posts `count` receive buffers (fresh granted pages) on a queue and notifies. */
  postRx(count: number, options: { queue?: number; readonly?: boolean } = {}): void {
    const queue = this.queues[options.queue ?? 0]!;
    const { rx } = queue;
    for (let i = 0; i < count; i++) {
      // netfront's ids are the slot's index in the ring.
      const id = rx.reqProdPvt & (rx.size - 1);
      const gfn = this.guest.page();
      const gref = this.guest.grant(gfn, { readonly: options.readonly === true });
      const bytes = new Uint8Array(NETIF_RX_ENTRY_SIZE);
      const view = new DataView(bytes.buffer);
      view.setUint16(netif_rx_request.offsets.id, id, true);
      view.setUint32(netif_rx_request.offsets.gref, gref, true);
      rx.put(bytes);
      queue.rxBuffers.set(id, { gfn, gref });
    }
    if (rx.push()) this.guest.notify(queue.rxPort);
  }

  /** A transmit request's bytes. */
  static txRequest(fields: {
    gref: number;
    offset?: number;
    flags?: number;
    id?: number;
    size: number;
  }): Uint8Array {
    const bytes = new Uint8Array(NETIF_TX_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    view.setUint32(TX.gref, fields.gref, true);
    view.setUint16(TX.offset, fields.offset ?? 0, true);
    view.setUint16(TX.flags, fields.flags ?? 0, true);
    view.setUint16(TX.id, fields.id ?? 0, true);
    view.setUint16(TX.size, fields.size, true);
    return bytes;
  }

  /** An extra-info slot's bytes (type, flags, then the GSO size and type). */
  static extraInfo(type: number, gso: { size: number; type: number }, flags = 0): Uint8Array {
    const bytes = new Uint8Array(NETIF_TX_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    view.setUint8(EXTRA.type, type);
    view.setUint8(EXTRA.flags, flags);
    view.setUint16(EXTRA.u, gso.size, true);
    view.setUint8(EXTRA.u + 2, gso.type);
    return bytes;
  }

  /** A fresh transmit id. */
  txId(): number {
    const id = this.nextTxId;
    this.nextTxId = (id + 1) & 0xffff;
    return id;
  }

  /**
   * Sends `frame` as netfront does: each slot's bytes on a page granted read-only, the first
   * request carrying the packet's size, a GSO extra-info slot after it if asked. Returns the
   * ids of the data requests, in order.
   */
  send(frame: Uint8Array, options: TxOptions = {}): number[] {
    const queue = this.queues[options.queue ?? 0]!;
    const sizes = options.slots ?? [frame.length];
    if (sizes.reduce((a, b) => a + b, 0) !== frame.length) throw new RangeError('slot sizes');
    const offset = options.offset ?? 0;
    const ids: number[] = [];
    let at = 0;
    sizes.forEach((size, i) => {
      const gfn = this.guest.page();
      this.guest.bytes(gfn).set(frame.subarray(at, at + size), offset);
      at += size;
      const gref = this.guest.grant(gfn, { readonly: true });
      let flags = i + 1 < sizes.length ? NETTXF_more_data : 0;
      if (i === 0) {
        flags |= options.flags ?? 0;
        if (options.gso !== undefined) flags |= NETTXF_extra_info;
      }
      const id = this.txId();
      ids.push(id);
      queue.txBuffers.set(id, { gfn, gref });
      queue.tx.put(
        NetFront.txRequest({ gref, offset, flags, id, size: i === 0 ? frame.length : size }),
      );
      if (i === 0 && options.gso !== undefined) {
        queue.tx.put(NetFront.extraInfo(XEN_NETIF_EXTRA_TYPE_GSO, options.gso));
      }
    });
    if (queue.tx.push()) this.guest.notify(queue.txPort);
    return ids;
  }

  /** Puts raw slots on a queue's transmit ring, publishes them and notifies. */
  sendRaw(slots: readonly Uint8Array[], queue = 0): void {
    const q = this.queues[queue]!;
    for (const slot of slots) q.tx.put(slot);
    q.tx.push();
    this.guest.notify(q.txPort);
  }

  /** Takes the transmit responses published so far into `txResponses`. */
  collectTx(): void {
    this.queues.forEach((queue, q) => {
      const { tx } = queue;
      while (tx.unconsumed() > 0) {
        const slot = tx.peek();
        tx.take();
        const id = slot.getUint16(netif_tx_response.offsets.id, true);
        const status = slot.getInt16(netif_tx_response.offsets.status, true);
        this.txResponses.push({ queue: q, id, status });
        const buffer = status === NETIF_RSP_NULL ? undefined : queue.txBuffers.get(id);
        if (buffer !== undefined) {
          queue.txBuffers.delete(id);
          this.guest.endGrant(buffer.gref);
          this.guest.freePage(buffer.gfn);
        }
      }
    });
  }

  /** Waits until `count` transmit responses have come in all told. */
  async waitTx(count: number): Promise<TxResponse[]> {
    return until(`${this.backend}: ${count} tx responses`, () => {
      this.collectTx();
      return this.txResponses.length >= count && this.txResponses;
    });
  }

  /** Takes every whole packet published on the receive rings into `received`. */
  collectRx(): void {
    this.queues.forEach((queue, q) => {
      for (;;) {
        const packet = this.nextPacket(queue, q);
        if (packet === undefined) return;
        this.received.push(packet);
      }
    });
  }

  /** Waits until `count` packets have been received all told. */
  async waitRx(count: number): Promise<RxPacket[]> {
    return until(`${this.backend}: ${count} packets received`, () => {
      this.collectRx();
      return this.received.length >= count && this.received;
    });
  }

  /** Responses on a queue's receive ring not yet taken. */
  rxPending(queue = 0): number {
    return this.queues[queue]!.rx.unconsumed();
  }

  /** One packet off a receive ring as xennet_get_responses reads it, if all of it is there. */
  private nextPacket(queue: NetQueueFront, q: number): RxPacket | undefined {
    const { rx } = queue;
    const available = rx.unconsumed();
    if (available === 0) return undefined;
    // First find the packet's extent without taking anything.
    let ahead = 0;
    const first = rx.peek(0);
    const flags = first.getUint16(RX.flags, true);
    let gso: RxPacket['gso'];
    const data: Uint8Array[] = [];
    const statuses: number[] = [];
    let slot: DataView = first;
    for (;;) {
      const status = slot.getInt16(RX.status, true);
      statuses.push(status);
      const buffer = queue.rxBuffers.get(slot.getUint16(RX.id, true));
      if (status > 0 && buffer !== undefined) {
        const offset = slot.getUint16(RX.offset, true);
        data.push(this.guest.bytes(buffer.gfn).slice(offset, offset + status));
      }
      const more = (slot.getUint16(RX.flags, true) & NETRXF_more_data) !== 0;
      if (ahead === 0 && (flags & NETRXF_extra_info) !== 0) {
        if (++ahead >= available) return undefined;
        const extra = rx.peek(ahead);
        if (extra.getUint8(EXTRA.type) === XEN_NETIF_EXTRA_TYPE_GSO) {
          gso = { size: extra.getUint16(EXTRA.u, true), type: extra.getUint8(EXTRA.u + 2) };
        }
      }
      if (!more) break;
      if (++ahead >= available) return undefined;
      slot = rx.peek(ahead);
    }
    for (let i = 0; i <= ahead; i++) {
      const id = (rx.rspCons + i) & (rx.size - 1);
      const buffer = queue.rxBuffers.get(id);
      if (buffer === undefined) continue;
      queue.rxBuffers.delete(id);
      this.guest.endGrant(buffer.gref);
      this.guest.freePage(buffer.gfn);
    }
    rx.take(ahead + 1);
    const length = data.reduce((n, d) => n + d.length, 0);
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const d of data) {
      bytes.set(d, at);
      at += d.length;
    }
    return { queue: q, data: bytes, flags, statuses, ...(gso === undefined ? {} : { gso }) };
  }
}

// ---------------------------------------------------------------------------------------
// Frames and randomness for tests

/** A MAC address's six bytes. */
export function macBytes(mac: string): number[] {
  return mac.split(':').map((part) => Number.parseInt(part, 16));
}

/**
 * An Ethernet frame carrying IPv4/TCP from `src` to `dst` (MACs) with `payload` bytes of a
 * pattern seeded by `seed`; the TCP ports and addresses come from `flow` so that different
 * flows hash to different queues. Checksums are left blank (CHECKSUM_PARTIAL's pseudo-header
 * sum is not needed for the bridge to pass it on).
 */
export function tcpFrame(
  dst: string,
  src: string,
  payload: number,
  seed = 0,
  flow = 0,
): Uint8Array {
  const frame = new Uint8Array(14 + 20 + 20 + payload);
  const view = new DataView(frame.buffer);
  frame.set(macBytes(dst), 0);
  frame.set(macBytes(src), 6);
  view.setUint16(12, 0x0800);
  view.setUint8(14, 0x45);
  view.setUint16(16, 20 + 20 + payload > 0xffff ? 0 : 20 + 20 + payload);
  view.setUint8(22, 64);
  view.setUint8(23, 6);
  view.setUint32(26, 0x0a000001 + flow);
  view.setUint32(30, 0x0a000002 + flow * 7);
  view.setUint16(34, 1024 + flow);
  view.setUint16(36, 80);
  view.setUint8(46, 0x50);
  view.setUint8(47, 0x18);
  for (let i = 0; i < payload; i++) frame[54 + i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return frame;
}

/** mulberry32: a small seeded PRNG, so that a fuzz run that fails can be run again. */
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
