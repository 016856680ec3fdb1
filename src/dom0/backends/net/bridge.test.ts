// The bridge with recording ports and a hand-driven clock: learning, flooding, ageing,
// VLAN membership and tagging, fitting frames to each port's offloads, and detaching.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Bridge, type BridgePort, parseBridgeSpec } from './bridge.js';
import { addVlanTag, completeChecksum, type Frame, vlanTag } from './frame.js';

class Port implements BridgePort {
  readonly sent: Frame[] = [];
  constructor(
    readonly name: string,
    readonly offloads = { gso: true, checksumBlank: true },
  ) {}
  transmit(frame: Frame): void {
    this.sent.push(frame);
  }
  take(): Frame[] {
    return this.sent.splice(0);
  }
}

const mac = (n: number) => [0x02, 0, 0, 0, 0, n];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** An untagged frame from `source` to `destination` with an opaque payload. */
function eth(destination: number[], source: number[], extra: Partial<Frame> = {}): Frame {
  const data = Uint8Array.from([...destination, ...source, 0x88, 0xb5, 1, 2, 3, 4]);
  return { data, checksumBlank: false, dataValidated: false, ...extra };
}

function setup(count: number, options: ConstructorParameters<typeof Bridge>[1] = {}) {
  const bridge = new Bridge('xenbr0', options);
  const ports = Array.from({ length: count }, (_, i) => new Port(`vif${i + 1}.0`));
  for (const port of ports) bridge.attach(port);
  return { bridge, ports };
}

const counts = (ports: Port[]) => ports.map((p) => p.take().length);

describe('learning and flooding', () => {
  test('unknown unicast floods, then the learnt port alone gets it', () => {
    const { bridge, ports } = setup(3);
    const [a, b] = ports as [Port, Port, Port];
    const toB = eth(mac(2), mac(1));
    bridge.receive(a, toB);
    assert.deepEqual(counts(ports), [0, 1, 1]);
    bridge.receive(b, eth(mac(1), mac(2)));
    assert.deepEqual(counts(ports), [1, 0, 0], 'A was learnt from its first frame');
    bridge.receive(a, toB);
    assert.deepEqual(counts(ports), [0, 1, 0], 'B was learnt from its reply');
    bridge.receive(a, toB);
    assert.equal(b.sent[0], toB, 'handed on without a copy');
  });

  test('broadcast and multicast go to every other port', () => {
    const { bridge, ports } = setup(4);
    bridge.receive(ports[0]!, eth(mac(2), mac(1)));
    assert.deepEqual(counts(ports), [0, 1, 1, 1]);
    bridge.receive(ports[1]!, eth(BROADCAST, mac(2)));
    assert.deepEqual(counts(ports), [1, 0, 1, 1], 'even to a MAC already learnt');
    bridge.receive(ports[2]!, eth([0x33, 0x33, 0, 0, 0, 1], mac(3)));
    assert.deepEqual(counts(ports), [1, 1, 0, 1]);
  });

  test('never learns group or zero sources, and drops their frames', () => {
    const { bridge, ports } = setup(3);
    bridge.receive(ports[0]!, eth(mac(9), BROADCAST));
    bridge.receive(ports[0]!, eth(mac(9), [0x01, 0, 0x5e, 0, 0, 1]));
    bridge.receive(ports[0]!, eth(mac(9), [0, 0, 0, 0, 0, 0]));
    assert.deepEqual(counts(ports), [0, 0, 0]);
    bridge.receive(ports[1]!, eth(BROADCAST, mac(2)));
    bridge.receive(ports[2]!, eth(BROADCAST, mac(3)));
    counts(ports);
    bridge.receive(ports[1]!, eth(BROADCAST.slice(), mac(2)));
    assert.deepEqual(counts(ports), [1, 0, 1]);
  });

  test('a frame for a MAC behind its own port is dropped', () => {
    const { bridge, ports } = setup(3);
    bridge.receive(ports[0]!, eth(BROADCAST, mac(1)));
    bridge.receive(ports[0]!, eth(BROADCAST, mac(5)));
    counts(ports);
    bridge.receive(ports[0]!, eth(mac(5), mac(1)));
    assert.deepEqual(counts(ports), [0, 0, 0]);
  });

  test('a MAC that moves is followed', () => {
    const { bridge, ports } = setup(3);
    bridge.receive(ports[0]!, eth(BROADCAST, mac(1)));
    bridge.receive(ports[1]!, eth(BROADCAST, mac(1)));
    counts(ports);
    bridge.receive(ports[2]!, eth(mac(1), mac(3)));
    assert.deepEqual(counts(ports), [0, 1, 0]);
  });

  test('link-local group addresses stay on their link, STP BPDUs are forwarded', () => {
    const { bridge, ports } = setup(2);
    bridge.receive(ports[0]!, eth([0x01, 0x80, 0xc2, 0, 0, 0x01], mac(1)));
    bridge.receive(ports[0]!, eth([0x01, 0x80, 0xc2, 0, 0, 0x0e], mac(1)));
    assert.deepEqual(counts(ports), [0, 0]);
    bridge.receive(ports[0]!, eth([0x01, 0x80, 0xc2, 0, 0, 0x00], mac(1)));
    bridge.receive(ports[0]!, eth([0x01, 0x80, 0xc2, 0, 0, 0x10], mac(1)));
    assert.deepEqual(counts(ports), [0, 2]);
  });

  test('ignores frames from ports not attached and runts', () => {
    const { bridge, ports } = setup(2);
    bridge.receive(new Port('stray'), eth(BROADCAST, mac(7)));
    bridge.receive(ports[0]!, {
      data: new Uint8Array(13),
      checksumBlank: false,
      dataValidated: false,
    });
    assert.deepEqual(counts(ports), [0, 0]);
  });
});

