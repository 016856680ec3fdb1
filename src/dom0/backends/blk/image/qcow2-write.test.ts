import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BlockImage, openImage } from './index.js';
import {
  assertCheckClean,
  assertSameBytes,
  compressible,
  contentByQemu,
  contentByUs,
  KiB,
  MiB,
  pattern,
  qemuImg,
  qemuIo,
  rejectsWith,
  tempDir,
} from './testkit.js';

/** A disk and a byte-array model of it that every write and discard is applied to. */
class Mirror {
  constructor(
    readonly image: BlockImage,
    readonly model: Uint8Array,
  ) {}

  async write(offset: number, length: number, seed: number): Promise<void> {
    const data = pattern(length, seed);
    await this.image.write(offset, data);
    this.model.set(data, offset);
  }

  async discard(offset: number, length: number): Promise<void> {
    await this.image.discard(offset, length);
    this.model.fill(0, offset, offset + length);
  }
}

/** Closes, then has qemu check the image and compare its content with the model. */
async function verify(path: string, mirror: Mirror): Promise<void> {
  assertSameBytes(await contentByUs(mirror.image), mirror.model, `${path} read by us`);
  await mirror.image.close();
  assertCheckClean(path);
  assertSameBytes(await contentByQemu(path), mirror.model, `${path} read by qemu`);
}

async function withBacking(dir: string, kind: 'none' | 'raw' | 'qcow2', size: number) {
  if (kind === 'none') return [];
  const base = join(dir, `base.${kind}`);
  if (kind === 'raw') {
    await writeFile(base, pattern(size, 99));
  } else {
    qemuImg('create', '-q', '-f', 'qcow2', base, String(size));
    qemuIo(base, 'qcow2', `write -P 0x5c 0 ${size / 2}`, `write -P 0xc5 ${size - 4096} 4096`);
  }
  return ['-b', base, '-F', kind];
}

const SIZE = 8 * MiB;
/** [offset, length]: inside a cluster, across boundaries, whole clusters, the end. */
const WRITES: [number, number][] = [
  [512, 512],
  [64 * KiB - 1024, 4 * KiB],
  [3 * 64 * KiB, 64 * KiB],
  [5 * 64 * KiB + 512, 3 * 64 * KiB],
  [2 * MiB - 3 * KiB, 6 * KiB], // across an L2 table boundary with 4 KiB clusters
  [SIZE - 1024, 1024],
  [512, 1024], // again: in place now
  [4 * MiB + 4 * KiB, 1 * MiB + 512],
];

for (const compat of ['0.10', '1.1']) {
  for (const backing of ['none', 'raw', 'qcow2'] as const) {
    for (const clusterSize of [4096, 65536]) {
      const name = `compat=${compat} backing=${backing} cluster_size=${clusterSize}`;
      test(`qcow2 ${name}: writes, then discards, pass qemu-img check`, async (t) => {
        const dir = await tempDir(t);
        const path = join(dir, 'disk.qcow2');
        const options = `compat=${compat},cluster_size=${clusterSize}`;
        const backingArgs = await withBacking(dir, backing, SIZE / 2);
        qemuImg('create', '-q', '-f', 'qcow2', '-o', options, ...backingArgs, path, String(SIZE));
        const mirror = new Mirror(await openImage(path), await contentByQemu(path));
        for (const [i, [offset, length]] of WRITES.entries()) {
          await mirror.write(offset, length, i);
        }
        await mirror.image.flush();
        await verify(path, mirror);

        const again = new Mirror(await openImage(path), mirror.model);
        await again.discard(1024, 1024); // partial
        await again.discard(3 * 64 * KiB, 3 * 64 * KiB); // whole clusters, partly unwritten
        await again.discard(4 * MiB - 512, 1 * MiB + 1024); // both edges partial
        await again.discard(SIZE - 64 * KiB, 64 * KiB);
        await again.write(3 * 64 * KiB + 512, 512, 40); // into a discarded cluster
        await verify(path, again);
      });
    }
  }
}

test('qcow2: clusters freed by discard are reused before the file grows', async (t) => {
  const path = join(await tempDir(t), 'disk.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', path, '16M');
  const mirror = new Mirror(await openImage(path), new Uint8Array(16 * MiB));
  await mirror.write(0, 4 * MiB, 1);
  await mirror.discard(0, 4 * MiB);
  const before = (await stat(path)).size;
  await mirror.write(8 * MiB, 4 * MiB, 2);
  assert.equal((await stat(path)).size, before);
  await verify(path, mirror);
});

