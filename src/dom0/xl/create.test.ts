// xl create: reading the config, -N/-n/-d/-q/-p/-e/-F/-c, the daemonized monitor and the
// on_* actions it carries out (tools/xl/xl_vmcontrol.c), against a FakeToolstack.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeToolstack } from '../toolstack/testing.js';
import { ShutdownReason } from '../toolstack/types.js';
import { startXl, until, xl } from './testing.js';

const dir = mkdtempSync(join(tmpdir(), 'xl-create-'));
const cfg = (name: string, body: string): string => {
  writeFileSync(join(dir, name), body);
  return name;
};
const GUEST = cfg(
  'guest.cfg',
  'type = "pvh"\nname = "guest"\nkernel = "vmlinuz"\nextra = "console=hvc0"\nmemory = 128\nvcpus = 2\n',
);
const opts = { cwd: dir };

test('-N prints the configuration as JSON and builds nothing', async () => {
  const ts = new FakeToolstack();
  const r = await xl(ts, ['-N', 'create', GUEST], opts);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, 'Parsing config from guest.cfg\n');
  const json = JSON.parse(r.stdout) as { c_info: { name: string }; b_info: { kernel: string } };
  assert.equal(json.c_info.name, 'guest');
  assert.equal(json.b_info.kernel, join(dir, 'vmlinuz'));
  assert.equal(ts.domains.size, 1);
  const n = await xl(ts, ['create', '-n', '-q', GUEST, 'memory=64'], opts);
  assert.equal(n.stderr, '');
  assert.match(n.stdout, /"target_memkb": 65536/);
});