describe('ageing', () => {
  test('a MAC not heard from for the ageing time is forgotten', () => {
    let now = 1000;
    const { bridge, ports } = setup(3, { ageingMs: 300_000, now: () => now });
    bridge.receive(ports[1]!, eth(BROADCAST, mac(2)));
    counts(ports);
    now += 299_999;
    bridge.receive(ports[0]!, eth(mac(2), mac(1)));
    assert.deepEqual(counts(ports), [0, 1, 0]);
    now += 1;
    bridge.receive(ports[0]!, eth(mac(2), mac(1)));
    assert.deepEqual(counts(ports), [0, 1, 1], 'flooded once the entry aged out');
  });

  test('traffic from a MAC keeps it, and the default ageing time is 300 s', () => {
    let now = 0;
    const { bridge, ports } = setup(3, { now: () => now });
    for (let i = 0; i < 5; i++) {
      bridge.receive(ports[1]!, eth(BROADCAST, mac(2)));
      now += 200_000;
    }
    counts(ports);
    bridge.receive(ports[0]!, eth(mac(2), mac(1)));
    assert.deepEqual(counts(ports), [0, 1, 0]);
    now += 300_000;
    bridge.receive(ports[0]!, eth(mac(2), mac(1)));
    assert.deepEqual(counts(ports), [0, 1, 1]);
  });

  test('the table has a bound: past it new MACs are flooded to, not learnt', () => {
    const { bridge, ports } = setup(3, { maxLearned: 2 });
    bridge.receive(ports[0]!, eth(BROADCAST, mac(1)));
    bridge.receive(ports[1]!, eth(BROADCAST, mac(2)));
    bridge.receive(ports[2]!, eth(BROADCAST, mac(3)));
    counts(ports);
    bridge.receive(ports[0]!, eth(mac(3), mac(1)));
    assert.deepEqual(counts(ports), [0, 1, 1]);
    bridge.receive(ports[2]!, eth(mac(2), mac(3)));
    assert.deepEqual(counts(ports), [0, 1, 0]);
  });
});

