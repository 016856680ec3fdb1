// zstd through fzstd (pure JS, by fflate's author). fzstd wants exactly one run of frames and
// skips content checksums, so frames are delimited here (Linux appends a size after the last
// one) and each frame's XXH64 checksum, when present, is verified.
import { decompress as fzstd } from 'fzstd';
import { xxh64Low32 } from './checksum.js';
import { corrupt, Output, u16le, u32le } from './util.js';

const MAGIC = 0xfd2fb528;
const fail = (message: string, cause?: unknown) => corrupt('zstd', message, cause);

interface Frame {
  end: number;
  checksum: boolean;
  /** Declared content size, or -1. */
  size: number;
}

/** Walks a frame's header and block headers to find where it ends. */
function scanFrame(data: Uint8Array, pos: number): Frame {
  if (pos + 5 > data.length) throw fail('truncated frame header');
  const fhd = data[pos + 4]!;
  if (fhd & 0x08) throw fail('reserved frame header bit set');
  const single = (fhd & 0x20) !== 0;
  const fcsBytes = [single ? 1 : 0, 2, 4, 8][fhd >>> 6]!;
  let p = pos + 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
  if (p + fcsBytes > data.length) throw fail('truncated frame header');
  let size = -1;
  if (fcsBytes === 1) size = data[p]!;
  else if (fcsBytes === 2) size = u16le(data, p) + 256;
  else if (fcsBytes === 4) size = u32le(data, p);
  else if (fcsBytes === 8) size = u32le(data, p + 4) * 4294967296 + u32le(data, p);
  p += fcsBytes;
  for (;;) {
    if (p + 3 > data.length) throw fail('truncated: missing block header');
    const header = data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16);
    const type = (header >>> 1) & 3;
    if (type === 3) throw fail('reserved block type');
    p += 3 + (type === 1 ? 1 : header >>> 3);
    if (p > data.length) throw fail('truncated block');
    if (header & 1) break;
  }
  const checksum = (fhd & 0x04) !== 0;
  if (checksum) p += 4;
  if (p > data.length) throw fail('truncated: missing content checksum');
  return { end: p, checksum, size };
}

export function decompressZstd(data: Uint8Array): Uint8Array {
  const out = new Output(data.length * 4);
  let pos = 0;
  let frames = 0;
  while (pos + 4 <= data.length) {
    const magic = u32le(data, pos);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50 && pos + 8 <= data.length) {
      pos += 8 + u32le(data, pos + 4); // skippable frame
      if (pos > data.length) throw fail('truncated skippable frame');
      continue;
    }
    // Linux's appended size could even spell a magic; a real frame is at least 8 bytes.
    if (magic !== MAGIC || (frames > 0 && pos + 8 > data.length)) break;
    const frame = scanFrame(data, pos);
    let plain: Uint8Array;
    try {
      plain = fzstd(data.subarray(pos, frame.end));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw fail(`corrupt frame: ${reason}`, error);
    }
    if (frame.size >= 0 && plain.length !== frame.size) {
      throw fail(`frame decoded to ${plain.length} bytes, header says ${frame.size}`);
    }
    if (frame.checksum && xxh64Low32(plain) !== u32le(data, frame.end - 4)) {
      throw fail('content checksum mismatch (corrupt data)');
    }
    out.append(plain);
    pos = frame.end;
    frames++;
  }
  if (frames === 0) throw fail(data.length < 4 ? 'truncated: no magic' : 'bad magic');
  return out.finish();
}
