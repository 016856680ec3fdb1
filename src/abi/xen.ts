/**
 * The core guest interface (xen/include/public/xen.h) with its x86 and x86-64 parts
 * (arch-x86/xen.h, arch-x86/xen-x86_64.h): virtual IRQs, the PV MMU operations, domain
 * ids, start_info, shared_info with its per-vCPU vcpu_info and time records, and the PV
 * vCPU register state.
 *
 * Layouts are x86-64's. `unsigned long`, `xen_ulong_t`, `xen_pfn_t` and guest handles
 * (a pointer in a struct) are all 64-bit there.
 */

import {
  anonStruct,
  anonUnion,
  array,
  bytes,
  chars,
  i8,
  struct,
  u8,
  u16,
  u32,
  u64,
} from './layout.js';

// ---------------------------------------------------------------------------------------
// Virtual interrupts ("V." per-vCPU, "G." global; see xen.h)

/** V. Timebase update and/or requested timeout. */
export const VIRQ_TIMER = 0;
/** V. Request to dump debug info. */
export const VIRQ_DEBUG = 1;
/** G. (Dom0) Bytes received on the emergency console. */
export const VIRQ_CONSOLE = 2;
/** G. (Dom0) Exceptional event for some domain. */
export const VIRQ_DOM_EXC = 3;
/** G. (Dom0) Trace buffer has records available. */
export const VIRQ_TBUF = 4;
/** G. (Dom0) A domain has paused for debugging. */
export const VIRQ_DEBUGGER = 6;
/** V. XenOprofile: new sample available. */
export const VIRQ_XENOPROF = 7;
/** G. (Dom0) Bytes received on the console ring. */
export const VIRQ_CON_RING = 8;
/** G. (Dom0) Physical CPU state changed. */
export const VIRQ_PCPU_STATE = 9;
/** G. (Dom0) A memory event has occurred. */
export const VIRQ_MEM_EVENT = 10;
/** G. Argo inter-domain message notification. */
export const VIRQ_ARGO = 11;
/** G. (Dom0) Low on heap memory. */
export const VIRQ_ENOMEM = 12;
/** V. PMC interrupt. */
export const VIRQ_XENPMU = 13;
export const VIRQ_ARCH_0 = 16;
export const VIRQ_ARCH_1 = 17;
export const VIRQ_ARCH_2 = 18;
export const VIRQ_ARCH_3 = 19;
export const VIRQ_ARCH_4 = 20;
export const VIRQ_ARCH_5 = 21;
export const VIRQ_ARCH_6 = 22;
export const VIRQ_ARCH_7 = 23;
export const NR_VIRQS = 24;

// ---------------------------------------------------------------------------------------
// HYPERVISOR_mmu_update: the command is in bits 1:0 of mmu_update.ptr.

/** Checked `*ptr = val`; ptr is a machine address. */
export const MMU_NORMAL_PT_UPDATE = 0;
/** ptr is a machine address in the frame whose M2P entry becomes val. */
export const MMU_MACHPHYS_UPDATE = 1;
/** As NORMAL, but the A/D bits already in the PTE are kept. */
export const MMU_PT_UPDATE_PRESERVE_AD = 2;
/** As NORMAL, but val is never translated through the foreign domain's P2M. */
export const MMU_PT_UPDATE_NO_TRANSLATE = 3;

export const mmu_update = struct('mmu_update', {
  /** Machine address of the PTE, command in bits 1:0. */
  ptr: u64,
  /** New contents of the PTE. */
  val: u64,
});

// HYPERVISOR_mmuext_op commands.
export const MMUEXT_PIN_L1_TABLE = 0;
export const MMUEXT_PIN_L2_TABLE = 1;
export const MMUEXT_PIN_L3_TABLE = 2;
export const MMUEXT_PIN_L4_TABLE = 3;
export const MMUEXT_UNPIN_TABLE = 4;
export const MMUEXT_NEW_BASEPTR = 5;
export const MMUEXT_TLB_FLUSH_LOCAL = 6;
export const MMUEXT_INVLPG_LOCAL = 7;
export const MMUEXT_TLB_FLUSH_MULTI = 8;
export const MMUEXT_INVLPG_MULTI = 9;
export const MMUEXT_TLB_FLUSH_ALL = 10;
export const MMUEXT_INVLPG_ALL = 11;
export const MMUEXT_FLUSH_CACHE = 12;
export const MMUEXT_SET_LDT = 13;
// 14 is unused.
export const MMUEXT_NEW_USER_BASEPTR = 15;
export const MMUEXT_CLEAR_PAGE = 16;
export const MMUEXT_COPY_PAGE = 17;
export const MMUEXT_FLUSH_CACHE_GLOBAL = 18;
export const MMUEXT_MARK_SUPER = 19;
export const MMUEXT_UNMARK_SUPER = 20;

