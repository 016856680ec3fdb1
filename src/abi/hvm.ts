/**
 * HVM and PVH guests: HYPERVISOR_hvm_op's commands and structs
 * (xen/include/public/hvm/hvm_op.h), the HVM parameters (hvm/params.h), and the PVH
 * start-of-day record (arch-x86/hvm/start_info.h).
 */

import { array, struct, u8, u16, u32, u64 } from './layout.js';

// ---------------------------------------------------------------------------------------
// HYPERVISOR_hvm_op

export const HVMOP_set_param = 0;
export const HVMOP_get_param = 1;
// 2-4 (set_pci_intx_level, set_isa_irq_level, set_pci_link_route) moved to dm_op in 4.9.
/** Flush every vCPU's TLB; arg NULL. */
export const HVMOP_flush_tlbs = 5;
export const HVMOP_pagetable_dying = 9;
export const HVMOP_get_time = 10;
export const HVMOP_xentrace = 11;
/** Tools only; deprecated by XENMEM_access_op. */
export const HVMOP_set_mem_access = 12;
/** Tools only; deprecated by XENMEM_access_op. */
export const HVMOP_get_mem_access = 13;
export const HVMOP_get_mem_type = 15;
/** x86: deliver this vCPU's event upcalls as a LAPIC vector. */
export const HVMOP_set_evtchn_upcall_vector = 23;
export const HVMOP_guest_request_vm_event = 24;
export const HVMOP_altp2m = 25;

export const HVMOP_ALTP2M_INTERFACE_VERSION = 0x00000001;
export const HVMOP_altp2m_get_domain_state = 1;
export const HVMOP_altp2m_set_domain_state = 2;
export const HVMOP_altp2m_vcpu_enable_notify = 3;
export const HVMOP_altp2m_create_p2m = 4;
export const HVMOP_altp2m_destroy_p2m = 5;
export const HVMOP_altp2m_switch_p2m = 6;
export const HVMOP_altp2m_set_mem_access = 7;
export const HVMOP_altp2m_change_gfn = 8;
export const HVMOP_altp2m_set_mem_access_multi = 9;
export const HVMOP_altp2m_set_suppress_ve = 10;
export const HVMOP_altp2m_get_suppress_ve = 11;
export const HVMOP_altp2m_get_mem_access = 12;
export const HVMOP_altp2m_vcpu_disable_notify = 13;
export const HVMOP_altp2m_get_p2m_idx = 14;
export const HVMOP_altp2m_set_suppress_ve_multi = 15;
export const HVMOP_altp2m_set_visibility = 16;

/** HVMOP_set_param / HVMOP_get_param. */
export const xen_hvm_param = struct('xen_hvm_param', {
  domid: u16,
  pad: u16,
  /** HVM_PARAM_* */
  index: u32,
  /** IN (set) / OUT (get) */
  value: u64,
});

export const xen_hvm_pagetable_dying = struct('xen_hvm_pagetable_dying', {
  domid: u16,
  pad: array(u16, 3),
  /** Guest-physical address of the top-level page table about to be freed. */
  gpa: u64,
});

export const xen_hvm_get_time = struct('xen_hvm_get_time', {
  /** OUT: ns since boot. */
  now: u64,
});

// hvmmem_type_t
export const HVMMEM_ram_rw = 0;
export const HVMMEM_ram_ro = 1;
export const HVMMEM_mmio_dm = 2;
export const HVMMEM_unused = 3;
export const HVMMEM_ioreq_server = 4;

export const xen_hvm_get_mem_type = struct('xen_hvm_get_mem_type', {
  domid: u16,
  /** OUT: HVMMEM_* */
  mem_type: u16,
  pad: array(u16, 2),
  pfn: u64,
});

export const HVM_IOREQSRV_BUFIOREQ_OFF = 0;
export const HVM_IOREQSRV_BUFIOREQ_LEGACY = 1;
export const HVM_IOREQSRV_BUFIOREQ_ATOMIC = 2;

export const xen_hvm_evtchn_upcall_vector = struct('xen_hvm_evtchn_upcall_vector', {
  vcpu: u32,
  vector: u8,
});

