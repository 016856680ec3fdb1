// bzip2 through seek-bzip (pure JS, the decoder behind decompress-tarbz2). Streams written by
// parallel compressors (pbzip2, lbzip2) are concatenated, so each one is decoded in turn;
// whatever follows the last is trailing data such as Linux's appended size.
import Bunzip from 'seek-bzip';
import { corrupt, Output } from './util.js';

const isStreamStart = (data: Uint8Array, pos: number) =>
  data[pos] === 0x42 &&
  data[pos + 1] === 0x5a &&
  data[pos + 2] === 0x68 &&
  data[pos + 3]! >= 0x31 &&
  data[pos + 3]! <= 0x39;

class Truncated extends Error {}

export function decompressBzip2(data: Uint8Array): Uint8Array {
  if (!isStreamStart(data, 0))
    throw corrupt('bzip2', data.length < 4 ? 'truncated header' : 'bad magic');
  const out = new Output(data.length * 5);
  // seek-bzip reads past the end as undefined (zero bits); this input throws instead.
  const input = {
    pos: 0,
    readByte(): number {
      if (this.pos >= data.length) throw new Truncated();
      return data[this.pos++]!;
    },
    read(buffer: Uint8Array, offset: number, length: number): number {
      const n = Math.min(length, data.length - this.pos);
      if (n <= 0) return -1;
      buffer.set(data.subarray(this.pos, this.pos + n), offset);
      this.pos += n;
      return n;
    },
    seek(pos: number): void {
      this.pos = pos;
    },
  };
  // The smallest stream (header, end-of-stream marker, CRC) is 14 bytes: 4 stray trailing bytes
  // that happen to read "BZh9" are not one.
  while (input.pos === 0 || (input.pos + 14 <= data.length && isStreamStart(data, input.pos))) {
    try {
      out.append(Bunzip.decode(input, undefined, false));
    } catch (error) {
      if (error instanceof Truncated) throw corrupt('bzip2', 'truncated input');
      const reason = error instanceof Error ? error.message : String(error);
      throw corrupt('bzip2', reason, error);
    }
  }
  return out.finish();
}
