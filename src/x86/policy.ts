/**
 * What the CPU reports about itself (CPUID) and which MSRs it leaves to the hypervisor.
 * The hypervisor supplies its own policy (Xen adds its leaves at 0x40000000); this default
 * describes exactly what the interpreter implements, because kernels and libc pick code
 * paths from it.
 */

export interface CpuidResult {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export interface CpuPolicy {
  /** CPUID for a leaf and subleaf; undefined makes the instruction exit to the hypervisor. */
  cpuid(leaf: number, subleaf: number, vcpu: number): CpuidResult | undefined;
  /** Whether RDMSR/WRMSR of `index` exit to the hypervisor instead of the CPU handling it. */
  msrExits(index: number): boolean;
}

/** Leaf 1 EDX: FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2. */
export const LEAF1_EDX =
  (1 << 0) |
  (1 << 1) |
  (1 << 2) |
  (1 << 3) |
  (1 << 4) |
  (1 << 5) |
  (1 << 6) |
  (1 << 7) |
  (1 << 8) |
  (1 << 9) |
  (1 << 11) |
  (1 << 12) |
  (1 << 13) |
  (1 << 14) |
  (1 << 15) |
  (1 << 16) |
  (1 << 17) |
  (1 << 19) |
  (1 << 23) |
  (1 << 24) |
  (1 << 25) |
  (1 << 26);
/** Leaf 1 ECX: SSE3 SSSE3 CX16 POPCNT, and "running under a hypervisor". */
export const LEAF1_ECX = (1 << 0) | (1 << 9) | (1 << 13) | (1 << 23) | (1 << 31);
/** Leaf 7 subleaf 0 EBX: IA32_TSC_ADJUST. */
export const LEAF7_EBX = 1 << 1;
/** Leaf 7 subleaf 0 EDX: IBRS/IBPB, STIBP, ARCH_CAPABILITIES. */
export const LEAF7_EDX = (1 << 26) | (1 << 27) | (1 << 29);
/** Leaf 7 subleaf 2 EDX: BHI_CTRL (SPEC_CTRL.BHI_DIS_S). */
export const LEAF7_2_EDX = 1 << 4;
/** Leaf 0x80000001 EDX: SYSCALL NX 1GB-pages RDTSCP LM. */
export const EXT1_EDX = (1 << 11) | (1 << 20) | (1 << 26) | (1 << 27) | (1 << 29);
/** Leaf 0x80000001 ECX: LAHF/SAHF in 64-bit mode, LZCNT (ABM). */
export const EXT1_ECX = (1 << 0) | (1 << 5);

const ascii = (text: string): number[] => {
  const words: number[] = [];
  for (let i = 0; i < text.length; i += 4) {
    words.push(
      text.charCodeAt(i) |
        (text.charCodeAt(i + 1) << 8) |
        (text.charCodeAt(i + 2) << 16) |
        (text.charCodeAt(i + 3) << 24),
    );
  }
  return words;
};

/**
 * Leaf 4, the caches of one core (Ivy Bridge's: 32 KiB 8-way L1 data and instruction caches,
 * 256 KiB 8-way L2, 8 MiB 16-way inclusive L3, 64-byte lines) as [EAX, EBX, ECX, EDX]: type
 * and level, ways-1 << 22 | line-1, sets-1. Nothing here caches anything; kernels read this
 * for their topology and cache information, as on any CPU.
 */
const CACHES: readonly (readonly [number, number, number, number])[] = [
  [0x121, (7 << 22) | 63, 63, 0], // L1 data, self-initializing
  [0x122, (7 << 22) | 63, 63, 0], // L1 instruction
  [0x143, (7 << 22) | 63, 511, 0], // L2 unified
  [0x163, (15 << 22) | 63, 8191, 6], // L3 unified, inclusive, complex indexing
];

const VENDOR = ascii('GenuineIntel'); // EBX EDX ECX order: "Genu" "ineI" "ntel"
const BRAND = ascii('Xenotype virtual x86-64 CPU'.padEnd(48, '\0'));

export function defaultPolicy(): CpuPolicy {
  return {
    cpuid(leaf, subleaf, vcpu) {
      const r = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
      switch (leaf) {
        case 0:
          r.eax = 0xd;
          [r.ebx, r.edx, r.ecx] = VENDOR as [number, number, number];
          break;
        case 1:
          r.eax = 0x000306a9; // family 6, model 58, stepping 9
          r.ebx = (vcpu << 24) | (1 << 16) | (8 << 8); // APIC ID, 1 logical CPU, CLFLUSH 64 bytes
          r.ecx = LEAF1_ECX;
          r.edx = LEAF1_EDX;
          break;
        case 4: {
          const cache = CACHES[subleaf];
          if (cache !== undefined) [r.eax, r.ebx, r.ecx, r.edx] = cache;
          break;
        }
        case 7:
          // No structured extended features (no SMEP/SMAP/FSGSBASE/AVX2 …) but TSC_ADJUST
          // and the speculation controls: IBRS and IBPB, STIBP, IA32_ARCH_CAPABILITIES; BHI_CTRL.
          if (subleaf === 0) {
            r.eax = 2; // the last subleaf
            r.ebx = LEAF7_EBX;
            r.edx = LEAF7_EDX;
          } else if (subleaf === 2) {
            r.edx = LEAF7_2_EDX;
          }
          break;
        case 0xd:
          break; // no XSAVE
        case 0x80000000:
          r.eax = 0x80000008;
          break;
        case 0x80000001:
          r.ecx = EXT1_ECX;
          r.edx = EXT1_EDX;
          break;
        case 0x80000002:
        case 0x80000003:
        case 0x80000004: {
          const base = (leaf - 0x80000002) * 4;
          [r.eax, r.ebx, r.ecx, r.edx] = BRAND.slice(base, base + 4) as [
            number,
            number,
            number,
            number,
          ];
          break;
        }
        case 0x80000008:
          r.eax = (48 << 8) | 40; // 48-bit linear, 40-bit physical addresses
          break;
      }
      return r;
    },
    msrExits: () => false,
  };
}
