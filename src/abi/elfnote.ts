/**
 * Xen's ELF notes (xen/include/public/elfnote.h) and the guest feature flags they name
 * (xen/include/public/features.h).
 *
 * A kernel that can run on Xen carries notes whose name is "Xen" in a PT_NOTE segment. The
 * note type says what the descriptor holds: a number (4 or 8 bytes, as the descriptor size
 * says), a NUL-terminated ASCII string, or a type-specific layout (L1_MFN_VALID,
 * PHYS32_RELOC). The numbers below are Xen's and must never change.
 */

/** The note name ("owner") that marks a note as Xen's. */
export const XEN_ELFNOTE_OWNER = 'Xen';

/** NAME=VALUE pair (string). */
export const XEN_ELFNOTE_INFO = 0;
/** Virtual address of the PV entry point (numeric). */
export const XEN_ELFNOTE_ENTRY = 1;
/** Virtual address of the hypercall transfer page (numeric). */
export const XEN_ELFNOTE_HYPERCALL_PAGE = 2;
/** Virtual address the kernel image is mapped at (numeric, default 0). */
export const XEN_ELFNOTE_VIRT_BASE = 3;
/** Offset of the ELF paddr fields from the pseudo-physical load address (numeric, default 0). */
export const XEN_ELFNOTE_PADDR_OFFSET = 4;
/** Xen version the kernel was written for, "xen-3.0" (string). */
export const XEN_ELFNOTE_XEN_VERSION = 5;
/** Guest operating system name, e.g. "linux" (string). */
export const XEN_ELFNOTE_GUEST_OS = 6;
/** Guest operating system version (string). */
export const XEN_ELFNOTE_GUEST_VERSION = 7;
/** Loader type, e.g. "generic" (string). */
export const XEN_ELFNOTE_LOADER = 8;
/** PAE support of a 32-bit kernel: "yes", "no", "bimodal" or "yes,bimodal" (string). */
export const XEN_ELFNOTE_PAE_MODE = 9;
/** '|'-separated XENFEAT names; a leading '!' marks a feature as required (string). */
export const XEN_ELFNOTE_FEATURES = 10;
/** Whether the symbol table must be loaded: "yes" or "no" (string). */
export const XEN_ELFNOTE_BSD_SYMTAB = 11;
/** Lowest address the hypervisor hole may start at (numeric). */
export const XEN_ELFNOTE_HV_START_LOW = 12;
/** maddr_t-sized mask/value pairs that recognise non-present L1 entries holding MFNs. */
export const XEN_ELFNOTE_L1_MFN_VALID = 13;
/** Whether the guest supports cooperative suspend cancellation (numeric, default 0). */
export const XEN_ELFNOTE_SUSPEND_CANCEL = 14;
/** Virtual address at which the initial P2M list should be mapped (numeric, x86-64 only). */
export const XEN_ELFNOTE_INIT_P2M = 15;
/** Whether the guest accepts an initrd not mapped by its initial page tables (numeric). */
export const XEN_ELFNOTE_MOD_START_PFN = 16;
/** Bitmap of supported XENFEAT bits, combined with those named by FEATURES (numeric). */
export const XEN_ELFNOTE_SUPPORTED_FEATURES = 17;
/** 32-bit physical entry point for PVH: protected mode, paging off (numeric). */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
/**
 * The PVH kernel can relocate itself. Up to three 32-bit values: required alignment
 * (default 0x200000), lowest start address (default 0), highest last byte (default
 * 0xffffffff).
 */
export const XEN_ELFNOTE_PHYS32_RELOC = 19;
/** The highest note type Xen defines for guest kernels. */
export const XEN_ELFNOTE_MAX = XEN_ELFNOTE_PHYS32_RELOC;

/** Crash-dump notes written by kexec (not found in guest kernels). */
export const XEN_ELFNOTE_CRASH_INFO = 0x1000001;
export const XEN_ELFNOTE_CRASH_REGS = 0x1000002;
/** Notes of a dump-core file (not found in guest kernels). */
export const XEN_ELFNOTE_DUMPCORE_NONE = 0x2000000;
export const XEN_ELFNOTE_DUMPCORE_HEADER = 0x2000001;
export const XEN_ELFNOTE_DUMPCORE_XEN_VERSION = 0x2000002;
export const XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION = 0x2000003;

/** Note type → Xen's name for it without the XEN_ELFNOTE_ prefix, for messages and dumps. */
export const XEN_ELFNOTE_NAMES: Readonly<Record<number, string>> = {
  [XEN_ELFNOTE_INFO]: 'INFO',
  [XEN_ELFNOTE_ENTRY]: 'ENTRY',
  [XEN_ELFNOTE_HYPERCALL_PAGE]: 'HYPERCALL_PAGE',
  [XEN_ELFNOTE_VIRT_BASE]: 'VIRT_BASE',
  [XEN_ELFNOTE_PADDR_OFFSET]: 'PADDR_OFFSET',
  [XEN_ELFNOTE_XEN_VERSION]: 'XEN_VERSION',
  [XEN_ELFNOTE_GUEST_OS]: 'GUEST_OS',
  [XEN_ELFNOTE_GUEST_VERSION]: 'GUEST_VERSION',
  [XEN_ELFNOTE_LOADER]: 'LOADER',
  [XEN_ELFNOTE_PAE_MODE]: 'PAE_MODE',
  [XEN_ELFNOTE_FEATURES]: 'FEATURES',
  [XEN_ELFNOTE_BSD_SYMTAB]: 'BSD_SYMTAB',
  [XEN_ELFNOTE_HV_START_LOW]: 'HV_START_LOW',
  [XEN_ELFNOTE_L1_MFN_VALID]: 'L1_MFN_VALID',
  [XEN_ELFNOTE_SUSPEND_CANCEL]: 'SUSPEND_CANCEL',
  [XEN_ELFNOTE_INIT_P2M]: 'INIT_P2M',
  [XEN_ELFNOTE_MOD_START_PFN]: 'MOD_START_PFN',
  [XEN_ELFNOTE_SUPPORTED_FEATURES]: 'SUPPORTED_FEATURES',
  [XEN_ELFNOTE_PHYS32_ENTRY]: 'PHYS32_ENTRY',
  [XEN_ELFNOTE_PHYS32_RELOC]: 'PHYS32_RELOC',
};

