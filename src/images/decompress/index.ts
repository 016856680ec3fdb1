// Decompressors for every format a Linux bzImage payload or an initramfs may use, detected by
// magic bytes the way Linux's lib/decompress.c does. Whole buffers in, whole buffers out.
import { ImageFormatError } from '../errors.js';
import { decompressBzip2 } from './bzip2.js';
import { decompressGzip } from './gzip.js';
import { decompressLz4 } from './lz4.js';
import { decompressLzma } from './lzma.js';
import { decompressLzo } from './lzo.js';
import { decompressXz } from './xz.js';
import { decompressZstd } from './zstd.js';

export type CompressionFormat = 'gzip' | 'bzip2' | 'lzma' | 'xz' | 'lzo' | 'lz4' | 'zstd';

/** Two-byte magics from lib/decompress.c; LZ4's modern frame magic is added for initramfs. */
const MAGICS: [number, number, CompressionFormat][] = [
  [0x1f, 0x8b, 'gzip'],
  [0x1f, 0x9e, 'gzip'],
  [0x42, 0x5a, 'bzip2'],
  [0x5d, 0x00, 'lzma'],
  [0xfd, 0x37, 'xz'],
  [0x89, 0x4c, 'lzo'],
  [0x02, 0x21, 'lz4'],
  [0x04, 0x22, 'lz4'],
  [0x28, 0xb5, 'zstd'],
];

export function detectCompression(data: Uint8Array): CompressionFormat | undefined {
  if (data.length < 2) return undefined;
  return MAGICS.find(([a, b]) => data[0] === a && data[1] === b)?.[2];
}

/**
 * Decompresses one stream (or a run of concatenated streams/frames) of `format`. Bytes after
 * the end of the stream are ignored, such as the 4-byte size Linux appends to its payload.
 * Throws ImageFormatError on corrupt or truncated input.
 */
export async function decompress(data: Uint8Array, format: CompressionFormat): Promise<Uint8Array> {
  try {
    switch (format) {
      case 'gzip':
        return decompressGzip(data);
      case 'bzip2':
        return decompressBzip2(data);
      case 'lzma':
        return decompressLzma(data);
      case 'xz':
        return await decompressXz(data);
      case 'lzo':
        return decompressLzo(data);
      case 'lz4':
        return decompressLz4(data);
      case 'zstd':
        return decompressZstd(data);
      default:
        throw new ImageFormatError(`unknown compression format ${String(format)}`);
    }
  } catch (error) {
    if (error instanceof ImageFormatError) throw error;
    // A decoder bug or exhausted memory still surfaces as this module's error, with its cause.
    const reason = error instanceof Error ? error.message : String(error);
    throw new ImageFormatError(`${format}: ${reason}`, { cause: error });
  }
}
