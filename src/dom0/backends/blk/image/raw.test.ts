import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRawImage, openImage } from './index.js';
import { assertSameBytes, KiB, MiB, pattern, rejectsWith, tempDir } from './testkit.js';

test('raw: writes land in the file byte for byte; reads, flush and discard', async (t) => {
  const path = join(await tempDir(t), 'disk.raw');
  await createRawImage(path, 4 * MiB);
  const image = await openImage(path);
  assert.equal(image.format, 'raw');
  assert.equal(image.size, 4 * MiB);
  assert.equal(image.readOnly, false);

  const data = pattern(3 * KiB, 1);
  await image.write(1536, data);
  await image.write(4 * MiB - 512, pattern(512, 2));
  const back = new Uint8Array(3 * KiB);
  await image.read(1536, back);
  assertSameBytes(back, data, 'read back');
  await image.flush();

  await image.discard(2048, 1024);
  await image.read(1536, back);
  const expected = data.slice();
  expected.fill(0, 512, 1536);
  assertSameBytes(back, expected, 'after discard');
  await image.close();

  const file = new Uint8Array(await readFile(path));
  assert.equal(file.length, 4 * MiB);
  assertSameBytes(file.subarray(1536, 1536 + 3 * KiB), expected, 'file content');
  assertSameBytes(file.subarray(4 * MiB - 512), pattern(512, 2), 'last sector');
});

test('raw: requests must be aligned and inside the disk', async (t) => {
  const path = join(await tempDir(t), 'disk.raw');
  await createRawImage(path, 64 * KiB);
  const image = await openImage(path, { format: 'raw' });
  await rejectsWith(image.read(64 * KiB, new Uint8Array(512)), 'out-of-range', path);
  await rejectsWith(image.read(63 * KiB, new Uint8Array(2 * KiB)), 'out-of-range', path);
  await rejectsWith(image.write(100, new Uint8Array(512)), 'out-of-range', path);
  await rejectsWith(image.write(0, new Uint8Array(100)), 'out-of-range', path);
  await rejectsWith(image.discard(-512, 512), 'out-of-range', path);
  await image.read(64 * KiB, new Uint8Array(0)); // empty at the very end is fine
  await image.close();
  await rejectsWith(image.read(0, new Uint8Array(512)), 'io', path);
});

test('raw: read-only refuses writes and discards; odd sizes round up and read zeros', async (t) => {
  const path = join(await tempDir(t), 'odd.img');
  await writeFile(path, new Uint8Array(1000).fill(0xaa));
  const image = await openImage(path, { readOnly: true });
  assert.equal(image.readOnly, true);
  assert.equal(image.size, 1024);
  await rejectsWith(image.write(0, new Uint8Array(512)), 'read-only', path);
  await rejectsWith(image.discard(0, 512), 'read-only', path);
  const tail = new Uint8Array(512);
  await image.read(512, tail);
  assert.deepEqual([...tail.subarray(0, 488)], new Array(488).fill(0xaa));
  assert.deepEqual([...tail.subarray(488)], new Array(24).fill(0));
  await image.flush();
  await image.close();
});

test('raw: a missing file is not-found; createRawImage wants whole sectors', async (t) => {
  const dir = await tempDir(t);
  await rejectsWith(openImage(join(dir, 'nope.raw')), 'not-found', 'nope.raw');
  await rejectsWith(createRawImage(join(dir, 'bad.raw'), 1000), 'out-of-range');
});

test('raw: concurrent requests and a close that waits for them', async (t) => {
  const path = join(await tempDir(t), 'disk.raw');
  await createRawImage(path, 1 * MiB);
  const image = await openImage(path);
  const writes = [];
  for (let i = 0; i < 16; i++) writes.push(image.write(i * 64 * KiB, pattern(64 * KiB, i)));
  await image.close(); // queued behind the writes, so they all complete first
  await Promise.all(writes);
  const file = new Uint8Array(await readFile(path));
  for (let i = 0; i < 16; i++) {
    assertSameBytes(file.subarray(i * 64 * KiB, (i + 1) * 64 * KiB), pattern(64 * KiB, i), `${i}`);
  }
});
