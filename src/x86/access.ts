/**
 * Guest memory accesses by linear address (lo/hi halves), through the TLB. The fast path is
 * a TLB hit inside one page; everything else (misses, page-crossing accesses, MMIO, writes to
 * frames holding decoded code) takes the slow path.
 */
import type { Cpu } from './cpu.js';
import { ExitReason } from './exit.js';
import { RESTART } from './fault.js';
import { P2m } from './memory.js';
import { Access, TlbSlot, tlbIndex, translate } from './mmu.js';

/** Machine address for an access of `size` bytes, or a negative number for MMIO. */
function slowTranslate(cpu: Cpu, lo: number, hi: number, access: Access, user: boolean): number {
  const index = translate(cpu, lo, hi, access, user);
  if (index < 0) return -1;
  return cpu.tlb[index + TlbSlot.Frame]! * 4096 + (lo & 0xfff);
}

/** The machine address of a readable byte range that does not cross a page, or -1 for MMIO. */
/** The machine address of `lo:hi` if the TLB holds it with a permission in `mask`, else -1. */
function tlbHit(cpu: Cpu, lo: number, hi: number, mask: number): number {
  const tlb = cpu.tlb;
  const index = tlbIndex(lo, hi);
  if (
    tlb[index + TlbSlot.TagLo] === (lo & ~0xfff) &&
    tlb[index + TlbSlot.TagHi] === hi &&
    tlb[index + TlbSlot.Flags]! & mask
  ) {
    return tlb[index + TlbSlot.Frame]! * 4096 + (lo & 0xfff);
  }
  return -1;
}

export function readAddress(cpu: Cpu, lo: number, hi: number): number {
  const hit = tlbHit(cpu, lo, hi, cpu.readMask);
  return hit >= 0 ? hit : slowTranslate(cpu, lo, hi, Access.Read, cpu.cpl === 3);
}

export function writeAddress(cpu: Cpu, lo: number, hi: number): number {
  const hit = tlbHit(cpu, lo, hi, cpu.writeMask);
  if (hit >= 0) return hit;
  const address = slowTranslate(cpu, lo, hi, Access.Write, cpu.cpl === 3);
  if (address < 0) return address;
  // The second stage may refuse the write (a read-only frame: it becomes an MMIO exit) or
  // want to hear of it (dirty logging, after which the frame is writable again).
  const gfn = Math.floor(cpu.lastGuestPhysical / 4096);
  const entry = cpu.p2m[gfn]!;
  if (entry & P2m.ReadOnly) return -1;
  if (entry & P2m.LogDirty) {
    cpu.p2m[gfn] = entry & ~P2m.LogDirty;
    cpu.secondStage.hooks.dirty?.(gfn);
  }
  noteWrite(cpu, address);
  return address;
}

/** A write reached the slow path: invalidate decoded code and report dirty logging. */
function noteWrite(cpu: Cpu, machine: number): void {
  const mfn = Math.floor(machine / 4096);
  if (cpu.blocks.hasCode(mfn)) cpu.blocks.invalidateFrame(mfn, cpu);
}

export function read8(cpu: Cpu, lo: number, hi: number): number {
  const address = readAddress(cpu, lo, hi);
  if (address < 0) return mmioRead(cpu, 1);
  return cpu.mem[address]!;
}

export function read16(cpu: Cpu, lo: number, hi: number): number {
  if ((lo & 0xfff) > 0xffe)
    return read8(cpu, lo, hi) | (read8(cpu, (lo + 1) | 0, carry(lo, hi, 1)) << 8);
  const address = readAddress(cpu, lo, hi);
  if (address < 0) return mmioRead(cpu, 2);
  return cpu.view.getUint16(address, true);
}

export function read32(cpu: Cpu, lo: number, hi: number): number {
  if ((lo & 0xfff) > 0xffc)
    return read16(cpu, lo, hi) | (read16(cpu, (lo + 2) | 0, carry(lo, hi, 2)) << 16);
  const address = readAddress(cpu, lo, hi);
  if (address < 0) return mmioRead(cpu, 4);
  return cpu.view.getInt32(address, true);
}

/** Reads 64 bits: returns the low half, leaves the high half in `cpu.hi`. */
export function read64(cpu: Cpu, lo: number, hi: number): number {
  if ((lo & 0xfff) > 0xff8) {
    const low = read32(cpu, lo, hi);
    cpu.hi = read32(cpu, (lo + 4) | 0, carry(lo, hi, 4));
    return low;
  }
  const address = readAddress(cpu, lo, hi);
  if (address < 0) {
    const low = mmioRead(cpu, 8);
    return low;
  }
  cpu.hi = cpu.view.getInt32(address + 4, true);
  return cpu.view.getInt32(address, true);
}

export function write8(cpu: Cpu, lo: number, hi: number, value: number): void {
  const address = writeAddress(cpu, lo, hi);
  if (address < 0) {
    mmioWrite(cpu, 1, value & 0xff, 0);
    return;
  }
  cpu.mem[address] = value;
}

