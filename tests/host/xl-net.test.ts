// Issue 6's network milestone, with Debian's own xen-netfront: two guests on xenbr0 ping each
// other and move 100 MiB over TCP with busybox nc, the receiver's md5sum matching the host's;
// then a host in a network namespace of the test's own reaches a guest through the bridge's TAP
// uplink (ping, and a TCP stream the guest sends to the host), and a second vif is hot-plugged
// with `xl network-attach` and taken away with `xl network-detach`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ConsoleSession,
  startXlHost,
  waitUntil,
  writeGuestConfig,
  type XlHost,
} from './xl-harness.js';

const run = promisify(execFile);

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xl-net-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A one-vCPU guest config like examples/debian-pvh.cfg, with these extra lines. */
const guestConfig = (name: string, extra: string) => writeGuestConfig(work, name, extra, 1);

/** Boots a guest to its shell and gives its eth0 `address`. */
async function bootWithAddress(host: XlHost, config: string, address: string) {
  const session = new ConsoleSession(host, ['create', '-c', config]);
  await session.reachShell();
  await waitUntil(
    async () => /eth0/.test(await session.command('ls /sys/class/net')),
    () => session.output.slice(-2000),
  );
  await session.command(`ip addr add ${address}/24 dev eth0 && ip link set eth0 up && echo up`);
  return session;
}

const CHUNK_COPIES = 100;

test('two guests on xenbr0 ping each other and move 100 MiB over TCP', {
  timeout: 30 * 60_000,
}, async () => {
  const host = await startXlHost({ env: { XENOTYPE_UPLINK: '0' } });
  try {
    // The sender streams a 1 MiB chunk of random bytes (from a disk the host wrote) 100 times.
    const chunk = randomBytes(1024 * 1024);
    const chunkImage = join(work, 'chunk.img');
    await writeFile(chunkImage, chunk);
    const expected = createHash('md5');
    for (let i = 0; i < CHUNK_COPIES; i++) expected.update(chunk);

    const receiver = await bootWithAddress(
      host,
      await guestConfig('netrx', "vif = [ 'mac=00:16:3e:00:00:02,bridge=xenbr0' ]"),
      '10.0.0.2',
    );
    const sender = await bootWithAddress(
      host,
      await guestConfig(
        'nettx',
        `vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]\ndisk = [ '${chunkImage},raw,xvda,r' ]`,
      ),
      '10.0.0.1',
    );
    const list = await host.xl('network-list', 'nettx');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^0 +0 +00:16:3e:00:00:01 +0 +4 /m);

    assert.match(await sender.command('ping -c 3 10.0.0.2'), /3 packets received/);
    assert.match(await receiver.command('ping -c 3 10.0.0.1'), /3 packets received/);

    // nc -e: the checksum reads the socket itself (a background nc would stop on tty input).
    await receiver.command("nc -l -p 5001 -e sh -c 'md5sum > /tmp/received.md5' &");
    // Linux sizes its TSO bursts by the pacing rate it measures, which an emulated CPU keeps
    // low; a higher floor lets each packet carry up to 64 KiB, as on a fast link.
    await sender.command(
      'echo 44 > /proc/sys/net/ipv4/tcp_min_tso_segs; cat /dev/xvda > /tmp/chunk',
    );
    const sent = await sender.command(
      `nc 10.0.0.2 5001 -e sh -c 'for i in $(seq ${CHUNK_COPIES}); do cat /tmp/chunk; done'; echo sent $?`,
    );
    assert.match(sent, /sent 0/);
    await waitUntil(
      async () => /[0-9a-f]{32}/.test(await receiver.command('cat /tmp/received.md5')),
      () => receiver.output.slice(-2000),
    );
    const received = await receiver.command('cat /tmp/received.md5');
    assert.equal(received.slice(0, 32), expected.digest('hex'));

    // xentop's counters: the sender sent (at least) the 100 MiB.
    const top = await host.xl('top', '-b', '-i', '1');
    const line = top.stdout.split('\n').find((l) => /nettx/.test(l)) ?? '';
    assert.ok(line !== '', top.stdout);
    // NAME STATE CPU(sec) CPU(%) MEM(k) MEM(%) MAXMEM(k) MAXMEM(%) VCPUS NETS NETTX(k) …
    const fields = line.trim().split(/\s+/);
    assert.equal(fields[9], '1', `one vif: ${line}`);
    const nettx = Number(fields[10]);
    assert.ok(nettx >= CHUNK_COPIES * 1024, `NETTX(k) ${nettx}: ${line}`);

    assert.equal((await host.xl('destroy', 'nettx')).code, 0);
    assert.equal((await host.xl('destroy', 'netrx')).code, 0);
    await Promise.all([sender.exited, receiver.exited]);
  } finally {
    await host.close();
  }
});

