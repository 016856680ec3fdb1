/**
 * Domain control (xen/include/public/domctl.h): the toolstack's HYPERVISOR_domctl.
 * Every call is one `xen_domctl` record: command, interface version, target domain and
 * a per-command payload. Only the payloads the toolstack needs first are laid out here.
 * The PV vCPU context (vcpu_guest_context) is in xen.ts.
 */

import { anonUnion, array, bytes, i32, i64, struct, u8, u16, u32, u64 } from './layout.js';
import { xen_arch_domainconfig } from './xen.js';

/** Xen 4.17's domctl interface version; a mismatch gets -EACCES. */
export const XEN_DOMCTL_INTERFACE_VERSION = 0x00000015;

export const XEN_DOMCTL_createdomain = 1;
export const XEN_DOMCTL_destroydomain = 2;
export const XEN_DOMCTL_pausedomain = 3;
export const XEN_DOMCTL_unpausedomain = 4;
export const XEN_DOMCTL_getdomaininfo = 5;
// 6-8 removed or obsolete.
export const XEN_DOMCTL_setvcpuaffinity = 9;
export const XEN_DOMCTL_shadow_op = 10;
export const XEN_DOMCTL_max_mem = 11;
export const XEN_DOMCTL_setvcpucontext = 12;
export const XEN_DOMCTL_getvcpucontext = 13;
export const XEN_DOMCTL_getvcpuinfo = 14;
export const XEN_DOMCTL_max_vcpus = 15;
export const XEN_DOMCTL_scheduler_op = 16;
export const XEN_DOMCTL_setdomainhandle = 17;
export const XEN_DOMCTL_setdebugging = 18;
export const XEN_DOMCTL_irq_permission = 19;
export const XEN_DOMCTL_iomem_permission = 20;
export const XEN_DOMCTL_ioport_permission = 21;
export const XEN_DOMCTL_hypercall_init = 22;
// 23 is XEN_DOMCTL_soft_reset_cont, internal to Xen.
export const XEN_DOMCTL_settimeoffset = 24;
export const XEN_DOMCTL_getvcpuaffinity = 25;
/** Obsolete (PPC only). */
export const XEN_DOMCTL_real_mode_area = 26;
export const XEN_DOMCTL_resumedomain = 27;
export const XEN_DOMCTL_sendtrigger = 28;
export const XEN_DOMCTL_subscribe = 29;
export const XEN_DOMCTL_gethvmcontext = 33;
export const XEN_DOMCTL_sethvmcontext = 34;
export const XEN_DOMCTL_set_address_size = 35;
export const XEN_DOMCTL_get_address_size = 36;
export const XEN_DOMCTL_assign_device = 37;
export const XEN_DOMCTL_bind_pt_irq = 38;
export const XEN_DOMCTL_memory_mapping = 39;
export const XEN_DOMCTL_ioport_mapping = 40;
export const XEN_DOMCTL_set_ext_vcpucontext = 42;
export const XEN_DOMCTL_get_ext_vcpucontext = 43;
/** Obsolete (IA64 only). */
export const XEN_DOMCTL_set_opt_feature = 44;
export const XEN_DOMCTL_test_assign_device = 45;
export const XEN_DOMCTL_set_target = 46;
export const XEN_DOMCTL_deassign_device = 47;
export const XEN_DOMCTL_unbind_pt_irq = 48;
export const XEN_DOMCTL_get_device_group = 50;
export const XEN_DOMCTL_debug_op = 54;
export const XEN_DOMCTL_gethvmcontext_partial = 55;
export const XEN_DOMCTL_vm_event_op = 56;
export const XEN_DOMCTL_mem_sharing_op = 57;
export const XEN_DOMCTL_gettscinfo = 59;
export const XEN_DOMCTL_settscinfo = 60;
export const XEN_DOMCTL_getpageframeinfo3 = 61;
export const XEN_DOMCTL_setvcpuextstate = 62;
export const XEN_DOMCTL_getvcpuextstate = 63;
export const XEN_DOMCTL_set_access_required = 64;
export const XEN_DOMCTL_audit_p2m = 65;
export const XEN_DOMCTL_set_virq_handler = 66;
export const XEN_DOMCTL_set_broken_page_p2m = 67;
export const XEN_DOMCTL_setnodeaffinity = 68;
export const XEN_DOMCTL_getnodeaffinity = 69;
export const XEN_DOMCTL_cacheflush = 71;
export const XEN_DOMCTL_get_vcpu_msrs = 72;
export const XEN_DOMCTL_set_vcpu_msrs = 73;
export const XEN_DOMCTL_setvnumainfo = 74;
export const XEN_DOMCTL_psr_cmt_op = 75;
export const XEN_DOMCTL_monitor_op = 77;
export const XEN_DOMCTL_psr_alloc = 78;
export const XEN_DOMCTL_soft_reset = 79;
export const XEN_DOMCTL_vuart_op = 81;
export const XEN_DOMCTL_get_cpu_policy = 82;
export const XEN_DOMCTL_set_cpu_policy = 83;
export const XEN_DOMCTL_vmtrace_op = 84;
export const XEN_DOMCTL_get_paging_mempool_size = 85;
export const XEN_DOMCTL_set_paging_mempool_size = 86;
export const XEN_DOMCTL_gdbsx_guestmemio = 1000;
export const XEN_DOMCTL_gdbsx_pausevcpu = 1001;
export const XEN_DOMCTL_gdbsx_unpausevcpu = 1002;
export const XEN_DOMCTL_gdbsx_domstatus = 1003;

