// Several domains side by side: three guests of 256 MiB built with `xl create` (no console:
// xl returns at once and its monitor stays in the host), each reaching its shell. Then
// `xl shutdown -w` makes one power off cleanly (it sees control/shutdown in xenstore), `xl
// destroy` ends another, and the last is rebooted with `xl reboot`, then shut down; a fourth
// is destroyed while it boots.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { atShellPrompt, SHELL_BANNER } from '../../src/images/initramfs/build.js';
import { startXlHost, waitUntil, type XlHost } from './xl-harness.js';

let host: XlHost;
before(async () => {
  host = await startXlHost();
});
after(async () => {
  await host.close();
});

// The kernel's crypto self-tests are half of its boot's instructions (bench/ and BENCHMARKS.md);
// these guests skip them.
const CMDLINE = 'cmdline="console=hvc0 cryptomgr.notests"';

async function create(name: string, ...extra: string[]): Promise<void> {
  const created = await host.xl(
    'create',
    'examples/debian-pvh.cfg',
    `name="${name}"`,
    'memory=256',
    'vcpus=1',
    CMDLINE,
    ...extra,
  );
  assert.equal(created.code, 0, created.stderr);
}

async function names(): Promise<string[]> {
  const { stdout } = await host.xl('list');
  return stdout
    .split('\n')
    .slice(1)
    .map((line) => line.split(/\s+/)[0]!)
    .filter((name) => name !== '');
}

test('three 256 MiB guests run side by side; shutdown and destroy end them', async () => {
  await create('early');
  // xl destroy at any moment: this one goes while its kernel is still starting.
  await waitUntil(
    async () => (await host.consoleLog('early')).includes('Linux version'),
    () => 'no kernel output from "early"',
  );
  assert.equal((await host.xl('destroy', 'early')).code, 0);
  assert.deepEqual(await names(), ['Domain-0']);

  // "two" may grow to 384 MiB: its memory map holds that much, and its balloon driver gives
  // back the 128 MiB above its target as it boots.
  for (const name of ['one', 'two', 'three'])
    await create(name, ...(name === 'two' ? ['maxmem=384'] : []));
  const list = await host.xl('list');
  for (const name of ['one', 'three']) {
    assert.match(list.stdout, new RegExp(`^${name}\\s+\\d+\\s+256\\s+1\\s`, 'm'));
  }
  for (const name of ['one', 'two', 'three']) {
    await waitUntil(
      async () => atShellPrompt(await host.consoleLog(name)),
      () => `"${name}" never reached its prompt`,
    );
  }
  // Its balloon driver works in the background: give it a minute to reach the target.
  let mem: string | undefined;
  for (let tries = 0; tries < 60 && mem !== '256'; tries++) {
    if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
    mem = /^two\s+\d+\s+(\d+)\s/m.exec((await host.xl('list')).stdout)?.[1];
  }
  assert.equal(mem, '256', 'the balloon driver took "two" down to its target, no further');
  assert.match(await host.consoleLog('two'), /Memory: \d+K\/39\d{4}K available/);

  const shutdown = await host.xl('shutdown', '-w', 'one');
  assert.equal(shutdown.code, 0, shutdown.stderr);
  assert.match(await host.consoleLog('one'), /The system is going down NOW!/);
  assert.deepEqual(await names(), ['Domain-0', 'two', 'three']);

  assert.equal((await host.xl('destroy', 'two')).code, 0);
  assert.deepEqual(await names(), ['Domain-0', 'three']);

  // xl reboot: the guest reboots (a triple fault, as under Xen) and xl's monitor builds it again.
  const before = (await host.consoleLog('three')).split(SHELL_BANNER).length;
  assert.equal((await host.xl('reboot', 'three')).code, 0);
  await waitUntil(
    async () => (await host.consoleLog('three')).split(SHELL_BANNER).length > before,
    () => '"three" did not come back after xl reboot',
  );
  await waitUntil(
    async () => atShellPrompt((await host.consoleLog('three')).split('Linux version').at(-1) ?? ''),
    () => '"three" did not reach its prompt again',
  );
  assert.match(await host.xlLog('three'), /Action for shutdown reason code 1 is restart/);

  assert.equal((await host.xl('shutdown', 'three')).code, 0);
  await waitUntil(
    async () => (await names()).length === 1,
    () => 'the last guest did not go away after xl shutdown',
  );
  assert.equal((await host.xl('destroy', 'three')).code, 1, 'it is gone');
});
