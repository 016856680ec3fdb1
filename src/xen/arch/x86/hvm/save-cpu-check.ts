/**
 * The checks Xen makes on a CPU save record before loading it (hvm_load_cpu_ctxt and VMX's
 * vmx_vmcs_restore), against the CPUID policy the vCPU sees; plus the few states Xen leaves
 * to VM entry, which then fails and crashes the domain, that we refuse instead.
 */
import { XEN_EINVAL } from '../../../../abi/errno.js';
import { type hvm_hw_cpu, XEN_X86_FPU_INITIALISED } from '../../../../abi/hvm-save.js';
import { type Cpu, Cr0, Cr4, Efer } from '../../../../x86/cpu.js';
import { pendingEventValid } from './save-cpu-event.js';

export type HwCpu = ReturnType<typeof hvm_hw_cpu.decode>;

/** The CR0 bits a guest can hold (the rest is HVM_CR0_GUEST_RESERVED_BITS). */
const CR0_VALID =
  BigInt(
    (Cr0.PE | Cr0.MP | Cr0.EM | Cr0.TS | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.NW | Cr0.CD) >>> 0,
  ) | BigInt(Cr0.PG >>> 0);
const EFER_SVME = 1n << 12n;
const EFER_FFXSE = 1n << 14n;
const SCE = BigInt(Efer.SCE);
const LME = BigInt(Efer.LME);
const LMA = BigInt(Efer.LMA);
const NXE = BigInt(Efer.NXE);
/** Xen's EFER_KNOWN_MASK. */
const EFER_KNOWN = SCE | LME | LMA | NXE | EFER_SVME | EFER_FFXSE;
const CR4_PKE = 1 << 22;
const CR4_CET = 1 << 23;

const bit = (value: number, n: number): boolean => ((value >>> n) & 1) !== 0;

function leaf(cpu: Cpu, n: number, sub = 0) {
  return cpu.policy.cpuid(n, sub, cpu.id) ?? { eax: 0, ebx: 0, ecx: 0, edx: 0 };
}

/** hvm_cr4_guest_valid_bits, from the CPUID the vCPU sees (no nested virtualisation). */
function cr4ValidBits(cpu: Cpu): number {
  const { ecx, edx } = leaf(cpu, 1);
  const l7 = leaf(cpu, 7);
  let valid = Cr4.PCE;
  if (bit(edx, 1)) valid |= Cr4.VME | Cr4.PVI;
  if (bit(edx, 4)) valid |= Cr4.TSD;
  if (bit(edx, 2)) valid |= Cr4.DE;
  if (bit(edx, 3)) valid |= Cr4.PSE;
  if (bit(edx, 6)) valid |= Cr4.PAE;
  if (bit(edx, 7) || bit(edx, 14)) valid |= Cr4.MCE;
  if (bit(edx, 13)) valid |= Cr4.PGE;
  if (bit(edx, 24)) valid |= Cr4.OSFXSR;
  if (bit(edx, 25)) valid |= Cr4.OSXMMEXCPT;
  if (bit(l7.ecx, 2)) valid |= Cr4.UMIP;
  if (bit(l7.ebx, 0)) valid |= Cr4.FSGSBASE;
  if (bit(ecx, 17)) valid |= Cr4.PCIDE;
  if (bit(ecx, 26)) valid |= Cr4.OSXSAVE;
  if (bit(l7.ebx, 7)) valid |= Cr4.SMEP;
  if (bit(l7.ebx, 20)) valid |= Cr4.SMAP;
  if (bit(l7.ecx, 3)) valid |= CR4_PKE;
  if (bit(l7.ecx, 7) || bit(l7.edx, 20)) valid |= CR4_CET;
  return valid >>> 0;
}

/** hvm_efer_valid with CR0.PG known. */
function eferValid(cpu: Cpu, efer: bigint, paging: boolean): boolean {
  const ext = leaf(cpu, 0x80000001).edx;
  if (efer & ~EFER_KNOWN) return false;
  if (efer & SCE && !bit(ext, 11)) return false;
  if (efer & (LME | LMA) && !bit(ext, 29)) return false;
  if (efer & LMA && (!(efer & LME) || !paging)) return false;
  if (efer & NXE && !bit(ext, 20)) return false;
  if (efer & EFER_SVME) return false; // no nested virtualisation
  if (efer & EFER_FFXSE && !bit(ext, 25)) return false;
  return true;
}

/** MAXPHYADDR as CPUID leaf 0x80000008 gives it (36 without the leaf, as the SDM says). */
export function physAddrBits(cpu: Cpu): number {
  const max = leaf(cpu, 0x80000000).eax >>> 0;
  return max >= 0x80000008 ? leaf(cpu, 0x80000008).eax & 0xff || 36 : 36;
}

/** 0, or -EINVAL for a record Xen refuses (or that would not enter on VMX). */
export function checkCpuRecord(cpu: Cpu, c: HwCpu): number {
  if (c.pad0 !== 0) return -XEN_EINVAL;
  const cr0 = c.cr0;
  const ET = BigInt(Cr0.ET);
  const PE = BigInt(Cr0.PE);
  const PG = BigInt(Cr0.PG >>> 0);
  if (cr0 & ~CR0_VALID || !(cr0 & ET) || (cr0 & (PE | PG)) === PG) return -XEN_EINVAL;
  if (c.cr4 & ~BigInt(cr4ValidBits(cpu))) return -XEN_EINVAL;
  const paging = (cr0 & PG) !== 0n;
  if (!eferValid(cpu, c.msr_efer, paging)) return -XEN_EINVAL;
  if (c.cr3 >> BigInt(physAddrBits(cpu)) !== 0n) return -XEN_EINVAL;
  if (c.flags & ~XEN_X86_FPU_INITIALISED) return -XEN_EINVAL;
  if (c.msr_tsc_aux >> 32n !== 0n) return -XEN_EINVAL;
  if (!pendingEventValid(c)) return -XEN_EINVAL;
  // VM entry's checks, which Xen leaves to the hardware: IA-32e mode (EFER.LMA) is on exactly
  // when EFER.LME and CR0.PG are, and needs CR4.PAE.
  const lma = (c.msr_efer & LMA) !== 0n;
  if (lma !== (paging && (c.msr_efer & LME) !== 0n)) return -XEN_EINVAL;
  if (lma && !(c.cr4 & BigInt(Cr4.PAE))) return -XEN_EINVAL;
  return 0;
}

/** Xen's UNFOLD_ARBYTES: attributes an old Xen saved straight from the VMCS, refolded. */
export function unfoldArbytes(attr: number): number {
  return attr & 0xf000 && !(attr & 0x0f00) ? (attr & 0xff) | ((attr >> 4) & 0xf00) : attr;
}
