/**
 * System instructions: control registers, MSRs, descriptor tables, flags control, HLT,
 * CPUID, RDTSC, port I/O, the hypercall instructions, SWAPGS, INVLPG.
 */
import { read16, read32, write16, write32 } from '../access.js';
import { type Cpu, Cr0, Cr4, Efer } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Fault, RESTART, Vector } from '../fault.js';
import { Flag, materializeFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import { flushTlbPage, loadPdptes } from '../mmu.js';
import { loadDataSegment, Seg } from '../segments.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { getRegSized, linear, readRm16, setReg64, setRegSized, writeRm16 } from './operands.js';
import { requireCpl0 } from './privilege.js';

export const enum Msr {
  TSC = 0x10,
  TSC_ADJUST = 0x3b,
  APIC_BASE = 0x1b,
  SPEC_CTRL = 0x48,
  PRED_CMD = 0x49,
  ARCH_CAPABILITIES = 0x10a,
  SYSENTER_CS = 0x174,
  SYSENTER_ESP = 0x175,
  SYSENTER_EIP = 0x176,
  MISC_ENABLE = 0x1a0,
  PAT = 0x277,
  EFER = 0xc0000080,
  STAR = 0xc0000081,
  LSTAR = 0xc0000082,
  CSTAR = 0xc0000083,
  SFMASK = 0xc0000084,
  FS_BASE = 0xc0000100,
  GS_BASE = 0xc0000101,
  KERNEL_GS_BASE = 0xc0000102,
  TSC_AUX = 0xc0000103,
}

/**
 * IA32_ARCH_CAPABILITIES. This CPU executes nothing speculatively, so it has none of the
 * speculative-execution and buffer-sampling flaws; saying so spares a guest kernel the
 * mitigations (page-table isolation, retpolines, return thunks, buffer clearing on every return
 * to user mode), which cost an interpreter far more than they cost hardware. Linux still
 * picks a Spectre v2 and a BHI mitigation; enhanced IBRS (IBRS_ALL) and BHI_CTRL let it pick
 * ones that set SPEC_CTRL bits once instead of retpolines and a loop on every system call.
 */
const ARCH_CAPABILITIES_LO =
  (1 << 0) | // RDCL_NO: no Meltdown, no L1TF
  (1 << 1) | // IBRS_ALL
  (1 << 4) | // SSB_NO
  (1 << 5) | // MDS_NO
  (1 << 6) | // PSCHANGE_MC_NO: no iTLB multihit
  (1 << 8) | // TAA_NO
  (1 << 13) | // SBDR_SSDP_NO, FBSDP_NO, PSDP_NO: no MMIO stale data
  (1 << 14) |
  (1 << 15) |
  (1 << 20) | // BHI_NO
  (1 << 24) | // PBRSB_NO
  (1 << 26) | // GDS_NO
  (1 << 27); // RFDS_NO
const ARCH_CAPABILITIES_HI = 1 << 30; // bit 62, ITS_NO
/** SPEC_CTRL bits this CPU has: IBRS, STIBP (CPUID.7.0:EDX[26,27]), BHI_DIS_S (7.2:EDX[4]). */
const SPEC_CTRL_BITS = 0b11 | (1 << 10);

/** Whether WRMSR may put `lo:hi` in SPEC_CTRL (any other bit is #GP). */
export function validSpecCtrl(lo: number, hi: number): boolean {
  return (lo & ~SPEC_CTRL_BITS) === 0 && hi === 0;
}

/** MSRs that are plain storage here, with their reset values. */
const STORAGE_MSRS = new Map<number, [number, number]>([
  [Msr.SYSENTER_CS, [0, 0]],
  [Msr.SYSENTER_ESP, [0, 0]],
  [Msr.SYSENTER_EIP, [0, 0]],
  [Msr.MISC_ENABLE, [1, 0]], // fast strings
  [Msr.PAT, [0x00070406, 0x00070406]],
  [Msr.STAR, [0, 0]],
  [Msr.LSTAR, [0, 0]],
  [Msr.CSTAR, [0, 0]],
  [Msr.SFMASK, [0, 0]],
  [Msr.KERNEL_GS_BASE, [0, 0]],
  [Msr.TSC_AUX, [0, 0]],
  [Msr.SPEC_CTRL, [0, 0]],
  [0xfe, [0x508, 0]], // MTRRcap: 8 variable ranges, fixed ranges, write-combining
  [0x2ff, [0, 0]], // MTRRdefType
  [0x17a, [0, 0]], // MCG_STATUS
  [0x179, [0, 0]], // MCG_CAP
  [0x8b, [0, 0]], // microcode revision
]);
for (let i = 0x200; i < 0x210; i++) STORAGE_MSRS.set(i, [0, 0]); // variable-range MTRRs
for (const i of [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f]) {
  STORAGE_MSRS.set(i, [0, 0]); // fixed-range MTRRs
}

/** The current TSC: the embedder's clock plus this vCPU's offset. */
export function readTsc(cpu: Cpu): number {
  return cpu.clockNow() + cpu.tscOffset;
}

function setTwo(cpu: Cpu, lo: number, hi: number): void {
  setReg64(cpu, 0, lo, 0);
  setReg64(cpu, 2, hi, 0);
}

export function readMsr(cpu: Cpu, index: number): [number, number] | undefined {
  switch (index) {
    case Msr.EFER:
      return [cpu.efer, 0];
    case Msr.FS_BASE:
      return [cpu.segBaseLo[Seg.FS]!, cpu.segBaseHi[Seg.FS]!];
    case Msr.GS_BASE:
      return [cpu.segBaseLo[Seg.GS]!, cpu.segBaseHi[Seg.GS]!];
    case Msr.TSC: {
      const tsc = readTsc(cpu);
      return [(tsc % 2 ** 32) | 0, Math.floor(tsc / 2 ** 32) | 0];
    }
    case Msr.TSC_ADJUST:
      return [cpu.tscAdjust | 0, Math.floor(cpu.tscAdjust / 2 ** 32) | 0];
    case Msr.APIC_BASE:
      return [0xfee00900 | 0, 0]; // enabled, at the architectural base, BSP
    case Msr.ARCH_CAPABILITIES:
      return [ARCH_CAPABILITIES_LO, ARCH_CAPABILITIES_HI];
    case Msr.PRED_CMD:
      return undefined; // write-only
  }
  const stored = cpu.msrs.get(index) ?? STORAGE_MSRS.get(index);
  return stored === undefined ? undefined : [stored[0], stored[1]];
}

/** Writes an MSR the CPU owns; false when it does not own it. Throws #GP for bad values. */
export function writeMsr(cpu: Cpu, index: number, lo: number, hi: number): boolean {
  switch (index) {
    case Msr.EFER: {
      const allowed = Efer.SCE | Efer.LME | Efer.NXE;
      if (lo & ~(allowed | Efer.LMA) || hi !== 0) throw new Fault(Vector.GP, 0);
      if (cpu.cr0 & Cr0.PG && (lo & Efer.LME) !== (cpu.efer & Efer.LME))
        throw new Fault(Vector.GP, 0);
      cpu.efer = (lo & allowed) | (cpu.efer & Efer.LMA);
      cpu.flushTlb();
      cpu.updateMode();
      return true;
    }
    case Msr.FS_BASE:
    case Msr.GS_BASE:
    case Msr.KERNEL_GS_BASE:
    case Msr.LSTAR:
    case Msr.CSTAR:
      if (hi >> 15 !== 0 && hi >> 15 !== -1) throw new Fault(Vector.GP, 0); // must be canonical
      if (index === Msr.FS_BASE || index === Msr.GS_BASE) {
        const seg = index === Msr.FS_BASE ? Seg.FS : Seg.GS;
        cpu.segBaseLo[seg] = lo;
        cpu.segBaseHi[seg] = hi;
        return true;
      }
      break;
    case Msr.TSC: {
      // The TSC moves by what it is set to minus what it was; TSC_ADJUST moves with it.
      const delta = (lo >>> 0) + (hi >>> 0) * 2 ** 32 - readTsc(cpu);
      cpu.tscOffset += delta;
      cpu.tscAdjust += delta;
      return true;
    }
    case Msr.TSC_ADJUST: {
      const adjust = (lo >>> 0) + hi * 2 ** 32;
      cpu.tscOffset += adjust - cpu.tscAdjust;
      cpu.tscAdjust = adjust;
      return true;
    }
    case Msr.APIC_BASE:
      return true; // the APIC stays where it is
    case Msr.SPEC_CTRL:
      // Nothing is speculated, so the controls only hold their value.
      if (!validSpecCtrl(lo, hi)) throw new Fault(Vector.GP, 0);
      break;
    case Msr.PRED_CMD:
      // IBPB: there are no predictions to discard.
      if (lo & ~1 || hi !== 0) throw new Fault(Vector.GP, 0);
      return true;
    case Msr.ARCH_CAPABILITIES:
      return false; // read-only
  }
  if (!cpu.msrs.has(index) && !STORAGE_MSRS.has(index)) return false;
  cpu.msrs.set(index, [lo, hi]);
  return true;
}

const rdmsr: Handler = (cpu) => {
  requireCpl0(cpu);
  const index = cpu.gpr[2]! >>> 0;
  if (cpu.policy.msrExits(index)) {
    if (cpu.ioResult !== undefined) {
      setTwo(cpu, cpu.ioResult, cpu.ioResultHi);
      cpu.ioResult = undefined;
      return;
    }
    cpu.exit.msr = index;
    cpu.exit.write = false;
    cpu.exitAfter(ExitReason.Msr);
    throw RESTART;
  }
  const value = readMsr(cpu, index);
  if (value === undefined) throw new Fault(Vector.GP, 0);
  setTwo(cpu, value[0], value[1]);
};

const wrmsr: Handler = (cpu, i) => {
  requireCpl0(cpu);
  const index = cpu.gpr[2]! >>> 0;
  const lo = cpu.gpr[0]!;
  const hi = cpu.gpr[4]!;
  if (cpu.policy.msrExits(index)) {
    // The write completes before the exit; a hypervisor refusing it steps RIP back by this.
    cpu.exit.instructionLength = i.len;
    cpu.exit.msr = index;
    cpu.exit.write = true;
    cpu.exit.value = lo;
    cpu.exit.valueHi = hi;
    cpu.exitAfter(ExitReason.Msr);
    return;
  }
  if (!writeMsr(cpu, index, lo, hi)) throw new Fault(Vector.GP, 0);
};

const cpuid: Handler = (cpu) => {
  const leaf = cpu.gpr[0]! >>> 0;
  const subleaf = cpu.gpr[2]! >>> 0;
  const result = cpu.policy.cpuid(leaf, subleaf, cpu.id);
  if (result === undefined) {
    cpu.exitAfter(ExitReason.Cpuid);
    return;
  }
  setReg64(cpu, 0, result.eax, 0);
  setReg64(cpu, 3, result.ebx, 0);
  setReg64(cpu, 1, result.ecx, 0);
  setReg64(cpu, 2, result.edx, 0);
};

const rdtsc: Handler = (cpu) => {
  if (cpu.cr4 & Cr4.TSD && cpu.cpl !== 0) throw new Fault(Vector.GP, 0);
  const tsc = readTsc(cpu);
  setTwo(cpu, (tsc % 2 ** 32) | 0, Math.floor(tsc / 2 ** 32) | 0);
};

const rdtscp: Handler = (cpu, i) => {
  rdtsc(cpu, i);
  setReg64(cpu, 1, readMsr(cpu, Msr.TSC_AUX)![0], 0);
};

const hlt: Handler = (cpu) => {
  requireCpl0(cpu);
  cpu.halted = true;
  cpu.exitAfter(ExitReason.Halt);
};

const hypercall: Handler = (cpu, i) => {
  cpu.exit.instructionLength = i.len;
  cpu.exitAfter(ExitReason.Hypercall);
};

/** CLI/STI honour IOPL (VME/PVI virtual-interrupt forms are not supported). */
const cli: Handler = (cpu) => {
  if (((cpu.flags >> 12) & 3) < cpu.cpl) throw new Fault(Vector.GP, 0);
  cpu.flags &= ~Flag.IF;
};
const sti: Handler = (cpu) => {
  if (((cpu.flags >> 12) & 3) < cpu.cpl) throw new Fault(Vector.GP, 0);
  if (!(cpu.flags & Flag.IF)) cpu.interruptShadow = true;
  cpu.flags |= Flag.IF;
  cpu.stop = true;
};

const flagOp =
  (clear: number, set: number, toggle = 0): Handler =>
  (cpu) => {
    if ((clear | set | toggle) & Flag.Arith) materializeFlags(cpu);
    cpu.flags = ((cpu.flags & ~clear) | set) ^ toggle;
  };

/** MOV r, CRn (0F 20). */
const movFromCr: Handler = (cpu, i) => {
  requireCpl0(cpu);
  let lo: number;
  let hi = 0;
  switch (i.reg) {
    case 0:
      lo = cpu.cr0;
      break;
    case 2:
      lo = cpu.cr2Lo;
      hi = cpu.cr2Hi;
      break;
    case 3:
      lo = cpu.cr3Lo;
      hi = cpu.cr3Hi;
      break;
    case 4:
      lo = cpu.cr4;
      break;
    case 8:
      lo = cpu.cr8;
      break;
    default:
      throw new Fault(Vector.UD);
  }
  setRegSized(cpu, i.rm, i.opsize, lo, hi);
};

const CR4_SUPPORTED =
  Cr4.VME |
  Cr4.PVI |
  Cr4.TSD |
  Cr4.DE |
  Cr4.PSE |
  Cr4.PAE |
  Cr4.MCE |
  Cr4.PGE |
  Cr4.PCE |
  Cr4.OSFXSR |
  Cr4.OSXMMEXCPT;

/** MOV CRn, r (0F 22). */
const movToCr: Handler = (cpu, i) => {
  requireCpl0(cpu);
  const lo = getRegSized(cpu, i.rm, i.opsize);
  const hi = i.opsize === 64 ? cpu.hi : 0;
  switch (i.reg) {
    case 0:
      return writeCr0(cpu, lo);
    case 2:
      cpu.cr2Lo = lo;
      cpu.cr2Hi = hi;
      return;
    case 3:
      cpu.cr3Lo = lo;
      cpu.cr3Hi = hi;
      if (cpu.cr0 & Cr0.PG && cpu.cr4 & Cr4.PAE && !cpu.longMode) loadPdptes(cpu);
      cpu.flushTlb(false);
      return;
    case 4: {
      if (lo & ~CR4_SUPPORTED || hi !== 0) throw new Fault(Vector.GP, 0);
      if (cpu.longMode && !(lo & Cr4.PAE)) throw new Fault(Vector.GP, 0);
      cpu.cr4 = lo;
      if (cpu.cr0 & Cr0.PG && lo & Cr4.PAE && !cpu.longMode) loadPdptes(cpu);
      cpu.flushTlb();
      return;
    }
    case 8:
      if (lo & ~0xf || hi !== 0) throw new Fault(Vector.GP, 0);
      cpu.cr8 = lo;
      return;
    default:
      throw new Fault(Vector.UD);
  }
};

/** CR0 writes: paging on with EFER.LME enters long mode (IA-32e), and needs PAE. */
export function writeCr0(cpu: Cpu, value: number): void {
  value |= Cr0.ET;
  if (value & Cr0.PG && !(value & Cr0.PE)) throw new Fault(Vector.GP, 0);
  if (value & Cr0.NW && !(value & Cr0.CD)) throw new Fault(Vector.GP, 0);
  const enablingPaging = value & Cr0.PG && !(cpu.cr0 & Cr0.PG);
  if (enablingPaging && cpu.efer & Efer.LME) {
    if (!(cpu.cr4 & Cr4.PAE)) throw new Fault(Vector.GP, 0);
    cpu.efer |= Efer.LMA;
  }
  if (!(value & Cr0.PG) && cpu.cr0 & Cr0.PG) {
    if (cpu.codeSize === 64) throw new Fault(Vector.GP, 0);
    cpu.efer &= ~Efer.LMA;
  }
  cpu.cr0 = value;
  if (enablingPaging && cpu.cr4 & Cr4.PAE && !cpu.longMode) loadPdptes(cpu);
  cpu.flushTlb();
  cpu.updateMode();
}

/** LGDT / LIDT: a 16-bit limit then a 24-, 32- or 64-bit base. */
const loadTableRegister =
  (idt: boolean): Handler =>
  (cpu, i) => {
    requireCpl0(cpu);
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    const limit = read16(cpu, lo, hi);
    const baseLo = read32(cpu, (lo + 2) | 0, hi);
    const baseHi = cpu.codeSize === 64 ? read32(cpu, (lo + 6) | 0, hi) : 0;
    const base = i.opsize === 16 && cpu.codeSize !== 64 ? baseLo & 0xffffff : baseLo;
    if (idt) {
      cpu.idtLimit = limit;
      cpu.idtBaseLo = base;
      cpu.idtBaseHi = baseHi;
    } else {
      cpu.gdtLimit = limit;
      cpu.gdtBaseLo = base;
      cpu.gdtBaseHi = baseHi;
    }
  };

const storeTableRegister =
  (idt: boolean): Handler =>
  (cpu, i) => {
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    write16(cpu, lo, hi, idt ? cpu.idtLimit : cpu.gdtLimit);
    write32(cpu, (lo + 2) | 0, hi, idt ? cpu.idtBaseLo : cpu.gdtBaseLo);
    if (cpu.codeSize === 64) write32(cpu, (lo + 6) | 0, hi, idt ? cpu.idtBaseHi : cpu.gdtBaseHi);
  };

const invlpg: Handler = (cpu, i) => {
  requireCpl0(cpu);
  const lo = linear(cpu, i);
  flushTlbPage(cpu, lo, cpu.eaHi);
};

const swapgs: Handler = (cpu) => {
  if (cpu.codeSize !== 64) throw new Fault(Vector.UD);
  requireCpl0(cpu);
  const kernel = readMsr(cpu, Msr.KERNEL_GS_BASE)!;
  cpu.msrs.set(Msr.KERNEL_GS_BASE, [cpu.segBaseLo[Seg.GS]!, cpu.segBaseHi[Seg.GS]!]);
  cpu.segBaseLo[Seg.GS] = kernel[0];
  cpu.segBaseHi[Seg.GS] = kernel[1];
};

const smsw: Handler = (cpu, i) => {
  if (i.mod === 3) setRegSized(cpu, i.rm, i.opsize, cpu.cr0 & (i.opsize === 16 ? 0xffff : -1), 0);
  else writeRm16(cpu, i, cpu.cr0);
};

const lmsw: Handler = (cpu, i) => {
  requireCpl0(cpu);
  const value = readRm16(cpu, i) & 0xf;
  // LMSW sets PE but never clears it.
  writeCr0(cpu, (cpu.cr0 & ~0xe) | value | (cpu.cr0 & Cr0.PE));
};

const clts: Handler = (cpu) => {
  requireCpl0(cpu);
  cpu.cr0 &= ~Cr0.TS;
};

const wbinvd: Handler = (cpu) => requireCpl0(cpu);

/** MOV Sreg, r/m (8E) and MOV r/m, Sreg (8C). */
const movToSreg: Handler = (cpu, i) => {
  const seg = i.reg & 7;
  if (seg === Seg.CS || seg > Seg.GS) throw new Fault(Vector.UD);
  loadDataSegment(cpu, seg, readRm16(cpu, i));
  if (seg === Seg.SS) cpu.interruptShadow = true;
};
const movFromSreg: Handler = (cpu, i) => {
  const seg = i.reg & 7;
  if (seg > Seg.GS) throw new Fault(Vector.UD);
  if (i.mod === 3) setRegSized(cpu, i.rm, i.opsize, cpu.segSel[seg]!, 0);
  else writeRm16(cpu, i, cpu.segSel[seg]!);
};

/** A 16-bit read with supervisor rights (the TSS), whatever the CPL. */
function supervisorRead16(cpu: Cpu, lo: number, hi: number): number {
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  cpu.updateTlbMasks();
  try {
    return read16(cpu, lo, hi);
  } finally {
    cpu.cpl = cpl;
    cpu.updateTlbMasks();
  }
}

/**
 * Whether port I/O at this CPL is allowed by IOPL or the TSS I/O bitmap; #GP(0) if not.
 * Used by IN/OUT and by INS/OUTS (string.ts).
 */
export function checkIoPermission(cpu: Cpu, port: number, size: number): void {
  if (!(cpu.cr0 & Cr0.PE)) return;
  if (!(cpu.flags & Flag.VM) && ((cpu.flags >> 12) & 3) >= cpu.cpl) return;
  const type = cpu.segAttr[Seg.TR]! & 0xf;
  const limit = cpu.segLimit[Seg.TR]! >>> 0;
  // Only a 32-bit (or 64-bit) TSS has an I/O bitmap.
  if ((type !== 0x9 && type !== 0xb) || limit < 0x67) throw new Fault(Vector.GP, 0);
  const tssBase = cpu.segBaseLo[Seg.TR]!;
  const tssHi = cpu.longMode ? cpu.segBaseHi[Seg.TR]! : 0;
  const bitmap = supervisorRead16(cpu, (tssBase + 0x66) | 0, tssHi);
  const byte = bitmap + (port >> 3);
  if (byte + 1 > limit) throw new Fault(Vector.GP, 0);
  const bits = supervisorRead16(cpu, (tssBase + byte) | 0, tssHi);
  if ((bits >> (port & 7)) & ((1 << size) - 1)) throw new Fault(Vector.GP, 0);
}

/** IN: exits to the hypervisor, then runs again with the data (Cpu.completeRead). */
const portIn =
  (byte: boolean, immediatePort: boolean): Handler =>
  (cpu, i) => {
    const size = byte ? 1 : i.opsize === 16 ? 2 : 4;
    const port = immediatePort ? i.immLo : cpu.gpr[4]! & 0xffff;
    checkIoPermission(cpu, port, size);
    if (cpu.ioResult !== undefined) {
      const value = cpu.ioResult;
      cpu.ioResult = undefined;
      setRegSized(cpu, 0, size * 8, value, 0);
      return;
    }
    const exit = cpu.exit;
    exit.port = port;
    exit.size = size;
    exit.write = false;
    cpu.exitAfter(ExitReason.PortIo);
    throw RESTART;
  };

const portOut =
  (byte: boolean, immediatePort: boolean): Handler =>
  (cpu, i) => {
    const size = byte ? 1 : i.opsize === 16 ? 2 : 4;
    const port = immediatePort ? i.immLo : cpu.gpr[4]! & 0xffff;
    checkIoPermission(cpu, port, size);
    const exit = cpu.exit;
    exit.port = port;
    exit.size = size;
    exit.write = true;
    exit.value = size === 4 ? cpu.gpr[0]! : cpu.gpr[0]! & (size === 2 ? 0xffff : 0xff);
    cpu.exitAfter(ExitReason.PortIo);
  };

export function install(t: OpcodeTable): void {
  const ends = OpFlag.EndsBlock;
  const rm = OpFlag.ModRM;
  t.define(0xf4, { name: 'hlt', exec: hlt, flags: ends });
  t.define(0xfa, { name: 'cli', exec: cli });
  t.define(0xfb, { name: 'sti', exec: sti, flags: ends });
  t.define(0xfc, { name: 'cld', exec: flagOp(Flag.DF, 0) });
  t.define(0xfd, { name: 'std', exec: flagOp(0, Flag.DF) });
  t.define(0xf8, { name: 'clc', exec: flagOp(Flag.CF, 0) });
  t.define(0xf9, { name: 'stc', exec: flagOp(0, Flag.CF) });
  t.define(0xf5, { name: 'cmc', exec: flagOp(0, 0, Flag.CF) });
  t.define(0x0fa2, { name: 'cpuid', exec: cpuid, flags: ends });
  t.define(0x0f31, { name: 'rdtsc', exec: rdtsc });
  t.define(0x0f32, { name: 'rdmsr', exec: rdmsr, flags: ends });
  t.define(0x0f30, { name: 'wrmsr', exec: wrmsr, flags: ends });
  t.define(0x0f20, { name: 'mov', exec: movFromCr, flags: rm | OpFlag.Size64InLongMode });
  t.define(0x0f22, { name: 'mov', exec: movToCr, flags: rm | OpFlag.Size64InLongMode | ends });
  t.define(0x0f06, { name: 'clts', exec: clts });
  t.define(0x0f09, { name: 'wbinvd', exec: wbinvd });
  t.define(0x0f08, { name: 'invd', exec: wbinvd });
  t.defineGroup(0x0f01, 0, {
    name: 'sgdt',
    exec: storeTableRegister(false),
    flags: rm | OpFlag.MemOnly,
  });
  t.defineGroup(0x0f01, 1, {
    name: 'sidt',
    exec: storeTableRegister(true),
    flags: rm | OpFlag.MemOnly,
  });
  t.defineGroup(0x0f01, 2, {
    name: 'lgdt',
    exec: loadTableRegister(false),
    flags: rm | OpFlag.MemOnly | OpFlag.Default64,
  });
  t.defineGroup(0x0f01, 3, {
    name: 'lidt',
    exec: loadTableRegister(true),
    flags: rm | OpFlag.MemOnly | OpFlag.Default64,
  });
  t.defineGroup(0x0f01, 4, { name: 'smsw', exec: smsw, flags: rm });
  t.defineGroup(0x0f01, 6, { name: 'lmsw', exec: lmsw, flags: rm | ends });
  t.defineGroup(0x0f01, 7, { name: 'invlpg', exec: invlpg, flags: rm | OpFlag.MemOnly });
  t.defineRegisterForm(0x0f01, 0, 1, { name: 'vmcall', exec: hypercall, flags: ends });
  t.defineRegisterForm(0x0f01, 3, 1, { name: 'vmmcall', exec: hypercall, flags: ends });
  t.defineRegisterForm(0x0f01, 7, 0, { name: 'swapgs', exec: swapgs });
  t.defineRegisterForm(0x0f01, 7, 1, { name: 'rdtscp', exec: rdtscp });
  t.define(0x8e, { name: 'mov', exec: movToSreg, flags: rm | ends });
  t.define(0x8c, { name: 'mov', exec: movFromSreg, flags: rm });
  t.define(0xe4, { name: 'in', exec: portIn(true, true), flags: ends, imm: Imm.Ub });
  t.define(0xe5, { name: 'in', exec: portIn(false, true), flags: ends, imm: Imm.Ub });
  t.define(0xec, { name: 'in', exec: portIn(true, false), flags: ends });
  t.define(0xed, { name: 'in', exec: portIn(false, false), flags: ends });
  t.define(0xe6, { name: 'out', exec: portOut(true, true), flags: ends, imm: Imm.Ub });
  t.define(0xe7, { name: 'out', exec: portOut(false, true), flags: ends, imm: Imm.Ub });
  t.define(0xee, { name: 'out', exec: portOut(true, false), flags: ends });
  t.define(0xef, { name: 'out', exec: portOut(false, false), flags: ends });
}
