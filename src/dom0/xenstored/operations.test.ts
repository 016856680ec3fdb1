import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  XS_CONTROL,
  XS_DIRECTORY,
  XS_DIRECTORY_PART,
  XS_ERROR,
  XS_GET_DOMAIN_PATH,
  XS_GET_PERMS,
  XS_INTRODUCE,
  XS_IS_DOMAIN_INTRODUCED,
  XS_MKDIR,
  XS_READ,
  XS_RELEASE,
  XS_RESUME,
  XS_RM,
  XS_SET_PERMS,
  XS_SET_TARGET,
  XS_TYPE_COUNT,
  XS_WATCH_EVENT,
  XS_WRITE,
} from '../../abi/io/xs_wire.js';
import type { XenstoreError } from './index.js';
import { pathAndValue, testDaemon } from './testkit.js';
import { fromLatin1, splitStrings, strings } from './wire.js';

/** A daemon with guests 5 and 6 and their homes as a toolstack would make them. */
async function withGuests() {
  const t = await testDaemon();
  for (const domid of [5, 6]) {
    await t.dom0.mkdir(`/local/domain/${domid}`);
    await t.dom0.setPerms(`/local/domain/${domid}`, [`n${domid}`, 'r0']);
  }
  return { ...t, g5: await t.guest(5), g6: await t.guest(6) };
}

test('replies are as xenstored sends them', async () => {
  const { g5, dom0 } = await withGuests();
  assert.equal(g5.ask(XS_WRITE, pathAndValue('/local/domain/5/a', 'hello')), 'OK\0');
  assert.equal(g5.ask(XS_READ, ['/local/domain/5/a']), 'hello'); // raw bytes, no NUL
  assert.equal(g5.ask(XS_WRITE, pathAndValue('b/c', 'x')), 'OK\0');
  assert.equal(g5.ask(XS_DIRECTORY, ['/local/domain/5']), 'a\0b\0');
  assert.equal(g5.ask(XS_DIRECTORY, ['b/c']), ''); // no children: empty payload
  assert.equal(g5.ask(XS_GET_PERMS, ['a']), 'n5\0r0\0');
  assert.equal(g5.ask(XS_MKDIR, ['a']), 'OK\0');
  assert.equal(g5.ask(XS_READ, ['a']), 'hello'); // mkdir keeps an existing value
  assert.equal(g5.ask(XS_RM, ['b']), 'OK\0');
  assert.equal(g5.ask(XS_RM, ['b']), 'OK\0'); // already gone, parent exists
  assert.equal(g5.ask(XS_RM, ['b/c']), 'ERROR ENOENT'); // parent missing too
  assert.equal(g5.ask(XS_READ, ['b']), 'ERROR ENOENT');
  assert.equal(g5.ask(XS_GET_DOMAIN_PATH, ['7']), '/local/domain/7\0');
  assert.equal(await dom0.read('/local/domain/5/a'), 'hello');
});

test('values are bytes: NULs and high bytes survive, an empty value is fine', async () => {
  const { g5 } = await withGuests();
  assert.equal(g5.ask(XS_WRITE, pathAndValue('bin', 'a\0b\xff')), 'OK\0');
  assert.equal(g5.ask(XS_READ, ['bin']), 'a\0b\xff');
  assert.equal(g5.ask(XS_WRITE, pathAndValue('empty', '')), 'OK\0');
  assert.equal(g5.ask(XS_READ, ['empty']), '');
});

test('malformed requests are EINVAL', async () => {
  const { g5 } = await withGuests();
  assert.equal(g5.ask(XS_READ, Buffer.from('/local/domain/5')), 'ERROR EINVAL'); // no NUL
  assert.equal(g5.ask(XS_READ, ['/a', 'b']), 'ERROR EINVAL'); // two args
  assert.equal(g5.ask(XS_READ, ['/a/']), 'ERROR EINVAL');
  assert.equal(g5.ask(XS_READ, ['/a b']), 'ERROR EINVAL');
  assert.equal(g5.ask(XS_WRITE, Buffer.from('nonul')), 'ERROR EINVAL');
  assert.equal(g5.ask(XS_SET_PERMS, ['a']), 'ERROR EINVAL');
  assert.equal(g5.ask(XS_SET_PERMS, ['a', 'x5']), 'ERROR EINVAL');
  assert.equal(g5.ask(XS_DIRECTORY_PART, ['a']), 'ERROR EINVAL');
});

