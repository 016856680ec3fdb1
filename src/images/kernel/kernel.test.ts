import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EM_X86_64, ET_EXEC } from '../elf/constants.js';
import {
  ElfWorkshop,
  kernelLinkerScript,
  readelf,
  readelfSegments,
  xenKernelSource,
} from '../elf/testing.js';
import { ImageFormatError } from '../errors.js';
import { describeKernel, loadKernel } from './kernel.js';

const workshop = new ElfWorkshop();
after(() => workshop.remove());
const built = workshop.build(xenKernelSource(64), kernelLinkerScript(64), 64, ['--build-id']);

function rejects(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ImageFormatError, `expected ImageFormatError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

describe('describeKernel', () => {
  it('describes a kernel-shaped ELF64', () => {
    const k = describeKernel(built.data);
    assert.equal(k.elfClass, 64);
    assert.equal(k.machine, EM_X86_64);
    assert.equal(k.type, ET_EXEC);
    assert.equal(k.entry, 0xffffffff81000000n);
    const loads = readelfSegments(built.path).filter((s) => s.type === 'LOAD');
    assert.deepEqual(
      k.segments.map((s) => [s.vaddr, s.paddr, s.memsz]),
      loads.map((s) => [s.vaddr, s.paddr, s.memsz]),
    );
    assert.equal(k.physStart, 0x1000000n);
    const last = loads.at(-1)!;
    assert.equal(k.physEnd, last.paddr + BigInt(last.memsz));
    assert.equal(k.xen.entry, 0xffffffff81000001n);
    assert.equal(k.xen.phys32Entry, 0x1002000n);
    assert.equal(k.xen.virtBase, 0xffffffff80000000n);
    const id = /Build ID: ([0-9a-f]+)/.exec(readelf(['-nW'], built.path))?.[1];
    assert.equal(k.buildId, id);
  });

  it('rejects overlapping segments', () => {
    const bytes = new Uint8Array(built.data);
    // Move segment 1's paddr onto segment 0's.
    new DataView(bytes.buffer).setBigUint64(64 + 56 + 24, 0x1000000n, true);
    rejects(
      () => describeKernel(bytes),
      /kernel segments 0 \(paddr 0x1000000, memsz 0x[0-9a-f]+\) and 1 \(paddr 0x1000000\) overlap/,
    );
  });

  it('rejects relocatable objects', () => {
    const src = join(workshop.dir, 'rel.S');
    const obj = join(workshop.dir, 'rel.o');
    execFileSync('sh', ['-c', `printf 'hlt\\n' > ${src} && gcc -c ${src} -o ${obj}`]);
    rejects(
      () => describeKernel(readFileSync(obj)),
      /kernel ELF has e_type 1; a kernel is ET_EXEC/,
    );
  });

  it('loads from a path', async () => {
    const loaded = await loadKernel(built.path);
    assert.equal(loaded.kernel.xen.guestOs, 'linux');
    assert.equal(loaded.bzImage, undefined);
  });
});
