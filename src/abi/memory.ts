/**
 * Memory reservation and physmap operations (xen/include/public/memory.h):
 * HYPERVISOR_memory_op's commands, their argument structs and the XENMAPSPACE_* sources,
 * plus the e820 entry XENMEM_memory_map returns.
 */

import { anonUnion, struct, u8, u16, u32, u64, union } from './layout.js';
import { physdev_pci_device } from './physdev.js';

export const XENMEM_increase_reservation = 0;
export const XENMEM_decrease_reservation = 1;
export const XENMEM_maximum_ram_page = 2;
export const XENMEM_current_reservation = 3;
export const XENMEM_maximum_reservation = 4;
export const XENMEM_machphys_mfn_list = 5;
export const XENMEM_populate_physmap = 6;
export const XENMEM_add_to_physmap = 7;
// 8 was XENMEM_translate_gpfn_list (removed).
export const XENMEM_memory_map = 9;
export const XENMEM_machine_memory_map = 10;
export const XENMEM_exchange = 11;
export const XENMEM_machphys_mapping = 12;
export const XENMEM_set_memory_map = 13;
export const XENMEM_maximum_gpfn = 14;
export const XENMEM_remove_from_physmap = 15;
export const XENMEM_set_pod_target = 16;
export const XENMEM_get_pod_target = 17;
export const XENMEM_get_sharing_freed_pages = 18;
export const XENMEM_get_sharing_shared_pages = 19;
export const XENMEM_paging_op = 20;
export const XENMEM_access_op = 21;
export const XENMEM_sharing_op = 22;
export const XENMEM_add_to_physmap_batch = 23;
export const XENMEM_claim_pages = 24;
export const XENMEM_machphys_compat_mfn_list = 25;
export const XENMEM_get_vnumainfo = 26;
export const XENMEM_reserved_device_memory_map = 27;
export const XENMEM_acquire_resource = 28;

// mem_flags of xen_memory_reservation: bits 7:0 address bits, 15:8 NUMA node + 1.
export const XENMEMF_populate_on_demand = 1 << 16;
export const XENMEMF_exact_node_request = 1 << 17;
export const XENMEMF_vnode = 1 << 18;

/** XENMEMF_address_bits(bits): restrict the allocation below 2^bits. */
export function XENMEMF_address_bits(bits: number): number {
  return bits;
}
export function XENMEMF_get_address_bits(flags: number): number {
  return flags & 0xff;
}
/** XENMEMF_node(node): allocate from this NUMA node. */
export function XENMEMF_node(node: number): number {
  return (node + 1) << 8;
}
export function XENMEMF_get_node(flags: number): number {
  return ((flags >>> 8) - 1) & 0xff;
}

/** increase_reservation, decrease_reservation, populate_physmap, claim_pages. */
export const xen_memory_reservation = struct('xen_memory_reservation', {
  /** Guest handle of an xen_pfn_t array of extent bases (IN and/or OUT by command). */
  extent_start: u64,
  nr_extents: u64,
  /** Each extent is 2^extent_order pages. */
  extent_order: u32,
  /** XENMEMF_* */
  mem_flags: u32,
  domid: u16,
});

export const xen_memory_exchange = struct('xen_memory_exchange', {
  in: xen_memory_reservation,
  out: xen_memory_reservation,
  /** OUT; must be zero on entry. */
  nr_exchanged: u64,
});

/** Argument of maximum_ram_page … maximum_gpfn: just a domain id (pointer to domid_t). */
export const xen_memory_domain = struct('xen_memory_domain', { domid: u16 });

export const xen_machphys_mfn_list = struct('xen_machphys_mfn_list', {
  max_extents: u32,
  extent_start: u64,
  /** OUT */
  nr_extents: u32,
});

export const xen_machphys_mapping = struct('xen_machphys_mapping', {
  v_start: u64,
  v_end: u64,
  max_mfn: u64,
});

export const XENMAPSPACE_shared_info = 0;
export const XENMAPSPACE_grant_table = 1;
export const XENMAPSPACE_gmfn = 2;
/** add_to_physmap only. */
export const XENMAPSPACE_gmfn_range = 3;
/** add_to_physmap_batch only. */
export const XENMAPSPACE_gmfn_foreign = 4;
/** Arm only. */
export const XENMAPSPACE_dev_mmio = 5;
/** With XENMAPSPACE_grant_table: map status frame idx rather than shared frame idx. */
export const XENMAPIDX_grant_table_status = 0x80000000;

export const xen_add_to_physmap = struct('xen_add_to_physmap', {
  domid: u16,
  /** Pages, for XENMAPSPACE_gmfn_range. */
  size: u16,
  /** XENMAPSPACE_* */
  space: u32,
  idx: u64,
  /** Where the page appears in domid's physmap. */
  gpfn: u64,
});

