/**
 * xen-blkfront, for tests: adds a disk to the store as libxl does, connects as xen-blkfront
 * does, and reads and writes through the blkif ring; raw requests and ring access let a test
 * play a frontend that breaks every rule.
 */
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_DISCARD,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  blkif_request,
  blkif_request_discard,
  blkif_request_indirect,
  blkif_response,
} from '../../../abi/io/blkif.js';
import { ringEntrySize } from '../../../abi/io/ring.js';
import {
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitWait,
} from '../../../abi/io/xenbus.js';
import { addDiskStore } from '../../toolstack/disk-store.js';
import { FrontRing } from './front-ring.js';
import type { FakeGuest } from './guest.js';
import { until } from './wait.js';
import { Frontend, type KeyOverrides } from './xenbus-front.js';

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

  /** An indirect request's bytes: `op` on `segments` segments listed in the pages `grefs`. */
  static indirect(op: number, id: number, segments: number, grefs: readonly number[]): Uint8Array {
    const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    const I = blkif_request_indirect.offsets;
    view.setUint8(I.operation, BLKIF_OP_INDIRECT);
    view.setUint8(I.indirect_op, op);
    view.setUint16(I.nr_segments, segments, true);
    view.setUint32(I.id, id, true);
    for (const [i, gref] of grefs.entries()) view.setUint32(I.indirect_grefs + i * 4, gref, true);
    return bytes;
  }

  /** A discard request's bytes (`sectors` may take all 64 bits of nr_sectors). */
  static discard(id: number, sector: number, sectors: number): Uint8Array {
    const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    const D = blkif_request_discard.offsets;
    view.setUint8(D.operation, BLKIF_OP_DISCARD);
    view.setUint32(D.id, id, true);
    view.setUint32(D.sector_number, sector, true);
    view.setUint32(D.nr_sectors, sectors % 2 ** 32, true);
    view.setUint32(D.nr_sectors + 4, Math.floor(sectors / 2 ** 32), true);
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
