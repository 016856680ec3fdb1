// Netback against well-behaved netfronts: fake guests that grant pages, bind event channels
// and speak the netif rings as xen-netfront does, on one bridge of Dom0's netback. Frames
// cross between guests intact, with netif's flags and GSO extra info, wait for receive
// buffers, follow MAC learning, spread over queues and keep to the vif's rate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  XEN_NETIF_GSO_TYPE_TCPV4,
} from '../../../abi/io/netif.js';
import { XenbusStateConnected } from '../../../abi/io/xenbus.js';
import { BackendRig, NetFront, settle, tcpFrame } from '../testing/index.js';

const MAC_A = '00:16:3e:00:00:0a';
const MAC_B = '00:16:3e:00:00:0b';
const MAC_C = '00:16:3e:00:00:0c';

async function twoGuests(options: { queues?: number } = {}) {
  const rig = await BackendRig.start();
  const a = await NetFront.attach(await rig.guest(), { mac: MAC_A, ...options });
  const b = await NetFront.attach(await rig.guest(), { mac: MAC_B, ...options });
  return { rig, a, b };
}

test('two netfronts on one bridge connect; single, multi-slot and GSO packets cross intact', async () => {
  const { rig, a, b } = await twoGuests();
  try {
    assert.equal(await a.backendState(), XenbusStateConnected);
    assert.equal(await b.backendState(), XenbusStateConnected);
    assert.equal(await rig.store.read(`${a.backend}/hotplug-status`), 'connected');
    assert.equal(await rig.store.read(`${a.backend}/feature-split-event-channels`), '1');
    assert.equal(
      rig.logged(/^netback: vif\d+\.0 connected: 1 queue\(s\), GSO, checksum offload$/).length,
      2,
      rig.logs.join('\n'),
    );

    b.postRx(16);
    const single = tcpFrame(MAC_B, MAC_A, 100, 1);
    const multi = tcpFrame(MAC_B, MAC_A, 3000, 2);
    const gso = tcpFrame(MAC_B, MAC_A, 6000, 3);
    const sent = [
      a.send(single, { flags: NETTXF_csum_blank | NETTXF_data_validated }),
      a.send(multi, { slots: [1000, 1500, multi.length - 2500], flags: NETTXF_data_validated }),
      a.send(gso, {
        slots: [2000, 2000, gso.length - 4000],
        offset: 96,
        flags: NETTXF_csum_blank | NETTXF_data_validated,
        gso: { type: XEN_NETIF_GSO_TYPE_TCPV4, size: 1448 },
      }),
    ];

    // One response per slot, in ring order; the extra-info slot's says NETIF_RSP_NULL.
    const responses = await a.waitTx(8);
    const ids = sent.flat();
    assert.deepEqual(
      responses.map((r) => [r.id, r.status]),
      [
        [ids[0], NETIF_RSP_OKAY],
        [ids[1], NETIF_RSP_OKAY],
        [ids[2], NETIF_RSP_OKAY],
        [ids[3], NETIF_RSP_OKAY],
        [ids[4], NETIF_RSP_OKAY],
        [0, NETIF_RSP_NULL],
        [ids[5], NETIF_RSP_OKAY],
        [ids[6], NETIF_RSP_OKAY],
      ],
    );

    const [one, two, three] = await b.waitRx(3);
    assert.deepEqual(one!.data, single);
    assert.equal(one!.flags, NETRXF_csum_blank | NETRXF_data_validated);
    assert.deepEqual(one!.statuses, [single.length]);
    assert.deepEqual(two!.data, multi);
    assert.equal(two!.flags, NETRXF_data_validated, 'a packet that fits a page takes one slot');
    assert.deepEqual(three!.data, gso);
    assert.equal(
      three!.flags,
      NETRXF_csum_blank | NETRXF_data_validated | NETRXF_extra_info | NETRXF_more_data,
    );
    assert.deepEqual(three!.gso, { type: XEN_NETIF_GSO_TYPE_TCPV4, size: 1448 });
    assert.deepEqual(three!.statuses, [4096, gso.length - 4096]);
    assert.ok(b.guest.pending(b.queues[0]!.rxPort), "the receiver's rx event channel fired");
    assert.ok(a.guest.pending(a.queues[0]!.txPort), "the sender's tx event channel fired");
    const counters = rig.netback.counters(a.guest.domid)[0]!;
    assert.equal(counters.tpackets, 3);
    assert.equal(counters.tbytes, single.length + multi.length + gso.length);
    assert.equal(rig.netback.counters(b.guest.domid)[0]!.rpackets, 3);
  } finally {
    await rig.close();
  }
});

test('a frame sent before the receiver posted buffers arrives once it does', async () => {
  const { rig, a, b } = await twoGuests();
  try {
    const frame = tcpFrame(MAC_B, MAC_A, 500, 9);
    a.send(frame);
    await a.waitTx(1);
    await settle(10);
    b.collectRx();
    assert.equal(b.received.length, 0);
    assert.equal(b.rxPending(), 0, 'nothing can be delivered without buffers');
    b.postRx(4);
    const [packet] = await b.waitRx(1);
    assert.deepEqual(packet!.data, frame);
  } finally {
    await rig.close();
  }
});