export const mmuext_op = struct('mmuext_op', {
  /** MMUEXT_* */
  cmd: u32,
  arg1: anonUnion({
    /** [UN]PIN_TABLE, NEW_BASEPTR, NEW_USER_BASEPTR, CLEAR_PAGE, COPY_PAGE, [UN]MARK_SUPER */
    mfn: u64,
    /** INVLPG_LOCAL, INVLPG_ALL, SET_LDT */
    linear_addr: u64,
  }),
  arg2: anonUnion({
    /** SET_LDT */
    nr_ents: u32,
    /** TLB_FLUSH_MULTI, INVLPG_MULTI: guest handle of a vCPU bitmap */
    vcpumask: u64,
    /** COPY_PAGE */
    src_mfn: u64,
  }),
});

// update_va_mapping flags (ORed; UVMF_MULTI also ORs in a pointer to a vCPU bitmap).
export const UVMF_NONE = 0;
export const UVMF_TLB_FLUSH = 1;
export const UVMF_INVLPG = 2;
export const UVMF_FLUSHTYPE_MASK = 3;
export const UVMF_MULTI = 0;
export const UVMF_LOCAL = 0;
export const UVMF_ALL = 4;

export const multicall_entry = struct('multicall_entry', {
  op: u64,
  result: u64,
  args: array(u64, 6),
});

// HYPERVISOR_console_io commands.
export const CONSOLEIO_write = 0;
export const CONSOLEIO_read = 1;

// HYPERVISOR_vm_assist.
export const VMASST_CMD_enable = 0;
export const VMASST_CMD_disable = 1;
export const VMASST_TYPE_4gb_segments = 0;
export const VMASST_TYPE_4gb_segments_notify = 1;
export const VMASST_TYPE_writable_pagetables = 2;
export const VMASST_TYPE_pae_extended_cr3 = 3;
export const VMASST_TYPE_architectural_iopl = 4;
export const VMASST_TYPE_runstate_update_flag = 5;
export const VMASST_TYPE_m2p_strict = 32;

// ---------------------------------------------------------------------------------------
// Domain ids

/** Ids at or above this are not ordinary domains. */
export const DOMID_FIRST_RESERVED = 0x7ff0;
/** The calling domain. */
export const DOMID_SELF = 0x7ff0;
/** Foreign-domain argument that permits only I/O mappings. */
export const DOMID_IO = 0x7ff1;
/** Xen itself (privileged mappings of Xen's heap, e.g. the M2P table). */
export const DOMID_XEN = 0x7ff2;
/** Owner of shared (copy-on-write) pages. */
export const DOMID_COW = 0x7ff3;
/** Owner unknown / no domain. */
export const DOMID_INVALID = 0x7ff4;
/** The idle domain. */
export const DOMID_IDLE = 0x7fff;
/** Mask of the valid domid bits. */
export const DOMID_MASK = 0x7fff;

// ---------------------------------------------------------------------------------------
// Time and the per-vCPU shared record

/**
 * pvclock record. `version` is odd while Xen updates it; readers retry until it is even
 * and unchanged. system_time + ((((tsc - tsc_timestamp) << tsc_shift) *
 * tsc_to_system_mul) >> 32) is the current system time in ns (a negative shift shifts right).
 */
export const vcpu_time_info = struct('vcpu_time_info', {
  version: u32,
  pad0: u32,
  /** TSC at the last update. */
  tsc_timestamp: u64,
  /** Nanoseconds since boot at tsc_timestamp. */
  system_time: u64,
  tsc_to_system_mul: u32,
  tsc_shift: i8,
  /** XEN_PVCLOCK_* */
  flags: u8,
  pad1: array(u8, 2),
});