// ---------------------------------------------------------------------------------------
// HVM parameters (the index of xen_hvm_param)

/**
 * How event upcalls reach an HVM guest. Bits 63:56 are the type
 * (HVM_PARAM_CALLBACK_TYPE_*), the rest its argument: a GSI, a PCI INTx
 * (domain:bus:device:intx) or a vector. 0 disables.
 */
export const HVM_PARAM_CALLBACK_IRQ = 0;
export const HVM_PARAM_CALLBACK_IRQ_TYPE_MASK = 0xff00000000000000n;
/** Shift of the type field within HVM_PARAM_CALLBACK_IRQ (bits 63:56). */
export const HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT = 56;
export const HVM_PARAM_CALLBACK_TYPE_GSI = 0;
export const HVM_PARAM_CALLBACK_TYPE_PCI_INTX = 1;
/** x86: a LAPIC vector, delivered to every vCPU (bits 7:0). */
export const HVM_PARAM_CALLBACK_TYPE_VECTOR = 2;

export const HVM_PARAM_STORE_PFN = 1;
export const HVM_PARAM_STORE_EVTCHN = 2;
/** Deprecated (tools only). */
export const HVM_PARAM_PAE_ENABLED = 4;
export const HVM_PARAM_IOREQ_PFN = 5;
export const HVM_PARAM_BUFIOREQ_PFN = 6;
/** Viridian (Hyper-V) enlightenments: HVMPV_* bits. */
export const HVM_PARAM_VIRIDIAN = 9;
/** HVMPTM_* */
export const HVM_PARAM_TIMER_MODE = 10;
export const HVM_PARAM_HPET_ENABLED = 11;
export const HVM_PARAM_IDENT_PT = 12;
/** Deprecated (tools only). */
export const HVM_PARAM_DM_DOMAIN = 13;
export const HVM_PARAM_ACPI_S_STATE = 14;
export const HVM_PARAM_VM86_TSS = 15;
export const HVM_PARAM_VPT_ALIGN = 16;
export const HVM_PARAM_CONSOLE_PFN = 17;
export const HVM_PARAM_CONSOLE_EVTCHN = 18;
export const HVM_PARAM_ACPI_IOPORTS_LOCATION = 19;
// 20-26 and 30 are deprecated (tools only).
export const HVM_PARAM_MEMORY_EVENT_CR0 = 20;
export const HVM_PARAM_MEMORY_EVENT_CR3 = 21;
export const HVM_PARAM_MEMORY_EVENT_CR4 = 22;
export const HVM_PARAM_MEMORY_EVENT_INT3 = 23;
export const HVM_PARAM_NESTEDHVM = 24;
export const HVM_PARAM_MEMORY_EVENT_SINGLE_STEP = 25;
export const HVM_PARAM_BUFIOREQ_EVTCHN = 26;
export const HVM_PARAM_PAGING_RING_PFN = 27;
export const HVM_PARAM_MONITOR_RING_PFN = 28;
export const HVM_PARAM_SHARING_RING_PFN = 29;
export const HVM_PARAM_MEMORY_EVENT_MSR = 30;
/** SHUTDOWN_* action on a triple fault. */
export const HVM_PARAM_TRIPLE_FAULT_REASON = 31;
export const HVM_PARAM_IOREQ_SERVER_PFN = 32;
export const HVM_PARAM_NR_IOREQ_SERVER_PAGES = 33;
export const HVM_PARAM_VM_GENERATION_ID_ADDR = 34;
/** XEN_ALTP2M_* */
export const HVM_PARAM_ALTP2M = 35;
export const HVM_PARAM_X87_FIP_WIDTH = 36;
export const HVM_PARAM_VM86_TSS_SIZED = 37;
/** XEN_HVM_MCA_CAP_* */
export const HVM_PARAM_MCA_CAP = 38;
export const HVM_NR_PARAMS = 39;

