// pause, unpause, destroy, shutdown, reboot, rename: messages and exit codes of
// tools/xl/xl_vmcontrol.c and xl_misc.c, against a FakeToolstack.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DomainConfig } from '../toolstack/config/domain-config.js';
import { FakeToolstack, testDomainConfig } from '../toolstack/testing.js';
import { ShutdownReason } from '../toolstack/types.js';
import { settle, startXl, xl } from './testing.js';

const config = (name: string): DomainConfig => testDomainConfig({ name });

async function twoGuests(): Promise<FakeToolstack> {
  const ts = new FakeToolstack();
  await ts.createDomain(config('a'));
  await ts.createDomain(config('b'));
  return ts;
}

test('pause and unpause by name or id; a bad domain is exit 1', async () => {
  const ts = await twoGuests();
  assert.equal((await xl(ts, ['unpause', 'a'])).code, 0);
  assert.equal((await xl(ts, ['pause', '1'])).code, 0);
  assert.deepEqual(ts.calls.slice(-2), ['unpause 1', 'pause 1']);
  assert.deepEqual(await xl(ts, ['pause', 'zz']).then((r) => [r.code, r.stderr]), [
    1,
    'zz is an invalid domain identifier (rc=-6)\n',
  ]);
  // A numeric id is not checked; libxl's failure is logged and xl still says success.
  const gone = await xl(ts, ['pause', '9']);
  assert.deepEqual([gone.code, gone.stderr], [0, 'libxl: error: Domain 9:Non-existant domain\n']);
});

test('destroy', async () => {
  const ts = await twoGuests();
  const dom0 = await xl(ts, ['destroy', '0']);
  assert.deepEqual(
    [dom0.code, dom0.stderr],
    [
      1,
      'Not destroying domain 0; use -f to force.\n' +
        'This can only be done when using a disaggregated hardware domain and toolstack.\n\n',
    ],
  );
  assert.equal((await xl(ts, ['destroy', 'b'])).code, 0);
  assert.equal(ts.domains.has(2), false);
  const missing = await xl(ts, ['destroy', '2']);
  assert.deepEqual(
    [missing.code, missing.stderr],
    [1, 'libxl: error: Domain 2:Non-existant domain\ndestroy failed (rc=-21)\n'],
  );
});

test('shutdown: a domain or -a is needed', async () => {
  const r = await xl(await twoGuests(), ['shutdown']);
  assert.deepEqual([r.code, r.stderr], [1, 'You must specify -a or a domain id.\n\n']);
});

test('shutdown without waiting', async () => {
  const ts = await twoGuests();
  const r = await xl(ts, ['shutdown', 'a']);
  assert.deepEqual([r.code, r.stderr], [0, 'Shutting down domain 1\n']);
  await settle();
  assert.equal((await ts.domainInfo(1)).shutdown, true);
});

test('shutdown -w waits for the shutdown, -ww for the destruction', async () => {
  const ts = await twoGuests();
  const w = await xl(ts, ['shutdown', '-w', 'a']);
  assert.equal(
    w.stderr,
    'Shutting down domain 1\nWaiting for 1 domains\nDomain 1 has been shut down, reason code 0\n',
  );
  const run = startXl(ts, ['shutdown', '-ww', 'b']);
  await settle();
  assert.equal(
    run.client.stderr,
    'Shutting down domain 2\nWaiting for 1 domains\nDomain 2 has been shut down, reason code 0\n' +
      'Domain 2 continue waiting for death\n',
  );
  await ts.destroy(2);
  const r = await run.done;
  assert.equal(r.code, 0);
  assert.ok(r.stderr.endsWith('Domain 2 has been destroyed\n'));
});

test('shutdown -a -w: every guest, Domain-0 spared', async () => {
  const ts = await twoGuests();
  const r = await xl(ts, ['shutdown', '--all', '--wait']);
  assert.equal(r.code, 0);
  assert.equal(
    r.stderr,
    'Shutting down domain 1\nShutting down domain 2\nWaiting for 2 domains\n' +
      'Domain 1 has been shut down, reason code 0\nDomain 2 has been shut down, reason code 0\n',
  );
});

test('reboot -w reports reason code 1', async () => {
  const ts = await twoGuests();
  const r = await xl(ts, ['reboot', '-w', 'b']);
  assert.equal(
    r.stderr,
    'Rebooting domain 2\nWaiting for 1 domains\nDomain 2 has been shut down, reason code 1\n',
  );
  assert.equal((await ts.domainInfo(2)).shutdown_reason, ShutdownReason.reboot);
});

test('a guest without PV drivers: refused, or an ACPI event with -F', async () => {
  const ts = new FakeToolstack();
  ts.guestsAnswer = false;
  await ts.createDomain(config('hvmish'));
  const r = await xl(ts, ['shutdown', '1']);
  assert.deepEqual(
    [r.code, r.stderr],
    [
      1,
      'Shutting down domain 1\n' +
        'PV control interface not available: external graceful shutdown not possible.\n' +
        'Use "-F" to fallback to ACPI power event.\n' +
        'shutdown failed (rc=-10)\n',
    ],
  );
  const f = await xl(ts, ['reboot', '-F', '1']);
  assert.deepEqual(
    [f.code, f.stderr],
    [
      0,
      'Rebooting domain 1\nPV control interface not available: sending ACPI reset button event.\n',
    ],
  );
  assert.equal(ts.calls.at(-1), 'trigger 1 reset 0');
});

test('rename', async () => {
  const ts = await twoGuests();
  assert.equal((await xl(ts, ['rename', 'a', 'c'])).code, 0);
  assert.equal((await ts.domainInfo(1)).name, 'c');
  const clash = await xl(ts, ['rename', 'c', 'b']);
  assert.deepEqual(
    [clash.code, clash.stderr],
    [1, "libxl: error: domain with name \"b\" already exists.\nCan't rename domain 'c'.\n"],
  );
});