test('through the TAP uplink the host reaches a guest; a vif is hot-plugged and removed', {
  timeout: 30 * 60_000,
}, async () => {
  const netns = `xenotype-test-${process.pid}`;
  await run('ip', ['netns', 'add', netns]);
  const inNetns = (...args: string[]) => run('ip', ['netns', 'exec', netns, ...args]);
  // The uplink's socat talks to the host over loopback, which a new namespace has down.
  await inNetns('ip', 'link', 'set', 'lo', 'up');
  const host = await startXlHost({ netns });
  try {
    const guest = await bootWithAddress(
      host,
      await guestConfig('tapped', "vif = [ 'bridge=xenbr0' ]"),
      '10.9.0.2',
    );
    // The bridge's uplink is a TAP device called xenbr0 in the host's namespace.
    await waitUntil(
      async () =>
        (await inNetns('ip', 'link', 'show', 'xenbr0').catch(() => undefined)) !== undefined,
      () => guest.output.slice(-2000),
    );
    await inNetns('ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'xenbr0');
    await inNetns('ip', 'link', 'set', 'xenbr0', 'up');
    const ping = await inNetns('ping', '-c', '3', '-W', '10', '10.9.0.2');
    assert.match(ping.stdout, /3 received/);

    // A TCP stream from the guest to the host: the guest's large segments are cut to the
    // TAP's MTU and their checksums completed on the way, or the host would drop them.
    await guest.command(
      "nc -l -p 5002 -e sh -c 'dd if=/dev/zero bs=64k count=64 2>/dev/null' & echo listening",
    );
    // (The guest's nc may take a moment to listen: a refused connection is tried again.)
    const client = `
      let bytes = 0;
      let zeros = true;
      const connect = (tries) => {
        const socket = require('node:net').connect(5002, '10.9.0.2');
        socket.on('data', (data) => { bytes += data.length; zeros &&= data.every((b) => b === 0); });
        socket.on('end', () => console.log(bytes, zeros));
        socket.on('error', (error) => {
          if (tries === 0) throw error;
          setTimeout(() => connect(tries - 1), 500);
        });
      };
      connect(40);`;
    const { stdout } = await inNetns(process.execPath, '-e', client);
    assert.equal(stdout.trim(), `${64 * 64 * 1024} true`);

    // Hot-plug: a second vif becomes eth1 in the guest, and goes again.
    const attach = await host.xl('network-attach', 'tapped', 'bridge=xenbr0');
    assert.equal(attach.code, 0, attach.stderr);
    await waitUntil(
      async () => /eth1/.test(await guest.command('ls /sys/class/net')),
      () => guest.output.slice(-2000),
    );
    assert.equal((await host.xl('network-list', 'tapped')).stdout.trim().split('\n').length, 3);
    const detach = await host.xl('network-detach', 'tapped', '1');
    assert.equal(detach.code, 0, detach.stderr);
    await waitUntil(
      async () => !/eth1/.test(await guest.command('ls /sys/class/net')),
      () => guest.output.slice(-2000),
    );
    assert.equal((await host.xl('destroy', 'tapped')).code, 0);
    await guest.exited;
  } finally {
    await host.close();
    await run('ip', ['netns', 'del', netns]).catch(() => {});
  }
});