export const XEN_PVCLOCK_TSC_STABLE_BIT = 1 << 0;
export const XEN_PVCLOCK_GUEST_STOPPED = 1 << 1;

/** x86-64 arch part of vcpu_info. */
export const arch_vcpu_info = struct('arch_vcpu_info', {
  cr2: u64,
  pad: u64,
});

/** Per-vCPU event and time state: 64 bytes, in shared_info or where the guest registers it. */
export const vcpu_info = struct('vcpu_info', {
  /** Set by Xen when an event is pending; cleared by the guest before it scans. */
  evtchn_upcall_pending: u8,
  /** Non-zero masks event upcalls to this vCPU. */
  evtchn_upcall_mask: u8,
  /** One bit per word of shared_info.evtchn_pending with pending, unmasked ports (2-level). */
  evtchn_pending_sel: u64,
  arch: arch_vcpu_info,
  time: vcpu_time_info,
});

/** vCPUs whose vcpu_info lives in shared_info; later ones must register theirs. */
export const XEN_LEGACY_MAX_VCPUS = 32;

/** x86-64 arch part of shared_info: where the guest publishes its P2M for the tools. */
export const arch_shared_info = struct('arch_shared_info', {
  /** Number of valid entries in the P2M. */
  max_pfn: u64,
  /** Frame of the 3-level P2M frame-list-list (0 unset, ~0 invalid). */
  pfn_to_mfn_frame_list_list: u64,
  nmi_reason: u64,
  /** CR3 of the address space where p2m_vaddr is valid (0 if unused). */
  p2m_cr3: u64,
  p2m_vaddr: u64,
  /** Odd while the guest is changing its P2M mappings. */
  p2m_generation: u64,
});

/**
 * The shared-info page. The 2-level event channel bitmaps have one bit per port:
 * 64 words of 64 bits, i.e. 4096 ports on x86-64.
 */
export const shared_info = struct('shared_info', {
  vcpu_info: array(vcpu_info, XEN_LEGACY_MAX_VCPUS),
  evtchn_pending: array(u64, 64),
  evtchn_mask: array(u64, 64),
  /** Wallclock (seconds/nanoseconds since the epoch at system time 0), versioned as above. */
  wc_version: u32,
  wc_sec: u32,
  wc_nsec: u32,
  wc_sec_hi: u32,
  arch: arch_shared_info,
});

// ---------------------------------------------------------------------------------------
// PV start of day

export const MAX_GUEST_CMDLINE = 1024;

/** What a PV guest finds at %rsi on entry. */
export const start_info = struct('start_info', {
  /** "xen-<version>-<platform>", e.g. "xen-3.0-x86_64". */
  magic: chars(32),
  nr_pages: u64,
  /** Machine address of the shared_info page. */
  shared_info: u64,
  /** SIF_* */
  flags: u32,
  store_mfn: u64,
  store_evtchn: u32,
  console: anonUnion({
    domU: anonStruct({ mfn: u64, evtchn: u32 }),
    /** Dom0: where in this page the dom0_vga_console_info sits. */
    dom0: anonStruct({ info_off: u32, info_size: u32 }),
  }),
  // Only filled in on initial boot, not on resume.
  /** Virtual address of the bootstrap page tables. */
  pt_base: u64,
  nr_pt_frames: u64,
  /** Virtual address of the P2M list. */
  mfn_list: u64,
  /** Virtual address (or PFN with SIF_MOD_START_PFN) of the initial ramdisk. */
  mod_start: u64,
  mod_len: u64,
  cmd_line: chars(MAX_GUEST_CMDLINE),
  first_p2m_pfn: u64,
  nr_p2m_frames: u64,
});

export const SIF_PRIVILEGED = 1 << 0;
export const SIF_INITDOMAIN = 1 << 1;
export const SIF_MULTIBOOT_MOD = 1 << 2;
export const SIF_MOD_START_PFN = 1 << 3;
export const SIF_VIRT_P2M_4TOOLS = 1 << 4;
export const SIF_PM_MASK = 0xff << 8;

