// The host daemon in this process, over an in-memory toolstack, driven by the real `xl` and
// `xenotype` binaries (and, where a terminal must be claimed, by a protocol-level client).
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDomainConfig } from '../dom0/toolstack/config/domain-config.js';
import { FakeToolstack } from '../dom0/toolstack/testing.js';
import { startFakeServices } from './fake-services.js';
import { type Host, type ServiceContext, startHost } from './host.js';
import {
  clientEnv,
  ProtocolClient,
  Running,
  readLog,
  run,
  tempRunPaths,
  until,
  XENOTYPE,
  XL,
} from './testing.js';

const GUEST_CFG = 'type = "pvh"\nname = "guest"\nkernel = "vmlinuz"\nmemory = 128\nvcpus = 1\n';
const EVERY_BYTE = Uint8Array.from({ length: 256 }, (_, i) => i);

async function fakeHost(options: { idleTimeoutMs?: number; toolstack?: FakeToolstack } = {}) {
  const paths = tempRunPaths();
  const toolstack = options.toolstack ?? new FakeToolstack();
  const closed: boolean[] = [];
  let context: ServiceContext | undefined;
  const host = await startHost({
    runDir: paths.dir,
    idleTimeoutMs: options.idleTimeoutMs ?? 0,
    createServices: async (services) => {
      context = services;
      const fake = await startFakeServices(services, toolstack);
      return { ...fake, close: async (failed) => void closed.push(failed) };
    },
  });
  writeFileSync(join(paths.dir, 'guest.cfg'), GUEST_CFG);
  const env = clientEnv(paths);
  /** Runs `xl ARGS…` in the run directory (where guest.cfg is). */
  const xl = (...args: string[]) => run(XL, args, env, { cwd: paths.dir });
  return { paths, toolstack, host, context: context!, closed, env, xl };
}

async function withHost(
  body: (h: Awaited<ReturnType<typeof fakeHost>>) => Promise<void>,
  options: Parameters<typeof fakeHost>[0] = {},
): Promise<void> {
  const h = await fakeHost(options);
  try {
    await body(h);
  } finally {
    await h.host.stop('the test is over');
    rmSync(h.paths.dir, { recursive: true, force: true });
  }
}

const runningCommands = async (host: Host) => (await host.status()).runningCommands;

test('xl list through the client binary', () =>
  withHost(async ({ paths, xl }) => {
    const r = await xl('list');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.match(
      r.stdout.toString(),
      /^Name +ID +Mem VCPUs\tState\tTime\(s\)\nDomain-0 +0 +512 +2 +r----- +12\.3\n$/,
    );
    const log = readLog(paths);
    assert.match(log, /^\S+Z host starting: pid \d+/);
    assert.match(log, /client 1 \(pid \d+\): xl list \(in \/\S+\)\n/);
    assert.match(log, /client 1 \(pid \d+\): xl list exited with 0\n/);
    assert.match(log, /\(XEN\) Xen version 4\.17\.0-xenotype\n/);
  }));

test("exit codes, stderr and the working directory are the command's", () =>
  withHost(async ({ xl }) => {
    const unknown = await xl('nosuch');
    assert.deepEqual([unknown.code, unknown.stderr], [1, 'command not implemented\n']);
    const missing = await xl('create', 'nosuch.cfg');
    assert.deepEqual(
      [missing.code, missing.stderr],
      [3, 'Failed to read config file: nosuch.cfg: No such file or directory\n'],
    );
    const dryRun = await xl('create', '-n', 'guest.cfg');
    assert.equal(dryRun.code, 0);
    assert.match(dryRun.stdout.toString(), /"name": "guest"/);
    const help = await xl('help', 'list');
    assert.equal(help.code, 0);
    assert.match(help.stdout.toString(), /^Usage: xl \[-vtT\] list/);
  }));

