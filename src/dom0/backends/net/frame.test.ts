// Frames against packets Linux made: the fixtures below were read from a TAP device without
// checksum offload (so the kernel filled in every checksum) in a scratch network namespace.
// Checksums we compute must reproduce them byte for byte; synthetic packets (GSO super-frames,
// routing headers) are checked with a separate RFC 1071 verifier written here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addVlanTag,
  completeChecksum,
  destinationMac,
  type Frame,
  formatMac,
  internetChecksum,
  isMulticast,
  isMulticastMac,
  parseMac,
  segment,
  sourceMac,
  stripVlanTag,
  vlanTag,
} from './frame.js';

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

/** Frames from Linux 6.18 (02:00:00:00:00:01, 10.99.0.1 / fd00::1, to ...:02). */
const KERNEL = {
  /** UDP/IPv4, 34 payload bytes. */
  udp4: hex(
    '02000000000202000000000108004500003e8fb14000401196350a6300010a6300029c400007002a9fcb58656e6f74797065206672616d6520746573743a206f64642d6c656e677468212178',
  ),
  /** UDP/IPv4 with a record-route option (IHL 8). */
  udp4Options: hex(
    '0200000000020200000000010800480000408fb240004011201c0a6300010a630002070b080a63000100000000019c4000070020690a77697468207265636f72642d726f757465206f7074696f6e',
  ),
  /** TCP/IPv4 SYN with MSS, SACK-permitted, timestamps and window-scale options. */
  tcp4Syn: hex(
    '02000000000202000000000108004500003c64cd40004006c1260a6300010a630002d55a005084bb8f7100000000a002faf0d2c80000020405b40402080ac55db645000000000103030a',
  ),
  /** UDP/IPv6, 35 payload bytes (odd). */
  udp6: hex(
    '02000000000202000000000186dd600e4fc8002b1140fd000000000000000000000000000001fd0000000000000000000000000000029c410007002b438b4950763620554450207061796c6f61642c203335206279746573206c6f6e672e2e2e2e',
  ),
  /** UDP/IPv6 behind a hop-by-hop and a destination-options header, 25 payload bytes. */
  udp6Extensions: hex(
    '02000000000202000000000186dd600e4fc800310040fd000000000000000000000000000001fd0000000000000000000000000000023c0001040000000011000104000000009c4100070021e2e17468726f75676820657874656e73696f6e2068656164657273',
  ),
  /** TCP/IPv6 SYN. */
  tcp6Syn: hex(
    '02000000000202000000000186dd6002d9c600280640fd000000000000000000000000000001fd00000000000000000000000000000284c200505fa60a4a00000000a002fd2073770000020405a00402080a58f7957a000000000103030a',
  ),
};

/** Where each fixture's checksum field is. */
const CHECKSUM_AT = {
  udp4: 14 + 20 + 6,
  udp4Options: 14 + 32 + 6,
  tcp4Syn: 14 + 20 + 16,
  udp6: 14 + 40 + 6,
  udp6Extensions: 14 + 40 + 16 + 6,
  tcp6Syn: 14 + 40 + 16,
} as const;

// ---- An independent checker: RFC 1071 over an explicitly built pseudo-header. ----

