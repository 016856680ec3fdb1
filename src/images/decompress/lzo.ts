// LZO: the lzop file format (what Linux's `lzop -9` payloads and initramfs use) around LZO1X
// blocks. Header layout and flags follow lzop; the block decoder follows lzo1x_decompress_safe.
import { adler32, crc32 } from './checksum.js';
import { corrupt, Output, u16be, u16le, u32be } from './util.js';

const MAGIC = [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a];
const F_ADLER32_D = 0x1;
const F_ADLER32_C = 0x2;
const F_H_EXTRA_FIELD = 0x40;
const F_CRC32_D = 0x100;
const F_CRC32_C = 0x200;
const F_MULTIPART = 0x400;
const F_H_FILTER = 0x800;
const F_H_CRC32 = 0x1000;
/** lzop never writes blocks bigger than this (its MAX_BLOCK_SIZE). */
const MAX_BLOCK = 64 << 20;

const fail = (message: string) => corrupt('lzo', message);

/** Decodes one LZO1X block src[from, to) into dst[at, at + size); it must fill exactly that. */
export function lzo1xBlock(
  src: Uint8Array,
  from: number,
  to: number,
  dst: Uint8Array,
  at: number,
  size: number,
): void {
  let ip = from;
  let op = at;
  const end = at + size;
  // `state` is how many literals followed the last match (0-3), or 4 after a literal run;
  // it decides what a small instruction byte (< 16) means.
  let state = 0;
  let t: number;
  let next = 0;
  let mp = 0;
  const need = (n: number) => {
    if (ip + n > to) throw fail('truncated block');
  };
  need(3);
  if (src[ip]! > 17) {
    t = src[ip++]! - 17;
    if (t < 4) {
      next = t;
      state = t;
      need(t);
      if (op + t > end) throw fail('block decodes past its size');
      while (t-- > 0) dst[op++] = src[ip++]!;
    } else {
      need(t);
      if (op + t > end) throw fail('block decodes past its size');
      while (t-- > 0) dst[op++] = src[ip++]!;
      state = 4;
    }
  }
  for (;;) {
    need(1);
    t = src[ip++]!;
    if (t < 16) {
      if (state === 0) {
        // Literal run.
        if (t === 0) {
          need(1);
          while (src[ip] === 0) {
            t += 255;
            ip++;
            need(1);
          }
          t += 15 + src[ip++]!;
        }
        t += 3;
        need(t);
        if (op + t > end) throw fail('block decodes past its size');
        if (t < 32) {
          for (const stop = ip + t; ip < stop; ) dst[op++] = src[ip++]!;
        } else {
          dst.set(src.subarray(ip, ip + t), op);
          ip += t;
          op += t;
        }
        state = 4;
        continue;
      }
      need(1);
      next = t & 3;
      if (state !== 4) {
        // Two-byte match close behind.
        mp = op - 1 - (t >>> 2) - (src[ip++]! << 2);
        t = 2;
      } else {
        // Three-byte match just beyond the M2 range.
        mp = op - 1 - 0x800 - (t >>> 2) - (src[ip++]! << 2);
        t = 3;
      }
    } else if (t >= 64) {
      need(1);
      next = t & 3;
      mp = op - 1 - ((t >>> 2) & 7) - (src[ip++]! << 3);
      t = (t >>> 5) + 1;
    } else if (t >= 32) {
      t &= 31;
      if (t === 0) {
        need(1);
        while (src[ip] === 0) {
          t += 255;
          ip++;
          need(1);
        }
        t += 31 + src[ip++]!;
      }
      t += 2;
      need(2);
      const d = u16le(src, ip);
      ip += 2;
      mp = op - 1 - (d >>> 2);
      next = d & 3;
    } else {
      mp = op - ((t & 8) << 11);
      t &= 7;
      if (t === 0) {
        need(1);
        while (src[ip] === 0) {
          t += 255;
          ip++;
          need(1);
        }
        t += 7 + src[ip++]!;
      }
      t += 2;
      need(2);
      const d = u16le(src, ip);
      ip += 2;
      mp -= d >>> 2;
      next = d & 3;
      if (mp === op) {
        // End of stream: the marker is a 3-byte M4 match of distance 0.
        if (t !== 3) throw fail('bad end-of-stream marker');
        if (op !== end) throw fail(`block decoded to ${op - at} bytes, header says ${size}`);
        if (ip !== to) throw fail('block has bytes after its end marker');
        return;
      }
      mp -= 0x4000;
    }
    if (mp < at) throw fail('match reaches before the block');
    if (op + t > end) throw fail('block decodes past its size');
    for (const stop = op + t; op < stop; ) dst[op++] = dst[mp++]!;
    // Up to three literals ride on the match instruction.
    state = next;
    if (next > 0) {
      need(next);
      if (op + next > end) throw fail('block decodes past its size');
      while (next-- > 0) dst[op++] = src[ip++]!;
    }
  }
}

