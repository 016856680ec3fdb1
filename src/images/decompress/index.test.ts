import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ImageFormatError } from '../errors.js';
import { assertBytes, compress, randomBytes, samples, withSize } from './fixtures.js';
import { type CompressionFormat, decompress, detectCompression } from './index.js';

// Every format, as the real tools write it (including the exact invocations Linux's
// scripts/Makefile.lib and xz_wrap.sh use), each sample followed by Linux's 4 size bytes.
const VARIANTS: [CompressionFormat, string, string[]][] = [
  ['gzip', 'gzip', ['-c', '-n', '-9']],
  ['gzip', 'gzip', ['-c', '-1']],
  ['bzip2', 'bzip2', ['-c', '-9']],
  ['lzma', 'xz', ['-c', '--format=lzma', '-9']],
  ['xz', 'xz', ['-c']],
  ['xz', 'xz', ['-c', '--check=crc32', '--x86', '--lzma2=dict=32MiB']],
  ['xz', 'xz', ['-c', '--check=sha256', '-0']],
  ['xz', 'xz', ['-c', '--check=none', '--delta=dist=4', '--lzma2=preset=1']],
  ['xz', 'xz', ['-c', '-T2', '--block-size=256KiB']],
  ['lzo', 'lzop', ['-c', '-9']],
  ['lzo', 'lzop', ['-c', '-1', '--crc32']],
  ['lzo', 'lzop', ['-c', '--no-checksum']],
  ['lz4', 'lz4', ['-c', '-l', '-9']],
  ['lz4', 'lz4', ['-c']],
  ['lz4', 'lz4', ['-c', '--content-size', '-BD', '-BX', '-B4']],
  ['lz4', 'lz4', ['-c', '--no-frame-crc', '-B7']],
  ['zstd', 'zstd', ['-c', '-q', '-19']],
  ['zstd', 'zstd', ['-c', '-q', '--no-check', '-1']],
];

describe('decompress: real tools, round trip', () => {
  const data = samples();
  for (const [format, tool, args] of VARIANTS) {
    test(`${tool} ${args.join(' ')}`, async () => {
      for (const { name, data: plain } of data) {
        const packed = compress(tool, args, plain);
        assert.equal(detectCompression(packed), format, `${name}: detected format`);
        assertBytes(await decompress(packed, format), plain, `${name}`);
        const sized = withSize(packed, plain.length);
        assertBytes(await decompress(sized, format), plain, `${name} + size bytes`);
      }
    });
  }
});

describe('detectCompression', () => {
  test('knows the magics of lib/decompress.c, and LZ4 frames', () => {
    const cases: [number[], CompressionFormat | undefined][] = [
      [[0x1f, 0x8b], 'gzip'],
      [[0x1f, 0x9e], 'gzip'],
      [[0x42, 0x5a, 0x68], 'bzip2'],
      [[0x5d, 0x00, 0x00], 'lzma'],
      [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
      [[0x89, 0x4c, 0x5a, 0x4f], 'lzo'],
      [[0x02, 0x21, 0x4c, 0x18], 'lz4'],
      [[0x04, 0x22, 0x4d, 0x18], 'lz4'],
      [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
      [[0x7f, 0x45, 0x4c, 0x46], undefined],
      [[0x1f], undefined],
      [[], undefined],
    ];
    for (const [bytes, format] of cases) {
      assert.equal(detectCompression(new Uint8Array(bytes)), format, `${bytes}`);
    }
  });
});

describe('decompress: bad input', () => {
  const formats: CompressionFormat[] = ['gzip', 'bzip2', 'lzma', 'xz', 'lzo', 'lz4', 'zstd'];

  test('garbage, empty and wrong-format input throw ImageFormatError', async () => {
    const garbage = randomBytes(4096, 99);
    for (const format of formats) {
      await assert.rejects(decompress(garbage, format), ImageFormatError, `${format} garbage`);
      await assert.rejects(decompress(new Uint8Array(0), format), ImageFormatError, format);
    }
    const gz = compress('gzip', ['-c'], new Uint8Array(100));
    await assert.rejects(decompress(gz, 'xz'), /^ImageFormatError: xz: bad magic/);
  });

  test('an unknown format name throws ImageFormatError', async () => {
    await assert.rejects(
      decompress(new Uint8Array(8), 'rar' as CompressionFormat),
      ImageFormatError,
    );
  });

  test('single-byte corruptions never hang, and only ever throw ImageFormatError', async () => {
    // Formats with checksums must never return wrong data: a flip either throws or falls in
    // bits the decoder ignores (deflate has a few), giving back the original.
    const plain = samples()[3]!.data.subarray(0, 200_000);
    const checked: [CompressionFormat, string, string[]][] = [
      ['gzip', 'gzip', ['-c']],
      ['bzip2', 'bzip2', ['-c']],
      ['xz', 'xz', ['-c']],
      ['lzo', 'lzop', ['-c']],
      ['lz4', 'lz4', ['-c']],
      ['zstd', 'zstd', ['-c', '-q']],
    ];
    for (const [format, tool, args] of checked) {
      const packed = compress(tool, args, plain);
      let caught = 0;
      for (let n = 0; n < 40; n++) {
        const bad = packed.slice();
        const at = 12 + ((n * 7919) % (packed.length - 16));
        bad[at] = bad[at]! ^ (1 << (n % 8));
        try {
          assertBytes(await decompress(bad, format), plain, `${format} flip at ${at}`);
        } catch (error) {
          assert.ok(error instanceof ImageFormatError, `${format} flip at ${at}: ${error}`);
          caught++;
        }
      }
      assert.ok(caught >= 35, `${format}: only ${caught} of 40 flips detected`);
    }
    // .lzma and LZ4 legacy carry no checksum: flips must not hang or escape as other errors.
    for (const [format, tool, args] of [
      ['lzma', 'xz', ['-c', '--format=lzma']],
      ['lz4', 'lz4', ['-c', '-l']],
    ] as const) {
      const packed = compress(tool, [...args], plain);
      for (let n = 0; n < 40; n++) {
        const bad = packed.slice();
        const at = 8 + ((n * 7919) % (packed.length - 8));
        bad[at] = bad[at]! ^ 0x10;
        try {
          await decompress(bad, format);
        } catch (error) {
          assert.ok(error instanceof ImageFormatError, `${format}: ${error}`);
        }
      }
    }
  });
});
