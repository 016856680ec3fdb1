/**
 * Test doubles for the event-channel module: fake domains backed by plain shared buffers,
 * and small guest-side models of what Linux's events_2l.c and events_fifo.c do with the
 * memory Xen writes. Used by the tests here; usable by the hypervisor core's tests too.
 */

import {
  EVTCHN_FIFO_BUSY,
  EVTCHN_FIFO_LINK_MASK,
  EVTCHN_FIFO_LINKED,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_MAX_QUEUES,
  EVTCHN_FIFO_PENDING,
  evtchn_fifo_control_block,
} from '../../abi/event_channel.js';
import { shared_info, vcpu_info, XEN_LEGACY_MAX_VCPUS } from '../../abi/xen.js';
import { cmpxchg32, load32, store32, testAndClearBit, testBit, xchg32 } from './atomic.js';
import { EventChannels } from './channels.js';
import type { EvtchnDomain } from './types.js';
import { GlobalVirqHandlers } from './virq.js';

export const PAGE = 4096;

export interface FakeDomainOptions {
  vcpus?: number;
  privileged?: boolean;
  /** Guest RAM frames (gfn 0 .. ramFrames-1). */
  ramFrames?: number;
  maxEvtchnPort?: number;
  /** Back memory with an ArrayBuffer instead of a SharedArrayBuffer. */
  unshared?: boolean;
}

/** An EvtchnDomain over plain buffers that records what the event code asked of it. */
export class FakeDomain implements EvtchnDomain {
  readonly vcpuCount: number;
  isPrivileged: boolean;
  readonly maxEvtchnPort?: number;
  readonly shared: DataView;
  readonly ram: DataView;
  readonly ramFrames: number;
  /** shared_info exists (a test may withdraw it). */
  sharedInfoReady = true;
  /** vcpu_info registered elsewhere (VCPUOP_register_vcpu_info). */
  readonly registeredVcpuInfo = new Map<number, { view: DataView; offset: number }>();
  /** Every kick, by vCPU, in order. */
  readonly kicks: number[] = [];
  /** Every checkPollers call, by port. */
  readonly polled: number[] = [];
  /** Frames currently mapped through mapGuestFrame (gfn → count). */
  readonly mapped = new Map<number, number>();
  pausedByController = false;

  constructor(
    readonly domid: number,
    options: FakeDomainOptions = {},
  ) {
    this.vcpuCount = options.vcpus ?? 2;
    this.isPrivileged = options.privileged ?? false;
    if (options.maxEvtchnPort !== undefined) this.maxEvtchnPort = options.maxEvtchnPort;
    this.ramFrames = options.ramFrames ?? 16;
    const make = (n: number) => (options.unshared ? new ArrayBuffer(n) : new SharedArrayBuffer(n));
    this.shared = new DataView(make(PAGE));
    this.ram = new DataView(make(PAGE * this.ramFrames));
  }

  sharedInfo(): DataView | undefined {
    return this.sharedInfoReady ? this.shared : undefined;
  }

  vcpuInfo(vcpu: number): { view: DataView; offset: number } | undefined {
    const registered = this.registeredVcpuInfo.get(vcpu);
    if (registered !== undefined) return registered;
    if (!this.sharedInfoReady || vcpu >= XEN_LEGACY_MAX_VCPUS) return undefined;
    return { view: this.shared, offset: vcpu * vcpu_info.size };
  }

  mapGuestFrame(gfn: number): DataView | undefined {
    if (!(Number.isInteger(gfn) && gfn >= 0 && gfn < this.ramFrames)) return undefined;
    this.mapped.set(gfn, (this.mapped.get(gfn) ?? 0) + 1);
    return this.frame(gfn);
  }

  releaseGuestFrame(gfn: number): void {
    const n = this.mapped.get(gfn) ?? 0;
    if (n <= 1) this.mapped.delete(gfn);
    else this.mapped.set(gfn, n - 1);
  }

  kick(vcpu: number): void {
    this.kicks.push(vcpu);
  }

  checkPollers(port: number): void {
    this.polled.push(port);
  }

  isPausedByController(): boolean {
    return this.pausedByController;
  }

  /** A view of guest frame `gfn`, as the guest itself sees it. */
  frame(gfn: number): DataView {
    return new DataView(this.ram.buffer, gfn * PAGE, PAGE);
  }

