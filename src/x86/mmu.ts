/**
 * Linear → guest-physical (the guest's page tables) → machine (the second stage), with a
 * software TLB. Supports no paging, 32-bit paging (4 KiB/4 MiB pages), PAE and 4-level
 * paging (4 KiB/2 MiB/1 GiB pages), NX, WP, U/S, global pages, accessed and dirty bits.
 */
import { type Cpu, Cr0, Cr4, Efer, TlbBits } from './cpu.js';
import { Fault, Vector } from './fault.js';
import { P2m } from './memory.js';

export const TLB_SIZE = 8192;
const TLB_MASK = TLB_SIZE - 1;

/** A TLB slot's integers in `Cpu.tlb`, from the slot's index. */
export const enum TlbSlot {
  /** The linear page: bits 12-31, and bits 32-63. */
  TagLo = 0,
  TagHi = 1,
  /** TlbBits: the accesses allowed (0: the slot is empty). */
  Flags = 2,
  /** The machine frame number. */
  Frame = 3,
}
export const TLB_SLOT_INTS = 4;

/**
 * The index in `Cpu.tlb` of a linear page's slot. Bits above the page number are folded in
 * so that pages at the same offset in different 2 MiB or 4 GiB regions (code, data and stack
 * of a program, the kernel's mappings) do not all land in one slot.
 */
export function tlbIndex(lo: number, hi: number): number {
  return (((lo >>> 12) ^ (lo >>> 21) ^ hi) & TLB_MASK) * TLB_SLOT_INTS;
}
/** A tag no linear address has (bit 48 set, bit 47 clear: non-canonical). */
const INVALID_TAG_HI = 0x00010000;

export const enum Access {
  Read = 0,
  Write = 1,
  Exec = 2,
}

/** #PF error code bits. */
const enum PfError {
  P = 1,
  W = 2,
  U = 4,
  RSVD = 8,
  I = 16,
}

const ALL_ACCESS =
  TlbBits.ReadSup |
  TlbBits.ReadUser |
  TlbBits.WriteSup |
  TlbBits.WriteUser |
  TlbBits.ExecSup |
  TlbBits.ExecUser;

/**
 * Guests flush often (every CR3 load) and use few entries in between, so a flush clears only
 * the slots filled since the last one (`Cpu.tlbFilled`), unless that log overflowed.
 */
export function flushTlb(cpu: Cpu, global: boolean): void {
  const tlb = cpu.tlb;
  const filled = cpu.tlbFilled;
  const count = cpu.tlbFilledCount;
  let kept = 0;
  if (count >= TLB_SIZE) {
    for (let i = 0; i < TLB_SIZE * TLB_SLOT_INTS; i += TLB_SLOT_INTS) {
      if (global || !(tlb[i + TlbSlot.Flags]! & TlbBits.Global)) {
        tlb[i + TlbSlot.TagHi] = INVALID_TAG_HI;
        tlb[i + TlbSlot.Flags] = 0;
      } else {
        filled[kept++] = i;
      }
    }
  } else {
    for (let n = 0; n < count; n++) {
      const i = filled[n]!;
      const flags = tlb[i + TlbSlot.Flags]!;
      if (global || !(flags & TlbBits.Global)) {
        tlb[i + TlbSlot.TagHi] = INVALID_TAG_HI;
        tlb[i + TlbSlot.Flags] = 0;
      } else if (flags !== 0) {
        filled[kept++] = i; // a global entry stays, and stays logged
      }
    }
  }
  cpu.tlbFilledCount = kept;
}

/** INVLPG: drops the entry for one linear page. */
export function flushTlbPage(cpu: Cpu, lo: number, hi: number): void {
  const tlb = cpu.tlb;
  const index = tlbIndex(lo, hi);
  if (tlb[index + TlbSlot.TagLo] === (lo & ~0xfff) && tlb[index + TlbSlot.TagHi] === hi) {
    tlb[index + TlbSlot.TagHi] = INVALID_TAG_HI;
    tlb[index + TlbSlot.Flags] = 0;
  }
}

/** Drops every entry that can write machine frame `mfn` (it now holds decoded code). */
export function dropWritableMappings(cpu: Cpu, mfn: number): void {
  const tlb = cpu.tlb;
  for (let i = 0; i < TLB_SIZE * TLB_SLOT_INTS; i += TLB_SLOT_INTS) {
    if (tlb[i + TlbSlot.Frame] === mfn) {
      tlb[i + TlbSlot.Flags]! &= ~(TlbBits.WriteSup | TlbBits.WriteUser);
    }
  }
}

