import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageFormatError } from '../errors.js';
import {
  assertBytes,
  assertTruncationsThrow,
  compress,
  machineCode,
  repetitiveBytes,
  withSize,
} from './fixtures.js';
import { decompress, detectCompression } from './index.js';

/** The same stream with its header's size field set (xz leaves it unknown and ends with a marker). */
function withKnownSize(packed: Uint8Array, size: number): Uint8Array {
  const copy = packed.slice();
  const view = new DataView(copy.buffer);
  view.setUint32(5, size, true);
  view.setUint32(9, 0, true);
  return copy;
}

test('unknown size: decoding runs to the end marker and ignores what follows', async () => {
  const plain = machineCode(3_000_000);
  const packed = compress('xz', ['-c', '--format=lzma', '-9'], plain);
  assertBytes(await decompress(withSize(packed, plain.length), 'lzma'), plain, 'xz --format=lzma');
});

test('known size, with and without a trailing end marker', async () => {
  const plain = repetitiveBytes(500_000);
  const packed = compress('xz', ['-c', '--format=lzma'], plain);
  const known = withKnownSize(packed, plain.length);
  assertBytes(await decompress(known, 'lzma'), plain, 'size in header, then end marker');
  await assert.rejects(
    decompress(withKnownSize(packed, plain.length + 1), 'lzma'),
    ImageFormatError,
  );
  await assert.rejects(
    decompress(withKnownSize(packed, plain.length - 1), 'lzma'),
    ImageFormatError,
  );
});

test('other lc/lp/pb decode too (Linux only detects the usual 5d 00)', async () => {
  const plain = repetitiveBytes(200_000);
  const packed = compress('xz', ['-c', '--format=lzma', '--lzma1=preset=6,lc=0,lp=2,pb=0'], plain);
  assert.equal(detectCompression(packed), undefined);
  assertBytes(await decompress(packed, 'lzma'), plain, 'lc=0,lp=2,pb=0');
});

test('truncated streams and bad headers throw', async () => {
  const packed = compress('xz', ['-c', '--format=lzma'], repetitiveBytes(300_000));
  await assertTruncationsThrow(packed, 'lzma', [
    0,
    12,
    14,
    18,
    500,
    packed.length - 6,
    packed.length - 1,
  ]);
  const props = packed.slice();
  props[0] = 225;
  await assert.rejects(decompress(props, 'lzma'), /bad properties byte/);
  const range = packed.slice();
  range[13] = 1;
  await assert.rejects(decompress(range, 'lzma'), /range coder/);
});
