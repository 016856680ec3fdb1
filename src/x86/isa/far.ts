/**
 * Far transfers and segment-register instructions: far JMP/CALL/RET, IRET, SYSCALL/SYSRET,
 * SYSENTER/SYSEXIT, ENTER/LEAVE, PUSH/POP Sreg, LDS/LES/LSS/LFS/LGS, LLDT/LTR/SLDT/STR,
 * LAR/LSL/VERR/VERW, MOV to/from debug registers, and the instructions that do nothing
 * (hint NOPs, prefetches, fences, CLFLUSH) or nothing but #UD (UD0/UD1/UD2).
 *
 * Far transfers follow the SDM's pseudocode: every value is read and every descriptor
 * checked before anything changes, so a fault (#GP/#NP/#SS/#PF) leaves the state as it was.
 * Call gates, task gates and task switches are not implemented (Linux uses none of them):
 * a transfer through one raises #GP(selector), and IRET with NT=1 raises #GP(0).
 */
import { read16 } from '../access.js';
import { type Cpu, Cr0, Cr4, Efer, SegAttrBits } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Fault, Vector } from '../fault.js';
import { Flag, materializeFlags, readFlags } from '../flags.js';
import type { Handler, Insn } from '../insn.js';
import {
  type Descriptor,
  descriptorAttributes,
  descriptorLimit,
  loadDataSegment,
  loadRealSegment,
  markAccessed,
  readDescriptor,
  Seg,
  setSegmentFromDescriptor,
  writeAccessByte,
} from '../segments.js';
import { Imm, type OpcodeTable, OpFlag, type SizedHandlers } from '../table.js';
import { stepOver } from './control.js';
import { getRegSized, linear, readRm16, readSized, setRegSized, writeRm16 } from './operands.js';
import { discard, peek, pop, push } from './stack.js';
import { Msr, readMsr } from './system.js';

function sized(make: (size: number) => Handler): SizedHandlers {
  return [make(16), make(32), make(64)];
}

const RSP = 8;
const RBP = 10;

/** Access rights (Cpu.segAttr layout) of the flat segments SYSCALL/SYSENTER and their returns load. */
const enum FlatAttr {
  Code64 = 0xa09b,
  Code32 = 0xc09b,
  Data = 0xc093,
  /** DPL 3 (bits 5-6). */
  Dpl3 = 0x60,
}

/** RFLAGS bits that exist (others are reserved and stay 0, bit 1 stays 1). */
const enum FlagMask {
  /** CF PF AF ZF SF TF DF OF NT: what any IRET/POPF-like load may change. */
  Basic = 0x4dd5,
  /** Real-mode IRET (and VM86 IRET, less IOPL): 16 bits, or 32 bits less RF VM VIF VIP. */
  Real16 = 0x7fd5,
  Real32 = 0x247fd5,
  /** Everything but RF (IRET to VM86). */
  All = 0x3e7fd5,
}

function fault(vector: Vector, selector: number): Fault {
  return new Fault(vector, selector & 0xfffc);
}

function realOrVm86(cpu: Cpu): boolean {
  return !(cpu.cr0 & Cr0.PE) || (cpu.flags & Flag.VM) !== 0;
}

function requireProtected(cpu: Cpu): void {
  if (realOrVm86(cpu)) throw new Fault(Vector.UD);
}

function requireCpl0(cpu: Cpu): void {
  if (cpu.cpl !== 0) throw new Fault(Vector.GP, 0);
}

/** Whether hi is the sign extension of bit 47 (a canonical address's upper half). */
function canonical(hi: number): boolean {
  return (hi << 16) >> 16 === hi;
}

/** Loads RFLAGS bits in `mask` from `value`; the others are kept. */
function loadFlags(cpu: Cpu, value: number, mask: number): void {
  materializeFlags(cpu);
  cpu.flags = (cpu.flags & ~mask) | (value & mask) | Flag.Fixed;
}

function setZf(cpu: Cpu, on: boolean): void {
  materializeFlags(cpu);
  cpu.flags = on ? cpu.flags | Flag.ZF : cpu.flags & ~Flag.ZF;
}

/** The RFLAGS bits IRET may load at `cpl` with the current IOPL, for an operand size. */
function iretFlagMask(cpu: Cpu, size: number, cpl: number): number {
  // RF is not kept: it would only suppress instruction breakpoints, which are not
  // implemented, for one instruction; faults push RF=1 in their own frames.
  let mask: number = FlagMask.Basic;
  if (size !== 16) mask |= Flag.AC | Flag.ID;
  if (cpl <= (cpu.flags & Flag.IOPL) >> 12) mask |= Flag.IF;
  if (cpl === 0) {
    mask |= Flag.IOPL;
    if (size !== 16) mask |= Flag.VIF | Flag.VIP;
  }
  return size === 16 ? mask & 0xffff : mask;
}

/** The address after the instruction: returns lo, leaves hi in `cpu.hi`. */
function nextRip(cpu: Cpu, i: Insn): number {
  const next = (cpu.ripLo + i.len) | 0;
  if (cpu.codeSize === 64) {
    cpu.hi = next >>> 0 < cpu.ripLo >>> 0 ? (cpu.ripHi + 1) | 0 : cpu.ripHi;
    return next;
  }
  cpu.hi = 0;
  return cpu.codeSize === 32 ? next : next & 0xffff;
}

