/**
 * netback against hostile frontends. A frontend may write garbage to its rings or to
 * xenstore, use grants it does not own, or put a ring index out of range: where netback only
 * drops the packet, its slots get NETIF_RSP_ERROR and the vif goes on; where it treats the
 * frontend as broken, the vif goes to Closing (5) with hotplug-error set. Every case runs
 * beside a well-behaved domain whose vifs must still pass frames afterwards (testing/hostile.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_GSO_TYPE_TCPV4,
} from '../../../abi/io/netif.js';
import { XenbusStateClosing, XenbusStateConnected } from '../../../abi/io/xenbus.js';
import {
  type BadKeys,
  expectClosed,
  expectEachClosed,
  FUZZ_ROUNDS,
  goodVifs,
  inCase,
  loggedAbout,
  nextMac,
  removeImages,
  SEED,
  sharedMachine,
  vifLabel,
  vifsWork,
} from '../testing/hostile.js';
import { type FakeGuest, NetFront, prng, settle, tcpFrame, until } from '../testing/index.js';
import { netFuzzer } from '../testing/net-fuzz.js';

after(removeImages);

/** A transmit request on a fresh page of `h` granted to Dom0. */
const txOnNewPage = (h: FakeGuest, id: number, size: number, flags = 0, offset = 0) =>
  NetFront.txRequest({ gref: h.grant(h.page()), offset, flags, id, size });
/** A GSO extra-info slot. */
const gsoExtra = (size: number, type: number) =>
  NetFront.extraInfo(XEN_NETIF_EXTRA_TYPE_GSO, { size, type });

/** Slots that break netif, and what netback says about them. */
const fatal: { name: string; why: RegExp; attack(bad: NetFront): void }[] = [
  ...(['tx', 'rx'] as const).map((ring) => ({
    name: `a${ring === 'rx' ? 'n' : ''} ${ring} req_prod far past the ring`,
    why: /req_prod 70000 is past the ring/,
    attack: (bad: NetFront) => {
      const q = bad.queues[0]!;
      q[ring].reqProd = 70_000;
      bad.guest.notify(ring === 'tx' ? q.txPort : q.rxPort);
    },
  })),
  {
    name: 'a tx fragment crossing its page (offset + size > 4096)',
    why: /Cross page boundary, txp->offset: 4000, size: 200/,
    attack: (bad) =>
      bad.sendRaw([
        txOnNewPage(bad.guest, 1, 300, NETTXF_more_data),
        txOnNewPage(bad.guest, 2, 200, 0, 4000),
      ]),
  },
  {
    name: 'a first tx slot crossing its page',
    why: /txreq.offset: 4000, size: 200, end: 4200/,
    attack: (bad) => bad.sendRaw([txOnNewPage(bad.guest, 1, 200, 0, 4000)]),
  },
  ...(
    [
      [
        'a GSO extra of size 0',
        /GSO size must not be zero/,
        [gsoExtra(0, XEN_NETIF_GSO_TYPE_TCPV4)],
      ],
      ['a GSO extra of an unknown GSO type', /Bad GSO type 7/, [gsoExtra(1448, 7)]],
      [
        'an extra-info slot of type 0',
        /extra info type 0/,
        [NetFront.extraInfo(0, { size: 1448, type: 1 })],
      ],
      [
        'an extra-info slot of a type past the last',
        /extra info type 200/,
        [
          NetFront.extraInfo(
            XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
            { size: 0, type: 0 },
            XEN_NETIF_EXTRA_FLAG_MORE,
          ),
          NetFront.extraInfo(200, { size: 0, type: 0 }),
        ],
      ],
      ['extra_info with no slot published after it', /Missing extra info/, []],
    ] as const
  ).map(([name, why, extras]) => ({
    name,
    why,
    // A first slot announcing extra info, then the extra-info slots.
    attack: (bad: NetFront) =>
      bad.sendRaw([txOnNewPage(bad.guest, 1, 100, NETTXF_extra_info), ...extras]),
  })),
  {
    name: 'a more_data chain running past what was published',
    why: /Asked for 3 slots but exceeds this limit/,
    attack: (bad) =>
      bad.sendRaw([
        txOnNewPage(bad.guest, 1, 300, NETTXF_more_data),
        txOnNewPage(bad.guest, 2, 100, NETTXF_more_data),
      ]),
  },
  {
    name: 'a packet of more slots than netback takes',
    why: /Too many slots/,
    attack: (bad) => {
      const h = bad.guest;
      const gref = h.grant(h.page(), { readonly: true });
      const slots = Array.from({ length: 30 }, (_, i) =>
        NetFront.txRequest({
          gref,
          flags: i < 29 ? NETTXF_more_data : 0,
          id: i,
          size: i === 0 ? 3000 : 100,
        }),
      );
      bad.sendRaw(slots);
    },
  },
];

