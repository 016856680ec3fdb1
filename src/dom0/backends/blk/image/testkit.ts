/**
 * Test helpers: temporary directories, and QEMU's own tools (qemu-img, qemu-io) as the
 * reference that creates images, writes into them and judges what we wrote.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '../../../../testing/host-tools.js';
import type { BlockImage, ImageErrorCode } from './index.js';
import { ImageError } from './index.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** A fresh directory, removed when the test ends. */
export async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'xenotype-image-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function run(tool: string, args: readonly string[]): string {
  requireTool(tool, 'qemu-utils');
  return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function qemuImg(...args: string[]): string {
  return run('qemu-img', args);
}

/** Runs qemu-io commands (e.g. "write -P 0xab 0 64k") against an image. */
export function qemuIo(image: string, format: string, ...commands: string[]): void {
  run('qemu-io', ['-f', format, ...commands.flatMap((command) => ['-c', command]), image]);
}

/** Asserts that `qemu-img check` finds no corruption and no leaked clusters; its report. */
export function assertCheckClean(image: string): Record<string, unknown> {
  requireTool('qemu-img', 'qemu-utils');
  const result = spawnSync('qemu-img', ['check', '--output=json', image], { encoding: 'utf8' });
  assert.equal(result.status, 0, `qemu-img check ${image}: ${result.stdout}${result.stderr}`);
  const report = JSON.parse(result.stdout) as Record<string, unknown>;
  for (const key of ['corruptions', 'leaks', 'check-errors']) {
    assert.equal(report[key] ?? 0, 0, `qemu-img check ${image}: ${key} in ${result.stdout}`);
  }
  return report;
}

/** The guest-visible content of an image, as qemu-img sees it. */
export async function contentByQemu(image: string, extra: string[] = []): Promise<Uint8Array> {
  const out = `${image}.converted.raw`;
  qemuImg('convert', ...extra, '-O', 'raw', image, out);
  try {
    return new Uint8Array(await readFile(out));
  } finally {
    await rm(out, { force: true });
  }
}

/** The guest-visible content of an image, as we see it. */
export async function contentByUs(image: BlockImage): Promise<Uint8Array> {
  const into = new Uint8Array(image.size);
  await image.read(0, into);
  return into;
}

/** Bytes that differ from block to block and from seed to seed. */
export function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i += 4) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
    bytes[i + 1] = state >>> 16;
    bytes[i + 2] = state >>> 8;
    bytes[i + 3] = state;
  }
  return bytes;
}

/** Text-like bytes: words from a small random vocabulary, which deflate shrinks well. */
export function compressible(length: number, seed: number): Uint8Array {
  const noise = pattern(4096, seed);
  const words: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const start = (noise[i] ?? 0) * 8;
    words.push(
      noise.subarray(start, start + 2 + ((noise[i + 64] ?? 0) % 8)).map((b) => 97 + (b % 20)),
    );
  }
  const bytes = new Uint8Array(length).fill(32);
  for (let at = 0, i = 0; at < length; i++) {
    const word = words[(noise[(i * 7) % 4096] ?? 0) % 64] ?? new Uint8Array(1);
    bytes.set(word.subarray(0, length - at), at);
    at += word.length + 1;
  }
  return bytes;
}

/** Compares large buffers with a useful message: where the first difference is. */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.length);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.length);
  if (a.equals(e)) return;
  let first = 0;
  while (a[first] === e[first]) first++;
  assert.fail(`${what}: first difference at byte ${first} (0x${first.toString(16)})`);
}

/** Asserts that `promise` rejects with an ImageError of this code naming `path`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: ImageErrorCode,
  path?: string,
): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImageError, `expected an ImageError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (path !== undefined) assert.ok(error.message.includes(path), error.message);
    return error;
  }
  assert.fail(`expected an ImageError '${code}'`);
}
