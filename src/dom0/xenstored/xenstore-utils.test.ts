/**
 * Debian's xenstore-utils (libxenstore 4.17), unchanged, against our socket.
 *
 * libxenstore finds the daemon through XENSTORED_PATH (the socket itself; tools/xenstore/
 * xs_lib.c, xs_daemon_socket) or else XENSTORED_RUNDIR + "/socket"; without either it
 * tries /run/xenstored/socket, then the xenbus device.
 */

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { requireTool } from '../../testing/host-tools.js';
import { type LocalClient, Xenstored } from './index.js';
import { FakeDomains } from './testkit.js';

let dir: string;
let socket: string;
let xs: Xenstored;
let dom0: LocalClient;

before(async () => {
  for (const tool of ['read', 'write', 'ls', 'list', 'exists', 'rm', 'chmod', 'watch']) {
    requireTool(`xenstore-${tool}`, 'xenstore-utils');
  }
  requireTool('xenstore', 'xenstore-utils');
  dir = await mkdtemp(join(tmpdir(), 'xenstored-utils-'));
  socket = join(dir, 'socket');
  xs = new Xenstored({ log: () => {}, domains: new FakeDomains() });
  await xs.listen(socket);
  dom0 = xs.connectLocal();
});

after(async () => {
  await xs.close();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool against our daemon (asynchronously: the daemon lives in this process). */
function tool(name: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      name,
      args,
      { env: { ...process.env, XENSTORED_PATH: socket }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(name: string, ...args: string[]): Promise<string> {
  const r = await tool(name, ...args);
  assert.equal(r.code, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('xenstore-write and xenstore-read, with escapes', async () => {
  await ok('xenstore-write', '/vm/name', 'guest one', '/vm/uuid', '1234');
  assert.equal(await ok('xenstore-read', '/vm/name', '/vm/uuid'), 'guest one\n1234\n');
  assert.equal(await ok('xenstore-read', '-p', '/vm/uuid'), '/vm/uuid: 1234\n');
  assert.equal(await ok('xenstore', 'read', '/vm/uuid'), '1234\n'); // the multi-call form
  assert.equal(await dom0.read('/vm/name'), 'guest one');
  await ok('xenstore-write', '/vm/bin', 'tab\\there\\x01');
  assert.deepEqual([...(await dom0.readBytes('/vm/bin'))], [...Buffer.from('tab\there\x01')]);
  assert.equal(await ok('xenstore-read', '/vm/bin'), 'tab\\there\\001\n');
  const missing = await tool('xenstore-read', '/vm/missing');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /couldn't read path \/vm\/missing/);
});

test('xenstore-exists answers with its exit code', async () => {
  await dom0.write('/here', 'yes');
  assert.equal((await tool('xenstore-exists', '/here')).code, 0);
  assert.equal((await tool('xenstore-exists', '/not/here')).code, 1);
});

test('xenstore-list and xenstore-ls show the tree as xenstored would', async () => {
  await dom0.write('/ls/a', '1');
  await dom0.write('/ls/b/c', 'deep');
  await dom0.setPerms('/ls/b/c', ['b3', 'r0']);
  assert.equal(await ok('xenstore-list', '/ls'), 'a\nb\n');
  assert.equal(await ok('xenstore-list', '-p', '/ls'), '/ls/a\n/ls/b\n');
  assert.equal(await ok('xenstore-ls', '/ls'), 'a = "1"\nb = ""\n c = "deep"\n');
  assert.equal(await ok('xenstore-ls', '-f', '/ls'), '/ls/a = "1"\n/ls/b = ""\n/ls/b/c = "deep"\n');
  const perms = await ok('xenstore-ls', '-p', '/ls');
  assert.match(perms, /^a = "1" +[. ]+ \(n0\)\n/);
  assert.match(perms, /\n c = "deep" +[. ]+ \(b3,r0\)\n$/);
  // The whole store from the root, starting with what xenstored creates.
  assert.match(await ok('xenstore-ls'), /^tool = ""\n xenstored = ""\n/);
});

test('a directory beyond one payload is listed through DIRECTORY_PART', async () => {
  const names = Array.from({ length: 400 }, (_, i) => `entry-number-${String(i).padStart(4, '0')}`);
  await dom0.transaction(async (tx) => {
    for (const n of names) await dom0.mkdir(`/many/${n}`, tx);
  });
  assert.equal(await ok('xenstore-list', '/many'), `${names.join('\n')}\n`);
});

test('xenstore-rm removes subtrees, and with -t empty parents', async () => {
  await dom0.write('/rm/x/y/z', '1');
  await dom0.write('/rm/keep', '2');
  await ok('xenstore-rm', '/rm/x');
  assert.deepEqual(await dom0.directory('/rm'), ['keep']);
  await dom0.write('/tidy/a/b', '1');
  await ok('xenstore-rm', '-t', '/tidy/a/b');
  assert.equal(await dom0.tryRead('/tidy'), undefined);
  assert.equal((await tool('xenstore-rm', '/no/such/parent')).code, 1);
});

test('xenstore-chmod sets permissions, recursively with -r', async () => {
  await dom0.write('/perm/a/b', '1');
  await ok('xenstore-chmod', '/perm/a', 'n5', 'r6', 'b7', 'w8');
  assert.deepEqual(await dom0.getPerms('/perm/a'), [
    { id: 5, perms: 0 },
    { id: 6, perms: 1 },
    { id: 7, perms: 3 },
    { id: 8, perms: 2 },
  ]);
  await ok('xenstore-chmod', '-r', '/perm', 'r0');
  for (const p of ['/perm', '/perm/a', '/perm/a/b']) {
    assert.deepEqual(await dom0.getPerms(p), [{ id: 0, perms: 1 }], p);
  }
});

test('xenstore-watch gets the initial event, then one per change', async () => {
  const child = spawn('xenstore-watch', ['-n', '3', '/watched'], {
    env: { ...process.env, XENSTORED_PATH: socket },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill(), 20_000);
  while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 10));
  await dom0.write('/watched/child', 'x');
  await dom0.write('/elsewhere', 'not watched');
  await dom0.rm('/watched');
  const [code] = await exited;
  clearTimeout(timer);
  assert.equal(code, 0);
  assert.equal(out, '/watched\n/watched/child\n/watched\n');
});
