// Issue 6's disk milestone: a guest with `disk=['…/disk.img,raw,xvda,rw']` sees /dev/xvda
// through its own xen-blkfront, mounts the ext4 filesystem made on the host with mke2fs, writes
// files, syncs and powers off; the host then reads them back byte for byte with debugfs. A second
// disk is hot-plugged with `xl block-attach`, used, and detached with `xl block-detach`; and a
// qcow2 overlay takes a guest's writes while its raw backing file stays as it was.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ConsoleSession,
  startXlHost,
  waitUntil,
  writeGuestConfig,
  type XlHost,
} from './xl-harness.js';

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
const guestConfig = (name: string, disk: string) =>
  writeGuestConfig(work, name, `disk = [ '${disk}' ]`);

test('a raw ext4 disk, and a second one hot-plugged: the guest writes, the host reads back', {
  timeout: 15 * 60_000,
}, async () => {
  const image = join(work, 'disk.img');
  await run('mke2fs', ['-q', '-t', 'ext4', '-F', image, '64M']);
  const config = await guestConfig('disky', `${image},raw,xvda,rw`);
  const session = new ConsoleSession(host, ['create', '-c', config]);
  await session.reachShell();
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

  // Hot-plug: a second disk appears, is mounted and written, then is detached cleanly.
  const second = join(work, 'second.img');
  await run('mke2fs', ['-q', '-t', 'ext4', '-F', second, '16M']);
  assert.equal((await host.xl('block-attach', 'disky', `${second},raw,xvdb,rw`)).code, 0);
  await waitUntil(
    async () => /xvdb/.test(await session.command('ls /sys/block')),
    () => session.output.slice(-2000),
  );
  const list = await host.xl('block-list', 'disky');
  assert.match(
    list.stdout,
    /^51728 +0 +1 +4 +-?\d+ +-?\d+ +\/local\/domain\/0\/backend\/vbd\/1\/51728/m,
  );
  await session.command('mkdir -p /hot && mount -t ext4 /dev/xvdb /hot && echo hot > /hot/plugged');
  await session.command('umount /hot; echo done');
  const detach = await host.xl('block-detach', 'disky', 'xvdb');
  assert.equal(detach.code, 0, detach.stderr);
  // The guest's xenbus removes the device once libxl has removed its directories.
  await waitUntil(
    async () => !/xvdb/.test(await session.command('ls /sys/block')),
    () => session.output.slice(-2000),
  );
  assert.doesNotMatch((await host.xl('block-list', 'disky')).stdout, /51728/);
  const plugged = await run('debugfs', ['-R', 'cat /plugged', second]);
  assert.equal(plugged.stdout, 'hot\n');

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

test('a qcow2 disk over a raw backing file: the writes land in the overlay', {
  timeout: 15 * 60_000,
}, async () => {
  const base = join(work, 'base.img');
  await run('mke2fs', ['-q', '-t', 'ext4', '-F', base, '64M']);
  const overlay = join(work, 'overlay.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay]);
  const config = await guestConfig('cowy', `${overlay},qcow2,xvda,rw`);
  const session = new ConsoleSession(host, ['create', '-c', config]);
  await session.reachShell();
  const ls = await host.xenstore('xenstore-ls', '/local/domain/0/backend/qdisk');
  assert.match(ls, /params = "qcow2:/);
  await session.command('mkdir -p /mnt && mount -t ext4 /dev/xvda /mnt && echo mounted');
  await session.command('echo written through qcow2 > /mnt/cow.txt; sync; umount /mnt; echo done');
  session.child.stdin.write('poweroff\n');
  assert.equal(await session.exited, 0);

  const check = await run('qemu-img', ['check', overlay]);
  assert.match(check.stdout, /No errors were found/);
  const flat = join(work, 'flat.img');
  await run('qemu-img', ['convert', '-O', 'raw', overlay, flat]);
  const cat = await run('debugfs', ['-R', 'cat /cow.txt', flat]);
  assert.equal(cat.stdout, 'written through qcow2\n');
  const untouched = await run('debugfs', ['-R', 'cat /cow.txt', base]);
  assert.equal(untouched.stdout, '', 'the backing file is left as it was');
});
