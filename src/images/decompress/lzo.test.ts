import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertBytes,
  assertTruncationsThrow,
  compress,
  machineCode,
  repetitiveBytes,
  withSize,
} from './fixtures.js';
import { decompress } from './index.js';

test('lzop -9 of a kernel-sized input spans many 256 KiB blocks', async () => {
  const plain = machineCode(6_000_000);
  const packed = compress('lzop', ['-c', '-9'], plain);
  assertBytes(await decompress(withSize(packed, plain.length), 'lzo'), plain, 'lzop -9');
});

test('truncated files throw', async () => {
  const packed = compress('lzop', ['-c'], repetitiveBytes(600_000));
  await assertTruncationsThrow(packed, 'lzo', [5, 20, 40, 60, 1000, packed.length - 4]);
});

test('checksums are verified', async () => {
  const packed = compress('lzop', ['-c', '--crc32'], repetitiveBytes(100_000));
  const header = packed.slice();
  header[25] = header[25]! ^ 1; // inside mode/mtime, covered by the header checksum
  await assert.rejects(decompress(header, 'lzo'), /header checksum mismatch/);
  const stored = compress('lzop', ['-c'], new TextEncoder().encode('abcdefgh'));
  stored[stored.length - 6] = stored[stored.length - 6]! ^ 1; // a stored byte
  await assert.rejects(decompress(stored, 'lzo'), /block checksum mismatch/);
});

test('lzop filters are refused with a clear message', async () => {
  const packed = compress('lzop', ['-c', '--filter=1'], repetitiveBytes(1000));
  await assert.rejects(decompress(packed, 'lzo'), /filtered lzop files are not supported/);
});