/** Garbage ring, event-channel, queue and feature keys, and what netback says of each. */
const badKeys = (goodDomid: number): BadKeys[] => [
  ['tx-ring-ref abc', () => ({ 'tx-ring-ref': 'abc' }), /not a number: "abc"/],
  ['tx-ring-ref -1', () => ({ 'tx-ring-ref': '-1' }), /not a number: "-1"/],
  ['rx-ring-ref 2^66', () => ({ 'rx-ring-ref': '99999999999999999999' }), /not a number/],
  ['tx-ring-ref missing', () => ({ 'tx-ring-ref': undefined }), /ENOENT/],
  ['rx-ring-ref never granted', (g) => ({ 'rx-ring-ref': String(g.unusedRef()) }), /grant/],
  [
    'tx-ring-ref granted to another domain',
    (g) => ({ 'tx-ring-ref': String(g.grant(g.page(), { to: goodDomid })) }),
    /grant/,
  ],
  [
    'rx-ring-ref granted read-only',
    (g) => ({ 'rx-ring-ref': String(g.grant(g.page(), { readonly: true })) }),
    /grant/,
  ],
  ['event-channel-tx abc', () => ({ 'event-channel-tx': 'abc' }), /not a number/],
  ['event-channel-rx -1', () => ({ 'event-channel-rx': '-1' }), /not a number/],
  ['event-channel-tx 2^32', () => ({ 'event-channel-tx': '4294967296' }), /./],
  ['event-channel-rx missing', () => ({ 'event-channel-rx': undefined }), /ENOENT/],
  ['event-channel-tx 1000 (no such port)', () => ({ 'event-channel-tx': '1000' }), /bind/],
  ['multi-queue-num-queues 0', () => ({ 'multi-queue-num-queues': '0' }), /0 queues/],
  ['multi-queue-num-queues 99', () => ({ 'multi-queue-num-queues': '99' }), /99 queues/],
  [
    'multi-queue-num-queues 2, no queue-N keys',
    () => ({ 'multi-queue-num-queues': '2' }),
    /ENOENT/,
  ],
  ['request-rx-copy missing', () => ({ 'request-rx-copy': undefined }), /copying receive path/],
];

