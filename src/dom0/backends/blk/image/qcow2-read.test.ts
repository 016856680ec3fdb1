import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openImage } from './index.js';
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
  tempDir,
} from './testkit.js';

for (const compat of ['0.10', '1.1']) {
  test(`qcow2 compat=${compat}: reads what qemu-io wrote, at odd places and sizes`, async (t) => {
    const path = join(await tempDir(t), 'disk.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `compat=${compat}`, path, '8M');
    qemuIo(
      path,
      'qcow2',
      'write -P 0x11 0 512',
      'write -P 0x22 65024 1536', // across the first cluster boundary
      'write -P 0x33 1M 192k',
      'write -P 0x44 8387584 512', // the last sector
    );
    const image = await openImage(path, { readOnly: true });
    assert.equal(image.format, 'qcow2');
    assert.equal(image.size, 8 * MiB);
    assertSameBytes(await contentByUs(image), await contentByQemu(path), 'whole disk');
    // Small reads inside and across clusters.
    const sector = new Uint8Array(1024);
    await image.read(65024 - 512, sector);
    assert.deepEqual([sector[0], sector[511], sector[512], sector[1023]], [0, 0, 0x22, 0x22]);
    await image.close();
  });
}

test('qcow2: content converted from a raw pattern reads back, compressed or not', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'source.raw');
  // Incompressible, zeros (left unallocated), text (compressed).
  const source = new Uint8Array(6 * MiB);
  source.set(pattern(2 * MiB, 7));
  source.set(compressible(3 * MiB, 8), 3 * MiB);
  await writeFile(raw, source);
  const cases: [string, string[]][] = [
    ['plain.qcow2', []],
    ['compressed.qcow2', ['-c']],
    ['compressed-4k.qcow2', ['-c', '-o', 'cluster_size=4096']],
    ['compressed-v2.qcow2', ['-c', '-o', 'compat=0.10,cluster_size=2M']],
    ['small-clusters.qcow2', ['-o', 'cluster_size=512,refcount_bits=1']],
  ];
  for (const [name, options] of cases) {
    const path = join(dir, name);
    qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', ...options, raw, path);
    const report = assertCheckClean(path);
    if (options.includes('-c')) assert.ok(Number(report['compressed-clusters']) > 0, name);
    const image = await openImage(path);
    assertSameBytes(await contentByUs(image), source, name);
    // Sector-sized reads walking through compressed clusters.
    const sector = new Uint8Array(512);
    for (let offset = 4 * MiB - 2 * KiB; offset < 4 * MiB + 2 * KiB; offset += 512) {
      await image.read(offset, sector);
      assertSameBytes(sector, source.subarray(offset, offset + 512), `${name} at ${offset}`);
    }
    await image.close();
  }
});

test('qcow2: a chain raw <- qcow2 <- qcow2 with relative names reads like qemu', async (t) => {
  const dir = await tempDir(t);
  const base = join(dir, 'base.raw');
  await writeFile(base, pattern(2 * MiB, 1)); // smaller than the overlays
  qemuImg(
    'create',
    '-q',
    '-f',
    'qcow2',
    '-b',
    'base.raw',
    '-F',
    'raw',
    join(dir, 'mid.qcow2'),
    '4M',
  );
  qemuIo(join(dir, 'mid.qcow2'), 'qcow2', 'write -P 0x61 64k 64k', 'write -P 0x62 2M 4k');
  qemuImg(
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    'compat=0.10',
    '-b',
    'mid.qcow2',
    '-F',
    'qcow2',
    join(dir, 'top.qcow2'),
    '4M',
  );
  qemuIo(join(dir, 'top.qcow2'), 'qcow2', 'write -P 0x71 100k 8k', 'write -P 0x72 3M 512');
  const top = await openImage(join(dir, 'top.qcow2'));
  assertSameBytes(await contentByUs(top), await contentByQemu(join(dir, 'top.qcow2')), 'top');
  await top.close();
});

test('qcow2: zero clusters hide the backing file; a backing format is probed if absent', async (t) => {
  const dir = await tempDir(t);
  const base = join(dir, 'base.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
  qemuIo(base, 'qcow2', 'write -P 0x99 0 1M');
  const top = join(dir, 'top.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top, '1M');
  await hideBackingFormat(top); // so that we must probe the backing file's format
  qemuIo(top, 'qcow2', 'write -z 64k 128k', 'write -z 300k 4k');
  const image = await openImage(top);
  const content = await contentByUs(image);
  assertSameBytes(content, await contentByQemu(top), 'with zeros');
  assert.equal(content[64 * KiB], 0);
  assert.equal(content[0], 0x99);
  await image.close();
});

/** Renames the backing-format header extension to an unknown type, which readers ignore. */
async function hideBackingFormat(path: string): Promise<void> {
  const file = await readFile(path);
  const at = file.subarray(0, 64 * KiB).indexOf(Buffer.from([0xe2, 0x79, 0x2a, 0xca]));
  assert.ok(at > 0, 'backing format extension not found');
  file.writeUInt32BE(0x7e570000, at);
  await writeFile(path, file);
}
