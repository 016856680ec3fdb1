import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  XS_RESET_WATCHES,
  XS_SET_PERMS,
  XS_UNWATCH,
  XS_WATCH,
  XS_WRITE,
} from '../../abi/io/xs_wire.js';
import { pathAndValue, testDaemon } from './testkit.js';

/** Dom0 client and a recorder of the paths its watch events carry. */
async function watching(...paths: string[]) {
  const t = await testDaemon();
  const seen: string[] = [];
  for (const p of paths) await t.dom0.watch(p, `tok:${p}`, (path) => seen.push(path));
  return { ...t, seen };
}

test('a watch fires once at once, then for changes at or below its path', async () => {
  const { dom0, seen } = await watching('/a');
  assert.deepEqual(seen.splice(0), ['/a']);
  await dom0.write('/a', '1');
  await dom0.write('/a/b/c', '2'); // creates /a/b on the way: one event, for /a/b/c
  await dom0.write('/ab', 'sibling, not a child');
  await dom0.mkdir('/a/b'); // exists: nothing changes
  assert.deepEqual(seen, ['/a', '/a/b/c']);
});

test('removing a subtree fires every watch inside it with its own path', async () => {
  const { dom0, seen } = await watching('/r/x/y', '/r', '/r/x/none');
  await dom0.write('/r/x/y/z', '1');
  seen.length = 0;
  await dom0.rm('/r/x');
  // The watch on /r/x/y hears of its removal, the one on /r of the removal of /r/x; the
  // watch on /r/x/none hears nothing (no node of that name was removed).
  assert.deepEqual(seen, ['/r/x/y', '/r/x']);
});

test('the token and the event path come back as given; relative paths stay relative', async () => {
  const t = await testDaemon();
  const g = await t.guest(5);
  await t.dom0.mkdir('/local/domain/5');
  await t.dom0.setPerms('/local/domain/5', ['n5']);
  assert.equal(g.ask(XS_WATCH, ['device', 'relative-token']), 'OK\0');
  assert.equal(g.ask(XS_WATCH, ['/local/domain/5/device', 'abs']), 'OK\0');
  assert.deepEqual(g.takeEvents(), [
    { path: 'device', token: 'relative-token' },
    { path: '/local/domain/5/device', token: 'abs' },
  ]);
  await t.dom0.write('/local/domain/5/device/vif/0', '');
  assert.deepEqual(g.takeEvents(), [
    { path: 'device/vif/0', token: 'relative-token' },
    { path: '/local/domain/5/device/vif/0', token: 'abs' },
  ]);
});

test('a domain hears only of nodes it (or the parent) can read', async () => {
  const t = await testDaemon();
  const g = await t.guest(5);
  assert.equal(g.ask(XS_WATCH, ['/secret', 's']), 'OK\0');
  assert.deepEqual(g.takeEvents(), [{ path: '/secret', token: 's' }]); // the initial fire
  await t.dom0.write('/secret/x', '1');
  assert.deepEqual(g.takeEvents(), []);
  await t.dom0.setPerms('/secret', ['n0', 'r5']);
  assert.deepEqual(g.takeEvents(), [{ path: '/secret', token: 's' }]);
  await t.dom0.write('/secret/x', '2'); // unreadable itself (n0), but its parent is readable
  assert.deepEqual(g.takeEvents(), [{ path: '/secret/x', token: 's' }]);
  // Losing access is still announced: the old permissions allowed reading.
  await t.dom0.setPerms('/secret', ['n0']);
  assert.deepEqual(g.takeEvents(), [{ path: '/secret', token: 's' }]);
  await t.dom0.write('/secret', 'z');
  assert.deepEqual(g.takeEvents(), []);
});

test('@introduceDomain and @releaseDomain reach Dom0, and domains SET_PERMS allows', async () => {
  const t = await testDaemon();
  const seen: string[] = [];
  await t.dom0.watch('@introduceDomain', 'i', (p) => seen.push(p));
  await t.dom0.watch('@releaseDomain', 'r', (p) => seen.push(p));
  const g = await t.guest(5);
  g.ask(XS_WATCH, ['@releaseDomain', 'rel']);
  assert.deepEqual(g.takeEvents(), [{ path: '@releaseDomain', token: 'rel' }]);
  await t.guest(6);
  await t.dom0.release(6);
  assert.deepEqual(g.takeEvents(), []); // not allowed by default
  await t.dom0.setPerms('@releaseDomain', ['n0', 'r5']);
  await t.guest(7);
  await t.dom0.release(7);
  assert.deepEqual(g.takeEvents(), [{ path: '@releaseDomain', token: 'rel' }]);
  assert.deepEqual(seen, [
    '@introduceDomain',
    '@releaseDomain',
    '@introduceDomain', // 5
    '@introduceDomain', // 6
    '@releaseDomain',
    '@introduceDomain', // 7
    '@releaseDomain',
  ]);
});

test('duplicates, unwatch and reset', async () => {
  const t = await testDaemon();
  const g = await t.guest(5);
  await t.dom0.write('/w', '0');
  await t.dom0.setPerms('/w', ['n0', 'r5']);
  assert.equal(g.ask(XS_WATCH, ['/w', 't']), 'OK\0');
  assert.equal(g.ask(XS_WATCH, ['/w', 't']), 'ERROR EEXIST');
  assert.equal(g.ask(XS_WATCH, ['/w', 't2']), 'OK\0');
  assert.equal(g.ask(XS_WATCH, ['/w', 't', '1']), 'ERROR EINVAL'); // no depth in 4.17
  assert.equal(g.ask(XS_WATCH, ['/w/', 't']), 'ERROR EINVAL');
  assert.equal(g.ask(XS_UNWATCH, ['/w', 'nope']), 'ERROR ENOENT');
  assert.equal(g.ask(XS_UNWATCH, ['/w', 't']), 'OK\0');
  g.takeEvents();
  await t.dom0.write('/w', '1');
  assert.deepEqual(g.takeEvents(), [{ path: '/w', token: 't2' }]);
  assert.equal(g.ask(XS_RESET_WATCHES, ['']), 'OK\0');
  await t.dom0.write('/w', '2');
  assert.deepEqual(g.takeEvents(), []);
});

test('a guest may have 128 watches; the next is E2BIG', async () => {
  const t = await testDaemon();
  const g = await t.guest(5);
  for (let i = 0; i < 128; i++) assert.equal(g.ask(XS_WATCH, [`/w${i}`, 't']), 'OK\0');
  assert.equal(g.ask(XS_WATCH, ['/w128', 't']), 'ERROR E2BIG');
  g.takeEvents();
  for (let i = 0; i < 300; i++) await t.dom0.watch(`/d${i}`, 't', () => {});
});

test('SET_PERMS and writes by a watcher itself are announced to it', async () => {
  const t = await testDaemon();
  const g = await t.guest(5);
  await t.dom0.mkdir('/local/domain/5');
  await t.dom0.setPerms('/local/domain/5', ['n5']);
  g.ask(XS_WATCH, ['data', 'me']);
  g.takeEvents();
  assert.equal(g.ask(XS_WRITE, pathAndValue('data/x', '1')), 'OK\0');
  assert.equal(g.ask(XS_SET_PERMS, ['data/x', 'n5', 'r0']), 'OK\0');
  assert.deepEqual(g.takeEvents(), [
    { path: 'data/x', token: 'me' },
    { path: 'data/x', token: 'me' },
  ]);
});