export function decompressLzo(data: Uint8Array): Uint8Array {
  for (let i = 0; i < MAGIC.length; i++) {
    if (data[i] !== MAGIC[i]) throw fail(data.length < 9 ? 'truncated: no magic' : 'bad magic');
  }
  let ip = 9;
  const have = (n: number) => {
    if (ip + n > data.length) throw fail('truncated header');
  };
  have(7);
  const version = u16be(data, ip);
  ip += 4; // version, library version
  if (version >= 0x0940) ip += 2; // version needed to extract
  const method = data[ip++]!;
  if (method < 1 || method > 3) throw fail(`unsupported method ${method} (only LZO1X)`);
  if (version >= 0x0940) ip++; // level
  have(4);
  const flags = u32be(data, ip);
  ip += 4;
  if (flags & F_H_FILTER) throw fail('filtered lzop files are not supported');
  if (flags & F_MULTIPART) throw fail('multipart lzop files are not supported');
  ip += version >= 0x0940 ? 12 : 8; // mode, mtime low (and high)
  have(1);
  ip += 1 + data[ip]!; // file name
  have(4);
  const headerSum = flags & F_H_CRC32 ? crc32(data.subarray(9, ip)) : adler32(data.subarray(9, ip));
  if (headerSum !== u32be(data, ip)) throw fail('header checksum mismatch');
  ip += 4;
  if (flags & F_H_EXTRA_FIELD) {
    have(4);
    ip += 8 + u32be(data, ip); // length, data, checksum
    have(0);
  }

  const out = new Output(data.length * 3);
  for (;;) {
    have(4);
    const dstLen = u32be(data, ip);
    ip += 4;
    if (dstLen === 0) break;
    if (dstLen > MAX_BLOCK) throw fail(`block of ${dstLen} bytes is too large`);
    have(4);
    const srcLen = u32be(data, ip);
    ip += 4;
    if (srcLen === 0 || srcLen > dstLen) throw fail(`bad compressed block size ${srcLen}`);
    const packed = srcLen < dstLen;
    const sums: [number, number, boolean][] = []; // [flag, value, over the packed bytes]
    for (const [flag, overPacked] of [
      [F_ADLER32_D, false],
      [F_CRC32_D, false],
      [F_ADLER32_C, true],
      [F_CRC32_C, true],
    ] as const) {
      if (!(flags & flag)) continue;
      // A stored block carries no separate checksum of its "compressed" bytes.
      if (overPacked && !packed) continue;
      have(4);
      sums.push([flag, u32be(data, ip), overPacked]);
      ip += 4;
    }
    have(srcLen);
    const dst = out.reserve(dstLen);
    if (packed) lzo1xBlock(data, ip, ip + srcLen, dst, out.length, dstLen);
    else dst.set(data.subarray(ip, ip + srcLen), out.length);
    const plain = dst.subarray(out.length, out.length + dstLen);
    const raw = data.subarray(ip, ip + srcLen);
    for (const [flag, value, overPacked] of sums) {
      const bytes = overPacked ? raw : plain;
      const sum = flag & (F_ADLER32_D | F_ADLER32_C) ? adler32(bytes) : crc32(bytes);
      if (sum !== value) throw fail('block checksum mismatch');
    }
    out.length += dstLen;
    ip += srcLen;
  }
  return out.finish();
}
