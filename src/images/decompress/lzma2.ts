// LZMA2, the chunked LZMA inside xz blocks: each chunk says what to reset (dictionary, state,
// properties) and carries its exact packed and unpacked sizes, so chunks end on symbol boundaries.
import { LzmaDecoder } from './lzma-decoder.js';
import { corrupt, type Output, u16be } from './util.js';

/** Decodes the LZMA2 data at src[pos, end) onto `out`; returns the position after its end byte. */
export function decodeLzma2(src: Uint8Array, pos: number, end: number, out: Output): number {
  const dec = new LzmaDecoder('xz');
  let needDictReset = true;
  let needProps = true;
  for (;;) {
    if (pos >= end) throw corrupt('xz', 'truncated LZMA2 data');
    const control = src[pos++]!;
    if (control === 0) return pos;
    if (control >= 0xe0 || control === 1) {
      needProps = true;
      needDictReset = false;
      dec.dictStart = out.length;
    } else if (needDictReset) {
      throw corrupt('xz', 'LZMA2 data does not start with a dictionary reset');
    }
    if (control >= 0x80) {
      if (pos + 4 > end) throw corrupt('xz', 'truncated LZMA2 chunk header');
      const unpacked = (control & 0x1f) * 65536 + u16be(src, pos) + 1;
      const packed = u16be(src, pos + 2) + 1;
      pos += 4;
      if (control >= 0xc0) {
        if (pos >= end) throw corrupt('xz', 'truncated LZMA2 chunk header');
        if (!dec.setProperties(src[pos]!) || dec.lc + dec.lp > 4) {
          throw corrupt('xz', `bad LZMA2 properties byte ${src[pos]}`);
        }
        pos++;
        needProps = false;
      } else if (needProps) {
        throw corrupt('xz', 'LZMA2 chunk without the properties it needs');
      }
      if (control >= 0xa0) dec.resetState();
      if (pos + packed > end) throw corrupt('xz', 'truncated LZMA2 chunk');
      dec.initRange(src, pos, pos + packed);
      const buf = out.reserve(unpacked);
      dec.outPos = out.length;
      dec.decode(src, pos + packed, buf, out.length + unpacked, true);
      if (dec.ended) throw corrupt('xz', 'end marker inside an LZMA2 chunk');
      if (dec.inPos !== pos + packed || !dec.finished) {
        throw corrupt('xz', 'LZMA2 chunk does not end where its header says');
      }
      out.length += unpacked;
      pos += packed;
    } else if (control <= 2) {
      if (pos + 2 > end) throw corrupt('xz', 'truncated LZMA2 chunk header');
      const size = u16be(src, pos) + 1;
      pos += 2;
      if (pos + size > end) throw corrupt('xz', 'truncated LZMA2 chunk');
      out.append(src.subarray(pos, pos + size));
      pos += size;
    } else {
      throw corrupt('xz', `bad LZMA2 control byte 0x${control.toString(16)}`);
    }
  }
}