describe('VLANs', () => {
  function vlanSetup() {
    const bridge = new Bridge('xenbr0');
    const access10 = new Port('vif1.0');
    const access20 = new Port('vif2.0');
    const trunk = new Port('uplink');
    const plain = new Port('vif3.0');
    const access10b = new Port('vif4.0');
    bridge.attach(access10, { access: 10 });
    bridge.attach(access20, { access: 20 });
    bridge.attach(trunk, { trunks: [10, 20, 30] });
    bridge.attach(plain);
    bridge.attach(access10b, { access: 10 });
    const all = [access10, access20, trunk, plain, access10b];
    return { bridge, access10, access20, trunk, plain, access10b, all };
  }

  test('an access port reaches its VLAN only; the trunk gets it tagged', () => {
    const { bridge, access10, trunk, access10b, all } = vlanSetup();
    const frame = eth(BROADCAST, mac(1));
    bridge.receive(access10, frame);
    assert.deepEqual(
      all.map((p) => p.sent.length),
      [0, 0, 1, 0, 1],
    );
    assert.equal(access10b.sent[0], frame, 'untagged to untagged: the same frame');
    const tagged = trunk.sent[0]!.data;
    assert.equal(vlanTag(tagged), 10);
    assert.deepEqual(tagged, addVlanTag(frame.data, 10));
  });

  test('tagged frames from the trunk leave access ports untagged', () => {
    const { bridge, trunk, access20, all } = vlanSetup();
    const frame = eth(BROADCAST, mac(9));
    bridge.receive(trunk, { ...frame, data: addVlanTag(frame.data, 20) });
    assert.deepEqual(
      all.map((p) => p.sent.length),
      [0, 1, 0, 0, 0],
    );
    assert.deepEqual(access20.sent[0]!.data, frame.data);
  });

  test('tagged frames are dropped on access and plain ports and for VIDs not trunked', () => {
    const { bridge, access10, plain, trunk, all } = vlanSetup();
    const tagged10 = {
      ...eth(BROADCAST, mac(1)),
      data: addVlanTag(eth(BROADCAST, mac(1)).data, 10),
    };
    bridge.receive(access10, tagged10);
    bridge.receive(plain, tagged10);
    const tagged40 = { ...tagged10, data: addVlanTag(eth(BROADCAST, mac(1)).data, 40) };
    bridge.receive(trunk, tagged40);
    assert.deepEqual(
      all.map((p) => p.sent.length),
      [0, 0, 0, 0, 0],
    );
  });

  test('untagged frames on a trunk and on plain ports are VLAN 0', () => {
    const { bridge, trunk, plain, all } = vlanSetup();
    bridge.receive(trunk, eth(BROADCAST, mac(9)));
    assert.deepEqual(
      all.map((p) => p.take().length),
      [0, 0, 0, 1, 0],
    );
    bridge.receive(plain, eth(BROADCAST, mac(8)));
    assert.equal(vlanTag(trunk.sent[0]!.data), undefined);
    assert.deepEqual(
      all.map((p) => p.take().length),
      [0, 0, 1, 0, 0],
    );
  });

  test('a priority-tagged frame (VID 0) belongs to the untagged VLAN', () => {
    const { bridge, access10, access10b, trunk } = vlanSetup();
    const frame = eth(BROADCAST, mac(1));
    bridge.receive(access10, { ...frame, data: addVlanTag(frame.data, 0) });
    assert.deepEqual(access10b.sent[0]!.data, frame.data);
    assert.equal(vlanTag(trunk.sent[0]!.data), 10);
  });

  test('a trunk with an access VLAN carries that one untagged', () => {
    const bridge = new Bridge('xenbr0');
    const hybrid = new Port('vif1.0');
    const other10 = new Port('vif2.0');
    const other20 = new Port('vif3.0');
    bridge.attach(hybrid, { access: 10, trunks: [10, 20] });
    bridge.attach(other10, { access: 10 });
    bridge.attach(other20, { trunks: [20] });
    const frame = eth(BROADCAST, mac(2));
    bridge.receive(other10, frame);
    assert.equal(hybrid.sent[0], frame);
    bridge.receive(other20, { ...frame, data: addVlanTag(frame.data, 20) });
    assert.equal(vlanTag(hybrid.sent[1]!.data), 20);
    bridge.receive(hybrid, eth(BROADCAST, mac(1)));
    assert.equal(other10.sent.length, 1);
    assert.equal(other20.sent.length, 0);
    // Its access VLAN is listed as a trunk too, so that one is also accepted tagged.
    bridge.receive(hybrid, { ...frame, data: addVlanTag(eth(BROADCAST, mac(1)).data, 10) });
    assert.equal(other10.sent.length, 2);
    assert.equal(vlanTag(other10.sent[1]!.data), undefined);
  });

  test('learning is per VLAN', () => {
    const { bridge, access10, access20, trunk } = vlanSetup();
    // The same MAC appears in VLAN 10 behind access10 and in VLAN 20 behind the trunk.
    bridge.receive(access10, eth(BROADCAST, mac(5)));
    bridge.receive(trunk, {
      ...eth(BROADCAST, mac(5)),
      data: addVlanTag(eth(BROADCAST, mac(5)).data, 20),
    });
    trunk.take();
    access20.take();
    bridge.receive(access20, eth(mac(5), mac(6)));
    assert.equal(trunk.take().length, 1);
    assert.equal(access10.take().length, 0);
  });
});

