import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ImageError, type ImageErrorCode, openImage } from './index.js';
import {
  assertSameBytes,
  KiB,
  MiB,
  pattern,
  qemuImg,
  qemuIo,
  rejectsWith,
  tempDir,
} from './testkit.js';

/** A small v3 image with data in two clusters, one of them compressed, and its bytes. */
async function realImage(dir: string): Promise<{ path: string; bytes: Buffer }> {
  const raw = join(dir, 'source.raw');
  const source = new Uint8Array(1 * MiB);
  source.fill(0x42, 0, 64 * KiB); // compresses
  source.set(pattern(64 * KiB, 1), 64 * KiB); // does not
  await writeFile(raw, source);
  const path = join(dir, 'disk.qcow2');
  qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, path);
  return { path, bytes: await readFile(path) };
}

/** Offsets of interest in a real image, read from its header and tables. */
function layout(bytes: Buffer) {
  const l1 = Number(bytes.readBigUInt64BE(40));
  const l2 = Number(bytes.readBigUInt64BE(l1) & 0x00ff_ffff_ffff_fe00n);
  return { l1, l2, refcountTable: Number(bytes.readBigUInt64BE(48)) };
}

/** Writes a patched copy of the image, and checks that opening (and, if it opens, reading
 * and writing) fails with `code`, leaving the file exactly as it was. */
async function expectRefused(
  path: string,
  original: Buffer,
  patch: (bytes: Buffer) => void,
  code: ImageErrorCode,
  readOnly = false,
): Promise<void> {
  const bytes = Buffer.from(original);
  patch(bytes);
  await writeFile(path, bytes);
  let error: ImageError;
  try {
    const image = await openImage(path, { readOnly });
    try {
      error = await rejectsWith(image.read(0, new Uint8Array(128 * KiB)), code, path);
      // Partial clusters, so that their old content has to be read.
      if (!readOnly) await rejectsWith(image.write(512, new Uint8Array(127 * KiB)), code, path);
    } finally {
      await image.close();
    }
  } catch (thrown) {
    if (!(thrown instanceof ImageError)) throw thrown;
    error = thrown;
  }
  assert.equal(error.code, code, error.message);
  assert.ok(error.message.includes(path), error.message);
  assertSameBytes(await readFile(path), bytes, 'the file is untouched');
}

test('qcow2: damaged headers are refused as corrupt', async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await realImage(dir);
  const { l1, refcountTable } = layout(bytes);
  const corrupt = (patch: (b: Buffer) => void) => expectRefused(path, bytes, patch, 'corrupt');
  await corrupt((b) => b.fill(0, 50)); // header truncated to 50 bytes, rest zero
  await writeFile(path, bytes.subarray(0, 50));
  await rejectsWith(openImage(path), 'corrupt', path);
  await corrupt((b) => b.writeUInt32BE(8, 20)); // cluster_bits
  await corrupt((b) => b.writeBigUInt64BE(1n << 40n, 40)); // L1 beyond the end of the file
  await corrupt((b) => b.writeBigUInt64BE(BigInt(l1 + 512), 40)); // L1 misaligned
  await corrupt((b) => b.writeUInt32BE(0x7fff_ffff, 36)); // l1_size absurd
  await corrupt((b) => b.writeUInt32BE(0, 36)); // l1_size too small for the disk
  await corrupt((b) => b.writeBigUInt64BE(1n << 40n, 48)); // refcount table beyond the end
  await corrupt((b) => b.writeUInt32BE(0, 56)); // no refcount table
  await corrupt((b) => b.writeUInt32BE(0xffff, 56)); // refcount table absurd
  await corrupt((b) => b.writeUInt32BE(7, 96)); // refcount_order
  await corrupt((b) => b.writeUInt32BE(100, 100)); // header_length not a multiple of 8
  await corrupt((b) => b.writeUInt32BE(0xfff0, 112 + 4)); // a header extension overruns
  await corrupt((b) => b.writeBigUInt64BE(1n << 62n, 24)); // size absurd
  await corrupt((b) => b.writeBigUInt64BE(BigInt(refcountTable + 3), refcountTable)); // entry
  await corrupt((b) => {
    b.writeBigUInt64BE(200n, 8); // backing name offset
    b.writeUInt32BE(5000, 16); // and absurd length
  });
  await corrupt((b) => b.writeUInt32BE(2, 76)); // the corrupt bit: for writing, refused
  const marked = Buffer.from(bytes);
  marked.writeUInt32BE(2, 76);
  await writeFile(path, marked);
  const readable = await openImage(path, { readOnly: true }); // but readable, as in QEMU
  await readable.read(0, new Uint8Array(512));
  await readable.close();
});

test('qcow2: damaged tables are corrupt when reached, and nothing is written', async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await realImage(dir);
  const { l1, l2 } = layout(bytes);
  const corrupt = (patch: (b: Buffer) => void) => expectRefused(path, bytes, patch, 'corrupt');
  await corrupt((b) => b.writeBigUInt64BE((1n << 63n) | (1n << 40n), l1)); // L2 beyond the file
  await corrupt((b) => b.writeBigUInt64BE(b.readBigUInt64BE(l1) + 512n, l1)); // misaligned L2
  await corrupt((b) => b.writeBigUInt64BE(b.readBigUInt64BE(l1) | 1n, l1)); // reserved bit
  // The second cluster is plain data; point it half a cluster off.
  await corrupt((b) => b.writeBigUInt64BE(b.readBigUInt64BE(l2 + 8) + 32768n, l2 + 8));
  await corrupt((b) => b.writeBigUInt64BE(1n << 63n, l2 + 8)); // data at offset 0
  // The first cluster is compressed: garble its deflate stream.
  await corrupt((b) => {
    const host = Number(b.readBigUInt64BE(l2) & ((1n << 54n) - 1n));
    b.fill(0xff, host, host + 16);
  });
  // A zero flag in a version 2 image.
  await corrupt((b) => {
    b.writeUInt32BE(2, 4);
    b.writeBigUInt64BE(b.readBigUInt64BE(l2 + 8) | 1n, l2 + 8);
  });
});

