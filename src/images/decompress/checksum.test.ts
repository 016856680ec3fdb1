import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { adler32, crc32, crc64, xxh32, xxh64Low32 } from './checksum.js';
import { randomBytes } from './fixtures.js';

const text = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('published check values', () => {
  assert.equal(crc32(text('123456789')), 0xcbf43926);
  assert.equal(
    hex(crc64(text('123456789'))),
    hex(new Uint8Array([0xfa, 0x39, 0x19, 0xdf, 0xbb, 0xc9, 0x5d, 0x99])),
  );
  assert.equal(adler32(text('Wikipedia')), 0x11e60398);
  assert.equal(xxh32(new Uint8Array(0)), 0x02cc5d05);
  assert.equal(xxh64Low32(new Uint8Array(0)), 0x51d8e999); // XXH64("") = ef46db3751d8e999
});

test('crc32 agrees with zlib at every length and alignment', () => {
  const data = randomBytes(5000, 7);
  for (let n = 0; n < 40; n++) {
    const slice = data.subarray(n, n + n * 97);
    assert.equal(crc32(slice), zlibCrc32(slice) >>> 0, `length ${slice.length}`);
  }
});
