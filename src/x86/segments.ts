/** Segment registers: loading selectors in real, VM86, protected and long mode. */
import { read32, write8 } from './access.js';
import { type Cpu, SegAttrBits } from './cpu.js';
import { Fault, Vector } from './fault.js';

export const enum Seg {
  ES = 0,
  CS = 1,
  SS = 2,
  DS = 3,
  FS = 4,
  GS = 5,
  LDTR = 6,
  TR = 7,
}

/** A descriptor read from the GDT or LDT: lo/hi dwords (and the upper 8 bytes of a 16-byte
 * system descriptor in long mode). */
export interface Descriptor {
  lo: number;
  hi: number;
  /** Bits 32-63 of the base, for long-mode system descriptors. */
  baseUpper: number;
}

/** Real-mode and VM86 semantics: base = selector × 16, limits and attributes kept. */
export function loadRealSegment(cpu: Cpu, seg: Seg, selector: number): void {
  cpu.segSel[seg] = selector & 0xffff;
  cpu.segBaseLo[seg] = (selector & 0xffff) << 4;
  cpu.segBaseHi[seg] = 0;
  if (cpu.flags & (1 << 17)) {
    // VM86: every segment is a 64 KiB, DPL 3, read/write data (or code) segment.
    cpu.segLimit[seg] = 0xffff;
    cpu.segAttr[seg] = seg === Seg.CS ? 0xfb : 0xf3;
  }
}

/** Reads the 8-byte descriptor a selector names; #GP(selector) when it is outside its table. */
export function readDescriptor(cpu: Cpu, selector: number, fault = Vector.GP): Descriptor {
  const index = selector & ~7;
  let baseLo: number;
  let baseHi: number;
  let limit: number;
  if (selector & 4) {
    if (cpu.segAttr[Seg.LDTR]! & SegAttrBits.Unusable || (cpu.segSel[Seg.LDTR]! & ~3) === 0) {
      throw new Fault(fault, selector & 0xfffc);
    }
    baseLo = cpu.segBaseLo[Seg.LDTR]!;
    baseHi = cpu.segBaseHi[Seg.LDTR]!;
    limit = cpu.segLimit[Seg.LDTR]!;
  } else {
    baseLo = cpu.gdtBaseLo;
    baseHi = cpu.gdtBaseHi;
    limit = cpu.gdtLimit;
  }
  if (index + 7 > limit >>> 0) throw new Fault(fault, selector & 0xfffc);
  const at = (baseLo + index) | 0;
  const atHi = cpu.longMode ? ((baseLo >>> 0) + index > 0xffffffff ? baseHi + 1 : baseHi) : 0;
  const lo = readSystem(cpu, at, atHi);
  const hi = readSystem(cpu, (at + 4) | 0, atHi);
  let baseUpper = 0;
  if (cpu.longMode && !(hi & (1 << 12))) {
    // A system descriptor is 16 bytes in long mode.
    if (index + 15 > limit >>> 0) throw new Fault(fault, selector & 0xfffc);
    baseUpper = readSystem(cpu, (at + 8) | 0, atHi);
  }
  return { lo, hi, baseUpper };
}

function readSystem(cpu: Cpu, lo: number, hi: number): number {
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  cpu.updateTlbMasks();
  try {
    return read32(cpu, lo, hi);
  } finally {
    cpu.cpl = cpl;
    cpu.updateTlbMasks();
  }
}

/** Access rights in the layout of `Cpu.segAttr` (VMX style) from a descriptor's high dword. */
export function descriptorAttributes(hi: number): number {
  return ((hi >>> 8) & 0xff) | ((hi >>> 8) & 0xf000);
}

export function descriptorBase(d: Descriptor): number {
  return (d.lo >>> 16) | ((d.hi & 0xff) << 16) | (d.hi & 0xff000000) | 0;
}

export function descriptorLimit(d: Descriptor): number {
  const raw = (d.lo & 0xffff) | (d.hi & 0xf0000);
  return d.hi & (1 << 23) ? (raw << 12) | 0xfff | 0 : raw;
}

