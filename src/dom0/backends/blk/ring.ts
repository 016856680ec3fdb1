/**
 * The backend's end of one blkif shared ring (1 to 2^max-ring-page-order granted pages):
 * requests are copied out of their slots before they are looked at, so a frontend that
 * rewrites a slot afterwards changes nothing; responses go into the slots in order, with
 * ring.h's push-and-check-notify and final-check protocols.
 */
import { blkif_request, blkif_response } from '../../../abi/io/blkif.js';
import {
  ringEntrySize,
  ringFinalCheckEvent,
  ringPushNeedsNotify,
  ringRequestProdOverflow,
  ringSize,
  ringSlotOffset,
  XEN_PAGE_SIZE,
} from '../../../abi/io/ring.js';

export const BLKIF_ENTRY_SIZE = ringEntrySize(blkif_request, blkif_response);

/** The frontend broke the ring protocol: the device is disconnected. */
export class RingError extends Error {
  override name = 'RingError';
}

// Header words (u32): req_prod, req_event, rsp_prod, rsp_event.
const REQ_PROD = 0;
const REQ_EVENT = 1;
const RSP_PROD = 2;
const RSP_EVENT = 3;

export class BlkifBackRing {
  readonly size: number;
  private readonly header: Int32Array;
  private reqCons = 0;
  private rspProdPvt = 0;
  private readonly slot = new Uint8Array(BLKIF_ENTRY_SIZE);
  readonly slotView = new DataView(this.slot.buffer);
  private readonly response = new Uint8Array(blkif_response.size);
  private readonly responseView = new DataView(this.response.buffer);

  /** `pages`: the ring's granted pages in order, as the frontend gave their references. */
  constructor(private readonly pages: readonly Uint8Array[]) {
    const first = pages[0]!;
    this.header = new Int32Array(first.buffer, first.byteOffset, 4);
    this.size = ringSize(BLKIF_ENTRY_SIZE, pages.length * XEN_PAGE_SIZE);
  }

  /**
   * Copies the next unconsumed request into `slotView` and consumes it; false when there is
   * none. Throws RingError when req_prod claims more requests than the ring can hold.
   */
  nextRequest(): boolean {
    const prod = Atomics.load(this.header, REQ_PROD) >>> 0;
    if (ringRequestProdOverflow(this.size, prod, this.rspProdPvt)) {
      throw new RingError(`req_prod ${prod} is past the ring (rsp_prod ${this.rspProdPvt})`);
    }
    if (prod === this.reqCons) return false;
    this.copySlot(this.reqCons, BLKIF_ENTRY_SIZE, (bytes, at, n, done) =>
      this.slot.set(bytes.subarray(at, at + n), done),
    );
    this.reqCons = (this.reqCons + 1) >>> 0;
    return true;
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: with nothing left, ask to be notified of the next request,
   * then look once more (a request may have come in between).
   */
  finalCheck(): boolean {
    if (Atomics.load(this.header, REQ_PROD) >>> 0 !== this.reqCons) return true;
    Atomics.store(this.header, REQ_EVENT, ringFinalCheckEvent(this.reqCons) | 0);
    return Atomics.load(this.header, REQ_PROD) >>> 0 !== this.reqCons;
  }

  /** Writes a response into the next slot; it is published by `push`. */
  respond(idLo: number, idHi: number, operation: number, status: number): void {
    const bytes = this.response;
    const view = this.responseView;
    view.setUint32(0, idLo, true);
    view.setUint32(4, idHi, true);
    view.setUint8(blkif_response.offsets.operation, operation);
    view.setInt16(blkif_response.offsets.status, status, true);
    this.copySlot(this.rspProdPvt, bytes.length, (page, at, n, done) =>
      page.set(bytes.subarray(done, done + n), at),
    );
    this.rspProdPvt = (this.rspProdPvt + 1) >>> 0;
  }

  /** Publishes the responses written; true if the frontend asked to be notified of them. */
  push(): boolean {
    const old = Atomics.load(this.header, RSP_PROD) >>> 0;
    const now = this.rspProdPvt;
    if (old === now) return false;
    Atomics.store(this.header, RSP_PROD, now | 0);
    const event = Atomics.load(this.header, RSP_EVENT) >>> 0;
    return ringPushNeedsNotify(old, now, event);
  }

  /** Walks the first `length` bytes of slot `index`, which may straddle two ring pages. */
  private copySlot(
    index: number,
    length: number,
    part: (page: Uint8Array, at: number, length: number, done: number) => void,
  ): void {
    let offset = ringSlotOffset(index, this.size, BLKIF_ENTRY_SIZE);
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
