import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageFormatError } from '../errors.js';
import { readAr } from './ar.js';
import { extractEntries, readDebData } from './deb.js';
import { readTar } from './tar.js';

function sh(command: string, cwd: string): void {
  const result = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command}: ${result.stderr}`);
}

let work: string;
const longName = `${'d'.repeat(90)}/${'f'.repeat(120)}.txt`;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xenotype-deb-'));
  const tree = join(work, 'pkg');
  await mkdir(join(tree, 'DEBIAN'), { recursive: true });
  await mkdir(join(tree, 'usr/share/doc'), { recursive: true });
  await mkdir(join(tree, 'd'.repeat(90)), { recursive: true });
  await writeFile(
    join(tree, 'DEBIAN/control'),
    [
      'Package: xenotype-test',
      'Version: 1:2.3-4',
      'Architecture: amd64',
      'Maintainer: Test <test@example.org>',
      'Description: test package',
      '',
    ].join('\n'),
  );
  await writeFile(join(tree, 'usr/share/doc/readme'), 'hello\n'.repeat(1000));
  await writeFile(
    join(tree, longName),
    new Uint8Array(70000).map((_, i) => (i * 7) & 0xff),
  );
  await writeFile(join(tree, 'usr/run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  await symlink('share/doc/readme', join(tree, 'usr/readme-link'));
});

after(async () => rm(work, { recursive: true, force: true }));

describe('Debian package reader', () => {
  for (const compression of ['xz', 'gzip', 'zstd', 'none']) {
    test(`matches dpkg-deb -x for data.tar with ${compression}`, async () => {
      const deb = join(work, `test-${compression}.deb`);
      sh(`dpkg-deb --root-owner-group -Z${compression} --build pkg ${deb} >/dev/null`, work);
      const ours = join(work, `ours-${compression}`);
      const theirs = join(work, `theirs-${compression}`);
      await extractEntries(await readDebData(await readFile(deb)), ours);
      sh(`dpkg-deb -x ${deb} ${theirs}`, work);
      sh(`diff -r --no-dereference ${theirs} ${ours}`, work);
      assert.equal(await readlink(join(ours, 'usr/readme-link')), 'share/doc/readme');
      const mode = spawnSync('stat', ['-c', '%a', join(ours, 'usr/run.sh')], { encoding: 'utf8' });
      assert.equal(mode.stdout.trim(), '755');
    });
  }

  test('place() selects and renames entries', async () => {
    const deb = join(work, 'select.deb');
    sh(`dpkg-deb --root-owner-group -Zxz --build pkg ${deb} >/dev/null`, work);
    const out = join(work, 'selected');
    await extractEntries(await readDebData(await readFile(deb)), out, (path) =>
      path === 'usr/share/doc/readme' ? 'readme' : undefined,
    );
    assert.equal(await readFile(join(out, 'readme'), 'utf8'), 'hello\n'.repeat(1000));
    sh(`test "$(ls ${out})" = readme`, work);
  });

  test('a truncated package is refused', async () => {
    const deb = join(work, 'trunc.deb');
    sh(`dpkg-deb --root-owner-group -Zxz --build pkg ${deb} >/dev/null`, work);
    const bytes = await readFile(deb);
    await assert.rejects(readDebData(bytes.subarray(0, bytes.length - 100)), ImageFormatError);
    await assert.rejects(readDebData(bytes.subarray(0, 70)), /truncated/);
  });

  test('something that is not a .deb is refused', async () => {
    await assert.rejects(readDebData(new TextEncoder().encode('hello world')), /not an ar archive/);
    sh('printf x > a.txt && ar qc plain.a a.txt', work);
    await assert.rejects(
      readDebData(await readFile(join(work, 'plain.a'))),
      /not a Debian package/,
    );
  });

  test('entries that would leave the extraction root are refused', async () => {
    const evil = [
      {
        path: '../escape',
        type: 'file' as const,
        mode: 0o644,
        mtime: 0,
        linkTarget: '',
        data: new Uint8Array(1),
      },
    ];
    await assert.rejects(extractEntries(evil, join(work, 'evil')), /outside the package root/);
  });
});

describe('ar reader', () => {
  test('reads members written by binutils ar, odd sizes padded', async () => {
    sh('printf abc > one && printf 0123456789 > two && rm -f t.a && ar qc t.a one two', work);
    const members = readAr(await readFile(join(work, 't.a')));
    assert.deepEqual(
      members.map((m) => [m.name, new TextDecoder().decode(m.data)]),
      [
        ['one', 'abc'],
        ['two', '0123456789'],
      ],
    );
  });

  test('a bad size field is refused', async () => {
    const archive = new TextEncoder().encode(`!<arch>\n${'x'.padEnd(48)}${'12z'.padEnd(10)}\`\n`);
    assert.throws(() => readAr(archive), /bad size field/);
  });
});

describe('tar reader', () => {
  test('GNU and pax archives: long names, symlinks, directories', async () => {
    for (const format of ['gnu', 'pax', 'ustar']) {
      const file = join(work, `t-${format}.tar`);
      const members = format === 'ustar' ? 'usr' : `usr ${longName}`;
      sh(`tar --format=${format} -C pkg -cf ${file} ${members}`, work);
      const entries = readTar(await readFile(file));
      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.equal(byPath.get('usr/readme-link')?.type, 'symlink');
      assert.equal(byPath.get('usr/readme-link')?.linkTarget, 'share/doc/readme');
      assert.equal(byPath.get('usr/share')?.type, 'directory');
      assert.equal(byPath.get('usr/run.sh')?.mode, 0o755);
      if (format !== 'ustar') assert.equal(byPath.get(longName)?.data.length, 70000);
    }
  });

  test('a corrupted header checksum is refused', async () => {
    const file = join(work, 'c.tar');
    sh(`tar -C pkg -cf ${file} usr`, work);
    const bytes = new Uint8Array(await readFile(file));
    bytes[10] = (bytes[10] ?? 0) ^ 0x55;
    assert.throws(() => readTar(bytes), /bad checksum/);
  });

  test('an archive without end blocks is refused as truncated', async () => {
    const file = join(work, 't.tar');
    sh(`tar -C pkg -cf ${file} usr/run.sh`, work);
    const bytes = await readFile(file);
    assert.throws(() => readTar(bytes.subarray(0, 1024)), /truncated/);
  });
});
