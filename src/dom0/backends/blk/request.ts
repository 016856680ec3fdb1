/**
 * A blkif request as the backend acts on it: decoded from the copy of its ring slot (or, for
 * BLKIF_OP_INDIRECT, from its granted segment pages) and checked as xen-blkback checks it.
 * A request that fails a check gets BLKIF_RSP_ERROR; the device carries on.
 */
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  blkif_request,
  blkif_request_discard,
  blkif_request_indirect,
} from '../../../abi/io/blkif.js';

import { SECTOR_SIZE } from './image/index.js';

export { SECTOR_SIZE };

/** Sectors in a 4 KiB page: a segment's first_sect and last_sect are below this. */
const SECTORS_PER_PAGE = 8;
/** blkif_request_segment entries in one indirect page. */
export const SEGMENTS_PER_INDIRECT_PAGE = 4096 / 8;

/** One granted page and the sectors of it the request moves. */
export interface Segment {
  gref: number;
  firstSect: number;
  lastSect: number;
}

export interface BlkRequest {
  /**
   * READ, WRITE, WRITE_BARRIER, FLUSH_DISKCACHE or DISCARD: what to do, and what the response
   * names (an indirect request's is its indirect_op, which xen-blkfront checks).
   */
  operation: number;
  idLo: number;
  idHi: number;
  /** Start sector (512-byte units). */
  sector: number;
  segments: Segment[];
  /** For an indirect request: the pages holding its segments. */
  indirectGrefs: number[];
  nrSegments: number;
  /** For a discard. */
  nrSectors: number;
  secure: boolean;
}

/** What was wrong with a request (logged; the frontend gets BLKIF_RSP_ERROR). */
export class BadRequest extends Error {
  override name = 'BadRequest';
}

/** An operation this backend does not know (BLKIF_RSP_EOPNOTSUPP). */
export class UnsupportedOperation extends Error {
  override name = 'UnsupportedOperation';
}

const R = blkif_request.offsets;
const D = blkif_request_discard.offsets;
const I = blkif_request_indirect.offsets;

/** Decodes the request in a slot copy; indirect segments are read later (readIndirect). */
export function decodeRequest(slot: DataView, maxIndirectSegments: number): BlkRequest {
  const operation = slot.getUint8(R.operation);
  const request: BlkRequest = {
    operation,
    idLo: slot.getUint32(R.id, true),
    idHi: slot.getUint32(R.id + 4, true),
    sector: 0,
    segments: [],
    indirectGrefs: [],
    nrSegments: 0,
    nrSectors: 0,
    secure: false,
  };
  switch (operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_WRITE_BARRIER: {
      request.sector = sector(slot, R.sector_number);
      const n = slot.getUint8(R.nr_segments);
      // A barrier may carry no data; a read or write must.
      const least = operation === BLKIF_OP_WRITE_BARRIER ? 0 : 1;
      if (n < least || n > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        throw new BadRequest(`${n} segments in a request`);
      }
      request.nrSegments = n;
      for (let i = 0; i < n; i++) request.segments.push(readSegment(slot, R.seg + i * 8));
      return request;
    }
    case BLKIF_OP_FLUSH_DISKCACHE:
      return request;
    case BLKIF_OP_DISCARD:
      request.sector = sector(slot, D.sector_number);
      request.nrSectors = sector(slot, D.nr_sectors);
      request.secure = (slot.getUint8(D.flag) & BLKIF_DISCARD_SECURE) !== 0;
      return request;
    case BLKIF_OP_INDIRECT: {
      const action = slot.getUint8(I.indirect_op);
      if (action !== BLKIF_OP_READ && action !== BLKIF_OP_WRITE) {
        throw new BadRequest(`indirect operation ${action}`);
      }
      request.operation = action;
      request.sector = sector(slot, I.sector_number);
      const n = slot.getUint16(I.nr_segments, true);
      if (n < 1 || n > maxIndirectSegments) {
        throw new BadRequest(`${n} segments in an indirect request`);
      }
      request.nrSegments = n;
      const pages = Math.ceil(n / SEGMENTS_PER_INDIRECT_PAGE);
      if (pages > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST) throw new BadRequest(`${pages} pages`);
      for (let i = 0; i < pages; i++) {
        request.indirectGrefs.push(slot.getUint32(I.indirect_grefs + i * 4, true));
      }
      return request;
    }
    default:
      throw new UnsupportedOperation(`operation ${operation}`);
  }
}

/** Reads an indirect request's segments from its mapped segment pages. */
export function readIndirect(request: BlkRequest, pages: readonly Uint8Array[]): void {
  for (let i = 0; i < request.nrSegments; i++) {
    const page = pages[Math.floor(i / SEGMENTS_PER_INDIRECT_PAGE)]!;
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    request.segments.push(readSegment(view, (i % SEGMENTS_PER_INDIRECT_PAGE) * 8));
  }
}

function readSegment(view: DataView, at: number): Segment {
  const segment = {
    gref: view.getUint32(at, true),
    firstSect: view.getUint8(at + 4),
    lastSect: view.getUint8(at + 5),
  };
  if (segment.lastSect >= SECTORS_PER_PAGE || segment.firstSect > segment.lastSect) {
    throw new BadRequest(`segment sectors ${segment.firstSect}..${segment.lastSect}`);
  }
  return segment;
}

/** A 64-bit sector number, as a safe integer or BadRequest. */
function sector(view: DataView, at: number): number {
  const hi = view.getUint32(at + 4, true);
  if (hi >= 0x200000) throw new BadRequest('sector number beyond 2^53');
  return hi * 2 ** 32 + view.getUint32(at, true);
}

/** Sectors a read or write moves. */
export function requestSectors(request: BlkRequest): number {
  let total = 0;
  for (const s of request.segments) total += s.lastSect - s.firstSect + 1;
  return total;
}
