/**
 * blkback against hostile frontends. A frontend may write garbage to its ring or to xenstore,
 * use grants it does not own, or put a ring index out of range: where blkback only refuses
 * the request, the request gets an error status and the device goes on; where it treats the
 * frontend as broken, the device goes to Closing (5) with hotplug-error set. Every case runs
 * beside a well-behaved domain whose disk must still do real I/O afterwards (testing/hostile.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
} from '../../../abi/io/blkif.js';
import { XenbusStateClosing, XenbusStateConnected } from '../../../abi/io/xenbus.js';
import { blkFuzzer } from '../testing/blk-fuzz.js';
import { reqProdBackwardsInWorker } from '../testing/blk-req-prod-backwards.js';
import {
  type BadKeys,
  blkLabel,
  DISK_BYTES,
  DISK_SECTORS,
  diskWorks,
  expectClosed,
  expectEachClosed,
  FUZZ_ROUNDS,
  forgetGoodDevices,
  goodDisk,
  goodVifs,
  image,
  inCase,
  noUnhandledRejection,
  pattern,
  removeImages,
  SEED,
  sharedMachine,
  vifsWork,
} from '../testing/hostile.js';
import {
  BackendRig,
  BlkFront,
  type BlkSegment,
  type FakeGuest,
  prng,
  settle,
  tcpFrame,
  until,
} from '../testing/index.js';

after(removeImages);

const read = (id: number, sector: number, segments: readonly BlkSegment[]) =>
  BlkFront.readWrite(BLKIF_OP_READ, id, sector, segments);
const write = (id: number, sector: number, segments: readonly BlkSegment[]) =>
  BlkFront.readWrite(BLKIF_OP_WRITE, id, sector, segments);
/** One segment of a whole page (unless told otherwise) on `gref`. */
const whole = (gref: number, first = 0, last = 7): BlkSegment => ({ gref, first, last });
/** A fresh page of `h`, granted to Dom0 (unless told otherwise). */
const granted = (h: FakeGuest, options: { readonly?: boolean; to?: number } = {}) =>
  h.grant(h.page(), options);

/** A request the backend must refuse (error status) while the device carries on. */
interface RefusedCase {
  name: string;
  request(h: FakeGuest, id: number, good: FakeGuest): Uint8Array;
  status?: number;
  /** What the log line says; undefined: no log line is required. */
  log?: RegExp;
  persistent?: boolean;
}

const refused: RefusedCase[] = [
  {
    name: 'nr_segments 12 in a direct request',
    request: (h, id) => {
      const bytes = read(id, 0, [whole(granted(h))]);
      bytes[1] = 12;
      return bytes;
    },
    log: /12 segments/,
  },
  { name: 'nr_segments 0 in a read', request: (_h, id) => read(id, 0, []), log: /0 segments/ },
  {
    name: 'a sector past the end of the disk',
    request: (h, id) => write(id, DISK_SECTORS - 4, [whole(granted(h))]),
    log: /past the end/,
  },
  {
    name: 'a sector number beyond 2^53',
    request: (h, id) => read(id, 2 ** 60, [whole(granted(h))]),
    log: /beyond 2\^53/,
  },
  {
    name: 'first_sect after last_sect',
    request: (h, id) => read(id, 0, [whole(granted(h), 5, 2)]),
    log: /segment sectors 5\.\.2/,
  },
  {
    name: 'last_sect past the page',
    request: (h, id) => read(id, 0, [whole(granted(h), 0, 8)]),
    log: /segment sectors 0\.\.8/,
  },
  ...[
    ['persistent grants', true],
    ['grants mapped per request', false],
  ].map(
    ([how, persistent]): RefusedCase => ({
      name: `a read into a read-only grant (${how})`,
      persistent: persistent as boolean,
      request: (h, id) => read(id, 8, [whole(granted(h, { readonly: true }))]),
      log: /grant/i,
    }),
  ),
  {
    name: 'a grant reference the domain never granted',
    request: (h, id) => write(id, 0, [whole(h.unusedRef())]),
    log: /grant/i,
  },
  {
    name: 'a grant reference granted to another domain',
    request: (h, id, good) => read(id, 0, [whole(granted(h, { to: good.domid }))]),
    log: /grant/i,
  },
  {
    name: 'a grant reference past the grant table',
    persistent: false,
    request: (_h, id) => write(id, 0, [whole(0xfffffff0)]),
    log: /grant/i,
  },
  {
    name: 'an indirect request whose segment page was never granted',
    request: (h, id) => BlkFront.indirect(BLKIF_OP_READ, id, 20, [h.unusedRef()]),
    log: /grant/i,
  },
  {
    name: 'an indirect request of more segments than offered',
    request: (h, id) => BlkFront.indirect(BLKIF_OP_WRITE, id, 4000, [granted(h)]),
    log: /4000 segments/,
  },
  {
    name: 'a discard past the end of the disk',
    request: (_h, id) => BlkFront.discard(id, DISK_SECTORS - 1, 2 ** 32),
    log: /past the end/,
  },
  {
    name: 'an operation blkif does not have',
    request: (_h, id) => BlkFront.readWrite(0xee, id, 0, []),
    status: BLKIF_RSP_EOPNOTSUPP,
  },
];

