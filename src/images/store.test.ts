import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { ImageFetchError } from './errors.js';
import { cachedImages, fetchImages } from './store.js';

// These tests put fake apt-cache/apt-get scripts first on PATH, to play the archive's
// failures that a real machine cannot be asked to produce.
let work: string;
let fakeBin: string;
let cache: string;
const originalPath = process.env.PATH;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xenotype-store-'));
  fakeBin = join(work, 'bin');
  await writeFile(join(work, 'good.deb'), 'x'.repeat(4096));
});

beforeEach(async () => {
  cache = await mkdtemp(join(work, 'cache-'));
  await rm(fakeBin, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(fakeBin));
  process.env.PATH = `${fakeBin}:${originalPath}`;
});

after(async () => {
  process.env.PATH = originalPath;
  await rm(work, { recursive: true, force: true });
});

async function script(name: string, body: string): Promise<void> {
  await writeFile(join(fakeBin, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(fakeBin, name), 0o755);
}

function stanza(name: string, depends: string, size: number, sha256: string): string {
  return `Package: ${name}\nVersion: 9.9-1\nDepends: ${depends}\nSize: ${size}\nSHA256: ${sha256}\n`;
}

async function archiveWithOnePackage(): Promise<void> {
  const deb = 'x'.repeat(4096);
  const sha = createHash('sha256').update(deb).digest('hex');
  await script(
    'apt-cache',
    `case "$3" in
  linux-image-cloud-amd64) printf '${stanza('linux-image-cloud-amd64', 'linux-image-9.9-cloud-amd64 (= 9.9-1)', 10, 'aa')}' ;;
  linux-image-9.9-cloud-amd64) printf '${stanza('linux-image-9.9-cloud-amd64', 'kmod', 4096, sha)}' ;;
  busybox-static) printf '${stanza('busybox-static', 'libc6', 4096, sha)}' ;;
  *) echo "E: No packages found" >&2; exit 100 ;;
esac`,
  );
}

async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(cache, { recursive: true })) found.push(String(entry));
  return found;
}

test('a truncated download is refused and leaves nothing in the cache', async () => {
  await archiveWithOnePackage();
  await script(
    'apt-get',
    `head -c 1000 ${join(work, 'good.deb')} > linux-image-9.9-cloud-amd64_9.9-1_amd64.deb`,
  );
  await assert.rejects(fetchImages({ cache }), (error: unknown) => {
    assert.ok(error instanceof ImageFetchError);
    assert.match(error.message, /does not match apt's lists \(size 1000, expected 4096/);
    return true;
  });
  assert.deepEqual(await leftovers(), ['kernel']);
  assert.equal(await cachedImages(cache), undefined);
});

test('a package that has left the archive names what to do', async () => {
  await archiveWithOnePackage();
  await script('apt-get', 'echo "E: Version 9.9-1 not found" >&2; exit 100');
  await assert.rejects(
    fetchImages({ cache }),
    /could not download linux-image-9.9-cloud-amd64 9.9-1: check the network, or run "apt-get update"/,
  );
  assert.deepEqual(await leftovers(), ['kernel']);
});

test('a package apt does not know is reported after one apt-get update', async () => {
  await script('apt-cache', 'echo "E: No packages found" >&2; exit 100');
  await script('apt-get', `echo "$@" >> ${join(work, 'apt-get.log')}`);
  const expected =
    process.getuid?.() === 0 ? /is not in the Debian archive/ : /run "sudo apt-get update"/;
  await assert.rejects(fetchImages({ cache }), expected);
});

test('a machine without apt gets a clear message', async () => {
  process.env.PATH = fakeBin;
  await assert.rejects(
    fetchImages({ cache }),
    /apt-cache was not found: .* needs a Debian or Ubuntu host/,
  );
});