test('qcow2: a data cluster aimed at the L1 table may be read but not written', async (t) => {
  const { path, bytes } = await realImage(await tempDir(t));
  const { l1, l2 } = layout(bytes);
  const damaged = Buffer.from(bytes);
  damaged.writeBigUInt64BE((1n << 63n) | BigInt(l1), l2 + 8);
  await writeFile(path, damaged);
  const image = await openImage(path);
  await image.read(0, new Uint8Array(128 * KiB));
  await rejectsWith(image.write(64 * KiB, new Uint8Array(512)), 'corrupt', path);
  await image.close();
  assertSameBytes(await readFile(path), damaged, 'the file is untouched');
});

test('qcow2: a cluster in use with refcount 0 fails a write before it writes', async (t) => {
  const { path, bytes } = await realImage(await tempDir(t));
  const { l2, refcountTable } = layout(bytes);
  const damaged = Buffer.from(bytes);
  const compressedHost = Number(bytes.readBigUInt64BE(l2) & ((1n << 54n) - 1n));
  const block = Number(bytes.readBigUInt64BE(refcountTable));
  damaged.writeUInt16BE(0, block + Math.floor(compressedHost / (64 * KiB)) * 2);
  await writeFile(path, damaged);
  const image = await openImage(path);
  await image.read(0, new Uint8Array(128 * KiB));
  await rejectsWith(image.write(512, new Uint8Array(512)), 'corrupt', path);
  await rejectsWith(image.discard(0, 64 * KiB), 'corrupt', path);
  await image.close();
  assertSameBytes(await readFile(path), damaged, 'the file is untouched');
});

test('qcow2: features we do not implement are refused as unsupported', async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await realImage(dir);
  const unsupported = (patch: (b: Buffer) => void, readOnly = false) =>
    expectRefused(path, bytes, patch, 'unsupported', readOnly);
  await unsupported((b) => b.writeUInt32BE(4, 4)); // version 4
  await unsupported((b) => b.writeUInt32BE(1, 32)); // AES encryption
  await unsupported((b) => b.writeUInt32BE(1 << 9, 76)); // an unknown incompatible feature
  await unsupported((b) => b.writeUInt32BE(1, 76)); // dirty, for writing
  await unsupported((b) => b.writeBigUInt64BE(1000n * 1024n + 100n, 24)); // size not in sectors

  const dirty = Buffer.from(bytes);
  dirty.writeUInt32BE(1, 76);
  await writeFile(path, dirty);
  const readable = await openImage(path, { readOnly: true }); // reading a dirty image is fine
  await readable.read(0, new Uint8Array(512));
  await readable.close();

  const bitmaps = join(dir, 'bitmaps.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', bitmaps, '1M');
  qemuImg('bitmap', '--add', bitmaps, 'b0');
  await rejectsWith(openImage(bitmaps), 'unsupported', bitmaps);
  await (await openImage(bitmaps, { readOnly: true })).close();

  const made: [string, string][] = [
    ['zstd.qcow2', 'compression_type=zstd'],
    ['subclusters.qcow2', 'extended_l2=on'],
    ['external.qcow2', `data_file=${join(dir, 'external.data')}`],
  ];
  for (const [name, option] of made) {
    const image = join(dir, name);
    qemuImg('create', '-q', '-f', 'qcow2', '-o', option, image, '1M');
    await rejectsWith(openImage(image), 'unsupported', image);
  }
});

test('qcow2: backing files that are missing, looping or not qcow2 are refused', async (t) => {
  const dir = await tempDir(t);
  const base = join(dir, 'base.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
  const top = join(dir, 'top.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top, '1M');
  qemuIo(top, 'qcow2', 'write -P 1 0 4k');
  const topBytes = await readFile(top);

  await writeFile(base, 'not a qcow2 image');
  const notQcow2 = await rejectsWith(openImage(top), 'corrupt', top);
  assert.ok(notQcow2.message.includes(base), notQcow2.message);
  await rejectsWith(openImage(base, { format: 'qcow2' }), 'corrupt', base);

  await writeFile(base, topBytes); // base now names itself as its backing file
  await rejectsWith(openImage(top), 'corrupt', top);

  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'gone.raw', '-F', 'raw', '-u', top, '1M');
  const missing = await rejectsWith(openImage(top), 'not-found', top);
  assert.ok(missing.message.includes(join(dir, 'gone.raw')), missing.message);
});

test('qcow2: random damage to real images gives ImageErrors or data, never a crash', async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await realImage(dir);
  const { l1, l2 } = layout(bytes);
  const places = [0, 512, l1, l2]; // header, extensions, L1, L2
  let seed = 12345;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let round = 0; round < 300; round++) {
    const damaged = Buffer.from(bytes);
    for (let flips = 1 + random(3); flips > 0; flips--) {
      const at = (places[random(places.length)] ?? 0) + random(128);
      damaged[at] = (damaged[at] ?? 0) ^ (1 << random(8));
    }
    await writeFile(path, damaged);
    try {
      const image = await openImage(path, { readOnly: true });
      try {
        await image.read(0, new Uint8Array(Math.min(image.size, 256 * KiB)));
      } finally {
        await image.close();
      }
    } catch (error) {
      assert.ok(error instanceof ImageError, `round ${round}: ${String(error)}`);
    }
  }
});
