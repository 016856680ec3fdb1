// The .xz container (tukaani.org/xz/xz-file-format.txt): streams of blocks, an index and a
// footer; each block is a filter chain ending in LZMA2, followed by its check. Every size, CRC
// and the index are verified, so truncation and corruption cannot pass unnoticed.
import { crc32, crc64 } from './checksum.js';
import { bcjX86Decode, deltaDecode } from './filters.js';
import { decodeLzma2 } from './lzma2.js';
import { corrupt, Output, u16be, u32le } from './util.js';

const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const CHECK_CRC32 = 1;
const CHECK_CRC64 = 4;
const CHECK_SHA256 = 10;
const FILTER_DELTA = 0x03;
const FILTER_X86 = 0x04;
const FILTER_LZMA2 = 0x21;

const fail = (message: string) => corrupt('xz', message);

/** Size in bytes of each check type, by the 4-bit id in the stream flags. */
const checkSize = (type: number): number => (type === 0 ? 0 : 4 << Math.floor((type - 1) / 3));

/** Reads a multibyte integer at data[pos]; returns [value, next position]. */
function vli(data: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    if (pos >= end) throw fail('truncated header field');
    const b = data[pos++]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if (!(b & 0x80)) {
      if (b === 0 && i > 0) throw fail('non-minimal integer encoding');
      return [value, pos];
    }
  }
  throw fail('integer field too long');
}

const isMagic = (data: Uint8Array, pos: number) =>
  pos + 6 <= data.length && MAGIC.every((b, i) => data[pos + i] === b);

interface Filter {
  id: number;
  props: Uint8Array;
}

async function verifyCheck(type: number, plain: Uint8Array, stored: Uint8Array): Promise<void> {
  let ok = true;
  if (type === CHECK_CRC32) ok = crc32(plain) === u32le(stored, 0);
  else if (type === CHECK_CRC64) ok = crc64(plain).every((b, i) => b === stored[i]);
  else if (type === CHECK_SHA256) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', plain));
    ok = digest.every((b, i) => b === stored[i]);
  }
  // Other check ids are reserved; like xz, skip them rather than refuse the data.
  if (!ok) throw fail('block check mismatch (corrupt data)');
}

/** One block at data[pos]; returns its end and index record [unpadded size, uncompressed size]. */
async function block(
  data: Uint8Array,
  pos: number,
  check: number,
  out: Output,
): Promise<[number, number, number]> {
  const headerSize = (data[pos]! + 1) * 4;
  const headerEnd = pos + headerSize;
  if (headerEnd > data.length) throw fail('truncated block header');
  if (crc32(data.subarray(pos, headerEnd - 4)) !== u32le(data, headerEnd - 4)) {
    throw fail('block header CRC mismatch');
  }
  const flags = data[pos + 1]!;
  if (flags & 0x3c) throw fail('unsupported block flags');
  let p = pos + 2;
  let packedSize = -1;
  let plainSize = -1;
  if (flags & 0x40) [packedSize, p] = vli(data, p, headerEnd - 4);
  if (flags & 0x80) [plainSize, p] = vli(data, p, headerEnd - 4);
  const filters: Filter[] = [];
  for (let n = (flags & 3) + 1; n > 0; n--) {
    let id: number;
    let propsSize: number;
    [id, p] = vli(data, p, headerEnd - 4);
    [propsSize, p] = vli(data, p, headerEnd - 4);
    if (p + propsSize > headerEnd - 4) throw fail('truncated filter properties');
    filters.push({ id, props: data.subarray(p, p + propsSize) });
    p += propsSize;
  }
  for (; p < headerEnd - 4; p++) if (data[p] !== 0) throw fail('non-zero block header padding');
  const last = filters[filters.length - 1]!;
  if (last.id !== FILTER_LZMA2 || last.props.length !== 1 || last.props[0]! > 40) {
    throw fail('the last filter must be LZMA2');
  }
  for (const f of filters.slice(0, -1)) {
    const okX86 = f.id === FILTER_X86 && (f.props.length === 0 || f.props.length === 4);
    const okDelta = f.id === FILTER_DELTA && f.props.length === 1;
    if (!okX86 && !okDelta) throw fail(`unsupported filter 0x${f.id.toString(16)}`);
  }

  const outStart = out.length;
  const end = decodeLzma2(data, headerEnd, data.length, out);
  if (packedSize >= 0 && end - headerEnd !== packedSize) throw fail('compressed size mismatch');
  const plainLength = out.length - outStart;
  if (plainSize >= 0 && plainLength !== plainSize) throw fail('uncompressed size mismatch');
  // Filters undo in reverse chain order (the chain lists them in encoding order).
  for (let i = filters.length - 2; i >= 0; i--) {
    const f = filters[i]!;
    if (f.id === FILTER_X86) {
      const start = f.props.length === 4 ? u32le(f.props, 0) : 0;
      bcjX86Decode(out.bytes, outStart, out.length, start);
    } else {
      deltaDecode(out.bytes, outStart, out.length, f.props[0]! + 1);
    }
  }

  let q = end;
  while ((q - pos) & 3) {
    if (q >= data.length) throw fail('truncated block padding');
    if (data[q++] !== 0) throw fail('non-zero block padding');
  }
  const size = checkSize(check);
  if (q + size > data.length) throw fail('truncated block check');
  await verifyCheck(check, out.bytes.subarray(outStart, out.length), data.subarray(q, q + size));
  return [q + size, end - pos + size, plainLength];
}

