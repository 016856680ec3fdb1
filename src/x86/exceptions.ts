/**
 * Delivering exceptions and interrupts through the IVT (real mode), the 32-bit IDT
 * (protected mode, with the TSS stack switch) and the 64-bit IDT (long mode, with IST).
 * A fault while delivering becomes #DF by the architectural rules, and a fault while
 * delivering #DF is a triple fault: the vCPU shuts down.
 */
import { read16, read32, write16, write32, write64 } from './access.js';
import { type Cpu, Cr0, Cr4, SegAttrBits } from './cpu.js';
import { ExitReason } from './exit.js';
import { Fault, Restart, Vector } from './fault.js';
import { Flag, readFlags } from './flags.js';
import { checkCanonicalStack } from './isa/stack.js';
import { descriptorAttributes, readDescriptor, Seg, setSegmentFromDescriptor } from './segments.js';

/** How an event arose: it decides privilege checks and the error code. */
export const enum EventKind {
  /** A fault or trap raised by an instruction. */
  Exception = 0,
  /** An external interrupt or NMI. */
  External = 1,
  /** INT n, INT3, INTO: checked against the gate's DPL. */
  Software = 2,
}

const CONTRIBUTORY = (1 << 0) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13);
/**
 * Fault-class exceptions: the RFLAGS image they push has RF set, so that the faulting
 * instruction, when restarted by IRET, does not hit an instruction breakpoint again.
 */
const FAULTS =
  (1 << 0) |
  (1 << 5) |
  (1 << 6) |
  (1 << 7) |
  (1 << 10) |
  (1 << 11) |
  (1 << 12) |
  (1 << 13) |
  (1 << 14) |
  (1 << 16) |
  (1 << 17) |
  (1 << 19);

/** The RFLAGS image an event pushes. */
function savedFlags(cpu: Cpu, vector: number, kind: EventKind): number {
  const flags = readFlags(cpu);
  return kind === EventKind.Exception && (FAULTS >> vector) & 1 && vector < 32
    ? flags | Flag.RF
    : flags;
}

const HAS_ERROR_CODE =
  (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17) | (1 << 21);

/** Delivers an exception; false when the vCPU shut down (triple fault). */
export function deliverException(cpu: Cpu, vector: number, errorCode: number): boolean {
  // With CR4.MCE clear a machine check shuts the processor down (SDM vol. 3, 17.3.1.2).
  if (vector === Vector.MC && !(cpu.cr4 & Cr4.MCE)) return shutdown(cpu, 'machine check');
  let current = vector;
  let code = vector < 32 && HAS_ERROR_CODE & (1 << vector) ? Math.max(errorCode, 0) : -1;
  for (;;) {
    try {
      deliver(cpu, current, EventKind.Exception, code);
      return true;
    } catch (error) {
      if (error instanceof Restart) return deliveryThroughMmio(cpu);
      if (!(error instanceof Fault)) throw error;
      if (current === Vector.DF)
        return shutdown(cpu, `triple fault (fault ${error.vector} while delivering #DF)`);
      // A machine check in the middle of delivering one shuts down (MCG_STATUS.MCIP is set);
      // treated as benign, it would be retried forever.
      if (error.vector === Vector.MC && (current === Vector.MC || !(cpu.cr4 & Cr4.MCE)))
        return shutdown(cpu, `machine check while delivering vector ${current}`);
      const firstContributory = (CONTRIBUTORY >> current) & 1;
      const secondContributory = (CONTRIBUTORY >> error.vector) & 1 || error.vector === Vector.PF;
      if (
        (firstContributory && (CONTRIBUTORY >> error.vector) & 1) ||
        (current === Vector.PF && secondContributory)
      ) {
        current = Vector.DF;
        code = 0;
      } else {
        current = error.vector;
        code = HAS_ERROR_CODE & (1 << current) ? Math.max(error.errorCode, 0) : -1;
      }
    }
  }
}

/** Delivers an external interrupt (or NMI, vector 2). */
export function deliverInterrupt(cpu: Cpu, vector: number): boolean {
  try {
    deliver(cpu, vector, EventKind.External, -1);
    return true;
  } catch (error) {
    if (error instanceof Restart) return deliveryThroughMmio(cpu);
    if (!(error instanceof Fault)) throw error;
    return deliverException(cpu, error.vector, error.errorCode);
  }
}

/**
 * The IDT, GDT or stack of an event lies where no RAM is (an MMIO exit cannot be taken in the
 * middle of a delivery): the vCPU shuts down as on a triple fault.
 */