/**
 * The machine address of guest-physical address `gpa` (a number below 2^52), or -1 when
 * no frame backs it (MMIO).
 */
export function guestPhysicalToMachine(cpu: Cpu, gpa: number): number {
  const gfn = Math.floor(gpa / 4096);
  const entry = gfn < cpu.p2m.length ? cpu.p2m[gfn]! : P2m.None;
  if (entry < 0) return -1;
  return (entry & P2m.FrameMask) * 4096 + (gpa % 4096);
}

function readPte64(cpu: Cpu, gpa: number): number {
  const machine = guestPhysicalToMachine(cpu, gpa);
  if (machine < 0) throw new Fault(Vector.MC); // page tables in MMIO space: machine check, as hardware would
  cpu.hi = cpu.view.getInt32(machine + 4, true);
  return cpu.view.getInt32(machine, true);
}

/** Sets accessed/dirty bits in a paging entry, writing only when they are not set yet. */
function setPteBits(cpu: Cpu, gpa: number, bits: number): void {
  const machine = guestPhysicalToMachine(cpu, gpa);
  const entry = cpu.view.getInt32(machine, true);
  if ((entry & bits) !== bits) cpu.view.setInt32(machine, entry | bits, true);
}

/**
 * Walks the page tables for the linear address lo/hi and fills the TLB. Throws #PF (with
 * CR2 set) when the access is not allowed. Returns the TLB index.
 */
export function translate(cpu: Cpu, lo: number, hi: number, access: Access, user: boolean): number {
  // A non-canonical address never reaches the TLB, so this slow path is where it faults.
  if ((hi << 16) >> 16 !== hi && cpu.efer & Efer.LMA) throw new Fault(Vector.GP, 0);
  const index = tlbIndex(lo, hi);
  let gpa: number;
  let allowed = ALL_ACCESS;
  let global = false;
  let dirty = true;
  const cr0 = cpu.cr0;
  if (!(cr0 & Cr0.PG)) {
    gpa = lo >>> 0; // without paging only the low 32 bits exist
  } else {
    const walk = walkPageTables(cpu, lo, hi, access, user);
    gpa = walk.gpa;
    allowed = walk.allowed;
    global = walk.global;
    dirty = walk.dirty;
  }
  const gfn = Math.floor(gpa / 4096);
  const entry = gfn < cpu.p2m.length ? cpu.p2m[gfn]! : P2m.None;
  cpu.lastGuestPhysical = gpa;
  if (entry < 0) return -1;
  if (entry & (P2m.ReadOnly | P2m.LogDirty) || !dirty)
    allowed &= ~(TlbBits.WriteSup | TlbBits.WriteUser);
  if (entry & P2m.NoExecute) allowed &= ~(TlbBits.ExecSup | TlbBits.ExecUser);
  const mfn = entry & P2m.FrameMask;
  if (cpu.blocks.hasCode(mfn)) allowed &= ~(TlbBits.WriteSup | TlbBits.WriteUser);
  const tlb = cpu.tlb;
  tlb[index + TlbSlot.TagLo] = lo & ~0xfff;
  tlb[index + TlbSlot.TagHi] = hi;
  tlb[index + TlbSlot.Flags] = allowed | (global ? TlbBits.Global : 0);
  tlb[index + TlbSlot.Frame] = mfn;
  const count = cpu.tlbFilledCount;
  if (count < TLB_SIZE) cpu.tlbFilled[count] = index;
  if (count <= TLB_SIZE) cpu.tlbFilledCount = count + 1; // TLB_SIZE + 1: overflowed
  return index;
}

/** Physical-address bits 40-51 in an entry's high half: above the 40 bits we advertise. */
const ABOVE_MAXPHYADDR = 0x000fff00;

/** Whether a present 64-bit paging entry at `level` has a reserved bit set. */
function reservedBitsSet(entry: number, entryHi: number, level: number, nxe: boolean): boolean {
  if (entryHi & ABOVE_MAXPHYADDR || (entryHi < 0 && !nxe)) return true;
  if (!(entry & 0x80)) return false;
  switch (level) {
    case 4:
      return true; // PS is reserved in a PML4 entry
    case 3:
      return (entry & 0x3fffe000) !== 0; // a 1 GiB page's bits 13-29
    case 2:
      return (entry & 0x001fe000) !== 0; // a 2 MiB page's bits 13-20
    default:
      return false;
  }
}

