// Debian's cloud kernel, started at its PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) the way Xen's
// docs/misc/pvh.pandoc says, runs through its 32-bit setup, page tables and the switch to long
// mode into C code, up to its first hypercall.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { describeKernel } from '../../src/images/kernel/kernel.js';
import { ensureImages } from '../../src/images/store.js';
import { Cr0 } from '../../src/x86/cpu.js';
import { ExitReason } from '../../src/x86/exit.js';
import { Flag } from '../../src/x86/flags.js';
import { type CpuidResult, defaultPolicy } from '../../src/x86/policy.js';
import { Seg } from '../../src/x86/segments.js';
import { TestMachine } from '../../src/x86/testing/machine.js';

const MEMORY = 256 << 20;
const START_INFO = 0x7000;
const MEMMAP = 0x7100;
const CMDLINE = 0x7200;
const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;

/** Xen's CPUID leaves at 0x40000000, as a guest looks for them. */
function xenPolicy() {
  const base = defaultPolicy();
  return {
    ...base,
    cpuid(leaf: number, subleaf: number, vcpu: number): CpuidResult | undefined {
      if (leaf === 0x40000000)
        return { eax: 0x40000004, ebx: 0x566e6558, ecx: 0x65584d4d, edx: 0x4d4d566e };
      if (leaf === 0x40000001) return { eax: (4 << 16) | 19, ebx: 0, ecx: 0, edx: 0 };
      if (leaf === 0x40000002) return { eax: 1, ebx: 0x40000000, ecx: 0, edx: 0 };
      if (leaf > 0x40000002 && leaf < 0x40000100) return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
      return base.cpuid(leaf, subleaf, vcpu);
    },
  };
}

test('the Debian kernel runs from its PVH entry to its first hypercall', async () => {
  const images = await ensureImages();
  const vmlinux = new Uint8Array(await readFile(images.vmlinux));
  const kernel = describeKernel(vmlinux);
  const entry = Number(kernel.xen.phys32Entry);
  const machine = new TestMachine(MEMORY / 4096);
  machine.map(0, MEMORY);
  (machine.cpu as { policy: unknown }).policy = xenPolicy();
  for (const segment of kernel.segments) {
    machine.write(
      Number(segment.paddr),
      vmlinux.subarray(segment.offset, segment.offset + segment.filesz),
    );
  }
  const cmdline = new TextEncoder().encode('console=hvc0 earlyprintk=xen\0');
  machine.write(CMDLINE, cmdline);
  // e820: low RAM, the legacy hole, RAM from 1 MiB.
  const memmap = new DataView(new ArrayBuffer(3 * 24));
  const e820 = [
    [0, 0x9f000, 1],
    [0x9f000, 0x100000 - 0x9f000, 2],
    [0x100000, MEMORY - 0x100000, 1],
  ];
  e820.forEach(([address, size, type], i) => {
    memmap.setBigUint64(i * 24, BigInt(address!), true);
    memmap.setBigUint64(i * 24 + 8, BigInt(size!), true);
    memmap.setUint32(i * 24 + 16, type!, true);
  });
  machine.write(MEMMAP, new Uint8Array(memmap.buffer));
  const info = new DataView(new ArrayBuffer(56));
  info.setUint32(0, XEN_HVM_START_MAGIC_VALUE, true);
  info.setUint32(4, 1, true); // version
  info.setBigUint64(16, 0n, true); // modlist_paddr
  info.setBigUint64(24, BigInt(CMDLINE), true);
  info.setBigUint64(32, 0n, true); // rsdp_paddr
  info.setBigUint64(40, BigInt(MEMMAP), true);
  info.setUint32(48, e820.length, true);
  machine.write(START_INFO, new Uint8Array(info.buffer));

  // The PVH entry state: 32-bit flat protected mode, paging off, ebx = start info.
  const cpu = machine.cpu;
  cpu.cr0 = Cr0.PE | Cr0.ET;
  for (const seg of [Seg.CS, Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) {
    cpu.segSel[seg] = seg === Seg.CS ? 0x08 : 0x10;
    cpu.segBaseLo[seg] = 0;
    cpu.segLimit[seg] = -1;
    cpu.segAttr[seg] = seg === Seg.CS ? 0xc09b : 0xc093;
  }
  cpu.segSel[Seg.TR] = 0x18;
  cpu.segLimit[Seg.TR] = 0x67;
  cpu.segAttr[Seg.TR] = 0x8b;
  cpu.flags = Flag.Fixed;
  cpu.gpr[3 * 2] = START_INFO;
  cpu.ripLo = entry;
  cpu.updateMode();

  let exit = cpu.run(50_000_000);
  const seen: string[] = [];
  while (exit.reason !== ExitReason.Hypercall && seen.length < 10_000) {
    if (exit.reason === ExitReason.PortIo) {
      if (!exit.write) cpu.completeRead(0xffffffff);
      seen.push(`io ${exit.port.toString(16)}`);
    } else {
      assert.fail(
        `unexpected exit ${exit.reason} at ${cpu.ripHi.toString(16)}:${(cpu.ripLo >>> 0).toString(16)} ${exit.message}`,
      );
    }
    exit = cpu.run(50_000_000);
  }
  assert.equal(exit.reason, ExitReason.Hypercall);
  assert.ok(cpu.codeSize === 64, 'the hypercall is made from 64-bit code');
  const hypercall = cpu.gpr[0]!;
  assert.ok(hypercall >= 0 && hypercall < 64, `rax ${hypercall} is a Xen hypercall number`);
  console.log(`# first hypercall ${hypercall} after ${cpu.instret} instructions`);
});
