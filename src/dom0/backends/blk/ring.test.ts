// The backend's ring and request decoding, fed the bytes xen-blkfront would write: requests
// straddling the pages of a multi-page ring, responses and their notifications, and a
// frontend that lies about its indices or its segments.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_OP_DISCARD,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  blkif_request,
} from '../../../abi/io/blkif.js';
import { ringSlotOffset } from '../../../abi/io/ring.js';
import {
  BadRequest,
  decodeRequest,
  readIndirect,
  requestSectors,
  UnsupportedOperation,
} from './request.js';
import { BLKIF_ENTRY_SIZE, BlkifBackRing, RingError } from './ring.js';

/** A frontend's view of `pages` ring pages laid end to end. */
function frontend(pages: number) {
  const bytes = new Uint8Array(new SharedArrayBuffer(pages * 4096));
  const view = new DataView(bytes.buffer);
  const ring = new BlkifBackRing(
    Array.from({ length: pages }, (_, i) => bytes.subarray(i * 4096, (i + 1) * 4096)),
  );
  let prod = 0;
  return {
    ring,
    view,
    /** Writes a request into the next slot (through a flat copy, as it may straddle pages). */
    put(fill: (slot: DataView) => void) {
      const slot = new DataView(new ArrayBuffer(BLKIF_ENTRY_SIZE));
      fill(slot);
      const at = ringSlotOffset(prod, ring.size, BLKIF_ENTRY_SIZE);
      bytes.set(new Uint8Array(slot.buffer), at);
      prod++;
    },
    publish(to = prod) {
      view.setUint32(0, to, true);
    },
    response(index: number) {
      const at = ringSlotOffset(index, ring.size, BLKIF_ENTRY_SIZE);
      return {
        id: view.getUint32(at, true),
        op: view.getUint8(at + 8),
        status: view.getInt16(at + 10, true),
      };
    },
  };
}

function readWrite(slot: DataView, op: number, id: number, sector: number, segs: number[][]) {
  slot.setUint8(0, op);
  slot.setUint8(1, segs.length);
  slot.setUint32(8, id, true);
  slot.setUint32(16, sector, true);
  segs.forEach(([gref, first, last], i) => {
    slot.setUint32(24 + i * 8, gref!, true);
    slot.setUint8(28 + i * 8, first!);
    slot.setUint8(29 + i * 8, last!);
  });
}

describe('blkif ring', () => {
  test('requests straddling ring pages are read whole, in order; responses notify', () => {
    const f = frontend(2);
    assert.equal(f.ring.size, 64, 'two pages: 64 slots of 112 bytes');
    // Slot 36 starts at 64 + 36 * 112 = 4096: slot 35 straddles the page boundary.
    for (let i = 0; i < 40; i++) {
      f.put((slot) => readWrite(slot, BLKIF_OP_READ, 1000 + i, i * 8, [[i, 0, 7]]));
    }
    f.publish();
    const ids: number[] = [];
    while (f.ring.nextRequest()) {
      const request = decodeRequest(f.ring.slotView, 256);
      ids.push(request.idLo);
      assert.equal(request.segments[0]!.gref, request.idLo - 1000);
      assert.equal(requestSectors(request), 8);
    }
    assert.deepEqual(
      ids,
      Array.from({ length: 40 }, (_, i) => 1000 + i),
    );
    assert.equal(f.ring.finalCheck(), false);
    assert.equal(f.view.getUint32(4, true), 41, 'req_event asks for the next request');
    // The frontend waits for its first response: rsp_event = 1.
    f.view.setUint32(12, 1, true);
    for (let i = 0; i < 40; i++) f.ring.respondTo(1000 + i, 0, BLKIF_OP_READ, 0);
    assert.equal(f.ring.push(), true);
    assert.equal(f.view.getUint32(8, true), 40);
    assert.deepEqual(f.response(35), { id: 1035, op: BLKIF_OP_READ, status: 0 });
    assert.equal(f.ring.push(), false, 'nothing new');
  });

  test('a req_prod past the ring is refused', () => {
    const f = frontend(1);
    f.publish(f.ring.size + 1);
    assert.throws(() => f.ring.nextRequest(), RingError);
  });

  test('bad requests are refused one by one', () => {
    const slot = new DataView(new ArrayBuffer(blkif_request.size));
    readWrite(slot, BLKIF_OP_WRITE, 1, 0, []);
    assert.throws(() => decodeRequest(slot, 256), BadRequest, 'a write without segments');
    readWrite(slot, BLKIF_OP_WRITE, 1, 0, [[5, 3, 2]]);
    assert.throws(() => decodeRequest(slot, 256), BadRequest, 'first_sect after last_sect');
    readWrite(slot, BLKIF_OP_WRITE, 1, 0, [[5, 0, 8]]);
    assert.throws(() => decodeRequest(slot, 256), BadRequest, 'sector 8 of a page');
    slot.setUint8(1, 12);
    assert.throws(() => decodeRequest(slot, 256), BadRequest, '12 segments');
    slot.setUint8(0, 9);
    assert.throws(() => decodeRequest(slot, 256), UnsupportedOperation);
    slot.setUint8(0, BLKIF_OP_DISCARD);
    slot.setUint8(1, BLKIF_DISCARD_SECURE);
    slot.setUint32(16, 100, true);
    slot.setUint32(20, 0, true);
    slot.setUint32(24, 64, true);
    slot.setUint32(28, 0, true);
    const discard = decodeRequest(slot, 256);
    assert.deepEqual([discard.sector, discard.nrSectors, discard.secure], [100, 64, true]);
  });

  test('an indirect request takes its segments from its granted pages', () => {
    const slot = new DataView(new ArrayBuffer(blkif_request.size));
    slot.setUint8(0, BLKIF_OP_INDIRECT);
    slot.setUint8(1, BLKIF_OP_WRITE);
    slot.setUint16(2, 600, true);
    slot.setUint32(8, 77, true);
    slot.setUint32(16, 2048, true);
    slot.setUint32(28, 41, true);
    slot.setUint32(32, 42, true);
    const request = decodeRequest(slot, 1024);
    assert.deepEqual(request.indirectGrefs, [41, 42]);
    assert.equal(request.operation, BLKIF_OP_WRITE, 'answered as its indirect_op');
    const pages = [new Uint8Array(4096), new Uint8Array(4096)];
    for (let i = 0; i < 600; i++) {
      const page = new DataView(pages[Math.floor(i / 512)]!.buffer);
      page.setUint32((i % 512) * 8, 5000 + i, true);
      page.setUint8((i % 512) * 8 + 5, 7);
    }
    readIndirect(request, pages);
    assert.equal(request.segments.length, 600);
    assert.equal(request.segments[599]!.gref, 5599);
    assert.equal(requestSectors(request), 4800);
    slot.setUint16(2, 300, true);
    assert.throws(() => decodeRequest(slot, 256), BadRequest, 'more than negotiated');
  });
});
