// Guest-memory atomics: Xen's bit numbering, bounds, and the unaligned fallback.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clearBit,
  cmpxchg32,
  load32,
  setBit,
  store32,
  testAndClearBit,
  testAndSetBit,
  testBit,
  xchg32,
} from './atomic.js';

describe('guest atomics', () => {
  test('bit n is bit n%64 of little-endian 64-bit word n/64', () => {
    const view = new DataView(new SharedArrayBuffer(64));
    assert.equal(testAndSetBit(view, 8, 70), false);
    assert.equal(testAndSetBit(view, 8, 70), true);
    assert.equal(view.getBigUint64(16, true), 1n << 6n);
    setBit(view, 8, 63);
    assert.equal(view.getBigUint64(8, true), 1n << 63n);
    assert.equal(testBit(view, 8, 63), true);
    assert.equal(testAndClearBit(view, 8, 63), true);
    assert.equal(testAndClearBit(view, 8, 63), false);
    clearBit(view, 8, 70);
    assert.deepEqual([...new Uint8Array(view.buffer)], new Array(64).fill(0));
  });

  test('accesses are confined to the view, not the buffer behind it', () => {
    const buffer = new SharedArrayBuffer(32);
    const view = new DataView(buffer, 8, 8);
    setBit(view, 0, 0);
    assert.equal(new Uint8Array(buffer)[8], 1);
    assert.throws(() => setBit(view, 0, 64), RangeError);
    assert.throws(() => load32(view, 6), RangeError);
    assert.throws(() => testBit(view, -1, 0), RangeError);
  });

  test('32-bit operations, aligned (Atomics) and unaligned (DataView fallback)', () => {
    for (const base of [0, 1]) {
      const view = new DataView(new ArrayBuffer(16), base, 12);
      store32(view, 4, 0x80000001);
      assert.equal(load32(view, 4), 0x80000001);
      assert.equal(view.getUint32(4, true), 0x80000001);
      assert.equal(cmpxchg32(view, 4, 0x80000001, 0xfffffffe), 0x80000001);
      assert.equal(load32(view, 4), 0xfffffffe);
      assert.equal(cmpxchg32(view, 4, 1, 2), 0xfffffffe, 'no exchange when different');
      assert.equal(load32(view, 4), 0xfffffffe);
      assert.equal(xchg32(view, 4, 7), 0xfffffffe);
      assert.equal(load32(view, 4), 7);
    }
  });
});
