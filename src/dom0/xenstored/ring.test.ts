import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  XENSTORE_CONNECTED,
  XENSTORE_ERROR_NONE,
  XENSTORE_ERROR_PROTO,
  XENSTORE_ERROR_RINGIDX,
  XENSTORE_RECONNECT,
  XS_READ,
  XS_WRITE,
  xenstore_domain_interface,
} from '../../abi/io/xs_wire.js';
import { GuestRing, pathAndValue, testDaemon } from './testkit.js';
import { encodeMessage, fromLatin1, strings } from './wire.js';

const OFF = xenstore_domain_interface.offsets;

/** A daemon with guest 5 owning its home. */
async function setup() {
  const t = await testDaemon();
  await t.dom0.mkdir('/local/domain/5');
  await t.dom0.setPerms('/local/domain/5', ['n5']);
  return { ...t, g: await t.guest(5) };
}

test('introduction resets the ring and completes a reconnect', async () => {
  const t = await testDaemon();
  const page = t.domains.create(8);
  const view = new DataView(page.buffer);
  view.setUint32(OFF.req_prod, 77, true);
  view.setUint32(OFF.rsp_cons, 12, true);
  view.setUint32(OFF.connection, XENSTORE_RECONNECT, true);
  view.setUint32(OFF.server_features, 0xabc, true);
  await t.dom0.introduce(8, 0x1234, 3);
  for (const f of ['req_cons', 'req_prod', 'rsp_cons', 'rsp_prod'] as const) {
    assert.equal(view.getUint32(OFF[f], true), 0, f);
  }
  assert.equal(view.getUint32(OFF.connection, true), XENSTORE_CONNECTED);
  assert.equal(view.getUint32(OFF.server_features, true), 0xabc); // left alone, as 4.17
  const port = t.domains.portOf(8);
  assert.deepEqual(t.domains.bound.get(port), { domid: 8, remote: 3 });
  assert.deepEqual(t.domains.notified, [port]);
});

test('requests and replies cross the u32 wrap of the indices', async () => {
  const { g } = await setup();
  const start = 0xffffff00;
  for (const f of ['req_cons', 'req_prod', 'rsp_cons', 'rsp_prod'] as const) g.set(f, start);
  for (let i = 0; i < 40; i++) {
    assert.equal(g.ask(XS_WRITE, pathAndValue(`k${i}`, `value-${i}`)), 'OK\0');
    assert.equal(g.ask(XS_READ, [`k${i}`]), `value-${i}`);
  }
  assert.ok(g.get('req_prod') < start, 'the request index wrapped');
  assert.ok(g.get('rsp_prod') < start, 'the reply index wrapped');
});

test('messages larger than the ring go through in pieces, both ways', async () => {
  const { g, dom0 } = await setup();
  const big = 'y'.repeat(3000);
  await dom0.write('/local/domain/5/big', big);
  assert.equal(g.ask(XS_READ, ['big']), big);
  const value = 'z'.repeat(4096 - 'w\0'.length);
  assert.equal(g.ask(XS_WRITE, pathAndValue('w', value)), 'ERROR ENOSPC'); // node-size
  // Dom0 has no node-size limit; its client refuses a payload over the maximum itself.
  await dom0.write('/local/domain/5/w', value.slice(0, 4096 - '/local/domain/5/w\0'.length));
  await assert.rejects(dom0.write('/local/domain/5/w', value), { code: 'E2BIG' });
});

test('a request trickling in one byte per event is answered once complete', async () => {
  const { g } = await setup();
  const msg = encodeMessage(XS_WRITE, 42, 0, pathAndValue('slow', 'ok'));
  for (const b of msg.subarray(0, -1)) g.writeRaw(Uint8Array.of(b));
  assert.deepEqual(g.takeReplies(), []);
  g.writeRaw(msg.subarray(-1));
  const [reply] = g.takeReplies();
  assert.equal(reply?.req_id, 42);
  assert.equal(fromLatin1(reply!.payload), 'OK\0');
});