interface Walk {
  gpa: number;
  allowed: number;
  global: boolean;
  /** The leaf's dirty bit is set (writes need no walk to set it). */
  dirty: boolean;
}

const walkResult: Walk = { gpa: 0, allowed: 0, global: false, dirty: false };

function pageFault(
  cpu: Cpu,
  lo: number,
  hi: number,
  access: Access,
  user: boolean,
  bits: number,
): Fault {
  cpu.cr2Lo = lo;
  cpu.cr2Hi = hi;
  let code = bits;
  if (access === Access.Write) code |= PfError.W;
  if (user) code |= PfError.U;
  if (access === Access.Exec && cpu.efer & Efer.NXE) code |= PfError.I;
  return new Fault(Vector.PF, code);
}

/** Accumulates permissions along a walk: every level must allow the access. */
function walkPageTables(cpu: Cpu, lo: number, hi: number, access: Access, user: boolean): Walk {
  const cr4 = cpu.cr4;
  const nxe = (cpu.efer & Efer.NXE) !== 0;
  let writable = true;
  let userOk = true;
  let executable = true;
  let gpa: number;
  let global = false;
  let dirty: boolean;
  const accessed = cpu.walkEntries;
  let levels = 0;

  if (!(cr4 & Cr4.PAE)) {
    // 32-bit paging: two levels of 4-byte entries.
    const pdeAddr = (cpu.cr3Lo & ~0xfff) + ((lo >>> 22) << 2);
    const pde = readPte64(cpu, pdeAddr >>> 0);
    if (!(pde & 1)) throw pageFault(cpu, lo, hi, access, user, 0);
    writable &&= (pde & 2) !== 0;
    userOk &&= (pde & 4) !== 0;
    accessed[levels++] = pdeAddr >>> 0;
    if (pde & 0x80 && cr4 & Cr4.PSE) {
      // 4 MiB page: bits 13..20 of the entry extend the frame above 4 GiB (PSE-36).
      gpa = ((pde & 0xffc00000) >>> 0) + ((pde >>> 13) & 0xff) * 2 ** 32 + (lo & 0x3fffff);
      dirty = (pde & 0x40) !== 0;
      global = (pde & 0x100) !== 0 && (cr4 & Cr4.PGE) !== 0;
      finishWalk(
        cpu,
        lo,
        hi,
        access,
        user,
        writable,
        userOk,
        executable,
        levels,
        pdeAddr >>> 0,
        dirty,
      );
    } else {
      const pteAddr = ((pde & ~0xfff) >>> 0) + (((lo >>> 12) & 0x3ff) << 2);
      const pte = readPte64(cpu, pteAddr);
      if (!(pte & 1)) throw pageFault(cpu, lo, hi, access, user, 0);
      writable &&= (pte & 2) !== 0;
      userOk &&= (pte & 4) !== 0;
      accessed[levels++] = pteAddr;
      gpa = ((pte & ~0xfff) >>> 0) + (lo & 0xfff);
      dirty = (pte & 0x40) !== 0;
      global = (pte & 0x100) !== 0 && (cr4 & Cr4.PGE) !== 0;
      finishWalk(cpu, lo, hi, access, user, writable, userOk, executable, levels, pteAddr, dirty);
    }
  } else {
    let tableAddr: number;
    let level: number;
    if (cpu.efer & Efer.LMA) {
      tableAddr = ((cpu.cr3Lo & ~0xfff) >>> 0) + (cpu.cr3Hi & 0xfffff) * 2 ** 32;
      level = 4;
    } else {
      // PAE: the four PDPTEs were loaded with CR3.
      const slot = lo >>> 30;
      const pdpteLo = cpu.pdpte[slot * 2]!;
      const pdpteHi = cpu.pdpte[slot * 2 + 1]!;
      if (!(pdpteLo & 1)) throw pageFault(cpu, lo, hi, access, user, 0);
      tableAddr = ((pdpteLo & ~0xfff) >>> 0) + (pdpteHi & 0xfffff) * 2 ** 32;
      level = 2;
    }
    for (;;) {
      const shift = 12 + 9 * (level - 1);
      const slot =
        level === 4
          ? ((hi & 0xffff) >>> 7) & 0x1ff
          : level === 3
            ? (((hi & 0x7f) << 2) | (lo >>> 30)) & 0x1ff
            : (lo >>> shift) & 0x1ff;
      const entryAddr = tableAddr + slot * 8;
      const entry = readPte64(cpu, entryAddr);
      const entryHi = cpu.hi;
      if (!(entry & 1)) throw pageFault(cpu, lo, hi, access, user, 0);
      if (reservedBitsSet(entry, entryHi, level, nxe)) {
        throw pageFault(cpu, lo, hi, access, user, PfError.P | PfError.RSVD);
      }
      writable &&= (entry & 2) !== 0;
      userOk &&= (entry & 4) !== 0;
      if (nxe && entryHi < 0) executable = false;
      accessed[levels++] = entryAddr;
      const frame = ((entry & ~0xfff) >>> 0) + (entryHi & 0xfffff) * 2 ** 32;
      const large = level <= 3 && (entry & 0x80) !== 0;
      if (level === 1 || large) {
        if (large && level === 3 && !(cpu.efer & Efer.LMA)) {
          throw pageFault(cpu, lo, hi, access, user, PfError.P | PfError.RSVD);
        }
        // (Not 2 ** shift: V8 calls pow() for that.)
        const pageSize = level === 3 ? 0x40000000 : level === 2 ? 0x200000 : 0x1000;
        const offset =
          level === 3 ? (lo & 0x3fffffff) >>> 0 : level === 2 ? lo & 0x1fffff : lo & 0xfff;
        gpa = frame - (frame % pageSize) + offset;
        dirty = (entry & 0x40) !== 0;
        global = (entry & 0x100) !== 0 && (cr4 & Cr4.PGE) !== 0;
        finishWalk(
          cpu,
          lo,
          hi,
          access,
          user,
          writable,
          userOk,
          executable,
          levels,
          entryAddr,
          dirty,
        );
        break;
      }
      tableAddr = frame;
      level--;
    }
  }
  const supervisorWrite = writable || !(cpu.cr0 & Cr0.WP);
  let allowed = TlbBits.ReadSup | TlbBits.ExecSup;
  if (supervisorWrite) allowed |= TlbBits.WriteSup;
  if (userOk) {
    allowed |= TlbBits.ReadUser | TlbBits.ExecUser;
    if (writable) allowed |= TlbBits.WriteUser;
    if (cpu.cr4 & Cr4.SMEP) allowed &= ~TlbBits.ExecSup;
  }
  if (!executable) allowed &= ~(TlbBits.ExecSup | TlbBits.ExecUser);
  walkResult.gpa = gpa!;
  walkResult.allowed = allowed;
  walkResult.global = global;
  walkResult.dirty = dirty! || access === Access.Write;
  return walkResult;
}

