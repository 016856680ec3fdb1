/**
 * HYPERVISOR_xen_version (xen/include/public/version.h): its commands and the buffers
 * they fill. All return 0 on success except XENVER_version and XENVER_pagesize, which
 * return their answer. The feature bits of XENVER_get_features are in elfnote.ts.
 */

import { chars, flex, struct, u8, u32, u64 } from './layout.js';

/** arg NULL; returns major << 16 | minor. */
export const XENVER_version = 0;
/** arg: char[XEN_EXTRAVERSION_LEN], e.g. ".0" or "-rc". */
export const XENVER_extraversion = 1;
/** arg: xen_compile_info. */
export const XENVER_compile_info = 2;
/** arg: char[XEN_CAPABILITIES_INFO_LEN], e.g. "xen-3.0-x86_64 hvm-3.0-x86_64 ...". */
export const XENVER_capabilities = 3;
/** arg: char[XEN_CHANGESET_INFO_LEN]. */
export const XENVER_changeset = 4;
/** arg: xen_platform_parameters. */
export const XENVER_platform_parameters = 5;
/** arg: xen_feature_info. */
export const XENVER_get_features = 6;
/** arg NULL; returns the page size. */
export const XENVER_pagesize = 7;
/** arg: xen_domain_handle_t (16 bytes): the domain's UUID. */
export const XENVER_guest_handle = 8;
/** arg: char[XEN_COMMANDLINE_LEN]: Xen's command line (privileged). */
export const XENVER_commandline = 9;
/** arg: xen_build_id. */
export const XENVER_build_id = 10;

/** sizeof(xen_extraversion_t) */
export const XEN_EXTRAVERSION_LEN = 16;
/** sizeof(xen_capabilities_info_t) */
export const XEN_CAPABILITIES_INFO_LEN = 1024;
/** sizeof(xen_changeset_info_t) */
export const XEN_CHANGESET_INFO_LEN = 64;
/** sizeof(xen_commandline_t) */
export const XEN_COMMANDLINE_LEN = 1024;
/** sizeof(xen_domain_handle_t) */
export const XEN_DOMAIN_HANDLE_LEN = 16;

export const xen_compile_info = struct('xen_compile_info', {
  compiler: chars(64),
  compile_by: chars(16),
  compile_domain: chars(32),
  compile_date: chars(32),
});

export const xen_platform_parameters = struct('xen_platform_parameters', {
  /** Start of Xen's hole in the guest's virtual address space. */
  virt_start: u64,
});

export const xen_feature_info = struct('xen_feature_info', {
  /** IN: which 32-bit submap (0 .. XENFEAT_NR_SUBMAPS - 1). */
  submap_idx: u32,
  /** OUT: XENFEAT_* bits. */
  submap: u32,
});

export const xen_build_id = struct('xen_build_id', {
  /** IN: size of buf; OUT: bytes of build id. */
  len: u32,
  buf: flex(u8),
});
