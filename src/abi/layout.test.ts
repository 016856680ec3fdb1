import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AbiLayoutError,
  anonStruct,
  anonUnion,
  array,
  bytes,
  chars,
  flex,
  i8,
  i16,
  i32,
  i64,
  pad,
  struct,
  u8,
  u16,
  u32,
  u64,
  union,
} from './layout.js';
import { vcpu_info } from './xen.js';

function view(size: number, fill = 0): DataView {
  return new DataView(new Uint8Array(size).fill(fill).buffer);
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AbiLayoutError, `expected an AbiLayoutError, got ${String(e)}`);
    assert.equal(e.name, 'AbiLayoutError');
    assert.equal(e.code, code);
    return true;
  });
}

const mixed = struct('mixed', { a: u8, b: u64, c: u16 });

test('members are placed with natural x86-64 alignment', () => {
  assert.deepEqual(mixed.offsets, { a: 0, b: 8, c: 16 });
  assert.deepEqual(mixed.sizes, { a: 1, b: 8, c: 2 });
  assert.equal(mixed.size, 24);
  assert.equal(mixed.align, 8);

  const s = struct('s', { x: u16, y: array(u8, 3), z: u32, w: array(mixed, 2) });
  assert.deepEqual(s.offsets, { x: 0, y: 2, z: 8, w: 16 });
  assert.equal(s.size, 64);
});

test('packed and aligned layouts', () => {
  const packed = struct('p', { a: u8, b: u64, c: u16 }, { packed: true });
  assert.deepEqual(packed.offsets, { a: 0, b: 1, c: 9 });
  assert.equal(packed.size, 11);
  assert.equal(packed.align, 1);

  const aligned = struct('al', { a: u8 }, { align: 16 });
  assert.equal(aligned.size, 16);
  assert.equal(aligned.align, 16);
  // Raising alignment never lowers it.
  assert.equal(struct('al2', { a: u64 }, { align: 2 }).align, 8);
  // Inside another struct, a packed member is placed at byte granularity.
  const outer = struct('o', { a: u8, p: packed });
  assert.equal(outer.offsets.p, 1);
  assert.equal(outer.offsets['p.b'], 2);
  assert.equal(outer.size, 12);
});

test('unions overlay their members and nest under dotted paths', () => {
  const u = union('u', { small: u16, big: array(u32, 3), wide: u64 });
  assert.equal(u.size, 16);
  assert.equal(u.align, 8);
  const s = struct('s', {
    tag: u32,
    u: anonUnion({ a: anonStruct({ x: u16, y: u32 }), b: u64 }),
  });
  assert.equal(s.offsets.u, 8);
  assert.equal(s.offsets['u.a.y'], 12);
  assert.equal(s.sizes['u.a'], 8);
  assert.equal(s.size, 16);
  // @ts-expect-error: a misspelt member path does not type-check.
  assert.equal(s.offsets['u.a.z'], undefined);
});

test('every scalar type round-trips its extremes', () => {
  const all = struct('all', { a: u8, b: i8, c: u16, d: i16, e: u32, f: i32, g: u64, h: i64 });
  const v = view(all.size);
  const value = {
    a: 255,
    b: -128,
    c: 0xffff,
    d: -32768,
    e: 0xffffffff,
    f: -(2 ** 31),
    g: 2n ** 64n - 1n,
    h: -(2n ** 63n),
  };
  all.write(v, 0, value);
  assert.deepEqual(all.read(v, 0), value);
  all.write(v, 0, { a: 0, b: 127, c: 0, d: 32767, e: 0, f: 2 ** 31 - 1, g: 0n, h: 2n ** 63n - 1n });
  assert.deepEqual(all.read(v, 0), {
    a: 0,
    b: 127,
    c: 0,
    d: 32767,
    e: 0,
    f: 2 ** 31 - 1,
    g: 0n,
    h: 2n ** 63n - 1n,
  });
});