function deliveryThroughMmio(cpu: Cpu): false {
  cpu.exiting = false;
  return shutdown(
    cpu,
    `event delivery read or wrote unbacked memory at ${cpu.lastGuestPhysical.toString(16)}`,
  );
}

/** INT n / INT3 / INTO: RIP must already point past the instruction. Faults propagate. */
export function softwareInterrupt(cpu: Cpu, vector: number): void {
  deliver(cpu, vector, EventKind.Software, -1);
}

function shutdown(cpu: Cpu, message: string): false {
  cpu.exit.reason = ExitReason.Shutdown;
  cpu.exit.message = message;
  cpu.halted = true;
  return false;
}

/** Delivery is all or nothing: a fault part-way restores the state it started from. */
function deliver(cpu: Cpu, vector: number, kind: EventKind, errorCode: number): void {
  cpu.halted = false;
  const saved = saveDeliveryState(cpu);
  try {
    if (!(cpu.cr0 & Cr0.PE)) deliverReal(cpu, vector);
    else if (cpu.longMode) deliverLong(cpu, vector, kind, errorCode);
    else deliverProtected(cpu, vector, kind, errorCode);
  } catch (error) {
    restoreDeliveryState(cpu, saved);
    throw error;
  }
}

function saveDeliveryState(cpu: Cpu): Int32Array {
  const s = new Int32Array(24);
  s[0] = cpu.cpl;
  s[1] = cpu.flags;
  s[2] = cpu.gpr[8]!;
  s[3] = cpu.gpr[9]!;
  s[4] = cpu.ripLo;
  s[5] = cpu.ripHi;
  for (const [i, seg] of [Seg.CS, Seg.SS, Seg.ES, Seg.DS, Seg.FS, Seg.GS].entries()) {
    s[6 + i * 3] = cpu.segSel[seg]!;
    s[7 + i * 3] = cpu.segAttr[seg]!;
    s[8 + i * 3] = cpu.segBaseLo[seg]!;
  }
  return s;
}

function restoreDeliveryState(cpu: Cpu, s: Int32Array): void {
  cpu.cpl = s[0]!;
  cpu.flags = s[1]!;
  cpu.gpr[8] = s[2]!;
  cpu.gpr[9] = s[3]!;
  cpu.ripLo = s[4]!;
  cpu.ripHi = s[5]!;
  for (const [i, seg] of [Seg.CS, Seg.SS, Seg.ES, Seg.DS, Seg.FS, Seg.GS].entries()) {
    cpu.segSel[seg] = s[6 + i * 3]!;
    cpu.segAttr[seg] = s[7 + i * 3]!;
    cpu.segBaseLo[seg] = s[8 + i * 3]!;
  }
  cpu.updateMode();
}

function deliverReal(cpu: Cpu, vector: number): void {
  if (vector * 4 + 3 > cpu.idtLimit >>> 0) throw new Fault(Vector.GP, 0);
  const entry = (cpu.idtBaseLo + vector * 4) | 0;
  const ip = read16(cpu, entry, 0);
  const cs = read16(cpu, (entry + 2) | 0, 0);
  push16(cpu, readFlags(cpu));
  push16(cpu, cpu.segSel[Seg.CS]!);
  push16(cpu, cpu.ripLo);
  cpu.flags &= ~(Flag.IF | Flag.TF | Flag.AC);
  cpu.segSel[Seg.CS] = cs;
  cpu.segBaseLo[Seg.CS] = cs << 4;
  cpu.ripLo = ip;
  cpu.ripHi = 0;
}

function push16(cpu: Cpu, value: number): void {
  const sp = (cpu.gpr[8]! - 2) & 0xffff;
  cpu.gpr[8] = (cpu.gpr[8]! & ~0xffff) | sp;
  write16(cpu, (cpu.segBaseLo[Seg.SS]! + sp) | 0, 0, value);
}

/** Reads the gate for `vector` and checks it; returns [lo, hi] dwords (and hi2 for 64-bit). */
function readGate(cpu: Cpu, vector: number, kind: EventKind, size: 8 | 16): number[] {
  const idtError = vector * 8 + 2 + (kind === EventKind.External ? 1 : 0);
  if (vector * size + size - 1 > cpu.idtLimit >>> 0) throw new Fault(Vector.GP, idtError);
  const at = (cpu.idtBaseLo + vector * size) | 0;
  const atHi = size === 16 ? cpu.idtBaseHi : 0;
  const supervisor = cpu.cpl;
  cpu.cpl = 0;
  cpu.updateTlbMasks();
  const dwords: number[] = [];
  try {
    for (let i = 0; i < size / 4; i++) dwords.push(read32(cpu, (at + i * 4) | 0, atHi));
  } finally {
    cpu.cpl = supervisor;
    cpu.updateTlbMasks();
  }
  const hi = dwords[1]!;
  const type = (hi >> 8) & 0x1f;
  const dpl = (hi >> 13) & 3;
  const valid =
    size === 16 ? type === 0x0e || type === 0x0f : [0x05, 0x06, 0x07, 0x0e, 0x0f].includes(type);
  if (!valid) throw new Fault(Vector.GP, idtError);
  if (kind === EventKind.Software && dpl < cpu.cpl) throw new Fault(Vector.GP, idtError);
  if (!(hi & 0x8000)) throw new Fault(Vector.NP, idtError);
  return dwords;
}

