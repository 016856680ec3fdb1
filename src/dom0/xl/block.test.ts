// block-attach, block-list, block-detach: xl_block.c's arguments, table and messages, against
// a FakeToolstack (tests/host/xl-disk.test.ts does the same with a real guest).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeToolstack, testDomainConfig } from '../toolstack/testing.js';
import { xl } from './testing.js';

async function guest(): Promise<FakeToolstack> {
  const ts = new FakeToolstack();
  await ts.createDomain(testDomainConfig({ name: 'g' }));
  return ts;
}

test('block-attach takes a disk spec in pieces; block-list shows it; block-detach ends it', async () => {
  const ts = await guest();
  assert.equal((await xl(ts, ['block-attach', 'g', '/srv/d.img,raw,xvdb,rw'])).code, 0);
  assert.equal(
    (await xl(ts, ['block-attach', '1', 'format=qcow2', 'vdev=xvdc', 'target=/srv/q'])).code,
    0,
  );
  assert.deepEqual(ts.calls.slice(-2), [
    'block-attach 1 51728 /srv/d.img',
    'block-attach 1 51744 /srv/q',
  ]);
  const list = await xl(ts, ['block-list', 'g']);
  assert.equal(
    list.stdout,
    'Vdev  BE  handle state evt-ch ring-ref BE-path                       \n' +
      '51728 0   1      4     9      8        /local/domain/0/backend/vbd/1/51728\n' +
      '51744 0   1      4     9      8        /local/domain/0/backend/qdisk/1/51744\n',
  );
  assert.equal((await xl(ts, ['block-detach', 'g', 'xvdb'])).code, 0);
  assert.equal((await xl(ts, ['block-detach', '-f', 'g', '51744'])).code, 0);
  assert.deepEqual(ts.calls.slice(-2), ['block-detach 1 51728', 'block-detach 1 51744 force']);
});

test('bad specs, unknown devices and domains fail as xl does', async () => {
  const ts = await guest();
  const bad = await xl(ts, ['block-attach', 'g', '/d.img,raw,xvdb,rw,extra']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^command line: config parsing error in disk specification/);
  const vhd = await xl(ts, ['block-attach', 'g', '/d.vhd,vhd,xvdb']);
  assert.deepEqual([vhd.code, vhd.stderr.split('\n').at(-2)], [1, 'libxl_device_disk_add failed.']);
  const nodom = await xl(ts, ['block-attach', 'nope', '/d.img,raw,xvdb']);
  assert.deepEqual([nodom.code, nodom.stderr], [1, 'nope is an invalid domain identifier\n']);
  const missing = await xl(ts, ['block-detach', 'g', 'xvdz']);
  assert.deepEqual([missing.code, missing.stderr], [1, 'Error: Device xvdz not connected.\n']);
  assert.equal((await xl(ts, ['block-attach', 'g', '/d.img,raw,xvdb'])).code, 0);
  const twice = await xl(ts, ['block-attach', 'g', '/e.img,raw,xvdb']);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /libxl_device_disk_add failed\.\n$/);
});
