/**
 * The HVM save format (xen/include/public/hvm/save.h and arch-x86/hvm/save.h): the records
 * of XEN_DOMCTL_{get,set}hvmcontext and gethvmcontext_partial. A context is a sequence of
 * records, each an hvm_save_descriptor followed by `length` bytes, starting with HEADER and
 * ending with END (typecode 0, length 0). Per-vCPU records name the vCPU in `instance`.
 *
 * Only the records Xenotype produces or checks are laid out here; the device records it has
 * no device for (PIC, IO-APIC, PIT, RTC, HPET, PM timer, Viridian) are known by typecode only.
 */

import { array, bytes, struct, u16, u32, u64 } from './layout.js';

/** Precedes every record. */
export const hvm_save_descriptor = struct('hvm_save_descriptor', {
  /** HVM_SAVE_CODE(...): which record. */
  typecode: u16,
  /** Which one of its kind: the vCPU for per-vCPU records. */
  instance: u16,
  /** Bytes after the descriptor. */
  length: u32,
});

/**
 * HVM_SAVE_CODE(x): the typecodes declared with DECLARE_HVM_SAVE_TYPE. CPU_XSAVE (16) and
 * CPU_MSR (20) are variable-length and have macros of their own.
 */
export const HVM_SAVE_CODE = Object.freeze({
  END: 0,
  HEADER: 1,
  CPU: 2,
  PIC: 3,
  IOAPIC: 4,
  LAPIC: 5,
  LAPIC_REGS: 6,
  PCI_IRQ: 7,
  ISA_IRQ: 8,
  PCI_LINK: 9,
  PIT: 10,
  RTC: 11,
  HPET: 12,
  PMTIMER: 13,
  MTRR: 14,
  VIRIDIAN_DOMAIN: 15,
  VIRIDIAN_VCPU: 17,
  VMCE_VCPU: 18,
  TSC_ADJUST: 19,
});

/** struct hvm_hw_cpu_xsave: XSAVE state (variable length). */
export const CPU_XSAVE_CODE = 16;
/** struct hvm_msr: a list of MSRs (variable length). */
export const CPU_MSR_CODE = 20;
/** struct hvm_one_msr: an MSR's index, a reserved word (0) and its value. */
export const hvm_one_msr = struct('hvm_one_msr', {
  index: u32,
  _rsvd: u32,
  val: u64,
});
/**
 * HVM_CPU_MSR_SIZE(count), offsetof(struct hvm_msr, msr[count]): the length of a CPU_MSR
 * record with `count` entries, and where entry `count` starts (after the count, padded to 8).
 */
export const hvmCpuMsrSize = (count: number): number => 8 + count * hvm_one_msr.size;
/** The largest typecode in use. */
export const HVM_SAVE_CODE_MAX = 20;

// ---------------------------------------------------------------------------------------
// HEADER and END

export const HVM_FILE_MAGIC = 0x54381286;
export const HVM_FILE_VERSION = 0x00000001;

/** HEADER: general information about the saved context; always the first record. */
export const hvm_save_header = struct('hvm_save_header', {
  /** HVM_FILE_MAGIC */
  magic: u32,
  /** HVM_FILE_VERSION */
  version: u32,
  /** The Xen changeset that saved it (~0: unknown). */
  changeset: u64,
  /** CPUID leaf 1 EAX of the saving machine. */
  cpuid: u32,
  /** The guest's TSC frequency in kHz. */
  gtsc_khz: u32,
});

/** END: an empty record that ends the context. */
export const hvm_save_end = struct('hvm_save_end', {});

// ---------------------------------------------------------------------------------------
// CPU

export const _XEN_X86_FPU_INITIALISED = 0;
/** hvm_hw_cpu.flags: fpu_regs holds the vCPU's FPU state (else the FPU is in reset state). */
export const XEN_X86_FPU_INITIALISED = 1 << _XEN_X86_FPU_INITIALISED;

