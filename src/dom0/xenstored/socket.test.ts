import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { XS_CONTROL, XS_ERROR, XS_INTRODUCE, XS_READ, XS_WRITE } from '../../abi/io/xs_wire.js';
import { Xenstored } from './index.js';
import { FakeDomains, pathAndValue } from './testkit.js';
import { encodeMessage, fromLatin1, MessageParser, strings, type XsMessage } from './wire.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xenstored-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A raw socket client collecting every message it gets. */
async function client(path: string) {
  const sock = connect(path);
  await once(sock, 'connect');
  const parser = new MessageParser();
  const got: XsMessage[] = [];
  const waiters: (() => void)[] = [];
  sock.on('data', (d: Buffer) => {
    got.push(...parser.push(d));
    for (const w of waiters.splice(0)) w();
  });
  const closed = once(sock, 'close');
  /** Waits until `n` messages have arrived. */
  const messages = async (n: number): Promise<XsMessage[]> => {
    while (got.length < n) await new Promise<void>((r) => waiters.push(r));
    return got.splice(0, n);
  };
  return { sock, messages, closed };
}

function start() {
  const log: string[] = [];
  const xs = new Xenstored({ log: (l) => log.push(l), domains: new FakeDomains() });
  return { xs, log };
}

/** Leaves a socket file behind: a process listening on it is killed. */
async function staleSocket(path: string): Promise<void> {
  const code = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  await once(child, 'exit');
}

test('a stale socket file is replaced; close removes the socket', async () => {
  const path = join(dir, 'stale');
  await staleSocket(path);
  assert.ok(existsSync(path));
  const { xs } = start();
  await xs.listen(path);
  const c = await client(path);
  c.sock.write(encodeMessage(XS_READ, 1, 0, strings('/tool')));
  const [reply] = await c.messages(1);
  assert.equal(reply?.type, XS_READ);
  await xs.close();
  await c.closed;
  assert.ok(!existsSync(path));
});

test('requests split into bytes and pipelined together are all answered in order', async () => {
  const path = join(dir, 'split');
  const { xs } = start();
  await xs.listen(path);
  const c = await client(path);
  const stream = Buffer.concat([
    encodeMessage(XS_WRITE, 1, 0, pathAndValue('/s/a', 'one')),
    encodeMessage(XS_READ, 2, 0, strings('/s/a')),
    encodeMessage(XS_READ, 3, 0, strings('rel')), // relative: /local/domain/0/rel
  ]);
  for (const b of stream) c.sock.write(Uint8Array.of(b));
  const replies = await c.messages(3);
  assert.deepEqual(
    replies.map((m) => [m.req_id, m.type, fromLatin1(m.payload)]),
    [
      [1, XS_WRITE, 'OK\0'],
      [2, XS_READ, 'one'],
      [3, XS_ERROR, 'ENOENT\0'],
    ],
  );
  await xs.close();
});

test('socket clients are Dom0: privileged requests are not refused', async () => {
  const path = join(dir, 'priv');
  const { xs, log } = start();
  await xs.listen(path);
  const c = await client(path);
  c.sock.write(encodeMessage(XS_CONTROL, 1, 0, strings('print', 'from the socket')));
  c.sock.write(encodeMessage(XS_INTRODUCE, 2, 0, strings('5', '1', '0')));
  const [ctl, intro] = await c.messages(2);
  assert.equal(fromLatin1(ctl!.payload), 'OK\0');
  assert.equal(fromLatin1(intro!.payload), 'EINVAL\0'); // bad port, not EACCES
  assert.ok(log.includes('control: from the socket'));
  await xs.close();
});

test('garbage closes only the connection that sent it', async () => {
  const path = join(dir, 'garbage');
  const { xs, log } = start();
  await xs.listen(path);
  const good = await client(path);
  const bad = await client(path);
  const junk = await client(path);
  // An unknown type is answered, the connection stays.
  junk.sock.write(encodeMessage(0xdead, 7, 0, Buffer.from('whatever')));
  const [nosys] = await junk.messages(1);
  assert.equal(fromLatin1(nosys!.payload), 'ENOSYS\0');
  // A payload over the limit is a protocol violation: the connection is dropped.
  const hdr = encodeMessage(XS_WRITE, 1, 0, new Uint8Array(0));
  new DataView(hdr.buffer).setUint32(12, 0xffffffff, true);
  bad.sock.write(hdr);
  await bad.closed;
  assert.ok(log.some((l) => /payload of 4294967295 bytes/.test(l)));
  for (const c of [good, junk]) {
    c.sock.write(encodeMessage(XS_READ, 9, 0, strings('/tool')));
    const [r] = await c.messages(1);
    assert.equal(r?.type, XS_READ);
  }
  // A client hanging up mid-message is just gone.
  good.sock.end(hdr.subarray(0, 5));
  await good.closed;
  await xs.close();
});

test('watches on a socket deliver events; hanging up drops them', async () => {
  const path = join(dir, 'watch');
  const { xs } = start();
  await xs.listen(path);
  const c: { sock: Socket; messages: (n: number) => Promise<XsMessage[]> } = await client(path);
  c.sock.write(encodeMessage(4 /* XS_WATCH */, 1, 0, strings('/w', 'tok')));
  const [ack, first] = await c.messages(2);
  assert.equal(fromLatin1(ack!.payload), 'OK\0');
  assert.equal(fromLatin1(first!.payload), '/w\0tok\0');
  const dom0 = xs.connectLocal();
  await dom0.write('/w/x', '1');
  const [event] = await c.messages(1);
  assert.equal(fromLatin1(event!.payload), '/w/x\0tok\0');
  c.sock.destroy();
  // The server notices the hang-up a moment later; then only Dom0's local client is left.
  for (let i = 0; i < 100 && xs.state.connections.size > 1; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(xs.state.connections.size, 1);
  await xs.close();
});