export function write16(cpu: Cpu, lo: number, hi: number, value: number): void {
  if ((lo & 0xfff) > 0xffe) {
    checkSplitWrite(cpu, lo, hi, 1);
    write8(cpu, lo, hi, value);
    write8(cpu, (lo + 1) | 0, carry(lo, hi, 1), value >> 8);
    return;
  }
  const address = writeAddress(cpu, lo, hi);
  if (address < 0) {
    mmioWrite(cpu, 2, value & 0xffff, 0);
    return;
  }
  cpu.view.setUint16(address, value, true);
}

export function write32(cpu: Cpu, lo: number, hi: number, value: number): void {
  if ((lo & 0xfff) > 0xffc) {
    checkSplitWrite(cpu, lo, hi, 3);
    write16(cpu, lo, hi, value);
    write16(cpu, (lo + 2) | 0, carry(lo, hi, 2), value >>> 16);
    return;
  }
  const address = writeAddress(cpu, lo, hi);
  if (address < 0) {
    mmioWrite(cpu, 4, value, 0);
    return;
  }
  cpu.view.setInt32(address, value, true);
}

export function write64(cpu: Cpu, lo: number, hi: number, valueLo: number, valueHi: number): void {
  if ((lo & 0xfff) > 0xff8) {
    checkSplitWrite(cpu, lo, hi, 7);
    write32(cpu, lo, hi, valueLo);
    write32(cpu, (lo + 4) | 0, carry(lo, hi, 4), valueHi);
    return;
  }
  const address = writeAddress(cpu, lo, hi);
  if (address < 0) {
    mmioWrite(cpu, 8, valueLo, valueHi);
    return;
  }
  cpu.view.setInt32(address, valueLo, true);
  cpu.view.setInt32(address + 4, valueHi, true);
}

/**
 * A write that crosses a page boundary is all or nothing: both pages are checked first, and
 * a fault on the second reports the first byte of that page in CR2, as hardware does.
 */
function checkSplitWrite(cpu: Cpu, lo: number, hi: number, lastByte: number): void {
  writeAddress(cpu, lo, hi);
  const secondLo = ((lo + lastByte) & ~0xfff) | 0;
  writeAddress(cpu, secondLo, carry(lo, hi, lastByte));
}

/** The high half of lo/hi + small, for accesses that straddle a 4 GiB boundary. */
function carry(lo: number, hi: number, small: number): number {
  return (lo >>> 0) + small > 0xffffffff ? (hi + 1) | 0 : hi;
}

/** Fills the exit record with the guest-physical address translate() found unbacked. */
function mmioAddress(cpu: Cpu, access: Access): void {
  const exit = cpu.exit;
  const gpa = cpu.lastGuestPhysical;
  exit.address = (gpa % 2 ** 32) | 0;
  exit.addressHi = Math.floor(gpa / 2 ** 32);
  exit.write = access === Access.Write;
}

function mmioRead(cpu: Cpu, size: number): number {
  if (cpu.ioResult !== undefined) {
    const value = cpu.ioResult;
    cpu.hi = cpu.ioResultHi;
    cpu.ioResult = undefined;
    return value;
  }
  mmioAddress(cpu, Access.Read);
  cpu.exit.size = size;
  cpu.exitAfter(ExitReason.Mmio);
  throw RESTART;
}

function mmioWrite(cpu: Cpu, size: number, value: number, valueHi: number): void {
  mmioAddress(cpu, Access.Write);
  cpu.exit.size = size;
  cpu.exit.value = value;
  cpu.exit.valueHi = valueHi;
  cpu.exitAfter(ExitReason.Mmio);
}

/** Instruction fetch: the machine address of lo/hi for execution, or -1 (no frame). */
export function fetchAddress(cpu: Cpu, lo: number, hi: number): number {
  const hit = tlbHit(cpu, lo, hi, cpu.execMask);
  return hit >= 0 ? hit : slowTranslate(cpu, lo, hi, Access.Exec, cpu.cpl === 3);
}

/** Supervisor-mode accesses (descriptor tables, TSS, IDT) regardless of CPL. */
export function readSystem32(cpu: Cpu, lo: number, hi: number): number {
  const address = slowTranslate(cpu, lo, hi, Access.Read, false);
  if (address < 0 || (lo & 0xfff) > 0xffc) return read32(cpu, lo, hi);
  return cpu.view.getInt32(address, true);
}

export function writeSystem32(cpu: Cpu, lo: number, hi: number, value: number): void {
  const address = slowTranslate(cpu, lo, hi, Access.Write, false);
  if (address < 0 || (lo & 0xfff) > 0xffc) {
    write32(cpu, lo, hi, value);
    return;
  }
  noteWrite(cpu, address);
  cpu.view.setInt32(address, value, true);
}
