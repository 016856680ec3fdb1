import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  XS_DIRECTORY,
  XS_READ,
  XS_TRANSACTION_END,
  XS_TRANSACTION_START,
  XS_WATCH,
  XS_WRITE,
} from '../../abi/io/xs_wire.js';
import { pathAndValue, testDaemon } from './testkit.js';

test('a transaction reads the store as it was when it started', async () => {
  const { dom0 } = await testDaemon();
  await dom0.write('/a', 'old');
  const tx = await dom0.transactionStart();
  await dom0.write('/a', 'new');
  await dom0.write('/born-later', 'x');
  assert.equal(await dom0.read('/a', tx), 'old');
  assert.equal(await dom0.tryRead('/born-later', tx), undefined);
  assert.deepEqual(await dom0.directory('/', tx), ['tool', 'a']);
  // What it read changed meanwhile: the commit is refused.
  await assert.rejects(dom0.transactionEnd(tx, true), { code: 'EAGAIN' });
  assert.equal(await dom0.read('/a'), 'new');
});

test('changes are private until commit, then all appear', async () => {
  const { dom0 } = await testDaemon();
  const tx = await dom0.transactionStart();
  await dom0.write('/t/x', '1', tx);
  await dom0.write('/t/y', '2', tx);
  assert.deepEqual(await dom0.directory('/t', tx), ['x', 'y']);
  assert.equal(await dom0.tryRead('/t/x'), undefined);
  await dom0.transactionEnd(tx, true);
  assert.equal(await dom0.read('/t/x'), '1');
  assert.equal(await dom0.read('/t/y'), '2');
});

test('"F" discards the changes', async () => {
  const { dom0 } = await testDaemon();
  await dom0.write('/keep', 'v');
  const tx = await dom0.transactionStart();
  await dom0.write('/gone', '1', tx);
  await dom0.rm('/keep', tx);
  await dom0.transactionEnd(tx, false);
  assert.equal(await dom0.tryRead('/gone'), undefined);
  assert.equal(await dom0.read('/keep'), 'v');
});

test('a write to the same node by someone else is a conflict', async () => {
  const { dom0 } = await testDaemon();
  const tx = await dom0.transactionStart();
  await dom0.write('/c', 'tx', tx);
  await dom0.write('/c', 'outside');
  await assert.rejects(dom0.transactionEnd(tx, true), { code: 'EAGAIN' });
  assert.equal(await dom0.read('/c'), 'outside');
});

test('changes to names the transaction never touched do not conflict', async () => {
  const { dom0 } = await testDaemon();
  await dom0.mkdir('/dir');
  const tx = await dom0.transactionStart();
  await dom0.write('/dir/mine', '1', tx);
  await dom0.write('/elsewhere', '2');
  await dom0.transactionEnd(tx, true);
  assert.equal(await dom0.read('/dir/mine'), '1');
});

test('of two transactions on the same node, the second to commit gets EAGAIN', async () => {
  const { dom0 } = await testDaemon();
  await dom0.write('/n', '0');
  const t1 = await dom0.transactionStart();
  const t2 = await dom0.transactionStart();
  await dom0.write('/n', String(Number(await dom0.read('/n', t1)) + 1), t1);
  await dom0.write('/n', String(Number(await dom0.read('/n', t2)) + 1), t2);
  await dom0.transactionEnd(t1, true);
  await assert.rejects(dom0.transactionEnd(t2, true), { code: 'EAGAIN' });
  assert.equal(await dom0.read('/n'), '1');
  // The helper retries until the increment lands.
  await dom0.transaction(async (tx) => {
    await dom0.write('/n', String(Number(await dom0.read('/n', tx)) + 1), tx);
  });
  assert.equal(await dom0.read('/n'), '2');
});

