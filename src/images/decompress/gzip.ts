// gzip (RFC 1952) through node:zlib. gunzipSync would read whatever follows a member as another
// member and fail on Linux's appended size, so headers and trailers are parsed here and zlib
// only inflates the raw deflate data in between, which tells where that data ends.
import { inflateRawSync } from 'node:zlib';
import { crc32 } from './checksum.js';
import { corrupt, Output, u16le, u32le } from './util.js';

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
/** Header, an empty deflate block and the trailer: no member is shorter. */
const MIN_MEMBER = 18;

const fail = (message: string, cause?: unknown) => corrupt('gzip', message, cause);

/** One member at data[start]; returns its output and the position after it. */
function member(data: Uint8Array, start: number): [Uint8Array, number] {
  if (start + 10 > data.length) throw fail('truncated header');
  if (data[start] !== 0x1f || data[start + 1] !== 0x8b) {
    // 1f 9e is the pre-1993 gzip magic: Linux's detector names it, its decoder refuses it too.
    const old = data[start] === 0x1f && data[start + 1] === 0x9e;
    throw fail(old ? 'old gzip format (1f 9e) unsupported' : 'bad magic');
  }
  if (data[start + 2] !== 8) throw fail(`unsupported compression method ${data[start + 2]}`);
  const flags = data[start + 3]!;
  if (flags & 0xe0) throw fail('reserved header flags set');
  let pos = start + 10;
  if (flags & FEXTRA) {
    if (pos + 2 > data.length) throw fail('truncated header');
    pos += 2 + u16le(data, pos);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    while (pos < data.length && data[pos] !== 0) pos++;
    pos++;
  }
  if (flags & FHCRC) {
    if (pos + 2 > data.length) throw fail('truncated header');
    if (u16le(data, pos) !== (crc32(data.subarray(start, pos)) & 0xffff)) {
      throw fail('header CRC mismatch');
    }
    pos += 2;
  }
  if (pos > data.length) throw fail('truncated header');

  let out: Uint8Array;
  try {
    const { buffer, engine } = inflateRawSync(data.subarray(pos), { info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    out = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    pos += engine.bytesWritten;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw fail(`inflate failed: ${reason}`, error);
  }
  if (pos + 8 > data.length) throw fail('truncated: missing CRC and size trailer');
  if (crc32(out) !== u32le(data, pos)) throw fail('CRC mismatch (corrupt data)');
  if (out.length >>> 0 !== u32le(data, pos + 4)) throw fail('size mismatch (corrupt data)');
  return [out, pos + 8];
}

/** Members are decoded in turn, as gzip -d does; what follows the last is ignored. */
export function decompressGzip(data: Uint8Array): Uint8Array {
  let [out, pos] = member(data, 0);
  const isMember = (at: number) =>
    at + MIN_MEMBER <= data.length &&
    data[at] === 0x1f &&
    data[at + 1] === 0x8b &&
    data[at + 2] === 8;
  if (!isMember(pos)) return out;
  const all = new Output(out.length * 2);
  all.append(out);
  while (isMember(pos)) {
    [out, pos] = member(data, pos);
    all.append(out);
  }
  return all.finish();
}
