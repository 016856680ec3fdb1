import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XENSTORE_REL_PATH_MAX } from '../../abi/io/xs_wire.js';
import { XenstoreError } from './index.js';
import { basename, canonicalize, isChild, isValidNodename, parentOf } from './paths.js';
import {
  parsePerms,
  permForConn,
  permToString,
  XS_PERM_NONE,
  XS_PERM_OWNER,
  XS_PERM_READ,
  XS_PERM_WRITE,
} from './perms.js';
import { nodeSize, Store } from './tree.js';

test('node names follow xenstored rules', () => {
  for (const ok of ['/', '/a', '/local/domain/1/device/vif/0', '/a-b_c@d', '/0/9']) {
    assert.ok(isValidNodename(ok), ok);
  }
  for (const bad of ['', 'a', '/a/', '//', '/a//b', '/a b', '/a.b', '/ä', '/a\n', '@x']) {
    assert.ok(!isValidNodename(bad), JSON.stringify(bad));
  }
});

test('a path may be XENSTORE_REL_PATH_MAX long, not counting /local/domain/<id>/', () => {
  const long = `/${'a'.repeat(XENSTORE_REL_PATH_MAX - 1)}`;
  assert.ok(isValidNodename(long));
  assert.ok(!isValidNodename(`${long}b`));
  const prefix = '/local/domain/12345/';
  const local = prefix + 'b'.repeat(XENSTORE_REL_PATH_MAX);
  assert.ok(isValidNodename(local));
  assert.ok(!isValidNodename(`${local}c`));
  // Six digits are not a domain id: the prefix earns no extra length.
  assert.ok(!isValidNodename(`/local/domain/123456/${'b'.repeat(XENSTORE_REL_PATH_MAX)}`));
});

test('relative names are resolved under the connection home', () => {
  assert.equal(canonicalize('/local/domain/3', 'device/vbd'), '/local/domain/3/device/vbd');
  assert.equal(canonicalize('/local/domain/3', '/abs'), '/abs');
  assert.equal(canonicalize('/local/domain/3', '@releaseDomain'), '@releaseDomain');
  assert.equal(parentOf('/a/b/c'), '/a/b');
  assert.equal(parentOf('/a'), '/');
  assert.equal(parentOf('/'), '/');
  assert.equal(basename('/a/b/c'), 'c');
  assert.ok(isChild('/a/b', '/a'));
  assert.ok(isChild('/a', '/a'));
  assert.ok(isChild('/anything', '/'));
  assert.ok(!isChild('/ab', '/a'));
});

test('permission strings parse and print as xs_lib does', () => {
  const perms = parsePerms(['b5', 'r0', 'w7', 'n0x10']);
  assert.deepEqual(perms, [
    { id: 5, perms: XS_PERM_READ | XS_PERM_WRITE },
    { id: 0, perms: XS_PERM_READ },
    { id: 7, perms: XS_PERM_WRITE },
    { id: 16, perms: XS_PERM_NONE },
  ]);
  assert.deepEqual(perms.map(permToString), ['b5', 'r0', 'w7', 'n16']);
  for (const bad of ['x1', 'r', 'r1a', '']) {
    assert.throws(() => parsePerms([bad]), XenstoreError, bad);
  }
});

test('the owner may do all, others what their entry or the default says', () => {
  const perms = parsePerms(['r3', 'w4', 'n5']);
  const who = (id: number, targetId?: number) => ({ id, privileged: false, targetId });
  const all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
  assert.equal(permForConn(who(3), perms), all);
  assert.equal(permForConn(who(4), perms), XS_PERM_WRITE);
  assert.equal(permForConn(who(5), perms), XS_PERM_NONE);
  assert.equal(permForConn(who(6), perms), XS_PERM_READ);
  assert.equal(permForConn({ id: 0, privileged: true, targetId: undefined }, perms), all);
  // A stub domain targeting domain 3 acts as its owner, and inherits its grants elsewhere.
  assert.equal(permForConn(who(9, 3), perms), all);
  assert.equal(permForConn(who(9, 4), perms), XS_PERM_WRITE);
  // An entry for a domain that is not honoured (dead, or newer than the node) is skipped.
  assert.equal(
    permForConn(who(4), perms, (id) => id !== 4),
    XS_PERM_READ,
  );
});

test('the store starts with /, /tool and /tool/xenstored owned by Dom0', () => {
  const store = new Store();
  assert.deepEqual(store.names(), ['/', '/tool', '/tool/xenstored']);
  assert.deepEqual(store.read('/')?.children, ['tool']);
  assert.deepEqual(store.read('/tool')?.perms, [{ id: 0, perms: XS_PERM_NONE }]);
  assert.equal(store.entries(0), 3);
  assert.equal(store.generation, 3);
});

test('writes take increasing generations and count nodes per owner', () => {
  const store = new Store();
  const empty = new Uint8Array(0);
  const a = store.write('/a', { value: empty, children: [], perms: parsePerms(['n5']) });
  const b = store.write('/a', { value: Buffer.from('x'), children: [], perms: parsePerms(['n6']) });
  assert.ok(b.generation > a.generation);
  assert.equal(store.entries(5), 0);
  assert.equal(store.entries(6), 1);
  store.remove('/a');
  assert.equal(store.entries(6), 0);
  assert.equal(store.read('/a'), undefined);
});

test('a record is accounted at header, permissions, value and children', () => {
  const size = nodeSize({
    value: Buffer.from('abc'),
    children: ['x', 'yz'],
    perms: parsePerms(['n0', 'r1']),
  });
  assert.equal(size, 24 + 2 * 8 + 3 + 2 + 3);
});
