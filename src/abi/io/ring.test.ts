import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blkif_request, blkif_response, blkif_sring, blkif_sring_entry } from './blkif.js';
import { netif_rx_sring_entry, netif_tx_sring_entry } from './netif.js';
import {
  flexRingMask,
  flexRingQueued,
  ringEntrySize,
  ringFinalCheckEvent,
  ringFreeRequests,
  ringFull,
  ringPushNeedsNotify,
  ringRequestConsOverflow,
  ringRequestProdOverflow,
  ringResponseProdOverflow,
  ringSize,
  ringSlotOffset,
  ringUnconsumedRequests,
  ringUnconsumedResponses,
  SRING_ENTRIES_OFFSET,
  sring_header,
  XEN_FLEX_RING_SIZE,
} from './ring.js';

const MAX = 0xffffffff;

test('ring sizes are the largest power of two of slots after the 64-byte header', () => {
  assert.equal(sring_header.size, 64);
  assert.equal(blkif_sring.offsets.ring, SRING_ENTRIES_OFFSET);
  assert.equal(ringEntrySize(blkif_request, blkif_response), blkif_sring_entry.size);
  assert.equal(ringSize(blkif_sring_entry.size), 32); // (4096 - 64) / 112 = 36 → 32
  assert.equal(ringSize(netif_tx_sring_entry.size), 256); // 12-byte slots: 336 → 256
  assert.equal(ringSize(netif_rx_sring_entry.size), 256); // 8-byte slots: 504 → 256
  assert.equal(ringSize(blkif_sring_entry.size, 4096 << 2), 128); // a 4-page ring
  assert.equal(ringSize(8, 64 + 8 * 512), 512); // exactly a power of two
  assert.equal(ringSize(8, 64 + 8 * 511), 256);
  assert.equal(ringSize(4096), 0);
});

test('slot offsets wrap with the free-running index', () => {
  const size = 32;
  const entry = blkif_sring_entry.size;
  assert.equal(ringSlotOffset(0, size, entry), 64);
  assert.equal(ringSlotOffset(31, size, entry), 64 + 31 * entry);
  assert.equal(ringSlotOffset(32, size, entry), 64);
  assert.equal(ringSlotOffset(MAX, size, entry), 64 + 31 * entry);
  assert.equal(ringSlotOffset(0x80000001, size, entry), 64 + entry);
});

test('free and unconsumed counts survive wrap-around at 2^32', () => {
  // 7 requests in flight across the wrap: produced up to 5, consumed up to 2^32 - 2.
  assert.equal(ringFreeRequests(32, 5, MAX - 1), 25);
  assert.equal(ringFull(32, 30, MAX - 1), true);
  assert.equal(ringFull(32, 29, MAX - 1), false);
  assert.equal(ringUnconsumedResponses(3, MAX), 4);
  assert.equal(ringUnconsumedResponses(MAX, MAX), 0);
  assert.equal(ringUnconsumedRequests(32, 2, MAX - 2, MAX - 2), 5);
});

test('a backend never counts more requests than the ring can hold', () => {
  // A frontend claims 1000 requests; only the slots not holding unpublished responses count.
  assert.equal(ringUnconsumedRequests(32, 1000, 0, 0), 32);
  // 10 responses not yet pushed: 22 slots left to read requests from.
  assert.equal(ringUnconsumedRequests(32, 1000, 10, 0), 22);
  assert.equal(ringRequestProdOverflow(32, 33, 0), true);
  assert.equal(ringRequestProdOverflow(32, 32, 0), false);
  assert.equal(ringRequestProdOverflow(32, 16, MAX - 15), false);
  assert.equal(ringRequestConsOverflow(32, 32, 0), true);
  assert.equal(ringRequestConsOverflow(32, 31, 0), false);
  assert.equal(ringRequestConsOverflow(32, 10, MAX - 20), false);
  assert.equal(ringRequestConsOverflow(32, 10, MAX - 21), true);
  assert.equal(ringResponseProdOverflow(32, 33, 0), true);
  assert.equal(ringResponseProdOverflow(32, 0, MAX - 31), false);
});

test('a push notifies exactly when the event index lies in (old, new]', () => {
  // The consumer asked to hear about item 5 (event = 5).
  assert.equal(ringPushNeedsNotify(3, 4, 5), false); // not reached yet
  assert.equal(ringPushNeedsNotify(4, 5, 5), true); // reached
  assert.equal(ringPushNeedsNotify(3, 8, 5), true); // passed in this push
  assert.equal(ringPushNeedsNotify(5, 8, 5), false); // passed in an earlier push
  assert.equal(ringPushNeedsNotify(8, 8, 5), false); // nothing pushed
  assert.equal(ringPushNeedsNotify(8, 8, 8), false);
  // Across the wrap: old 2^32 - 2, new 2.
  const old = MAX - 1;
  assert.equal(ringPushNeedsNotify(old, 2, MAX), true);
  assert.equal(ringPushNeedsNotify(old, 2, 0), true);
  assert.equal(ringPushNeedsNotify(old, 2, 2), true);
  assert.equal(ringPushNeedsNotify(old, 2, 3), false);
  assert.equal(ringPushNeedsNotify(old, 2, old), false);
});

test('the final check asks for the item after the consumer index', () => {
  assert.equal(ringFinalCheckEvent(0), 1);
  assert.equal(ringFinalCheckEvent(MAX), 0);
  // The protocol round: a consumer at 10 sets event 11; a push from 10 to 11 notifies.
  assert.equal(ringPushNeedsNotify(10, 11, ringFinalCheckEvent(10)), true);
});

test('flex byte rings', () => {
  assert.equal(XEN_FLEX_RING_SIZE(0), 2048);
  assert.equal(XEN_FLEX_RING_SIZE(2), 8192);
  assert.equal(flexRingMask(2049, 2048), 1);
  assert.equal(flexRingQueued(10, 10, 2048), 0);
  assert.equal(flexRingQueued(2058, 10, 2048), 2048); // full
  assert.equal(flexRingQueued(20, 10, 2048), 10);
  assert.equal(flexRingQueued(5, MAX - 4, 2048), 10); // across 2^32
});
