/**
 * The guest-visible time records: vcpu_time_info (pvclock) and shared_info's wallclock.
 * Pure functions over a DataView and a byte offset, written with Xen's version protocol:
 * the version becomes odd, the fields are written, the version becomes even again
 * (version_update_begin: (v + 1) | 1; version_update_end: v + 1), so a guest that reads
 * the version, the fields and the version again retries on a torn read.
 *
 * When the view is over a SharedArrayBuffer the version words are stored with `Atomics`, so
 * a reader on another thread that sees the final version also sees the fields before it.
 */

import {
  shared_info,
  vcpu_info,
  vcpu_time_info,
  XEN_LEGACY_MAX_VCPUS,
  XEN_PVCLOCK_TSC_STABLE_BIT,
} from '../../../../abi/xen.js';
import type { TimeSource, Timespec } from './source.js';

const TWO_32 = 0x100000000;

/** The fields of a vcpu_time_info record (the version is managed by the writer). */
export interface PvclockRecord {
  /** The guest TSC at the stamp (written modulo 2^64, so a negative value wraps as a u64). */
  tscTimestamp: number;
  /** System time in nanoseconds at the stamp. */
  systemTime: number;
  /** tsc_to_system_mul */
  mul: number;
  /** tsc_shift */
  shift: number;
  /** XEN_PVCLOCK_* */
  flags: number;
}

/**
 * The record for a vCPU whose TSC is the machine TSC plus `tscOffset` (for a vCPU,
 * `Cpu.tscOffset`), stamped at the source's newest aligned stamp. TSC_STABLE is set by
 * default: every vCPU's TSC runs at the same rate from the same source.
 */
export function pvclockRecord(
  source: TimeSource,
  tscOffset: number,
  flags: number = XEN_PVCLOCK_TSC_STABLE_BIT,
): PvclockRecord {
  const stamp = source.stamp();
  return {
    tscTimestamp: stamp.tsc + tscOffset,
    systemTime: stamp.systemTime,
    mul: source.scale.mul,
    shift: source.scale.shift,
    flags,
  };
}

/** Writes a 64-bit integer held in a double (two's complement modulo 2^64 if negative). */
export function setU64(view: DataView, offset: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  const lo = value - hi * TWO_32;
  view.setUint32(offset, lo, true);
  view.setUint32(offset + 4, hi >>> 0, true);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const wordViews = new WeakMap<ArrayBufferLike, Int32Array>();

function storeVersion(view: DataView, offset: number, value: number): void {
  const address = view.byteOffset + offset;
  const buffer = view.buffer;
  if (
    LITTLE_ENDIAN &&
    address % 4 === 0 &&
    typeof SharedArrayBuffer !== 'undefined' &&
    buffer instanceof SharedArrayBuffer
  ) {
    if (offset < 0 || offset + 4 > view.byteLength) throw new RangeError('version out of view');
    let words = wordViews.get(buffer);
    if (words === undefined || words.length * 4 < address + 4) {
      words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
      wordViews.set(buffer, words);
    }
    Atomics.store(words, address >>> 2, value | 0);
    return;
  }
  view.setUint32(offset, value >>> 0, true);
}

function beginUpdate(view: DataView, offset: number): number {
  const version = ((view.getUint32(offset, true) + 1) | 1) >>> 0;
  storeVersion(view, offset, version);
  return version;
}

function endUpdate(view: DataView, offset: number, version: number): void {
  storeVersion(view, offset, (version + 1) >>> 0);
}

/** Writes a vcpu_time_info record at `offset` in `view`, with the version protocol. */
export function writeVcpuTimeInfo(view: DataView, offset: number, record: PvclockRecord): void {
  const o = vcpu_time_info.offsets;
  if (offset < 0 || offset + vcpu_time_info.size > view.byteLength) {
    throw new RangeError(`vcpu_time_info at ${offset} does not fit in ${view.byteLength} bytes`);
  }
  const version = beginUpdate(view, offset + o.version);
  setU64(view, offset + o.tsc_timestamp, record.tscTimestamp);
  setU64(view, offset + o.system_time, record.systemTime);
  view.setUint32(offset + o.tsc_to_system_mul, record.mul, true);
  view.setInt8(offset + o.tsc_shift, record.shift);
  view.setUint8(offset + o.flags, record.flags);
  endUpdate(view, offset + o.version, version);
}

/** Where vCPU `vcpuId`'s vcpu_time_info sits in a shared_info page (legacy vcpu_info slots). */
export function sharedInfoTimeOffset(vcpuId: number): number {
  if (!Number.isInteger(vcpuId) || vcpuId < 0 || vcpuId >= XEN_LEGACY_MAX_VCPUS) {
    throw new RangeError(`vCPU ${vcpuId} has no vcpu_info slot in shared_info`);
  }
  return shared_info.offsets.vcpu_info + vcpuId * vcpu_info.size + vcpu_info.offsets.time;
}

/**
 * Writes the wallclock (wall time at system time 0) into the shared_info page at
 * `sharedInfoOffset`: wc_sec, wc_nsec and wc_sec_hi under wc_version. Seconds are written
 * modulo 2^64 (a negative domain offset wraps as Xen's unsigned arithmetic does).
 */
export function writeWallclock(view: DataView, sharedInfoOffset: number, wall: Timespec): void {
  const o = shared_info.offsets;
  if (sharedInfoOffset < 0 || sharedInfoOffset + shared_info.size > view.byteLength) {
    throw new RangeError(`shared_info at ${sharedInfoOffset} does not fit in the view`);
  }
  const version = beginUpdate(view, sharedInfoOffset + o.wc_version);
  const hi = Math.floor(wall.sec / TWO_32);
  view.setUint32(sharedInfoOffset + o.wc_sec, wall.sec - hi * TWO_32, true);
  view.setUint32(sharedInfoOffset + o.wc_nsec, wall.nsec, true);
  view.setUint32(sharedInfoOffset + o.wc_sec_hi, hi >>> 0, true);
  endUpdate(view, sharedInfoOffset + o.wc_version, version);
}
