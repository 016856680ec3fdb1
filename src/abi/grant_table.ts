/**
 * Grant tables (xen/include/public/grant_table.h): the v1 and v2 grant entries a guest
 * writes into its table, the GTF_* flags, HYPERVISOR_grant_table_op's commands with
 * their argument structs, the GNTMAP_* mapping flags and the GNTST_* status codes.
 * References are `grant_ref_t` (uint32_t), map handles `grant_handle_t` (uint32_t).
 */

import { anonStruct, anonUnion, array, i16, struct, u16, u32, u64, union } from './layout.js';

// ---------------------------------------------------------------------------------------
// The table

/** A v1 grant entry: 8 bytes, flags last written by the granter. */
export const grant_entry_v1 = struct('grant_entry_v1', {
  /** GTF_* */
  flags: u16,
  /** The domain being granted access. */
  domid: u16,
  /** The frame (GFN) being granted, or the MFN transferred (GTF_transfer_completed). */
  frame: u32,
});

/** Entries kept across a grant table reset, for the toolstack's use. */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
/** Reserved entry granting the console ring to the backend. */
export const GNTTAB_RESERVED_CONSOLE = 0;
/** Reserved entry granting the xenstore ring to xenstored. */
export const GNTTAB_RESERVED_XENSTORE = 1;

// Type of an entry (bits 1:0 of flags).
export const GTF_invalid = 0;
export const GTF_permit_access = 1;
export const GTF_accept_transfer = 2;
export const GTF_transitive = 3;
export const GTF_type_mask = 3;

// Subflags of GTF_permit_access.
export const _GTF_readonly = 2;
export const GTF_readonly = 1 << _GTF_readonly;
/** Set by Xen while the grant is mapped or copied for reading. */
export const _GTF_reading = 3;
export const GTF_reading = 1 << _GTF_reading;
/** Set by Xen while the grant is mapped or copied for writing. */
export const _GTF_writing = 4;
export const GTF_writing = 1 << _GTF_writing;
export const _GTF_PWT = 5;
export const GTF_PWT = 1 << _GTF_PWT;
export const _GTF_PCD = 6;
export const GTF_PCD = 1 << _GTF_PCD;
export const _GTF_PAT = 7;
export const GTF_PAT = 1 << _GTF_PAT;
/** v2 only: the grant covers part of a page. */
export const _GTF_sub_page = 8;
export const GTF_sub_page = 1 << _GTF_sub_page;

// Subflags of GTF_accept_transfer.
export const _GTF_transfer_committed = 2;
export const GTF_transfer_committed = 1 << _GTF_transfer_committed;
export const _GTF_transfer_completed = 3;
export const GTF_transfer_completed = 1 << _GTF_transfer_completed;

/** The part common to every v2 entry. */
export const grant_entry_header = struct('grant_entry_header', {
  flags: u16,
  domid: u16,
});

/** A v2 grant entry: 16 bytes; its status lives apart, in the status frames (grant_status_t). */
export const grant_entry_v2 = union('grant_entry_v2', {
  hdr: grant_entry_header,
  /** Whole-page grant, or GTF_accept_transfer. */
  full_page: anonStruct({ hdr: grant_entry_header, pad0: u32, frame: u64 }),
  /** GTF_permit_access with GTF_sub_page: bytes [page_off, page_off + length) of frame. */
  sub_page: anonStruct({ hdr: grant_entry_header, page_off: u16, length: u16, frame: u64 }),
  /** GTF_transitive: use grant `gref` of `trans_domid` as if it were local. */
  transitive: anonStruct({ hdr: grant_entry_header, trans_domid: u16, pad0: u16, gref: u32 }),
  __spacer: array(u32, 4),
});

// ---------------------------------------------------------------------------------------
// HYPERVISOR_grant_table_op(cmd, args, count)

export const GNTTABOP_map_grant_ref = 0;
export const GNTTABOP_unmap_grant_ref = 1;
export const GNTTABOP_setup_table = 2;
export const GNTTABOP_dump_table = 3;
export const GNTTABOP_transfer = 4;
export const GNTTABOP_copy = 5;
export const GNTTABOP_query_size = 6;
export const GNTTABOP_unmap_and_replace = 7;
export const GNTTABOP_set_version = 8;
export const GNTTABOP_get_status_frames = 9;
export const GNTTABOP_get_version = 10;
export const GNTTABOP_swap_grant_ref = 11;
export const GNTTABOP_cache_flush = 12;

export const gnttab_map_grant_ref = struct('gnttab_map_grant_ref', {
  /** Virtual address, or with GNTMAP_contains_pte the machine address of the PTE. */
  host_addr: u64,
  /** GNTMAP_* */
  flags: u32,
  ref: u32,
  dom: u16,
  /** OUT: GNTST_* */
  status: i16,
  /** OUT */
  handle: u32,
  /** OUT: address for GNTMAP_device_map */
  dev_bus_addr: u64,
});

export const gnttab_unmap_grant_ref = struct('gnttab_unmap_grant_ref', {
  host_addr: u64,
  dev_bus_addr: u64,
  handle: u32,
  /** OUT: GNTST_* */
  status: i16,
});

