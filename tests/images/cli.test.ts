// `xenotype images …` as a user runs it: the built binary, its output and exit codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { readCpio } from '../../src/images/initramfs/cpio.js';
import { ensureImages } from '../../src/images/store.js';

const binary = fileURLToPath(new URL('../../src/bin/xenotype.js', import.meta.url));
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xenotype-cli-'));
  await ensureImages();
});
after(async () => rm(work, { recursive: true, force: true }));

function xenotype(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [binary, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

test('images show on an empty cache says how to fill it and exits 1', () => {
  const result = xenotype(['images', 'show'], { XENOTYPE_CACHE: join(work, 'empty') });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /no images in .*empty: run "xenotype images fetch"/);
});

test('images show --json gives the cached paths', () => {
  const result = xenotype(['images', 'show', '--json']);
  assert.equal(result.status, 0, result.stderr);
  const shown = JSON.parse(result.stdout);
  assert.match(shown.kernelRelease, /^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
});

test('images inspect describes the kernel and its PVH entry', () => {
  const result = xenotype(['images', 'inspect']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /bzImage {6}boot protocol 2\.\d+, lz4 payload/);
  assert.match(result.stdout, /PHYS32_ENTRY {7}0x[0-9a-f]+/);
});

test('images inspect on a file that is no kernel fails clearly', async () => {
  const file = join(work, 'notakernel');
  await writeFile(file, 'hello, world\n'.repeat(100));
  const result = xenotype(['images', 'inspect', file]);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /neither an ELF file .* nor a bzImage/);
});

test('images initramfs adds a user file and a user /init', async () => {
  const init = join(work, 'my-init');
  const extra = join(work, 'hello.txt');
  await writeFile(init, '#!/bin/busybox sh\necho mine\n');
  await writeFile(extra, 'hello\n');
  const output = join(work, 'custom.cpio.gz');
  const result = xenotype([
    'images',
    'initramfs',
    '-o',
    output,
    '--init',
    init,
    '--add',
    `${extra}:/etc/hello.txt`,
  ]);
  assert.equal(result.status, 0, result.stderr);
  const entries = new Map(readCpio(gunzipSync(await readFile(output))).map((e) => [e.path, e]));
  assert.equal(
    new TextDecoder().decode(entries.get('init')?.data),
    '#!/bin/busybox sh\necho mine\n',
  );
  assert.equal(new TextDecoder().decode(entries.get('etc/hello.txt')?.data), 'hello\n');
  assert.ok(entries.has('bin/busybox'));
});

test('images initramfs with a malformed --add names the form', () => {
  const result = xenotype(['images', 'initramfs', '-o', join(work, 'x.gz'), '--add', 'nocolon']);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /--add wants HOST:GUEST, got "nocolon"/);
});

test('an unknown command prints the usage and exits 1', () => {
  const result = xenotype(['frobnicate']);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /unknown command "frobnicate"/);
});