test('unknown and reply-only types are ENOSYS; privileged ones EACCES for a guest', async () => {
  const { g5 } = await withGuests();
  for (const type of [XS_WATCH_EVENT, XS_ERROR, 20, XS_TYPE_COUNT, 0xffff]) {
    assert.equal(g5.ask(type, ['x']), 'ERROR ENOSYS', `type ${type}`);
  }
  for (const type of [XS_INTRODUCE, XS_RELEASE, XS_RESUME, XS_SET_TARGET, XS_CONTROL]) {
    assert.equal(g5.ask(type, ['5', '1', '1']), 'ERROR EACCES', `type ${type}`);
  }
  assert.equal(g5.ask(XS_IS_DOMAIN_INTRODUCED, ['5']), 'ERROR EACCES');
  // The connection is still fine.
  assert.equal(g5.ask(XS_WRITE, pathAndValue('ok', '1')), 'OK\0');
});

test('a missing node is ENOENT only to whom its parents would grant access', async () => {
  const { g5 } = await withGuests();
  assert.equal(g5.ask(XS_READ, ['/local/domain/5/none']), 'ERROR ENOENT');
  assert.equal(g5.ask(XS_READ, ['/local/domain/6/none']), 'ERROR EACCES');
  assert.equal(g5.ask(XS_READ, ['/local/domain/6']), 'ERROR EACCES');
  assert.equal(g5.ask(XS_READ, ['/nowhere/deep']), 'ERROR EACCES'); // root is n0
  assert.equal(g5.ask(XS_WRITE, pathAndValue('/local/domain/6/x', '1')), 'ERROR EACCES');
  assert.equal(g5.ask(XS_WRITE, pathAndValue('/tool/x', '1')), 'ERROR EACCES');
});

test('grants let other domains in; created nodes belong to their unprivileged creator', async () => {
  const { g5, g6, dom0 } = await withGuests();
  await dom0.write('/local/domain/6/shared', '');
  await dom0.setPerms('/local/domain/6/shared', ['n6', 'b5']);
  assert.equal(g5.ask(XS_WRITE, pathAndValue('/local/domain/6/shared/k/v', 'x')), 'OK\0');
  // Parents created on the way inherit the grants, with domain 5 as owner.
  assert.equal(g5.ask(XS_GET_PERMS, ['/local/domain/6/shared/k']), 'n5\0b5\0');
  assert.equal(g6.ask(XS_READ, ['/local/domain/6/shared/k/v']), 'ERROR EACCES');
  assert.equal(g6.ask(XS_READ, ['/local/domain/6/shared']), '');
  // Dom0 creating under a domain's home keeps the domain as owner.
  await dom0.write('/local/domain/6/by-dom0', '1');
  assert.deepEqual(await dom0.getPerms('/local/domain/6/by-dom0'), [
    { id: 6, perms: 0 },
    { id: 0, perms: 1 },
  ]);
});

test('SET_PERMS needs ownership, and a guest cannot give a node away', async () => {
  const { g5, g6 } = await withGuests();
  g5.ask(XS_WRITE, pathAndValue('mine', '1'));
  assert.equal(g5.ask(XS_SET_PERMS, ['mine', 'n5', 'r6']), 'OK\0');
  assert.equal(g6.ask(XS_READ, ['/local/domain/5/mine']), '1');
  assert.equal(g6.ask(XS_SET_PERMS, ['/local/domain/5/mine', 'b6']), 'ERROR EACCES');
  assert.equal(g5.ask(XS_SET_PERMS, ['mine', 'n6']), 'ERROR EPERM');
  assert.equal(g5.ask(XS_SET_PERMS, ['@releaseDomain', 'n5']), 'ERROR EACCES');
  assert.equal(g5.ask(XS_SET_PERMS, ['@other', 'n0']), 'ERROR EINVAL');
});

test('a write-only grant lets a domain write but not read', async () => {
  const { g5, dom0 } = await withGuests();
  await dom0.write('/drop', '');
  await dom0.setPerms('/drop', ['n0', 'w5']);
  assert.equal(g5.ask(XS_WRITE, pathAndValue('/drop', 'x')), 'OK\0');
  assert.equal(g5.ask(XS_READ, ['/drop']), 'ERROR EACCES');
  assert.equal(await dom0.read('/drop'), 'x');
});

test('rm removes a whole subtree but never the root', async () => {
  const { dom0 } = await testDaemon();
  await dom0.write('/a/b/c', '1');
  await dom0.write('/a/d', '2');
  await dom0.rm('/a');
  assert.deepEqual(await dom0.directory('/'), ['tool']);
  await assert.rejects(dom0.rm('/'), { code: 'EINVAL' });
  assert.equal(await dom0.tryRead('/a/b/c'), undefined);
});

