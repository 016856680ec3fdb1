import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertBytes,
  assertTruncationsThrow,
  compress,
  repetitiveBytes,
  withSize,
} from './fixtures.js';
import { decompress } from './index.js';

test('multi-block input, and concatenated streams as pbzip2 writes them', async () => {
  const a = repetitiveBytes(1_200_000); // more than one 900k block
  const b = new TextEncoder().encode('second stream');
  const packed = Buffer.concat([compress('bzip2', ['-c', '-9'], a), compress('bzip2', ['-c'], b)]);
  const out = await decompress(withSize(packed, a.length + b.length), 'bzip2');
  assertBytes(out, Buffer.concat([a, b]), 'two streams');
});

test('truncated streams throw, saying so', async () => {
  const packed = compress('bzip2', ['-c'], repetitiveBytes(300_000));
  await assertTruncationsThrow(packed, 'bzip2', [0, 3, 10, 100, packed.length - 1]);
  await assert.rejects(decompress(packed.subarray(0, packed.length - 3), 'bzip2'), /truncated/);
});
