/**
 * The CPUID a domain sees: the CPU's own leaves (what the interpreter implements) with the
 * hypervisor bit, plus Xen's leaves at 0x40000000 (values from Xen's public
 * arch-x86/cpuid.h): the "XenVMMXenVMM" signature, the version, the hypercall-page MSR, and
 * the HVM leaf with the vCPU id, the domid and the per-vCPU upcall vector.
 */
import { type CpuidResult, type CpuPolicy, defaultPolicy } from '../../../x86/policy.js';
import { XEN_MAJOR, XEN_MINOR } from '../../hypercall/xen-version.js';
import { isVlapicMsr } from './vlapic/index.js';

export const XEN_CPUID_FIRST_LEAF = 0x40000000;
export const XEN_CPUID_MAX_NUM_LEAVES = 5;
export const XEN_CPUID_SIGNATURE_EBX = 0x566e6558; // "XenV"
export const XEN_CPUID_SIGNATURE_ECX = 0x65584d4d; // "MMXe"
export const XEN_CPUID_SIGNATURE_EDX = 0x4d4d566e; // "nVMM"
/** The MSR a guest writes its hypercall page's address to. */
export const XEN_HYPERCALL_MSR = 0x40000000;
export const XEN_HVM_CPUID_APIC_ACCESS_VIRT = 1 << 0;
export const XEN_HVM_CPUID_X2APIC_VIRT = 1 << 1;
export const XEN_HVM_CPUID_VCPU_ID_PRESENT = 1 << 3;
export const XEN_HVM_CPUID_DOMID_PRESENT = 1 << 4;
export const XEN_HVM_CPUID_UPCALL_VECTOR = 1 << 6;

const LEAF1_ECX_X2APIC = 1 << 21;
const LEAF1_ECX_TSC_DEADLINE = 1 << 24;
const LEAF1_EDX_HTT = 1 << 28;
/**
 * The guest's topology, as Xen's toolstack builds it: one package whose vCPUs are its cores,
 * without SMT (leaf 1's logical processors per package equal leaf 4's cores per package).
 * Linux then brings up the second vCPU as a sibling core of the first: it takes the boot
 * CPU's loops_per_jiffy instead of calibrating a delay loop against timer ticks, and with
 * TSC_ADJUST equal within the package it skips the TSC-sync rendezvous.
 */
const CORES_PER_PACKAGE = 64;

/** The policy for one vCPU of domain `domid`. */
export function domainCpuPolicy(domid: number): CpuPolicy {
  const base = defaultPolicy();
  return {
    cpuid(leaf: number, subleaf: number, vcpu: number): CpuidResult | undefined {
      const r = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
      switch (leaf) {
        case XEN_CPUID_FIRST_LEAF:
          r.eax = XEN_CPUID_FIRST_LEAF + XEN_CPUID_MAX_NUM_LEAVES - 1;
          r.ebx = XEN_CPUID_SIGNATURE_EBX;
          r.ecx = XEN_CPUID_SIGNATURE_ECX;
          r.edx = XEN_CPUID_SIGNATURE_EDX;
          return r;
        case XEN_CPUID_FIRST_LEAF + 1:
          r.eax = (XEN_MAJOR << 16) | XEN_MINOR;
          return r;
        case XEN_CPUID_FIRST_LEAF + 2:
          r.eax = 1; // hypercall pages
          r.ebx = XEN_HYPERCALL_MSR;
          return r;
        case XEN_CPUID_FIRST_LEAF + 3:
          return r; // TSC leaf: no TSC scaling information (subleaf 0 mode 0, emulated)
        case XEN_CPUID_FIRST_LEAF + 4:
          r.eax =
            XEN_HVM_CPUID_VCPU_ID_PRESENT |
            XEN_HVM_CPUID_DOMID_PRESENT |
            XEN_HVM_CPUID_UPCALL_VECTOR |
            XEN_HVM_CPUID_X2APIC_VIRT;
          r.ebx = vcpu;
          r.ecx = domid;
          return r;
      }
      if (leaf > XEN_CPUID_FIRST_LEAF && leaf < XEN_CPUID_FIRST_LEAF + 0x10000) return r;
      const result = base.cpuid(leaf, subleaf, vcpu);
      if (result === undefined) return result;
      if (leaf === 1) {
        // The virtual local APIC offers x2APIC mode and the TSC-deadline timer.
        result.ecx |= LEAF1_ECX_X2APIC | LEAF1_ECX_TSC_DEADLINE;
        result.ebx = (result.ebx & ~0xff0000) | (CORES_PER_PACKAGE << 16);
        result.edx |= LEAF1_EDX_HTT;
      } else if (leaf === 4 && result.eax & 0x1f) {
        result.eax = (result.eax & 0x03ffffff) | ((CORES_PER_PACKAGE - 1) << 26);
      }
      return result;
    },
    msrExits: (index) => index === XEN_HYPERCALL_MSR || isVlapicMsr(index),
  };
}
