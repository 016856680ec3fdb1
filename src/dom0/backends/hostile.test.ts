/**
 * Hostile frontends against blkback and netback. A frontend may write garbage to its ring or
 * to xenstore, use grants it does not own, or put a ring index out of range: the backend
 * refuses, logs, and disconnects that device only; other devices and domains carry on.
 *
 * Every case runs beside a well-behaved domain whose device does real I/O after the attack,
 * on a rig whose hypercalls complete a macrotask later (as across the hypervisor's thread),
 * and fails on any unhandled rejection in Dom0. Where the backend only refuses the request,
 * the request gets an error status and the device goes on; where it treats the frontend as
 * broken, the device goes to Closing (5) with hotplug-error set. A case that could hang Dom0
 * runs in a worker thread with a deadline.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
  blkif_request_discard,
  blkif_request_indirect,
} from '../../abi/io/blkif.js';
import {
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
} from '../../abi/io/netif.js';
import { XenbusStateClosing, XenbusStateConnected } from '../../abi/io/xenbus.js';
import { createRawImage } from './blk/image/index.js';
import {
  BackendRig,
  BLKIF_ENTRY_SIZE,
  BlkFront,
  type FakeGuest,
  type KeyOverrides,
  NetFront,
  prng,
  settle,
  tcpFrame,
  until,
} from './testing/frontend.js';

const SEED = Number(process.env.XENOTYPE_SEED ?? 0x5eed) >>> 0;
const FUZZ_ROUNDS = 300 * (Number(process.env.XENOTYPE_FUZZ ?? 1) || 1);
const DISK_BYTES = 1 << 20;
const DISK_SECTORS = DISK_BYTES / 512;

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

let tmp: string | undefined;
let images = 0;
/** A fresh raw image file of `bytes`, zeroed or filled with a pattern of `seed`. */
async function image(name: string, seed = 0, bytes = DISK_BYTES): Promise<string> {
  tmp ??= await mkdtemp(join(tmpdir(), 'xenotype-hostile-'));
  const path = join(tmp, `${name}-${images++}.img`);
  if (seed === 0) await createRawImage(path, bytes);
  else await writeFile(path, pattern(bytes, seed));
  return path;
}

/** `length` bytes of a pattern of `seed` (an LCG: fast enough for whole images). */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * One machine per group of cases: a well-behaved domain that gets fresh devices for each
 * case, so that one case's damage cannot hide in the next; each case makes its own hostile
 * domain.
 */
interface Machine {
  rig: BackendRig;
  good: FakeGuest;
}

function sharedMachine(): Machine {
  const machine = {} as Machine;
  before(async () => {
    machine.rig = await BackendRig.start({ threaded: true });
    machine.good = await machine.rig.guest();
  });
  after(() => machine.rig.close());
  return machine;
}

/** A case on the shared machine; Dom0 must leave no rejection unhandled. */
function inCase(
  machine: Machine,
  body: (rig: BackendRig, good: FakeGuest, t: TestContext) => Promise<void>,
): (t: TestContext) => Promise<void> {
  return async (t) => {
    const before = unhandled.length;
    try {
      await body(machine.rig, machine.good, t);
      await settle(5);
    } finally {
      // The good domain's devices of this case go, as a guest unplugging them would.
      for (const front of goodDevices.splice(0)) await front.close().catch(() => {});
    }
    assert.deepEqual(unhandled.slice(before), [], 'no unhandled rejection in Dom0');
  };
}

/** The good domain's devices made by the case under way. */
const goodDevices: (BlkFront | NetFront)[] = [];

/** Waits for a device to be closed for breaking the protocol: Closing, hotplug-error, a log line. */
async function expectClosed(
  rig: BackendRig,
  front: BlkFront | NetFront,
  label: string,
  why: RegExp,
): Promise<string> {
  await until(`${label} Closing`, async () => (await front.backendState()) === XenbusStateClosing);
  const error = await front.hotplugError();
  assert.ok(error !== undefined, `${label}: hotplug-error is set`);
  assert.match(error, why, `${label}: hotplug-error says why`);
  assert.ok(
    rig.logs.some((line) => line === `${label}: ${error}; device closed`),
    `${label}: logged\n${rig.logs.join('\n')}`,
  );
  return error;
}

