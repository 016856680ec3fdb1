// Hosts as separate processes, started by `xl` on demand (with the XENOTYPE_FAKE_TOOLSTACK
// test hook): one host however many clients race, stale files from a dead host, a host that
// dies under a client, idle stop, and `xenotype host` by hand.
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive, readPidFile } from './pid-file.js';
import type { RunPaths } from './run-dir.js';
import { clientEnv, Running, readLog, run, tempRunPaths, until, XENOTYPE, XL } from './testing.js';

/** The pid of the host holding the run directory. */
function hostPid(paths: RunPaths): number {
  const record = readPidFile(paths.pidFile);
  assert.ok(record !== undefined && isAlive(record), 'a host holds the run directory');
  return record.pid;
}

/** Kills whatever host a test left running. */
function killHost(paths: RunPaths): void {
  const record = readPidFile(paths.pidFile);
  if (record !== undefined && record.pid !== process.pid && isAlive(record)) {
    process.kill(record.pid, 'SIGKILL');
  }
}

const count = (text: string, what: string): number => text.split(what).length - 1;

async function onDemand(body: (paths: RunPaths) => Promise<void>): Promise<void> {
  const paths = tempRunPaths();
  try {
    await body(paths);
  } finally {
    killHost(paths);
    rmSync(paths.dir, { recursive: true, force: true });
  }
}

test('xl starts the host on demand; later clients find it', () =>
  onDemand(async (paths) => {
    assert.equal(existsSync(paths.socket), false);
    const first = await run(XL, ['list'], clientEnv(paths));
    assert.deepEqual([first.code, first.stderr], [0, '']);
    assert.match(first.stdout.toString(), /^Name +ID +Mem VCPUs\tState\tTime\(s\)\nDomain-0 +0 /);
    const pid = hostPid(paths);
    assert.notEqual(pid, process.pid);
    const second = await run(XL, ['list'], clientEnv(paths));
    assert.equal(second.code, 0);
    assert.equal(hostPid(paths), pid);
    const log = readLog(paths);
    assert.equal(count(log, 'host starting'), 1);
    assert.match(log, /test hook: an in-memory toolstack stands in for the machine/);
    const stop = await run(XENOTYPE, ['host', 'stop'], clientEnv(paths));
    assert.equal(stop.code, 0);
    await until(() => !isAlive({ pid })); // released the run directory, now exiting
    assert.equal(existsSync(paths.socket), false);
  }));

test('clients racing to start the host end up with one host', () =>
  onDemand(async (paths) => {
    const env = clientEnv(paths);
    const results = await Promise.all([1, 2, 3, 4].map(() => run(XL, ['list'], env)));
    for (const r of results) assert.deepEqual([r.code, r.stderr], [0, '']);
    const log = readLog(paths);
    assert.equal(count(log, 'listening on'), 1, log);
    assert.equal(count(log, 'xl list exited with 0'), 4);
    assert.equal((await run(XENOTYPE, ['host', 'stop'], env)).code, 0);
  }));

test('hosts started at once, over a stale pid file: one wins, the others step aside', () =>
  onDemand(async (paths) => {
    const env = clientEnv(paths);
    writeFileSync(paths.pidFile, '999999999\n'); // no such process
    const hosts = [1, 2, 3, 4].map(
      () => new Running(XENOTYPE, ['host', 'start', '--foreground'], env),
    );
    await until(() => hosts.filter((h) => h.child.exitCode !== null).length === 3);
    const winner = hosts.find((h) => h.child.exitCode === null)!;
    assert.equal(hostPid(paths), winner.child.pid);
    for (const loser of hosts.filter((h) => h !== winner)) {
      const r = await loser.done;
      assert.equal(r.code, 0);
      assert.match(r.stderr, /^xenotype: a host is already running \(pid \d+\)\n$/);
    }
    await until(() => readLog(paths).includes('listening on'));
    assert.equal((await run(XL, ['list'], env)).code, 0);
    assert.equal((await run(XENOTYPE, ['host', 'stop'], env)).code, 0);
    assert.equal((await winner.done).code, 0);
  }));

test("a dead host's socket and pid file are cleaned up by the next one", () =>
  onDemand(async (paths) => {
    const env = clientEnv(paths);
    assert.equal((await run(XL, ['list'], env)).code, 0);
    const dead = hostPid(paths);
    process.kill(dead, 'SIGKILL');
    await until(() => !isAlive({ pid: dead }));
    assert.ok(existsSync(paths.socket));
    assert.ok(existsSync(paths.pidFile));
    const again = await run(XL, ['list'], env);
    assert.deepEqual([again.code, again.stderr], [0, '']);
    assert.notEqual(hostPid(paths), dead);
    assert.equal((await run(XENOTYPE, ['host', 'stop'], env)).code, 0);
  }));

test('the host dying under a command: the client says so and exits 1', () =>
  onDemand(async (paths) => {
    const env = clientEnv(paths);
    writeFileSync(join(paths.dir, 'guest.cfg'), 'type = "pvh"\nname = "guest"\nkernel = "k"\n');
    assert.equal((await run(XL, ['create', 'guest.cfg'], env, { cwd: paths.dir })).code, 0);
    const console = new Running(XL, ['console', 'guest'], env);
    await until(() => readLog(paths).includes('xl console guest (in /)'));
    process.kill(hostPid(paths), 'SIGKILL');
    const r = await console.done;
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^xl: lost the connection to the Xenotype host \(it stopped or crashed;/,
    );
  }));

test('a host stops by itself when idle', () =>
  onDemand(async (paths) => {
    const env = clientEnv(paths, { XENOTYPE_IDLE_TIMEOUT: '0.1' });
    assert.equal((await run(XL, ['list'], env)).code, 0);
    await until(() => !existsSync(paths.pidFile));
    assert.match(readLog(paths), /stopping: idle for \d+ s: no guests and no clients\n/);
  }));

test('xenotype host start, status and stop by hand', () =>
  onDemand(async (paths) => {
    const env = clientEnv(paths);
    const before = await run(XENOTYPE, ['host', 'status'], env);
    assert.equal(before.code, 3);
    const start = await run(XENOTYPE, ['host', 'start'], env);
    assert.equal(start.code, 0);
    assert.match(start.stdout.toString(), /^xenotype: the host started \(pid \d+\); log /);
    const again = await run(XENOTYPE, ['host', 'start'], env);
    assert.match(again.stdout.toString(), /^xenotype: the host is already running \(pid \d+\)/);
    // A second host in the foreground refuses and leaves the first alone.
    const second = await run(XENOTYPE, ['host', 'start', '--foreground'], env);
    assert.equal(second.code, 0);
    assert.match(second.stderr, /a host is already running \(pid \d+\)/);
    const status = await run(XENOTYPE, ['host', 'status'], env);
    assert.equal(status.code, 0);
    assert.match(status.stdout.toString(), /\nidle timeout +5 s\n/);
    assert.equal((await run(XENOTYPE, ['host', 'stop'], env)).code, 0);
    assert.equal((await run(XENOTYPE, ['host', 'status'], env)).code, 3);
    const usage = await run(XENOTYPE, ['host', 'restart'], env);
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /^Usage: xenotype host start/);
  }));

test('a host that cannot start is reported, with its log', () =>
  onDemand(async (paths) => {
    const env = clientEnv(paths, { XENOTYPE_MEMORY_MIB: 'lots' });
    const r = await run(XL, ['list'], env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^xl: the Xenotype host failed to start \(it exited with status 1\); see /,
    );
    assert.match(readLog(paths), /XENOTYPE_MEMORY_MIB must be a whole number/);
  }));