describe('netback against a hostile frontend', () => {
  const machine = sharedMachine();

  for (const c of fatal) {
    test(
      `${c.name} closes the vif, and only it`,
      inCase(machine, async (rig, goodGuest) => {
        const good = await goodVifs(goodGuest);
        const bad = await NetFront.attach(await rig.guest(), { mac: nextMac() });
        bad.postRx(16);
        c.attack(bad);
        await expectClosed(rig, bad, vifLabel(bad), c.why);
        await vifsWork(good);
        assert.equal(bad.guest.domain.grants.pinned, 0, 'its rings are unmapped');
      }),
    );
  }

  test(
    'packets netback drops get NETIF_RSP_ERROR and a log line; the vif carries on',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodVifs(goodGuest);
      const bad = await NetFront.attach(await rig.guest(), { mac: nextMac() });
      const h = bad.guest;
      const logsBefore = rig.logs.length;
      bad.sendRaw([txOnNewPage(h, 7, 10)]);
      bad.sendRaw([txOnNewPage(h, 8, 100, NETTXF_more_data), txOnNewPage(h, 9, 500)]);
      const responses = await bad.waitTx(3);
      assert.deepEqual(
        responses.map((r) => [r.id, r.status]),
        [
          [7, NETIF_RSP_ERROR],
          [8, NETIF_RSP_ERROR],
          [9, NETIF_RSP_ERROR],
        ],
      );
      const lines = rig.logs.slice(logsBefore);
      assert.ok(
        lines.some((l) => /^netback: d\d+: Bad packet size: 10$/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /slot size 500 > remaining size 100/.test(l)),
        lines.join('\n'),
      );
      assert.equal(await bad.backendState(), XenbusStateConnected);
      await vifsWork(good);
    }),
  );

  test(
    'tx slots on grants the domain does not own get NETIF_RSP_ERROR and a log line',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodVifs(goodGuest);
      const bad = await NetFront.attach(await rig.guest(), { mac: nextMac() });
      const h = bad.guest;
      const logsBefore = rig.logs.length;
      const never = h.unusedRef();
      const theirs = h.grant(h.page(), { to: good[0].guest.domid });
      for (const [i, gref] of [never, theirs, 0xfffffff0].entries()) {
        bad.sendRaw([NetFront.txRequest({ gref, id: i + 1, size: 60 })]);
      }
      const responses = await bad.waitTx(3);
      assert.deepEqual(
        responses.map((r) => r.status),
        [NETIF_RSP_ERROR, NETIF_RSP_ERROR, NETIF_RSP_ERROR],
      );
      assert.equal(rig.netback.counters(h.domid)[0]!.terrs, 3);
      assert.equal(await bad.backendState(), XenbusStateConnected);
      // The vif still sends from its own grants.
      bad.send(tcpFrame(good[0].mac, bad.mac, 100, 1));
      assert.equal((await bad.waitTx(4))[3]!.status, NETIF_RSP_OKAY);
      await vifsWork(good);
      loggedAbout(rig, logsBefore, 'netback', h.domid);
    }),
  );

  test(
    'rx buffers on read-only or foreign grants get NETIF_RSP_ERROR and a log line',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodVifs(goodGuest);
      const bad = await NetFront.attach(await rig.guest(), { mac: nextMac() });
      const h = bad.guest;
      const logsBefore = rig.logs.length;
      bad.postRx(1, { readonly: true });
      // Hand-made requests: a ref never granted, one granted to another domain.
      const rx = bad.queues[0]!.rx;
      for (const gref of [h.unusedRef(), h.grant(h.page(), { to: good[1].guest.domid })]) {
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setUint16(0, rx.reqProdPvt & (rx.size - 1), true);
        new DataView(bytes.buffer).setUint32(4, gref, true);
        rx.put(bytes);
      }
      rx.push();
      h.notify(bad.queues[0]!.rxPort);
      for (let i = 0; i < 3; i++) good[0].send(tcpFrame(bad.mac, good[0].mac, 200, i));
      const packets = await bad.waitRx(3);
      assert.deepEqual(
        packets.map((p) => p.statuses),
        [[NETIF_RSP_ERROR], [NETIF_RSP_ERROR], [NETIF_RSP_ERROR]],
      );
      assert.equal(rig.netback.counters(h.domid)[0]!.rerrs, 3);
      assert.equal(await bad.backendState(), XenbusStateConnected);
      // A proper buffer still gets the next frame.
      bad.postRx(1);
      const frame = tcpFrame(bad.mac, good[0].mac, 200, 9);
      good[0].send(frame);
      const [last] = (await bad.waitRx(4)).slice(3);
      assert.ok(Buffer.from(last!.data).equals(frame));
      await vifsWork(good);
      loggedAbout(rig, logsBefore, 'netback', h.domid);
    }),
  );

  test(
    'garbage keys close each vif, and only it',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodVifs(goodGuest);
      const h = await rig.guest();
      const cases = badKeys(good[0].guest.domid);
      const fronts: NetFront[] = [];
      for (const [devid, [, keys]] of cases.entries()) {
        fronts.push(
          await NetFront.attach(h, {
            mac: `00:16:3e:00:0c:${devid.toString(16).padStart(2, '0')}`,
            devid,
            keys: keys(h),
            waitConnected: false,
          }),
        );
      }
      await expectEachClosed(rig, cases, fronts, vifLabel);
      await settle(10);
      assert.equal(h.domain.grants.pinned, 0, 'no ring of a closed vif stays mapped');
      await vifsWork(good);
      const fine = await NetFront.attach(h, { mac: nextMac(), devid: cases.length });
      fine.postRx(8);
      good[0].send(tcpFrame('ff:ff:ff:ff:ff:ff', good[0].mac, 100, 1));
      await fine.waitRx(1);
    }),
  );

  test(
    'a vif connecting while frames cross its bridge does not break the vifs sending them',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodVifs(goodGuest);
      const [zero] = good;
      const h = await rig.guest();
      // Four queues: a long connect, during which zero keeps broadcasting.
      let attached = false;
      const attaching = NetFront.attach(h, { mac: nextMac(), queues: 4 }).finally(() => {
        attached = true;
      });
      let sent = 0;
      while (!attached || sent < 20) {
        zero.collectTx();
        if (zero.queues[0]!.tx.free() > 1) {
          zero.send(tcpFrame('ff:ff:ff:ff:ff:ff', good[0].mac, 60, sent++));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      await attaching;
      await settle(10);
      assert.equal(
        await zero.backendState(),
        XenbusStateConnected,
        `the sender's vif is still up: ${await zero.hotplugError()}`,
      );
      await vifsWork(good);
    }),
  );

  test(
    `garbage tx slots (fuzz, seed ${SEED}): error responses or a closed vif, never a crash or a hang`,
    inCase(machine, async (rig, goodGuest, t) => {
      const good = await goodVifs(goodGuest);
      const h = await rig.guest();
      const packet = netFuzzer(h, good[0].guest.domid, prng(SEED ^ 0x77));
      let devid = 0;
      const mac = nextMac();
      let bad = await NetFront.attach(h, { mac, devid });
      const seen = { ok: 0, error: 0, closed: 0 };
      for (let i = 0; i < FUZZ_ROUNDS; i++) {
        const q = bad.queues[0]!;
        const slots = packet();
        if (q.tx.free() < slots.length) bad.collectTx();
        bad.sendRaw(slots);
        const outcome = await until(`fuzz round ${i}: responses or a closed vif`, async () => {
          bad.collectTx();
          if (q.tx.rspProd === q.tx.reqProd) return 'answered';
          return (await bad.backendState()) === XenbusStateClosing ? 'closed' : false;
        });
        for (const r of bad.txResponses.splice(0)) {
          assert.ok(
            [NETIF_RSP_OKAY, NETIF_RSP_ERROR, NETIF_RSP_NULL].includes(r.status),
            `status ${r.status}`,
          );
          if (r.status === NETIF_RSP_OKAY) seen.ok++;
          if (r.status === NETIF_RSP_ERROR) seen.error++;
        }
        if (outcome === 'closed') {
          seen.closed++;
          await expectClosed(rig, bad, vifLabel(bad, devid), /./);
          bad = await NetFront.attach(h, { mac, devid: ++devid });
        }
      }
      t.diagnostic(`tx responses and vifs closed: ${JSON.stringify(seen)}`);
      assert.ok(seen.ok > 0 && seen.error > 0, JSON.stringify(seen));
      await vifsWork(good);
    }),
  );
});
