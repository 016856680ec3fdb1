/**
 * The block device protocol (xen/include/public/io/blkif.h): requests and responses on
 * the blkif shared ring between xen-blkfront and a block backend.
 */

import { array, i16, struct, u8, u16, u32, u64, union } from '../layout.js';
import { sring } from './ring.js';

export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
/** Write that completes only after all earlier writes (feature-barrier). */
export const BLKIF_OP_WRITE_BARRIER = 2;
/** Flush the disk cache (feature-flush-cache). */
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
/** Reserved (was BLKIF_OP_RESERVED_1 for blktap). */
export const BLKIF_OP_RESERVED_1 = 4;
/** Discard sectors (feature-discard); the request is a blkif_request_discard. */
export const BLKIF_OP_DISCARD = 5;
/** The segments are in granted pages of blkif_request_segment (feature-max-indirect-segments). */
export const BLKIF_OP_INDIRECT = 6;

/** Segments in a direct request. */
export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
/** Pages of segments in an indirect request. */
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;

/** One granted frame of a request and the sectors of it to transfer (inclusive, 512-byte). */
export const blkif_request_segment = struct('blkif_request_segment', {
  gref: u32,
  first_sect: u8,
  last_sect: u8,
});

export const blkif_request = struct('blkif_request', {
  /** BLKIF_OP_* */
  operation: u8,
  nr_segments: u8,
  /** The virtual device (only for read/write). */
  handle: u16,
  /** Echoed in the response. */
  id: u64,
  /** Start sector (512-byte units). */
  sector_number: u64,
  seg: array(blkif_request_segment, BLKIF_MAX_SEGMENTS_PER_REQUEST),
});

export const BLKIF_DISCARD_SECURE = 1 << 0;

export const blkif_request_discard = struct('blkif_request_discard', {
  /** BLKIF_OP_DISCARD */
  operation: u8,
  /** BLKIF_DISCARD_SECURE or 0 */
  flag: u8,
  handle: u16,
  id: u64,
  sector_number: u64,
  nr_sectors: u64,
});

export const blkif_request_indirect = struct('blkif_request_indirect', {
  /** BLKIF_OP_INDIRECT */
  operation: u8,
  /** BLKIF_OP_READ or BLKIF_OP_WRITE */
  indirect_op: u8,
  nr_segments: u16,
  id: u64,
  sector_number: u64,
  handle: u16,
  indirect_grefs: array(u32, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST),
});

export const blkif_response = struct('blkif_response', {
  id: u64,
  operation: u8,
  /** BLKIF_RSP_* */
  status: i16,
});

export const BLKIF_RSP_EOPNOTSUPP = -2;
export const BLKIF_RSP_ERROR = -1;
export const BLKIF_RSP_OKAY = 0;

/** One slot of the blkif ring. */
export const blkif_sring_entry = union('blkif_sring_entry', {
  req: blkif_request,
  rsp: blkif_response,
});

export const blkif_sring = sring('blkif_sring', blkif_sring_entry);

// Values of the backend's "info" node.
export const VDISK_CDROM = 0x1;
export const VDISK_REMOVABLE = 0x2;
export const VDISK_READONLY = 0x4;