export const xen_add_to_physmap_batch_extra = union('xen_add_to_physmap_batch_extra', {
  /** XENMAPSPACE_gmfn_foreign */
  foreign_domid: u16,
  /** Other spaces: zero. */
  res0: u16,
});

export const xen_add_to_physmap_batch = struct('xen_add_to_physmap_batch', {
  domid: u16,
  space: u16,
  size: u16,
  u: xen_add_to_physmap_batch_extra,
  /** Guest handles: xen_ulong_t idxs[size], xen_pfn_t gpfns[size], int errs[size] (OUT). */
  idxs: u64,
  gpfns: u64,
  errs: u64,
});

export const xen_remove_from_physmap = struct('xen_remove_from_physmap', {
  domid: u16,
  gpfn: u64,
});

/** memory_map, machine_memory_map: a buffer of e820entry records. */
export const xen_memory_map = struct('xen_memory_map', {
  /** IN: capacity of buffer; OUT: entries stored. */
  nr_entries: u32,
  /** Guest handle of the buffer. */
  buffer: u64,
});

export const xen_foreign_memory_map = struct('xen_foreign_memory_map', {
  domid: u16,
  map: xen_memory_map,
});

export const xen_pod_target = struct('xen_pod_target', {
  target_pages: u64,
  /** OUT */
  tot_pages: u64,
  /** OUT */
  pod_cache_pages: u64,
  /** OUT */
  pod_entries: u64,
  domid: u16,
});

export const XENMEM_resource_ioreq_server = 0;
export const XENMEM_resource_grant_table = 1;
export const XENMEM_resource_vmtrace_buf = 2;
export const XENMEM_resource_grant_table_id_shared = 0;
export const XENMEM_resource_grant_table_id_status = 1;
export const XENMEM_resource_ioreq_server_frame_bufioreq = 0;

/** Map a resource of another domain (grant table, ioreq pages …) into the caller. */
export const xen_mem_acquire_resource = struct('xen_mem_acquire_resource', {
  domid: u16,
  /** XENMEM_resource_* */
  type: u16,
  id: u32,
  /** IN/OUT */
  nr_frames: u32,
  pad: u32,
  frame: u64,
  /** Guest handle of an xen_pfn_t array. */
  frame_list: u64,
});

/** XENMEM_access_op: get or set a domain's p2m access rights (vm_event users). */
export const xen_mem_access_op = struct('xen_mem_access_op', {
  /** XENMEM_access_op_* */
  op: u8,
  /** xenmem_access_t */
  access: u8,
  domid: u16,
  nr: u32,
  /** ~0 for the default access. */
  pfn: u64,
  /** Guest handles: uint64_t pfn_list[nr], uint8_t access_list[nr]. */
  pfn_list: u64,
  access_list: u64,
});

/** Request all reserved regions (ignore dev). */
export const XENMEM_RDM_ALL = 1;

/** XENMEM_reserved_device_memory_map: RMRR-like regions of assigned devices. */
export const xen_reserved_device_memory_map = struct('xen_reserved_device_memory_map', {
  /** XENMEM_RDM_* */
  flags: u32,
  /** IN: capacity of buffer; OUT: entries needed. */
  nr_entries: u32,
  /** Guest handle of xen_reserved_device_memory entries. */
  buffer: u64,
  dev: anonUnion({ pci: physdev_pci_device }),
});

/** XENMEM_get_vnumainfo: the domain's virtual NUMA topology. */
export const xen_vnuma_topology_info = struct('xen_vnuma_topology_info', {
  domid: u16,
  /** Must be zero. */
  pad: u16,
  /** IN: capacities; OUT: the domain's counts. */
  nr_vnodes: u32,
  nr_vcpus: u32,
  nr_vmemranges: u32,
  /** Guest handles (each a union with a u64 pad). */
  vdistance: anonUnion({ h: u64, pad: u64 }),
  vcpu_to_vnode: anonUnion({ h: u64, pad: u64 }),
  vmemrange: anonUnion({ h: u64, pad: u64 }),
});

/**
 * An entry of the memory map, as BIOS INT 15h E820h returns it: 20 bytes, packed. Xen's
 * public headers only say "the same format as ... E820"; the type values are those of
 * XEN_HVM_MEMMAP_TYPE_* (hvm.ts).
 */
export const e820entry = struct(
  'e820entry',
  {
    addr: u64,
    size: u64,
    type: u32,
  },
  { packed: true },
);

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;
export const E820_UNUSABLE = 5;
