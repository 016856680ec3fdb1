/**
 * The checks Xen makes on a CPU save record before loading it (hvm_load_cpu_ctxt and VMX's
 * vmx_vmcs_restore), against the CPUID policy the vCPU sees; plus the few states Xen leaves
 * to VM entry, which then fails and crashes the domain, that we refuse instead.
 */
import { XEN_EINVAL } from '../../../../abi/errno.js';
import { type hvm_hw_cpu, XEN_X86_FPU_INITIALISED } from '../../../../abi/hvm-save.js';
import { type Cpu, Cr0, Cr4, Efer } from '../../../../x86/cpu.js';
import { cpuidLeaf, cr4ValidBits, eferValid } from './cpu-valid.js';
import { pendingEventValid } from './save-cpu-event.js';

export type HwCpu = ReturnType<typeof hvm_hw_cpu.decode>;

/** The CR0 bits a guest can hold (the rest is HVM_CR0_GUEST_RESERVED_BITS). */
const CR0_VALID =
  BigInt(
    (Cr0.PE | Cr0.MP | Cr0.EM | Cr0.TS | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.NW | Cr0.CD) >>> 0,
  ) | BigInt(Cr0.PG >>> 0);
/** MAXPHYADDR as CPUID leaf 0x80000008 gives it (36 without the leaf, as the SDM says). */
export function physAddrBits(cpu: Cpu): number {
  const max = cpuidLeaf(cpu, 0x80000000).eax >>> 0;
  return max >= 0x80000008 ? cpuidLeaf(cpu, 0x80000008).eax & 0xff || 36 : 36;
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
  const lma = (c.msr_efer & BigInt(Efer.LMA)) !== 0n;
  if (lma !== (paging && (c.msr_efer & BigInt(Efer.LME)) !== 0n)) return -XEN_EINVAL;
  if (lma && !(c.cr4 & BigInt(Cr4.PAE))) return -XEN_EINVAL;
  return 0;
}

/** Xen's UNFOLD_ARBYTES: attributes an old Xen saved straight from the VMCS, refolded. */
export function unfoldArbytes(attr: number): number {
  return attr & 0xf000 && !(attr & 0x0f00) ? (attr & 0xff) | ((attr >> 4) & 0xf00) : attr;
}