/** One module of a multiboot-style module package (SIF_MULTIBOOT_MOD). */
export const xen_multiboot_mod_list = struct('xen_multiboot_mod_list', {
  mod_start: u32,
  /** Last byte, inclusive. */
  mod_end: u32,
  cmdline: u32,
  pad: u32,
});

export const XEN_VGATYPE_TEXT_MODE_3 = 0x03;
export const XEN_VGATYPE_VESA_LFB = 0x23;
export const XEN_VGATYPE_EFI_LFB = 0x70;

/** Dom0's console description, at start_info.console.dom0.info_off. */
export const dom0_vga_console_info = struct('dom0_vga_console_info', {
  /** XEN_VGATYPE_* */
  video_type: u8,
  u: anonUnion({
    text_mode_3: anonStruct({
      font_height: u16,
      cursor_x: u16,
      cursor_y: u16,
      rows: u16,
      columns: u16,
    }),
    vesa_lfb: anonStruct({
      width: u16,
      height: u16,
      bytes_per_line: u16,
      bits_per_pixel: u16,
      lfb_base: u32,
      /** In 64 KiB units. */
      lfb_size: u32,
      red_pos: u8,
      red_size: u8,
      green_pos: u8,
      green_size: u8,
      blue_pos: u8,
      blue_size: u8,
      rsvd_pos: u8,
      rsvd_size: u8,
      gbl_caps: u32,
      mode_attrs: u16,
      pad: u16,
      ext_lfb_base: u32,
    }),
  }),
});

export const xen_uuid_t = anonStruct({ a: bytes(16) }, { cType: 'xen_uuid_t' });

/** A bitmap passed to domctl/sysctl (tools only). */
export const xenctl_bitmap = struct('xenctl_bitmap', {
  /** Guest handle of the bytes. */
  bitmap: u64,
  nr_bits: u32,
});

// ---------------------------------------------------------------------------------------
// x86: descriptor tables, selectors, address space

/** The GDT pages from here up belong to Xen. */
export const FIRST_RESERVED_GDT_PAGE = 14;
export const FIRST_RESERVED_GDT_BYTE = FIRST_RESERVED_GDT_PAGE * 4096;
export const FIRST_RESERVED_GDT_ENTRY = FIRST_RESERVED_GDT_BYTE / 8;

export const FLAT_RING3_CS32 = 0xe023;
export const FLAT_RING3_CS64 = 0xe033;
export const FLAT_RING3_DS32 = 0xe02b;
export const FLAT_RING3_DS64 = 0x0000;
export const FLAT_RING3_SS32 = 0xe02b;
export const FLAT_RING3_SS64 = 0xe02b;
export const FLAT_KERNEL_DS64 = FLAT_RING3_DS64;
export const FLAT_KERNEL_DS32 = FLAT_RING3_DS32;
export const FLAT_KERNEL_DS = FLAT_KERNEL_DS64;
export const FLAT_KERNEL_CS64 = FLAT_RING3_CS64;
export const FLAT_KERNEL_CS32 = FLAT_RING3_CS32;
export const FLAT_KERNEL_CS = FLAT_KERNEL_CS64;
export const FLAT_KERNEL_SS64 = FLAT_RING3_SS64;
export const FLAT_KERNEL_SS32 = FLAT_RING3_SS32;
export const FLAT_KERNEL_SS = FLAT_KERNEL_SS64;
export const FLAT_USER_DS64 = FLAT_RING3_DS64;
export const FLAT_USER_DS32 = FLAT_RING3_DS32;
export const FLAT_USER_DS = FLAT_USER_DS64;
export const FLAT_USER_CS64 = FLAT_RING3_CS64;
export const FLAT_USER_CS32 = FLAT_RING3_CS32;
export const FLAT_USER_CS = FLAT_USER_CS64;
export const FLAT_USER_SS64 = FLAT_RING3_SS64;
export const FLAT_USER_SS32 = FLAT_RING3_SS32;
export const FLAT_USER_SS = FLAT_USER_SS64;