/** The members the current and the compat (pre-4.7) CPU records share. */
const cpuCommon = {
  /** An FXSAVE image. */
  fpu_regs: bytes(512),
  rax: u64,
  rbx: u64,
  rcx: u64,
  rdx: u64,
  rbp: u64,
  rsi: u64,
  rdi: u64,
  rsp: u64,
  r8: u64,
  r9: u64,
  r10: u64,
  r11: u64,
  r12: u64,
  r13: u64,
  r14: u64,
  r15: u64,
  rip: u64,
  rflags: u64,
  cr0: u64,
  cr2: u64,
  cr3: u64,
  cr4: u64,
  dr0: u64,
  dr1: u64,
  dr2: u64,
  dr3: u64,
  dr6: u64,
  dr7: u64,
  cs_sel: u32,
  ds_sel: u32,
  es_sel: u32,
  fs_sel: u32,
  gs_sel: u32,
  ss_sel: u32,
  tr_sel: u32,
  ldtr_sel: u32,
  cs_limit: u32,
  ds_limit: u32,
  es_limit: u32,
  fs_limit: u32,
  gs_limit: u32,
  ss_limit: u32,
  tr_limit: u32,
  ldtr_limit: u32,
  idtr_limit: u32,
  gdtr_limit: u32,
  cs_base: u64,
  ds_base: u64,
  es_base: u64,
  fs_base: u64,
  gs_base: u64,
  ss_base: u64,
  tr_base: u64,
  ldtr_base: u64,
  idtr_base: u64,
  gdtr_base: u64,
  /** Attributes in struct segment_register's 12-bit packing (type, s, dpl, p, avl, l, db, g). */
  cs_arbytes: u32,
  ds_arbytes: u32,
  es_arbytes: u32,
  fs_arbytes: u32,
  gs_arbytes: u32,
  ss_arbytes: u32,
  tr_arbytes: u32,
  ldtr_arbytes: u32,
  sysenter_cs: u64,
  sysenter_esp: u64,
  sysenter_eip: u64,
  /** MSR_SHADOW_GS_BASE (KERNEL_GS_BASE). */
  shadow_gs: u64,
  /** Obsolete, ignored. */
  msr_flags: u64,
  msr_lstar: u64,
  msr_star: u64,
  msr_cstar: u64,
  msr_syscall_mask: u64,
  msr_efer: u64,
} as const;

/**
 * CPU: one vCPU's registers (per vCPU, instance = vCPU id). `pending_event` is a VMX
 * interruption-information word (vector 7:0, type 10:8, error code valid 11, valid 31), the
 * anonymous union of save.h whose bit-fields have no offsets of their own.
 */
export const hvm_hw_cpu = struct('hvm_hw_cpu', {
  ...cpuCommon,
  msr_tsc_aux: u64,
  /** The guest's TSC at the time of the save. */
  tsc: u64,
  pending_event: u32,
  /** The pending event's error code. */
  error_code: u32,
  /** XEN_X86_FPU_INITIALISED */
  flags: u32,
  pad0: u32,
});

/** The CPU record before msr_tsc_aux (3.4) and flags (4.7); Xen still accepts it. */
export const hvm_hw_cpu_compat = struct('hvm_hw_cpu_compat', {
  ...cpuCommon,
  tsc: u64,
  pending_event: u32,
  error_code: u32,
});

// ---------------------------------------------------------------------------------------
// LAPIC, LAPIC_REGS

/** LAPIC: the local APIC's state outside its register page (per vCPU). */
export const hvm_hw_lapic = struct('hvm_hw_lapic', {
  /** IA32_APIC_BASE */
  apic_base_msr: u64,
  /** Xen's VLAPIC_HW_DISABLED (1) | VLAPIC_SW_DISABLED (2). */
  disabled: u32,
  /** The timer's divisor (1-128), as TDCR selects it. */
  timer_divisor: u32,
  /** IA32_TSC_DEADLINE */
  tdt_msr: u64,
});

/** LAPIC_REGS: the 1 KiB xAPIC register page, each register a u32 at its MMIO offset. */
export const hvm_hw_lapic_regs = struct('hvm_hw_lapic_regs', {
  data: bytes(1024),
});

// ---------------------------------------------------------------------------------------
// MTRR, TSC_ADJUST

/** Variable-range MTRR pairs in the record. */
export const MTRR_VCNT = 8;
/** Fixed-range MTRR MSRs: 64K_00000, 16K_80000, 16K_A0000, 4K_C0000 … 4K_F8000. */
export const NUM_FIXED_MSR = 11;

/** MTRR: the cache-type MSRs and PAT (per vCPU). */
export const hvm_hw_mtrr = struct('hvm_hw_mtrr', {
  msr_pat_cr: u64,
  /** PHYSBASE(n) at 2n, PHYSMASK(n) at 2n + 1. */
  msr_mtrr_var: array(u64, MTRR_VCNT * 2),
  msr_mtrr_fixed: array(u64, NUM_FIXED_MSR),
  msr_mtrr_cap: u64,
  msr_mtrr_def_type: u64,
});

/** TSC_ADJUST: IA32_TSC_ADJUST (per vCPU). */
export const hvm_tsc_adjust = struct('hvm_tsc_adjust', {
  tsc_adjust: u64,
});
