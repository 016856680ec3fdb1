import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { crc32 } from './checksum.js';
import {
  assertBytes,
  assertTruncationsThrow,
  compress,
  repetitiveBytes,
  withSize,
} from './fixtures.js';
import { decompress } from './index.js';

/** A member with every optional header field: extra, name, comment and header CRC. */
function fullMember(plain: Uint8Array): Uint8Array {
  const head = [0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3, 4, 0, 1, 2, 3, 4];
  head.push(...new TextEncoder().encode('vmlinux\0a comment\0'));
  const headCrc = crc32(new Uint8Array(head)) & 0xffff;
  head.push(headCrc & 0xff, headCrc >>> 8);
  const trailer = new Uint8Array(8);
  new DataView(trailer.buffer).setUint32(0, crc32(plain), true);
  new DataView(trailer.buffer).setUint32(4, plain.length, true);
  return Buffer.concat([new Uint8Array(head), deflateRawSync(plain), trailer]);
}

test('optional header fields are skipped and the header CRC checked', async () => {
  const plain = repetitiveBytes(50_000);
  const member = fullMember(plain);
  assertBytes(await decompress(withSize(member, plain.length), 'gzip'), plain, 'full header');
  member[12] = member[12]! ^ 1; // inside the extra field
  await assert.rejects(decompress(member, 'gzip'), /header CRC mismatch/);
});

test('concatenated members decode like gzip -d; a size that looks like a magic does not', async () => {
  const a = repetitiveBytes(40_000);
  const b = new TextEncoder().encode('second member');
  const packed = Buffer.concat([compress('gzip', ['-c'], a), compress('gzip', ['-c'], b)]);
  const magicSize = new Uint8Array([0x1f, 0x8b, 0x08, 0x00]);
  const out = await decompress(Buffer.concat([packed, magicSize]), 'gzip');
  assertBytes(out, Buffer.concat([a, b]), 'two members');
});

test('truncated members throw', async () => {
  const packed = compress('gzip', ['-c'], repetitiveBytes(300_000));
  await assertTruncationsThrow(packed, 'gzip', [
    0,
    5,
    10,
    30,
    packed.length - 8,
    packed.length - 1,
  ]);
});