function onesSum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i]! * 256 + (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** True when the TCP/UDP datagram data[l4, end) with its checksum verifies (sums to 0xffff). */
function transportVerifies(
  data: Uint8Array,
  l4: number,
  end: number,
  protocol: number,
  source: Uint8Array,
  destination: Uint8Array,
): boolean {
  const length = end - l4;
  const pseudo =
    source.length === 4
      ? concat(source, destination, Uint8Array.of(0, protocol, length >> 8, length & 0xff))
      : concat(
          source,
          destination,
          Uint8Array.of(0, 0, length >> 8, length & 0xff, 0, 0, 0, protocol),
        );
  return onesSum(concat(pseudo, data.subarray(l4, end))) === 0xffff;
}

/** Puts a CHECKSUM_PARTIAL-style value (anything but the right one) into the checksum field. */
function blanked(data: Uint8Array, at: number, value = 0x1234): Uint8Array {
  const copy = data.slice();
  copy[at] = value >> 8;
  copy[at + 1] = value & 0xff;
  return copy;
}

function frame(data: Uint8Array, extra: Partial<Frame> = {}): Frame {
  return { data, checksumBlank: true, dataValidated: false, ...extra };
}

describe('checksum verifier', () => {
  test('agrees with the kernel on every fixture', () => {
    const v4 = (d: Uint8Array) => [d.subarray(26, 30), d.subarray(30, 34)] as const;
    const v6 = (d: Uint8Array) => [d.subarray(22, 38), d.subarray(38, 54)] as const;
    const k = KERNEL;
    assert.ok(transportVerifies(k.udp4, 34, k.udp4.length, 17, ...v4(k.udp4)));
    assert.ok(transportVerifies(k.udp4Options, 46, k.udp4Options.length, 17, ...v4(k.udp4Options)));
    assert.ok(transportVerifies(k.tcp4Syn, 34, k.tcp4Syn.length, 6, ...v4(k.tcp4Syn)));
    assert.ok(transportVerifies(k.udp6, 54, k.udp6.length, 17, ...v6(k.udp6)));
    assert.ok(
      transportVerifies(k.udp6Extensions, 70, k.udp6Extensions.length, 17, ...v6(k.udp6Extensions)),
    );
    assert.ok(transportVerifies(k.tcp6Syn, 54, k.tcp6Syn.length, 6, ...v6(k.tcp6Syn)));
    assert.ok(!transportVerifies(blanked(k.udp4, 40), 34, k.udp4.length, 17, ...v4(k.udp4)));
  });
});

describe('completeChecksum', () => {
  for (const name of Object.keys(KERNEL) as (keyof typeof KERNEL)[]) {
    test(`reproduces the kernel's ${name} checksum`, () => {
      const good = KERNEL[name];
      for (const value of [0, 0x1234, 0xffff]) {
        const input = blanked(good, CHECKSUM_AT[name], value);
        const before = input.slice();
        const done = completeChecksum(frame(input));
        assert.deepEqual(done.data, good);
        assert.equal(done.checksumBlank, false);
        assert.equal(done.dataValidated, true);
        assert.deepEqual(input, before, 'the input frame is left alone');
      }
    });
  }

  test('sees through an 802.1Q tag and keeps Ethernet padding', () => {
    const good = KERNEL.tcp6Syn;
    const input = addVlanTag(blanked(good, CHECKSUM_AT.tcp6Syn), 42);
    assert.deepEqual(completeChecksum(frame(input)).data, addVlanTag(good, 42));
    const padded = concat(blanked(KERNEL.udp4, CHECKSUM_AT.udp4), new Uint8Array(7).fill(0xee));
    assert.deepEqual(
      completeChecksum(frame(padded)).data,
      concat(KERNEL.udp4, new Uint8Array(7).fill(0xee)),
    );
  });

  test('sends a UDP checksum that computes to zero as 0xffff', () => {
    // Adding the right checksum to a payload word makes the sum 0xffff, so the computed checksum 0.
    const data = KERNEL.udp4.slice();
    const checksum = (data[40]! << 8) | data[41]!;
    let word = ((data[42]! << 8) | data[43]!) + checksum;
    word = (word & 0xffff) + (word >>> 16);
    data[42] = word >> 8;
    data[43] = word & 0xff;
    const done = completeChecksum(frame(blanked(data, 40))).data;
    assert.equal((done[40]! << 8) | done[41]!, 0xffff);
    assert.ok(
      transportVerifies(done, 34, done.length, 17, data.subarray(26, 30), data.subarray(30, 34)),
    );
  });

  test('uses the final destination of an IPv6 routing header', () => {
    // TCP/IPv6 with a type 2 routing header (Segments Left 1) carrying a home address.
    const home = hex('20010db8000000000000000000000099');
    const tcp = KERNEL.tcp6Syn.subarray(54);
    const ip = hex(`6000000000${(24 + tcp.length).toString(16).padStart(2, '0')}2b40`);
    const addresses = KERNEL.tcp6Syn.subarray(22, 54);
    const routing = concat(Uint8Array.of(6, 2, 2, 1, 0, 0, 0, 0), home);
    const data = concat(KERNEL.tcp6Syn.subarray(0, 14), ip, addresses, routing, tcp);
    const done = completeChecksum(frame(blanked(data, 14 + 40 + 24 + 16))).data;
    assert.ok(transportVerifies(done, 78, done.length, 6, data.subarray(22, 38), home));
    assert.ok(
      !transportVerifies(done, 78, done.length, 6, data.subarray(22, 38), data.subarray(38, 54)),
    );
  });

  test('computes through an atomic IPv6 fragment header but leaves real fragments', () => {
    const udp = KERNEL.udp6.subarray(54);
    const build = (offsetAndFlags: number) =>
      concat(
        KERNEL.udp6.subarray(0, 14),
        hex(`6000000000${(8 + udp.length).toString(16).padStart(2, '0')}2c40`),
        KERNEL.udp6.subarray(22, 54),
        Uint8Array.of(17, 0, offsetAndFlags >> 8, offsetAndFlags & 0xff, 0, 0, 0, 1),
        blanked(udp, 6),
      );
    const atomic = completeChecksum(frame(build(0))).data;
    assert.ok(
      transportVerifies(
        atomic,
        62,
        atomic.length,
        17,
        atomic.subarray(22, 38),
        atomic.subarray(38, 54),
      ),
    );
    for (const fragment of [build(1), build(0x0008)]) {
      const out = completeChecksum(frame(fragment));
      assert.equal(out.data, fragment);
      assert.equal(out.checksumBlank, false);
    }
  });

  test('hands back what it cannot parse unchanged, no longer blank', () => {
    const arp = hex(
      'ffffffffffff0200000000010806000108000604000102000000000100000000000000000000000000',
    );
    const fragment = blanked(KERNEL.udp4, 40);
    fragment[20] = 0x20; // More Fragments
    const icmp = KERNEL.udp4.slice();
    icmp[23] = 1;
    const truncated = KERNEL.tcp4Syn.subarray(0, 40);
    for (const data of [arp, fragment, icmp, truncated, new Uint8Array(5)]) {
      const out = completeChecksum(frame(data));
      assert.equal(out.data, data);
      assert.equal(out.checksumBlank, false);
      assert.equal(out.dataValidated, false);
    }
    const notBlank = frame(arp, { checksumBlank: false });
    assert.equal(completeChecksum(notBlank), notBlank);
  });

  test('the IPv4 header checksum matches the textbook example and the kernel', () => {
    const header = hex('450000730000400040110000c0a80001c0a800c7');
    assert.equal(internetChecksum(header), 0xb861);
    for (const data of [KERNEL.udp4, KERNEL.udp4Options, KERNEL.tcp4Syn]) {
      const ihl = (data[14]! & 15) * 4;
      assert.equal(internetChecksum(data, 14, 14 + ihl), 0);
    }
  });
});

// ---- GSO ----

interface Built {
  frame: Frame;
  payload: Uint8Array;
  l3: number;
  l4: number;
  tcpHeader: number;
  seq: number;
}

const MAC_HEADER = hex('0200000000020200000000010800');

/** A CHECKSUM_PARTIAL TCP super-frame as netfront hands it over: pseudo-header sum in the field. */
function gsoFrame(options: {
  ipv6: boolean;
  payloadBytes: number;
  mss: number;
  seq: number;
  flags: number;
  vlan?: number;
  extension?: boolean;
}): Built {
  const { ipv6, payloadBytes, mss, seq, flags } = options;
  const payload = new Uint8Array(payloadBytes);
  for (let i = 0; i < payloadBytes; i++) payload[i] = (i * 7 + (i >> 8)) & 0xff;
  // TCP header with a timestamp option (NOP NOP TS): 32 bytes.
  const tcp = hex('9c4000500000000000000000800201f5000000000101080a0000000100000002');
  new DataView(tcp.buffer).setUint32(4, seq);
  new DataView(tcp.buffer).setUint32(8, 0x01020304);
  tcp[13] = flags;
  const extension = options.extension ? Uint8Array.of(6, 0, 1, 4, 0, 0, 0, 0) : new Uint8Array(0);
  let ip: Uint8Array;
  if (ipv6) {
    const length = extension.length + tcp.length + payloadBytes;
    ip = concat(
      hex(`60000000${length.toString(16).padStart(4, '0')}${options.extension ? '3c' : '06'}40`),
      KERNEL.tcp6Syn.subarray(22, 54),
      extension,
    );
  } else {
    const length = 20 + tcp.length + payloadBytes;
    ip = hex(`4500${length.toString(16).padStart(4, '0')}fffe4000400600000a6300010a630002`);
    ip.set(hexWord(internetChecksum(ip)), 10);
  }
  let mac: Uint8Array = ipv6 ? hex('02000000000202000000000186dd') : MAC_HEADER;
  if (options.vlan !== undefined) mac = addVlanTag(mac, options.vlan);
  const l3 = mac.length;
  const l4 = l3 + ip.length;
  const data = concat(mac, ip, tcp, payload);
  // The pseudo-header sum, not complemented, as Linux leaves it for CHECKSUM_PARTIAL.
  const addresses = ipv6 ? data.subarray(l3 + 8, l3 + 40) : data.subarray(l3 + 12, l3 + 20);
  const length = tcp.length + payloadBytes;
  const pseudo = onesSum(concat(addresses, Uint8Array.of(0, 6, length >> 8, length & 0xff)));
  data.set(hexWord(pseudo), l4 + 16);
  return {
    frame: {
      data,
      checksumBlank: true,
      dataValidated: false,
      gso: { type: ipv6 ? 'tcpv6' : 'tcpv4', size: mss },
    },
    payload,
    l3,
    l4,
    tcpHeader: tcp.length,
    seq,
  };
}

function hexWord(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff);
}