/** Runs `body`; if it faults, puts RSP and RBP back as they were. */
function keepingStack(cpu: Cpu, body: () => void): void {
  const rsp = cpu.gpr[RSP]!;
  const rspHi = cpu.gpr[RSP + 1]!;
  const rbp = cpu.gpr[RBP]!;
  const rbpHi = cpu.gpr[RBP + 1]!;
  try {
    body();
  } catch (error) {
    cpu.gpr[RSP] = rsp;
    cpu.gpr[RSP + 1] = rspHi;
    cpu.gpr[RBP] = rbp;
    cpu.gpr[RBP + 1] = rbpHi;
    throw error;
  }
}

/** Sets RSP to a value popped at `size` bits, as the new stack's size sees it. */
function setStackPointer(cpu: Cpu, size: number, lo: number, hi: number): void {
  if (size === 64) {
    cpu.gpr[RSP] = lo;
    cpu.gpr[RSP + 1] = hi;
  } else if (size === 32) {
    cpu.gpr[RSP] = lo;
    cpu.gpr[RSP + 1] = 0;
  } else if (cpu.stackSize === 16) {
    cpu.gpr[RSP] = (cpu.gpr[RSP]! & ~0xffff) | (lo & 0xffff);
  } else {
    cpu.gpr[RSP] = lo & 0xffff;
    cpu.gpr[RSP + 1] = 0;
  }
}

// ---------------------------------------------------------------------------------------
// Descriptor checks.

/**
 * The target of a far JMP/CALL: a code segment the current CPL may jump to directly.
 * System descriptors (call gates, task gates, TSSs) are not supported: #GP(selector).
 */
function jumpTargetSegment(cpu: Cpu, selector: number): Descriptor {
  if ((selector & ~3) === 0) throw new Fault(Vector.GP, 0);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  // Not a code segment: data segments are #GP; call gates, task gates and TSSs (task
  // switches) are not implemented — Linux uses none — and are #GP(selector) as well.
  if (!(attr & SegAttrBits.S) || !(attr & 8)) throw fault(Vector.GP, selector);
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (attr & 4) {
    if (dpl > cpu.cpl) throw fault(Vector.GP, selector); // conforming
  } else if ((selector & 3) > cpu.cpl || dpl !== cpu.cpl) {
    throw fault(Vector.GP, selector);
  }
  if (!(attr & SegAttrBits.P)) throw fault(Vector.NP, selector);
  if (cpu.longMode && attr & SegAttrBits.L && attr & SegAttrBits.DB)
    throw fault(Vector.GP, selector);
  return d;
}

/** The code segment a far RET or IRET returns to (same or outer privilege level). */
function returnCodeSegment(cpu: Cpu, selector: number): Descriptor {
  if ((selector & ~3) === 0) throw new Fault(Vector.GP, 0);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  if (!(attr & SegAttrBits.S) || !(attr & 8)) throw fault(Vector.GP, selector);
  const rpl = selector & 3;
  if (rpl < cpu.cpl) throw fault(Vector.GP, selector);
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (attr & 4 ? dpl > rpl : dpl !== rpl) throw fault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw fault(Vector.NP, selector);
  if (cpu.longMode && attr & SegAttrBits.L && attr & SegAttrBits.DB)
    throw fault(Vector.GP, selector);
  return d;
}

/**
 * The stack segment a return to privilege level `rpl` loads; undefined for a null selector,
 * which only a return to 64-bit code at CPL 0-2 may load.
 */
function returnStackSegment(
  cpu: Cpu,
  selector: number,
  rpl: number,
  to64: boolean,
): Descriptor | undefined {
  if ((selector & ~3) === 0) {
    if (to64 && rpl !== 3) return undefined;
    throw new Fault(Vector.GP, 0);
  }
  if ((selector & 3) !== rpl) throw fault(Vector.GP, selector);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (!(attr & SegAttrBits.S) || attr & 8 || !(attr & 2) || dpl !== rpl)
    throw fault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw fault(Vector.SS, selector);
  return d;
}

