import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { requireTool } from '../../testing/host-tools.js';
import { ImageFormatError } from '../errors.js';
import { writeFakeModulesTree } from '../kmod/testing.js';
import { buildInitramfs, defaultInit, scanAppletNames } from './build.js';
import { type CpioEntry, CpioWriter, readCpio } from './cpio.js';

// The busybox here is a shell script that answers --list-full like the real one; the real
// Debian busybox-static and kernel modules are exercised by the image-cache tests.

const RELEASE = '6.1.0-99-test-amd64';
const APPLETS = [
  'bin/busybox',
  'bin/sh',
  'bin/mount',
  'bin/mkdir',
  'bin/cat',
  'sbin/insmod',
  'sbin/modprobe',
  'sbin/poweroff',
  'usr/bin/setsid',
  'bin/cttyhack',
  'usr/bin/[',
  'linuxrc',
];

let work: string;
let busybox: string;
let modulesDir: string;

async function fakeBusybox(name: string, applets: readonly string[]): Promise<string> {
  const path = join(work, name);
  await writeFile(
    path,
    `#!/bin/sh\n[ "$1" = --list-full ] || exit 1\ncat <<'EOF'\n${applets.join('\n')}\nEOF\n`,
  );
  await chmod(path, 0o755);
  return path;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xenotype-initramfs-'));
  busybox = await fakeBusybox('busybox', APPLETS);
  modulesDir = join(work, 'modules');
  await writeFakeModulesTree(
    modulesDir,
    RELEASE,
    [
      { path: 'kernel/lib/ring-lib.ko' },
      { path: 'kernel/drivers/block/xen-blkfront.ko', depends: ['ring_lib'] },
      { path: 'kernel/drivers/net/xen-netfront.ko', depends: ['ring-lib', 'xenbus'] },
      { path: 'kernel/drivers/net/other.ko', release: '5.10.0-1-amd64' },
    ],
    ['kernel/drivers/xen/xenbus/xenbus.ko'],
  );
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const unpack = (archive: Uint8Array): Map<string, CpioEntry> =>
  new Map(readCpio(gunzipSync(archive)).map((entry) => [entry.path, entry]));
const text = (entry: CpioEntry | undefined) => new TextDecoder().decode(entry?.data);

describe('buildInitramfs', () => {
  test('lays out busybox, devices, directories, modules and /init', async () => {
    const entries = unpack(await buildInitramfs({ busybox, modulesDir, kernelRelease: RELEASE }));
    const busyboxEntry = entries.get('bin/busybox');
    assert.deepEqual(busyboxEntry?.data, new Uint8Array(await readFile(busybox)));
    assert.equal(busyboxEntry?.mode, 0o755);
    for (const applet of APPLETS.filter((applet) => applet !== 'bin/busybox')) {
      const link = entries.get(applet);
      assert.equal(link?.type, 'symlink', applet);
      assert.equal(text(link), '/bin/busybox');
    }
    const device = (path: string) => {
      const entry = entries.get(path);
      return [entry?.type, entry?.rdevMajor, entry?.rdevMinor];
    };
    assert.deepEqual(device('dev/console'), ['char', 5, 1]);
    assert.deepEqual(device('dev/null'), ['char', 1, 3]);
    for (const dir of [
      'proc',
      'sys',
      'dev',
      'tmp',
      'run',
      'root',
      'etc',
      `lib/modules/${RELEASE}`,
    ]) {
      assert.equal(entries.get(dir)?.type, 'directory', dir);
    }
    assert.equal(entries.get('tmp')?.mode, 0o1777);

    const moduleDir = `lib/modules/${RELEASE}`;
    const loadOrder = [
      'kernel/lib/ring-lib.ko',
      'kernel/drivers/block/xen-blkfront.ko',
      'kernel/drivers/net/xen-netfront.ko',
    ];
    for (const path of loadOrder) {
      assert.deepEqual(
        entries.get(`${moduleDir}/${path}`)?.data,
        new Uint8Array(await readFile(join(modulesDir, path))),
      );
    }
    assert.equal(entries.get(`${moduleDir}/kernel/drivers/net/other.ko`), undefined);
    assert.equal(
      text(entries.get(`${moduleDir}/modules.load`)),
      loadOrder.map((path) => `${path}\n`).join(''),
    );
    assert.equal(
      text(entries.get(`${moduleDir}/modules.dep`)),
      [
        'kernel/lib/ring-lib.ko:',
        'kernel/drivers/block/xen-blkfront.ko: kernel/lib/ring-lib.ko',
        'kernel/drivers/net/xen-netfront.ko: kernel/lib/ring-lib.ko',
        '',
      ].join('\n'),
    );

    const init = entries.get('init');
    assert.equal(init?.mode, 0o755);
    assert.equal(text(init), defaultInit(RELEASE));
  });

  test('the default /init mounts, loads modules, and has busybox init run a shell on hvc0', async () => {
    const init = defaultInit(RELEASE);
    assert.ok(init.startsWith('#!/bin/busybox sh\n'));
    for (const needle of [
      'mount -t proc proc /proc',
      'mount -t sysfs sysfs /sys',
      'mount -t devtmpfs devtmpfs /dev',
      'mount -t devpts devpts /dev/pts',
      'export PATH=',
      `moddir=/lib/modules/${RELEASE}`,
      'insmod "$moddir/$module" || echo',
      '[ -c /dev/hvc0 ] && tty=/dev/hvc0',
      'setsid -c sh -l',
      '::once:/etc/console-shell',
      'exec /bin/busybox init',
    ]) {
      assert.ok(init.includes(needle), needle);
    }
    assert.ok(init.indexOf('setsid -c') < init.lastIndexOf('poweroff'));
    assert.ok(init.indexOf('insmod') < init.indexOf('exec /bin/busybox init'));
    assert.ok(!defaultInit(undefined).includes('insmod'));
    const script = join(work, 'init.sh');
    await writeFile(script, init);
    const check = spawnSync('sh', ['-n', script], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  test('the same inputs give the same bytes', async () => {
    const options = { busybox, modulesDir, extraFiles: [{ path: '/etc/motd', data: 'hi\n' }] };
    const first = await buildInitramfs(options);
    assert.deepEqual(await buildInitramfs(options), first);
    assert.deepEqual([...first.subarray(4, 10)], [0, 0, 0, 0, 2, 3]); // gzip: mtime 0, level 9, Unix
  });

  test('takes the release from the modules when not given', async () => {
    const entries = unpack(
      await buildInitramfs({ busybox, modulesDir, modules: ['xen-blkfront'] }),
    );
    assert.equal(
      text(entries.get(`lib/modules/${RELEASE}/modules.load`)),
      'kernel/lib/ring-lib.ko\nkernel/drivers/block/xen-blkfront.ko\n',
    );
    assert.equal(
      entries.get(`lib/modules/${RELEASE}/kernel/drivers/net/xen-netfront.ko`),
      undefined,
    );
  });

  test('lists with GNU cpio after gunzip', async () => {
    requireTool('cpio', 'cpio');
    const archive = await buildInitramfs({ busybox, modulesDir });
    const listing = execFileSync('cpio', ['-t', '--quiet'], {
      input: gunzipSync(archive),
      encoding: 'utf8',
    });
    const names = listing.trimEnd().split('\n');
    for (const name of [
      'init',
      'bin/busybox',
      'bin/sh',
      'dev/console',
      `lib/modules/${RELEASE}/modules.dep`,
    ]) {
      assert.ok(names.includes(name), name);
    }
    assert.equal(names.length, unpack(archive).size);
  });

  test('a user /init replaces the default one; extra files and archives are added', async () => {
    const extra = new CpioWriter()
      .addDirectory('etc')
      .addDirectory('srv', { mode: 0o700 })
      .addFile('srv/data', 'd');
    const entries = unpack(
      await buildInitramfs({
        busybox,
        init: '#!/bin/sh\necho mine\n',
        extraFiles: [
          { path: '/etc/motd', data: 'welcome\n' },
          { path: 'usr/bin/hello', data: '#!/bin/sh\necho hello\n' },
          { path: '/opt/blob', data: new Uint8Array([1, 2, 3]), mode: 0o600 },
        ],
        extraArchive: gzipSync(extra.finish()),
      }),
    );
    assert.equal(text(entries.get('init')), '#!/bin/sh\necho mine\n');
    assert.equal(entries.get('init')?.mode, 0o755);
    assert.deepEqual(
      [text(entries.get('etc/motd')), entries.get('etc/motd')?.mode],
      ['welcome\n', 0o644],
    );
    assert.equal(entries.get('usr/bin/hello')?.mode, 0o755);
    assert.deepEqual(
      [entries.get('opt/blob')?.data, entries.get('opt/blob')?.mode],
      [new Uint8Array([1, 2, 3]), 0o600],
    );
    assert.deepEqual([entries.get('srv')?.mode, text(entries.get('srv/data'))], [0o700, 'd']);
    assert.equal(entries.get('lib/modules')?.type, 'directory');
    assert.ok(![...entries.keys()].some((path) => path.endsWith('.ko')));
  });

  test('rejects clashing or bad extra files', async () => {
    for (const path of ['/init', 'bin/busybox', '../etc/x', '/', 'bin/sh/x']) {
      await assert.rejects(
        buildInitramfs({ busybox, extraFiles: [{ path, data: 'x' }] }),
        ImageFormatError,
        path,
      );
    }
    const clash = new CpioWriter().addFile('bin/sh', 'x').finish();
    await assert.rejects(
      buildInitramfs({ busybox, extraArchive: clash }),
      /duplicate cpio entry: bin\/sh/,
    );
    await assert.rejects(
      buildInitramfs({ busybox, extraArchive: gzipSync('junk'.repeat(40)) }),
      /bad cpio magic/,
    );
  });

  test('module problems are ImageFormatErrors naming the module', async () => {
    await assert.rejects(
      buildInitramfs({ busybox, modulesDir, modules: ['xen-scsifront'] }),
      /xen_scsifront/,
    );
    await assert.rejects(
      buildInitramfs({
        busybox,
        modulesDir,
        kernelRelease: RELEASE,
        modules: ['xen-blkfront', 'other'],
      }),
      /other\.ko was built for 5\.10\.0-1-amd64, not 6\.1\.0-99-test-amd64/,
    );
    await assert.rejects(
      buildInitramfs({ busybox, modules: ['xen-blkfront'] }),
      /without a modulesDir/,
    );
  });

  test('reads the applet table out of a busybox that cannot run here', async () => {
    const table = [
      '[',
      '[[',
      'acpid',
      'cat',
      'insmod',
      'mkdir',
      'mount',
      'poweroff',
      'setsid',
      'sh',
    ];
    const binary = join(work, 'busybox-foreign');
    await writeFile(
      binary,
      new Uint8Array([0, 1, 2, ...Buffer.from(`${table.join('\0')}\0\0`), 7, 7]),
    );
    assert.deepEqual(scanAppletNames(await readFile(binary)), table);
    const entries = unpack(await buildInitramfs({ busybox: binary }));
    assert.equal(text(entries.get('bin/setsid')), '/bin/busybox');
    assert.equal(text(entries.get('bin/[[')), '/bin/busybox');

    const opaque = join(work, 'busybox-opaque');
    await writeFile(opaque, 'neither runnable nor busybox');
    await assert.rejects(
      buildInitramfs({ busybox: opaque }),
      (error: unknown) =>
        error instanceof ImageFormatError &&
        /running it with --list-full failed/.test(error.message),
    );
  });

  test('a busybox without the applets /init needs is refused unless an init is given', async () => {
    const small = await fakeBusybox('busybox-small', ['bin/sh', 'bin/mount', 'bin/mkdir']);
    await assert.rejects(
      buildInitramfs({ busybox: small }),
      /lacks the applets the default \/init uses \(setsid, poweroff\)/,
    );
    await assert.doesNotReject(buildInitramfs({ busybox: small, init: '#!/bin/sh\n' }));
    const odd = await fakeBusybox('busybox-odd', ['bin/sh', '../../etc/passwd']);
    await assert.rejects(buildInitramfs({ busybox: odd }), /listed "\.\.\/\.\.\/etc\/passwd"/);
  });
});