/** Loads the handler's code segment; returns its DPL (the new CPL). */
function handlerCodeSegment(
  cpu: Cpu,
  selector: number,
): { dpl: number; descriptor: ReturnType<typeof readDescriptor> } {
  if ((selector & ~3) === 0) throw new Fault(Vector.GP, 0);
  const descriptor = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(descriptor.hi);
  if (!(attr & SegAttrBits.S) || !(attr & 8)) throw new Fault(Vector.GP, selector & 0xfffc);
  if (!(attr & SegAttrBits.P)) throw new Fault(Vector.NP, selector & 0xfffc);
  let dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (attr & 4) dpl = cpu.cpl; // conforming: runs at the current CPL
  if (dpl > cpu.cpl) throw new Fault(Vector.GP, selector & 0xfffc);
  return { dpl, descriptor };
}

/** Reads the ring-`ring` stack pointer from the 32-bit TSS: [esp, ss]. */
function tssStack32(cpu: Cpu, ring: number): [number, number] {
  const base = cpu.segBaseLo[Seg.TR]!;
  const offset = 4 + ring * 8;
  if (offset + 5 > cpu.segLimit[Seg.TR]! >>> 0)
    throw new Fault(Vector.TS, cpu.segSel[Seg.TR]! & 0xfffc);
  const supervisor = cpu.cpl;
  cpu.cpl = 0;
  cpu.updateTlbMasks();
  try {
    return [read32(cpu, (base + offset) | 0, 0), read16(cpu, (base + offset + 4) | 0, 0)];
  } finally {
    cpu.cpl = supervisor;
    cpu.updateTlbMasks();
  }
}

function deliverProtected(cpu: Cpu, vector: number, kind: EventKind, errorCode: number): void {
  const [lo, hi] = readGate(cpu, vector, kind, 8) as [number, number];
  const type = (hi >> 8) & 0x1f;
  if (type === 0x05) throw new Fault(Vector.GP, vector * 8 + 2); // task gates: not supported
  const gate32 = (type & 8) !== 0;
  const offset = gate32 ? (lo & 0xffff) | (hi & 0xffff0000) | 0 : lo & 0xffff;
  const selector = lo >>> 16;
  const oldFlags = savedFlags(cpu, vector, kind);
  const oldCs = cpu.segSel[Seg.CS]!;
  const oldEip = cpu.ripLo;
  const oldSs = cpu.segSel[Seg.SS]!;
  const oldEsp = cpu.gpr[8]!;
  const fromVm86 = (oldFlags & Flag.VM) !== 0;
  const { dpl, descriptor } = handlerCodeSegment(cpu, selector);
  const push = (value: number): void => {
    const esp =
      cpu.stackSize === 32
        ? (cpu.gpr[8]! - (gate32 ? 4 : 2)) | 0
        : (cpu.gpr[8]! & ~0xffff) | ((cpu.gpr[8]! - (gate32 ? 4 : 2)) & 0xffff);
    const address = (cpu.segBaseLo[Seg.SS]! + (cpu.stackSize === 32 ? esp : esp & 0xffff)) | 0;
    if (gate32) write32(cpu, address, 0, value);
    else write16(cpu, address, 0, value);
    cpu.gpr[8] = esp;
  };
  if (dpl < cpu.cpl || fromVm86) {
    if (fromVm86 && dpl !== 0) throw new Fault(Vector.GP, selector & 0xfffc);
    const [esp, ss] = tssStack32(cpu, dpl);
    const ssDescriptor = readDescriptor(cpu, ss, Vector.TS);
    cpu.cpl = dpl;
    setSegmentFromDescriptor(cpu, Seg.SS, ss, ssDescriptor);
    cpu.flags &= ~Flag.VM;
    cpu.updateMode();
    cpu.gpr[8] = esp;
    if (fromVm86) {
      push(cpu.segSel[Seg.GS]!);
      push(cpu.segSel[Seg.FS]!);
      push(cpu.segSel[Seg.DS]!);
      push(cpu.segSel[Seg.ES]!);
      for (const seg of [Seg.GS, Seg.FS, Seg.DS, Seg.ES]) {
        cpu.segSel[seg] = 0;
        cpu.segAttr[seg] = SegAttrBits.Unusable;
      }
    }
    push(oldSs);
    push(oldEsp);
  }
  push(oldFlags);
  push(oldCs);
  push(oldEip);
  if (errorCode >= 0) push(errorCode);
  setSegmentFromDescriptor(cpu, Seg.CS, (selector & ~3) | dpl, descriptor);
  cpu.flags &= ~(Flag.TF | Flag.NT | Flag.VM | Flag.RF);
  if (!(type & 1)) cpu.flags &= ~Flag.IF;
  cpu.ripLo = offset;
  cpu.ripHi = 0;
  cpu.updateMode();
}

