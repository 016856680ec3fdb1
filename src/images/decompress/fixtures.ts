// Shared by the decompress tests: sample data, and the real command-line compressors that
// produce the streams the decoders are checked against.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ImageFormatError } from '../errors.js';
import { type CompressionFormat, decompress } from './index.js';

/** Which Debian package provides each tool, for the message when one is missing. */
const PACKAGES: Record<string, string> = {
  gzip: 'gzip',
  bzip2: 'bzip2',
  xz: 'xz-utils',
  lz4: 'lz4',
  lzop: 'lzop',
  zstd: 'zstd',
};

/**
 * Runs `tool args` with `input` on stdin and returns its stdout. A missing tool fails the test
 * with the package to install: an untested decoder must not look green.
 */
export function compress(tool: string, args: string[], input: Uint8Array): Uint8Array {
  const result = spawnSync(tool, args, { input, maxBuffer: 1 << 30 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    assert.fail(`${tool} is not installed: apt-get install ${PACKAGES[tool] ?? tool}`);
  }
  if (result.error) throw result.error;
  assert.equal(result.status, 0, `${tool} ${args.join(' ')} failed: ${result.stderr}`);
  return new Uint8Array(result.stdout);
}

/** Deterministic pseudo-random bytes (xorshift32): incompressible, and the same every run. */
export function randomBytes(length: number, seed = 0x12345678): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

/** Text with long and short repeats, and runs of one byte: exercises every kind of match. */
export function repetitiveBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  const words = ['xen', 'hypervisor ', 'grant_table', '\n', 'event channel ', '0000', 'domU '];
  let pos = 0;
  let n = 0;
  while (pos < length) {
    const word = new TextEncoder().encode(words[(n * 7 + (n >> 3)) % words.length]!);
    out.set(word.subarray(0, length - pos), pos);
    pos += word.length;
    n++;
    if (n % 97 === 0) pos += Math.min(n % 300, length - pos); // a run of zeros
  }
  return out;
}

/** Real x86-64 machine code (the node binary), for the x86 BCJ filter. */
export function machineCode(length: number): Uint8Array {
  const exe = readFileSync(process.execPath);
  return new Uint8Array(exe.subarray(0, Math.min(length, exe.length)));
}

export interface Sample {
  name: string;
  data: Uint8Array;
}

export const samples = (): Sample[] => [
  { name: 'empty', data: new Uint8Array(0) },
  { name: 'one byte', data: new Uint8Array([0x42]) },
  { name: 'random', data: randomBytes(300_000) },
  { name: 'repetitive', data: repetitiveBytes(1_000_000) },
  { name: 'machine code', data: machineCode(1_000_000) },
];

/** `data` followed by its length as 4 bytes little-endian, as Linux's size_append does. */
export function withSize(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(data.length + 4);
  out.set(data);
  new DataView(out.buffer).setUint32(data.length, size >>> 0, true);
  return out;
}

export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${what}: contents differ`);
}

/** Each cut of `stream` (without its trailing bytes) must be reported, not decoded short. */
export async function assertTruncationsThrow(
  stream: Uint8Array,
  format: CompressionFormat,
  cuts: number[],
): Promise<void> {
  for (const cut of cuts) {
    await assert.rejects(
      decompress(stream.subarray(0, cut), format),
      ImageFormatError,
      `${format} cut at ${cut} of ${stream.length}`,
    );
  }
}