describe('offloads', () => {
  /** A TCP/IPv4 frame with a blank checksum; GSO in segments of 1000 when `payload` is bigger. */
  function tcpFrame(destination: number[], source: number[], payload = 3000): Frame {
    const total = 40 + payload;
    const ip = [
      0x45,
      0,
      total >> 8,
      total & 0xff,
      0,
      1,
      0x40,
      0,
      64,
      6,
      0,
      0,
      10,
      0,
      0,
      1,
      10,
      0,
      0,
      2,
    ];
    const tcp = [0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0];
    const data = Uint8Array.from([
      ...destination,
      ...source,
      0x08,
      0x00,
      ...ip,
      ...tcp,
      ...new Array(payload).fill(0x5a),
    ]);
    const frame: Frame = { data, checksumBlank: true, dataValidated: false };
    return payload > 1000 ? { ...frame, gso: { type: 'tcpv4', size: 1000 } } : frame;
  }

  test('each port gets what its device takes, and ports alike share one copy', () => {
    const bridge = new Bridge('xenbr0');
    const ingress = new Port('vif1.0');
    const full = new Port('vif2.0');
    const csumOnly = new Port('vif3.0', { gso: false, checksumBlank: true });
    const none1 = new Port('vif4.0', { gso: false, checksumBlank: false });
    const none2 = new Port('vif5.0', { gso: false, checksumBlank: false });
    const gsoNoCsum = new Port('vif6.0', { gso: true, checksumBlank: false });
    for (const p of [ingress, full, csumOnly, none1, none2, gsoNoCsum]) bridge.attach(p);
    const frame = tcpFrame(BROADCAST, mac(1));
    bridge.receive(ingress, frame);
    assert.deepEqual(full.sent, [frame]);
    assert.equal(full.sent[0], frame);
    for (const p of [csumOnly, none1, none2, gsoNoCsum]) {
      assert.equal(p.sent.length, 3, p.name);
      for (const s of p.sent) {
        assert.equal(s.gso, undefined);
        assert.equal(s.checksumBlank, false);
        assert.equal(s.data.length, 14 + 40 + 1000);
      }
    }
    for (let i = 0; i < 3; i++) assert.equal(none1.sent[i], none2.sent[i], 'segmented once');
  });

  test('a blank checksum is completed for a device that needs it, on unicast too', () => {
    const bridge = new Bridge('xenbr0');
    const a = new Port('vif1.0');
    const b = new Port('tap0', { gso: true, checksumBlank: false });
    bridge.attach(a);
    bridge.attach(b);
    bridge.receive(b, eth(BROADCAST, mac(2)));
    const frame = tcpFrame(mac(2), mac(1), 1000);
    bridge.receive(a, frame);
    assert.equal(b.sent.length, 1);
    const out = b.sent[0]!;
    assert.notEqual(out, frame);
    assert.equal(out.checksumBlank, false);
    assert.equal(out.dataValidated, true);
    assert.deepEqual(out.data, completeChecksum(frame).data);
  });

  test('segments get their VLAN tag on a trunk', () => {
    const bridge = new Bridge('xenbr0');
    const a = new Port('vif1.0');
    const trunk = new Port('uplink', { gso: false, checksumBlank: false });
    bridge.attach(a, { access: 7 });
    bridge.attach(trunk, { trunks: [7] });
    bridge.receive(a, tcpFrame(BROADCAST, mac(1)));
    assert.equal(trunk.sent.length, 3);
    for (const s of trunk.sent) {
      assert.equal(vlanTag(s.data), 7);
      assert.equal(s.data.length, 18 + 40 + 1000);
    }
  });
});

