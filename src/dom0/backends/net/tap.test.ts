/**
 * The TAP uplink, for real: each test's device lives in a network namespace of its own (the
 * host's network is untouched), and this file plays the guest 10.77.0.2 behind it, answering
 * the host's ARP and ping with frames it builds itself. Needs root, socat, iproute2 and ping.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { requireTool } from '../../../testing/host-tools.js';
import {
  interfaceNameProblem,
  openTap,
  type TapDevice,
  TapUnavailable,
  tapPrivilegeProblem,
} from './tap.js';

const NETNS = `xenotype-tap-${process.pid}`;
/** Interface names unique to this run ("xt" + pid + tag stays within 15 characters). */
const tapName = (tag: string) => `xt${process.pid}${tag}`;

const HOST_IP = [10, 77, 0, 1];
const GUEST_IP = [10, 77, 0, 2];
const GUEST_MAC = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x02];

const ETH_P_IP = 0x0800;
const ETH_P_ARP = 0x0806;
const ARPOP_REQUEST = 1;
const ARPOP_REPLY = 2;
const IPPROTO_ICMP = 1;
const ICMP_ECHOREPLY = 0;
const ICMP_ECHO = 8;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ipOk(...args: string[]): Promise<void> {
  const result = await run('ip', ...args);
  assert.equal(result.code, 0, `ip ${args.join(' ')}: ${result.stderr}`);
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const sameBytes = (a: Uint8Array, b: readonly number[]) => b.every((byte, i) => a[i] === byte);

/** The Internet checksum (RFC 1071) of bytes[start, end). */
function inetChecksum(bytes: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function arpReply(request: Uint8Array): Uint8Array {
  const frame = new Uint8Array(42);
  const view = new DataView(frame.buffer);
  frame.set(request.subarray(6, 12), 0);
  frame.set(GUEST_MAC, 6);
  view.setUint16(12, ETH_P_ARP);
  view.setUint16(14, 1); // ARPHRD_ETHER
  view.setUint16(16, ETH_P_IP);
  frame[18] = 6;
  frame[19] = 4;
  view.setUint16(20, ARPOP_REPLY);
  frame.set(GUEST_MAC, 22);
  frame.set(GUEST_IP, 28);
  frame.set(request.subarray(22, 32), 32); // the asker's hardware and protocol address
  return frame;
}

/** An ICMP echo frame from the guest to the host, or the reply to one the host sent. */
function icmpEcho(type: number, to: Uint8Array, id: number, seq: number, data: Uint8Array) {
  const frame = new Uint8Array(14 + 20 + 8 + data.length);
  const view = new DataView(frame.buffer);
  frame.set(to, 0);
  frame.set(GUEST_MAC, 6);
  view.setUint16(12, ETH_P_IP);
  frame[14] = 0x45;
  view.setUint16(16, 20 + 8 + data.length);
  frame[22] = 64; // TTL
  frame[23] = IPPROTO_ICMP;
  frame.set(GUEST_IP, 26);
  frame.set(HOST_IP, 30);
  view.setUint16(24, inetChecksum(frame, 14, 34));
  frame[34] = type;
  view.setUint16(38, id);
  view.setUint16(40, seq);
  frame.set(data, 42);
  view.setUint16(36, inetChecksum(frame, 34, frame.length));
  return frame;
}

interface Echo {
  id: number;
  seq: number;
  frame: Uint8Array;
}

/** The guest behind the TAP: answers ARP for GUEST_IP and pings to it, and keeps what it saw. */
class Guest {
  arpRequests = 0;
  echoRequests = 0;
  readonly frames: Uint8Array[] = [];
  /** Who waits for the reply to each echo request the guest sent, by sequence number. */
  readonly awaitingReply = new Map<number, (echo: Echo) => void>();

  constructor(private readonly tap: TapDevice) {
    tap.onFrame = (frame) => this.receive(frame);
  }

  private receive(frame: Uint8Array): void {
    this.frames.push(frame);
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const type = view.getUint16(12);
    if (type === ETH_P_ARP && view.getUint16(20) === ARPOP_REQUEST) {
      if (!sameBytes(frame.subarray(38, 42), GUEST_IP)) return;
      this.arpRequests++;
      this.tap.send(arpReply(frame));
    } else if (type === ETH_P_IP && frame[23] === IPPROTO_ICMP) {
      if (!sameBytes(frame.subarray(30, 34), GUEST_IP)) return;
      const icmp = 14 + (frame[14]! & 0xf) * 4;
      const id = view.getUint16(icmp + 4);
      const seq = view.getUint16(icmp + 6);
      const data = frame.subarray(icmp + 8, 14 + view.getUint16(16));
      if (frame[icmp] === ICMP_ECHO) {
        this.echoRequests++;
        this.tap.send(icmpEcho(ICMP_ECHOREPLY, frame.subarray(6, 12), id, seq, data));
      } else if (frame[icmp] === ICMP_ECHOREPLY) {
        this.awaitingReply.get(seq)?.({ id, seq, frame });
        this.awaitingReply.delete(seq);
      }
    }
  }
}

let tap: TapDevice;
let guest: Guest;
let hostMac: Uint8Array;
const log: string[] = [];
const opened: TapDevice[] = [];

async function open(name: string, netns?: string): Promise<TapDevice> {
  const device = await openTap(name, {
    log: (line) => log.push(line),
    ...(netns === undefined ? {} : { netns }),
  });
  opened.push(device);
  return device;
}

before(async () => {
  requireTool('socat', 'socat');
  requireTool('ip', 'iproute2');
  requireTool('ping', 'iputils-ping');
  await ipOk('netns', 'add', NETNS);
  tap = await open(tapName('p'), NETNS);
  guest = new Guest(tap);
  await ipOk('-n', NETNS, 'addr', 'add', `${HOST_IP.join('.')}/24`, 'dev', tap.name);
  const link = await run('ip', '-n', NETNS, '-o', 'link', 'show', tap.name);
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(link.stdout)?.[1];
  assert.ok(mac, link.stdout);
  hostMac = Uint8Array.from(mac.split(':'), (byte) => Number.parseInt(byte, 16));
});

after(async () => {
  await Promise.all(opened.map((device) => device.close()));
  await ipOk('netns', 'del', NETNS);
});

test('the host pings the guest behind its TAP device: ARP and ICMP cross, one frame per datagram', async () => {
  const result = await run(
    'ip',
    ...['netns', 'exec', NETNS, 'ping', '-c', '3', '-i', '0.2', '-W', '2'],
    GUEST_IP.join('.'),
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /3 packets transmitted, 3 received/);
  assert.ok(guest.arpRequests >= 1, 'the host asked for the guest by ARP');
  assert.equal(guest.echoRequests, 3);
  assert.ok(log.some((line) => line.includes(`uplink to the host through the TAP device`)));
  // Each datagram is exactly one frame, without FCS or padding: its length is the header
  // plus what the ARP or IP header says follows.
  for (const frame of guest.frames) {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const type = view.getUint16(12);
    if (type === ETH_P_ARP) assert.equal(frame.length, 14 + 28);
    if (type === ETH_P_IP) assert.equal(frame.length, 14 + view.getUint16(16));
    if (type === ETH_P_IP || type === ETH_P_ARP) assert.deepEqual(frame.subarray(6, 12), hostMac);
  }
});

/** Sends an echo request from the guest to the host; resolves with the reply. */
function echo(seq: number, data: Uint8Array): Promise<Echo> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      guest.awaitingReply.delete(seq);
      reject(new Error(`no reply to echo request ${seq}`));
    }, 3000);
    guest.awaitingReply.set(seq, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
    tap.send(icmpEcho(ICMP_ECHO, hostMac, 0x7a9, seq, data));
  });
}