function checkSegments(built: Built, segments: Frame[], ipv6: boolean): void {
  const { frame: input, payload, l3, l4, tcpHeader, seq } = built;
  const mss = input.gso!.size;
  assert.equal(segments.length, Math.ceil(payload.length / mss));
  const flags = input.data[l4 + 13]!;
  const rebuilt: Uint8Array[] = [];
  segments.forEach((s, i) => {
    const d = s.data;
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const last = i === segments.length - 1;
    const chunk = last ? payload.length - i * mss : mss;
    assert.equal(d.length, l4 + tcpHeader + chunk, `segment ${i} length`);
    assert.equal(s.gso, undefined);
    assert.equal(s.checksumBlank, false);
    assert.deepEqual(d.subarray(0, l3), input.data.subarray(0, l3), 'MAC header');
    if (ipv6) {
      assert.equal(view.getUint16(l3 + 4), l4 - l3 - 40 + tcpHeader + chunk, 'payload length');
    } else {
      assert.equal(view.getUint16(l3 + 2), l4 - l3 + tcpHeader + chunk, 'total length');
      assert.equal(view.getUint16(l3 + 4), (0xfffe + i) & 0xffff, 'IPv4 id');
      assert.equal(onesSum(d.subarray(l3, l4)), 0xffff, 'IPv4 header checksum');
    }
    assert.equal(view.getUint32(l4 + 4), (seq + i * mss) >>> 0, 'sequence number');
    assert.equal(view.getUint32(l4 + 8), 0x01020304, 'ack number');
    let expected = flags;
    if (!last) expected &= ~0x09;
    if (i !== 0) expected &= ~0x80;
    assert.equal(d[l4 + 13], expected, `flags of segment ${i}`);
    const addresses = ipv6
      ? ([d.subarray(l3 + 8, l3 + 24), d.subarray(l3 + 24, l3 + 40)] as const)
      : ([d.subarray(l3 + 12, l3 + 16), d.subarray(l3 + 16, l3 + 20)] as const);
    assert.ok(transportVerifies(d, l4, d.length, 6, ...addresses), `TCP checksum of segment ${i}`);
    rebuilt.push(d.subarray(l4 + tcpHeader));
  });
  assert.deepEqual(concat(...rebuilt), payload);
}