/** The offset a transfer to code segment `d` lands on; #GP(0) past the limit or non-canonical. */
function checkTarget(cpu: Cpu, d: Descriptor, size: number, lo: number, hi: number): number {
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

function loadCodeSegment(cpu: Cpu, selector: number, d: Descriptor, cpl: number): void {
  markAccessed(cpu, selector, d);
  setSegmentFromDescriptor(cpu, Seg.CS, (selector & ~3) | cpl, d);
}

function loadStackSegment(
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
function invalidateDataSegments(cpu: Cpu, cpl: number): void {
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

/** Sets CS for SYSCALL/SYSRET/SYSENTER/SYSEXIT, which load fixed flat descriptors. */
function loadFlat(cpu: Cpu, seg: Seg, selector: number, attr: number): void {
  cpu.segSel[seg] = selector & 0xffff;
  cpu.segBaseLo[seg] = 0;
  cpu.segBaseHi[seg] = 0;
  cpu.segLimit[seg] = -1;
  cpu.segAttr[seg] = attr;
}

// ---------------------------------------------------------------------------------------
// Far JMP, CALL, RET.

function farTransfer(
  cpu: Cpu,
  i: Insn,
  selector: number,
  lo: number,
  hi: number,
  call: boolean,
): void {
  const size = i.opsize;
  selector &= 0xffff;
  if (realOrVm86(cpu)) {
    if (call) {
      const returnLo = nextRip(cpu, i);
      keepingStack(cpu, () => {
        push(cpu, size, cpu.segSel[Seg.CS]!, 0);
        push(cpu, size, returnLo, 0);
      });
    }
    loadRealSegment(cpu, Seg.CS, selector);
    cpu.ripLo = size === 16 ? lo & 0xffff : lo;
    cpu.ripHi = 0;
    cpu.updateMode();
    return;
  }
  const d = jumpTargetSegment(cpu, selector);
  const targetLo = checkTarget(cpu, d, size, lo, hi);
  const targetHi = cpu.hi;
  if (call) {
    const returnLo = nextRip(cpu, i);
    const returnHi = cpu.hi;
    keepingStack(cpu, () => {
      push(cpu, size, cpu.segSel[Seg.CS]!, 0);
      push(cpu, size, size === 16 ? returnLo & 0xffff : returnLo, returnHi);
    });
  }
  loadCodeSegment(cpu, selector, d, cpu.cpl);
  cpu.ripLo = targetLo;
  cpu.ripHi = targetHi;
  cpu.updateMode();
}

/** EA / 9A: the far pointer is in the instruction. */
const farDirect =
  (call: boolean): Handler =>
  (cpu, i) =>
    farTransfer(cpu, i, i.imm2, i.immLo, 0, call);

/** FF /5, FF /3: m16:16, m16:32 or m16:64. */
const farIndirect =
  (call: boolean, size: number): Handler =>
  (cpu, i) => {
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    const offset = readSized(cpu, lo, hi, size);
    const offsetHi = size === 64 ? cpu.hi : 0;
    const bytes = size >> 3;
    const at = (lo + bytes) | 0;
    const selector = read16(
      cpu,
      at,
      at >>> 0 < lo >>> 0 && cpu.codeSize === 64 ? (hi + 1) | 0 : hi,
    );
    farTransfer(cpu, i, selector, offset, offsetHi, call);
  };

/** CB / CA imm16: far RET, to the same or an outer privilege level. */
const farRet =
  (size: number): Handler =>
  (cpu, i) => {
    const bytes = size >> 3;
    const release = i.op === 0xca ? i.immLo & 0xffff : 0;
    const offset = peek(cpu, size, 0);
    const offsetHi = size === 64 ? cpu.hi : 0;
    const selector = peek(cpu, size, bytes) & 0xffff;
    if (realOrVm86(cpu)) {
      discard(cpu, 2 * bytes + release);
      loadRealSegment(cpu, Seg.CS, selector);
      cpu.ripLo = size === 16 ? offset & 0xffff : offset;
      cpu.ripHi = 0;
      cpu.updateMode();
      return;
    }
    const d = returnCodeSegment(cpu, selector);
    const targetLo = checkTarget(cpu, d, size, offset, offsetHi);
    const targetHi = cpu.hi;
    const rpl = selector & 3;
    if (rpl === cpu.cpl) {
      loadCodeSegment(cpu, selector, d, rpl);
      discard(cpu, 2 * bytes + release);
    } else {
      const stack = 2 * bytes + release;
      const spLo = peek(cpu, size, stack);
      const spHi = size === 64 ? cpu.hi : 0;
      const ssSelector = peek(cpu, size, stack + bytes) & 0xffff;
      const to64 = cpu.longMode && (descriptorAttributes(d.hi) & SegAttrBits.L) !== 0;
      const ss = returnStackSegment(cpu, ssSelector, rpl, to64);
      loadCodeSegment(cpu, selector, d, rpl);
      loadStackSegment(cpu, ssSelector, ss, rpl);
      cpu.updateMode();
      setStackPointer(cpu, size, spLo, spHi);
      discard(cpu, release);
      invalidateDataSegments(cpu, rpl);
    }
    cpu.ripLo = targetLo;
    cpu.ripHi = targetHi;
    cpu.updateMode();
  };

// ---------------------------------------------------------------------------------------
// IRET.

function iretReal(cpu: Cpu, size: number): void {
  const bytes = size >> 3;
  const ip = peek(cpu, size, 0);
  const cs = peek(cpu, size, bytes) & 0xffff;
  const flags = peek(cpu, size, 2 * bytes);
  discard(cpu, 3 * bytes);
  loadRealSegment(cpu, Seg.CS, cs);
  cpu.ripLo = size === 16 ? ip & 0xffff : ip;
  cpu.ripHi = 0;
  loadFlags(cpu, flags, size === 16 ? FlagMask.Real16 : FlagMask.Real32);
  cpu.updateMode();
}

/** IRET in VM86 mode: allowed with IOPL 3, which it cannot change (no VME). */
function iretVm86(cpu: Cpu, size: number): void {
  if ((cpu.flags & Flag.IOPL) !== Flag.IOPL) throw new Fault(Vector.GP, 0);
  const bytes = size >> 3;
  const ip = peek(cpu, size, 0);
  const cs = peek(cpu, size, bytes) & 0xffff;
  const flags = peek(cpu, size, 2 * bytes);
  discard(cpu, 3 * bytes);
  loadRealSegment(cpu, Seg.CS, cs);
  cpu.ripLo = size === 16 ? ip & 0xffff : ip;
  cpu.ripHi = 0;
  loadFlags(cpu, flags, (size === 16 ? FlagMask.Real16 : FlagMask.Real32) & ~Flag.IOPL);
}

/** IRETD from CPL 0 with VM=1 in the image: back to a VM86 task's registers. */
function iretToVm86(cpu: Cpu): void {
  const values: number[] = [];
  for (let k = 0; k < 9; k++) values.push(peek(cpu, 32, 4 * k));
  const [eip, cs, flags, esp, ss, es, ds, fs, gs] = values as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  loadFlags(cpu, flags, FlagMask.All);
  cpu.flags |= Flag.VM;
  for (const [seg, selector] of [
    [Seg.CS, cs],
    [Seg.SS, ss],
    [Seg.ES, es],
    [Seg.DS, ds],
    [Seg.FS, fs],
    [Seg.GS, gs],
  ] as const) {
    loadRealSegment(cpu, seg, selector & 0xffff);
  }
  cpu.gpr[RSP] = esp;
  cpu.gpr[RSP + 1] = 0;
  cpu.ripLo = eip & 0xffff;
  cpu.ripHi = 0;
  cpu.updateMode();
}

/**
 * IRET in protected mode and in long mode. In 64-bit mode the frame always holds SS:RSP; in
 * protected and compatibility mode only a return to an outer level pops them.
 */
function iretProtected(cpu: Cpu, size: number): void {
  const bytes = size >> 3;
  const ipLo = peek(cpu, size, 0);
  const ipHi = size === 64 ? cpu.hi : 0;
  const selector = peek(cpu, size, bytes) & 0xffff;
  const flags = peek(cpu, size, 2 * bytes);
  if (!cpu.longMode && size === 32 && flags & Flag.VM && cpu.cpl === 0) {
    iretToVm86(cpu);
    return;
  }
  const d = returnCodeSegment(cpu, selector);
  const targetLo = checkTarget(cpu, d, size, ipLo, ipHi);
  const targetHi = cpu.hi;
  const rpl = selector & 3;
  const oldCpl = cpu.cpl;
  const popsStack = cpu.codeSize === 64 || rpl !== oldCpl;
  let spLo = 0;
  let spHi = 0;
  let ssSelector = 0;
  let ss: Descriptor | undefined;
  if (popsStack) {
    spLo = peek(cpu, size, 3 * bytes);
    spHi = size === 64 ? cpu.hi : 0;
    ssSelector = peek(cpu, size, 4 * bytes) & 0xffff;
    const to64 = cpu.longMode && (descriptorAttributes(d.hi) & SegAttrBits.L) !== 0;
    ss = returnStackSegment(cpu, ssSelector, rpl, to64);
  }
  // Everything is checked: commit.
  loadFlags(cpu, flags, iretFlagMask(cpu, size, oldCpl));
  loadCodeSegment(cpu, selector, d, rpl);
  if (popsStack) {
    loadStackSegment(cpu, ssSelector, ss, rpl);
    cpu.updateMode();
    setStackPointer(cpu, size, spLo, spHi);
  } else {
    discard(cpu, 3 * bytes);
  }
  if (rpl > oldCpl) invalidateDataSegments(cpu, rpl);
  cpu.ripLo = targetLo;
  cpu.ripHi = targetHi;
  cpu.updateMode();
}

const iret =
  (size: number): Handler =>
  (cpu) => {
    if (!(cpu.cr0 & Cr0.PE)) return iretReal(cpu, size);
    if (cpu.flags & Flag.VM) return iretVm86(cpu, size);
    // NT=1 asks for a return from a nested task (a task switch through the TSS back link),
    // which is not implemented; in IA-32e mode it is #GP(0) architecturally.
    if (cpu.flags & Flag.NT) throw new Fault(Vector.GP, 0);
    iretProtected(cpu, size);
  };

// ---------------------------------------------------------------------------------------
// SYSCALL / SYSRET, SYSENTER / SYSEXIT.

/**
 * SYSCALL, in 64-bit mode (LSTAR) and compatibility mode (CSTAR, as AMD does); #UD outside
 * long mode or without EFER.SCE. With `cpu.syscallExits` set (PV guests, whose system calls
 * Xen bounces), it exits to the hypervisor instead — ExitReason.Syscall, RIP past the
 * instruction, `exit.instructionLength` set, the state otherwise untouched.
 */
const syscall: Handler = (cpu, i) => {
  if (cpu.syscallExits) {
    // The hypervisor takes it whatever EFER.SCE says: a PV guest's kernel never sets SCE.
    stepOver(cpu, i);
    cpu.exit.instructionLength = i.len;
    cpu.exitAfter(ExitReason.Syscall);
    return;
  }
  if (!(cpu.efer & Efer.SCE) || !cpu.longMode) throw new Fault(Vector.UD);
  const star = readMsr(cpu, Msr.STAR)!;
  const base = star[1] & 0xffff;
  const from64 = cpu.codeSize === 64;
  const target = readMsr(cpu, from64 ? Msr.LSTAR : Msr.CSTAR)!;
  const mask = readMsr(cpu, Msr.SFMASK)![0];
  const returnLo = nextRip(cpu, i);
  const returnHi = cpu.hi;
  const flags = readFlags(cpu) & ~Flag.RF;
  cpu.gpr[2] = returnLo; // RCX
  cpu.gpr[3] = returnHi;
  cpu.gpr[22] = flags; // R11
  cpu.gpr[23] = 0;
  loadFlags(cpu, 0, mask | Flag.RF);
  loadFlat(cpu, Seg.CS, base & 0xfffc, FlatAttr.Code64);
  loadFlat(cpu, Seg.SS, (base + 8) & 0xffff, FlatAttr.Data);
  cpu.cpl = 0;
  cpu.updateMode();
  cpu.ripLo = target[0];
  cpu.ripHi = target[1];
};

/** SYSRET: to 64-bit user code (REX.W) or compatibility mode. */
const sysret =
  (size: number): Handler =>
  (cpu) => {
    if (!(cpu.efer & Efer.SCE) || cpu.codeSize !== 64) throw new Fault(Vector.UD);
    requireCpl0(cpu);
    const base = readMsr(cpu, Msr.STAR)![1] >>> 16;
    const rcx = cpu.gpr[2]!;
    const rcxHi = cpu.gpr[3]!;
    if (size === 64) {
      // Intel checks RCX before the switch, so the #GP is taken at CPL 0.
      if (!canonical(rcxHi)) throw new Fault(Vector.GP, 0);
      loadFlat(cpu, Seg.CS, (base + 16) | 3, FlatAttr.Code64 | FlatAttr.Dpl3);
      cpu.ripLo = rcx;
      cpu.ripHi = rcxHi;
    } else {
      loadFlat(cpu, Seg.CS, base | 3, FlatAttr.Code32 | FlatAttr.Dpl3);
      cpu.ripLo = rcx;
      cpu.ripHi = 0;
    }
    loadFlags(cpu, cpu.gpr[22]! & 0x3c7fd7, -1); // R11, less RF and VM
    // SS keeps its selector-derived value; its cached attributes are those of a flat DPL 3 stack.
    loadFlat(cpu, Seg.SS, (base + 8) | 3, FlatAttr.Data | FlatAttr.Dpl3);
    cpu.cpl = 3;
    cpu.updateMode();
  };

function sysenterCs(cpu: Cpu): number {
  const cs = readMsr(cpu, Msr.SYSENTER_CS)![0] & 0xffff;
  if ((cs & 0xfffc) === 0) throw new Fault(Vector.GP, 0);
  return cs;
}

const sysenter: Handler = (cpu) => {
  if (!(cpu.cr0 & Cr0.PE)) throw new Fault(Vector.GP, 0);
  const cs = sysenterCs(cpu);
  const eip = readMsr(cpu, Msr.SYSENTER_EIP)!;
  const esp = readMsr(cpu, Msr.SYSENTER_ESP)!;
  materializeFlags(cpu);
  cpu.flags &= ~(Flag.VM | Flag.IF | Flag.RF);
  const long = cpu.longMode;
  loadFlat(cpu, Seg.CS, cs & 0xfffc, long ? FlatAttr.Code64 : FlatAttr.Code32);
  loadFlat(cpu, Seg.SS, (cs + 8) & 0xfffc, FlatAttr.Data);
  cpu.cpl = 0;
  cpu.updateMode();
  cpu.ripLo = eip[0];
  cpu.ripHi = long ? eip[1] : 0;
  cpu.gpr[RSP] = esp[0];
  cpu.gpr[RSP + 1] = long ? esp[1] : 0;
};

/** SYSEXIT: to 64-bit user code (REX.W) or 32-bit user code, RIP from RDX, RSP from RCX. */
const sysexit =
  (size: number): Handler =>
  (cpu) => {
    if (realOrVm86(cpu)) throw new Fault(Vector.GP, 0);
    const cs = sysenterCs(cpu);
    requireCpl0(cpu);
    const gpr = cpu.gpr;
    if (size === 64) {
      if (!canonical(gpr[5]!) || !canonical(gpr[3]!)) throw new Fault(Vector.GP, 0);
      loadFlat(cpu, Seg.CS, (cs + 32) | 3, FlatAttr.Code64 | FlatAttr.Dpl3);
      loadFlat(cpu, Seg.SS, (cs + 40) | 3, FlatAttr.Data | FlatAttr.Dpl3);
      cpu.ripLo = gpr[4]!;
      cpu.ripHi = gpr[5]!;
      gpr[RSP] = gpr[2]!;
      gpr[RSP + 1] = gpr[3]!;
    } else {
      loadFlat(cpu, Seg.CS, (cs + 16) | 3, FlatAttr.Code32 | FlatAttr.Dpl3);
      loadFlat(cpu, Seg.SS, (cs + 24) | 3, FlatAttr.Data | FlatAttr.Dpl3);
      cpu.ripLo = gpr[4]!;
      cpu.ripHi = 0;
      gpr[RSP] = gpr[2]!;
      gpr[RSP + 1] = 0;
    }
    cpu.cpl = 3;
    cpu.updateMode();
  };

// ---------------------------------------------------------------------------------------
// ENTER / LEAVE.

/** The stack pointer minus `bytes` at the stack-address size. */
function lowerStack(cpu: Cpu, bytes: number): void {
  const gpr = cpu.gpr;
  const sp = gpr[RSP]!;
  if (cpu.stackSize === 64) {
    const lo = (sp - bytes) | 0;
    if (lo >>> 0 > sp >>> 0) gpr[RSP + 1] = (gpr[RSP + 1]! - 1) | 0;
    gpr[RSP] = lo;
  } else if (cpu.stackSize === 32) {
    gpr[RSP] = (sp - bytes) | 0;
  } else {
    gpr[RSP] = (sp & ~0xffff) | ((sp - bytes) & 0xffff);
  }
}

const enter =
  (size: number): Handler =>
  (cpu, i) => {
    const allocate = i.immLo & 0xffff;
    const level = i.imm2 & 31;
    const bytes = size >> 3;
    keepingStack(cpu, () => {
      const gpr = cpu.gpr;
      const bp = getRegSized(cpu, 5, size);
      push(cpu, size, bp, size === 64 ? cpu.hi : 0);
      const frameLo = gpr[RSP]!;
      const frameHi = gpr[RSP + 1]!;
      if (level > 0) {
        // Copies the enclosing frames' pointers, walking rBP down at the stack-address size.
        let lo = gpr[RBP]!;
        let hi = gpr[RBP + 1]!;
        for (let k = 1; k < level; k++) {
          let address: number;
          let addressHi = 0;
          if (cpu.stackSize === 64) {
            const next = (lo - bytes) | 0;
            if (next >>> 0 > lo >>> 0) hi = (hi - 1) | 0;
            lo = next;
            address = lo;
            addressHi = hi;
          } else if (cpu.stackSize === 32) {
            lo = (lo - bytes) | 0;
            address = (cpu.segBaseLo[Seg.SS]! + lo) | 0;
          } else {
            lo = (lo - bytes) & 0xffff;
            address = (cpu.segBaseLo[Seg.SS]! + lo) | 0;
          }
          const value = readSized(cpu, address, addressHi, size);
          push(cpu, size, value, size === 64 ? cpu.hi : 0);
        }
        push(cpu, size, size === 16 ? frameLo & 0xffff : frameLo, frameHi);
      }
      setRegSized(cpu, 5, size, size === 16 ? frameLo & 0xffff : frameLo, frameHi);
      lowerStack(cpu, allocate);
    });
  };

const leave =
  (size: number): Handler =>
  (cpu) => {
    keepingStack(cpu, () => {
      const gpr = cpu.gpr;
      if (cpu.stackSize === 64) {
        gpr[RSP] = gpr[RBP]!;
        gpr[RSP + 1] = gpr[RBP + 1]!;
      } else if (cpu.stackSize === 32) {
        gpr[RSP] = gpr[RBP]!;
      } else {
        gpr[RSP] = (gpr[RSP]! & ~0xffff) | (gpr[RBP]! & 0xffff);
      }
      const value = pop(cpu, size);
      setRegSized(cpu, 5, size, value, size === 64 ? cpu.hi : 0);
    });
  };

// ---------------------------------------------------------------------------------------
// Segment registers: PUSH/POP, LDS/LES/LSS/LFS/LGS.

/** PUSH Sreg: the selector zero-extended to the operand size (as AMD and older Intel do). */
const pushSegment =
  (seg: Seg) =>
  (size: number): Handler =>
  (cpu) => {
    push(cpu, size, cpu.segSel[seg]!, 0);
  };

const popSegment =
  (seg: Seg) =>
  (size: number): Handler =>
  (cpu) => {
    const selector = peek(cpu, size, 0) & 0xffff;
    keepingStack(cpu, () => {
      discard(cpu, size >> 3);
      loadDataSegment(cpu, seg, selector);
    });
    if (seg === Seg.SS) cpu.interruptShadow = true;
  };

/** LDS LES LSS LFS LGS: a far pointer from memory into Sreg:reg. */
const loadFarPointer =
  (seg: Seg) =>
  (size: number): Handler =>
  (cpu, i) => {
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    const offset = readSized(cpu, lo, hi, size);
    const offsetHi = size === 64 ? cpu.hi : 0;
    const at = (lo + (size >> 3)) | 0;
    const selector = read16(
      cpu,
      at,
      at >>> 0 < lo >>> 0 && cpu.codeSize === 64 ? (hi + 1) | 0 : hi,
    );
    loadDataSegment(cpu, seg, selector);
    setRegSized(cpu, i.reg, size, offset, offsetHi);
  };

// ---------------------------------------------------------------------------------------
// LDTR and TR; LAR, LSL, VERR, VERW.

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
  if (selector & 4) throw fault(Vector.GP, selector);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  if (attr & SegAttrBits.S || (attr & 0xf) !== 2) throw fault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw fault(Vector.NP, selector);
  setSegmentFromDescriptor(cpu, Seg.LDTR, selector, d);
};

/** LTR: loads an available TSS and marks its descriptor busy. */
const ltr: Handler = (cpu, i) => {
  requireProtected(cpu);
  requireCpl0(cpu);
  const selector = readRm16(cpu, i);
  if ((selector & ~3) === 0) throw new Fault(Vector.GP, 0);
  if (selector & 4) throw fault(Vector.GP, selector);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  const type = attr & 0xf;
  // Available 32/64-bit TSS; an available 16-bit TSS only outside long mode.
  if (attr & SegAttrBits.S || !(type === 9 || (type === 1 && !cpu.longMode)))
    throw fault(Vector.GP, selector);
  if (!(attr & SegAttrBits.P)) throw fault(Vector.NP, selector);
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

// ---------------------------------------------------------------------------------------
// Debug registers.

/** DR6: B0-B3, BD, BS, BT are writable; the rest reads as 1 (bits 4-11, 16-31) or 0 (bit 12). */
const DR6_WRITABLE = 0xe00f;
const DR6_FIXED = 0xffff0ff0 | 0;
/** DR7: bits 11, 12, 14, 15 read as 0, bit 10 as 1. */
const DR7_WRITABLE = 0xffff23ff | 0;
const DR7_FIXED = 0x400;

/** The debug register a MOV DR names: DR4/DR5 alias DR6/DR7 unless CR4.DE; DR8+ is #UD. */
function debugRegister(cpu: Cpu, i: Insn): number {
  if (cpu.cpl !== 0) throw new Fault(Vector.GP, 0);
  const n = i.reg;
  if (n >= 8) throw new Fault(Vector.UD);
  if (n === 4 || n === 5) {
    if (cpu.cr4 & Cr4.DE) throw new Fault(Vector.UD);
    return n + 2;
  }
  return n;
}

/** Reads DRn as lo (hi in cpu.hi). DR6/DR7 storage holds only their writable bits. */
export function readDebugRegister(cpu: Cpu, n: number): number {
  cpu.hi = n < 4 ? cpu.dr[n * 2 + 1]! : 0;
  if (n === 6) return (cpu.dr[12]! & DR6_WRITABLE) | DR6_FIXED;
  if (n === 7) return (cpu.dr[14]! & DR7_WRITABLE) | DR7_FIXED;
  return cpu.dr[n * 2]!;
}

const movFromDr: Handler = (cpu, i) => {
  const value = readDebugRegister(cpu, debugRegister(cpu, i));
  setRegSized(cpu, i.rm, i.opsize, value, i.opsize === 64 ? cpu.hi : 0);
};

const movToDr: Handler = (cpu, i) => {
  const n = debugRegister(cpu, i);
  const lo = getRegSized(cpu, i.rm, i.opsize);
  const hi = i.opsize === 64 ? cpu.hi : 0;
  if (n >= 6) {
    if (hi !== 0) throw new Fault(Vector.GP, 0);
    cpu.dr[n * 2] = n === 6 ? lo & DR6_WRITABLE : lo & DR7_WRITABLE;
    cpu.dr[n * 2 + 1] = 0;
    return;
  }
  cpu.dr[n * 2] = lo;
  cpu.dr[n * 2 + 1] = hi;
};

// ---------------------------------------------------------------------------------------

const nop: Handler = () => {};
const undefinedOpcode: Handler = () => {
  throw new Fault(Vector.UD);
};

export function install(t: OpcodeTable): void {
  const branch = OpFlag.Branch | OpFlag.EndsBlock;
  const rm = OpFlag.ModRM;
  const ends = OpFlag.EndsBlock;

  t.define(0xea, {
    name: 'ljmp',
    exec: farDirect(false),
    flags: branch | OpFlag.Invalid64,
    imm: Imm.Ap,
  });
  t.define(0x9a, {
    name: 'lcall',
    exec: farDirect(true),
    flags: branch | OpFlag.Invalid64,
    imm: Imm.Ap,
  });
  t.defineGroup(0xff, 5, {
    name: 'ljmp',
    exec: sized((s) => farIndirect(false, s)),
    flags: branch | rm | OpFlag.MemOnly,
  });
  t.defineGroup(0xff, 3, {
    name: 'lcall',
    exec: sized((s) => farIndirect(true, s)),
    flags: branch | rm | OpFlag.MemOnly,
  });
  t.define(0xcb, { name: 'lret', exec: sized(farRet), flags: branch });
  t.define(0xca, { name: 'lret', exec: sized(farRet), flags: branch, imm: Imm.Iw });
  t.define(0xcf, { name: 'iret', exec: sized(iret), flags: branch });

  t.define(0x0f05, { name: 'syscall', exec: syscall, flags: branch });
  t.define(0x0f07, { name: 'sysret', exec: [sysret(32), sysret(32), sysret(64)], flags: branch });
  t.define(0x0f34, { name: 'sysenter', exec: sysenter, flags: branch });
  t.define(0x0f35, {
    name: 'sysexit',
    exec: [sysexit(32), sysexit(32), sysexit(64)],
    flags: branch,
  });

  t.define(0xc8, { name: 'enter', exec: sized(enter), flags: OpFlag.Default64, imm: Imm.IwIb });
  t.define(0xc9, { name: 'leave', exec: sized(leave), flags: OpFlag.Default64 });

  const legacy = OpFlag.Invalid64;
  t.define(0x06, { name: 'push', exec: sized(pushSegment(Seg.ES)), flags: legacy });
  t.define(0x0e, { name: 'push', exec: sized(pushSegment(Seg.CS)), flags: legacy });
  t.define(0x16, { name: 'push', exec: sized(pushSegment(Seg.SS)), flags: legacy });
  t.define(0x1e, { name: 'push', exec: sized(pushSegment(Seg.DS)), flags: legacy });
  t.define(0x07, { name: 'pop', exec: sized(popSegment(Seg.ES)), flags: legacy });
  t.define(0x17, { name: 'pop', exec: sized(popSegment(Seg.SS)), flags: legacy | ends });
  t.define(0x1f, { name: 'pop', exec: sized(popSegment(Seg.DS)), flags: legacy });
  t.define(0x0fa0, { name: 'push', exec: sized(pushSegment(Seg.FS)), flags: OpFlag.Default64 });
  t.define(0x0fa8, { name: 'push', exec: sized(pushSegment(Seg.GS)), flags: OpFlag.Default64 });
  t.define(0x0fa1, { name: 'pop', exec: sized(popSegment(Seg.FS)), flags: OpFlag.Default64 });
  t.define(0x0fa9, { name: 'pop', exec: sized(popSegment(Seg.GS)), flags: OpFlag.Default64 });

  // C4/C5 with mod = 3, and always in 64-bit mode, are VEX prefixes: #UD without AVX.
  const memory = rm | OpFlag.MemOnly;
  t.define(0xc4, { name: 'les', exec: sized(loadFarPointer(Seg.ES)), flags: memory | legacy });
  t.define(0xc5, { name: 'lds', exec: sized(loadFarPointer(Seg.DS)), flags: memory | legacy });
  t.define(0x0fb2, { name: 'lss', exec: sized(loadFarPointer(Seg.SS)), flags: memory });
  t.define(0x0fb4, { name: 'lfs', exec: sized(loadFarPointer(Seg.FS)), flags: memory });
  t.define(0x0fb5, { name: 'lgs', exec: sized(loadFarPointer(Seg.GS)), flags: memory });

  t.defineGroup(0x0f00, 0, { name: 'sldt', exec: storeSystemSelector(Seg.LDTR), flags: rm });
  t.defineGroup(0x0f00, 1, { name: 'str', exec: storeSystemSelector(Seg.TR), flags: rm });
  t.defineGroup(0x0f00, 2, { name: 'lldt', exec: lldt, flags: rm });
  t.defineGroup(0x0f00, 3, { name: 'ltr', exec: ltr, flags: rm });
  t.defineGroup(0x0f00, 4, { name: 'verr', exec: verify(false), flags: rm });
  t.defineGroup(0x0f00, 5, { name: 'verw', exec: verify(true), flags: rm });
  t.define(0x0f02, { name: 'lar', exec: sized(lar), flags: rm });
  t.define(0x0f03, { name: 'lsl', exec: sized(lsl), flags: rm });

  t.define(0x0f21, { name: 'mov', exec: movFromDr, flags: rm | OpFlag.Size64InLongMode });
  t.define(0x0f23, { name: 'mov', exec: movToDr, flags: rm | OpFlag.Size64InLongMode | ends });

  t.define(0x0f0b, { name: 'ud2', exec: undefinedOpcode, flags: ends });
  t.define(0x0fb9, { name: 'ud1', exec: undefinedOpcode, flags: rm | ends });
  t.define(0x0fff, { name: 'ud0', exec: undefinedOpcode, flags: rm | ends });

  // Hint NOPs: 0F 18 (PREFETCHh and reserved), 0F 19-1E (incl. ENDBR32/64 and the MPX
  // forms, which are NOPs without MPX), 0F 1F /1-/7 (/0 is in data.ts); 0F 0D PREFETCH(W).
  for (let op = 0x0f18; op <= 0x0f1e; op++) t.define(op, { name: 'nop', exec: nop, flags: rm });
  for (let reg = 1; reg < 8; reg++)
    t.defineGroup(0x0f1f, reg, { name: 'nop', exec: nop, flags: rm });
  t.define(0x0f0d, { name: 'prefetch', exec: nop, flags: memory });

  // Fences (0F AE /5 /6 /7 register forms) order nothing in a one-instruction-at-a-time
  // interpreter; CLFLUSH (0F AE /7 memory form) has no cache to flush.
  for (let r = 0; r < 8; r++) {
    t.defineRegisterForm(0x0fae, 5, r, { name: 'lfence', exec: nop });
    t.defineRegisterForm(0x0fae, 6, r, { name: 'mfence', exec: nop });
    t.defineRegisterForm(0x0fae, 7, r, { name: 'sfence', exec: nop });
  }
  t.defineGroup(0x0fae, 7, { name: 'clflush', exec: nop, flags: memory });
}