/** Xen's reserved hole in a 64-bit PV guest's address space. */
export const HYPERVISOR_VIRT_START = 0xffff800000000000n;
export const HYPERVISOR_VIRT_END = 0xffff880000000000n;
export const __HYPERVISOR_VIRT_START = HYPERVISOR_VIRT_START;
export const __HYPERVISOR_VIRT_END = HYPERVISOR_VIRT_END;
/** The read-only machine-to-phys table, mapped into every 64-bit PV guest. */
export const MACH2PHYS_VIRT_START = 0xffff800000000000n;
export const MACH2PHYS_VIRT_END = 0xffff804000000000n;
export const __MACH2PHYS_VIRT_START = MACH2PHYS_VIRT_START;
export const __MACH2PHYS_VIRT_END = MACH2PHYS_VIRT_END;
export const MACH2PHYS_NR_ENTRIES = 2 ** 35;

// HYPERVISOR_set_segment_base
export const SEGBASE_FS = 0;
export const SEGBASE_GS_USER = 1;
export const SEGBASE_GS_KERNEL = 2;
/** Set the user %gs selector given in base[15:0]. */
export const SEGBASE_GS_USER_SEL = 3;

/** Port the HVM debug console (`outb` to 0xe9) listens on. */
export const XEN_HVM_DEBUGCONS_IOPORT = 0xe9;

// ---------------------------------------------------------------------------------------
// x86-64 PV vCPU state

/** The frame HYPERVISOR_iret pops (top of stack first). */
export const iret_context = struct('iret_context', {
  rax: u64,
  r11: u64,
  rcx: u64,
  flags: u64,
  rip: u64,
  cs: u64,
  rflags: u64,
  rsp: u64,
  ss: u64,
});

/** x86-64 general registers as Xen saves them (tools' view, all 64-bit names). */
export const cpu_user_regs = struct('cpu_user_regs', {
  r15: u64,
  r14: u64,
  r13: u64,
  r12: u64,
  rbp: u64,
  rbx: u64,
  r11: u64,
  r10: u64,
  r9: u64,
  r8: u64,
  rax: u64,
  rcx: u64,
  rdx: u64,
  rsi: u64,
  rdi: u64,
  /** Private to Xen. */
  error_code: u32,
  /** Private to Xen. */
  entry_vector: u32,
  rip: u64,
  cs: u16,
  _pad0: array(u16, 1),
  saved_upcall_mask: u8,
  _pad1: array(u8, 3),
  /** rflags.IF == !saved_upcall_mask */
  rflags: u64,
  rsp: u64,
  ss: u16,
  _pad2: array(u16, 3),
  es: u16,
  _pad3: array(u16, 3),
  ds: u16,
  _pad4: array(u16, 3),
  fs: u16,
  _pad5: array(u16, 3),
  gs: u16,
  _pad6: array(u16, 3),
});

/** One virtual IDT entry for HYPERVISOR_set_trap_table (vector 0 ends the list). */
export const trap_info = struct('trap_info', {
  vector: u8,
  /** Bits 0-1: DPL; bit 2: clear the event mask on entry (like an interrupt gate). */
  flags: u8,
  cs: u16,
  address: u64,
});

export const VGCF_I387_VALID = 1 << 0;
export const VGCF_IN_KERNEL = 1 << 2;
export const _VGCF_i387_valid = 0;
export const VGCF_i387_valid = 1 << _VGCF_i387_valid;
export const _VGCF_in_kernel = 2;
export const VGCF_in_kernel = 1 << _VGCF_in_kernel;
export const _VGCF_failsafe_disables_events = 3;
export const VGCF_failsafe_disables_events = 1 << _VGCF_failsafe_disables_events;
export const _VGCF_syscall_disables_events = 4;
export const VGCF_syscall_disables_events = 1 << _VGCF_syscall_disables_events;
export const _VGCF_online = 5;
export const VGCF_online = 1 << _VGCF_online;
/** x86-64: the guest was in SYSCALL context; return with SYSRET. */
export const _VGCF_in_syscall = 8;
export const VGCF_in_syscall = 1 << _VGCF_in_syscall;
export const VGCF_IN_SYSCALL = VGCF_in_syscall;

/**
 * A PV vCPU's full state, for VCPUOP_initialise and XEN_DOMCTL_{set,get}vcpucontext
 * (x86-64 form, as the tools and a 64-bit guest see it).
 */