describe('segment', () => {
  test('cuts a 64 KiB TCPv4 super-frame, wrapping the sequence number and IPv4 id', () => {
    const built = gsoFrame({
      ipv6: false,
      payloadBytes: 65535 - 20 - 32,
      mss: 1448,
      seq: 0xffff_f000,
      flags: 0x80 | 0x10 | 0x08 | 0x01, // CWR ACK PSH FIN
    });
    const segments = segment(built.frame);
    assert.equal(segments.length, 46);
    checkSegments(built, segments, false);
  });

  test('cuts a 64 KiB TCPv6 super-frame with a VLAN tag and a destination-options header', () => {
    const built = gsoFrame({
      ipv6: true,
      payloadBytes: 65535 - 8 - 32,
      mss: 1428,
      seq: 12345,
      flags: 0x80 | 0x10 | 0x08,
      vlan: 7,
      extension: true,
    });
    const segments = segment(built.frame);
    checkSegments(built, segments, true);
    for (const s of segments) assert.equal(vlanTag(s.data), 7);
  });

  test('a payload that divides evenly, and one smaller than the MSS', () => {
    const even = gsoFrame({ ipv6: false, payloadBytes: 3000, mss: 1000, seq: 1, flags: 0x19 });
    checkSegments(even, segment(even.frame), false);
    const small = gsoFrame({ ipv6: true, payloadBytes: 100, mss: 1000, seq: 1, flags: 0x99 });
    const one = segment(small.frame);
    assert.equal(one.length, 1);
    checkSegments(small, one, true);
  });

  test('a kernel SYN marked GSO comes back as the kernel made it', () => {
    const data = blanked(KERNEL.tcp4Syn, CHECKSUM_AT.tcp4Syn);
    const out = segment(frame(data, { gso: { type: 'tcpv4', size: 1448 } }));
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]!.data, KERNEL.tcp4Syn);
  });

  test('drops malformed GSO frames', () => {
    const v4 = gsoFrame({ ipv6: false, payloadBytes: 4000, mss: 1000, seq: 0, flags: 0x10 }).frame;
    const cases: Frame[] = [
      { ...v4, gso: { type: 'tcpv6', size: 1000 } },
      { ...v4, gso: { type: 'tcpv4', size: 0 } },
      { ...v4, gso: { type: 'tcpv4', size: -5 } },
      { ...v4, data: v4.data.subarray(0, 1000) },
      frame(KERNEL.udp4, { gso: { type: 'tcpv4', size: 1000 } }),
      frame(KERNEL.tcp6Syn, { gso: { type: 'tcpv4', size: 1000 } }),
      frame(new Uint8Array(10), { gso: { type: 'tcpv4', size: 1000 } }),
    ];
    const badOffset = v4.data.slice();
    badOffset[34 + 12] = 0x40; // a TCP data offset of 16 bytes, below the header's 20
    cases.push({ ...v4, data: badOffset });
    for (const c of cases) assert.deepEqual(segment(c), []);
  });

  test('a frame without GSO: as it is, or with its checksum completed', () => {
    const plain = frame(KERNEL.udp6, { checksumBlank: false });
    const same = segment(plain);
    assert.equal(same.length, 1);
    assert.equal(same[0], plain);
    const blank = segment(frame(blanked(KERNEL.udp6, CHECKSUM_AT.udp6)));
    assert.deepEqual(blank[0]!.data, KERNEL.udp6);
  });
});