test('-d prints the JSON on stderr and goes on', async () => {
  const ts = new FakeToolstack();
  const run = startXl(ts, ['create', '-d', '-e', GUEST], opts);
  const r = await run.done;
  assert.equal(r.code, 0);
  assert.match(r.stderr, /^Parsing config from guest.cfg\n\{\n {4}"c_info": \{/);
  assert.equal(r.stdout, '');
});

test('config file errors and their exit codes', async () => {
  const ts = new FakeToolstack();
  const missing = await xl(ts, ['create', 'nosuch.cfg'], opts);
  assert.deepEqual(
    [missing.code, missing.stderr],
    [3, 'Failed to read config file: nosuch.cfg: No such file or directory\n'],
  );
  const none = await xl(ts, ['create'], opts);
  assert.deepEqual(
    [none.code, none.stderr],
    [6, 'Config file not specified and none in save file\n'],
  );
  const bad = await xl(ts, ['create', cfg('bad.cfg', 'name = guest\n')], opts);
  assert.deepEqual(
    [bad.code, bad.stderr],
    [
      1,
      'Parsing config from bad.cfg\n' +
        "bad.cfg:1: config parsing error near `guest': syntax error, unexpected IDENT, expecting STRING or NUMBER or '['\n" +
        'Failed to parse config: Invalid argument\n',
    ],
  );
  const two = await xl(ts, ['create', GUEST, 'other.cfg'], opts);
  assert.equal(two.code, 2);
  assert.match(two.stdout, /^Usage: xl \[-vtTfN\] create /);
});

test('everything on the command line with /dev/null', async () => {
  const ts = new FakeToolstack();
  const r = await xl(
    ts,
    ['create', '-e', '/dev/null', 'type="pvh"', 'name="cli"', 'kernel="/boot/k"'],
    opts,
  );
  assert.equal(r.code, 0);
  assert.equal((await ts.domainInfo(1)).name, 'cli');
});

test('a libxl failure is its code as exit status', async () => {
  const ts = new FakeToolstack();
  await xl(ts, ['create', '-e', GUEST], opts);
  const again = await xl(ts, ['create', '-e', GUEST], opts);
  assert.deepEqual(
    [again.code, again.stderr],
    [6, 'Parsing config from guest.cfg\nlibxl: error: domain with name "guest" already exists.\n'],
  );
});

test('-e: built and unpaused, nobody watches; -p leaves it paused', async () => {
  const ts = new FakeToolstack();
  const r = await xl(ts, ['create', '-e', GUEST], opts);
  assert.equal(r.client.detachedWith, null);
  assert.deepEqual(ts.calls, ['create 1 guest', 'unpause 1']);
  await xl(ts, ['create', '-e', '-p', GUEST, 'name="second"'], opts);
  assert.equal((await ts.domainInfo(2)).paused, true);
});

test('by default xl detaches and its daemon destroys the domain at poweroff', async () => {
  const ts = new FakeToolstack();
  const run = startXl(ts, ['create', GUEST], opts);
  assert.equal(await run.client.detached(), 0);
  assert.equal(run.client.stderr, 'Parsing config from guest.cfg\n');
  ts.guestShutdown(1, ShutdownReason.poweroff);
  const r = await run.done;
  assert.equal(r.code, 0);
  assert.equal(
    run.client.logs,
    [
      'Waiting for domain guest (domid 1) to die [pid 4242]',
      'Domain 1 has shut down, reason code 0 0x0',
      'Action for shutdown reason code 0 is destroy',
      'Domain 1 needs to be cleaned up: destroying the domain',
      'Done. Exiting now',
    ]
      .map((l) => `xl-guest: ${l}\n`)
      .join(''),
  );
  assert.equal(ts.domains.has(1), false);
});

test('-F: in the foreground, a reboot builds the domain again', async () => {
  const ts = new FakeToolstack();
  const run = startXl(ts, ['create', '-F', GUEST], opts);
  await until(() => ts.calls.includes('unpause 1'));
  ts.guestShutdown(1, ShutdownReason.reboot);
  await until(() => ts.calls.includes('unpause 2'));
  assert.equal((await ts.domainInfo(2)).name, 'guest');
  ts.guestShutdown(2, ShutdownReason.crash);
  const r = await run.done;
  assert.equal(r.code, 0);
  assert.equal(run.client.detachedWith, null);
  assert.equal(run.client.logs, '');
  assert.equal(
    r.stderr,
    [
      'Parsing config from guest.cfg',
      'Waiting for domain guest (domid 1) to die [pid 4242]',
      'Domain 1 has shut down, reason code 1 0x1',
      'Action for shutdown reason code 1 is restart',
      'Domain 1 needs to be cleaned up: destroying the domain',
      'Done. Rebooting now',
      'Waiting for domain guest (domid 2) to die [pid 4242]',
      'Domain 2 has shut down, reason code 3 0x3',
      'Action for shutdown reason code 3 is destroy',
      'Domain 2 needs to be cleaned up: destroying the domain',
      'Done. Exiting now',
      '',
    ].join('\n'),
  );
  assert.deepEqual(ts.calls, [
    'create 1 guest',
    'unpause 1',
    'destroy 1',
    'create 2 guest',
    'unpause 2',
    'destroy 2',
  ]);
});

test('on_poweroff=preserve keeps the domain; rename-restart keeps a renamed copy', async () => {
  const ts = new FakeToolstack();
  const keep = startXl(
    ts,
    ['create', '-F', GUEST, 'on_poweroff="preserve"', 'on_reboot="rename-restart"'],
    {
      ...opts,
      clock: Date.UTC(2024, 1, 29, 13, 5),
    },
  );
  await until(() => ts.calls.includes('unpause 1'));
  ts.guestShutdown(1, ShutdownReason.reboot);
  await until(() => ts.calls.includes('unpause 2'));
  assert.equal((await ts.domainInfo(1)).name, 'guest-20240229T1305Z');
  assert.equal((await ts.domainInfo(2)).name, 'guest');
  ts.guestShutdown(2, ShutdownReason.poweroff);
  const r = await keep.done;
  assert.match(r.stderr, /Preserving domain 1 guest with suffix-20240229T1305Z\n/);
  assert.match(r.stderr, /Action for shutdown reason code 0 is preserve\nDone\. Exiting now\n$/);
  assert.equal(ts.domains.has(2), true);
});

test('-c: the console is attached before the domain runs; xl detaches when it ends', async () => {
  const ts = new FakeToolstack();
  const run = startXl(ts, ['create', '-c', GUEST], opts);
  await until(() => ts.calls.includes('unpause 1'));
  assert.deepEqual(ts.calls, ['create 1 guest', 'console 1', 'unpause 1']);
  ts.consoleOutput(1, 'Linux version 6.1\n');
  await until(() => run.client.stdout !== '');
  assert.equal(run.client.stdout, 'Linux version 6.1\n');
  assert.equal(run.client.detachedWith, null);
  ts.guestShutdown(1, ShutdownReason.poweroff);
  const r = await run.done;
  assert.equal(r.code, 0);
  assert.equal(run.client.detachedWith, 0);
});
