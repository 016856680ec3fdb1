/**
 * The backend's end of a shared ring (io/ring.h), whatever its protocol: requests are copied
 * out of their slots before they are looked at, so a frontend that rewrites a slot afterwards
 * changes nothing; responses go into the slots in order, with ring.h's push-and-check-notify
 * and final-check protocols. A ring may span several granted pages (a slot may straddle two).
 */
import {
  ringFinalCheckEvent,
  ringPushNeedsNotify,
  ringRequestProdOverflow,
  ringSize,
  ringSlotOffset,
  XEN_PAGE_SIZE,
} from '../../abi/io/ring.js';

/** The frontend broke the ring protocol: the device is disconnected. */
export class RingError extends Error {
  override name = 'RingError';
}

// Header words (u32): req_prod, req_event, rsp_prod, rsp_event.
const REQ_PROD = 0;
const REQ_EVENT = 1;
const RSP_PROD = 2;
const RSP_EVENT = 3;

export class BackRing {
  readonly size: number;
  private readonly header: Int32Array;
  private reqCons = 0;
  private rspProdPvt = 0;
  private readonly slot: Uint8Array;
  /** The request last copied out by `nextRequest` or `peekRequest`. */
  readonly slotView: DataView;

  /** `pages`: the ring's granted pages in order, as the frontend gave their references. */
  constructor(
    private readonly pages: readonly Uint8Array[],
    readonly entrySize: number,
  ) {
    const first = pages[0]!;
    this.header = new Int32Array(first.buffer, first.byteOffset, 4);
    this.size = ringSize(entrySize, pages.length * XEN_PAGE_SIZE);
    this.slot = new Uint8Array(entrySize);
    this.slotView = new DataView(this.slot.buffer);
  }

  /**
   * Requests published and not yet consumed. Throws RingError when req_prod claims more
   * requests than the ring can hold, or moved backwards.
   */
  available(): number {
    const prod = Atomics.load(this.header, REQ_PROD) >>> 0;
    if (ringRequestProdOverflow(this.size, prod, this.rspProdPvt)) {
      throw new RingError(`req_prod ${prod} is past the ring (rsp_prod ${this.rspProdPvt})`);
    }
    const unconsumed = (prod - this.reqCons) >>> 0;
    // Requests are answered after they are consumed: req_prod may never fall behind req_cons.
    if (unconsumed > (prod - this.rspProdPvt) >>> 0) {
      throw new RingError(`req_prod ${prod} moved back behind req_cons ${this.reqCons}`);
    }
    return unconsumed;
  }

  /** Copies the unconsumed request `ahead` slots on (0: the next) into `slotView`. */
  peekRequest(ahead: number): DataView {
    this.copySlot((this.reqCons + ahead) >>> 0, this.entrySize, (bytes, at, n, done) =>
      this.slot.set(bytes.subarray(at, at + n), done),
    );
    return this.slotView;
  }

  /** Consumes `count` requests (peeked, or skipped). */
  consume(count: number): void {
    this.reqCons = (this.reqCons + count) >>> 0;
  }

  /** Copies the next unconsumed request into `slotView` and consumes it; false if none. */
  nextRequest(): boolean {
    if (this.available() === 0) return false;
    this.peekRequest(0);
    this.consume(1);
    return true;
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: with nothing left, ask to be notified of the next request,
   * then look once more (a request may have come in between).
   */
  finalCheck(): boolean {
    return this.waitFor(1);
  }

  /**
   * Asks to be notified once `count` requests are unconsumed; true if they already are.
   * (Netback waits so for the receive slots a packet needs.)
   */
  waitFor(count: number): boolean {
    if (this.available() >= count) return true;
    Atomics.store(this.header, REQ_EVENT, ringFinalCheckEvent((this.reqCons + count - 1) >>> 0));
    return this.available() >= count;
  }

  /** Writes a response into the next slot; it is published by `push`. */
  respond(response: Uint8Array): void {
    this.copySlot(this.rspProdPvt, response.length, (page, at, n, done) =>
      page.set(response.subarray(done, done + n), at),
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
