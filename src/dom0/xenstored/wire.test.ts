import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XENSTORE_PAYLOAD_MAX, XS_ERROR, XS_READ, XS_WRITE } from '../../abi/io/xs_wire.js';
import {
  atoi,
  encodeError,
  encodeMessage,
  MessageParser,
  onearg,
  splitStrings,
  strings,
  strtoul32,
  XSD_SOCKMSG_SIZE,
} from './wire.js';

const three = [
  encodeMessage(XS_READ, 1, 0, strings('/a')),
  encodeMessage(XS_WRITE, 2, 7, strings('/b', 'value')),
  encodeMessage(XS_READ, 3, 0, new Uint8Array(0)),
];
const stream = Uint8Array.from(Buffer.concat(three));

test('the header is type, req_id, tx_id, len as little-endian u32s', () => {
  const m = encodeMessage(XS_WRITE, 0x01020304, 9, strings('x'));
  assert.equal(XSD_SOCKMSG_SIZE, 16);
  assert.deepEqual([...m.subarray(0, 16)], [11, 0, 0, 0, 4, 3, 2, 1, 9, 0, 0, 0, 2, 0, 0, 0]);
  assert.deepEqual([...m.subarray(16)], [0x78, 0]);
});

test('error replies carry the errno name and a NUL', () => {
  const m = encodeError(5, 6, 2);
  const [msg] = new MessageParser().push(m);
  assert.equal(msg?.type, XS_ERROR);
  assert.equal(msg?.req_id, 5);
  assert.equal(msg?.tx_id, 6);
  assert.equal(Buffer.from(msg!.payload).toString('latin1'), 'ENOENT\0');
});

test('the parser reassembles messages split at every possible point', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new MessageParser();
    const msgs = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
    assert.deepEqual(
      msgs.map((m) => [m.type, m.req_id, m.tx_id, splitStrings(m.payload)]),
      [
        [XS_READ, 1, 0, ['/a']],
        [XS_WRITE, 2, 7, ['/b', 'value']],
        [XS_READ, 3, 0, []],
      ],
      `cut at ${cut}`,
    );
  }
});

test('the parser takes a stream one byte at a time and says how much it needs', () => {
  const p = new MessageParser();
  const got = [];
  for (const b of stream) {
    assert.ok(p.needed() > 0);
    got.push(...p.push(Uint8Array.of(b)));
  }
  assert.equal(got.length, 3);
  assert.equal(p.needed(), XSD_SOCKMSG_SIZE);
});

test('a header announcing more than XENSTORE_PAYLOAD_MAX stops the parser', () => {
  const p = new MessageParser();
  const ok = encodeMessage(XS_READ, 1, 0, strings('/a'));
  const bad = encodeMessage(XS_WRITE, 2, 0, new Uint8Array(0));
  new DataView(bad.buffer).setUint32(12, XENSTORE_PAYLOAD_MAX + 1, true);
  const msgs = p.push(Uint8Array.from(Buffer.concat([ok, bad, ok])));
  assert.equal(msgs.length, 1);
  assert.equal(p.error, 'oversize');
  assert.equal(p.badLength, XENSTORE_PAYLOAD_MAX + 1);
  assert.deepEqual(p.push(ok), []);
  // Exactly the maximum is fine.
  const max = encodeMessage(XS_WRITE, 3, 0, new Uint8Array(XENSTORE_PAYLOAD_MAX));
  assert.equal(new MessageParser().push(max).length, 1);
});

test('onearg wants exactly one NUL, at the end', () => {
  assert.equal(onearg(strings('/a')), '/a');
  assert.equal(onearg(strings('')), '');
  assert.equal(onearg(new Uint8Array(0)), undefined);
  assert.equal(onearg(Buffer.from('/a')), undefined);
  assert.equal(onearg(strings('/a', 'b')), undefined);
});

test('splitStrings drops bytes after the last NUL', () => {
  assert.deepEqual(splitStrings(Buffer.from('a\0b\0c')), ['a', 'b']);
  assert.deepEqual(splitStrings(Buffer.from('\0\0')), ['', '']);
});

test('atoi and strtoul32 read numbers as C does', () => {
  assert.equal(atoi('42'), 42);
  assert.equal(atoi(' 7x'), 7);
  assert.equal(atoi('-3'), -3);
  assert.equal(atoi('abc'), 0);
  assert.deepEqual(strtoul32('12'), { value: 12, rest: '' });
  assert.deepEqual(strtoul32('0x1f'), { value: 31, rest: '' });
  assert.deepEqual(strtoul32('010'), { value: 8, rest: '' });
  assert.deepEqual(strtoul32('-1'), { value: 0xffffffff, rest: '' });
  assert.deepEqual(strtoul32('5z'), { value: 5, rest: 'z' });
  assert.equal(strtoul32('z'), undefined);
});
