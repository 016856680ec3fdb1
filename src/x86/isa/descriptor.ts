/**
 * The descriptor-table instructions of 0F 00 and 0F 02/03: LLDT, LTR, SLDT, STR, and the
 * descriptor probes LAR, LSL, VERR, VERW.
 */
import { type Cpu, SegAttrBits } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag, updateFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import {
  type Descriptor,
  descriptorAttributes,
  descriptorLimit,
  readDescriptor,
  Seg,
  setSegmentFromDescriptor,
  writeAccessByte,
} from '../segments.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { readRm16, setRegSized, writeRm16 } from './operands.js';
import { requireCpl0, requireProtected, selectorFault } from './privilege.js';
import { sized } from './sized.js';

/** ZF: whether the probe found the descriptor usable. */
function setZf(cpu: Cpu, on: boolean): void {
  updateFlags(cpu, Flag.ZF, on ? Flag.ZF : 0);
}

const storeSystemSelector =
  (seg: Seg): Handler =>
  (cpu, i) => {
    requireProtected(cpu);
    const selector = cpu.segSel[seg]! & 0xffff;
    if (i.mod === 3) setRegSized(cpu, i.rm, i.opsize, selector, 0);
    else writeRm16(cpu, i, selector);
  };

const lldt: Handler = (cpu, i) => {
  requireProtected(cpu);
  requireCpl0(cpu);
  const selector = readRm16(cpu, i);
  if ((selector & ~3) === 0) {
    cpu.segSel[Seg.LDTR] = selector;
    cpu.segBaseLo[Seg.LDTR] = 0;
    cpu.segBaseHi[Seg.LDTR] = 0;
    cpu.segLimit[Seg.LDTR] = 0;
    cpu.segAttr[Seg.LDTR] = SegAttrBits.Unusable;
    return;
  }
  if (selector & 4) throw selectorFault(Vector.GP, selector);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  if (attr & SegAttrBits.S || (attr & 0xf) !== 2) throw selectorFault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw selectorFault(Vector.NP, selector);
  setSegmentFromDescriptor(cpu, Seg.LDTR, selector, d);
};

/** LTR: loads an available TSS and marks its descriptor busy. */
const ltr: Handler = (cpu, i) => {
  requireProtected(cpu);
  requireCpl0(cpu);
  const selector = readRm16(cpu, i);
  if ((selector & ~3) === 0) throw new Fault(Vector.GP, 0);
  if (selector & 4) throw selectorFault(Vector.GP, selector);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  const type = attr & 0xf;
  // Available 32/64-bit TSS; an available 16-bit TSS only outside long mode.
  if (attr & SegAttrBits.S || !(type === 9 || (type === 1 && !cpu.longMode)))
    throw selectorFault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw selectorFault(Vector.NP, selector);
  d.hi |= 2 << 8; // busy
  writeAccessByte(cpu, selector, (d.hi >>> 8) & 0xff);
  setSegmentFromDescriptor(cpu, Seg.TR, selector, d);
};

/**
 * The descriptor a selector names if LAR/LSL/VERR/VERW may look at it (inside its table and
 * visible at the CPL and RPL), else undefined.
 */
function visibleDescriptor(cpu: Cpu, selector: number): Descriptor | undefined {
  if ((selector & ~3) === 0) return undefined;
  let limit: number;
  if (selector & 4) {
    if (cpu.segAttr[Seg.LDTR]! & SegAttrBits.Unusable || (cpu.segSel[Seg.LDTR]! & ~3) === 0)
      return undefined;
    limit = cpu.segLimit[Seg.LDTR]! >>> 0;
  } else {
    limit = cpu.gdtLimit >>> 0;
  }
  if ((selector & ~7) + 7 > limit) return undefined;
  let d: Descriptor;
  try {
    d = readDescriptor(cpu, selector);
  } catch (error) {
    // The upper half of a 16-byte system descriptor past the table's end.
    if (error instanceof Fault && error.vector === Vector.GP) return undefined;
    throw error;
  }
  const attr = descriptorAttributes(d.hi);
  const conformingCode = (attr & SegAttrBits.S) !== 0 && (attr & 0xc) === 0xc;
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (!conformingCode && (dpl < cpu.cpl || dpl < (selector & 3))) return undefined;
  return d;
}

/** System descriptor types LAR accepts, legacy and long mode (bit per type). */
const LAR_TYPES =
  (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 9) | (1 << 0xb) | (1 << 0xc);
const LAR_TYPES_LONG = (1 << 2) | (1 << 9) | (1 << 0xb) | (1 << 0xc);
const LSL_TYPES = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 9) | (1 << 0xb);
const LSL_TYPES_LONG = (1 << 2) | (1 << 9) | (1 << 0xb);

function systemTypeAllowed(cpu: Cpu, d: Descriptor, legacy: number, long: number): boolean {
  const attr = descriptorAttributes(d.hi);
  if (attr & SegAttrBits.S) return true;
  return (((cpu.longMode ? long : legacy) >> (attr & 0xf)) & 1) === 1;
}

const lar =
  (size: number): Handler =>
  (cpu, i) => {
    requireProtected(cpu);
    const d = visibleDescriptor(cpu, readRm16(cpu, i));
    const ok = d !== undefined && systemTypeAllowed(cpu, d, LAR_TYPES, LAR_TYPES_LONG);
    if (ok) setRegSized(cpu, i.reg, size, d.hi & (size === 16 ? 0xff00 : 0x00ffff00), 0);
    setZf(cpu, ok);
  };

const lsl =
  (size: number): Handler =>
  (cpu, i) => {
    requireProtected(cpu);
    const d = visibleDescriptor(cpu, readRm16(cpu, i));
    const ok = d !== undefined && systemTypeAllowed(cpu, d, LSL_TYPES, LSL_TYPES_LONG);
    if (ok) {
      const limit = descriptorLimit(d);
      setRegSized(cpu, i.reg, size, size === 16 ? limit & 0xffff : limit, 0);
    }
    setZf(cpu, ok);
  };

const verify =
  (write: boolean): Handler =>
  (cpu, i) => {
    requireProtected(cpu);
    const d = visibleDescriptor(cpu, readRm16(cpu, i));
    let ok = false;
    if (d !== undefined) {
      const attr = descriptorAttributes(d.hi);
      const code = (attr & 8) !== 0;
      if (attr & SegAttrBits.S) ok = write ? !code && (attr & 2) !== 0 : !code || (attr & 2) !== 0;
    }
    setZf(cpu, ok);
  };

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  t.defineGroup(0x0f00, 0, { name: 'sldt', exec: storeSystemSelector(Seg.LDTR), flags: rm });
  t.defineGroup(0x0f00, 1, { name: 'str', exec: storeSystemSelector(Seg.TR), flags: rm });
  t.defineGroup(0x0f00, 2, { name: 'lldt', exec: lldt, flags: rm });
  t.defineGroup(0x0f00, 3, { name: 'ltr', exec: ltr, flags: rm });
  t.defineGroup(0x0f00, 4, { name: 'verr', exec: verify(false), flags: rm });
  t.defineGroup(0x0f00, 5, { name: 'verw', exec: verify(true), flags: rm });
  t.define(0x0f02, { name: 'lar', exec: sized(lar), flags: rm });
  t.define(0x0f03, { name: 'lsl', exec: sized(lsl), flags: rm });
}
