import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageFormatError } from '../errors.js';
import {
  assertBytes,
  assertTruncationsThrow,
  compress,
  machineCode,
  randomBytes,
  repetitiveBytes,
  withSize,
} from './fixtures.js';
import { decompress } from './index.js';

test("Linux's xz_wrap.sh invocation: x86 BCJ on real machine code", async () => {
  const plain = machineCode(4_000_000);
  const args = ['-c', '--check=crc32', '--x86', '--lzma2=dict=32MiB'];
  const packed = compress('xz', args, plain);
  assertBytes(await decompress(withSize(packed, plain.length), 'xz'), plain, 'xz --x86');
});

test('x86 BCJ with a start offset', async () => {
  const plain = machineCode(1_000_000);
  const packed = compress('xz', ['-c', '--x86=start=4096', '--lzma2=preset=1'], plain);
  assertBytes(await decompress(packed, 'xz'), plain, 'xz --x86=start=4096');
});

test('concatenated streams with stream padding', async () => {
  const a = repetitiveBytes(100_000);
  const b = randomBytes(50_000);
  const packed = Buffer.concat([
    compress('xz', ['-c'], a),
    new Uint8Array(8),
    compress('xz', ['-c', '--check=crc32'], b),
  ]);
  assertBytes(
    await decompress(withSize(packed, 150_000), 'xz'),
    Buffer.concat([a, b]),
    'two streams',
  );
});

test('truncated streams throw', async () => {
  const packed = compress('xz', ['-c', '-T2', '--block-size=100KiB'], repetitiveBytes(500_000));
  const cuts = [0, 6, 12, 20, 100];
  for (let n = 1; n < 8; n++) cuts.push(Math.floor((packed.length * n) / 8));
  cuts.push(packed.length - 12, packed.length - 1);
  await assertTruncationsThrow(packed, 'xz', cuts);
});

test('a damaged index or footer throws', async () => {
  const packed = compress('xz', ['-c'], repetitiveBytes(100_000));
  for (const back of [1, 3, 8, 12, 14, 16]) {
    const bad = packed.slice();
    bad[bad.length - back] = bad[bad.length - back]! ^ 0x04;
    await assert.rejects(decompress(bad, 'xz'), ImageFormatError, `flip ${back} from the end`);
  }
});

test('filters other than x86 and delta are refused by name', async () => {
  const packed = compress('xz', ['-c', '--arm64', '--lzma2'], repetitiveBytes(1000));
  await assert.rejects(decompress(packed, 'xz'), /unsupported filter 0xa/);
});