// XEN_DOMCTL_vmtrace_op sub-commands.
export const XEN_DOMCTL_vmtrace_enable = 1;
export const XEN_DOMCTL_vmtrace_disable = 2;
export const XEN_DOMCTL_vmtrace_reset_and_enable = 3;
export const XEN_DOMCTL_vmtrace_output_position = 4;
export const XEN_DOMCTL_vmtrace_get_option = 5;
export const XEN_DOMCTL_vmtrace_set_option = 6;

// ---------------------------------------------------------------------------------------
// XEN_DOMCTL_createdomain

export const _XEN_DOMCTL_CDF_hvm = 0;
/** An HVM (or PVH) guest rather than PV. */
export const XEN_DOMCTL_CDF_hvm = 1 << _XEN_DOMCTL_CDF_hvm;
export const _XEN_DOMCTL_CDF_hap = 1;
/** Use hardware-assisted paging. */
export const XEN_DOMCTL_CDF_hap = 1 << _XEN_DOMCTL_CDF_hap;
export const _XEN_DOMCTL_CDF_s3_integrity = 2;
export const XEN_DOMCTL_CDF_s3_integrity = 1 << _XEN_DOMCTL_CDF_s3_integrity;
export const _XEN_DOMCTL_CDF_oos_off = 3;
export const XEN_DOMCTL_CDF_oos_off = 1 << _XEN_DOMCTL_CDF_oos_off;
export const _XEN_DOMCTL_CDF_xs_domain = 4;
/** The domain runs xenstored. */
export const XEN_DOMCTL_CDF_xs_domain = 1 << _XEN_DOMCTL_CDF_xs_domain;
export const _XEN_DOMCTL_CDF_iommu = 5;
export const XEN_DOMCTL_CDF_iommu = 1 << _XEN_DOMCTL_CDF_iommu;
export const _XEN_DOMCTL_CDF_nested_virt = 6;
export const XEN_DOMCTL_CDF_nested_virt = 1 << _XEN_DOMCTL_CDF_nested_virt;
export const XEN_DOMCTL_CDF_vpmu = 1 << 7;
export const XEN_DOMCTL_CDF_MAX = XEN_DOMCTL_CDF_vpmu;