/** Checks the access against the walk's permissions, then sets accessed and dirty bits. */
function finishWalk(
  cpu: Cpu,
  lo: number,
  hi: number,
  access: Access,
  user: boolean,
  writable: boolean,
  userOk: boolean,
  executable: boolean,
  levels: number,
  leaf: number,
  dirty: boolean,
): void {
  const present = PfError.P;
  if (user && !userOk) throw pageFault(cpu, lo, hi, access, user, present);
  if (access === Access.Write && !writable && (user || cpu.cr0 & Cr0.WP)) {
    throw pageFault(cpu, lo, hi, access, user, present);
  }
  if (access === Access.Exec && !executable) throw pageFault(cpu, lo, hi, access, user, present);
  if (access === Access.Exec && !user && userOk && cpu.cr4 & Cr4.SMEP) {
    throw pageFault(cpu, lo, hi, access, user, present);
  }
  const entries = cpu.walkEntries;
  for (let i = 0; i < levels; i++) setPteBits(cpu, entries[i]!, 0x20);
  if (access === Access.Write && !dirty) setPteBits(cpu, leaf, 0x40);
}

/** Loads the four PAE PDPTEs from CR3 (on MOV CR3 and when PAE paging is turned on). */
export function loadPdptes(cpu: Cpu): void {
  const base = (cpu.cr3Lo & ~0x1f) >>> 0;
  for (let i = 0; i < 4; i++) {
    cpu.pdpte[i * 2] = readPte64(cpu, base + i * 8);
    cpu.pdpte[i * 2 + 1] = cpu.hi;
  }
}
