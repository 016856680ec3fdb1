import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageFormatError } from '../errors.js';
import {
  assertBytes,
  assertTruncationsThrow,
  compress,
  randomBytes,
  repetitiveBytes,
  withSize,
} from './fixtures.js';
import { decompress } from './index.js';
import { lz4Block } from './lz4.js';

test('lz4Block copies overlapping matches byte by byte', () => {
  // token: 1 literal, match length 4 + 6; literal 'a'; offset 1; then a last literal-only 'b'.
  const block = new Uint8Array([0x16, 0x61, 0x01, 0x00, 0x10, 0x62]);
  const out = new Uint8Array(16);
  const end = lz4Block(block, 0, block.length, out, 0, out.length, 0);
  assert.equal(new TextDecoder().decode(out.subarray(0, end)), 'aaaaaaaaaaab');
});

test('legacy: several 8 MiB blocks, then the size Linux appends', async () => {
  const plain = new Uint8Array(17_500_000);
  plain.set(repetitiveBytes(9_000_000));
  plain.set(randomBytes(8_500_000), 9_000_000);
  const packed = compress('lz4', ['-c', '-l'], plain);
  assertBytes(await decompress(withSize(packed, plain.length), 'lz4'), plain, 'lz4 -l');
});

test('legacy: a small size after the stream is not taken for a block', async () => {
  const plain = repetitiveBytes(100);
  const packed = compress('lz4', ['-c', '-l'], plain);
  assertBytes(await decompress(withSize(packed, 100), 'lz4'), plain, 'lz4 -l, 100 bytes');
});

test('legacy: concatenated streams decode as one, like lz4 -d', async () => {
  const a = repetitiveBytes(50_000);
  const b = randomBytes(30_000);
  const packed = Buffer.concat([
    compress('lz4', ['-c', '-l'], a),
    compress('lz4', ['-c', '-l'], b),
  ]);
  assertBytes(await decompress(packed, 'lz4'), Buffer.concat([a, b]), 'two legacy streams');
});

test('frames: concatenated frames and a skippable frame', async () => {
  const a = repetitiveBytes(70_000);
  const b = randomBytes(20_000);
  const skippable = new Uint8Array([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const packed = Buffer.concat([
    compress('lz4', ['-c'], a),
    skippable,
    compress('lz4', ['-c', '-BD'], b),
  ]);
  assertBytes(await decompress(withSize(packed, 90_000), 'lz4'), Buffer.concat([a, b]), 'frames');
});

test('truncated streams throw', async () => {
  const plain = repetitiveBytes(300_000);
  const legacy = compress('lz4', ['-c', '-l'], plain);
  await assertTruncationsThrow(legacy, 'lz4', [0, 3, 6, 100, legacy.length - 1]);
  const frame = compress('lz4', ['-c', '-B4'], plain);
  await assertTruncationsThrow(frame, 'lz4', [3, 6, 12, 100, frame.length - 5, frame.length - 1]);
});

test('bad block contents throw', async () => {
  const packed = compress('lz4', ['-c', '-l'], repetitiveBytes(10_000));
  const zeroOffset = packed.slice();
  // The first sequence's offset follows its literals; point it at nothing.
  const token = zeroOffset[8]!;
  const at = 9 + (token >>> 4);
  zeroOffset[at] = 0;
  zeroOffset[at + 1] = 0;
  await assert.rejects(decompress(zeroOffset, 'lz4'), /match offset 0/);
  const header = compress('lz4', ['-c'], repetitiveBytes(10_000));
  header[5] = header[5]! ^ 0x01; // BD byte: header checksum no longer matches
  await assert.rejects(decompress(header, 'lz4'), ImageFormatError);
});