// Guest feature flags: bit numbers in submap 0 of XENVER_get_features, and the names the
// FEATURES note uses (the constant's name without "XENFEAT_").

/** The guest may write its page tables directly. */
export const XENFEAT_writable_page_tables = 0;
/** The guest may write its descriptor tables directly. */
export const XENFEAT_writable_descriptor_tables = 1;
/** Pseudo-physical to machine translation is done by the hypervisor. */
export const XENFEAT_auto_translated_physmap = 2;
/** The guest kernel runs in supervisor mode (ring 0). */
export const XENFEAT_supervisor_mode_kernel = 3;
/** PAE page directories need not be below 4 GiB. */
export const XENFEAT_pae_pgdir_above_4gb = 4;
/** MMU_PT_UPDATE_PRESERVE_AD is available. */
export const XENFEAT_mmu_pt_update_preserve_ad = 5;
/** MMU_CLEAR_PAGE / MMU_COPY_PAGE are available. */
export const XENFEAT_highmem_assist = 6;
/** GNTTABOP_map_grant_ref honours the flags for the PTE's available bits. */
export const XENFEAT_gnttab_map_avail_bits = 7;
/** The HVM callback vector is available. */
export const XENFEAT_hvm_callback_vector = 8;
/** The pvclock algorithm is safe to use in HVM. */
export const XENFEAT_hvm_safe_pvclock = 9;
/** HVM guests may use PIRQs. */
export const XENFEAT_hvm_pirqs = 10;
/** Running as Dom0 is supported. */
export const XENFEAT_dom0 = 11;
// Bit 12 was XENFEAT_grant_map_identity: deprecated, never to be used.
/** XENMEMF_vnode can name a virtual NUMA node in memory ops. */
export const XENFEAT_memory_op_vnode_supported = 13;
/** Arm: SMC calling convention available. */
export const XENFEAT_ARM_SMCCC_supported = 14;
/** x86 PVH: the ACPI RSDP may sit at any address (only consulted for "linux" guests). */
export const XENFEAT_linux_rsdp_unrestricted = 15;
/** The domain's frames are not mapped 1:1 (gfn != mfn). */
export const XENFEAT_not_direct_mapped = 16;
/** The domain's frames are mapped 1:1 (gfn == mfn). */
export const XENFEAT_direct_mapped = 17;
/** VCPUOP_register_runstate_phys_area is available. */
export const XENFEAT_runstate_phys_area = 18;
/** VCPUOP_register_vcpu_time_phys_area is available. */
export const XENFEAT_vcpu_time_phys_area = 19;
/** All MSI-X vector-control writes are forwarded to the device model. */
export const XENFEAT_dm_msix_all_writes = 20;

/** Number of 32-bit feature submaps Xen defines. */
export const XENFEAT_NR_SUBMAPS = 1;

/** Feature name (as written in a FEATURES note) → bit number. */
export const XENFEAT_BITS: Readonly<Record<string, number>> = {
  writable_page_tables: XENFEAT_writable_page_tables,
  writable_descriptor_tables: XENFEAT_writable_descriptor_tables,
  auto_translated_physmap: XENFEAT_auto_translated_physmap,
  supervisor_mode_kernel: XENFEAT_supervisor_mode_kernel,
  pae_pgdir_above_4gb: XENFEAT_pae_pgdir_above_4gb,
  mmu_pt_update_preserve_ad: XENFEAT_mmu_pt_update_preserve_ad,
  highmem_assist: XENFEAT_highmem_assist,
  gnttab_map_avail_bits: XENFEAT_gnttab_map_avail_bits,
  hvm_callback_vector: XENFEAT_hvm_callback_vector,
  hvm_safe_pvclock: XENFEAT_hvm_safe_pvclock,
  hvm_pirqs: XENFEAT_hvm_pirqs,
  dom0: XENFEAT_dom0,
  memory_op_vnode_supported: XENFEAT_memory_op_vnode_supported,
  ARM_SMCCC_supported: XENFEAT_ARM_SMCCC_supported,
  linux_rsdp_unrestricted: XENFEAT_linux_rsdp_unrestricted,
  not_direct_mapped: XENFEAT_not_direct_mapped,
  direct_mapped: XENFEAT_direct_mapped,
  runstate_phys_area: XENFEAT_runstate_phys_area,
  vcpu_time_phys_area: XENFEAT_vcpu_time_phys_area,
  dm_msix_all_writes: XENFEAT_dm_msix_all_writes,
};

/**
 * The feature names Xen's own ELF loader (libelf) recognises in a FEATURES note. Xen
 * refuses a kernel that marks any other name as required ('!'), and ignores other names
 * that are merely listed.
 */
export const XENFEAT_ELF_LOADER_NAMES: readonly string[] = [
  'writable_page_tables',
  'writable_descriptor_tables',
  'auto_translated_physmap',
  'supervisor_mode_kernel',
  'pae_pgdir_above_4gb',
  'hvm_callback_vector',
  'dom0',
];