test('qcow2: preallocated zero clusters (preallocation=metadata) are written in place', async (t) => {
  const path = join(await tempDir(t), 'disk.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'preallocation=metadata', path, '4M');
  const before = (await stat(path)).size;
  const mirror = new Mirror(await openImage(path), new Uint8Array(4 * MiB));
  await mirror.write(512, 1024, 1);
  await mirror.write(1 * MiB, 64 * KiB, 2);
  await mirror.discard(2 * MiB, 64 * KiB); // gives its cluster back
  await mirror.write(3 * MiB + 512, 130 * KiB, 3);
  assert.equal((await stat(path)).size, before);
  await verify(path, mirror);
});

for (const refcountBits of [1, 16, 64]) {
  test(`qcow2: 512-byte clusters, refcount_bits=${refcountBits}: refcount blocks and table grow`, async (t) => {
    const path = join(await tempDir(t), 'disk.qcow2');
    const options = `cluster_size=512,refcount_bits=${refcountBits}`;
    qemuImg('create', '-q', '-f', 'qcow2', '-o', options, path, '24M');
    const tableBefore = (await readFile(path)).readBigUInt64BE(48);
    const mirror = new Mirror(await openImage(path), new Uint8Array(24 * MiB));
    // Scattered, so L2 tables, refcount blocks and data interleave in the file; enough of
    // them to outgrow the refcount table where it covers little (8 MiB for 16-bit counts).
    const writes = refcountBits === 16 ? 40 : 12;
    for (let i = 0; i < writes; i++) {
      await mirror.write(((i * 7) % 48) * 512 * KiB + 512, 256 * KiB, i);
    }
    await mirror.discard(5 * MiB, 3 * MiB);
    await mirror.write(6 * MiB, 64 * KiB, 100);
    await verify(path, mirror);
    // 16-bit counts in 512-byte blocks cover 8 MiB per table cluster, 64-bit ones 2 MiB.
    const moved = (await readFile(path)).readBigUInt64BE(48) !== tableBefore;
    assert.equal(moved, refcountBits > 1, 'the refcount table moved');
  });
}

test('qcow2: concurrent writes and reads, some to the same new cluster', async (t) => {
  const path = join(await tempDir(t), 'disk.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', path, '4M');
  const mirror = new Mirror(await openImage(path), new Uint8Array(4 * MiB));
  const requests: Promise<void>[] = [];
  for (let i = 0; i < 64; i++) {
    // Eight 512-byte sectors of each 4 KiB cluster written by eight different requests.
    const offset = Math.floor(i / 8) * 37 * 4096 + (i % 8) * 512;
    requests.push(mirror.write(offset, 512, i));
    requests.push(mirror.image.read(offset, new Uint8Array(4096 - (i % 8) * 512)));
  }
  for (let i = 0; i < 16; i++) requests.push(mirror.write(2 * MiB + i * 64 * KiB, 64 * KiB, i));
  await Promise.all(requests);
  await verify(path, mirror);
});

test('qcow2: writing over compressed clusters and internal snapshots keeps both intact', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'source.raw');
  await writeFile(raw, compressible(2 * MiB, 3));
  const path = join(dir, 'disk.qcow2');
  qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, path);
  assert.equal(assertCheckClean(path)['compressed-clusters'], 32);
  qemuImg('snapshot', '-c', 'before', path);
  const original = await contentByQemu(path);

  const mirror = new Mirror(await openImage(path), original.slice());
  await mirror.write(512, 512, 1); // partial: the compressed cluster is inflated and copied
  await mirror.write(128 * KiB, 64 * KiB, 2); // whole cluster
  await mirror.discard(512 * KiB, 128 * KiB);
  await mirror.write(1 * MiB + 1024, 70 * KiB, 3);
  await verify(path, mirror);

  const snapshot = await contentByQemu(path, ['-l', 'snapshot.name=before']);
  assertSameBytes(snapshot, original, 'the snapshot is untouched');
});

test('qcow2: sequential 64 MiB in 1 MiB writes, then read back', async (t) => {
  const path = join(await tempDir(t), 'disk.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', path, '64M');
  const mirror = new Mirror(await openImage(path), new Uint8Array(64 * MiB));
  const chunk = pattern(1 * MiB, 5);
  for (let offset = 0; offset < 64 * MiB; offset += 1 * MiB) {
    await mirror.image.write(offset, chunk);
    mirror.model.set(chunk, offset);
  }
  await verify(path, mirror);
});

test('qcow2: read-only images refuse writes and discards; closed images refuse all', async (t) => {
  const path = join(await tempDir(t), 'disk.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', path, '1M');
  const image = await openImage(path, { readOnly: true });
  assert.equal(image.readOnly, true);
  await rejectsWith(image.write(0, new Uint8Array(512)), 'read-only', path);
  await rejectsWith(image.discard(0, 512), 'read-only', path);
  await rejectsWith(image.read(1 * MiB, new Uint8Array(512)), 'out-of-range', path);
  await image.flush();
  await image.close();
  await rejectsWith(image.read(0, new Uint8Array(512)), 'io', path);
});