const blkLabel = (front: BlkFront) => `blkback: d${front.guest.domid} device 51712`;
const vifLabel = (front: NetFront, devid = 0) => `netback: vif${front.guest.domid}.${devid}`;

// ---------------------------------------------------------------------------------------
// The well-behaved domains

let round = 0;
let disks = 0;

/** A fresh disk of the good domain. */
async function goodDisk(guest: FakeGuest): Promise<BlkFront> {
  const front = await BlkFront.attach(guest, {
    image: await image('good'),
    devid: 51712 + 16 * disks++,
  });
  goodDevices.push(front);
  return front;
}

/** The disk still moves data: a write, read back. */
async function diskWorks(front: BlkFront): Promise<void> {
  round++;
  const sector = (round * 24) % (DISK_SECTORS - 24);
  const data = pattern(24 * 512, 1000 + round);
  assert.equal(await front.write(sector, data), BLKIF_RSP_OKAY, 'the good disk writes');
  const back = await front.read(sector, 24);
  assert.equal(back.status, BLKIF_RSP_OKAY, 'the good disk reads');
  assert.ok(Buffer.from(back.data).equals(data), 'the good disk reads back what it wrote');
  assert.equal(await front.backendState(), XenbusStateConnected);
}

let macs = 0;
let vifs = 0;

