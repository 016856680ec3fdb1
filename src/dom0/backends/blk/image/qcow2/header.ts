/**
 * The qcow2 header (QEMU's docs/interop/qcow2.txt, "Header" and "Header extensions"):
 * parsed, checked for sanity and for features we do not implement.
 */

import { ImageError } from '../types.js';

/** "QFI\xfb" */
export const QCOW2_MAGIC = 0x514649fb;
const V2_HEADER_LENGTH = 72;
const V3_MIN_HEADER_LENGTH = 104;
const MIN_CLUSTER_BITS = 9;
/** QEMU's limit; larger clusters are legal but no image in the wild uses them. */
const MAX_CLUSTER_BITS = 21;
/** QEMU's limits on table sizes: beyond them a header is absurd rather than big. */
const MAX_L1_BYTES = 32 << 20;
const MAX_REFCOUNT_TABLE_BYTES = 8 << 20;
const MAX_SNAPSHOTS = 65536;
const MAX_BACKING_NAME = 1023;

/** Byte offsets of the header fields we rewrite. */
export const REFCOUNT_TABLE_FIELD = 48; // u64 offset, then u32 clusters at 56
export const AUTOCLEAR_FIELD = 88;

const AUTOCLEAR_BITMAPS = 1 << 0;
const INCOMPAT_DIRTY = 1 << 0;
const INCOMPAT_CORRUPT = 1 << 1;
const INCOMPAT_DATA_FILE = 1 << 2;
const INCOMPAT_COMPRESSION = 1 << 3;
const INCOMPAT_EXTENDED_L2 = 1 << 4;
const INCOMPAT_KNOWN = 0x1f;

const EXT_END = 0;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_NAMES = 0x6803f857;
const FEATURE_NAME_ENTRY = 48;

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  /** Virtual size in bytes. */
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  /** Width of a refcount in bits: 1 << refcount_order. */
  refcountBits: number;
  snapshotCount: number;
  /** Set autoclear bits: flags for data we would not keep consistent, cleared before writing. */
  hasAutoclearFeatures: boolean;
  backingFile: string | undefined;
  backingFormat: string | undefined;
}

/** Reads a big-endian u64 that must fit in a JS number (2^53: 8 PiB, ample for offsets). */
export function readU64(view: DataView, at: number, path: string, what: string): number {
  const high = view.getUint32(at);
  if (high >= 0x200000) throw new ImageError('corrupt', path, `${what} is absurdly large`);
  return high * 0x1_0000_0000 + view.getUint32(at + 4);
}

/** The cluster size named by a header, to know how much of the file to read before parsing. */
export function peekClusterBits(head: Uint8Array, path: string): number {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length < 4 || view.getUint32(0) !== QCOW2_MAGIC) {
    throw new ImageError('corrupt', path, 'not a qcow2 image (bad magic)');
  }
  if (head.length < V2_HEADER_LENGTH) {
    throw new ImageError('corrupt', path, 'qcow2 header is truncated');
  }
  const bits = view.getUint32(20);
  if (bits < MIN_CLUSTER_BITS) throw new ImageError('corrupt', path, `cluster_bits ${bits} < 9`);
  if (bits > MAX_CLUSTER_BITS) {
    throw new ImageError('unsupported', path, `cluster size 2^${bits} is larger than 2 MiB`);
  }
  return bits;
}

/**
 * Parses the first cluster of the file (or as much of it as exists). Refuses what we do not
 * implement, and offsets or sizes that cannot describe a real image of `fileSize` bytes.
 */
