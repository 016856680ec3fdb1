import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XS_INTRODUCE, XS_READ, XS_WATCH } from '../../abi/io/xs_wire.js';
import { testDaemon } from './testkit.js';
import { strings } from './wire.js';

test('releasing a domain removes the nodes it owns and fires @releaseDomain', async () => {
  const t = await testDaemon();
  await t.dom0.mkdir('/local/domain/5/device');
  await t.dom0.setPerms('/local/domain/5', ['n5']);
  await t.dom0.setPerms('/local/domain/5/device', ['n5']);
  await t.dom0.write('/backend/vif/5/0', 'owned by dom0');
  await t.dom0.setPerms('/backend/vif/5', ['n0', 'r5']);
  await t.guest(5);
  const seen: string[] = [];
  await t.dom0.watch('/local/domain/5', 'home', (p) => seen.push(p));
  await t.dom0.watch('@releaseDomain', 'rel', (p) => seen.push(p));
  seen.length = 0;
  await t.dom0.release(5);
  assert.deepEqual(seen, ['/local/domain/5', '@releaseDomain']);
  assert.equal(await t.dom0.tryRead('/local/domain/5'), undefined);
  assert.equal(await t.dom0.read('/backend/vif/5/0'), 'owned by dom0');
  assert.ok(t.log.includes('xenstored: released domain 5'));
});

test('VIRQ_DOM_EXC: a shutdown fires @releaseDomain once (again after RESUME), death releases', async () => {
  const t = await testDaemon();
  await t.guest(5);
  await t.guest(6);
  const seen: string[] = [];
  await t.dom0.watch('@releaseDomain', 'rel', (p) => seen.push(p));
  seen.length = 0;
  await t.xs.domainsChanged();
  assert.deepEqual(seen, []);
  t.domains.states.set(5, { shutdown: true, dying: false });
  await t.xs.domainsChanged();
  await t.xs.domainsChanged();
  assert.deepEqual(seen.splice(0), ['@releaseDomain']);
  assert.equal(t.xs.isIntroduced(5), true);
  await t.dom0.resume(5);
  await t.xs.domainsChanged();
  assert.deepEqual(seen.splice(0), ['@releaseDomain']);
  t.domains.states.set(5, { shutdown: true, dying: true });
  t.domains.states.delete(6);
  await t.xs.domainsChanged();
  assert.deepEqual(seen.splice(0), ['@releaseDomain', '@releaseDomain']);
  assert.equal(t.xs.isIntroduced(5), false);
  assert.equal(t.xs.isIntroduced(6), false);
  assert.equal(t.domains.unbound.length, 2);
});

test('a new domain reusing a domid does not inherit the old grants (XSA-322)', async () => {
  const t = await testDaemon();
  await t.dom0.write('/data', 'for 7');
  await t.dom0.setPerms('/data', ['n0', 'r7']);
  const old = await t.guest(7);
  assert.equal(old.ask(XS_READ, ['/data']), 'for 7');
  await t.dom0.release(7);
  const reborn = await t.guest(7);
  assert.equal(reborn.ask(XS_READ, ['/data']), 'ERROR EACCES');
  // A grant written after the new domain appeared counts.
  await t.dom0.setPerms('/data', ['n0', 'r7']);
  assert.equal(reborn.ask(XS_READ, ['/data']), 'for 7');
});

test('a domain named only in permissions is forgotten once it is gone', async () => {
  const t = await testDaemon();
  await t.dom0.write('/gift', 'x');
  await t.dom0.setPerms('/gift', ['n0', 'r9']);
  await t.dom0.write('/owned-by-9', 'y');
  await t.dom0.setPerms('/owned-by-9', ['n9']);
  await t.xs.domainsChanged(); // domain 9 does not exist
  assert.equal(await t.dom0.tryRead('/owned-by-9'), undefined);
  t.domains.create(9);
  const g = await t.guest(9);
  assert.equal(g.ask(XS_READ, ['/gift']), 'ERROR EACCES');
});

test('introducing again rebinds the event channel and resets the connection', async () => {
  const t = await testDaemon();
  const g = await t.guest(5);
  const first = t.domains.portOf(5);
  g.ask(XS_WATCH, ['/x', 'tok']);
  g.takeEvents();
  await t.dom0.introduce(5, 0x1005, 2);
  assert.deepEqual(t.domains.unbound, [first]);
  const second = t.domains.portOf(5);
  assert.notEqual(second, first);
  assert.deepEqual(t.domains.bound.get(second), { domid: 5, remote: 2 });
  await t.dom0.write('/x', '1');
  assert.deepEqual(g.takeEvents(), []); // the watch went with the reset
  assert.equal(g.ask(XS_READ, ['/local/domain/5']), 'ERROR EACCES');
});

test('XS_INTRODUCE checks its arguments; a failed mapping is EINVAL', async () => {
  const t = await testDaemon();
  const bad = async (args: string[]) => t.dom0.request(XS_INTRODUCE, strings(...args));
  await assert.rejects(bad(['5', '1']), { code: 'EINVAL' });
  await assert.rejects(bad(['5', '1', '0']), { code: 'EINVAL' });
  await assert.rejects(bad(['0', '1', '1']), { code: 'EINVAL' });
  await assert.rejects(bad(['5', '1', '1']), { code: 'EINVAL' }); // no such domain
  assert.equal(t.xs.isIntroduced(5), false);
  t.domains.create(5);
  await bad(['5', '4096', '3']);
  assert.equal(t.xs.isIntroduced(5), true);
  t.xs.eventFired(12345); // a port nobody uses: nothing happens
});
