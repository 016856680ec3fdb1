/**
 * Hypercall arguments: 64-bit values from the lo/hi halves, and structures copied in and out
 * of the calling guest with their src/abi layouts (Xen's copy_from_guest / copy_to_guest).
 * Guest pointers stay as lo/hi halves: kernel addresses do not fit a double exactly.
 */
import type { Fields, InputOf, Layout, ValueOf } from '../../abi/layout.js';
import { copyFromGuest, copyToGuest } from '../arch/x86/guest-copy.js';
import { u64 } from '../arch/x86/time/index.js';
import type { GuestPointer } from '../common/domain.js';
import type { HypercallCall } from './table.js';

/** Argument `n` (1-5) as a guest pointer. */
export function argPointer(call: HypercallCall, n: number): GuestPointer {
  return { lo: call.argLo[n]!, hi: call.argHi[n]! };
}

/** Argument `n` as an unsigned 64-bit number (exact below 2^53). */
export function argU64(call: HypercallCall, n: number): number {
  return u64(call.argLo[n]!, call.argHi[n]!);
}

/** A 64-bit guest handle decoded by a layout (a bigint) as a pointer. */
export function handlePointer(handle: bigint | number): GuestPointer {
  const value = BigInt.asUintN(64, BigInt(handle));
  return { lo: Number(value & 0xffffffffn) | 0, hi: Number(value >> 32n) | 0 };
}

/** `pointer` + `bytes` (wrapping at 2^64). */
export function offsetPointer(pointer: GuestPointer, bytes: number): GuestPointer {
  const lo = (pointer.lo >>> 0) + bytes;
  return { lo: lo | 0, hi: (pointer.hi + Math.floor(lo / 0x100000000)) | 0 };
}

export function isNull(pointer: GuestPointer): boolean {
  return pointer.lo === 0 && pointer.hi === 0;
}

/** Reads a structure from the guest; undefined on a fault (the hypercall returns -EFAULT). */
export function readStruct<F extends Fields>(
  call: HypercallCall,
  layout: Layout<F>,
  at: GuestPointer,
): ValueOf<F> | undefined {
  const bytes = copyFromGuest(call.vcpu.cpu, at.lo, at.hi, layout.size);
  return bytes === undefined ? undefined : layout.decode(bytes);
}

/** Writes a structure to the guest; false on a fault. */
export function writeStruct<F extends Fields>(
  call: HypercallCall,
  layout: Layout<F>,
  at: GuestPointer,
  value: InputOf<F>,
): boolean {
  return copyToGuest(call.vcpu.cpu, at.lo, at.hi, layout.encode(value));
}

/**
 * Writes back only some fields of a structure already in the guest (Xen's
 * __copy_field_to_guest): the bytes of the struct are read, updated, written.
 */
export function updateStruct<F extends Fields>(
  call: HypercallCall,
  layout: Layout<F>,
  at: GuestPointer,
  value: InputOf<F>,
): boolean {
  const cpu = call.vcpu.cpu;
  const bytes = copyFromGuest(cpu, at.lo, at.hi, layout.size);
  if (bytes === undefined) return false;
  layout.write(new DataView(bytes.buffer), 0, value);
  return copyToGuest(cpu, at.lo, at.hi, bytes);
}

export function readBytes(
  call: HypercallCall,
  at: GuestPointer,
  length: number,
): Uint8Array | undefined {
  return copyFromGuest(call.vcpu.cpu, at.lo, at.hi, length);
}

export function writeBytes(call: HypercallCall, at: GuestPointer, data: Uint8Array): boolean {
  return copyToGuest(call.vcpu.cpu, at.lo, at.hi, data);
}
