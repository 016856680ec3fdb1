// Issue 6's disk milestone: a guest with `disk=['…/disk.img,raw,xvda,rw']` sees /dev/xvda
// through its own xen-blkfront, mounts the ext4 filesystem made on the host with mke2fs, writes
// files, syncs and powers off; the host then reads them back byte for byte with debugfs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { atShellPrompt } from '../../src/images/initramfs/build.js';
import { ConsoleSession, startXlHost, type XlHost } from './xl-harness.js';

const run = promisify(execFile);

let host: XlHost;
let work: string;
before(async () => {
  host = await startXlHost();
  work = await mkdtemp(join(tmpdir(), 'xl-disk-'));
});
after(async () => {
  await host.close();
  await rm(work, { recursive: true, force: true });
});

/** A guest config like examples/debian-pvh.cfg, with one disk. */
async function guestConfig(name: string, disk: string): Promise<string> {
  const example = await readFile('examples/debian-pvh.cfg', 'utf8');
  const images = resolve('images');
  const config = example
    .replace(/^name\s*=.*$/m, `name = "${name}"`)
    .replace(/"images\//g, `"${images}/`)
    .replace(/^memory\s*=.*$/m, 'memory = 256')
    .replace(/^cmdline\s*=.*$/m, 'cmdline = "console=hvc0 cryptomgr.notests"');
  const path = join(work, `${name}.cfg`);
  await writeFile(path, `${config}\ndisk = [ '${disk}' ]\n`);
  return path;
}

test('a raw ext4 disk: the guest writes files, the host reads them back', {
  timeout: 15 * 60_000,
}, async () => {
  const image = join(work, 'disk.img');
  await run('mke2fs', ['-q', '-t', 'ext4', '-F', image, '64M']);
  const config = await guestConfig('disky', `${image},raw,xvda,rw`);
  const session = new ConsoleSession(host, ['create', '-c', config]);
  await session.waitFor(atShellPrompt);
  assert.doesNotMatch(session.output, /Kernel panic|BUG:|Oops/);

  const ls = await host.xenstore('xenstore-ls', '/local/domain/0/backend/vbd/1/51712');
  assert.match(ls, /state = "4"/, 'the backend is connected');
  assert.match(await session.command('cat /sys/block/xvda/size'), /^131072\s*$/);
  await session.command('mkdir -p /mnt && mount -t ext4 /dev/xvda /mnt && echo mounted');
  assert.match(await session.command('grep xvda /proc/mounts'), /\/dev\/xvda \/mnt ext4 rw/);
  await session.command('echo hello from the guest > /mnt/hello.txt');
  // Two MiB of random bytes, and their checksum as the guest computed it.
  await session.command(
    'dd if=/dev/urandom of=/mnt/random.bin bs=64k count=32 2>/dev/null; md5sum /mnt/random.bin > /mnt/random.md5',
  );
  await session.command('sync; umount /mnt; echo done');
  session.child.stdin.write('poweroff\n');
  assert.equal(await session.exited, 0);

  const cat = async (file: string) =>
    (
      await run('debugfs', ['-R', `cat /${file}`, image], {
        encoding: 'buffer',
        maxBuffer: 1 << 24,
      })
    ).stdout;
  assert.equal((await cat('hello.txt')).toString(), 'hello from the guest\n');
  const random = await cat('random.bin');
  assert.equal(random.length, 2 * 1024 * 1024);
  const { createHash } = await import('node:crypto');
  const md5 = createHash('md5').update(random).digest('hex');
  assert.equal((await cat('random.md5')).toString().split(' ')[0], md5);
  const fsck = await run('e2fsck', ['-f', '-n', image]).catch((error) => error);
  assert.equal(fsck.code ?? 0, 0, `e2fsck: ${fsck.stdout}`);
});