describe('MACs and VLAN tags', () => {
  test('MAC keys', () => {
    const data = KERNEL.udp4;
    assert.equal(destinationMac(data), 0x0200_0000_0002);
    assert.equal(sourceMac(data), 0x0200_0000_0001);
    assert.equal(formatMac(sourceMac(data)), '02:00:00:00:00:01');
    assert.equal(parseMac('00:16:3E:ab:cd:ef'), 0x0016_3eab_cdef);
    assert.equal(parseMac('00:16:3e:ab:cd'), undefined);
    assert.equal(parseMac('00:16:3e:ab:cd:eg'), undefined);
    assert.equal(formatMac(0xffff_ffff_ffff), 'ff:ff:ff:ff:ff:ff');
    assert.ok(!isMulticast(data));
    assert.ok(isMulticast(hex('333300000001')));
    assert.ok(isMulticastMac(0x3333_0000_0001));
    assert.ok(isMulticastMac(0xffff_ffff_ffff));
    assert.ok(!isMulticastMac(0x0216_3e00_0001));
  });

  test('adding and stripping a tag', () => {
    const data = KERNEL.udp4;
    assert.equal(vlanTag(data), undefined);
    const tagged = addVlanTag(data, 4094);
    assert.equal(tagged.length, data.length + 4);
    assert.deepEqual(tagged.subarray(12, 16), hex('81000ffe'));
    assert.equal(vlanTag(tagged), 4094);
    assert.deepEqual(tagged.subarray(16), data.subarray(12));
    assert.deepEqual(stripVlanTag(tagged), data);
    assert.equal(stripVlanTag(data), data);
    // Priority bits are not part of the VID.
    tagged[14] = 0xe0 | tagged[14]!;
    assert.equal(vlanTag(tagged), 4094);
  });
});
