/**
 * Shared I/O rings (xen/include/public/io/ring.h).
 *
 * A split driver's frontend and backend share one or more pages: a 64-byte header of
 * producer and event indices, then a power-of-two array of slots, each a union of the
 * protocol's request and response. Indices are free-running 32-bit counters (RING_IDX)
 * that wrap at 2^32; a slot is `index & (size - 1)`. Each side keeps private copies of
 * the indices it owns (req_prod_pvt and rsp_cons in the frontend, rsp_prod_pvt and
 * req_cons in the backend) and publishes them with a push.
 *
 * The macros of ring.h are given here as pure functions on indices; the caller reads and
 * writes the shared header at `sring_header.offsets` with the barriers the protocol
 * needs (in this emulator: the ordering of its shared-memory accesses).
 */

import { anonStruct, anonUnion, array, bytes, type Layout, struct, u8, u32 } from '../layout.js';

/** Pages of ring protocols and hypercall interfaces are always 4 KiB. */
export const XEN_PAGE_SHIFT = 12;
export const XEN_PAGE_SIZE = 1 << XEN_PAGE_SHIFT;

/** The fields DEFINE_RING_TYPES puts before `ring[]` in every `<name>_sring`. */
export const SRING_HEADER_FIELDS = {
  req_prod: u32,
  /** The backend wants a notification when req_prod reaches this. */
  req_event: u32,
  rsp_prod: u32,
  /** The frontend wants a notification when rsp_prod reaches this. */
  rsp_event: u32,
  pvt: anonUnion({
    netif: anonStruct({ smartpoll_active: u8 }),
    tapif_user: anonStruct({ msg: u8 }),
    pvt_pad: bytes(4),
  }),
  __pad: bytes(44),
} as const;

/** The 64-byte header of a shared ring, whatever its protocol. */
export const sring_header = anonStruct(SRING_HEADER_FIELDS);

/**
 * Declares `struct <tag>` as DEFINE_RING_TYPES does: the header, then `ring[1]` of the
 * protocol's slot union (C's idiom for a variable-length array; the real count is
 * ringSize()). `offsets.ring` is where slot 0 starts.
 */
export function sring<E extends Layout>(tag: string, entry: E) {
  return struct(tag, { ...SRING_HEADER_FIELDS, ring: array(entry, 1) });
}

/** Byte offset of slot 0 in a shared ring (`offsetof(struct <name>_sring, ring)`). */
export const SRING_ENTRIES_OFFSET = 64;

/** Reduces to a 32-bit ring index (C's unsigned wrap-around). */
function idx(n: number): number {
  return n >>> 0;
}

/** The largest power of two ≤ n (0 for 0), as ring.h's __RD32. */
function roundDownPow2(n: number): number {
  return n < 1 ? 0 : (1 << (31 - Math.clz32(n))) >>> 0;
}

/** The slot size of a ring whose requests and responses are these layouts (their union). */
export function ringEntrySize(request: Layout, response: Layout): number {
  const align = Math.max(request.align, response.align);
  return Math.ceil(Math.max(request.size, response.size) / align) * align;
}

/**
 * Number of slots in a shared ring of `ringBytes` bytes (default one page) with slots
 * of `entrySize` bytes: the largest power of two that fits after the header
 * (__CONST_RING_SIZE / __RING_SIZE).
 */
export function ringSize(entrySize: number, ringBytes: number = XEN_PAGE_SIZE): number {
  return roundDownPow2(Math.floor((ringBytes - SRING_ENTRIES_OFFSET) / entrySize));
}

/** Byte offset within the shared ring of the slot for free-running index `index`. */
export function ringSlotOffset(index: number, size: number, entrySize: number): number {
  return SRING_ENTRIES_OFFSET + ((index & (size - 1)) >>> 0) * entrySize;
}