test('xl create detaches: the client exits, the monitor goes on in the host', () =>
  withHost(async ({ host, paths, toolstack, xl }) => {
    const created = await xl('create', 'guest.cfg');
    assert.deepEqual([created.code, created.stderr], [0, 'Parsing config from guest.cfg\n']);
    assert.equal(toolstack.domains.get(1)?.info.name, 'guest');
    assert.deepEqual(toolstack.calls, ['create 1 guest', 'unpause 1']);
    const monitorLog = join(paths.xlLogDir, 'xl-guest.log');
    await until(() => readLog(paths, monitorLog).includes('Waiting for domain guest (domid 1)'));
    assert.equal(await runningCommands(host), 1);
    assert.match(readLog(paths), /client 1 \(pid \d+\): detached with 0; the command goes on/);
    const destroyed = await xl('destroy', 'guest');
    assert.equal(destroyed.code, 0);
    await until(() => readLog(paths, monitorLog).includes('Domain 1 has been destroyed.'));
    await until(() => readLog(paths).includes('xl create guest.cfg exited with 0'));
    assert.equal(await runningCommands(host), 0);
  }));

test('console output flows, every byte, to a client whose stdin is at its end', () =>
  withHost(async ({ toolstack, env, xl }) => {
    assert.equal((await xl('create', 'guest.cfg')).code, 0);
    const console = new Running(XL, ['console', 'guest'], env);
    console.child.stdin!.end();
    await until(() => toolstack.calls.includes('console 1'));
    toolstack.consoleOutput(1, EVERY_BYTE);
    toolstack.consoleOutput(1, 'login: ');
    await console.untilStdout('login: ');
    assert.equal(console.child.exitCode, null);
    assert.equal((await xl('destroy', 'guest')).code, 0);
    const r = await console.done;
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout, Buffer.concat([EVERY_BYTE, Buffer.from('login: ')]));
  }));

test('on a terminal: raw mode, keystrokes to the guest, output after stdin ends, Ctrl-]', () =>
  withHost(async ({ paths, toolstack, xl }) => {
    assert.equal((await xl('create', 'guest.cfg')).code, 0);
    const terminal = { stdinIsTty: true, stdoutIsTty: true, columns: 80, rows: 24 };
    const first = await ProtocolClient.start(paths, ['console', 'guest'], terminal);
    assert.deepEqual(await first.next('raw-mode'), { kind: 'raw-mode', raw: true });
    await first.next('read-stdin');
    first.send({ kind: 'stdin', data: Buffer.from('ls\r') });
    first.send({ kind: 'stdin-end' });
    await until(() => toolstack.consoleInput(1) === 'ls\r');
    toolstack.consoleOutput(1, 'after the end of stdin\r\n');
    await until(() => first.stdout().includes('after the end of stdin'));
    // Ctrl-] on another console leaves the guest running.
    const second = await ProtocolClient.start(paths, ['console', 'guest'], terminal);
    await second.next('read-stdin');
    second.send({ kind: 'stdin', data: Uint8Array.of(0x61, 0x1d, 0x62) });
    assert.equal(await second.exitCode(), 0);
    assert.equal(toolstack.consoleInput(1), 'ls\ra');
    assert.ok(toolstack.domains.has(1));
    assert.deepEqual(
      second.messages.filter((m) => m.kind === 'raw-mode'),
      [
        { kind: 'raw-mode', raw: true },
        { kind: 'raw-mode', raw: false },
      ],
    );
    // The first one ends with the domain.
    assert.equal((await xl('destroy', 'guest')).code, 0);
    assert.equal(await first.exitCode(), 0);
    await first.closed;
  }));

test('a client of another protocol version is told so', () =>
  withHost(async ({ paths }) => {
    const client = await ProtocolClient.connect(paths);
    client.send({
      kind: 'start',
      start: {
        version: 99,
        argv: ['list'],
        cwd: '/',
        stdinIsTty: false,
        stdoutIsTty: false,
        pid: 1,
      },
    });
    assert.equal(await client.exitCode(), 1);
    assert.match(
      client.stderr(),
      /^xl: this host speaks control protocol 1, this xl 99: stop the host/,
    );
  }));

test('a client that goes away ends its command, as SIGPIPE ends xl', () =>
  withHost(async ({ host, paths, toolstack, xl }) => {
    assert.equal((await xl('create', 'guest.cfg')).code, 0);
    const client = await ProtocolClient.start(paths, ['console', 'guest']);
    await until(() => toolstack.calls.includes('console 1'));
    client.destroy();
    await client.closed;
    toolstack.consoleOutput(1, 'nobody reads this\n');
    await until(() => /xl console guest exited with \d+/.test(readLog(paths)));
    assert.equal(await runningCommands(host), 1); // the create monitor, still on
  }));

