/**
 * System control (xen/include/public/sysctl.h): the toolstack's HYPERVISOR_sysctl.
 * Every call is one `xen_sysctl` record: command, interface version and a per-command
 * payload. Only the payloads the toolstack needs first are laid out here.
 */

import { anonUnion, array, bytes, struct, u8, u16, u32, u64 } from './layout.js';

/** Xen 4.17's sysctl interface version; a mismatch gets -EACCES. */
export const XEN_SYSCTL_INTERFACE_VERSION = 0x00000015;

export const XEN_SYSCTL_readconsole = 1;
export const XEN_SYSCTL_tbuf_op = 2;
export const XEN_SYSCTL_physinfo = 3;
export const XEN_SYSCTL_sched_id = 4;
export const XEN_SYSCTL_perfc_op = 5;
export const XEN_SYSCTL_getdomaininfolist = 6;
export const XEN_SYSCTL_debug_keys = 7;
export const XEN_SYSCTL_getcpuinfo = 8;
export const XEN_SYSCTL_availheap = 9;
export const XEN_SYSCTL_get_pmstat = 10;
export const XEN_SYSCTL_cpu_hotplug = 11;
export const XEN_SYSCTL_pm_op = 12;
export const XEN_SYSCTL_page_offline_op = 14;
export const XEN_SYSCTL_lockprof_op = 15;
export const XEN_SYSCTL_cputopoinfo = 16;
export const XEN_SYSCTL_numainfo = 17;
export const XEN_SYSCTL_cpupool_op = 18;
export const XEN_SYSCTL_scheduler_op = 19;
export const XEN_SYSCTL_coverage_op = 20;
export const XEN_SYSCTL_psr_cmt_op = 21;
export const XEN_SYSCTL_pcitopoinfo = 22;
export const XEN_SYSCTL_psr_alloc = 23;
// 24 was tmem_op.
export const XEN_SYSCTL_get_cpu_levelling_caps = 25;
export const XEN_SYSCTL_get_cpu_featureset = 26;
export const XEN_SYSCTL_livepatch_op = 27;
// 28 was set_parameter.
export const XEN_SYSCTL_get_cpu_policy = 29;

/** Read (and optionally clear) Xen's console ring. */
export const xen_sysctl_readconsole = struct('xen_sysctl_readconsole', {
  /** Non-zero: clear after reading. */
  clear: u8,
  /** Non-zero: start at `index`. */
  incremental: u8,
  pad0: u8,
  pad1: u8,
  /** IN: start index (incremental); OUT: end index. */
  index: u32,
  /** Guest handle of the buffer. */
  buffer: u64,
  /** IN: buffer size; OUT: bytes written. */
  count: u32,
});

export const _XEN_SYSCTL_PHYSCAP_hvm = 0;
export const XEN_SYSCTL_PHYSCAP_hvm = 1 << _XEN_SYSCTL_PHYSCAP_hvm;
export const _XEN_SYSCTL_PHYSCAP_pv = 1;
export const XEN_SYSCTL_PHYSCAP_pv = 1 << _XEN_SYSCTL_PHYSCAP_pv;
export const _XEN_SYSCTL_PHYSCAP_directio = 2;
export const XEN_SYSCTL_PHYSCAP_directio = 1 << _XEN_SYSCTL_PHYSCAP_directio;
export const _XEN_SYSCTL_PHYSCAP_hap = 3;
export const XEN_SYSCTL_PHYSCAP_hap = 1 << _XEN_SYSCTL_PHYSCAP_hap;
export const _XEN_SYSCTL_PHYSCAP_shadow = 4;
export const XEN_SYSCTL_PHYSCAP_shadow = 1 << _XEN_SYSCTL_PHYSCAP_shadow;
export const _XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share = 5;
export const XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share = 1 << _XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share;
export const XEN_SYSCTL_PHYSCAP_vmtrace = 1 << 6;
export const XEN_SYSCTL_PHYSCAP_vpmu = 1 << 7;
export const XEN_SYSCTL_PHYSCAP_gnttab_v1 = 1 << 8;
export const XEN_SYSCTL_PHYSCAP_gnttab_v2 = 1 << 9;
export const XEN_SYSCTL_PHYSCAP_MAX = XEN_SYSCTL_PHYSCAP_gnttab_v2;

export const xen_sysctl_physinfo = struct('xen_sysctl_physinfo', {
  threads_per_core: u32,
  cores_per_socket: u32,
  /** CPUs online. */
  nr_cpus: u32,
  max_cpu_id: u32,
  nr_nodes: u32,
  max_node_id: u32,
  cpu_khz: u32,
  /** XEN_SYSCTL_PHYSCAP_* */
  capabilities: u32,
  arch_capabilities: u32,
  pad: u32,
  total_pages: u64,
  free_pages: u64,
  scrub_pages: u64,
  outstanding_pages: u64,
  max_mfn: u64,
  hw_cap: array(u32, 8),
});

export const xen_sysctl_getdomaininfolist = struct('xen_sysctl_getdomaininfolist', {
  first_domain: u16,
  max_domains: u32,
  /** Guest handle of an xen_domctl_getdomaininfo array (domctl.ts). */
  buffer: u64,
  /** OUT */
  num_domains: u32,
});

export const xen_sysctl = struct('xen_sysctl', {
  /** XEN_SYSCTL_* */
  cmd: u32,
  /** XEN_SYSCTL_INTERFACE_VERSION */
  interface_version: u32,
  u: anonUnion({
    readconsole: xen_sysctl_readconsole,
    physinfo: xen_sysctl_physinfo,
    getdomaininfolist: xen_sysctl_getdomaininfolist,
    pad: bytes(128),
  }),
});