describe('ports', () => {
  test('detach forgets the MACs learnt on the port', () => {
    const { bridge, ports } = setup(3);
    bridge.receive(ports[1]!, eth(BROADCAST, mac(2)));
    counts(ports);
    bridge.detach(ports[1]!);
    assert.deepEqual(
      bridge.ports.map((p) => p.name),
      ['vif1.0', 'vif3.0'],
    );
    bridge.attach(ports[1]!);
    bridge.receive(ports[0]!, eth(mac(2), mac(1)));
    assert.deepEqual(counts(ports), [0, 1, 1], 'flooded: the MAC was forgotten');
    bridge.detach(ports[2]!);
    bridge.receive(ports[2]!, eth(BROADCAST, mac(3)));
    assert.deepEqual(counts(ports), [0, 0, 0]);
  });

  test('re-attaching changes the VLANs', () => {
    const lines: string[] = [];
    const bridge = new Bridge('xenbr0', { log: (l) => lines.push(l) });
    const a = new Port('vif1.0');
    const b = new Port('vif2.0');
    bridge.attach(a);
    bridge.attach(b);
    bridge.attach(b, { access: 5 });
    assert.equal(bridge.ports.length, 2);
    bridge.receive(a, eth(BROADCAST, mac(1)));
    assert.equal(b.sent.length, 0);
    assert.deepEqual(lines, [
      'xenbr0: port vif1.0 attached',
      'xenbr0: port vif2.0 attached',
      'xenbr0: port vif2.0 changed (access VLAN 5)',
    ]);
  });

  test('bad VIDs are refused', () => {
    const bridge = new Bridge('xenbr0');
    assert.throws(
      () => bridge.attach(new Port('x'), { access: 0 }),
      /access VLAN 0 is not a VLAN ID/,
    );
    assert.throws(() => bridge.attach(new Port('x'), { trunks: [4095] }), /trunk VLAN 4095/);
    assert.equal(bridge.ports.length, 0);
  });
});

describe('parseBridgeSpec', () => {
  test("Xen's vif-openvswitch forms", () => {
    assert.deepEqual(parseBridgeSpec('xenbr0'), { bridge: 'xenbr0', vlans: {} });
    assert.deepEqual(parseBridgeSpec('xenbr0.10'), { bridge: 'xenbr0', vlans: { access: 10 } });
    assert.deepEqual(parseBridgeSpec('xenbr0:10:20'), {
      bridge: 'xenbr0',
      vlans: { trunks: [10, 20] },
    });
    assert.deepEqual(parseBridgeSpec('br-lan.4094:1'), {
      bridge: 'br-lan',
      vlans: { access: 4094, trunks: [1] },
    });
  });

  test('bad VIDs and shapes throw clearly', () => {
    assert.throws(() => parseBridgeSpec('xenbr0.0'), /"0" is not a VLAN ID \(1 to 4094\)/);
    assert.throws(() => parseBridgeSpec('xenbr0.4095'), /"4095" is not a VLAN ID/);
    assert.throws(() => parseBridgeSpec('xenbr0.ten'), /"ten" is not a VLAN ID/);
    assert.throws(() => parseBridgeSpec('xenbr0:10:'), /"" is not a VLAN ID/);
    assert.throws(() => parseBridgeSpec('xenbr0:-1'), /"-1" is not a VLAN ID/);
    assert.throws(() => parseBridgeSpec('xenbr0.1.2'), /not of the form/);
    assert.throws(() => parseBridgeSpec(''), /not of the form/);
    assert.throws(() => parseBridgeSpec('.10'), /not of the form/);
  });
});