export function parseHeader(
  firstCluster: Uint8Array,
  fileSize: number,
  readOnly: boolean,
  path: string,
): Qcow2Header {
  const clusterBits = peekClusterBits(firstCluster, path);
  const clusterSize = 2 ** clusterBits;
  const view = new DataView(firstCluster.buffer, firstCluster.byteOffset, firstCluster.byteLength);
  const corrupt = (message: string) => new ImageError('corrupt', path, message);
  const unsupported = (message: string) => new ImageError('unsupported', path, message);
  const u64 = (at: number, what: string) => readU64(view, at, path, what);

  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) throw unsupported(`qcow2 version ${version}`);

  let headerLength = V2_HEADER_LENGTH;
  let refcountBits = 16;
  let hasAutoclearFeatures = false;
  const extensions = new Map<number, Uint8Array>();
  if (version === 3) {
    if (firstCluster.length < V3_MIN_HEADER_LENGTH) throw corrupt('qcow2 v3 header is truncated');
    headerLength = view.getUint32(100);
    if (headerLength < V3_MIN_HEADER_LENGTH || headerLength % 8 !== 0) {
      throw corrupt(`header_length ${headerLength} is invalid`);
    }
    if (headerLength > Math.min(clusterSize, firstCluster.length)) {
      throw corrupt(`header_length ${headerLength} goes beyond the first cluster`);
    }
    const refcountOrder = view.getUint32(96);
    if (refcountOrder > 6) throw corrupt(`refcount_order ${refcountOrder} > 6`);
    refcountBits = 1 << refcountOrder;
    hasAutoclearFeatures = view.getUint32(88) !== 0 || view.getUint32(92) !== 0;
    if (view.getUint32(92) & AUTOCLEAR_BITMAPS && !readOnly) {
      // Writing would have to clear the bit, and QEMU would then count the bitmaps' clusters
      // as leaked: better to ask for the bitmaps to go first.
      throw new ImageError(
        'unsupported',
        path,
        'persistent dirty bitmaps are not supported for writing (qemu-img bitmap --remove)',
      );
    }
  }
  readExtensions(view, headerLength, clusterSize, extensions, path);

  if (version === 3) {
    checkIncompatibleFeatures(view, headerLength, extensions, readOnly, path);
  }
  const cryptMethod = view.getUint32(32);
  if (cryptMethod !== 0) throw unsupported(`encrypted images (crypt_method ${cryptMethod})`);

  const size = u64(24, 'virtual size');
  if (size % 512 !== 0) throw unsupported(`virtual size ${size} is not a multiple of 512`);

  const l1Size = view.getUint32(36);
  const l1TableOffset = u64(40, 'l1_table_offset');
  const l2Entries = clusterSize / 8;
  const l1Needed = Math.ceil(size / (clusterSize * l2Entries));
  if (l1Size * 8 > MAX_L1_BYTES) throw corrupt(`l1_size ${l1Size} is absurd`);
  if (l1Size < l1Needed) throw corrupt(`L1 table (${l1Size} entries) too small for the size`);
  checkTablePlacement(l1TableOffset, l1Size * 8, clusterSize, fileSize, 'L1 table', path);

  const refcountTableOffset = u64(48, 'refcount_table_offset');
  const refcountTableClusters = view.getUint32(56);
  if (refcountTableClusters === 0) throw corrupt('refcount table has no clusters');
  if (refcountTableClusters * clusterSize > MAX_REFCOUNT_TABLE_BYTES) {
    throw corrupt(`refcount_table_clusters ${refcountTableClusters} is absurd`);
  }
  checkTablePlacement(
    refcountTableOffset,
    refcountTableClusters * clusterSize,
    clusterSize,
    fileSize,
    'refcount table',
    path,
  );

  const snapshotCount = view.getUint32(60);
  if (snapshotCount > MAX_SNAPSHOTS) throw corrupt(`${snapshotCount} snapshots is absurd`);
  if (snapshotCount > 0 && u64(64, 'snapshots_offset') % clusterSize !== 0) {
    throw corrupt('snapshot table is not cluster-aligned');
  }

  const backing = readBackingName(view, clusterSize, path);
  const formatExtension = extensions.get(EXT_BACKING_FORMAT);
  return {
    version,
    clusterBits,
    clusterSize,
    size,
    l1Size,
    l1TableOffset,
    refcountTableOffset,
    refcountTableClusters,
    refcountBits,
    snapshotCount,
    hasAutoclearFeatures,
    backingFile: backing,
    backingFormat:
      backing !== undefined && formatExtension !== undefined
        ? new TextDecoder().decode(formatExtension)
        : undefined,
  };
}