test('xenotype host status and stop; stopping destroys the guests and tells clients', () =>
  withHost(async ({ closed, env, host, paths, toolstack, xl }) => {
    assert.equal((await xl('create', 'guest.cfg')).code, 0);
    const status = await run(XENOTYPE, ['host', 'status'], env);
    assert.equal(status.code, 0);
    assert.match(status.stdout.toString(), new RegExp(`^pid +${process.pid}\n`));
    assert.match(status.stdout.toString(), /\nguests +1\n/);
    assert.match(status.stdout.toString(), /\nrunning commands +1\n/);
    const waiting = await ProtocolClient.start(paths, ['console', 'guest']);
    await until(() => toolstack.calls.includes('console 1'));
    // Connected but not yet asking: it is told the host is stopping, to try the next one.
    const silent = await ProtocolClient.connect(paths);
    const stop = await run(XENOTYPE, ['host', 'stop'], env);
    assert.equal(stop.code, 0);
    assert.match(
      stop.stdout.toString(),
      /stopping the host \(pid \d+\); its 1 guest\(s\) are destroyed\n/,
    );
    assert.match(stop.stdout.toString(), /the host has stopped\n$/);
    const outcome = await host.stopped;
    assert.match(outcome.reason, /^stop requested/);
    assert.equal(outcome.failed, false);
    assert.equal(await waiting.exitCode(), 1);
    assert.match(waiting.stderr(), /^xenotype: the host is stopping: stop requested/);
    assert.equal((await silent.next('status')).status.stopping, true);
    assert.ok(toolstack.calls.includes('destroy 1'));
    assert.deepEqual(closed, [false]);
    const log = readLog(paths);
    assert.match(log, /destroying 1 guest\(s\) with the machine: guest \(domid 1\)\n/);
    assert.match(log, /stopped\n$/);
    assert.equal(existsSync(paths.socket), false);
    assert.equal(existsSync(paths.pidFile), false);
    const none = await run(XENOTYPE, ['host', 'status'], env);
    assert.equal(none.code, 3);
    assert.match(none.stdout.toString(), /no host is running/);
  }));

test('a machine failure: clients are told, the host stops with an error', () =>
  withHost(async ({ closed, context, host, paths, toolstack, xl }) => {
    assert.equal((await xl('create', 'guest.cfg')).code, 0);
    const waiting = await ProtocolClient.start(paths, ['console', 'guest']);
    await until(() => toolstack.calls.includes('console 1'));
    context.fail('the hypervisor thread threw');
    const outcome = await host.stopped;
    assert.equal(outcome.failed, true);
    assert.equal(await waiting.exitCode(), 1);
    assert.match(waiting.stderr(), /the host is stopping: the machine failed/);
    assert.deepEqual(closed, [true]);
    assert.match(readLog(paths), /machine failure: the hypervisor thread threw\n/);
    assert.ok(!toolstack.calls.includes('destroy 1')); // nothing is asked of a failed machine
  }));

test('idle: a host with no guests and no clients stops after the timeout', async () => {
  const { host, paths } = await fakeHost({ idleTimeoutMs: 100 });
  const outcome = await host.stopped;
  assert.match(outcome.reason, /^idle for \d+ s: no guests and no clients$/);
  assert.match(readLog(paths), /stopping: idle/);
  rmSync(paths.dir, { recursive: true, force: true });
});

test('idle: a guest keeps the host; its going lets the host stop', async () => {
  const toolstack = new FakeToolstack();
  const parsed = parseDomainConfig(
    { source: 'guest.cfg', data: Buffer.from(GUEST_CFG), cwd: '/' },
    () => {},
  );
  assert.ok(parsed.ok);
  await toolstack.createDomain(parsed.config);
  const { host, paths } = await fakeHost({ idleTimeoutMs: 50, toolstack });
  let stopped = false;
  void host.stopped.then(() => {
    stopped = true;
  });
  // Many timeouts pass: a guest is not idleness.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(stopped, false);
  await toolstack.destroy(1);
  assert.match((await host.stopped).reason, /^idle/);
  rmSync(paths.dir, { recursive: true, force: true });
});