test('DIRECTORY over the payload limit is E2BIG; DIRECTORY_PART walks it in parts', async () => {
  const { dom0 } = await testDaemon();
  const names = Array.from({ length: 300 }, (_, i) => `child-with-a-long-name-${i}`);
  for (const n of names) await dom0.mkdir(`/big/${n}`);
  await assert.rejects(dom0.directory('/big'), (e: XenstoreError) => e.code === 'E2BIG');
  const parts: string[][] = [];
  let gen: string | undefined;
  let off = 0;
  for (;;) {
    const raw = await dom0.request(XS_DIRECTORY_PART, strings('/big', String(off)));
    assert.ok(raw.length <= 4096);
    const text = fromLatin1(raw);
    const [g, ...rest] = text.split('\0');
    gen ??= g;
    assert.equal(g, gen, 'same generation in every part');
    const last = text.endsWith('\0\0');
    const children = splitStrings(raw)
      .slice(1)
      .filter((c) => c !== '');
    parts.push(children);
    off += children.reduce((n, c) => n + c.length + 1, 0);
    if (last) break;
    assert.ok(rest.length > 1);
  }
  assert.ok(parts.length >= 2);
  assert.deepEqual(parts.flat(), names);
  // Past the end: the generation and an empty list.
  const past = fromLatin1(await dom0.request(XS_DIRECTORY_PART, strings('/big', '999999')));
  assert.equal(past, `${gen}\0\0`);
  // A change bumps the generation.
  await dom0.mkdir('/big/another');
  const after = fromLatin1(await dom0.request(XS_DIRECTORY_PART, strings('/big', '999999')));
  assert.notEqual(after, past);
});

test('DIRECTORY_PART of a small directory is one part ending in an extra NUL', async () => {
  const { dom0 } = await testDaemon();
  await dom0.mkdir('/s/x');
  await dom0.mkdir('/s/yy');
  const text = fromLatin1(await dom0.request(XS_DIRECTORY_PART, strings('/s', '0')));
  assert.match(text, /^\d+\0x\0yy\0\0$/);
});

test('CONTROL: print logs, quota shows settings, unknown commands are EINVAL', async () => {
  const { dom0, log } = await testDaemon();
  assert.equal(await dom0.control('print', 'hello there'), 'OK');
  assert.ok(log.includes('control: hello there'));
  assert.match(
    await dom0.control('quota'),
    /^Quota settings:\nnodes {12}: {5}1000 Nodes per domain\n/,
  );
  assert.equal(await dom0.control('quota', 'set', 'nodes', '50'), 'OK');
  assert.match(await dom0.control('quota'), /nodes {12}: {7}50/);
  assert.match(await dom0.control('help'), /^check\t\nlog\ton\|off\n/);
  assert.equal(await dom0.control('log', 'on'), 'OK');
  await assert.rejects(dom0.control('live-update', '-a'), { code: 'EINVAL' });
  await assert.rejects(dom0.control('nonsense'), { code: 'EINVAL' });
  await assert.rejects(dom0.control('log', 'maybe'), { code: 'EINVAL' });
});

test('IS_DOMAIN_INTRODUCED, RESUME and SET_TARGET from Dom0', async () => {
  const { dom0, g5, g6 } = await withGuests();
  assert.equal(await dom0.isDomainIntroduced(5), true);
  assert.equal(await dom0.isDomainIntroduced(9), false);
  assert.equal(await dom0.isDomainIntroduced(0x7ff0), true); // DOMID_SELF
  await dom0.resume(5);
  await assert.rejects(dom0.resume(9), { code: 'ENOENT' });
  await assert.rejects(dom0.resume(0), { code: 'EINVAL' });
  await assert.rejects(dom0.setTarget(5, 9), { code: 'ENOENT' });
  // Domain 5 becomes a stub domain for 6: it may act as 6's owner.
  assert.equal(g5.ask(XS_READ, ['/local/domain/6']), 'ERROR EACCES');
  await dom0.setTarget(5, 6);
  assert.equal(g5.ask(XS_READ, ['/local/domain/6']), '');
  assert.equal(g5.ask(XS_WRITE, pathAndValue('/local/domain/6/from-stub', '1')), 'OK\0');
  // Like any node an unprivileged domain creates, it is the creator's.
  assert.equal(g5.ask(XS_GET_PERMS, ['/local/domain/6/from-stub']), 'n5\0r0\0');
  assert.equal(g6.ask(XS_READ, ['/local/domain/6/from-stub']), 'ERROR EACCES');
});
