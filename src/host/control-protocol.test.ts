// The control socket's frames: every message survives the trip, bytes stay bytes, and a frame
// split anywhere is put back together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeMessage,
  FrameDecoder,
  MAX_FRAME_BYTES,
  type Message,
  PROTOCOL_VERSION,
  ProtocolError,
} from './control-protocol.js';

const EVERY_BYTE = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) & 0xff);

const MESSAGES: Message[] = [
  {
    kind: 'start',
    start: {
      version: PROTOCOL_VERSION,
      argv: ['create', '-c', 'guest.cfg', 'extra=é ☃ "quoted"'],
      cwd: '/home/ada/vms',
      stdinIsTty: true,
      stdoutIsTty: true,
      columns: 132,
      rows: 43,
      pid: 4242,
    },
  },
  {
    kind: 'start',
    start: { version: 1, argv: [], cwd: '/', stdinIsTty: false, stdoutIsTty: false, pid: 1 },
  },
  { kind: 'stdin', data: EVERY_BYTE },
  { kind: 'stdin', data: Uint8Array.of(0x1d) },
  { kind: 'stdin-end' },
  { kind: 'resize', columns: 80, rows: 24 },
  { kind: 'admin', admin: { version: PROTOCOL_VERSION, request: 'status' } },
  { kind: 'admin', admin: { version: PROTOCOL_VERSION, request: 'stop' } },
  { kind: 'stdout', data: EVERY_BYTE },
  { kind: 'stdout', data: new Uint8Array(0) },
  { kind: 'stderr', data: new TextEncoder().encode('Parsing config from guest.cfg\n') },
  { kind: 'raw-mode', raw: true },
  { kind: 'raw-mode', raw: false },
  { kind: 'read-stdin' },
  { kind: 'detach', code: 0 },
  { kind: 'exit', code: 141 },
  {
    kind: 'status',
    status: {
      pid: 7,
      runDir: '/run/xenotype',
      uptimeSeconds: 3,
      guests: 1,
      connections: 0,
      runningCommands: 1,
      idleTimeoutSeconds: 300,
      stopping: false,
    },
  },
];

/** The messages back to back, as a socket would deliver them (a Buffer). */
const stream = (): Buffer => Buffer.concat(MESSAGES.map((m) => encodeMessage(m)));

test('every message round-trips, all in one chunk', () => {
  assert.deepEqual(new FrameDecoder().push(stream()), MESSAGES);
});

test('frames cut at every byte come out whole, and only once complete', () => {
  const bytes = stream();
  const decoder = new FrameDecoder();
  const out: Message[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...decoder.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(out, MESSAGES);
  assert.equal(decoder.pending, 0);
  // Cut in uneven pieces, the frames' edges anywhere within them.
  const again = new FrameDecoder();
  const out2: Message[] = [];
  for (let i = 0; i < bytes.length; i += 7) out2.push(...again.push(bytes.subarray(i, i + 7)));
  assert.deepEqual(out2, MESSAGES);
});

test('a partial frame waits', () => {
  const frame = encodeMessage({ kind: 'stdout', data: EVERY_BYTE });
  const decoder = new FrameDecoder();
  assert.deepEqual(decoder.push(frame.subarray(0, 3)), []);
  assert.deepEqual(decoder.push(frame.subarray(3, 100)), []);
  assert.equal(decoder.pending, 100);
  assert.deepEqual(decoder.push(frame.subarray(100)), [{ kind: 'stdout', data: EVERY_BYTE }]);
});

test('garbage is refused, not guessed at', () => {
  const frame = (length: number, type: number, payload: number[] = []): Uint8Array => {
    const bytes = new Uint8Array(5 + payload.length);
    new DataView(bytes.buffer).setUint32(0, length);
    bytes[4] = type;
    bytes.set(payload, 5);
    return bytes;
  };
  assert.throws(() => new FrameDecoder().push(frame(0, 0)), ProtocolError);
  assert.throws(() => new FrameDecoder().push(frame(MAX_FRAME_BYTES + 1, 1)), ProtocolError);
  assert.throws(() => new FrameDecoder().push(frame(1, 0x42)), /unknown frame type 0x42/);
  const notJson = [...new TextEncoder().encode('{nope')];
  assert.throws(() => new FrameDecoder().push(frame(1 + notJson.length, 0x85, notJson)), /JSON/);
  const badStart = [...new TextEncoder().encode('{"version":1,"argv":[1],"cwd":"/"}')];
  assert.throws(
    () => new FrameDecoder().push(frame(1 + badStart.length, 0x01, badStart)),
    /malformed start/,
  );
});