  // --- shared_info / vcpu_info as the guest reads them ---

  pendingBit(port: number): boolean {
    return testBit(this.shared, shared_info.offsets.evtchn_pending, port);
  }

  maskBit(port: number): boolean {
    return testBit(this.shared, shared_info.offsets.evtchn_mask, port);
  }

  setMask(port: number, masked: boolean): void {
    const at = shared_info.offsets.evtchn_mask + (port >> 3);
    const bit = 1 << (port & 7);
    const old = this.shared.getUint8(at);
    this.shared.setUint8(at, masked ? old | bit : old & ~bit);
  }

  upcallPending(vcpu: number): boolean {
    const info = this.vcpuInfo(vcpu)!;
    return info.view.getUint8(info.offset + vcpu_info.offsets.evtchn_upcall_pending) !== 0;
  }

  /** The vCPU's evtchn_pending_sel as a list of set word indexes. */
  selector(vcpu: number): number[] {
    const info = this.vcpuInfo(vcpu)!;
    const out: number[] = [];
    for (let w = 0; w < 64; w++) {
      if (testBit(info.view, info.offset + vcpu_info.offsets.evtchn_pending_sel, w)) out.push(w);
    }
    return out;
  }
}

/** Several fake domains wired together as one hypervisor would. */
export class World {
  readonly domains = new Map<number, FakeDomain>();
  readonly channels = new Map<number, EventChannels>();
  readonly globalVirqs: GlobalVirqHandlers;
  readonly lookup = (domid: number): EventChannels | undefined => this.channels.get(domid);

  constructor() {
    this.globalVirqs = new GlobalVirqHandlers(this.lookup, 0);
  }

  add(domid: number, options: FakeDomainOptions = {}): [FakeDomain, EventChannels] {
    const d = new FakeDomain(domid, options);
    const ec = new EventChannels(d, this.lookup, { globalVirqs: this.globalVirqs });
    this.domains.set(domid, d);
    this.channels.set(domid, ec);
    return [d, ec];
  }

  /** Destroys a domain's channels and forgets it (as domain destruction would). */
  remove(domid: number): void {
    this.channels.get(domid)?.destroy();
    this.channels.delete(domid);
    this.domains.delete(domid);
  }
}

/**
 * What Linux's 2-level upcall handler does on `vcpu`: clear evtchn_upcall_pending, take
 * evtchn_pending_sel (exchange with 0), and for each selected word collect the ports
 * pending and not masked, clearing their pending bits (the handler's ack). Sorted ports.
 */
export function linux2lUpcall(d: FakeDomain, vcpu: number): number[] {
  const info = d.vcpuInfo(vcpu)!;
  info.view.setUint8(info.offset + vcpu_info.offsets.evtchn_upcall_pending, 0);
  const selAt = info.offset + vcpu_info.offsets.evtchn_pending_sel;
  const lo = xchg32(info.view, selAt, 0);
  const hi = xchg32(info.view, selAt + 4, 0);
  const ports: number[] = [];
  for (let w = 0; w < 64; w++) {
    const selected = w < 32 ? (lo >>> w) & 1 : (hi >>> (w - 32)) & 1;
    if (!selected) continue;
    for (let b = 0; b < 64; b++) {
      const port = w * 64 + b;
      if (d.pendingBit(port) && !d.maskBit(port)) {
        testAndClearBit(d.shared, shared_info.offsets.evtchn_pending, port);
        ports.push(port);
      }
    }
  }
  return ports;
}

const CB_READY = evtchn_fifo_control_block.offsets.ready;
const CB_HEAD = evtchn_fifo_control_block.offsets.head;

/**
 * A guest using the FIFO ABI the way Linux's events_fifo.c does: one control block page
 * per vCPU, event array pages whose words start MASKED, local HEAD copies per queue.
 */
export class FifoGuest {
  readonly #heads: Uint32Array[] = [];
  readonly #pages: number[] = [];
  readonly controlGfn: number[] = [];

  constructor(
    readonly d: FakeDomain,
    readonly ec: EventChannels,
  ) {}