export const _HVMPV_base_freq = 0;
export const HVMPV_base_freq = 1 << _HVMPV_base_freq;
export const _HVMPV_no_freq = 1;
export const HVMPV_no_freq = 1 << _HVMPV_no_freq;
export const _HVMPV_time_ref_count = 2;
export const HVMPV_time_ref_count = 1 << _HVMPV_time_ref_count;
export const _HVMPV_reference_tsc = 3;
export const HVMPV_reference_tsc = 1 << _HVMPV_reference_tsc;
export const _HVMPV_hcall_remote_tlb_flush = 4;
export const HVMPV_hcall_remote_tlb_flush = 1 << _HVMPV_hcall_remote_tlb_flush;
export const _HVMPV_apic_assist = 5;
export const HVMPV_apic_assist = 1 << _HVMPV_apic_assist;
export const _HVMPV_crash_ctl = 6;
export const HVMPV_crash_ctl = 1 << _HVMPV_crash_ctl;
export const _HVMPV_synic = 7;
export const HVMPV_synic = 1 << _HVMPV_synic;
export const _HVMPV_stimer = 8;
export const HVMPV_stimer = 1 << _HVMPV_stimer;
export const _HVMPV_hcall_ipi = 9;
export const HVMPV_hcall_ipi = 1 << _HVMPV_hcall_ipi;
export const _HVMPV_ex_processor_masks = 10;
export const HVMPV_ex_processor_masks = 1 << _HVMPV_ex_processor_masks;
export const _HVMPV_no_vp_limit = 11;
export const HVMPV_no_vp_limit = 1 << _HVMPV_no_vp_limit;
export const _HVMPV_cpu_hotplug = 12;
export const HVMPV_cpu_hotplug = 1 << _HVMPV_cpu_hotplug;
export const HVMPV_feature_mask = (1 << 13) - 1;

export const HVMPTM_delay_for_missed_ticks = 0;
export const HVMPTM_no_delay_for_missed_ticks = 1;
export const HVMPTM_no_missed_ticks_pending = 2;
export const HVMPTM_one_missed_tick_pending = 3;

export const XEN_ALTP2M_disabled = 0;
export const XEN_ALTP2M_mixed = 1;
export const XEN_ALTP2M_external = 2;
export const XEN_ALTP2M_limited = 3;

export const XEN_HVM_MCA_CAP_LMCE = 1;
export const XEN_HVM_MCA_CAP_MASK = XEN_HVM_MCA_CAP_LMCE;

// ---------------------------------------------------------------------------------------
// PVH start of day: %ebx points at an hvm_start_info on entry.

/** "xEn3" with the 0x80 bit of the "E" set. */
export const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;

export const XEN_HVM_MEMMAP_TYPE_RAM = 1;
export const XEN_HVM_MEMMAP_TYPE_RESERVED = 2;
export const XEN_HVM_MEMMAP_TYPE_ACPI = 3;
export const XEN_HVM_MEMMAP_TYPE_NVS = 4;
export const XEN_HVM_MEMMAP_TYPE_UNUSABLE = 5;
export const XEN_HVM_MEMMAP_TYPE_DISABLED = 6;
export const XEN_HVM_MEMMAP_TYPE_PMEM = 7;

/** Version 1 of hvm_start_info (with the memory map fields). */
export const hvm_start_info = struct('hvm_start_info', {
  /** XEN_HVM_START_MAGIC_VALUE */
  magic: u32,
  /** 0 or 1; version 0 ends after rsdp_paddr. */
  version: u32,
  /** SIF_* */
  flags: u32,
  nr_modules: u32,
  /** Physical address of nr_modules hvm_modlist_entry records. */
  modlist_paddr: u64,
  /** Physical address of the NUL-terminated command line. */
  cmdline_paddr: u64,
  /** Physical address of the ACPI RSDP. */
  rsdp_paddr: u64,
  /** Physical address of memmap_entries hvm_memmap_table_entry records. */
  memmap_paddr: u64,
  memmap_entries: u32,
  /** Must be zero. */
  reserved: u32,
});

export const hvm_modlist_entry = struct('hvm_modlist_entry', {
  paddr: u64,
  size: u64,
  cmdline_paddr: u64,
  reserved: u64,
});

export const hvm_memmap_table_entry = struct('hvm_memmap_table_entry', {
  addr: u64,
  size: u64,
  /** XEN_HVM_MEMMAP_TYPE_* (the e820 types) */
  type: u32,
  /** Must be zero. */
  reserved: u32,
});
