import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ElfWorkshop, kernelLinkerScript, xenKernelSource } from '../elf/testing.js';
import { ImageFormatError } from '../errors.js';
import { extractVmlinux, isBzImage, parseBzImage, XLF_KERNEL_64 } from './bzimage.js';
import { loadKernel } from './kernel.js';

const workshop = new ElfWorkshop();
after(() => workshop.remove());
const vmlinux = workshop.build(xenKernelSource(64), kernelLinkerScript(64), 64).data;

const VERSION = '6.1.0-test (xenotype@example) #1 SMP';

interface Options {
  setupSects?: number;
  protocol?: number;
  /** Overrides the 4-byte size trailer. */
  sizeTrailer?: number;
}

/** A bzImage shaped like Linux's: setup sectors, then the protected-mode code holding the
 * compressed payload (followed by its uncompressed size) at payload_offset. */
function makeBzImage(compressed: Uint8Array, uncompressedSize: number, o: Options = {}) {
  const storedSects = o.setupSects ?? 3;
  const setupSects = storedSects || 4;
  const pmStart = (setupSects + 1) * 512;
  const payloadOffset = 0x40;
  const payloadLength = compressed.length + 4;
  const syssize = Math.ceil((payloadOffset + payloadLength + 0x20) / 16);
  const data = new Uint8Array(pmStart + syssize * 16);
  const v = new DataView(data.buffer);
  v.setUint8(0x1f1, storedSects);
  v.setUint16(0x1f2, 1, true);
  v.setUint32(0x1f4, syssize, true);
  v.setUint16(0x1fa, 0xffff, true);
  v.setUint16(0x1fe, 0xaa55, true);
  v.setUint16(0x200, 0x66eb, true);
  data.set(Buffer.from('HdrS'), 0x202);
  v.setUint16(0x206, o.protocol ?? 0x020f, true);
  v.setUint16(0x20e, 0x300, true);
  data.set(Buffer.from(`${VERSION}\0`), 0x500);
  v.setUint8(0x211, 0x01);
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x230, 0x200000, true);
  v.setUint8(0x234, 1);
  v.setUint8(0x235, 21);
  v.setUint16(0x236, 0x7f, true);
  v.setUint32(0x238, 2047, true);
  v.setUint32(0x248, payloadOffset, true);
  v.setUint32(0x24c, payloadLength, true);
  v.setBigUint64(0x258, 0x1000000n, true);
  v.setUint32(0x260, 0x3378000, true);
  v.setUint32(0x264, 0x190, true);
  v.setUint32(0x268, 0x1234, true);
  data.set(compressed, pmStart + payloadOffset);
  v.setUint32(pmStart + payloadOffset + compressed.length, o.sizeTrailer ?? uncompressedSize, true);
  return data;
}

const gzipped = new Uint8Array(gzipSync(vmlinux));
const good = makeBzImage(gzipped, vmlinux.length);