/** Garbage ring, event-channel and queue keys, and what blkback says of each. */
const badKeys = (goodDomid: number): BadKeys[] => [
  ['ring-ref abc', () => ({ 'ring-ref': 'abc' }), /not a number: "abc"/],
  ['ring-ref -1', () => ({ 'ring-ref': '-1' }), /not a number: "-1"/],
  ['ring-ref 2^66', () => ({ 'ring-ref': '99999999999999999999' }), /not a number/],
  ['ring-ref 2^32-1', () => ({ 'ring-ref': '4294967295' }), /grant/],
  ['ring-ref missing', () => ({ 'ring-ref': undefined }), /ENOENT/],
  ['ring-ref never granted', (g) => ({ 'ring-ref': String(g.unusedRef()) }), /grant/],
  [
    'ring-ref granted to another domain',
    (g) => ({ 'ring-ref': String(granted(g, { to: goodDomid })) }),
    /grant/,
  ],
  [
    'ring-ref granted read-only',
    (g) => ({ 'ring-ref': String(granted(g, { readonly: true })) }),
    /grant/,
  ],
  ['event-channel abc', () => ({ 'event-channel': 'abc' }), /not a number/],
  ['event-channel -1', () => ({ 'event-channel': '-1' }), /not a number/],
  ['event-channel 2^32', () => ({ 'event-channel': '4294967296' }), /./],
  ['event-channel missing', () => ({ 'event-channel': undefined }), /ENOENT/],
  ['multi-queue-num-queues 0', () => ({ 'multi-queue-num-queues': '0' }), /0 queues/],
  ['multi-queue-num-queues 99', () => ({ 'multi-queue-num-queues': '99' }), /99 queues/],
  ['ring-page-order abc', () => ({ 'ring-page-order': 'abc' }), /ring-page-order/],
  ['ring-page-order 9', () => ({ 'ring-page-order': '9' }), /ring-page-order 9/],
];

/**
 * Reads published all at once on a ring of 128 slots (persistent grants negotiated):
 * `grefs(i)` gives request i's segments. Resolves to how many more grants Dom0 holds
 * mapped once they are all answered.
 */
async function persistentBurst(
  rig: BackendRig,
  grefs: (h: FakeGuest, i: number) => number[],
): Promise<number> {
  const dom0 = rig.hv.domains.get(0)!;
  const h = await rig.guest();
  const bad = await BlkFront.attach(h, { image: await image('bad'), ringPageOrder: 2 });
  const ring = bad.rings[0]!;
  const before = dom0.grants.mappings;
  const ids = [];
  for (let i = 0; i < ring.size; i++) {
    const id = bad.id();
    ids.push(id);
    ring.put(
      read(
        id,
        i,
        grefs(h, i).map((gref) => whole(gref, 0, 0)),
      ),
    );
  }
  ring.push();
  h.notify(bad.ports[0]!);
  for (const id of ids) assert.equal((await bad.response(id)).status, BLKIF_RSP_OKAY);
  return dom0.grants.mappings - before;
}

