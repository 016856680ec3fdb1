// .lzma, the old "LZMA alone" format (`lzma -9`, `xz --format=lzma`): a 13-byte header
// (properties, dictionary size, uncompressed size or all-ones when unknown) and one LZMA stream.
import { LzmaDecoder } from './lzma-decoder.js';
import { corrupt, Output, u32le } from './util.js';

/** Output decoded per step; the buffer grows between steps. */
const STEP = 1 << 20;
/** Longest LZMA match, the most a step can overshoot. */
const MATCH_MAX = 273;
/** Beyond this ratio a declared size is not trusted for allocating up front. */
const RATIO_MAX = 64;

export function decompressLzma(data: Uint8Array): Uint8Array {
  if (data.length < 13) throw corrupt('lzma', 'truncated header');
  const dec = new LzmaDecoder('lzma');
  if (!dec.setProperties(data[0]!)) throw corrupt('lzma', `bad properties byte ${data[0]}`);
  const lo = u32le(data, 5);
  const hi = u32le(data, 9);
  const known = !(lo === 0xffffffff && hi === 0xffffffff);
  const size = known ? hi * 4294967296 + lo : Number.POSITIVE_INFINITY;
  if (size > 0xffffffff && known) throw corrupt('lzma', `uncompressed size ${size} is too large`);
  dec.resetState();
  dec.initRange(data, 13, data.length);

  const out = new Output(Math.min(size, data.length * RATIO_MAX));
  while (!dec.ended && out.length < size) {
    const step = Math.min(STEP, size - out.length);
    const buf = out.reserve(step + MATCH_MAX);
    // Only the last step must end exactly at the declared size.
    dec.decode(data, data.length, buf, out.length + step, out.length + step === size);
    out.length = dec.outPos;
  }
  if (known) {
    // Older encoders wrote both a size and an end marker; the marker may follow.
    if (!dec.ended && !dec.finished) {
      const buf = out.reserve(MATCH_MAX + 1);
      dec.decode(data, data.length, buf, size + 1, false);
      out.length = dec.outPos;
    }
    if (out.length !== size)
      throw corrupt('lzma', `decoded ${out.length} bytes, header says ${size}`);
  }
  if (!dec.finished) throw corrupt('lzma', 'range coder did not end cleanly');
  return out.finish();
}
