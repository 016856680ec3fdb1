import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireTool } from '../../testing/host-tools.js';
import { ImageFormatError } from '../errors.js';
import { CpioWriter, normaliseName, readCpio } from './cpio.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xenotype-cpio-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs GNU cpio, the reference reader. */
function runCpio(args: string[], input: Uint8Array, cwd?: string): string {
  requireTool('cpio', 'cpio');
  return execFileSync('cpio', args, {
    input,
    cwd,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** An archive with one entry of every kind, mtime 1234567890. */
function sampleWriter(withDevices: boolean): CpioWriter {
  const cpio = new CpioWriter({ mtime: 1234567890 });
  cpio.addDirectory('etc', { mode: 0o750 });
  cpio.addFile('etc/hostname', 'xenotype\n');
  cpio.addFile('bin/tool', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]), {
    mode: 0o755,
    uid: 0,
    gid: 0,
  });
  cpio.addSymlink('bin/sh', '/bin/busybox');
  cpio.addFile('usr/share/empty', new Uint8Array(0));
  cpio.addDirectory('tmp', { mode: 0o1777 });
  for (let length = 1; length <= 5; length++)
    cpio.addFile(`pad/${'n'.repeat(length)}`, 'x'.repeat(length));
  if (withDevices) {
    cpio.addDevice('dev/console', 'char', 5, 1);
    cpio.addDevice('dev/null', 'char', 1, 3, { mode: 0o666 });
    cpio.addDevice('dev/xvda', 'block', 202, 0, { mode: 0o660, gid: 6 });
  }
  return cpio;
}

describe('CpioWriter', () => {
  test('writes newc headers with 4-byte alignment and a trailer', () => {
    const archive = new CpioWriter().addFile('a', 'hi').finish();
    const text = new TextDecoder().decode(archive);
    // 110-byte header + "a\0" = 112 (aligned), data "hi" + 2 bytes of padding.
    assert.equal(
      text.slice(0, 110),
      '070701' +
        ['1', '81A4', '0', '0', '1', '0', '2', '0', '0', '0', '0', '2', '0']
          .map((f) => f.padStart(8, '0'))
          .join(''),
    );
    assert.equal(text.slice(110, 116), 'a\0hi\0\0');
    assert.equal(text.slice(116, 122), '070701');
    assert.ok(text.includes('TRAILER!!!\0'));
    assert.equal(archive.length % 4, 0);
  });

  test('adds implied parent directories first and numbers inodes in order', () => {
    const cpio = new CpioWriter();
    cpio.addFile('a/b/c.txt', 'c');
    cpio.addDirectory('a/b', { mode: 0o700 }); // takes over the implied directory
    cpio.addFile('a/d', 'd');
    const entries = readCpio(cpio.finish());
    assert.deepEqual(
      entries.map((entry) => [entry.path, entry.type, entry.mode.toString(8), entry.nlink]),
      [
        ['a', 'directory', '755', 2],
        ['a/b', 'directory', '700', 2],
        ['a/b/c.txt', 'file', '644', 1],
        ['a/d', 'file', '644', 1],
      ],
    );
  });

  test('the reader gives back what the writer wrote', () => {
    const cpio = sampleWriter(true);
    const entries = readCpio(cpio.finish());
    assert.deepEqual(entries, cpio.entries());
    const console = entries.find((entry) => entry.path === 'dev/console');
    assert.deepEqual(
      [console?.type, console?.rdevMajor, console?.rdevMinor, console?.mode],
      ['char', 5, 1, 0o600],
    );
    const xvda = entries.find((entry) => entry.path === 'dev/xvda');
    assert.deepEqual([xvda?.type, xvda?.rdevMajor, xvda?.gid], ['block', 202, 6]);
    assert.equal(
      new TextDecoder().decode(entries.find((entry) => entry.path === 'bin/sh')?.data),
      '/bin/busybox',
    );
  });

  test('is deterministic', () => {
    assert.deepEqual(sampleWriter(true).finish(), sampleWriter(true).finish());
  });

  test('normalises names and rejects bad ones', () => {
    assert.equal(normaliseName('a/./b//c/'), 'a/b/c');
    assert.equal(normaliseName('./init'), 'init');
    const bad = [
      '',
      '.',
      './',
      '/',
      '/etc/passwd',
      '..',
      'a/../b',
      'a/..',
      'a\0b',
      'x'.repeat(4096),
    ];
    for (const name of bad) {
      assert.throws(
        () => new CpioWriter().addFile(name, 'x'),
        ImageFormatError,
        JSON.stringify(name),
      );
    }
    assert.doesNotThrow(() => new CpioWriter().addFile('y'.repeat(4095), 'x'));
  });

  test('rejects duplicates and bad attributes', () => {
    const cpio = new CpioWriter().addFile('etc/a', 'x').addDirectory('dir');
    assert.throws(() => cpio.addFile('etc/a', 'y'), /duplicate cpio entry: etc\/a/);
    assert.throws(() => cpio.addSymlink('./etc//a', 'z'), /duplicate/);
    assert.throws(() => cpio.addDirectory('dir'), /duplicate/);
    assert.throws(() => cpio.addFile('etc', 'y'), /duplicate/);
    assert.throws(() => cpio.addFile('etc/a/b', 'y'), /under etc\/a, which is a file/);
    assert.throws(() => cpio.addFile('m', 'x', { mode: 0o100644 }), ImageFormatError);
    assert.throws(() => cpio.addFile('u', 'x', { uid: -1 }), ImageFormatError);
    assert.throws(() => cpio.addFile('t', 'x', { mtime: 2 ** 32 }), ImageFormatError);
    assert.throws(() => cpio.addSymlink('l', ''), ImageFormatError);
    assert.throws(() => cpio.addDevice('d', 'char', 1.5, 0), ImageFormatError);
  });
});

describe('readCpio', () => {
  const good = () => new CpioWriter().addFile('motd', 'hello').finish();
  const patch = (archive: Uint8Array, offset: number, text: string) => {
    const copy = archive.slice();
    copy.set(new TextEncoder().encode(text), offset);
    return copy;
  };
  /** A single-entry archive whose name is written raw, unchecked. */
  const rawEntry = (name: string) => {
    const nameBytes = new TextEncoder().encode(`${name}\0`);
    const fields = [1, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, nameBytes.length, 0];
    const header = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
    const entry = new Uint8Array(Math.ceil((110 + nameBytes.length) / 4) * 4);
    entry.set(new TextEncoder().encode(header));
    entry.set(nameBytes, 110);
    return new Uint8Array([...entry, ...new CpioWriter().finish()]);
  };

  test('rejects corrupt archives with ImageFormatError', () => {
    const archive = good();
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['bad magic', patch(archive, 0, '070707'), /bad cpio magic/],
      ['CRC variant', patch(archive, 0, '070702'), /CRC/],
      ['truncated header', archive.slice(0, 60), /header truncated/],
      ['bad hex field', patch(archive, 6 + 8 * 6 + 3, 'g'), /bad cpio hex field/],
      ['sign in hex field', patch(archive, 6 + 8 * 6, '-0000001'), /bad cpio hex field/],
      ['truncated data', archive.slice(0, 120), /truncated/],
      ['no trailer', archive.slice(0, 124), /TRAILER/],
      ['empty', new Uint8Array(0), /TRAILER/],
      ['name without NUL', patch(archive, 110 + 4, 'x'), /NUL-terminated/],
      ['zero name size', patch(archive, 6 + 8 * 11, '00000000'), /name truncated/],
      ['huge file size', patch(archive, 6 + 8 * 6, 'FFFFFFFF'), /truncated/],
      ['garbage after trailer', new Uint8Array([...archive, 0, 0, 0, 0, 0x41]), /header truncated/],
      ['absolute name', rawEntry('/etc/passwd'), /absolute/],
      ['dot-dot name', rawEntry('a/../../b'), /'\.\.'/],
      ['socket type', patch(archive, 6 + 8, '0000C1A4'), /unsupported file type/],
    ];
    for (const [what, bytes, message] of cases) {
      assert.throws(
        () => readCpio(bytes),
        (e: unknown) => e instanceof ImageFormatError && message.test(e.message),
        what,
      );
    }
  });

  test('accepts NUL padding and concatenated archives', () => {
    const first = new CpioWriter().addFile('a', '1').finish();
    const second = new CpioWriter().addFile('b', '22').finish();
    const joined = new Uint8Array([
      ...first,
      ...new Uint8Array(512),
      ...second,
      ...new Uint8Array(7),
    ]);
    assert.deepEqual(
      readCpio(joined).map((entry) => entry.path),
      ['a', 'b'],
    );
  });

  test('reads what GNU cpio writes, root entry and hard links included', async () => {
    const tree = join(work, 'gnu-tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    await writeFile(join(tree, 'sub', 'file'), 'contents\n');
    await import('node:fs/promises').then((fs) =>
      fs.link(join(tree, 'sub', 'file'), join(tree, 'hard')),
    );
    await symlink('sub/file', join(tree, 'link'));
    const list = ['.', './sub', './sub/file', './hard', './link'].join('\n');
    requireTool('cpio', 'cpio');
    const archive = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], {
      cwd: tree,
      input: `${list}\n`,
    });
    const entries = readCpio(new Uint8Array(archive));
    assert.deepEqual(
      entries.map((entry) => [entry.path, entry.type, new TextDecoder().decode(entry.data)]),
      [
        ['sub', 'directory', ''],
        ['sub/file', 'file', 'contents\n'],
        ['hard', 'file', 'contents\n'],
        ['link', 'symlink', 'sub/file'],
      ],
    );
  });
});