export const vcpu_guest_context = struct('vcpu_guest_context', {
  /** FXSAVE image; first so it can be 16-byte aligned. C: struct { char x[512]; }. */
  fpu_ctxt: bytes(512),
  /** VGCF_* */
  flags: u64,
  user_regs: cpu_user_regs,
  trap_ctxt: array(trap_info, 256),
  ldt_base: u64,
  ldt_ents: u64,
  /** Machine frames of the GDT. */
  gdt_frames: array(u64, 16),
  gdt_ents: u64,
  kernel_ss: u64,
  kernel_sp: u64,
  /** CR0-CR7; ctrlreg[1] holds the user page table on x86-64. */
  ctrlreg: array(u64, 8),
  debugreg: array(u64, 8),
  event_callback_eip: u64,
  failsafe_callback_eip: u64,
  syscall_callback_eip: u64,
  /** VMASST_TYPE_* bitmap. */
  vm_assist: u64,
  fs_base: u64,
  gs_base_kernel: u64,
  gs_base_user: u64,
});

// ---------------------------------------------------------------------------------------
// x86 domain configuration (tools only), CPUID and MSR records

export const _XEN_X86_EMU_LAPIC = 0;
export const XEN_X86_EMU_LAPIC = 1 << _XEN_X86_EMU_LAPIC;
export const _XEN_X86_EMU_HPET = 1;
export const XEN_X86_EMU_HPET = 1 << _XEN_X86_EMU_HPET;
export const _XEN_X86_EMU_PM = 2;
export const XEN_X86_EMU_PM = 1 << _XEN_X86_EMU_PM;
export const _XEN_X86_EMU_RTC = 3;
export const XEN_X86_EMU_RTC = 1 << _XEN_X86_EMU_RTC;
export const _XEN_X86_EMU_IOAPIC = 4;
export const XEN_X86_EMU_IOAPIC = 1 << _XEN_X86_EMU_IOAPIC;
export const _XEN_X86_EMU_PIC = 5;
export const XEN_X86_EMU_PIC = 1 << _XEN_X86_EMU_PIC;
export const _XEN_X86_EMU_VGA = 6;
export const XEN_X86_EMU_VGA = 1 << _XEN_X86_EMU_VGA;
export const _XEN_X86_EMU_IOMMU = 7;
export const XEN_X86_EMU_IOMMU = 1 << _XEN_X86_EMU_IOMMU;
export const _XEN_X86_EMU_PIT = 8;
export const XEN_X86_EMU_PIT = 1 << _XEN_X86_EMU_PIT;
export const _XEN_X86_EMU_USE_PIRQ = 9;
export const XEN_X86_EMU_USE_PIRQ = 1 << _XEN_X86_EMU_USE_PIRQ;
export const _XEN_X86_EMU_VPCI = 10;
export const XEN_X86_EMU_VPCI = 1 << _XEN_X86_EMU_VPCI;
export const XEN_X86_EMU_ALL =
  XEN_X86_EMU_LAPIC |
  XEN_X86_EMU_HPET |
  XEN_X86_EMU_PM |
  XEN_X86_EMU_RTC |
  XEN_X86_EMU_IOAPIC |
  XEN_X86_EMU_PIC |
  XEN_X86_EMU_VGA |
  XEN_X86_EMU_IOMMU |
  XEN_X86_EMU_PIT |
  XEN_X86_EMU_USE_PIRQ |
  XEN_X86_EMU_VPCI;
export const XEN_X86_MSR_RELAXED = 1 << 0;
export const XEN_X86_MISC_FLAGS_MAX = XEN_X86_MSR_RELAXED;

/** The x86 part of XEN_DOMCTL_createdomain / getdomaininfo. */
export const xen_arch_domainconfig = struct('xen_arch_domainconfig', {
  /** XEN_X86_EMU_*: which devices Xen emulates (none for PV, LAPIC only for PVH). */
  emulation_flags: u32,
  /** XEN_X86_MSR_RELAXED */
  misc_flags: u32,
});

export const XEN_CPUID_NO_SUBLEAF = 0xffffffff;

export const xen_cpuid_leaf = struct('xen_cpuid_leaf', {
  leaf: u32,
  subleaf: u32,
  a: u32,
  b: u32,
  c: u32,
  d: u32,
});

export const xen_msr_entry = struct('xen_msr_entry', {
  idx: u32,
  /** Reserved, must be zero. */
  flags: u32,
  val: u64,
});
