// LZ4: the legacy format Linux uses for its payload (`lz4 -l`, magic 0x184C2102) and the modern
// frame format (magic 0x184D2204) that `lz4` writes by default, e.g. for an initramfs.
import { xxh32 } from './checksum.js';
import { corrupt, Output, u32le } from './util.js';

const LEGACY_MAGIC = 0x184c2102;
const FRAME_MAGIC = 0x184d2204;
const LEGACY_BLOCK = 8 << 20;
/** LZ4_compressBound(8 MiB): a legacy block header bigger than this ends the stream (lz4 CLI). */
const LEGACY_BOUND = LEGACY_BLOCK + ((LEGACY_BLOCK / 255) | 0) + 16;

/**
 * Decodes one LZ4 block from src[from, to) into dst at `at`, writing no further than `limit`.
 * Matches may reach back to `floor` (the block start, or earlier for linked frame blocks).
 * Returns the output position after the block.
 */
export function lz4Block(
  src: Uint8Array,
  from: number,
  to: number,
  dst: Uint8Array,
  at: number,
  limit: number,
  floor: number,
): number {
  let ip = from;
  let op = at;
  for (;;) {
    if (ip >= to) throw corrupt('lz4', 'block ends inside a sequence');
    const token = src[ip++]!;
    let run = token >>> 4;
    if (run === 15) {
      let b: number;
      do {
        if (ip >= to) throw corrupt('lz4', 'block ends inside a literal length');
        b = src[ip++]!;
        run += b;
      } while (b === 255);
    }
    if (run > 0) {
      if (ip + run > to) throw corrupt('lz4', 'literals run past the end of the block');
      if (op + run > limit) throw corrupt('lz4', 'block decodes to more than its maximum size');
      if (run < 32) {
        for (const end = ip + run; ip < end; ) dst[op++] = src[ip++]!;
      } else {
        dst.set(src.subarray(ip, ip + run), op);
        ip += run;
        op += run;
      }
    }
    // The last sequence of a block is literals only.
    if (ip === to) return op;
    if (ip + 2 > to) throw corrupt('lz4', 'block ends inside a match offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || op - offset < floor) {
      throw corrupt('lz4', `match offset ${offset} reaches before the window`);
    }
    let len = (token & 15) + 4;
    if (len === 19) {
      let b: number;
      do {
        if (ip >= to) throw corrupt('lz4', 'block ends inside a match length');
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    if (op + len > limit) throw corrupt('lz4', 'block decodes to more than its maximum size');
    let mp = op - offset;
    if (offset >= len && len >= 32) {
      dst.copyWithin(op, mp, mp + len);
      op += len;
    } else {
      // Overlapping matches repeat the last `offset` bytes; byte by byte does that naturally.
      for (const end = op + len; op < end; ) dst[op++] = dst[mp++]!;
    }
  }
}

/** Most output a legacy block of `size` bytes can have: 8 MiB, or LZ4's best ratio (~255). */
const blockRoom = (size: number): number => Math.min(LEGACY_BLOCK, size * 256 + 64);

/**
 * Walks the legacy block headers: returns the input position where the stream ends and how
 * much output room its blocks need. The format has no end mark: the stream ends at the end of
 * the input, at what cannot be a block header (zero, or longer than a block can be), or at 4
 * last bytes (Linux appends the output size there). A block cut short is truncation.
 */
function scanLegacy(data: Uint8Array): [number, number] {
  let ip = 4;
  let room = 0;
  while (ip + 4 <= data.length) {
    const size = u32le(data, ip);
    if (size === LEGACY_MAGIC) {
      ip += 4; // concatenated legacy streams
      continue;
    }
    const rest = data.length - ip - 4;
    if (size === 0 || size > LEGACY_BOUND || rest === 0) break;
    if (size > rest) throw corrupt('lz4', `truncated: block of ${size} bytes, ${rest} left`);
    ip += 4 + size;
    room += blockRoom(size);
  }
  // Linux's unlz4 fails on these too: 1-3 bytes cannot be a block header or the appended size.
  if (ip < data.length && ip + 4 > data.length) {
    throw corrupt('lz4', `truncated: ${data.length - ip} stray bytes after the last block`);
  }
  return [ip, room];
}

/** `lz4 -l`: blocks of up to 8 MiB output, each behind its 4-byte little-endian length. */
function legacy(data: Uint8Array): Uint8Array {
  const [end, room] = scanLegacy(data);
  const out = new Output(room);
  let ip = 4;
  while (ip < end) {
    const size = u32le(data, ip);
    if (size === LEGACY_MAGIC) {
      ip += 4;
      continue;
    }
    const max = blockRoom(size);
    const dst = out.reserve(max);
    out.length = lz4Block(
      data,
      ip + 4,
      ip + 4 + size,
      dst,
      out.length,
      out.length + max,
      out.length,
    );
    ip += 4 + size;
  }
  // Four last bytes that could be a block header are either Linux's appended size (which then
  // matches) or the header of a block that was cut off.
  if (end + 4 === data.length) {
    const value = u32le(data, end);
    if (value !== 0 && value <= LEGACY_BOUND && value !== out.length >>> 0) {
      throw corrupt('lz4', `truncated: block of ${value} bytes, none left`);
    }
  }
  return out.finish();
}

const BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/** One frame starting at `ip`; returns the input position after it. */
function frame(data: Uint8Array, start: number, out: Output): number {
  let ip = start + 4;
  if (ip + 3 > data.length) throw corrupt('lz4', 'truncated frame header');
  const flg = data[ip]!;
  const bd = data[ip + 1]!;
  if (flg >>> 6 !== 1) throw corrupt('lz4', `unsupported frame version ${flg >>> 6}`);
  if (flg & 2 || bd & 0x8f) throw corrupt('lz4', 'reserved frame header bits set');
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  if (flg & 0x01) throw corrupt('lz4', 'frames that need a dictionary are not supported');
  const blockMax = BLOCK_MAX[bd >>> 4]!;
  if (blockMax === 0) throw corrupt('lz4', `invalid block size code ${bd >>> 4}`);
  const descEnd = ip + 2 + (hasSize ? 8 : 0);
  if (descEnd + 1 > data.length) throw corrupt('lz4', 'truncated frame header');
  const hc = (xxh32(data.subarray(ip, descEnd)) >>> 8) & 0xff;
  if (hc !== data[descEnd]) throw corrupt('lz4', 'frame header checksum mismatch');
  let expected = -1;
  if (hasSize) {
    const hi = u32le(data, ip + 6);
    expected = hi * 4294967296 + u32le(data, ip + 2);
  }
  ip = descEnd + 1;
  const frameStart = out.length;
  for (;;) {
    if (ip + 4 > data.length) throw corrupt('lz4', 'truncated: missing block header');
    const word = u32le(data, ip);
    ip += 4;
    if (word === 0) break; // EndMark
    const stored = word >= 0x80000000;
    const size = word & 0x7fffffff;
    if (size > blockMax) throw corrupt('lz4', `block of ${size} bytes exceeds ${blockMax}`);
    if (ip + size + (blockChecksum ? 4 : 0) > data.length) throw corrupt('lz4', 'truncated block');
    if (blockChecksum && xxh32(data.subarray(ip, ip + size)) !== u32le(data, ip + size)) {
      throw corrupt('lz4', 'block checksum mismatch');
    }
    const dst = out.reserve(blockMax);
    if (stored) {
      dst.set(data.subarray(ip, ip + size), out.length);
      out.length += size;
    } else {
      const floor = independent ? out.length : frameStart;
      out.length = lz4Block(data, ip, ip + size, dst, out.length, out.length + blockMax, floor);
    }
    ip += size + (blockChecksum ? 4 : 0);
  }
  const produced = out.length - frameStart;
  if (expected >= 0 && produced !== expected) {
    throw corrupt('lz4', `frame decoded to ${produced} bytes, header says ${expected}`);
  }
  if (contentChecksum) {
    if (ip + 4 > data.length) throw corrupt('lz4', 'truncated: missing content checksum');
    if (xxh32(out.bytes.subarray(frameStart, out.length)) !== u32le(data, ip)) {
      throw corrupt('lz4', 'content checksum mismatch');
    }
    ip += 4;
  }
  return ip;
}

/** Concatenated frames (and skippable frames) until something that is not a frame. */
function frames(data: Uint8Array): Uint8Array {
  const out = new Output(data.length * 4);
  let ip = 0;
  let first = true;
  while (ip + 4 <= data.length) {
    const magic = u32le(data, ip);
    // After the first frame, 4 stray bytes (Linux's size) are not a frame of at least 11.
    if (!first && ip + 11 > data.length) break;
    if (magic === FRAME_MAGIC) {
      ip = frame(data, ip, out);
    } else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50 && ip + 8 <= data.length) {
      ip += 8 + u32le(data, ip + 4); // skippable frame
      if (ip > data.length) throw corrupt('lz4', 'truncated skippable frame');
    } else if (first) {
      throw corrupt('lz4', 'bad magic');
    } else {
      break;
    }
    first = false;
  }
  if (first) throw corrupt('lz4', 'truncated: no frame');
  return out.finish();
}

export function decompressLz4(data: Uint8Array): Uint8Array {
  if (data.length < 4) throw corrupt('lz4', 'truncated: no magic');
  const magic = u32le(data, 0);
  if (magic === LEGACY_MAGIC) return legacy(data);
  return frames(data);
}