/** Frontend: slots free for new requests (RING_FREE_REQUESTS). */
export function ringFreeRequests(size: number, reqProdPvt: number, rspCons: number): number {
  return idx(size - idx(reqProdPvt - rspCons));
}

/** Frontend: no slot is free for a request (RING_FULL). */
export function ringFull(size: number, reqProdPvt: number, rspCons: number): boolean {
  return ringFreeRequests(size, reqProdPvt, rspCons) === 0;
}

/** Frontend: responses published but not yet consumed (XEN_RING_NR_UNCONSUMED_RESPONSES). */
export function ringUnconsumedResponses(rspProd: number, rspCons: number): number {
  return idx(rspProd - rspCons);
}

/**
 * Backend: requests published but not yet consumed (XEN_RING_NR_UNCONSUMED_REQUESTS),
 * bounded by the slots not still holding unpublished responses, so a frontend that
 * over-produces cannot make the backend overrun its own responses.
 */
export function ringUnconsumedRequests(
  size: number,
  reqProd: number,
  reqCons: number,
  rspProdPvt: number,
): number {
  const req = idx(reqProd - reqCons);
  const rsp = idx(size - idx(reqCons - rspProdPvt));
  return req < rsp ? req : rsp;
}

/** Backend: consuming request `cons` would overrun the ring (RING_REQUEST_CONS_OVERFLOW). */
export function ringRequestConsOverflow(size: number, cons: number, rspProdPvt: number): boolean {
  return idx(cons - rspProdPvt) >= size;
}

/** Backend: a frontend's req_prod claims more requests than can exist (RING_REQUEST_PROD_OVERFLOW). */
export function ringRequestProdOverflow(size: number, prod: number, rspProdPvt: number): boolean {
  return idx(prod - rspProdPvt) > size;
}

/** Frontend: a backend's rsp_prod claims more responses than can exist (RING_RESPONSE_PROD_OVERFLOW). */
export function ringResponseProdOverflow(size: number, prod: number, rspCons: number): boolean {
  return idx(prod - rspCons) > size;
}

/**
 * Whether a push must notify the other end (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY and
 * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY): the producer index moved from `oldProd` to
 * `newProd`, and the other end asked to be woken when it passed `event` (the shared
 * req_event or rsp_event, read after publishing newProd). True when `event` lies in
 * (oldProd, newProd], modulo 2^32.
 */
export function ringPushNeedsNotify(oldProd: number, newProd: number, event: number): boolean {
  return idx(newProd - event) < idx(newProd - oldProd);
}

/**
 * The event index a consumer writes before its final re-check
 * (RING_FINAL_CHECK_FOR_REQUESTS / _RESPONSES): it asks to be notified of the next item
 * after `cons`. The protocol is: if nothing is unconsumed, write this to req_event
 * (backend) or rsp_event (frontend), then check again.
 */
export function ringFinalCheckEvent(cons: number): number {
  return idx(cons + 1);
}

// ---------------------------------------------------------------------------------------
// Flexible byte rings (DEFINE_XEN_FLEX_RING): used by pvcalls, 9pfs and the console.

/** Bytes in each of the two halves of a flex ring of 2^order pages (XEN_FLEX_RING_SIZE). */
export function XEN_FLEX_RING_SIZE(order: number): number {
  return 2 ** (order + XEN_PAGE_SHIFT - 1);
}

/** The byte offset of free-running index `index` in a flex ring of `ringSize` bytes. */
export function flexRingMask(index: number, ringSize: number): number {
  return (index & (ringSize - 1)) >>> 0;
}

/** Bytes queued between `cons` and `prod` in a flex ring of `ringSize` bytes (_queued). */
export function flexRingQueued(prod: number, cons: number, ringSize: number): number {
  if (idx(prod) === idx(cons)) return 0;
  const p = flexRingMask(prod, ringSize);
  const c = flexRingMask(cons, ringSize);
  if (p === c) return ringSize;
  return p > c ? p - c : ringSize - (c - p);
}
