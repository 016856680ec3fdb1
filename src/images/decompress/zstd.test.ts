import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertBytes,
  assertTruncationsThrow,
  compress,
  randomBytes,
  repetitiveBytes,
  withSize,
} from './fixtures.js';
import { decompress } from './index.js';

test("Linux's zstd -22 --ultra from a pipe (no content size), then the size bytes", async () => {
  const plain = new Uint8Array([...repetitiveBytes(400_000), ...randomBytes(100_000)]);
  const packed = compress('zstd', ['-c', '-q', '--ultra', '-22'], plain);
  assertBytes(await decompress(withSize(packed, plain.length), 'zstd'), plain, 'zstd -22');
});

test('concatenated frames, a skippable frame, and a size that spells the magic', async () => {
  const a = repetitiveBytes(60_000);
  const b = randomBytes(10_000);
  const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 9, 9]);
  const magic = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]);
  const packed = Buffer.concat([
    compress('zstd', ['-c', '-q'], a),
    skippable,
    compress('zstd', ['-c', '-q'], b),
    magic,
  ]);
  assertBytes(await decompress(packed, 'zstd'), Buffer.concat([a, b]), 'frames');
});

test('the content checksum is verified', async () => {
  const packed = compress('zstd', ['-c', '-q'], repetitiveBytes(10_000));
  packed[packed.length - 1] = packed[packed.length - 1]! ^ 0x80;
  await assert.rejects(decompress(packed, 'zstd'), /content checksum mismatch/);
});

test('truncated frames throw', async () => {
  const packed = compress('zstd', ['-c', '-q'], repetitiveBytes(300_000));
  await assertTruncationsThrow(packed, 'zstd', [0, 4, 6, 20, packed.length - 5, packed.length - 1]);
});