export const _XEN_DOMCTL_IOMMU_no_sharept = 0;
export const XEN_DOMCTL_IOMMU_no_sharept = 1 << _XEN_DOMCTL_IOMMU_no_sharept;
export const XEN_DOMCTL_IOMMU_MAX = XEN_DOMCTL_IOMMU_no_sharept;

/** Low 4 bits of grant_opts: the maximum grant table version. */
export const XEN_DOMCTL_GRANT_version_mask = 0xf;

export const xen_domctl_createdomain = struct('xen_domctl_createdomain', {
  ssidref: u32,
  /** The domain's UUID (xen_domain_handle_t). */
  handle: bytes(16),
  /** XEN_DOMCTL_CDF_* */
  flags: u32,
  /** XEN_DOMCTL_IOMMU_* */
  iommu_opts: u32,
  max_vcpus: u32,
  max_evtchn_port: u32,
  /** Negative: the hypervisor's default. */
  max_grant_frames: i32,
  /** Negative: the hypervisor's default. */
  max_maptrack_frames: i32,
  grant_opts: u32,
  /** Per-vCPU trace buffer bytes, 0 to disable. */
  vmtrace_size: u32,
  cpupool_id: u32,
  arch: xen_arch_domainconfig,
});

// ---------------------------------------------------------------------------------------
// XEN_DOMCTL_getdomaininfo (and XEN_SYSCTL_getdomaininfolist)

export const _XEN_DOMINF_dying = 0;
export const XEN_DOMINF_dying = 1 << _XEN_DOMINF_dying;
export const _XEN_DOMINF_hvm_guest = 1;
export const XEN_DOMINF_hvm_guest = 1 << _XEN_DOMINF_hvm_guest;
export const _XEN_DOMINF_shutdown = 2;
export const XEN_DOMINF_shutdown = 1 << _XEN_DOMINF_shutdown;
export const _XEN_DOMINF_paused = 3;
export const XEN_DOMINF_paused = 1 << _XEN_DOMINF_paused;
export const _XEN_DOMINF_blocked = 4;
export const XEN_DOMINF_blocked = 1 << _XEN_DOMINF_blocked;
export const _XEN_DOMINF_running = 5;
export const XEN_DOMINF_running = 1 << _XEN_DOMINF_running;
export const _XEN_DOMINF_debugged = 6;
export const XEN_DOMINF_debugged = 1 << _XEN_DOMINF_debugged;
export const _XEN_DOMINF_xs_domain = 7;
export const XEN_DOMINF_xs_domain = 1 << _XEN_DOMINF_xs_domain;
export const _XEN_DOMINF_hap = 8;
export const XEN_DOMINF_hap = 1 << _XEN_DOMINF_hap;
/** The guest's shutdown code (SHUTDOWN_*) is in flags bits 23:16. */
export const XEN_DOMINF_shutdownmask = 255;
export const XEN_DOMINF_shutdownshift = 16;

/** max_vcpu_id of a domain with no vCPUs. */
export const XEN_INVALID_MAX_VCPU_ID = 0xffffffff;

export const xen_domctl_getdomaininfo = struct('xen_domctl_getdomaininfo', {
  domain: u16,
  pad1: u16,
  /** XEN_DOMINF_* */
  flags: u32,
  tot_pages: u64,
  max_pages: u64,
  outstanding_pages: u64,
  shr_pages: u64,
  paged_pages: u64,
  /** GMFN of the shared_info page. */
  shared_info_frame: u64,
  /** ns of CPU time used. */
  cpu_time: u64,
  nr_online_vcpus: u32,
  max_vcpu_id: u32,
  ssidref: u32,
  handle: bytes(16),
  cpupool: u32,
  gpaddr_bits: u8,
  pad2: array(u8, 7),
  arch_config: xen_arch_domainconfig,
});

// ---------------------------------------------------------------------------------------
// Small payloads

export const xen_domctl_max_mem = struct('xen_domctl_max_mem', { max_memkb: u64 });