test('64-bit fields accept numbers and are readable as lo/hi halves without BigInt', () => {
  const s = struct('s64', { u: u64, i: i64 });
  const v = view(s.size);
  s.write(v, 0, { u: Number.MAX_SAFE_INTEGER, i: -1 });
  assert.deepEqual(s.read(v, 0), { u: BigInt(Number.MAX_SAFE_INTEGER), i: -1n });
  assert.equal(v.getUint32(s.offsets.u, true), 0xffffffff);
  assert.equal(v.getUint32(s.offsets.u + 4, true), 0x1fffff);
  s.write(v, 0, { i: -(2 ** 40) - 5 });
  assert.equal(s.read(v, 0).i, -(2n ** 40n) - 5n);

  // A hot path reads vcpu_info.time.system_time as two 32-bit halves.
  const vi = view(vcpu_info.size);
  vcpu_info.write(vi, 0, { time: { system_time: 0x123456789abcn } });
  const at = vcpu_info.offsets['time.system_time'];
  assert.equal(vi.getUint32(at, true), 0x56789abc);
  assert.equal(vi.getUint32(at + 4, true), 0x1234);
});

test('write leaves absent fields untouched; encode zero-fills; clear zeroes', () => {
  const v = view(mixed.size, 0xaa);
  mixed.write(v, 0, { c: 0x1234 });
  assert.deepEqual(mixed.read(v, 0), { a: 0xaa, b: 0xaaaaaaaaaaaaaaaan, c: 0x1234 });
  // undefined counts as absent
  mixed.write(v, 0, { a: undefined, b: 1n });
  assert.equal(mixed.read(v, 0).a, 0xaa);

  const bytesOut = mixed.encode({ c: 7 });
  assert.equal(bytesOut.length, 24);
  assert.deepEqual(mixed.decode(bytesOut), { a: 0, b: 0n, c: 7 });

  mixed.clear(v, 0);
  assert.deepEqual(mixed.read(v, 0), { a: 0, b: 0n, c: 0 });
});

test('arrays write partially, with holes', () => {
  const s = struct('arr', { xs: array(u16, 4), ms: array(mixed, 2) });
  const v = view(s.size, 0xff);
  s.write(v, 0, { xs: [1, undefined, 3], ms: [undefined, { a: 9 }] });
  const r = s.read(v, 0);
  assert.deepEqual(r.xs, [1, 0xffff, 3, 0xffff]);
  assert.equal(r.ms[0]?.a, 0xff);
  assert.equal(r.ms[1]?.a, 9);
  throwsCode(() => s.write(v, 0, { xs: [1, 2, 3, 4, 5] }), 'bad-value');
});

test('bytes and chars fields', () => {
  const s = struct('bc', { id: bytes(4), name: chars(8) });
  const v = view(s.size, 0xee);
  s.write(v, 0, { id: [1, 2], name: 'xen' });
  const r = s.read(v, 0);
  assert.deepEqual([...r.id], [1, 2, 0xee, 0xee]);
  assert.equal(r.name, 'xen');
  // chars rewrite the whole field, NUL-padded
  assert.equal(v.getUint8(s.offsets.name + 7), 0);
  s.write(v, 0, { name: 'abcdefgh', id: new Uint8Array([9, 9, 9, 9]) });
  assert.equal(s.read(v, 0).name, 'abcdefgh');
  assert.deepEqual([...s.read(v, 0).id], [9, 9, 9, 9]);
  // The decoded bytes are a copy.
  s.read(v, 0).id[0] = 0;
  assert.equal(v.getUint8(0), 9);
  throwsCode(() => s.write(v, 0, { name: 'abcdefghi' }), 'bad-value');
  throwsCode(() => s.write(v, 0, { name: 'ä€' }), 'bad-value');
  throwsCode(() => s.write(v, 0, { id: [256] }), 'bad-value');
  throwsCode(() => s.write(v, 0, { id: [1, 2, 3, 4, 5] }), 'bad-value');
});

test('padding and flexible arrays have no value; flex has an offset', () => {
  const s = struct('pf', { a: u8, _: pad(3), n: u32, rest: flex(u64) });
  assert.equal(s.size, 8);
  assert.equal(s.align, 8);
  assert.deepEqual(s.offsets, { a: 0, n: 4, rest: 8 });
  assert.equal(s.sizes.rest, 0);
  const v = view(s.size, 0x11);
  assert.deepEqual(s.read(v, 0), { a: 0x11, n: 0x11111111 });
  s.write(v, 0, { a: 1 });
  assert.equal(v.getUint8(1), 0x11);
});