/** Installs a descriptor into a segment register's hidden part. */
export function setSegmentFromDescriptor(
  cpu: Cpu,
  seg: Seg,
  selector: number,
  d: Descriptor,
): void {
  cpu.segSel[seg] = selector;
  cpu.segBaseLo[seg] = descriptorBase(d);
  cpu.segBaseHi[seg] = seg >= Seg.LDTR ? d.baseUpper : 0;
  cpu.segLimit[seg] = descriptorLimit(d);
  cpu.segAttr[seg] = descriptorAttributes(d.hi);
}

/** Sets the accessed bit of a code or data descriptor, as a load does. */
export function markAccessed(cpu: Cpu, selector: number, d: Descriptor): void {
  if (d.hi & (1 << 8)) return;
  d.hi |= 1 << 8;
  writeAccessByte(cpu, selector, (d.hi >>> 8) & 0xff);
}

/**
 * Rewrites the access byte (type, S, DPL, P) of the descriptor `selector` names, with
 * supervisor rights: the accessed bit of segment loads, the busy bit of LTR.
 */
export function writeAccessByte(cpu: Cpu, selector: number, accessByte: number): void {
  const table = selector & 4 ? cpu.segBaseLo[Seg.LDTR]! : cpu.gdtBaseLo;
  const tableHi = selector & 4 ? cpu.segBaseHi[Seg.LDTR]! : cpu.gdtBaseHi;
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  cpu.updateTlbMasks();
  try {
    write8(cpu, (table + (selector & ~7) + 5) | 0, cpu.longMode ? tableHi : 0, accessByte);
  } finally {
    cpu.cpl = cpl;
    cpu.updateTlbMasks();
  }
}

/**
 * MOV/POP to a data segment register (DS ES FS GS) or SS, with the protected-mode checks.
 * CS is loaded by far transfers (control.ts), not here.
 */
export function loadDataSegment(cpu: Cpu, seg: Seg, selector: number): void {
  selector &= 0xffff;
  if (!(cpu.cr0 & 1) || cpu.flags & (1 << 17)) {
    loadRealSegment(cpu, seg, selector);
    if (seg === Seg.SS) cpu.updateMode();
    return;
  }
  const rpl = selector & 3;
  if ((selector & ~3) === 0) {
    // The null selector: allowed for data segments (use faults), for SS only in 64-bit mode at CPL < 3.
    if (seg === Seg.SS && !(cpu.codeSize === 64 && cpu.cpl !== 3 && rpl === cpu.cpl))
      throw new Fault(Vector.GP, 0);
    cpu.segSel[seg] = selector;
    cpu.segBaseLo[seg] = 0;
    cpu.segBaseHi[seg] = 0;
    cpu.segLimit[seg] = 0;
    cpu.segAttr[seg] =
      SegAttrBits.Unusable |
      (seg === Seg.SS ? (cpu.cpl << SegAttrBits.DplShift) | SegAttrBits.DB : 0);
    if (seg === Seg.SS) cpu.updateMode();
    return;
  }
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  const type = attr & 0xf;
  const isCode = (type & 8) !== 0;
  const codeOrData = (attr & SegAttrBits.S) !== 0;
  if (seg === Seg.SS) {
    if (!codeOrData || isCode || !(type & 2) || rpl !== cpu.cpl || dpl !== cpu.cpl) {
      throw new Fault(Vector.GP, selector & 0xfffc);
    }
    if (!(attr & SegAttrBits.P)) throw new Fault(Vector.SS, selector & 0xfffc);
  } else {
    if (!codeOrData || (isCode && !(type & 2))) throw new Fault(Vector.GP, selector & 0xfffc);
    // Data and non-conforming code need DPL ≥ max(CPL, RPL).
    if ((!isCode || !(type & 4)) && dpl < Math.max(cpu.cpl, rpl))
      throw new Fault(Vector.GP, selector & 0xfffc);
    if (!(attr & SegAttrBits.P)) throw new Fault(Vector.NP, selector & 0xfffc);
  }
  markAccessed(cpu, selector, d);
  setSegmentFromDescriptor(cpu, seg, selector, d);
  if (seg === Seg.SS) cpu.updateMode();
}