test('frames the guest sends reach the host whole, from 42 to 1514 bytes', async () => {
  await ipOk(
    ...['-n', NETNS, 'neigh', 'replace', GUEST_IP.join('.'), 'lladdr'],
    ...[GUEST_MAC.map((byte) => byte.toString(16).padStart(2, '0')).join(':')],
    ...['dev', tap.name],
  );
  let seq = 1;
  for (const size of [0, 1, 17, 100, 1000, 1471, 1472]) {
    const data = Uint8Array.from({ length: size }, (_, i) => (i * 7 + size) & 0xff);
    const reply = await echo(seq++, data);
    assert.equal(reply.frame.length, 14 + 20 + 8 + size);
    assert.deepEqual(reply.frame.subarray(42), data);
  }
});

test('round trips of 1514-byte frames: throughput and latency', async (t) => {
  const data = new Uint8Array(1472).fill(0x5a);
  // Latency: one frame in flight.
  const rtts: number[] = [];
  for (let seq = 1; seq <= 200; seq++) {
    const start = performance.now();
    await echo(seq, data);
    rtts.push(performance.now() - start);
  }
  rtts.sort((a, b) => a - b);
  const median = rtts[rtts.length >> 1]!;
  // Throughput: a window of frames in flight for one second.
  const window = 64;
  let next = 1000;
  let replies = 0;
  const start = performance.now();
  const pump = async () => {
    while (performance.now() - start < 1000) {
      await echo(next++ & 0xffff, data);
      replies++;
    }
  };
  await Promise.all(Array.from({ length: window }, pump));
  const seconds = (performance.now() - start) / 1000;
  const rate = replies / seconds;
  t.diagnostic(`median round trip ${(median * 1000).toFixed(0)} µs`);
  t.diagnostic(
    `${rate.toFixed(0)} round trips/s of 1514-byte frames (${((rate * 1514 * 8) / 1e6).toFixed(0)} Mbit/s each way)`,
  );
  assert.ok(replies > window, `only ${replies} replies came back`);
  assert.ok(median < 50, `median round trip ${median} ms`);
});

