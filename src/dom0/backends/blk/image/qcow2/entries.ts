/**
 * L1, L2 and refcount-table entries (qcow2.txt, "Cluster mapping"), decoded from their two
 * big-endian 32-bit halves so that no BigInt is needed. Host offsets must stay below 2^53.
 */

import { ImageError } from '../types.js';

const COPIED = 0x8000_0000; // bit 63: refcount is exactly 1, writes may go in place
const COMPRESSED = 0x4000_0000; // bit 62
const ZERO = 1; // bit 0 (v3): reads as zeros
const TWO_POW_32 = 0x1_0000_0000;
/** Above this in the high half, an offset no longer fits a double exactly. */
const HIGH_LIMIT = 0x20_0000;

/** What a guest cluster maps to. */
export type ClusterMapping =
  | { kind: 'unallocated' }
  /** `host` 0: no preallocated cluster behind it. */
  | { kind: 'zero'; host: number; copied: boolean }
  | { kind: 'data'; host: number; copied: boolean }
  /** `host` is a byte offset; the data spans `sectors` 512-byte sectors from its sector. */
  | { kind: 'compressed'; host: number; sectors: number };

export interface EntryFormat {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
}

export interface L1Entry {
  /** Offset of the L2 table, 0 if none. */
  offset: number;
  copied: boolean;
}

export function decodeL2(
  view: DataView,
  index: number,
  format: EntryFormat,
  path: string,
): ClusterMapping {
  const high = view.getUint32(index * 8);
  const low = view.getUint32(index * 8 + 4);
  const corrupt = (what: string) =>
    new ImageError('corrupt', path, `L2 entry ${hex(high, low)} ${what}`);
  if (high & COMPRESSED) {
    if (high & COPIED) throw corrupt('is compressed and marked copied');
    // The offset takes 70 - cluster_bits bits (at least 49), the sector count the rest up to 61.
    const offsetHighBits = 70 - format.clusterBits - 32;
    const offsetHigh = high & ((1 << offsetHighBits) - 1);
    if (offsetHigh >= HIGH_LIMIT) throw corrupt('has an absurd offset');
    return {
      kind: 'compressed',
      host: offsetHigh * TWO_POW_32 + low,
      sectors: ((high & 0x3fff_ffff) >>> offsetHighBits) + 1,
    };
  }
  if (high & 0x3f00_0000 || low & 0x1fe) throw corrupt('has reserved bits set');
  const copied = (high & COPIED) !== 0;
  const offsetHigh = high & 0x00ff_ffff;
  if (offsetHigh >= HIGH_LIMIT) throw corrupt('has an absurd offset');
  const host = offsetHigh * TWO_POW_32 + ((low & 0xffff_fe00) >>> 0);
  if (host % format.clusterSize !== 0) throw corrupt('is not cluster-aligned');
  if (low & ZERO) {
    if (format.version < 3) throw corrupt('has the zero flag in a version 2 image');
    return { kind: 'zero', host, copied };
  }
  if (host === 0) {
    if (copied) throw corrupt('maps to offset 0');
    return { kind: 'unallocated' };
  }
  return { kind: 'data', host, copied };
}

export function encodeData(view: DataView, index: number, host: number): void {
  view.setUint32(index * 8, (COPIED | Math.floor(host / TWO_POW_32)) >>> 0);
  view.setUint32(index * 8 + 4, host % TWO_POW_32);
}

export function encodeZero(view: DataView, index: number): void {
  view.setUint32(index * 8, 0);
  view.setUint32(index * 8 + 4, ZERO);
}

export function encodeUnallocated(view: DataView, index: number): void {
  view.setUint32(index * 8, 0);
  view.setUint32(index * 8 + 4, 0);
}

export function decodeL1(
  view: DataView,
  index: number,
  clusterSize: number,
  path: string,
): L1Entry {
  const high = view.getUint32(index * 8);
  const low = view.getUint32(index * 8 + 4);
  const corrupt = (what: string) =>
    new ImageError('corrupt', path, `L1 entry ${index} (${hex(high, low)}) ${what}`);
  if (high & 0x7f00_0000 || low & 0x1ff) throw corrupt('has reserved bits set');
  const offsetHigh = high & 0x00ff_ffff;
  if (offsetHigh >= HIGH_LIMIT) throw corrupt('has an absurd offset');
  const offset = offsetHigh * TWO_POW_32 + low;
  if (offset % clusterSize !== 0) throw corrupt('is not cluster-aligned');
  const copied = (high & COPIED) !== 0;
  if (offset === 0 && copied) throw corrupt('maps to offset 0');
  return { offset, copied };
}

export function encodeL1(view: DataView, index: number, offset: number): void {
  view.setUint32(index * 8, (COPIED | Math.floor(offset / TWO_POW_32)) >>> 0);
  view.setUint32(index * 8 + 4, offset % TWO_POW_32);
}

/** A refcount-table entry: the offset of a refcount block, 0 if none. */
export function decodeRefcountTableEntry(
  view: DataView,
  index: number,
  clusterSize: number,
  path: string,
): number {
  const high = view.getUint32(index * 8);
  const low = view.getUint32(index * 8 + 4);
  const corrupt = (what: string) =>
    new ImageError('corrupt', path, `refcount table entry ${index} (${hex(high, low)}) ${what}`);
  if (high >= HIGH_LIMIT) throw corrupt('has an absurd offset');
  const offset = high * TWO_POW_32 + low;
  if (offset % clusterSize !== 0) throw corrupt('is not cluster-aligned');
  return offset;
}

export function encodeOffset(view: DataView, at: number, offset: number): void {
  view.setUint32(at, Math.floor(offset / TWO_POW_32));
  view.setUint32(at + 4, offset % TWO_POW_32);
}

function hex(high: number, low: number): string {
  return `0x${high.toString(16).padStart(8, '0')}${low.toString(16).padStart(8, '0')}`;
}