function readExtensions(
  view: DataView,
  start: number,
  clusterSize: number,
  into: Map<number, Uint8Array>,
  path: string,
): void {
  const end = Math.min(clusterSize, view.byteLength);
  let at = start;
  // Every extension advances by at least 8 bytes, so this ends within the first cluster.
  while (at + 8 <= end) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === EXT_END) return;
    if (length > end - at - 8) {
      throw new ImageError('corrupt', path, `header extension 0x${type.toString(16)} overruns`);
    }
    const data = new Uint8Array(view.buffer, view.byteOffset + at + 8, length);
    into.set(type, data);
    at += 8 + Math.ceil(length / 8) * 8;
  }
}

function checkIncompatibleFeatures(
  view: DataView,
  headerLength: number,
  extensions: Map<number, Uint8Array>,
  readOnly: boolean,
  path: string,
): void {
  const high = view.getUint32(72);
  const low = view.getUint32(76);
  const unsupported = (message: string) => new ImageError('unsupported', path, message);
  if (high !== 0 || (low & ~INCOMPAT_KNOWN) !== 0) {
    const names = featureNames(extensions.get(EXT_FEATURE_NAMES), high, low & ~INCOMPAT_KNOWN);
    throw unsupported(`unknown incompatible features: ${names}`);
  }
  if (low & INCOMPAT_DATA_FILE) throw unsupported('external data files are not supported');
  if (low & INCOMPAT_EXTENDED_L2) throw unsupported('extended L2 entries are not supported');
  if (low & INCOMPAT_COMPRESSION) {
    const type = headerLength > 104 ? view.getUint8(104) : 0;
    if (type === 0) throw new ImageError('corrupt', path, 'compression type bit set for zlib');
    throw unsupported(`compression type ${type} (only zlib is supported)`);
  }
  if (low & INCOMPAT_DIRTY && !readOnly) {
    throw unsupported('image is dirty (lazy refcounts); repair it with "qemu-img check -r all"');
  }
  if (low & INCOMPAT_CORRUPT && !readOnly) {
    throw new ImageError(
      'corrupt',
      path,
      'image is marked corrupt; it may only be opened read-only',
    );
  }
}

/** Names the given feature bits from the image's own feature name table where it has one. */
function featureNames(table: Uint8Array | undefined, high: number, low: number): string {
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    const set = bit < 32 ? (low >>> bit) & 1 : (high >>> (bit - 32)) & 1;
    if (!set) continue;
    let name = `bit ${bit}`;
    for (let at = 0; table !== undefined && at + FEATURE_NAME_ENTRY <= table.length; ) {
      if (table[at] === 0 && table[at + 1] === bit) {
        const raw = table.subarray(at + 2, at + FEATURE_NAME_ENTRY);
        const length = raw.indexOf(0);
        name = new TextDecoder().decode(length < 0 ? raw : raw.subarray(0, length));
      }
      at += FEATURE_NAME_ENTRY;
    }
    names.push(name);
  }
  return names.join(', ');
}

function checkTablePlacement(
  offset: number,
  bytes: number,
  clusterSize: number,
  fileSize: number,
  what: string,
  path: string,
): void {
  if (bytes === 0) return;
  if (offset === 0 || offset % clusterSize !== 0) {
    throw new ImageError('corrupt', path, `${what} offset ${offset} is not a valid cluster`);
  }
  if (offset + bytes > fileSize) {
    throw new ImageError('corrupt', path, `${what} at ${offset} lies beyond the end of the file`);
  }
}

function readBackingName(view: DataView, clusterSize: number, path: string): string | undefined {
  const offset = readU64(view, 8, path, 'backing_file_offset');
  if (offset === 0) return undefined;
  const length = view.getUint32(16);
  if (length === 0 || length > MAX_BACKING_NAME || offset + length > clusterSize) {
    throw new ImageError('corrupt', path, 'backing file name is outside the first cluster');
  }
  if (offset + length > view.byteLength) {
    throw new ImageError('corrupt', path, 'backing file name lies beyond the end of the file');
  }
  return new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset + offset, length));
}
