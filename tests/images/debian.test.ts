// The image pipeline on Debian's real packages: the cloud kernel and busybox-static, as
// `xenotype images fetch` leaves them in the cache (fetched here when missing).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { XEN_ELFNOTE_OWNER } from '../../src/abi/elfnote.js';
import { readelfNotes } from '../../src/images/elf/testing.js';
import { parseBzImage } from '../../src/images/kernel/bzimage.js';
import { type KernelImage, loadKernel } from '../../src/images/kernel/kernel.js';
import { ensureImages, type GuestImages } from '../../src/images/store.js';
import { requireTool } from '../../src/testing/host-tools.js';

let images: GuestImages;
let kernel: KernelImage;
let vmlinux: Uint8Array;

before(async () => {
  images = await ensureImages({ log: (line) => console.log(`# ${line}`) });
  ({ kernel, vmlinux } = await loadKernel(images.vmlinuz));
});

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** The bytes of the kernel file at a physical address, through its PT_LOAD segments. */
function atPhysical(address: bigint, length: number): Uint8Array {
  const segment = kernel.segments.find(
    (s) => s.paddr <= address && address + BigInt(length) <= s.paddr + BigInt(s.filesz),
  );
  assert.ok(segment, `no segment holds physical ${address.toString(16)}`);
  const offset = segment.offset + Number(address - segment.paddr);
  return vmlinux.subarray(offset, offset + length);
}

describe("Debian's cloud kernel", () => {
  test('the vmlinux is byte-exact with what lz4 -d makes of the payload', async () => {
    requireTool('lz4', 'lz4');
    const bz = parseBzImage(await readFile(images.vmlinuz));
    assert.equal(bz.compression, 'lz4');
    const payload = bz.payload.subarray(0, bz.payload.length - 4); // drop Linux's size trailer
    const reference = execFileSync('lz4', ['-d', '-c'], { input: payload, maxBuffer: 1 << 30 });
    assert.equal(vmlinux.length, reference.length);
    assert.equal(sha256(vmlinux), sha256(reference));
    assert.equal(sha256(await readFile(images.vmlinux)), sha256(reference));
  });

  test('is a 64-bit ELF whose Xen notes match readelf byte for byte', () => {
    requireTool('readelf', 'binutils');
    assert.equal(kernel.elfClass, 64);
    const theirs = readelfNotes(images.vmlinux).filter((n) => n.owner === XEN_ELFNOTE_OWNER);
    const ours = kernel.xen.notes.map((n) => ({
      owner: n.name,
      size: n.desc.length,
      desc: Buffer.from(n.desc).toString('hex'),
    }));
    assert.ok(theirs.length >= 10, `readelf lists ${theirs.length} Xen notes`);
    assert.deepEqual(ours, theirs);
  });

  test('PHYS32_ENTRY is the PVH entry: cld; lgdt, as arch/x86/platform/pvh/head.S begins', () => {
    const entry = kernel.xen.phys32Entry;
    assert.ok(entry !== undefined, 'the cloud kernel is built with CONFIG_PVH');
    assert.deepEqual([...atPhysical(entry, 4)], [0xfc, 0x0f, 0x01, 0x15]);
  });

  test('ENTRY is startup_xen: cld; mov ..., %rsp, as arch/x86/xen/xen-head.S begins', () => {
    const { entry, virtBase, paddrOffset } = kernel.xen;
    assert.ok(entry !== undefined && virtBase !== undefined);
    assert.equal(virtBase, 0xffffffff80000000n);
    const physical = entry - virtBase - (paddrOffset ?? 0n);
    assert.deepEqual([...atPhysical(physical, 4)], [0xfc, 0x48, 0x8b, 0x25]);
  });

  test('declares the features a PV/PVH Linux kernel declares', () => {
    assert.equal(kernel.xen.guestOs, 'linux');
    assert.deepEqual(kernel.xen.features.required, ['writable_page_tables']);
    assert.ok(kernel.xen.features.supported.includes('pae_pgdir_above_4gb'));
  });
});

describe('the default initramfs', () => {
  test('lists with cpio -t: busybox, applets, /init and the Xen frontend modules', async () => {
    requireTool('cpio', 'cpio');
    const archive = gunzipSync(await readFile(images.initramfs));
    const names = execFileSync('cpio', ['-t', '--quiet'], { input: archive, encoding: 'utf8' })
      .trimEnd()
      .split('\n');
    const modules = `lib/modules/${images.kernelRelease}`;
    for (const name of [
      'init',
      'bin/busybox',
      'bin/sh',
      'bin/mount',
      'dev/console',
      `${modules}/kernel/drivers/block/xen-blkfront.ko`,
      `${modules}/kernel/drivers/net/xen-netfront.ko`,
      `${modules}/modules.dep`,
    ]) {
      assert.ok(names.includes(name), `${name} missing from the initramfs`);
    }
  });

  test('extracts with cpio -idm: an executable /init and the package busybox', async () => {
    requireTool('cpio', 'cpio');
    const into = await mkdtemp(join(tmpdir(), 'xenotype-initramfs-'));
    try {
      const archive = gunzipSync(await readFile(images.initramfs));
      execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], {
        input: archive,
        cwd: into,
      });
      assert.equal(
        sha256(await readFile(join(into, 'bin/busybox'))),
        sha256(await readFile(images.busybox)),
      );
      const init = await readFile(join(into, 'init'), 'utf8');
      assert.match(init, /^#!\/bin\/busybox sh\n/);
      assert.match(init, /hvc0/);
      assert.equal((await stat(join(into, 'init'))).mode & 0o111, 0o111);
      const loaded = await readFile(
        join(into, 'lib/modules', images.kernelRelease, 'modules.dep'),
        'utf8',
      );
      assert.match(loaded, /xen-blkfront\.ko:/);
    } finally {
      await rm(into, { recursive: true, force: true });
    }
  });
});