/** XEN_DOMCTL_{set,get}vcpucontext: ctxt is a handle to a vcpu_guest_context (xen.ts). */
export const xen_domctl_vcpucontext = struct('xen_domctl_vcpucontext', {
  vcpu: u32,
  ctxt: u64,
});

export const xen_domctl_max_vcpus = struct('xen_domctl_max_vcpus', { max: u32 });

/** XEN_DOMCTL_{set,get}_address_size: 32 or 64 (PV guests). */
export const xen_domctl_address_size = struct('xen_domctl_address_size', { size: u32 });

/** XEN_DOMCTL_getvcpuinfo: `vcpu` in, the rest out. */
export const xen_domctl_getvcpuinfo = struct('xen_domctl_getvcpuinfo', {
  vcpu: u32,
  /** Online (not hot-unplugged). */
  online: u8,
  /** Blocked waiting for an event. */
  blocked: u8,
  /** Scheduled on a physical CPU now. */
  running: u8,
  /** ns of CPU time used. */
  cpu_time: u64,
  /** The physical CPU it runs on. */
  cpu: u32,
});

/** XEN_DOMCTL_setdomainhandle: the domain's new UUID. */
export const xen_domctl_setdomainhandle = struct('xen_domctl_setdomainhandle', {
  handle: bytes(16),
});

/** XEN_DOMCTL_settimeoffset: seconds added to the domain's wallclock. */
export const xen_domctl_settimeoffset = struct('xen_domctl_settimeoffset', {
  time_offset_seconds: i64,
});

/** XEN_DOMCTL_set_virq_handler: the domain becomes the handler of global `virq`. */
export const xen_domctl_set_virq_handler = struct('xen_domctl_set_virq_handler', { virq: u32 });

/**
 * XEN_DOMCTL_{get,set}hvmcontext: a buffer of HVM save records (hvm-save.ts). Get with a
 * null buffer answers the size needed; otherwise `size` is the buffer's size in and the
 * bytes written out.
 */
export const xen_domctl_hvmcontext = struct('xen_domctl_hvmcontext', {
  size: u32,
  /** XEN_GUEST_HANDLE_64(uint8) */
  buffer: u64,
});

/** XEN_DOMCTL_gethvmcontext_partial: the body of one record, without its descriptor. */
export const xen_domctl_hvmcontext_partial = struct('xen_domctl_hvmcontext_partial', {
  /** HVM_SAVE_CODE(...) */
  type: u32,
  /** The vCPU, for per-vCPU records. */
  instance: u32,
  /** IN: the buffer's size; OUT: the record's length. */
  bufsz: u64,
  /** XEN_GUEST_HANDLE_64(uint8); null asks only for the length. */
  buffer: u64,
});

/**
 * The domctl record. destroydomain, pausedomain and unpausedomain take no payload: the
 * target is `domain`.
 */
export const xen_domctl = struct('xen_domctl', {
  /** XEN_DOMCTL_* */
  cmd: u32,
  /** XEN_DOMCTL_INTERFACE_VERSION */
  interface_version: u32,
  domain: u16,
  _pad: array(u16, 3),
  u: anonUnion({
    createdomain: xen_domctl_createdomain,
    getdomaininfo: xen_domctl_getdomaininfo,
    max_mem: xen_domctl_max_mem,
    vcpucontext: xen_domctl_vcpucontext,
    max_vcpus: xen_domctl_max_vcpus,
    address_size: xen_domctl_address_size,
    getvcpuinfo: xen_domctl_getvcpuinfo,
    setdomainhandle: xen_domctl_setdomainhandle,
    settimeoffset: xen_domctl_settimeoffset,
    set_virq_handler: xen_domctl_set_virq_handler,
    hvmcontext: xen_domctl_hvmcontext,
    hvmcontext_partial: xen_domctl_hvmcontext_partial,
    pad: bytes(128),
  }),
});
