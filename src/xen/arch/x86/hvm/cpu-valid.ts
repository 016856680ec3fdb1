/**
 * The control-register checks Xen makes on state a toolstack or guest loads into an HVM vCPU
 * (xen/arch/x86/hvm/hvm.c), from the CPUID the vCPU sees: the CR4 bits it may hold and
 * whether an EFER value is acceptable. VCPUOP_initialise's vcpu_hvm_context and
 * XEN_DOMCTL_sethvmcontext's CPU record both use them.
 */
import { type Cpu, Cr4, Efer } from '../../../../x86/cpu.js';

const EFER_SVME = 1 << 12;
const EFER_FFXSE = 1 << 14;
/** Xen's EFER_KNOWN_MASK. */
const EFER_KNOWN = Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE | EFER_SVME | EFER_FFXSE;
const CR4_PKE = 1 << 22;
const CR4_CET = 1 << 23;

const bit = (value: number, n: number): boolean => ((value >>> n) & 1) !== 0;

/** CPUID leaf `n` as the vCPU sees it (zeros where the policy has none). */
export function cpuidLeaf(cpu: Cpu, n: number, sub = 0) {
  return cpu.policy.cpuid(n, sub, cpu.id) ?? { eax: 0, ebx: 0, ecx: 0, edx: 0 };
}

/** Xen's hvm_cr4_guest_valid_bits (no nested virtualisation, so never VMXE). */
export function cr4ValidBits(cpu: Cpu): number {
  const { ecx, edx } = cpuidLeaf(cpu, 1);
  const l7 = cpuidLeaf(cpu, 7);
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

/**
 * Xen's hvm_efer_valid for a 64-bit EFER value; `paging` is CR0.PG when known (Xen's cr0_pg
 * of -1 is `undefined`): with paging off, LMA cannot be set.
 */
export function eferValid(cpu: Cpu, efer: bigint, paging?: boolean): boolean {
  if (efer >> 32n !== 0n) return false;
  const value = Number(efer);
  const ext = cpuidLeaf(cpu, 0x80000001).edx;
  if (value & ~EFER_KNOWN) return false;
  if (value & Efer.SCE && !bit(ext, 11)) return false;
  if (value & (Efer.LME | Efer.LMA) && !bit(ext, 29)) return false;
  if (value & Efer.LMA && (!(value & Efer.LME) || paging === false)) return false;
  if (value & Efer.NXE && !bit(ext, 20)) return false;
  if (value & EFER_SVME) return false; // no nested virtualisation
  if (value & EFER_FFXSE && !bit(ext, 25)) return false;
  return true;
}