describe('blkback against a hostile frontend', () => {
  const machine = sharedMachine();

  for (const c of refused) {
    test(
      `refuses ${c.name}; the device carries on`,
      inCase(machine, async (rig, goodGuest) => {
        const good = await goodDisk(goodGuest);
        const h = await rig.guest();
        const bad = await BlkFront.attach(h, {
          image: await image('bad', 7),
          persistent: c.persistent !== false,
        });
        const id = bad.id();
        const request = c.request(h, id, good.guest);
        const logsBefore = rig.logs.length;
        bad.submit(request);
        const response = await bad.response(id);
        assert.equal(response.status, c.status ?? BLKIF_RSP_ERROR);
        if (c.log !== undefined) {
          const lines = rig.logs
            .slice(logsBefore)
            .filter((l) => l.startsWith(`blkback: d${h.domid}`));
          assert.ok(
            lines.some((l) => c.log!.test(l)),
            `a log line matching ${c.log}:\n${rig.logs.slice(logsBefore).join('\n')}`,
          );
        }
        assert.equal(await bad.backendState(), XenbusStateConnected, 'only the request is refused');
        // The device still serves its guest, and the other domain's disk is untouched.
        const ok = await bad.read(0, 8);
        assert.equal(ok.status, BLKIF_RSP_OKAY);
        assert.ok(Buffer.from(ok.data).equals(pattern(DISK_BYTES, 7).subarray(0, 4096)));
        await diskWorks(good);
      }),
    );
  }

  test(
    'a read into a read-only grant leaves the page as it was',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodDisk(goodGuest);
      const h = await rig.guest();
      const bad = await BlkFront.attach(h, { image: await image('bad', 7) });
      const gfn = h.page();
      h.bytes(gfn).fill(0xaa);
      const id = bad.id();
      bad.submit(read(id, 0, [whole(h.grant(gfn, { readonly: true }))]));
      assert.equal((await bad.response(id)).status, BLKIF_RSP_ERROR);
      assert.ok(
        h.bytes(gfn).every((b) => b === 0xaa),
        'the backend did not write the page',
      );
      await diskWorks(good);
    }),
  );

  test(
    'persistent grants: a reference in many requests at once is mapped once',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodDisk(goodGuest);
      let shared = 0;
      const mapped = await persistentBurst(rig, (h, i) => {
        if (i === 0) shared = granted(h);
        return [shared];
      });
      assert.equal(mapped, 1, 'one persistent mapping of the one reference');
      await diskWorks(good);
    }),
  );

  test(
    'persistent grants: no more are kept mapped than xen-blkback keeps (1056)',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodDisk(goodGuest);
      // 128 requests of 11 distinct references each: 1408 references.
      const mapped = await persistentBurst(rig, (h) =>
        Array.from({ length: 11 }, () => granted(h)),
      );
      assert.ok(mapped <= 1056, `${mapped} grants kept mapped`);
      await diskWorks(good);
    }),
  );

  test(
    'a req_prod far past the ring closes the device',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodDisk(goodGuest);
      const bad = await BlkFront.attach(await rig.guest(), { image: await image('bad') });
      const ring = bad.rings[0]!;
      ring.reqProd = ring.reqProdPvt + 100_000;
      bad.guest.notify(bad.ports[0]!);
      await expectClosed(rig, bad, blkLabel(bad), /req_prod 100000 is past the ring/);
      await diskWorks(good);
      assert.equal(bad.guest.domain.grants.pinned, 0, 'the ring is unmapped');
    }),
  );

  test('a req_prod moved back behind requests in flight closes the device (Dom0 must not hang)', async () => {
    const result = await reqProdBackwardsInWorker(5000);
    assert.equal(result.state, XenbusStateClosing, JSON.stringify(result));
    assert.match(result.hotplugError ?? '', /req_prod/);
    assert.equal(result.goodWorks, true);
  });

  test(
    `garbage requests (fuzz, seed ${SEED}): error responses or a closed device, never a crash or a hang`,
    inCase(machine, async (rig, goodGuest, t) => {
      const good = await goodDisk(goodGuest);
      const h = await rig.guest();
      const bad = await BlkFront.attach(h, { image: await image('bad', 7) });
      const random = prng(SEED);
      const request = blkFuzzer(h, good.guest.domid, DISK_SECTORS, random);
      const ring = bad.rings[0]!;
      const sent = new Map<number, number>();
      const seen = { ok: 0, error: 0, unsupported: 0 };
      let closed = false;
      for (let i = 0; i < FUZZ_ROUNDS && !closed; i++) {
        const count = 1 + Math.floor(random() * 4);
        for (let r = 0; r < count && ring.free() > 0; r++) {
          const id = bad.id();
          const { bytes, idHi } = request(id);
          sent.set(id, idHi);
          ring.put(bytes);
        }
        if (ring.push()) h.notify(bad.ports[0]!);
        const outcome = await until(`fuzz round ${i}: responses or a closed device`, async () => {
          while (ring.unconsumed() > 0) {
            const slot = ring.peek();
            ring.take();
            const id = slot.getUint32(0, true);
            const status = slot.getInt16(10, true);
            assert.ok(sent.has(id), `a response to request ${id}, which is outstanding`);
            assert.equal(slot.getUint32(4, true), sent.get(id), 'the whole id is echoed');
            sent.delete(id);
            if (status === BLKIF_RSP_OKAY) seen.ok++;
            else if (status === BLKIF_RSP_ERROR) seen.error++;
            else if (status === BLKIF_RSP_EOPNOTSUPP) seen.unsupported++;
            else assert.fail(`status ${status}`);
          }
          if (sent.size === 0) return 'answered';
          return (await bad.backendState()) === XenbusStateClosing ? 'closed' : false;
        });
        closed = outcome === 'closed';
      }
      t.diagnostic(
        `responses: ${JSON.stringify(seen)}; device ${closed ? 'closed' : 'still connected'}`,
      );
      if (closed) {
        await expectClosed(rig, bad, blkLabel(bad), /./);
      } else {
        assert.equal(await bad.backendState(), XenbusStateConnected);
        assert.equal(
          (await bad.read(0, 8)).status,
          BLKIF_RSP_OKAY,
          'the fuzzed device still reads',
        );
        assert.ok(seen.error > 0 && seen.unsupported > 0, JSON.stringify(seen));
      }
      await diskWorks(good);
    }),
  );

  test(
    'garbage ring-ref, event-channel and queue keys close each device, and only it',
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodDisk(goodGuest);
      const h = await rig.guest();
      const cases = badKeys(good.guest.domid);
      const devid = (k: number) => 51712 + k * 16;
      const fronts: BlkFront[] = [];
      for (const [k, [, keys]] of cases.entries()) {
        fronts.push(
          await BlkFront.attach(h, {
            image: await image(`bad${k}`),
            devid: devid(k),
            keys: keys(h),
            waitConnected: false,
          }),
        );
      }
      await expectEachClosed(rig, cases, fronts, (front, k) => blkLabel(front, devid(k)));
      await diskWorks(good);
      // The same domain's next disk, written properly, connects and works.
      const fine = await BlkFront.attach(h, { image: await image('fine'), devid: devid(16) });
      await diskWorks(fine);
    }),
  );

  test(
    "a device that fails to connect keeps none of the guest's grants mapped",
    inCase(machine, async (rig, goodGuest) => {
      const good = await goodDisk(goodGuest);
      const h = await rig.guest();
      // A number, but no port of the guest that Dom0 may bind: the ring maps, the bind fails.
      const bad = await BlkFront.attach(h, {
        image: await image('bad'),
        keys: { 'event-channel': '1000' },
        waitConnected: false,
      });
      await expectClosed(rig, bad, blkLabel(bad), /EVTCHNOP_bind_interdomain/);
      await settle(10);
      assert.equal(h.domain.grants.pinned, 0, 'the ring page was unmapped again');
      await diskWorks(good);
    }),
  );
});