function deliverLong(cpu: Cpu, vector: number, kind: EventKind, errorCode: number): void {
  const [lo, hi, hi2] = readGate(cpu, vector, kind, 16) as [number, number, number];
  const type = (hi >> 8) & 0x1f;
  const selector = lo >>> 16;
  const ist = hi & 7;
  const targetLo = (lo & 0xffff) | (hi & 0xffff0000) | 0;
  const targetHi = hi2;
  const oldFlags = savedFlags(cpu, vector, kind);
  const oldCs = cpu.segSel[Seg.CS]!;
  const oldRipLo = cpu.ripLo;
  const oldRipHi = cpu.ripHi;
  const oldSs = cpu.segSel[Seg.SS]!;
  const oldRspLo = cpu.gpr[8]!;
  const oldRspHi = cpu.gpr[9]!;
  const { dpl, descriptor } = handlerCodeSegment(cpu, selector);
  if (!(descriptorAttributes(descriptor.hi) & SegAttrBits.L))
    throw new Fault(Vector.GP, selector & 0xfffc);
  let rspLo = oldRspLo;
  let rspHi = oldRspHi;
  if (ist !== 0 || dpl < cpu.cpl) {
    // The new stack comes from the 64-bit TSS: RSP0-2 at 4, IST1-7 at 36.
    const offset = ist !== 0 ? 36 + (ist - 1) * 8 : 4 + dpl * 8;
    if (offset + 7 > cpu.segLimit[Seg.TR]! >>> 0)
      throw new Fault(Vector.TS, cpu.segSel[Seg.TR]! & 0xfffc);
    const base = cpu.segBaseLo[Seg.TR]!;
    const baseHi = cpu.segBaseHi[Seg.TR]!;
    const supervisor = cpu.cpl;
    cpu.cpl = 0;
    cpu.updateTlbMasks();
    try {
      rspLo = read32(cpu, (base + offset) | 0, baseHi);
      rspHi = read32(cpu, (base + offset + 4) | 0, baseHi);
    } finally {
      cpu.cpl = supervisor;
      cpu.updateTlbMasks();
    }
  }
  if (dpl < cpu.cpl) {
    cpu.segSel[Seg.SS] = dpl; // a null selector with RPL = new CPL
    cpu.segBaseLo[Seg.SS] = 0;
    cpu.segBaseHi[Seg.SS] = 0;
    cpu.segLimit[Seg.SS] = 0;
    cpu.segAttr[Seg.SS] = SegAttrBits.Unusable | (dpl << SegAttrBits.DplShift);
  }
  rspLo &= ~0xf; // the frame is 16-byte aligned
  cpu.cpl = dpl;
  cpu.updateTlbMasks();
  const push = (valueLo: number, valueHi: number): void => {
    const newLo = (rspLo - 8) | 0;
    if (newLo >>> 0 > rspLo >>> 0) rspHi = (rspHi - 1) | 0;
    rspLo = newLo;
    checkCanonicalStack(rspHi);
    write64(cpu, rspLo, rspHi, valueLo, valueHi);
  };
  push(oldSs, 0);
  push(oldRspLo, oldRspHi);
  push(oldFlags, 0);
  push(oldCs, 0);
  push(oldRipLo, oldRipHi);
  if (errorCode >= 0) push(errorCode, 0);
  cpu.gpr[8] = rspLo;
  cpu.gpr[9] = rspHi;
  setSegmentFromDescriptor(cpu, Seg.CS, (selector & ~3) | dpl, descriptor);
  cpu.flags &= ~(Flag.TF | Flag.NT | Flag.RF);
  if (!(type & 1)) cpu.flags &= ~Flag.IF;
  cpu.ripLo = targetLo;
  cpu.ripHi = targetHi;
  cpu.updateMode();
}