describe('GNU cpio reads our archives', () => {
  test('cpio -t lists every entry in order', () => {
    const cpio = sampleWriter(true);
    const listing = runCpio(['-t', '--quiet'], cpio.finish());
    assert.deepEqual(
      listing.trimEnd().split('\n'),
      cpio.entries().map((entry) => entry.path),
    );
  });

  test('cpio -itv shows modes, owners, symlinks and device numbers', () => {
    const listing = runCpio(['-itv', '--quiet'], sampleWriter(true).finish());
    const line = (path: string) => {
      const found = listing
        .split('\n')
        .find((l) => l.endsWith(` ${path}`) || l.includes(` ${path} -> `));
      assert.ok(found, `no line for ${path} in:\n${listing}`);
      return found.replace(/\s+/g, ' ');
    };
    assert.match(line('etc'), /^drwxr-x--- 2 /);
    assert.match(line('tmp'), /^drwxrwxrwt 2 /);
    assert.match(line('bin/tool'), /^-rwxr-xr-x 1 \S+ \S+ 7 /);
    assert.match(line('bin/sh'), /^lrwxrwxrwx 1 .* bin\/sh -> \/bin\/busybox$/);
    assert.match(line('dev/console'), /^crw------- 1 \S+ \S+ 5, 1 /);
    assert.match(line('dev/null'), /^crw-rw-rw- 1 \S+ \S+ 1, 3 /);
    assert.match(line('dev/xvda'), /^brw-rw---- 1 \S+ \S+ 202, 0 /);
  });

  test('cpio -idm extracts identical contents, links and modes', async () => {
    const into = await mkdtemp(join(work, 'extract-'));
    const cpio = sampleWriter(false);
    runCpio(['-idm', '--quiet', '--no-absolute-filenames'], cpio.finish(), into);
    for (const entry of cpio.entries()) {
      const path = join(into, entry.path);
      const stat = await lstat(path);
      if (entry.type === 'file') {
        assert.deepEqual(new Uint8Array(await readFile(path)), entry.data, entry.path);
        assert.equal(stat.mode & 0o7777, entry.mode, entry.path);
        assert.equal(stat.mtimeMs, 1234567890 * 1000, entry.path);
      } else if (entry.type === 'symlink') {
        assert.equal(await readlink(path), new TextDecoder().decode(entry.data));
      } else {
        assert.ok(stat.isDirectory(), entry.path);
      }
    }
  });
});
