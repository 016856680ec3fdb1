/**
 * Copying between the hypervisor and a guest's linear address space, through the vCPU's own
 * page tables (as Xen's copy_{from,to}_guest do for HVM guests: hypercall arguments are guest
 * virtual addresses). A fault becomes undefined (the hypercall returns -EFAULT); the guest's
 * CR2 is left as it was.
 */
import { readAddress, writeAddress } from '../../../x86/access.js';
import type { Cpu } from '../../../x86/cpu.js';
import { Fault } from '../../../x86/fault.js';

/** Machine addresses for `length` bytes at lo/hi, page by page, or undefined on a fault/MMIO. */
function forEachPage(
  cpu: Cpu,
  lo: number,
  hi: number,
  length: number,
  write: boolean,
  visit: (machine: number, done: number, size: number) => void,
): boolean {
  const cr2Lo = cpu.cr2Lo;
  const cr2Hi = cpu.cr2Hi;
  const cpl = cpu.cpl;
  // Hypercalls come from the guest kernel: translate with supervisor rights.
  cpu.cpl = 0;
  cpu.updateTlbMasks();
  try {
    let done = 0;
    while (done < length) {
      const at = (lo + done) | 0;
      const atHi = (lo >>> 0) + done > 0xffffffff ? (hi + 1) | 0 : hi;
      const size = Math.min(length - done, 4096 - (at & 0xfff));
      const machine = write ? writeAddress(cpu, at, atHi) : readAddress(cpu, at, atHi);
      if (machine < 0) return false;
      visit(machine, done, size);
      done += size;
    }
    return true;
  } catch (error) {
    if (error instanceof Fault) return false;
    throw error;
  } finally {
    cpu.cpl = cpl;
    cpu.updateTlbMasks();
    cpu.cr2Lo = cr2Lo;
    cpu.cr2Hi = cr2Hi;
  }
}

export function copyFromGuest(
  cpu: Cpu,
  lo: number,
  hi: number,
  length: number,
): Uint8Array | undefined {
  const out = new Uint8Array(length);
  const ok = forEachPage(cpu, lo, hi, length, false, (machine, done, size) => {
    out.set(cpu.mem.subarray(machine, machine + size), done);
  });
  return ok ? out : undefined;
}

export function copyToGuest(cpu: Cpu, lo: number, hi: number, data: Uint8Array): boolean {
  return forEachPage(cpu, lo, hi, data.length, true, (machine, done, size) => {
    cpu.mem.set(data.subarray(done, done + size), machine);
  });
}