test('MAC learning: a unicast to a learnt MAC reaches its port and no other', async () => {
  const { rig, a, b } = await twoGuests();
  try {
    const c = await NetFront.attach(await rig.guest(), { mac: MAC_C });
    for (const front of [a, b, c]) front.postRx(16);
    // B is not known yet: A's frame to it floods to B and C.
    a.send(tcpFrame(MAC_B, MAC_A, 64, 1));
    await b.waitRx(1);
    await c.waitRx(1);
    // B speaks; the bridge learns where it is.
    b.send(tcpFrame(MAC_A, MAC_B, 64, 2));
    await a.waitRx(1);
    // Now A's unicast to B goes to B's port only.
    for (let i = 0; i < 5; i++) a.send(tcpFrame(MAC_B, MAC_A, 64, 10 + i));
    await b.waitRx(6);
    await settle(10);
    c.collectRx();
    assert.equal(c.received.length, 1, 'C saw only the flooded frame');
    assert.equal(c.rxPending(), 0);
    // A broadcast still reaches everyone.
    a.send(tcpFrame('ff:ff:ff:ff:ff:ff', MAC_A, 64, 20));
    await b.waitRx(7);
    await c.waitRx(2);
  } finally {
    await rig.close();
  }
});

test('multi-queue: two queues with queue-N keys carry frames both ways', async () => {
  const { rig, a, b } = await twoGuests({ queues: 2 });
  try {
    assert.equal(await rig.store.read(`${a.frontend}/multi-queue-num-queues`), '2');
    assert.ok(await rig.store.tryRead(`${a.frontend}/queue-1/tx-ring-ref`));
    assert.equal(rig.logged(/connected: 2 queue\(s\)/).length, 2, rig.logs.join('\n'));
    b.postRx(32, { queue: 0 });
    b.postRx(32, { queue: 1 });
    const frames = Array.from({ length: 16 }, (_, flow) => tcpFrame(MAC_B, MAC_A, 200, flow, flow));
    for (const [i, frame] of frames.entries()) a.send(frame, { queue: i % 2 });
    const responses = await a.waitTx(16);
    assert.ok(responses.every((r) => r.status === NETIF_RSP_OKAY));
    assert.deepEqual(
      [0, 1].map((q) => responses.filter((r) => r.queue === q).length),
      [8, 8],
    );
    const received = await b.waitRx(16);
    const key = (data: Uint8Array) => Buffer.from(data).toString('hex');
    assert.deepEqual(new Set(received.map((p) => key(p.data))), new Set(frames.map(key)));
    // Flows are spread over the receiver's queues, each flow kept on one.
    const perQueue = [0, 1].map((q) => received.filter((p) => p.queue === q).length);
    assert.ok(perQueue[0]! > 0 && perQueue[1]! > 0, `both rx queues used: ${perQueue}`);
    const again = tcpFrame(MAC_B, MAC_A, 200, 99, 3);
    a.send(again);
    const [last] = (await b.waitRx(17)).slice(16);
    assert.equal(last!.queue, received.find((p) => key(p.data) === key(frames[3]!))!.queue);
  } finally {
    await rig.close();
  }
});

test('rate= limits what a vif sends: packets over its credit wait for the next interval', async () => {
  const rig = await BackendRig.start();
  try {
    // 1000 bytes every 200 ms (long enough that a busy test machine does not blur it).
    const rate = { bytesPerInterval: 1000, intervalUsecs: 200_000 };
    const a = await NetFront.attach(await rig.guest(), { mac: MAC_A, rate });
    const b = await NetFront.attach(await rig.guest(), { mac: MAC_B });
    assert.equal(await rig.store.read(`${a.backend}/rate`), '1000,200000');
    b.postRx(16);
    // Idle for more than an interval: the vif holds its first interval's credit and may add
    // one more when it runs short (netback's tx_credit_exceeded after a quiet spell).
    await settle(220);
    const frames = [1, 2, 3, 4, 5, 6].map((seed) => tcpFrame(MAC_B, MAC_A, 546, seed));
    const start = performance.now();
    for (const frame of frames) a.send(frame);
    await b.waitRx(3);
    await settle(10);
    b.collectRx();
    a.collectTx();
    assert.equal(b.received.length, 3, 'three 600-byte packets fit 2000 bytes of credit');
    assert.equal(a.txResponses.length, 3, 'packets waiting for credit stay on the ring');
    await b.waitRx(6);
    const elapsed = performance.now() - start;
    // The 4th and 5th go after one interval, the 6th after two.
    assert.ok(elapsed >= 380, `the rest went interval by interval (${elapsed.toFixed(1)} ms)`);
    assert.deepEqual(
      b.received.map((p) => p.data),
      frames,
      'in order',
    );
    await a.waitTx(6);
  } finally {
    await rig.close();
  }
});