/** A MAC of its own for every vif: the bridge remembers them from case to case. */
function nextMac(): string {
  const n = macs++;
  return `00:16:3e:01:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
}

/** Two fresh vifs of the good domain on xenbr0, which the hostile vifs join too. */
async function goodVifs(guest: FakeGuest): Promise<[NetFront, NetFront]> {
  const zero = await NetFront.attach(guest, { mac: nextMac(), devid: vifs++ });
  const one = await NetFront.attach(guest, { mac: nextMac(), devid: vifs++ });
  goodDevices.push(zero, one);
  zero.postRx(64);
  one.postRx(64);
  return [zero, one];
}

/** Frames still cross between the good vifs both ways. */
async function vifsWork([zero, one]: [NetFront, NetFront]): Promise<void> {
  round++;
  for (const [from, to, dst, src] of [
    [zero, one, one.mac, zero.mac],
    [one, zero, zero.mac, one.mac],
  ] as const) {
    // Room for whatever the hostile vif flooded meanwhile, then a frame of our own.
    to.collectRx();
    to.postRx(Math.min(16, to.queues[0]!.rx.free()));
    const frame = tcpFrame(dst, src, 300, round);
    from.send(frame);
    await until(`${to.backend}: the good frame`, () => {
      to.collectRx();
      if (to.queues[0]!.rx.free() > 32) to.postRx(32);
      return to.received.some((p) => Buffer.from(p.data).equals(frame));
    });
    assert.equal(await from.backendState(), XenbusStateConnected);
  }
}

if (isMainThread) {
  after(async () => {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------
  // blkback

  describe('blkback against a hostile frontend', () => {
    const machine = sharedMachine();
    /** A request the backend must refuse (error status) while the device carries on. */
    interface RefusedCase {
      name: string;
      request(h: FakeGuest, id: number, good: FakeGuest): Uint8Array;
      status?: number;
      /** What the log line says; undefined: no log line is required. */
      log?: RegExp;
      persistent?: boolean;
    }
    const rw = (h: FakeGuest) => ({ gref: h.grant(h.page()), first: 0, last: 7 });
    const refused: RefusedCase[] = [
      {
        name: 'nr_segments 12 in a direct request',
        request: (h, id) => {
          const bytes = BlkFront.readWrite(BLKIF_OP_READ, id, 0, [rw(h)]);
          bytes[1] = 12;
          return bytes;
        },
        log: /12 segments/,
      },
      {
        name: 'nr_segments 0 in a read',
        request: (_h, id) => BlkFront.readWrite(BLKIF_OP_READ, id, 0, []),
        log: /0 segments/,
      },
      {
        name: 'a sector past the end of the disk',
        request: (h, id) => BlkFront.readWrite(BLKIF_OP_WRITE, id, DISK_SECTORS - 4, [rw(h)]),
        log: /past the end/,
      },
      {
        name: 'a sector number beyond 2^53',
        request: (h, id) => BlkFront.readWrite(BLKIF_OP_READ, id, 2 ** 60, [rw(h)]),
        log: /beyond 2\^53/,
      },
      {
        name: 'first_sect after last_sect',
        request: (h, id) =>
          BlkFront.readWrite(BLKIF_OP_READ, id, 0, [
            { gref: h.grant(h.page()), first: 5, last: 2 },
          ]),
        log: /segment sectors 5\.\.2/,
      },
      {
        name: 'last_sect past the page',
        request: (h, id) =>
          BlkFront.readWrite(BLKIF_OP_READ, id, 0, [
            { gref: h.grant(h.page()), first: 0, last: 8 },
          ]),
        log: /segment sectors 0\.\.8/,
      },
      {
        name: 'a read into a read-only grant (persistent grants)',
        request: (h, id) =>
          BlkFront.readWrite(BLKIF_OP_READ, id, 8, [
            { gref: h.grant(h.page(), { readonly: true }), first: 0, last: 7 },
          ]),
        log: /grant/i,
      },
      {
        name: 'a read into a read-only grant (grants mapped per request)',
        persistent: false,
        request: (h, id) =>
          BlkFront.readWrite(BLKIF_OP_READ, id, 8, [
            { gref: h.grant(h.page(), { readonly: true }), first: 0, last: 7 },
          ]),
        log: /grant/i,
      },
      {
        name: 'a grant reference the domain never granted',
        request: (h, id) =>
          BlkFront.readWrite(BLKIF_OP_WRITE, id, 0, [{ gref: h.unusedRef(), first: 0, last: 7 }]),
        log: /grant/i,
      },
      {
        name: 'a grant reference granted to another domain',
        request: (h, id, good) =>
          BlkFront.readWrite(BLKIF_OP_READ, id, 0, [
            { gref: h.grant(h.page(), { to: good.domid }), first: 0, last: 7 },
          ]),
        log: /grant/i,
      },
      {
        name: 'a grant reference past the grant table',
        persistent: false,
        request: (_h, id) =>
          BlkFront.readWrite(BLKIF_OP_WRITE, id, 0, [{ gref: 0xfffffff0, first: 0, last: 7 }]),
        log: /grant/i,
      },
      {
        name: 'an indirect request whose segment page was never granted',
        request: (h, id) => {
          const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
          const view = new DataView(bytes.buffer);
          const I = blkif_request_indirect.offsets;
          view.setUint8(I.operation, BLKIF_OP_INDIRECT);
          view.setUint8(I.indirect_op, BLKIF_OP_READ);
          view.setUint16(I.nr_segments, 20, true);
          view.setUint32(I.id, id, true);
          view.setUint32(I.indirect_grefs, h.unusedRef(), true);
          return bytes;
        },
        log: /grant/i,
      },
      {
        name: 'an indirect request of more segments than offered',
        request: (h, id) => {
          const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
          const view = new DataView(bytes.buffer);
          const I = blkif_request_indirect.offsets;
          view.setUint8(I.operation, BLKIF_OP_INDIRECT);
          view.setUint8(I.indirect_op, BLKIF_OP_WRITE);
          view.setUint16(I.nr_segments, 4000, true);
          view.setUint32(I.id, id, true);
          view.setUint32(I.indirect_grefs, h.grant(h.page()), true);
          return bytes;
        },
        log: /4000 segments/,
      },
      {
        name: 'a discard past the end of the disk',
        request: (_h, id) => {
          const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
          const view = new DataView(bytes.buffer);
          const D = blkif_request_discard.offsets;
          view.setUint8(D.operation, BLKIF_OP_DISCARD);
          view.setUint32(D.id, id, true);
          view.setUint32(D.sector_number, DISK_SECTORS - 1, true);
          view.setUint32(D.nr_sectors + 4, 1, true);
          return bytes;
        },
        log: /past the end/,
      },
      {
        name: 'an operation blkif does not have',
        request: (_h, id) => BlkFront.readWrite(0xee, id, 0, []),
        status: BLKIF_RSP_EOPNOTSUPP,
      },
    ];

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
          assert.equal(
            await bad.backendState(),
            XenbusStateConnected,
            'only the request is refused',
          );
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
        bad.submit(
          BlkFront.readWrite(BLKIF_OP_READ, id, 0, [
            { gref: h.grant(gfn, { readonly: true }), first: 0, last: 7 },
          ]),
        );
        assert.equal((await bad.response(id)).status, BLKIF_RSP_ERROR);
        assert.ok(
          h.bytes(gfn).every((b) => b === 0xaa),
          'the backend did not write the page',
        );
        await diskWorks(good);
      }),
    );

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
        const segments = grefs(h, i).map((gref) => ({ gref, first: 0, last: 0 }));
        ring.put(BlkFront.readWrite(BLKIF_OP_READ, id, i, segments));
      }
      ring.push();
      h.notify(bad.ports[0]!);
      for (const id of ids) assert.equal((await bad.response(id)).status, BLKIF_RSP_OKAY);
      return dom0.grants.mappings - before;
    }

    test(
      'persistent grants: a reference in many requests at once is mapped once',
      inCase(machine, async (rig, goodGuest) => {
        const good = await goodDisk(goodGuest);
        let shared = 0;
        const mapped = await persistentBurst(rig, (h, i) => {
          if (i === 0) shared = h.grant(h.page());
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
          Array.from({ length: 11 }, () => h.grant(h.page())),
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
      const result = await inWorker('blk-req-prod-backwards', 5000);
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
        const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
        const u32 = () => (random() * 2 ** 32) >>> 0;
        // Grants the fuzzer draws from: the guest's own (writable and not), another
        // domain's, none at all; and an indirect page of random segments.
        const data = Array.from({ length: 12 }, () => h.grant(h.page()));
        const readonly = Array.from({ length: 4 }, () => h.grant(h.page(), { readonly: true }));
        const foreign = h.grant(h.page(), { to: good.guest.domid });
        const indirectGfn = h.page();
        const indirect = h.grant(indirectGfn);
        const never = h.unusedRef();
        const gref = () => pick([...data, ...data, ...readonly, foreign, indirect, never, u32()]);
        const sect = () => (random() < 0.9 ? Math.floor(random() * 8) : Math.floor(random() * 256));
        const sector = () =>
          pick([
            Math.floor(random() * (DISK_SECTORS - 100)),
            DISK_SECTORS - Math.floor(random() * 16),
            u32(),
            u32() * 2 ** 20,
          ]);
        const request = (id: number): { bytes: Uint8Array; idHi: number } => {
          const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
          const view = new DataView(bytes.buffer);
          if (random() < 0.15) {
            for (let i = 0; i < bytes.length; i++) bytes[i] = (random() * 256) | 0;
          } else {
            const op = pick([
              BLKIF_OP_READ,
              BLKIF_OP_READ,
              BLKIF_OP_WRITE,
              BLKIF_OP_WRITE,
              BLKIF_OP_WRITE_BARRIER,
              BLKIF_OP_FLUSH_DISKCACHE,
              BLKIF_OP_DISCARD,
              BLKIF_OP_INDIRECT,
              (random() * 256) | 0,
            ]);
            view.setUint8(0, op);
            if (op === BLKIF_OP_INDIRECT) {
              const I = blkif_request_indirect.offsets;
              view.setUint8(
                I.indirect_op,
                pick([BLKIF_OP_READ, BLKIF_OP_WRITE, (random() * 256) | 0]),
              );
              view.setUint16(
                I.nr_segments,
                pick([1 + Math.floor(random() * 256), 0, u32() & 0xffff]),
                true,
              );
              const s = sector();
              view.setUint32(I.sector_number, s % 2 ** 32, true);
              view.setUint32(I.sector_number + 4, Math.floor(s / 2 ** 32), true);
              for (let i = 0; i < 8; i++) {
                view.setUint32(I.indirect_grefs + i * 4, pick([indirect, gref()]), true);
              }
              const page = new DataView(
                h.bytes(indirectGfn).buffer,
                h.bytes(indirectGfn).byteOffset,
                4096,
              );
              for (let i = 0; i < 512; i++) {
                page.setUint32(i * 8, gref(), true);
                page.setUint8(i * 8 + 4, sect());
                page.setUint8(i * 8 + 5, sect());
              }
            } else if (op === BLKIF_OP_DISCARD) {
              const D = blkif_request_discard.offsets;
              view.setUint8(D.flag, (random() * 4) | 0);
              view.setUint32(D.sector_number, sector() % 2 ** 32, true);
              view.setUint32(D.nr_sectors, pick([1 + Math.floor(random() * 64), u32()]), true);
              view.setUint32(D.nr_sectors + 4, pick([0, 0, u32()]), true);
            } else {
              const n = pick([1 + Math.floor(random() * 11), 0, 12 + Math.floor(random() * 244)]);
              view.setUint8(1, n);
              const s = sector();
              view.setUint32(16, s % 2 ** 32, true);
              view.setUint32(20, Math.floor(s / 2 ** 32), true);
              for (let i = 0; i < 11; i++) {
                view.setUint32(24 + i * 8, gref(), true);
                const first = sect();
                view.setUint8(28 + i * 8, first);
                view.setUint8(
                  29 + i * 8,
                  random() < 0.8 ? first + Math.floor(random() * (8 - Math.min(first, 7))) : sect(),
                );
              }
            }
          }
          const idHi = u32();
          view.setUint32(8, id, true);
          view.setUint32(12, idHi, true);
          return { bytes, idHi };
        };

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
        const cases: [string, (h: FakeGuest) => KeyOverrides, RegExp][] = [
          ['ring-ref abc', () => ({ 'ring-ref': 'abc' }), /not a number: "abc"/],
          ['ring-ref -1', () => ({ 'ring-ref': '-1' }), /not a number: "-1"/],
          ['ring-ref 2^66', () => ({ 'ring-ref': '99999999999999999999' }), /not a number/],
          ['ring-ref 2^32-1', () => ({ 'ring-ref': '4294967295' }), /grant/],
          ['ring-ref missing', () => ({ 'ring-ref': undefined }), /ENOENT/],
          ['ring-ref never granted', (g) => ({ 'ring-ref': String(g.unusedRef()) }), /grant/],
          [
            'ring-ref granted to another domain',
            (g) => ({ 'ring-ref': String(g.grant(g.page(), { to: good.guest.domid })) }),
            /grant/,
          ],
          [
            'ring-ref granted read-only',
            (g) => ({ 'ring-ref': String(g.grant(g.page(), { readonly: true })) }),
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
        const fronts: BlkFront[] = [];
        for (const [k, [, keys]] of cases.entries()) {
          fronts.push(
            await BlkFront.attach(h, {
              image: await image(`bad${k}`),
              devid: 51712 + k * 16,
              keys: keys(h),
              waitConnected: false,
            }),
          );
        }
        for (const [k, [name, , why]] of cases.entries()) {
          const front = fronts[k]!;
          await until(
            `${name}: Closing`,
            async () => (await front.backendState()) === XenbusStateClosing,
          );
          const error = (await front.hotplugError()) ?? '';
          assert.match(error, why, `${name}: hotplug-error "${error}"`);
          const label = `blkback: d${h.domid} device ${51712 + k * 16}`;
          assert.ok(
            rig.logs.includes(`${label}: ${error}; device closed`),
            `${name}: logged\n${rig.logs.join('\n')}`,
          );
        }
        await diskWorks(good);
        // The same domain's next disk, written properly, connects and works.
        const fine = await BlkFront.attach(h, {
          image: await image('fine'),
          devid: 51712 + 16 * 16,
        });
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

  // -------------------------------------------------------------------------------------
  // netback

  describe('netback against a hostile frontend', () => {
    const machine = sharedMachine();
    /** Slots that break netif, and what netback says about them. */
    const fatal: { name: string; why: RegExp; attack(bad: NetFront): void }[] = [
      {
        name: 'a tx req_prod far past the ring',
        why: /req_prod 70000 is past the ring/,
        attack: (bad) => {
          const q = bad.queues[0]!;
          q.tx.reqProd = 70_000;
          bad.guest.notify(q.txPort);
        },
      },
      {
        name: 'an rx req_prod far past the ring',
        why: /req_prod 70000 is past the ring/,
        attack: (bad) => {
          const q = bad.queues[0]!;
          q.rx.reqProd = 70_000;
          bad.guest.notify(q.rxPort);
        },
      },
      {
        name: 'a tx fragment crossing its page (offset + size > 4096)',
        why: /Cross page boundary, txp->offset: 4000, size: 200/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_more_data,
              id: 1,
              size: 300,
            }),
            NetFront.txRequest({ gref: h.grant(h.page()), offset: 4000, id: 2, size: 200 }),
          ]);
        },
      },
      {
        name: 'a first tx slot crossing its page',
        why: /txreq.offset: 4000, size: 200, end: 4200/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({ gref: h.grant(h.page()), offset: 4000, id: 1, size: 200 }),
          ]);
        },
      },
      {
        name: 'a GSO extra of size 0',
        why: /GSO size must not be zero/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_extra_info,
              id: 1,
              size: 100,
            }),
            NetFront.extraInfo(XEN_NETIF_EXTRA_TYPE_GSO, {
              size: 0,
              type: XEN_NETIF_GSO_TYPE_TCPV4,
            }),
          ]);
        },
      },
      {
        name: 'a GSO extra of an unknown GSO type',
        why: /Bad GSO type 7/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_extra_info,
              id: 1,
              size: 100,
            }),
            NetFront.extraInfo(XEN_NETIF_EXTRA_TYPE_GSO, { size: 1448, type: 7 }),
          ]);
        },
      },
      {
        name: 'an extra-info slot of type 0',
        why: /extra info type 0/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_extra_info,
              id: 1,
              size: 100,
            }),
            NetFront.extraInfo(0, { size: 1448, type: 1 }),
          ]);
        },
      },
      {
        name: 'an extra-info slot of a type past the last',
        why: /extra info type 200/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_extra_info,
              id: 1,
              size: 100,
            }),
            NetFront.extraInfo(
              XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
              { size: 0, type: 0 },
              XEN_NETIF_EXTRA_FLAG_MORE,
            ),
            NetFront.extraInfo(200, { size: 0, type: 0 }),
          ]);
        },
      },
      {
        name: 'extra_info with no slot published after it',
        why: /Missing extra info/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_extra_info,
              id: 1,
              size: 100,
            }),
          ]);
        },
      },
      {
        name: 'a more_data chain running past what was published',
        why: /Asked for 3 slots but exceeds this limit/,
        attack: (bad) => {
          const h = bad.guest;
          bad.sendRaw([
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_more_data,
              id: 1,
              size: 300,
            }),
            NetFront.txRequest({
              gref: h.grant(h.page()),
              flags: NETTXF_more_data,
              id: 2,
              size: 100,
            }),
          ]);
        },
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
        bad.sendRaw([NetFront.txRequest({ gref: h.grant(h.page()), id: 7, size: 10 })]);
        bad.sendRaw([
          NetFront.txRequest({
            gref: h.grant(h.page()),
            flags: NETTXF_more_data,
            id: 8,
            size: 100,
          }),
          NetFront.txRequest({ gref: h.grant(h.page()), id: 9, size: 500 }),
        ]);
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
        bad.sendRaw([NetFront.txRequest({ gref: never, id: 1, size: 60 })]);
        bad.sendRaw([NetFront.txRequest({ gref: theirs, id: 2, size: 60 })]);
        bad.sendRaw([NetFront.txRequest({ gref: 0xfffffff0, id: 3, size: 60 })]);
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
        const lines = rig.logs.slice(logsBefore).filter((l) => l.startsWith('netback:'));
        assert.ok(
          lines.some((l) => l.includes(`d${h.domid}`) || l.includes(`vif${h.domid}.0`)),
          `refused grant copies are logged:\n${rig.logs.slice(logsBefore).join('\n')}`,
        );
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
        const lines = rig.logs.slice(logsBefore).filter((l) => l.startsWith('netback:'));
        assert.ok(
          lines.some((l) => l.includes(`d${h.domid}`) || l.includes(`vif${h.domid}.0`)),
          `refused grant copies are logged:\n${rig.logs.slice(logsBefore).join('\n')}`,
        );
      }),
    );

    test(
      'garbage keys close each vif, and only it',
      inCase(machine, async (rig, goodGuest) => {
        const good = await goodVifs(goodGuest);
        const h = await rig.guest();
        const cases: [string, (h: FakeGuest) => KeyOverrides, RegExp][] = [
          ['tx-ring-ref abc', () => ({ 'tx-ring-ref': 'abc' }), /not a number: "abc"/],
          ['tx-ring-ref -1', () => ({ 'tx-ring-ref': '-1' }), /not a number: "-1"/],
          ['rx-ring-ref 2^66', () => ({ 'rx-ring-ref': '99999999999999999999' }), /not a number/],
          ['tx-ring-ref missing', () => ({ 'tx-ring-ref': undefined }), /ENOENT/],
          ['rx-ring-ref never granted', (g) => ({ 'rx-ring-ref': String(g.unusedRef()) }), /grant/],
          [
            'tx-ring-ref granted to another domain',
            (g) => ({ 'tx-ring-ref': String(g.grant(g.page(), { to: good[0].guest.domid })) }),
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
          [
            'request-rx-copy missing',
            () => ({ 'request-rx-copy': undefined }),
            /copying receive path/,
          ],
        ];
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
        for (const [devid, [name, , why]] of cases.entries()) {
          const front = fronts[devid]!;
          await until(
            `${name}: Closing`,
            async () => (await front.backendState()) === XenbusStateClosing,
          );
          const error = (await front.hotplugError()) ?? '';
          assert.match(error, why, `${name}: hotplug-error "${error}"`);
          assert.ok(
            rig.logs.includes(`${vifLabel(front, devid)}: ${error}; device closed`),
            `${name}: logged\n${rig.logs.join('\n')}`,
          );
        }
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
        const random = prng(SEED ^ 0x77);
        const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
        const u16 = () => (random() * 65536) | 0;
        const pages = Array.from({ length: 8 }, () => {
          const gfn = h.page();
          h.bytes(gfn).set(pattern(4096, gfn));
          return h.grant(gfn, { readonly: true });
        });
        const foreign = h.grant(h.page(), { to: good[0].guest.domid });
        const never = h.unusedRef();
        const gref = () =>
          pick([...pages, ...pages, ...pages, foreign, never, (random() * 2 ** 32) >>> 0]);
        const offset = (size: number) =>
          random() < 0.95 ? Math.floor(random() * Math.max(1, 4096 - size)) : u16();
        /** One packet's slots: mostly well formed, each field sometimes wrong. */
        const packet = (): Uint8Array[] => {
          if (random() < 0.03) {
            return [Uint8Array.from({ length: 12 }, () => (random() * 256) | 0)];
          }
          const fragments =
            random() < 0.7 ? 0 : 1 + Math.floor(random() * (random() < 0.95 ? 4 : 24));
          const sizes = Array.from({ length: fragments }, () =>
            random() < 0.95 ? 1 + Math.floor(random() * 1500) : u16(),
          );
          const head =
            random() < 0.9 ? 14 + Math.floor(random() * 1400) : Math.floor(random() * 20);
          const total = Math.min(0xffff, head + sizes.reduce((a, b) => a + b, 0));
          const size = random() < 0.95 ? total : u16();
          const extra = random() < 0.2;
          let flags = pick([
            0,
            NETTXF_csum_blank | NETTXF_data_validated,
            NETTXF_data_validated,
            u16() & 3,
          ]);
          if (fragments > 0) flags |= NETTXF_more_data;
          if (extra) flags |= NETTXF_extra_info;
          const slots = [
            NetFront.txRequest({ gref: gref(), offset: offset(head), flags, id: u16(), size }),
          ];
          if (extra) {
            const type = random() < 0.97 ? XEN_NETIF_EXTRA_TYPE_GSO : (random() * 256) | 0;
            const gsoSize = random() < 0.97 ? 500 + Math.floor(random() * 1000) : 0;
            const gsoType =
              random() < 0.97
                ? pick([XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6])
                : u16() & 0xff;
            slots.push(NetFront.extraInfo(type, { size: gsoSize, type: gsoType }));
          }
          sizes.forEach((s, i) => {
            const more = i + 1 < sizes.length || random() < 0.01 ? NETTXF_more_data : 0;
            slots.push(
              NetFront.txRequest({
                gref: gref(),
                offset: offset(s),
                flags: more,
                id: u16(),
                size: s,
              }),
            );
          });
          return slots;
        };

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

  // -------------------------------------------------------------------------------------
  // Dom0's shared resources

  describe("a hostile frontend and Dom0's shared resources", () => {
    test('a domain filling every slot of its rings does not starve other domains of Dom0', async () => {
      const before = unhandled.length;
      // A machine of its own: the hostile disk connects first, so that its event channels are
      // Dom0's lower ports and one upcall serves them before the good domain's. Dom0 gets 512
      // frames for its buffers (the host gives it 4096; a domain may have any number of disks).
      const rig = await BackendRig.start({ threaded: true, dom0Frames: 512 });
      try {
        const goodGuest = await rig.guest();
        const h = await rig.guest();
        const disks = [
          await BlkFront.attach(h, { image: await image('flood'), queues: 2, ringPageOrder: 4 }),
        ];
        const disk = await goodDisk(goodGuest);
        const [zero, one] = await goodVifs(goodGuest);
        // Two rings of 512 slots: 1024 reads of one page at once.
        const gref = h.grant(h.page());
        let flood = 0;
        for (const front of disks) {
          for (const [q, ring] of front.rings.entries()) {
            while (ring.free() > 0) {
              ring.put(
                BlkFront.readWrite(BLKIF_OP_READ, front.id(), 0, [{ gref, first: 0, last: 7 }]),
              );
              flood++;
            }
            ring.push();
            h.notify(front.ports[q]!);
          }
        }
        // The good domain's disk and vifs work in the same moment.
        const id = disk.id();
        const page = goodGuest.page();
        disk.submit(
          BlkFront.readWrite(BLKIF_OP_READ, id, 0, [
            { gref: goodGuest.grant(page), first: 0, last: 7 },
          ]),
        );
        const frame = tcpFrame(one.mac, zero.mac, 1000, 1);
        zero.send(frame);
        assert.equal((await disk.response(id)).status, BLKIF_RSP_OKAY, "the good disk's read");
        await until('the hostile requests answered', () => {
          for (const front of disks) front.collect();
          return disks.reduce((n, f) => n + f.responses.size, 0) === flood;
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
        goodDevices.length = 0;
        await rig.close();
      }
      assert.deepEqual(unhandled.slice(before), [], 'no unhandled rejection in Dom0');
    });
  });
}

// ---------------------------------------------------------------------------------------
// Cases that could hang Dom0 run in a worker with a deadline.

interface WorkerResult {
  state: number;
  hotplugError: string | undefined;
  goodWorks: boolean;
  logs: string[];
}

/** Runs `scenario` in a worker thread; fails if it does not answer within `ms`. */
function inWorker(scenario: string, ms: number): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { scenario },
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`Dom0 hung: ${scenario} gave no answer in ${ms} ms`));
    }, ms);
    worker.once('message', (result: WorkerResult) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Dom0 died in ${scenario}: ${error.message}`));
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${scenario}: worker exited with ${code} before answering`));
    });
  });
}

/**
 * Every slot of the ring holds a valid read; four are published and consumed, and held in
 * flight (the hypervisor's thread busy); then the frontend moves req_prod back by two and
 * notifies. ring.h's overflow check alone cannot see this (req_prod is still within a ring
 * of rsp_prod); a backend that takes req_prod - req_cons unchecked sees four thousand
 * million requests, and the slots it reads are all valid.
 */
async function reqProdBackwards(): Promise<WorkerResult> {
  const rig = await BackendRig.start({ threaded: true });
  try {
    const good = await goodDisk(await rig.guest());
    const h = await rig.guest();
    const bad = await BlkFront.attach(h, { image: await image('bad') });
    const ring = bad.rings[0]!;
    const gref = h.grant(h.page());
    for (let i = 0; i < ring.size; i++) {
      ring.writeSlot(
        i,
        BlkFront.readWrite(BLKIF_OP_READ, bad.id(), i * 8, [{ gref, first: 0, last: 7 }]),
      );
    }
    const release = rig.holdHypercalls();
    ring.reqProdPvt = 4;
    ring.push();
    h.notify(bad.ports[0]!);
    await until(
      'the backend to take the four requests',
      () => ring.reqEvent === ring.reqProdPvt + 1,
    );
    ring.reqProd = ring.reqProdPvt - 2;
    h.notify(bad.ports[0]!);
    await settle(20);
    release();
    await until(
      'the device to close',
      async () => (await bad.backendState()) === XenbusStateClosing,
    );
    let goodWorks = false;
    try {
      await diskWorks(good);
      goodWorks = true;
    } catch {}
    return {
      state: await bad.backendState(),
      hotplugError: await bad.hotplugError(),
      goodWorks,
      logs: rig.logs,
    };
  } finally {
    await rig.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}

if (
  !isMainThread &&
  (workerData as { scenario?: string } | null)?.scenario === 'blk-req-prod-backwards'
) {
  parentPort!.postMessage(await reqProdBackwards());
}