function rejects(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ImageFormatError, `expected ImageFormatError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

async function rejectsAsync(f: () => Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(f, (e: unknown) => {
    assert.ok(e instanceof ImageFormatError, `expected ImageFormatError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

describe('bzImage setup header', () => {
  it('decodes every field and locates the payload', () => {
    assert.equal(isBzImage(good), true);
    const bz = parseBzImage(good);
    const { payload, ...fields } = bz;
    assert.deepEqual(fields, {
      setupSects: 3,
      rootFlags: 1,
      syssize: Math.ceil((0x40 + gzipped.length + 4 + 0x20) / 16),
      vidMode: 0xffff,
      rootDev: 0,
      bootFlag: 0xaa55,
      protocol: 0x020f,
      protocolVersion: '2.15',
      kernelVersion: VERSION,
      typeOfLoader: 0,
      loadflags: 1,
      code32Start: 0x100000,
      initrdAddrMax: 0x7fffffff,
      kernelAlignment: 0x200000,
      relocatableKernel: true,
      minAlignment: 21,
      cmdlineSize: 2047,
      hardwareSubarch: 0,
      payloadOffset: 0x40,
      payloadLength: gzipped.length + 4,
      prefAddress: 0x1000000n,
      initSize: 0x3378000,
      handoverOffset: 0x190,
      xloadflags: 0x7f,
      kernelInfoOffset: 0x1234,
      protectedModeOffset: 2048,
      compression: 'gzip',
      vmlinuxSize: vmlinux.length,
    });
    assert.equal(payload.byteOffset, good.byteOffset + 2048 + 0x40);
    assert.deepEqual(payload.subarray(0, gzipped.length), gzipped);
    assert.ok(fields.xloadflags & XLF_KERNEL_64);
  });

  it('reads setup_sects 0 as 4', () => {
    const bz = parseBzImage(makeBzImage(gzipped, vmlinux.length, { setupSects: 0 }));
    assert.equal(bz.setupSects, 4);
    assert.equal(bz.protectedModeOffset, 2560);
    assert.equal(bz.compression, 'gzip');
  });

  it('leaves out fields newer than the protocol version', () => {
    const bz = parseBzImage(makeBzImage(gzipped, vmlinux.length, { protocol: 0x020a }));
    assert.equal(bz.protocolVersion, '2.10');
    assert.equal(bz.prefAddress, 0x1000000n);
    assert.equal('handoverOffset' in bz, false);
    assert.equal('xloadflags' in bz, false);
    assert.equal('kernelInfoOffset' in bz, false);
  });

  it('rejects protocols without payload fields', () => {
    rejects(
      () => parseBzImage(makeBzImage(gzipped, vmlinux.length, { protocol: 0x0207 })),
      /boot protocol 2.7 \(offset 0x206\) is older than 2.08/,
    );
  });

  it('rejects a bad magic or boot flag', () => {
    const badMagic = new Uint8Array(good);
    badMagic[0x205] = 0x58;
    assert.equal(isBzImage(badMagic), false);
    rejects(
      () => parseBzImage(badMagic),
      /not a bzImage: setup header magic at offset 0x202 is 0x58726448, not "HdrS"/,
    );
    const badFlag = new Uint8Array(good);
    badFlag[0x1fe] = 0;
    rejects(() => parseBzImage(badFlag), /boot flag at offset 0x1fe is 0xaa00, not 0xaa55/);
  });

  it('rejects truncated images', () => {
    assert.equal(isBzImage(good.subarray(0, 0x100)), false);
    rejects(() => parseBzImage(good.subarray(0, 0x100)), /bzImage truncated: 256 bytes/);
    rejects(
      () => parseBzImage(good.subarray(0, 1000)),
      /bzImage truncated: 1000 bytes, but its setup code \(setup_sects 3 at offset 0x1f1\) needs 2048/,
    );
    rejects(
      () => parseBzImage(good.subarray(0, good.length - 10)),
      new RegExp(
        `bzImage truncated: syssize \\(offset 0x1f4\\) says the protected-mode code ends at 0x${good.length.toString(16)}, the file has 0x${(good.length - 10).toString(16)} bytes`,
      ),
    );
    const longPayload = new Uint8Array(good);
    new DataView(longPayload.buffer).setUint32(0x24c, good.length, true);
    rejects(
      () => parseBzImage(longPayload),
      /bzImage payload at offset 0x840 \(payload_offset 0x40 at 0x248\) with payload_length 0x[0-9a-f]+ runs past the end of the file/,
    );
    for (let len = 0; len < good.length; len += 61) {
      try {
        parseBzImage(good.subarray(0, len));
      } catch (e) {
        assert.ok(e instanceof ImageFormatError, `length ${len}: ${String(e)}`);
      }
    }
  });
});

describe('extracting vmlinux', () => {
  it('decompresses a gzip payload into the ELF', async () => {
    assert.deepEqual(await extractVmlinux(good), vmlinux);
  });

  it('rejects a payload whose size trailer disagrees', async () => {
    const bad = makeBzImage(gzipped, vmlinux.length, { sizeTrailer: 1234 });
    await rejectsAsync(
      () => extractVmlinux(bad),
      new RegExp(`decompressed to ${vmlinux.length} bytes, but its size trailer .* says 1234`),
    );
  });

  it('rejects a payload that is not an ELF', async () => {
    const text = Buffer.from('not a kernel at all');
    const bad = makeBzImage(new Uint8Array(gzipSync(text)), text.length);
    await rejectsAsync(() => extractVmlinux(bad), /decompressed to something that is not an ELF/);
  });

  it('rejects a payload of unknown compression', async () => {
    const bad = makeBzImage(new Uint8Array(64).fill(0x5a), 64);
    assert.equal(parseBzImage(bad).compression, undefined);
    await rejectsAsync(
      () => extractVmlinux(bad),
      /payload at offset 0x840 has an unrecognised compression format \(starts 5a 5a 5a 5a 5a 5a\)/,
    );
  });

  it('loads a kernel from a bzImage or from a raw ELF', async () => {
    const fromBz = await loadKernel(good);
    assert.deepEqual(fromBz.vmlinux, vmlinux);
    assert.equal(fromBz.bzImage?.kernelVersion, VERSION);
    assert.equal(fromBz.kernel.xen.phys32Entry, 0x1002000n);

    const fromElf = await loadKernel(vmlinux);
    assert.equal(fromElf.bzImage, undefined);
    assert.equal(fromElf.kernel.entry, 0xffffffff81000000n);

    await rejectsAsync(
      () => loadKernel(new Uint8Array(4096)),
      /kernel image is neither an ELF file .* nor a bzImage/,
    );
  });
});