describe("a hostile frontend and Dom0's shared resources", () => {
  test('a domain filling every slot of its rings does not starve other domains of Dom0', () =>
    noUnhandledRejection(async () => {
      // A machine of its own: the hostile disk connects first, so that its event channels are
      // Dom0's lower ports and one upcall serves them before the good domain's. Dom0 gets 512
      // frames for its buffers (the host gives it 4096; a domain may have any number of disks).
      const rig = await BackendRig.start({ threaded: true, dom0Frames: 512 });
      try {
        const goodGuest = await rig.guest();
        const h = await rig.guest();
        const flooder = await BlkFront.attach(h, {
          image: await image('flood'),
          queues: 2,
          ringPageOrder: 4,
        });
        const disk = await goodDisk(goodGuest);
        const [zero, one] = await goodVifs(goodGuest);
        // Two rings of 512 slots: 1024 reads of one page at once.
        const gref = granted(h);
        let flood = 0;
        for (const [q, ring] of flooder.rings.entries()) {
          while (ring.free() > 0) {
            ring.put(read(flooder.id(), 0, [whole(gref)]));
            flood++;
          }
          ring.push();
          h.notify(flooder.ports[q]!);
        }
        // The good domain's disk and vifs work in the same moment.
        const id = disk.id();
        disk.submit(read(id, 0, [whole(granted(goodGuest))]));
        const frame = tcpFrame(one.mac, zero.mac, 1000, 1);
        zero.send(frame);
        assert.equal((await disk.response(id)).status, BLKIF_RSP_OKAY, "the good disk's read");
        await until('the hostile requests answered', () => {
          flooder.collect();
          return flooder.responses.size === flood;
        });
        for (const front of [zero, one]) {
          assert.equal(
            await front.backendState(),
            XenbusStateConnected,
            `${front.backend}: ${await front.hotplugError()}`,
          );
        }
        await one.waitRx(1);
        assert.ok(Buffer.from(one.received[0]!.data).equals(frame));
        await diskWorks(disk);
        await vifsWork([zero, one]);
      } finally {
        forgetGoodDevices();
        await rig.close();
      }
    }));
});