  /** EVTCHNOP_init_control for `vcpu` with its block at the start of frame `gfn`. */
  initControl(vcpu: number, gfn: number): number {
    new Uint8Array(this.d.ram.buffer, gfn * PAGE, PAGE).fill(0);
    this.#heads[vcpu] = new Uint32Array(EVTCHN_FIFO_MAX_QUEUES);
    this.controlGfn[vcpu] = gfn;
    const arg = { control_gfn: BigInt(gfn), offset: 0, vcpu, link_bits: 0 };
    return this.ec.initControl(arg);
  }

  /** Adds event array page `gfn` with every word MASKED (init_array_page + expand_array). */
  expand(gfn: number): number {
    const page = this.d.frame(gfn);
    for (let i = 0; i < PAGE; i += 4) page.setUint32(i, 1 << EVTCHN_FIFO_MASKED, true);
    const rc = this.ec.expandArray({ array_gfn: BigInt(gfn) });
    if (rc === 0) this.#pages.push(gfn);
    return rc;
  }

  /** The event word of `port` as the guest sees it. */
  word(port: number): { view: DataView; offset: number } {
    const gfn = this.#pages[Math.floor(port / 1024)];
    if (gfn === undefined) throw new Error(`port ${port} has no event word`);
    return { view: this.d.frame(gfn), offset: (port % 1024) * 4 };
  }

  wordValue(port: number): number {
    const w = this.word(port);
    return load32(w.view, w.offset);
  }

  setWord(port: number, value: number): void {
    const w = this.word(port);
    store32(w.view, w.offset, value);
  }

  /** Linux's evtchn_fifo_unmask: clear MASKED (waiting out BUSY), hypercall if pending. */
  unmask(port: number): void {
    const { view, offset } = this.word(port);
    let w = load32(view, offset);
    for (;;) {
      const old = (w & ~(1 << EVTCHN_FIFO_BUSY)) >>> 0;
      const next = (old & ~(1 << EVTCHN_FIFO_MASKED)) >>> 0;
      w = cmpxchg32(view, offset, old, next);
      if (w === old) break;
    }
    if (testBit(view, offset, EVTCHN_FIFO_PENDING)) this.ec.unmask({ port });
  }

  control(vcpu: number): DataView {
    return this.d.frame(this.controlGfn[vcpu]!);
  }

  ready(vcpu: number): number {
    return load32(this.control(vcpu), CB_READY);
  }

  head(vcpu: number, priority: number): number {
    return load32(this.control(vcpu), CB_HEAD + 4 * priority);
  }

  /**
   * Linux's __evtchn_fifo_handle_events on `vcpu`: take READY, and repeatedly consume one
   * event from the highest-priority ready queue (clearing LINKED, following LINK), acking
   * (clearing PENDING of) each pending, unmasked one. Returns them in delivery order.
   */
  handleEvents(vcpu: number): number[] {
    // xen_evtchn_do_upcall clears the upcall flag before handling events.
    const info = this.d.vcpuInfo(vcpu);
    if (info !== undefined) {
      info.view.setUint8(info.offset + vcpu_info.offsets.evtchn_upcall_pending, 0);
    }
    const cb = this.control(vcpu);
    const heads = this.#heads[vcpu]!;
    const out: number[] = [];
    let ready = xchg32(cb, CB_READY, 0);
    let guard = 0;
    while (ready !== 0) {
      if (++guard > 1 << 18) throw new Error('FIFO guest model: runaway queue');
      const q = 31 - Math.clz32(ready & -ready);
      let head = heads[q]!;
      if (head === 0) head = load32(cb, CB_HEAD + 4 * q);
      const port = head;
      const { view, offset } = this.word(port);
      let w = load32(view, offset);
      for (;;) {
        const next = (w & ~((1 << EVTCHN_FIFO_LINKED) | EVTCHN_FIFO_LINK_MASK)) >>> 0;
        const seen = cmpxchg32(view, offset, w, next);
        if (seen === w) break;
        w = seen;
      }
      head = w & EVTCHN_FIFO_LINK_MASK;
      if (head === 0) ready &= ~(1 << q);
      if (
        testBit(view, offset, EVTCHN_FIFO_PENDING) &&
        !testBit(view, offset, EVTCHN_FIFO_MASKED)
      ) {
        testAndClearBit(view, offset, EVTCHN_FIFO_PENDING);
        out.push(port);
      }
      heads[q] = head;
      ready |= xchg32(cb, CB_READY, 0);
    }
    return out;
  }
}
