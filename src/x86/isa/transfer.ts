/**
 * What the far transfers (far JMP/CALL/RET, IRET, SYSCALL …) share: the checks of the code and
 * stack segments they load, and the loads themselves.
 *
 * Far transfers follow the SDM's pseudocode: every value is read and every descriptor
 * checked before anything changes, so a fault (#GP/#NP/#SS/#PF) leaves the state as it was.
 */
import { type Cpu, SegAttrBits } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag, materializeFlags } from '../flags.js';
import type { Insn } from '../insn.js';
import {
  type Descriptor,
  descriptorAttributes,
  descriptorLimit,
  markAccessed,
  readDescriptor,
  Seg,
  setSegmentFromDescriptor,
} from '../segments.js';
import { selectorFault } from './privilege.js';

/** Whether hi is the sign extension of bit 47 (a canonical address's upper half). */
export function canonical(hi: number): boolean {
  return (hi << 16) >> 16 === hi;
}

/** Loads RFLAGS bits in `mask` from `value`; the others are kept. */
export function loadFlags(cpu: Cpu, value: number, mask: number): void {
  materializeFlags(cpu);
  cpu.flags = (cpu.flags & ~mask) | (value & mask) | Flag.Fixed;
}

/** The address after the instruction: returns lo, leaves hi in `cpu.hi`. */
export function nextRip(cpu: Cpu, i: Insn): number {
  const next = (cpu.ripLo + i.len) | 0;
  if (cpu.codeSize === 64) {
    cpu.hi = next >>> 0 < cpu.ripLo >>> 0 ? (cpu.ripHi + 1) | 0 : cpu.ripHi;
    return next;
  }
  cpu.hi = 0;
  return cpu.codeSize === 32 ? next : next & 0xffff;
}

/** The code segment a far RET or IRET returns to (same or outer privilege level). */
export function returnCodeSegment(cpu: Cpu, selector: number): Descriptor {
  if ((selector & ~3) === 0) throw new Fault(Vector.GP, 0);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  if (!(attr & SegAttrBits.S) || !(attr & 8)) throw selectorFault(Vector.GP, selector);
  const rpl = selector & 3;
  if (rpl < cpu.cpl) throw selectorFault(Vector.GP, selector);
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (attr & 4 ? dpl > rpl : dpl !== rpl) throw selectorFault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw selectorFault(Vector.NP, selector);
  if (cpu.longMode && attr & SegAttrBits.L && attr & SegAttrBits.DB)
    throw selectorFault(Vector.GP, selector);
  return d;
}

/**
 * The stack segment a return to privilege level `rpl` loads; undefined for a null selector,
 * which only a return to 64-bit code at CPL 0-2 may load.
 */
export function returnStackSegment(
  cpu: Cpu,
  selector: number,
  rpl: number,
  to64: boolean,
): Descriptor | undefined {
  if ((selector & ~3) === 0) {
    if (to64 && rpl !== 3) return undefined;
    throw new Fault(Vector.GP, 0);
  }
  if ((selector & 3) !== rpl) throw selectorFault(Vector.GP, selector);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (!(attr & SegAttrBits.S) || attr & 8 || !(attr & 2) || dpl !== rpl)
    throw selectorFault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw selectorFault(Vector.SS, selector);
  return d;
}

/** The offset a transfer to code segment `d` lands on; #GP(0) past the limit or non-canonical. */
export function checkTarget(cpu: Cpu, d: Descriptor, size: number, lo: number, hi: number): number {
  const to64 = cpu.longMode && (descriptorAttributes(d.hi) & SegAttrBits.L) !== 0;
  if (to64) {
    cpu.hi = size === 64 ? hi : 0;
    if (!canonical(cpu.hi)) throw new Fault(Vector.GP, 0);
    return lo;
  }
  cpu.hi = 0;
  const offset = size === 16 ? lo & 0xffff : lo;
  if (offset >>> 0 > descriptorLimit(d) >>> 0) throw new Fault(Vector.GP, 0);
  return offset;
}

export function loadCodeSegment(cpu: Cpu, selector: number, d: Descriptor, cpl: number): void {
  markAccessed(cpu, selector, d);
  setSegmentFromDescriptor(cpu, Seg.CS, (selector & ~3) | cpl, d);
}

export function loadStackSegment(
  cpu: Cpu,
  selector: number,
  d: Descriptor | undefined,
  cpl: number,
): void {
  if (d === undefined) {
    cpu.segSel[Seg.SS] = selector;
    cpu.segBaseLo[Seg.SS] = 0;
    cpu.segBaseHi[Seg.SS] = 0;
    cpu.segLimit[Seg.SS] = 0;
    cpu.segAttr[Seg.SS] = SegAttrBits.Unusable | (cpl << SegAttrBits.DplShift);
    return;
  }
  markAccessed(cpu, selector, d);
  setSegmentFromDescriptor(cpu, Seg.SS, selector, d);
}

/** After a return to an outer level: data segments the new CPL may not use become null. */
export function invalidateDataSegments(cpu: Cpu, cpl: number): void {
  for (const seg of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const attr = cpu.segAttr[seg]!;
    if (attr & SegAttrBits.Unusable) continue;
    const conformingCode = (attr & 0xc) === 0xc;
    if (!conformingCode && ((attr >> SegAttrBits.DplShift) & 3) < cpl) {
      cpu.segSel[seg] = 0;
      cpu.segAttr[seg] = SegAttrBits.Unusable; // the base is kept (FS/GS bases in 64-bit mode)
    }
  }
}
