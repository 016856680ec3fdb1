import { ImageFormatError } from '../errors.js';

/** A decoder's complaint, prefixed with the format so the log says which stream was bad. */
export function corrupt(format: string, message: string, cause?: unknown): ImageFormatError {
  return cause === undefined
    ? new ImageFormatError(`${format}: ${message}`)
    : new ImageFormatError(`${format}: ${message}`, { cause });
}

export const u16le = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);
export const u16be = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
export const u32le = (b: Uint8Array, i: number): number =>
  (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
export const u32be = (b: Uint8Array, i: number): number =>
  ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;

/** Most output sizes are unknown up front: a byte buffer that doubles as it fills. */
export class Output {
  bytes: Uint8Array;
  length = 0;

  constructor(initial: number) {
    this.bytes = new Uint8Array(Math.max(4096, Math.min(initial, 1 << 30)));
  }

  /** Makes room for `n` more bytes after `length`; decoders then write into `bytes` directly. */
  reserve(n: number): Uint8Array {
    const need = this.length + n;
    if (need > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    return this.bytes;
  }

  append(data: Uint8Array): void {
    this.reserve(data.length).set(data, this.length);
    this.length += data.length;
  }

  /** The result, copied when the slack is large so callers don't hold twice the memory. */
  finish(): Uint8Array {
    const slack = this.bytes.length - this.length;
    return slack > this.length >> 3
      ? this.bytes.slice(0, this.length)
      : this.bytes.subarray(0, this.length);
  }
}