test('a guest that does not read its replies is not read either', async () => {
  const { g, dom0 } = await setup();
  await dom0.write('/local/domain/5/v', 'v'.repeat(200));
  const one = encodeMessage(XS_READ, 1, 0, strings('v'));
  for (let i = 0; i < 50; i++) assert.equal(g.writeRaw(one), one.length);
  // Four 216-byte replies fill the reply ring, 20 more wait: xenstored stopped reading.
  assert.ok(g.get('req_cons') < 30 * one.length, `req_cons ${g.get('req_cons')}`);
  let replies = 0;
  for (let round = 0; round < 50 && replies < 50; round++) {
    replies += g.takeReplies().length;
    g.kick();
  }
  assert.equal(replies, 50);
  assert.equal(g.get('req_cons'), 50 * one.length);
});

test('bad request indexes cut off that domain only, with the error in its page', async () => {
  const t = await setup();
  const other = await t.guest(6);
  t.g.set('req_prod', 2000); // 2000 bytes "produced" into a 1024-byte ring
  t.g.kick();
  assert.equal(t.g.get('error'), XENSTORE_ERROR_RINGIDX);
  assert.ok(
    t.log.some((l) => /domain 5: bad req ring indexes/.test(l)),
    t.log.join('\n'),
  );
  // Domain 5 gets no more answers; domain 6 carries on, and 5 stays introduced.
  t.g.set('req_prod', 0);
  assert.throws(() => t.g.request(XS_READ, ['/local/domain/5']));
  assert.equal(other.ask(XS_READ, ['/local/domain/6']), 'ERROR EACCES');
  assert.equal(other.get('error'), XENSTORE_ERROR_NONE);
  assert.equal(await t.dom0.isDomainIntroduced(5), true);
  assert.equal(await t.dom0.read('/local/domain/5'), '');
});

test('bad reply indexes are caught before writing', async () => {
  const { g, log } = await setup();
  g.set('rsp_cons', 5000);
  g.writeRaw(encodeMessage(XS_READ, 1, 0, strings('/local/domain/5')));
  assert.equal(g.get('error'), XENSTORE_ERROR_RINGIDX);
  assert.equal(g.get('rsp_prod'), 0);
  assert.ok(log.some((l) => /bad rsp ring indexes/.test(l)));
});

test('an oversized payload length is a protocol error for that domain', async () => {
  const { g, log, dom0 } = await setup();
  const hdr = encodeMessage(XS_WRITE, 1, 0, new Uint8Array(0));
  new DataView(hdr.buffer).setUint32(12, 4097, true);
  g.writeRaw(hdr);
  assert.equal(g.get('error'), XENSTORE_ERROR_PROTO);
  assert.ok(log.some((l) => /domain 5: payload of 4097 bytes/.test(l)));
  await dom0.write('/still/fine', '1');
});

test('garbage of an unknown type is answered with ENOSYS, and the ring goes on', async () => {
  const { g } = await setup();
  const junk = encodeMessage(0x41414141, 9, 0, Buffer.from('AAAA'));
  g.writeRaw(junk);
  const [reply] = g.takeReplies();
  assert.equal(fromLatin1(reply!.payload), 'ENOSYS\0');
  assert.equal(g.ask(XS_READ, ['/local/domain/5']), '');
});

test('release unbinds and unmaps; events for the port are then ignored', async () => {
  const { domains, dom0, xs } = await setup();
  const port = domains.portOf(5);
  await dom0.release(5);
  assert.deepEqual(domains.unbound, [port]);
  assert.deepEqual(domains.unmapped, [5]);
  xs.eventFired(port);
  assert.equal(await dom0.isDomainIntroduced(5), false);
  await assert.rejects(dom0.release(5), { code: 'ENOENT' });
});

test('a page too small or misaligned is refused with EINVAL', async () => {
  const t = await testDaemon();
  t.domains.pages.set(9, new Uint8Array(100));
  t.domains.states.set(9, { shutdown: false, dying: false });
  await assert.rejects(t.dom0.introduce(9, 1, 1), { code: 'EINVAL' });
  assert.equal(t.domains.unmapped.length, 1);
  assert.equal(t.domains.unbound.length, 1);
  assert.equal(t.xs.state.connections.size, 1); // Dom0's client only: nothing half-made
  const ok = t.domains.create(10);
  const g = new GuestRing(ok, () => t.xs.eventFired(t.domains.portOf(10)));
  await t.dom0.introduce(10, 1, 1);
  assert.equal(g.ask(XS_READ, ['/nope']), 'ERROR EACCES');
});