test('a union writes the members given, in the order given', () => {
  const u = union('ov', { lo: u32, all: u64 });
  const v = view(8);
  u.write(v, 0, { all: 0xffffffffffffffffn, lo: 0 });
  assert.deepEqual(u.read(v, 0), { lo: 0, all: 0xffffffff00000000n });
});

test('out-of-bounds access is an AbiLayoutError, not a RangeError', () => {
  const v = view(30);
  throwsCode(() => mixed.read(v, 7), 'out-of-bounds');
  throwsCode(() => mixed.read(v, -1), 'out-of-bounds');
  throwsCode(() => mixed.read(v, 0.5), 'out-of-bounds');
  throwsCode(() => mixed.write(v, 8, { a: 1 }), 'out-of-bounds');
  throwsCode(() => mixed.clear(v, 16), 'out-of-bounds');
  throwsCode(() => mixed.decode(new Uint8Array(23)), 'out-of-bounds');
  assert.doesNotThrow(() => mixed.read(v, 6));

  // Offsets are relative to the view, which may start inside its buffer.
  const buffer = new Uint8Array(64);
  const sub = new DataView(buffer.buffer, 16, 24);
  mixed.write(sub, 0, { a: 5 });
  assert.equal(buffer[16], 5);
  throwsCode(() => mixed.read(sub, 1), 'out-of-bounds');
});

test('values that do not fit their field are rejected', () => {
  const all = struct('rej', { a: u8, b: i8, e: u32, g: u64, h: i64 });
  const v = view(all.size);
  throwsCode(() => all.write(v, 0, { a: 256 }), 'bad-value');
  throwsCode(() => all.write(v, 0, { a: -1 }), 'bad-value');
  throwsCode(() => all.write(v, 0, { b: 128 }), 'bad-value');
  throwsCode(() => all.write(v, 0, { e: 1.5 }), 'bad-value');
  throwsCode(() => all.write(v, 0, { e: 2 ** 32 }), 'bad-value');
  throwsCode(() => all.write(v, 0, { g: 2n ** 64n }), 'bad-value');
  throwsCode(() => all.write(v, 0, { g: -1 }), 'bad-value');
  throwsCode(() => all.write(v, 0, { g: 2 ** 53 }), 'bad-value');
  throwsCode(() => all.write(v, 0, { h: 2n ** 63n }), 'bad-value');
  throwsCode(() => all.write(v, 0, { a: '1' as unknown as number }), 'bad-value');
  // A misspelt field is an error, not silently ignored.
  throwsCode(() => all.write(v, 0, { x: 1 } as unknown as { a: number }), 'bad-value');
  const nested = struct('n', { m: mixed });
  throwsCode(() => nested.write(v, 0, { m: 5 as unknown as { a: number } }), 'bad-value');
  // Nothing was written by the failed calls.
  assert.deepEqual(
    [...new Uint8Array(v.buffer)].every((b) => b === 0),
    true,
  );
});

test('bad declarations are rejected', () => {
  throwsCode(() => struct('f', { rest: flex(u8), after: u8 }), 'bad-declaration');
  throwsCode(() => union('f', { rest: flex(u8) }), 'bad-declaration');
  throwsCode(() => array(u8, 0), 'bad-declaration');
  throwsCode(() => array(pad(2), 2), 'bad-declaration');
  throwsCode(() => bytes(-1), 'bad-declaration');
  throwsCode(() => struct('a', { a: u8 }, { align: 3 }), 'bad-declaration');
});

test('layouts know their C spelling', () => {
  assert.equal(mixed.cType, 'struct mixed');
  assert.equal(union('x', { a: u8 }).cType, 'union x');
  assert.equal(anonStruct({ a: u8 }).cType, undefined);
  assert.equal(anonStruct({ a: u8 }, { cType: 'xen_uuid_t' }).cType, 'xen_uuid_t');
  assert.deepEqual(
    mixed.members.map((m) => [m.path, m.offset, m.size]),
    [
      ['a', 0, 1],
      ['b', 8, 8],
      ['c', 16, 2],
    ],
  );
});
