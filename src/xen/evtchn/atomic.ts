/**
 * Atomic operations on guest-shared memory, where Xen uses its guest_* bitops and cmpxchg.
 *
 * Guest memory is a (usually shared) buffer that a guest vCPU may write at any moment —
 * today from the same thread, later from a JIT worker. Every read-modify-write here is a
 * single `Atomics` operation, so a concurrent guest sees either the old or the new word,
 * never a torn one.
 *
 * Bit numbering is Xen's on x86: bit `n` of a bitmap at byte `offset` is bit `n & 7` of byte
 * `offset + (n >> 3)`, which is also bit `n & 63` of the little-endian 64-bit word
 * `n >> 6`. Bit operations therefore work on single bytes, which are always aligned.
 * 32-bit loads, stores and compare-exchanges need a 4-byte-aligned address; on an unaligned
 * address (or a big-endian host) they fall back to plain little-endian DataView accesses.
 *
 * Every access is bounds-checked against the DataView it is given (not the whole buffer
 * behind it, which holds other domains' frames). Offsets come from validated values, so a
 * failed check is a hypervisor bug and throws a RangeError.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const bytesCache = new WeakMap<ArrayBufferLike, Uint8Array>();
const wordsCache = new WeakMap<ArrayBufferLike, Int32Array>();

function bytesOf(buffer: ArrayBufferLike, index: number): Uint8Array {
  let a = bytesCache.get(buffer);
  if (a === undefined || index >= a.length) {
    a = new Uint8Array(buffer);
    bytesCache.set(buffer, a);
  }
  return a;
}

function wordsOf(buffer: ArrayBufferLike, index: number): Int32Array {
  let a = wordsCache.get(buffer);
  if (a === undefined || index >= a.length) {
    a = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    wordsCache.set(buffer, a);
  }
  return a;
}

function check(view: DataView, offset: number, size: number): void {
  if (!(offset >= 0 && offset + size <= view.byteLength)) {
    throw new RangeError(
      `guest access of ${size} bytes at offset ${offset} outside a ${view.byteLength}-byte view`,
    );
  }
}

/** Absolute byte index in the view's buffer of bit `bit`'s byte, after checking bounds. */
function byteIndex(view: DataView, offset: number, bit: number): number {
  const at = offset + (bit >>> 3);
  check(view, at, 1);
  return view.byteOffset + at;
}

/** Atomically sets bit `bit` of the bitmap at `offset`; returns whether it was already set. */
export function testAndSetBit(view: DataView, offset: number, bit: number): boolean {
  const i = byteIndex(view, offset, bit);
  const mask = 1 << (bit & 7);
  return (Atomics.or(bytesOf(view.buffer, i), i, mask) & mask) !== 0;
}

/** Atomically clears bit `bit`; returns whether it was set. */
export function testAndClearBit(view: DataView, offset: number, bit: number): boolean {
  const i = byteIndex(view, offset, bit);
  const mask = 1 << (bit & 7);
  return (Atomics.and(bytesOf(view.buffer, i), i, ~mask & 0xff) & mask) !== 0;
}

/** Atomically sets bit `bit`. */
export function setBit(view: DataView, offset: number, bit: number): void {
  testAndSetBit(view, offset, bit);
}

/** Atomically clears bit `bit`. */
export function clearBit(view: DataView, offset: number, bit: number): void {
  testAndClearBit(view, offset, bit);
}

/** Reads bit `bit` (one atomic load of its byte). */
export function testBit(view: DataView, offset: number, bit: number): boolean {
  const i = byteIndex(view, offset, bit);
  return (Atomics.load(bytesOf(view.buffer, i), i) & (1 << (bit & 7))) !== 0;
}

/** Word index for an aligned 32-bit access, or -1 to use the DataView fallback. */
function wordIndex(view: DataView, offset: number): number {
  check(view, offset, 4);
  const at = view.byteOffset + offset;
  return LITTLE_ENDIAN && (at & 3) === 0 ? at >>> 2 : -1;
}

/** Atomically loads the little-endian uint32 at `offset`. */
export function load32(view: DataView, offset: number): number {
  const w = wordIndex(view, offset);
  if (w < 0) return view.getUint32(offset, true);
  return Atomics.load(wordsOf(view.buffer, w), w) >>> 0;
}

/** Atomically stores `value` as a little-endian uint32 at `offset`. */
export function store32(view: DataView, offset: number, value: number): void {
  const w = wordIndex(view, offset);
  if (w < 0) view.setUint32(offset, value >>> 0, true);
  else Atomics.store(wordsOf(view.buffer, w), w, value | 0);
}

/**
 * Atomically replaces the uint32 at `offset` with `replacement` if it equals `expected`.
 * Returns the value found there (as uint32): equal to `expected` iff the exchange happened.
 */
export function cmpxchg32(
  view: DataView,
  offset: number,
  expected: number,
  replacement: number,
): number {
  const w = wordIndex(view, offset);
  if (w < 0) {
    const old = view.getUint32(offset, true);
    if (old === expected >>> 0) view.setUint32(offset, replacement >>> 0, true);
    return old;
  }
  return Atomics.compareExchange(wordsOf(view.buffer, w), w, expected | 0, replacement | 0) >>> 0;
}

/** Atomically exchanges the uint32 at `offset` for `value`; returns the old value. */
export function xchg32(view: DataView, offset: number, value: number): number {
  const w = wordIndex(view, offset);
  if (w < 0) {
    const old = view.getUint32(offset, true);
    view.setUint32(offset, value >>> 0, true);
    return old;
  }
  return Atomics.exchange(wordsOf(view.buffer, w), w, value | 0) >>> 0;
}