/** Get (PV) the frames of the caller's grant table, growing it to nr_frames. */
export const gnttab_setup_table = struct('gnttab_setup_table', {
  dom: u16,
  nr_frames: u32,
  /** OUT: GNTST_* */
  status: i16,
  /** Guest handle of an xen_pfn_t array. */
  frame_list: u64,
});

export const gnttab_dump_table = struct('gnttab_dump_table', {
  dom: u16,
  /** OUT: GNTST_* */
  status: i16,
});

export const gnttab_transfer = struct('gnttab_transfer', {
  mfn: u64,
  domid: u16,
  ref: u32,
  /** OUT: GNTST_* */
  status: i16,
});

export const _GNTCOPY_source_gref = 0;
export const GNTCOPY_source_gref = 1 << _GNTCOPY_source_gref;
export const _GNTCOPY_dest_gref = 1;
export const GNTCOPY_dest_gref = 1 << _GNTCOPY_dest_gref;

/** One side of a GNTTABOP_copy: a grant reference or a frame, plus an offset in it. */
export const gnttab_copy_ptr = struct('gnttab_copy_ptr', {
  u: anonUnion({ ref: u32, gmfn: u64 }),
  domid: u16,
  offset: u16,
});

export const gnttab_copy = struct('gnttab_copy', {
  source: gnttab_copy_ptr,
  dest: gnttab_copy_ptr,
  len: u16,
  /** GNTCOPY_* */
  flags: u16,
  /** OUT: GNTST_* */
  status: i16,
});

export const gnttab_query_size = struct('gnttab_query_size', {
  dom: u16,
  /** OUT */
  nr_frames: u32,
  /** OUT */
  max_nr_frames: u32,
  /** OUT: GNTST_* */
  status: i16,
});

export const gnttab_unmap_and_replace = struct('gnttab_unmap_and_replace', {
  host_addr: u64,
  new_addr: u64,
  handle: u32,
  /** OUT: GNTST_* */
  status: i16,
});

export const gnttab_set_version = struct('gnttab_set_version', {
  /** IN/OUT: 1 or 2 */
  version: u32,
});

export const gnttab_get_status_frames = struct('gnttab_get_status_frames', {
  nr_frames: u32,
  dom: u16,
  /** OUT: GNTST_* */
  status: i16,
  /** Guest handle of a uint64_t array. */
  frame_list: u64,
});

export const gnttab_get_version = struct('gnttab_get_version', {
  dom: u16,
  pad: u16,
  /** OUT */
  version: u32,
});

export const gnttab_swap_grant_ref = struct('gnttab_swap_grant_ref', {
  ref_a: u32,
  ref_b: u32,
  /** OUT: GNTST_* */
  status: i16,
});

export const GNTTAB_CACHE_CLEAN = 1 << 0;
export const GNTTAB_CACHE_INVAL = 1 << 1;
/** `a` holds a grant reference rather than a device bus address. */
export const GNTTAB_CACHE_SOURCE_GREF = 0x80000000;

export const gnttab_cache_flush = struct('gnttab_cache_flush', {
  a: anonUnion({ dev_bus_addr: u64, ref: u32 }),
  /** Offset from the start of the grant. */
  offset: u16,
  /** Bytes within the grant. */
  length: u16,
  /** GNTTAB_CACHE_* */
  op: u32,
});

// ---------------------------------------------------------------------------------------
// GNTMAP_* flags of map_grant_ref

/** Map for access by I/O devices. */
export const _GNTMAP_device_map = 0;
export const GNTMAP_device_map = 1 << _GNTMAP_device_map;
/** Map for access by host CPUs. */
export const _GNTMAP_host_map = 1;
export const GNTMAP_host_map = 1 << _GNTMAP_host_map;
export const _GNTMAP_readonly = 2;
export const GNTMAP_readonly = 1 << _GNTMAP_readonly;
/** With host_map: the mapping is usable by user space too. */
export const _GNTMAP_application_map = 3;
export const GNTMAP_application_map = 1 << _GNTMAP_application_map;
/** host_addr is the machine address of the PTE to update. */
export const _GNTMAP_contains_pte = 4;
export const GNTMAP_contains_pte = 1 << _GNTMAP_contains_pte;
/** Bits 16 and up are copied into the PTE's software-available bits. */
export const _GNTMAP_guest_avail0 = 16;
export const GNTMAP_guest_avail_mask = 0xffff0000;

// ---------------------------------------------------------------------------------------
// GNTST_* status codes (int16_t)

export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_bad_gntref = -3;
export const GNTST_bad_handle = -4;
export const GNTST_bad_virt_addr = -5;
export const GNTST_bad_dev_addr = -6;
export const GNTST_no_device_space = -7;
export const GNTST_permission_denied = -8;
export const GNTST_bad_page = -9;
export const GNTST_bad_copy_arg = -10;
export const GNTST_address_too_big = -11;
export const GNTST_eagain = -12;
export const GNTST_no_space = -13;

/** Xen's message for each status, indexed by -status. */
export const GNTTABOP_error_msgs: readonly string[] = [
  'okay',
  'undefined error',
  'unrecognised domain id',
  'invalid grant reference',
  'invalid mapping handle',
  'invalid virtual address',
  'invalid device address',
  'no spare translation slot in the I/O MMU',
  'permission denied',
  'bad page',
  'copy arguments cross page boundary',
  'page address size too large',
  'operation not done; try again',
  'out of space',
];
