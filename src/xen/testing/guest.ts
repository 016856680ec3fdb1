/**
 * Test guests: a domain whose vCPU 0 starts in 64-bit mode with identity paging of its first
 * GiB, running code assembled by the test. Used to exercise hypercalls from inside a guest.
 */
import { Cr0, Cr4, Efer } from '../../x86/cpu.js';
import { Flag } from '../../x86/flags.js';
import { Seg } from '../../x86/segments.js';
import type { Domain } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';

export const GUEST_CODE = 0x100000;
export const GUEST_STACK_TOP = 0x200000;
export const GUEST_DATA = 0x300000;

/** Writes bytes at a guest-physical address of the domain (it must be populated). */
export function writeGuest(hv: Hypervisor, domain: Domain, gpa: number, data: Uint8Array): void {
  for (let i = 0; i < data.length; ) {
    const mfn = domain.mfnOf(Math.floor((gpa + i) / 4096));
    if (mfn < 0) throw new Error(`guest-physical ${(gpa + i).toString(16)} is not populated`);
    const offset = (gpa + i) % 4096;
    const size = Math.min(4096 - offset, data.length - i);
    hv.memory.bytes.set(data.subarray(i, i + size), mfn * 4096 + offset);
    i += size;
  }
}

export function readGuest(hv: Hypervisor, domain: Domain, gpa: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const mfn = domain.mfnOf(Math.floor((gpa + i) / 4096));
    out[i] = hv.memory.bytes[mfn * 4096 + ((gpa + i) % 4096)]!;
  }
  return out;
}

function u32s(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => {
    view.setUint32(i * 4, value >>> 0, true);
  });
  return out;
}

/** Populates `megabytes` of RAM, builds page tables and a GDT, loads `code`, sets vCPU 0. */
export function prepareGuest(
  hv: Hypervisor,
  domain: Domain,
  code: Uint8Array,
  megabytes = 8,
): void {
  const pages = megabytes * 256;
  if (hv.populatePhysmap(domain, 0, pages) !== pages)
    throw new Error('could not populate the test guest');
  writeGuest(hv, domain, 0x1000, u32s([0x2000 | 3, 0]));
  writeGuest(hv, domain, 0x2000, u32s([0x3000 | 3, 0]));
  const pd: number[] = [];
  for (let i = 0; i < 512; i++) pd.push((i * 0x200000) | 0x83, 0);
  writeGuest(hv, domain, 0x3000, u32s(pd));
  writeGuest(hv, domain, 0x7000, u32s([0, 0, 0x0000ffff, 0x00af9b00, 0x0000ffff, 0x00cf9300]));
  writeGuest(hv, domain, GUEST_CODE, code);
  const cpu = domain.vcpus[0]!.cpu;
  cpu.gdtBaseLo = 0x7000;
  cpu.gdtLimit = 23;
  cpu.cr3Lo = 0x1000;
  cpu.cr4 = Cr4.PAE | Cr4.OSFXSR | Cr4.OSXMMEXCPT;
  cpu.efer = Efer.LME | Efer.LMA | Efer.NXE | Efer.SCE;
  cpu.cr0 = Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.PG;
  for (const seg of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) {
    cpu.segSel[seg] = 0x10;
    cpu.segBaseLo[seg] = 0;
    cpu.segLimit[seg] = -1;
    cpu.segAttr[seg] = 0xc093;
  }
  cpu.segSel[Seg.CS] = 0x08;
  cpu.segLimit[Seg.CS] = -1;
  cpu.segAttr[Seg.CS] = 0xa09b;
  cpu.flags = Flag.Fixed;
  cpu.gpr[8] = GUEST_STACK_TOP;
  cpu.ripLo = GUEST_CODE;
  cpu.updateMode();
  cpu.flushTlb();
}
