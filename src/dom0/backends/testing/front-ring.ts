/**
 * A frontend's end of a shared ring, for tests: requests are written into the guest's ring
 * pages and published, responses read back, and every index may also be set to anything.
 */
import {
  ringFreeRequests,
  ringPushNeedsNotify,
  ringSize,
  ringSlotOffset,
  ringUnconsumedResponses,
  sring_header,
  XEN_PAGE_SHIFT,
  XEN_PAGE_SIZE,
} from '../../../abi/io/ring.js';

const {
  req_prod: REQ_PROD,
  req_event: REQ_EVENT,
  rsp_prod: RSP_PROD,
  rsp_event: RSP_EVENT,
} = sring_header.offsets;

/** io/ring.h's front ring over a guest's ring pages. */
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
    this.header.setUint32(REQ_EVENT, 1, true);
    this.header.setUint32(RSP_EVENT, 1, true);
  }

  get reqProd(): number {
    return this.header.getUint32(REQ_PROD, true);
  }
  /** Publishes any req_prod, sensible or not. */
  set reqProd(value: number) {
    this.header.setUint32(REQ_PROD, value >>> 0, true);
  }
  get reqEvent(): number {
    return this.header.getUint32(REQ_EVENT, true);
  }
  get rspProd(): number {
    return this.header.getUint32(RSP_PROD, true);
  }
  private set rspProd(value: number) {
    this.header.setUint32(RSP_PROD, value >>> 0, true);
  }

  /** Slots free for requests (RING_FREE_REQUESTS). */
  free(): number {
    return ringFreeRequests(this.size, this.reqProdPvt, this.rspCons);
  }

  /** Writes `bytes` into the slot for free-running index `index` (it may straddle pages). */
  writeSlot(index: number, bytes: Uint8Array): void {
    const start = ringSlotOffset(index, this.size, this.entrySize);
    for (const [i, byte] of bytes.entries()) this.setByte(start + i, byte);
  }

  /** A copy of the slot for `index`. */
  readSlot(index: number): DataView {
    const start = ringSlotOffset(index, this.size, this.entrySize);
    const out = Uint8Array.from({ length: this.entrySize }, (_, i) => this.byte(start + i));
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
    return ringUnconsumedResponses(this.rspProd, this.rspCons);
  }

  /** A copy of the response `ahead` slots past the next one to take. */
  peek(ahead = 0): DataView {
    return this.readSlot((this.rspCons + ahead) >>> 0);
  }

  /** Takes `count` responses; then asks to be notified of the next (final check). */
  take(count = 1): void {
    this.rspCons = (this.rspCons + count) >>> 0;
    this.header.setUint32(RSP_EVENT, (this.rspCons + 1) >>> 0, true);
  }

  /** The byte at `offset` into the ring, which spans the pages in order. */
  private byte(offset: number): number {
    return this.pages[offset >> XEN_PAGE_SHIFT]![offset & (XEN_PAGE_SIZE - 1)]!;
  }

  private setByte(offset: number, value: number): void {
    this.pages[offset >> XEN_PAGE_SHIFT]![offset & (XEN_PAGE_SIZE - 1)] = value;
  }
}
