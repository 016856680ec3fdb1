import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XS_SET_PERMS, XS_WRITE } from '../../abi/io/xs_wire.js';
import { Quota, XENSTORED_DEFAULT_QUOTA } from './quota.js';
import { pathAndValue, testDaemon } from './testkit.js';

/** A daemon with guest 5, owner of its home. */
async function guest5(quota = {}) {
  const t = await testDaemon(quota);
  await t.dom0.mkdir('/local/domain/5');
  await t.dom0.setPerms('/local/domain/5', ['n5']);
  return { ...t, g: await t.guest(5) };
}

test('the defaults are xenstored 4.17 defaults', () => {
  assert.deepEqual(XENSTORED_DEFAULT_QUOTA, {
    nodes: 1000,
    watches: 128,
    transactions: 10,
    outstanding: 20,
    transactionNodes: 1024,
    nodeSize: 2048,
    pathMax: 2048,
    permissions: 5,
  });
  const q = new Quota();
  assert.ok(q.allows(false, 'nodes', 999));
  assert.ok(!q.allows(false, 'nodes', 1000));
  assert.ok(q.allows(true, 'nodes', 1_000_000));
  assert.ok(!q.set('nodes', 0));
  assert.ok(!q.set('bogus', 5));
});

test('a domain may own 1000 nodes; the next is ENOSPC, for Dom0 too on its behalf', async () => {
  const { g, dom0 } = await guest5();
  // The home (1) + 10 directories + 989 leaves; spread out, since a directory record is
  // subject to node-size too.
  for (let i = 1; i <= 999; i++) {
    const name = i <= 10 ? `d${i - 1}` : `d${i % 10}/n${i}`;
    assert.equal(g.ask(XS_WRITE, pathAndValue(name, '')), 'OK\0', `node ${i}`);
  }
  assert.equal(g.ask(XS_WRITE, pathAndValue('one-more', '')), 'ERROR ENOSPC');
  // Writing an existing node is not a new node.
  assert.equal(g.ask(XS_WRITE, pathAndValue('d1/n11', 'v')), 'OK\0');
  // Dom0 is unlimited, even creating nodes the domain owns.
  await dom0.write('/local/domain/5/by-dom0', '');
  assert.equal(g.ask(XS_WRITE, pathAndValue('d1/n11', 'w')), 'OK\0');
  assert.equal(g.ask(XS_WRITE, pathAndValue('d1/new', '')), 'ERROR ENOSPC');
  // Freeing nodes makes room again.
  await dom0.rm('/local/domain/5/d1/n11');
  await dom0.rm('/local/domain/5/d1/n21');
  assert.equal(g.ask(XS_WRITE, pathAndValue('again', '')), 'OK\0');
});

test('every missing parent a write creates counts', async () => {
  const { g } = await guest5({ nodes: 4 });
  assert.equal(g.ask(XS_WRITE, pathAndValue('a/b/c/d', '')), 'ERROR ENOSPC'); // 1 + 4
  assert.equal(g.ask(XS_WRITE, pathAndValue('a/b/c', '')), 'OK\0'); // 1 + 3
  assert.equal(g.ask(XS_WRITE, pathAndValue('a/x', '')), 'ERROR ENOSPC');
});

test('a node record must stay below node-size bytes for a guest', async () => {
  const { g, dom0 } = await guest5();
  // 24-byte header + one 8-byte permission + value: 2047 bytes is the largest allowed.
  assert.equal(g.ask(XS_WRITE, pathAndValue('v', 'x'.repeat(2015))), 'OK\0');
  assert.equal(g.ask(XS_WRITE, pathAndValue('v', 'x'.repeat(2016))), 'ERROR ENOSPC');
  await dom0.write('/local/domain/5/big', 'x'.repeat(4000));
  assert.equal((await dom0.read('/local/domain/5/big')).length, 4000);
});

test('a guest may set at most 5 permission entries', async () => {
  const { g, dom0 } = await guest5();
  g.ask(XS_WRITE, pathAndValue('p', ''));
  assert.equal(g.ask(XS_SET_PERMS, ['p', 'n5', 'r1', 'r2', 'r3', 'r4']), 'OK\0');
  assert.equal(g.ask(XS_SET_PERMS, ['p', 'n5', 'r1', 'r2', 'r3', 'r4', 'r6']), 'ERROR ENOSPC');
  await dom0.setPerms('/local/domain/5/p', ['n5', 'r1', 'r2', 'r3', 'r4', 'r6', 'r7']);
});

test('CONTROL quota set changes a limit at run time; quota <domid> reports usage', async () => {
  const { g, dom0 } = await guest5();
  assert.equal(await dom0.control('quota', 'set', 'nodes', '2'), 'OK');
  assert.equal(g.ask(XS_WRITE, pathAndValue('a', '')), 'OK\0');
  assert.equal(g.ask(XS_WRITE, pathAndValue('b', '')), 'ERROR ENOSPC');
  assert.match(await dom0.control('quota', '5'), /^Domain 5:\nnodes {11}: {8}2\n/);
  await assert.rejects(dom0.control('quota', '42'), { code: 'ENOENT' });
});
