// xl console: output until the domain goes, keys to the guest on a terminal, Ctrl-] detaching.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeToolstack, testDomainConfig } from '../toolstack/testing.js';
import { startXl, until, xl } from './testing.js';

async function guest(): Promise<FakeToolstack> {
  const ts = new FakeToolstack();
  const config = testDomainConfig();
  await ts.createDomain(config);
  return ts;
}

const TTY = { stdinIsTty: true, stdoutIsTty: true };

test('without a terminal: output flows until the domain is destroyed, stdin is not read', async () => {
  const ts = await guest();
  const run = startXl(ts, ['console', 'g']);
  await until(() => ts.calls.includes('console 1'));
  run.client.type('ignored\n');
  ts.consoleOutput(1, 'login: ');
  await until(() => run.client.stdout === 'login: ');
  await ts.destroy(1);
  const r = await run.done;
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'login: ', '']);
  assert.deepEqual(run.client.rawMode, []);
});

test('on a terminal: raw mode, keys go to the guest, Ctrl-] detaches', async () => {
  const ts = await guest();
  const run = startXl(ts, ['console', '1'], TTY);
  await until(() => ts.calls.includes('console 1'));
  run.client.type('root\r');
  ts.consoleOutput(1, 'Password: ');
  run.client.type('ls\x1dafter');
  const r = await run.done;
  assert.equal(r.code, 0);
  assert.equal(ts.consoleInput(1), 'root\rls');
  assert.deepEqual(run.client.rawMode, [true, false]);
  assert.equal(ts.domains.has(1), true);
});

test('on a terminal, the end of stdin does not stop the output', async () => {
  const ts = await guest();
  const run = startXl(ts, ['console', 'g'], TTY);
  await until(() => ts.calls.includes('console 1'));
  run.client.endInput();
  ts.consoleOutput(1, 'still here\n');
  await until(() => run.client.stdout === 'still here\n');
  await ts.destroy(1);
  assert.equal((await run.done).code, 0);
});

test("errors: Domain-0, a bad type, a domain that isn't there", async () => {
  const ts = await guest();
  assert.deepEqual(await xl(ts, ['console', '0']).then((r) => [r.code, r.stderr]), [
    22,
    "Can't specify Domain-0\n",
  ]);
  assert.deepEqual(await xl(ts, ['console', '-t', 'vga', 'g']).then((r) => [r.code, r.stderr]), [
    1,
    'console type supported are: pv, serial, vuart\n',
  ]);
  assert.deepEqual(await xl(ts, ['console', '7']).then((r) => [r.code, r.stderr]), [
    1,
    'libxl: error: Domain 7:Non-existant domain\nUnable to attach console\n',
  ]);
  assert.deepEqual(await xl(ts, ['console', 'nope']).then((r) => [r.code, r.stderr]), [
    1,
    'nope is an invalid domain identifier (rc=-6)\n',
  ]);
});
