/**
 * IRET (CF): in real mode, VM86 mode (IOPL 3), back to VM86 mode, and in protected and long
 * mode to the same or an outer privilege level. Task returns (NT=1) are not implemented and
 * raise #GP(0).
 */
import { type Cpu, Cr0, SegAttrBits } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag } from '../flags.js';
import type { Handler } from '../insn.js';
import { type Descriptor, descriptorAttributes, loadRealSegment, Seg } from '../segments.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { sized } from './sized.js';
import { discard, peek, setStackPointer } from './stack.js';
import {
  checkTarget,
  invalidateDataSegments,
  loadCodeSegment,
  loadFlags,
  loadStackSegment,
  returnCodeSegment,
  returnStackSegment,
} from './transfer.js';

const RSP = 8;

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

export function install(t: OpcodeTable): void {
  t.define(0xcf, { name: 'iret', exec: sized(iret), flags: OpFlag.Branch | OpFlag.EndsBlock });
}
