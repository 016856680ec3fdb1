// Where the host lives: the run directory from the environment, and its layout.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeRunDir, RunDirError, resolveRunDir, runPaths } from './run-dir.js';
import { DEFAULT_IDLE_TIMEOUT_SECONDS, hostSettings, SettingsError } from './settings.js';

test('the run directory: XENOTYPE_RUN_DIR, then /run for root, XDG_RUNTIME_DIR, ~/.xenotype', () => {
  const home = '/home/ada';
  const explicit = { XENOTYPE_RUN_DIR: '/srv/xt', XDG_RUNTIME_DIR: '/run/user/1000' };
  assert.equal(resolveRunDir({ env: explicit, uid: 0, home }), '/srv/xt');
  assert.equal(resolveRunDir({ env: explicit, uid: 1000, home }), '/srv/xt');
  const xdg = { XDG_RUNTIME_DIR: '/run/user/1000' };
  assert.equal(resolveRunDir({ env: xdg, uid: 0, home }), '/run/xenotype');
  assert.equal(resolveRunDir({ env: xdg, uid: 1000, home }), '/run/user/1000/xenotype');
  assert.equal(resolveRunDir({ env: {}, uid: 1000, home }), '/home/ada/.xenotype/run');
  // Empty variables count as unset, as a shell's `${VAR:-…}` would.
  const empty = { XENOTYPE_RUN_DIR: '', XDG_RUNTIME_DIR: '' };
  assert.equal(resolveRunDir({ env: empty, uid: 1000, home }), '/home/ada/.xenotype/run');
});

test('the run directory layout', () => {
  assert.deepEqual(runPaths('/run/xenotype'), {
    dir: '/run/xenotype',
    socket: '/run/xenotype/host.sock',
    pidFile: '/run/xenotype/host.pid',
    logFile: '/run/xenotype/xenotype.log',
    xlLogDir: '/run/xenotype/log',
    consoleLogDir: '/run/xenotype/log/console',
    xenstoredSocket: '/run/xenotype/xenstored/socket',
  });
});

test('making the run directory: private for a user, and it must be theirs', () => {
  const uid = process.getuid?.() ?? 0;
  const top = mkdtempSync(join(tmpdir(), 'xenotype-rundir-'));
  const paths = runPaths(join(top, 'a', 'run'));
  makeRunDir(paths, uid);
  makeRunDir(paths, uid); // again: nothing to do
  for (const dir of [paths.dir, paths.consoleLogDir, join(paths.dir, 'xenstored')]) {
    assert.ok(statSync(dir).isDirectory());
  }
  if (uid !== 0) assert.equal(statSync(paths.dir).mode & 0o777, 0o700);
  assert.throws(() => makeRunDir(paths, uid + 1), RunDirError);
  const deep = runPaths(join(paths.dir, 'd'.repeat(100)));
  assert.throws(() => makeRunDir(deep, uid), /too long for a Unix socket/);
  rmSync(top, { recursive: true, force: true });
});

test('settings from the environment', () => {
  assert.deepEqual(hostSettings({}), {
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_SECONDS * 1000,
    memoryMiB: 2048,
    fakeToolstack: false,
    uplink: true,
  });
  const set = hostSettings({
    XENOTYPE_IDLE_TIMEOUT: '0.5',
    XENOTYPE_MEMORY_MIB: '512',
    XENOTYPE_FAKE_TOOLSTACK: '1',
    XENOTYPE_UPLINK: '0',
  });
  assert.deepEqual(set, { idleTimeoutMs: 500, memoryMiB: 512, fakeToolstack: true, uplink: false });
  assert.equal(hostSettings({ XENOTYPE_IDLE_TIMEOUT: '0' }).idleTimeoutMs, 0);
  assert.throws(() => hostSettings({ XENOTYPE_IDLE_TIMEOUT: 'soon' }), SettingsError);
  assert.throws(() => hostSettings({ XENOTYPE_IDLE_TIMEOUT: '-1' }), SettingsError);
  assert.throws(() => hostSettings({ XENOTYPE_MEMORY_MIB: '8192' }), SettingsError);
  assert.throws(() => hostSettings({ XENOTYPE_MEMORY_MIB: '1.5' }), SettingsError);
  assert.throws(() => hostSettings({ XENOTYPE_UPLINK: 'yes' }), SettingsError);
});