test('socat survives the host setting the device down, and frames flow again once it is up', async () => {
  await ipOk('-n', NETNS, 'link', 'set', 'dev', tap.name, 'down');
  for (let i = 0; i < 3; i++)
    tap.send(icmpEcho(ICMP_ECHO, hostMac, 0x7a9, 60_000 + i, new Uint8Array(8)));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(tap.alive, true);
  await ipOk('-n', NETNS, 'link', 'set', 'dev', tap.name, 'up');
  await ipOk(
    ...['-n', NETNS, 'neigh', 'replace', GUEST_IP.join('.'), 'lladdr'],
    ...[GUEST_MAC.map((byte) => byte.toString(16).padStart(2, '0')).join(':')],
    ...['dev', tap.name],
  );
  const reply = await echo(61_000, new Uint8Array(32).fill(1));
  assert.equal(reply.frame.length, 14 + 20 + 8 + 32);
  assert.ok(log.some((line) => /socat: write\(.*Input\/output error/.test(line)));
});

test('a frame shorter than an Ethernet header is dropped rather than written', async () => {
  tap.send(new Uint8Array(5));
  tap.send(new Uint8Array(0));
  const reply = await echo(62_000, new Uint8Array(4));
  assert.equal(reply.frame.length, 14 + 20 + 8 + 4);
  assert.equal(tap.alive, true);
});

test('interface names are checked before anything is started', async () => {
  assert.equal(interfaceNameProblem('xenbr0'), undefined);
  assert.equal(interfaceNameProblem('a'.repeat(15)), undefined);
  const bad: [string, RegExp][] = [
    ['', /it is empty/],
    ['a'.repeat(16), /longer than 15 characters/],
    ['xen/br0', /contains '\/'/],
    ['xen br0', /whitespace/],
    ['xenbr0:1', /contains ':'/],
    ['xen,br0', /contains ','/],
    ['tap%d', /contains '%'/],
    ['..', /"\." or "\.\."/],
  ];
  for (const [name, why] of bad) {
    await assert.rejects(openTap(name, { log: (line) => log.push(line) }), (error) => {
      assert.ok(error instanceof TapUnavailable);
      assert.equal(error.name, 'TapUnavailable');
      assert.match(error.message, /no uplink to the host: .* is not a valid interface name/);
      assert.match(error.message, why);
      return true;
    });
  }
});

test('a name another device holds is refused with socat’s reason; closing frees the name', async () => {
  const name = tapName('b');
  const first = await open(name);
  assert.equal(await exists(`/sys/class/net/${name}`), true);
  await assert.rejects(open(name), (error) => {
    assert.ok(error instanceof TapUnavailable);
    assert.match(
      error.message,
      new RegExp(
        `^${name}: no uplink to the host: socat could not create the TAP device: .*Device or resource busy`,
      ),
    );
    assert.match(error.message, /another process already has an interface named/);
    return true;
  });
  await assert.rejects(open('lo'), /lo: no uplink to the host: .*exists and is not a TAP device/);
  await first.close();
  assert.equal(first.alive, false);
  assert.equal(await exists(`/sys/class/net/${name}`), false);
  const again = await open(name);
  await again.close();
});

test('a device moved into a namespace goes away with close', async () => {
  const name = tapName('c');
  const device = await open(name, NETNS);
  assert.equal((await run('ip', '-n', NETNS, 'link', 'show', name)).code, 0);
  assert.equal(await exists(`/sys/class/net/${name}`), false, 'not left in our namespace');
  await device.close();
  assert.notEqual((await run('ip', '-n', NETNS, 'link', 'show', name)).code, 0);
});

test('socat dying later is logged and the device stops sending', async () => {
  const name = tapName('d');
  const device = await open(name, NETNS);
  const logged = log.length;
  await ipOk('-n', NETNS, 'link', 'del', 'dev', name);
  const deadline = Date.now() + 5000;
  while (device.alive && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(device.alive, false);
  assert.ok(
    log
      .slice(logged)
      .some((line) => line.startsWith(`${name}: the uplink to the host is gone: socat`)),
    log.slice(logged).join('\n'),
  );
  device.send(new Uint8Array(60));
  await device.close();
});

test('missing socat, missing namespace and missing privilege have their own messages', async () => {
  const name = tapName('e');
  await assert.rejects(
    openTap(name, { log: () => {}, socat: '/nonexistent/socat' }),
    new RegExp(
      `^TapUnavailable: ${name}: no uplink to the host: socat is not installed \\(install the \`socat\` package\\)$`,
    ),
  );
  await assert.rejects(
    openTap(name, { log: () => {}, netns: `${NETNS}-missing` }),
    /no uplink to the host: the network namespace ".*-missing" does not exist/,
  );
  const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;
  const needs = 'a TAP device needs root or CAP_NET_ADMIN';
  assert.equal(tapPrivilegeProblem(1000, status('0000000000000000')), needs);
  assert.equal(tapPrivilegeProblem(1000, status('0000000000001000')), undefined);
  assert.equal(tapPrivilegeProblem(0, status('000001ffffffffff')), undefined);
  assert.equal(tapPrivilegeProblem(0, status('000001ffffffefff')), needs, 'root without it');
  assert.equal(tapPrivilegeProblem(0, undefined), undefined);
  assert.equal(tapPrivilegeProblem(1000, undefined), needs);
});