/** One stream at data[pos]; returns the position after its footer. */
async function stream(data: Uint8Array, start: number, out: Output): Promise<number> {
  if (start + 12 > data.length) throw fail('truncated stream header');
  if (!isMagic(data, start)) throw fail('bad magic');
  const flags = data.subarray(start + 6, start + 8);
  if (crc32(flags) !== u32le(data, start + 8)) throw fail('stream header CRC mismatch');
  if (flags[0] !== 0 || flags[1]! & 0xf0) throw fail('unsupported stream flags');
  const check = flags[1]!;

  let pos = start + 12;
  const records: [number, number][] = [];
  for (;;) {
    if (pos >= data.length) throw fail('truncated: stream ends before its index');
    if (data[pos] === 0) break;
    const [next, unpadded, plain] = await block(data, pos, check, out);
    records.push([unpadded, plain]);
    pos = next;
  }

  // The index repeats every block's sizes; a mismatch means blocks were lost or altered.
  const indexStart = pos;
  const [count, afterCount] = vli(data, pos + 1, data.length);
  pos = afterCount;
  if (count !== records.length) throw fail('index does not match the blocks');
  for (const [unpadded, plain] of records) {
    let u: number;
    let v: number;
    [u, pos] = vli(data, pos, data.length);
    [v, pos] = vli(data, pos, data.length);
    if (u !== unpadded || v !== plain) throw fail('index does not match the blocks');
  }
  while ((pos - indexStart) & 3) {
    if (pos >= data.length) throw fail('truncated index');
    if (data[pos++] !== 0) throw fail('non-zero index padding');
  }
  if (pos + 4 + 12 > data.length) throw fail('truncated index or stream footer');
  if (crc32(data.subarray(indexStart, pos)) !== u32le(data, pos)) throw fail('index CRC mismatch');
  pos += 4;

  const footer = data.subarray(pos, pos + 12);
  if (crc32(footer.subarray(4, 10)) !== u32le(footer, 0)) throw fail('stream footer CRC mismatch');
  if ((u32le(footer, 4) + 1) * 4 !== pos - indexStart) throw fail('footer index size mismatch');
  if (footer[8] !== flags[0] || footer[9] !== flags[1]) throw fail('footer flags mismatch');
  if (footer[10] !== 0x59 || footer[11] !== 0x5a) throw fail('bad footer magic');
  return pos + 12;
}

/**
 * The output size, found by walking block and LZMA2 chunk headers without decoding, so the
 * output is allocated once. Returns 0 on anything unexpected: decoding then says what it is.
 */
function plainSize(data: Uint8Array): number {
  let total = 0;
  let pos = 0;
  try {
    while (isMagic(data, pos)) {
      const check = checkSize(data[pos + 7]! & 15);
      pos += 12;
      while (pos < data.length && data[pos] !== 0) {
        const start = pos;
        pos += (data[pos]! + 1) * 4;
        for (;;) {
          if (pos >= data.length) return 0;
          const control = data[pos]!;
          if (control === 0) break;
          if (control >= 0x80) {
            total += (control & 0x1f) * 65536 + u16be(data, pos + 1) + 1;
            pos += 5 + (control >= 0xc0 ? 1 : 0) + u16be(data, pos + 3) + 1;
          } else if (control <= 2) {
            const size = u16be(data, pos + 1) + 1;
            total += size;
            pos += 3 + size;
          } else {
            return 0;
          }
        }
        pos += 1 + ((3 - ((pos - start) & 3)) & 3) + check;
      }
      const indexStart = pos;
      let count: number;
      [count, pos] = vli(data, pos + 1, data.length);
      for (let i = 0; i < 2 * count; i++) [, pos] = vli(data, pos, data.length);
      pos += ((4 - ((pos - indexStart) & 3)) & 3) + 4 + 12;
      while (pos + 4 <= data.length && u32le(data, pos) === 0) pos += 4;
    }
  } catch {
    return 0;
  }
  return total;
}

export async function decompressXz(data: Uint8Array): Promise<Uint8Array> {
  // A size far beyond xz's usual ratios is more likely corrupt headers than real: grow instead.
  const size = plainSize(data);
  const out = new Output(size > 0 && size < data.length * 64 ? size : data.length * 4);
  let pos = 0;
  for (;;) {
    pos = await stream(data, pos, out);
    // Stream padding (multiples of 4 zero bytes), then maybe another stream. Anything else is
    // trailing data, such as the size Linux appends to its payload.
    while (pos + 4 <= data.length && u32le(data, pos) === 0) pos += 4;
    if (!isMagic(data, pos) || pos + 24 > data.length) return out.finish();
  }
}