test('ids, nesting and ends are checked as xenstored does', async () => {
  const t = await testDaemon();
  const g = await t.guest(3);
  assert.equal(g.ask(XS_TRANSACTION_START, ['']), '1\0');
  assert.equal(g.ask(XS_TRANSACTION_START, ['']), '2\0');
  assert.equal(g.ask(XS_TRANSACTION_START, [''], 1), 'ERROR EBUSY');
  assert.equal(g.ask(XS_TRANSACTION_START, [''], 99), 'ERROR ENOENT');
  assert.equal(g.ask(XS_READ, ['/x'], 99), 'ERROR ENOENT');
  assert.equal(g.ask(XS_TRANSACTION_END, ['T']), 'ERROR ENOENT');
  assert.equal(g.ask(XS_TRANSACTION_END, ['X'], 1), 'ERROR EINVAL');
  assert.equal(g.ask(XS_TRANSACTION_END, ['F'], 1), 'OK\0');
  assert.equal(g.ask(XS_TRANSACTION_END, ['F'], 1), 'ERROR ENOENT');
  // WATCH ignores the tx_id.
  assert.equal(g.ask(XS_WATCH, ['/x', 'tok'], 77), 'OK\0');
  // A reply echoes the request's tx_id.
  assert.equal(g.request(XS_DIRECTORY, ['/local/domain/3'], 2).tx_id, 2);
});

test('watch events of a transaction fire on commit, not on abort', async () => {
  const { dom0 } = await testDaemon();
  const seen: string[] = [];
  await dom0.watch('/w', 'tok', (path) => seen.push(path));
  seen.length = 0;
  const aborted = await dom0.transactionStart();
  await dom0.write('/w/a', '1', aborted);
  await dom0.transactionEnd(aborted, false);
  assert.deepEqual(seen, []);
  const tx = await dom0.transactionStart();
  await dom0.write('/w/a', '1', tx);
  await dom0.write('/w/b', '2', tx);
  assert.deepEqual(seen, []);
  await dom0.transactionEnd(tx, true);
  assert.deepEqual(seen, ['/w/a', '/w/b']);
});

test('a guest may have 10 transactions open, no more', async () => {
  const t = await testDaemon();
  const g = await t.guest(4);
  for (let i = 1; i <= 10; i++) assert.equal(g.ask(XS_TRANSACTION_START, ['']), `${i}\0`);
  assert.equal(g.ask(XS_TRANSACTION_START, ['']), 'ERROR ENOSPC');
  assert.equal(g.ask(XS_TRANSACTION_END, ['F'], 3), 'OK\0');
  assert.equal(g.ask(XS_TRANSACTION_START, ['']), '11\0');
  // Dom0 has no such limit.
  for (let i = 0; i < 20; i++) await t.dom0.transactionStart();
});

test('the nodes quota holds for what a transaction commits', async () => {
  const t = await testDaemon({ nodes: 5 });
  const g = await t.guest(4);
  await t.dom0.mkdir('/local/domain/4');
  await t.dom0.setPerms('/local/domain/4', ['n4']); // the home counts: 1 node
  const tx = Number(g.ask(XS_TRANSACTION_START, ['']).replace('\0', ''));
  for (const n of ['a', 'b', 'c', 'd'])
    assert.equal(g.ask(XS_WRITE, pathAndValue(n, ''), tx), 'OK\0');
  assert.equal(g.ask(XS_WRITE, pathAndValue('e', ''), tx), 'ERROR ENOSPC');
  // Meanwhile Dom0 gives it another node: the commit would exceed the quota.
  await t.dom0.write('/local/domain/4/from-dom0', '');
  assert.equal(g.ask(XS_TRANSACTION_END, ['T'], tx), 'ERROR ENOSPC');
  assert.equal(await t.dom0.tryRead('/local/domain/4/a'), undefined);
});

test('a guest transaction may touch at most transaction-nodes names', async () => {
  const t = await testDaemon({ transactionNodes: 4 });
  const g = await t.guest(4);
  await t.dom0.mkdir('/local/domain/4');
  await t.dom0.setPerms('/local/domain/4', ['n4']);
  const tx = Number(g.ask(XS_TRANSACTION_START, ['']).replace('\0', ''));
  assert.equal(g.ask(XS_WRITE, pathAndValue('a', ''), tx), 'OK\0'); // a, its parent
  assert.equal(g.ask(XS_WRITE, pathAndValue('b', ''), tx), 'OK\0'); // b
  assert.equal(g.ask(XS_READ, ['c'], tx), 'ERROR ENOENT'); // c
  assert.equal(g.ask(XS_READ, ['d'], tx), 'ERROR ENOSPC');
});
