/**
 * A hostile granter: the grant entries live in memory the granting guest rewrites at will.
 *
 * 1. Between operations, a model predicts every map and copy result from the entry as it
 *    is at that moment, and checks the frame reached, the bytes copied and the reference
 *    counts. 2. During operations (from inside the granter's frame lookups) the entry is
 *    rewritten again. 3. A worker thread rewrites the entries continuously in shared
 *    memory while mappings and copies run. In every case no frame but the granter's RAM is
 *    ever reached, nothing outside the copy's destination changes, and every reference
 *    taken is given back.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_copy_arg,
  GNTST_bad_gntref,
  GNTST_bad_page,
  GNTST_general_error,
  GNTST_okay,
  GTF_accept_transfer,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_transitive,
  GTF_type_mask,
  GTF_writing,
} from '../../abi/grant_table.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { PAGE_SIZE } from '../../x86/memory.js';
import type { GrantTable } from './index.js';
import {
  type FakeDomain,
  grantV1,
  grantV2,
  grantV2SubPage,
  grantV2Transitive,
  prng,
  readStatus,
  readV1,
  readV2,
  statusAddr,
  v1Addr,
  v2Addr,
  World,
} from './testing.js';

const SCALE = Number(process.env.XENOTYPE_FUZZ ?? 1) || 1;
const SEED = Number(process.env.XENOTYPE_SEED ?? 0x9e3779b9) >>> 0;
const REFS = [8, 9, 10, 11, 12, 13, 14, 15];

interface Entry {
  flags: number;
  domid: number;
  frame: number;
  pageOff: number;
  length: number;
  transDomid: number;
}

/** A random entry a hostile granter might write. */
function randomEntry(rnd: () => number, version: 1 | 2): Entry {
  const types = [
    0,
    GTF_permit_access,
    GTF_permit_access,
    GTF_permit_access | GTF_readonly,
    GTF_permit_access | GTF_sub_page,
    GTF_permit_access | GTF_readonly | GTF_sub_page,
    GTF_accept_transfer,
    GTF_transitive,
  ];
  let flags = types[Math.floor(rnd() * types.length)]!;
  if (rnd() < 0.2) flags |= GTF_reading;
  if (rnd() < 0.2) flags |= GTF_writing;
  if (rnd() < 0.05) flags |= Math.floor(rnd() * 0x10000);
  const r = rnd();
  const domid = r < 0.6 ? 2 : r < 0.8 ? 3 : Math.floor(rnd() * 0x10000);
  const f = rnd();
  const frame =
    f < 0.7
      ? Math.floor(rnd() * 4)
      : f < 0.85
        ? 4 + Math.floor(rnd() * 1000)
        : version === 2
          ? 2 ** 40
          : 0xffffffff;
  return {
    flags: flags & 0xffff,
    domid,
    frame,
    pageOff: Math.floor(rnd() * 4096),
    length: Math.floor(rnd() * 4097),
    transDomid: rnd() < 0.5 ? 1 : 99,
  };
}

function writeEntry(w: World, gt: GrantTable, ref: number, e: Entry): void {
  if (gt.version === 1) {
    grantV1(w, gt, ref, { flags: e.flags, domid: e.domid, frame: e.frame >>> 0 });
  } else if ((e.flags & GTF_type_mask) === GTF_transitive) {
    grantV2Transitive(w, gt, ref, {
      flags: e.flags,
      domid: e.domid,
      transDomid: e.transDomid,
      gref: 8,
    });
  } else if (e.flags & GTF_sub_page) {
    grantV2SubPage(w, gt, ref, { ...e, frame: e.frame });
  } else {
    grantV2(w, gt, ref, { flags: e.flags, domid: e.domid, frame: e.frame });
  }
}

/** The entry as it is now in memory. */
function readEntry(w: World, gt: GrantTable, ref: number): Entry {
  if (gt.version === 1) {
    const e = readV1(w, gt, ref);
    return { ...e, pageOff: 0, length: PAGE_SIZE, transDomid: 0 };
  }
  const e = readV2(w, gt, ref);
  return {
    flags: e.hdr.flags,
    domid: e.hdr.domid,
    frame: Number(e.full_page.frame),
    pageOff: e.sub_page.page_off,
    length: e.sub_page.length,
    transDomid: e.transitive.trans_domid,
  };
}

interface PinModel {
  domid: number;
  mfn: number;
  writers: number;
  readers: number;
  subPage: boolean;
}

interface Live {
  mapper: number;
  handle: number;
  ref: number;
  flags: number;
  mfn: number;
  kinds: number;
}

function modelTest(version: 1 | 2, steps: number, seed: number): void {
  const rnd = prng(seed);
  const w = new World(64);
  const { dom: d1, gt: g1 } = w.add(1, { ram: 4 });
  const mappers = new Map<number, { dom: FakeDomain; gt: GrantTable }>([
    [2, w.add(2, { ram: 4 })],
    [3, w.add(3, { ram: 4 })],
  ]);
  if (version === 2) g1.setVersion(2);
  for (const ref of REFS) writeEntry(w, g1, ref, randomEntry(rnd, version));

  const pins = new Map<number, PinModel>();
  const live: Live[] = [];
  const ramMfns = new Set(d1.p2m.values());
  const counts: Record<string, number> = {};
  const count = (what: string) => {
    counts[what] = (counts[what] ?? 0) + 1;
  };

  const typeOk = (e: Entry, mapping: boolean): boolean => {
    const mask = GTF_type_mask | (mapping || version === 2 ? GTF_sub_page : 0);
    // v1 copies ignore the sub-page bit; v2 copies accept it (bounded below).
    if (!mapping && version === 2) return (e.flags & GTF_type_mask) === GTF_permit_access;
    return (e.flags & mask) === GTF_permit_access;
  };

  const busyBits = (ref: number): number =>
    version === 1 ? readV1(w, g1, ref).flags & (GTF_reading | GTF_writing) : readStatus(w, g1, ref);

  for (let step = 0; step < steps; step++) {
    const r = rnd();
    if (r < 0.3) {
      // The granter rewrites an entry (pinned or not).
      writeEntry(w, g1, REFS[Math.floor(rnd() * REFS.length)]!, randomEntry(rnd, version));
      continue;
    }
    if (r < 0.6 && live.length < 100) {
      const mapperId = rnd() < 0.8 ? 2 : 3;
      const mapper = mappers.get(mapperId)!;
      const readonly = rnd() < 0.5;
      const kindsR = rnd();
      const flags =
        (kindsR < 0.7
          ? GNTMAP_host_map
          : kindsR < 0.85
            ? GNTMAP_device_map
            : GNTMAP_host_map | GNTMAP_device_map) | (readonly ? GNTMAP_readonly : 0);
      const bogus = rnd() < 0.05;
      const ref = bogus
        ? [512, 0xffffffff, 1 << 20][Math.floor(rnd() * 3)]!
        : REFS[Math.floor(rnd() * REFS.length)]!;
      const e = bogus ? undefined : readEntry(w, g1, ref);
      const pin = pins.get(ref);

      let expect: number;
      let expectMfn = -1;
      if (e === undefined) expect = GNTST_bad_gntref;
      else if (pin !== undefined && (pin.domid !== mapperId || pin.subPage))
        expect = GNTST_general_error;
      else if (pin === undefined || (!readonly && pin.writers === 0)) {
        if (pin === undefined && (!typeOk(e, true) || e.domid !== mapperId))
          expect = GNTST_general_error;
        else if (!readonly && e.flags & GTF_readonly) expect = GNTST_general_error;
        else if (pin !== undefined) {
          expect = GNTST_okay;
          expectMfn = pin.mfn;
        } else {
          const mfn = Number.isSafeInteger(e.frame) ? d1.p2m.get(e.frame) : undefined;
          if (mfn === undefined) expect = GNTST_bad_page;
          else {
            expect = GNTST_okay;
            expectMfn = mfn;
          }
        }
      } else {
        expect = GNTST_okay;
        expectMfn = pin.mfn;
      }

      const m = mapper.gt.mapGrantRef({ hostAddr: 0x1000, flags, ref, dom: 1 });
      assert.equal(
        m.status,
        expect,
        `step ${step}: map ${ref} flags ${flags} entry ${JSON.stringify(e)} pin ${JSON.stringify(pin)}`,
      );
      count(`map ${m.status}`);
      if (m.status === GNTST_okay) {
        assert.equal(m.mfn, expectMfn, `step ${step}`);
        assert.ok(ramMfns.has(m.mfn));
        const kinds = (flags & GNTMAP_host_map ? 1 : 0) + (flags & GNTMAP_device_map ? 1 : 0);
        live.push({ mapper: mapperId, handle: m.handle, ref, flags, mfn: m.mfn, kinds });
        const p: PinModel = pin ?? {
          domid: mapperId,
          mfn: m.mfn,
          writers: 0,
          readers: 0,
          subPage: false,
        };
        if (readonly) p.readers += kinds;
        else p.writers += kinds;
        pins.set(ref, p);
        // The busy bits are set when a pin of that access is first taken (later ones leave
        // the entry alone, whatever the guest did to it meanwhile).
        if (pin === undefined || (!readonly && pin.writers === 0)) {
          const busy = busyBits(ref);
          assert.ok(busy & GTF_reading, `step ${step}: reading set`);
          if (!readonly) assert.ok(busy & GTF_writing, `step ${step}: writing set`);
        }
      }
    } else if (r < 0.8 && live.length > 0) {
      const i = Math.floor(rnd() * live.length);
      const l = live[i]!;
      live.splice(i, 1);
      const mapper = mappers.get(l.mapper)!;
      const u = mapper.gt.unmapGrantRef({
        handle: l.handle,
        hostAddr: 0x1000,
        devBusAddr: l.mfn * PAGE_SIZE,
      });
      assert.deepEqual(u, { status: GNTST_okay, mfn: l.mfn }, `step ${step}: unmap`);
      const p = pins.get(l.ref)!;
      if (l.flags & GNTMAP_readonly) p.readers -= l.kinds;
      else p.writers -= l.kinds;
      // Xen clears GTF_reading when nothing is pinned and GTF_writing when a writer goes
      // and no writer is left; bits the guest set itself otherwise stay.
      if (p.readers + p.writers === 0) {
        pins.delete(l.ref);
        assert.equal(busyBits(l.ref) & GTF_reading, 0, `step ${step}: idle entry, GTF_reading`);
      }
      if (p.writers === 0 && !(l.flags & GNTMAP_readonly)) {
        assert.equal(busyBits(l.ref) & GTF_writing, 0, `step ${step}: no writers, GTF_writing`);
      }
    } else {
      // d2 copies from (or into) a grant, to (or from) its own frame 0.
      const ref = REFS[Math.floor(rnd() * REFS.length)]!;
      const intoGrant = rnd() < 0.4;
      const readonly = !intoGrant;
      const e = readEntry(w, g1, ref);
      const pin = pins.get(ref);
      const offset = Math.floor(rnd() * PAGE_SIZE);
      const len = 1 + Math.floor(rnd() * 64);
      const own = mappers.get(2)!.dom.mfn(0);
      const grantSide = { u: ref, domid: 1, offset };
      const ownSide = { u: 0, domid: DOMID_SELF, offset: Math.floor(rnd() * (PAGE_SIZE - 64)) };

      let expect: number;
      let frame = -1;
      let start = 0;
      let length = PAGE_SIZE;
      if (pin !== undefined && pin.domid !== 2) expect = GNTST_general_error;
      else if (version === 2 && (e.flags & GTF_type_mask) === GTF_transitive) {
        // Followed whether pinned or not, like Xen; these point back at the granter
        // (self-referential) or at no domain: refused.
        expect = GNTST_general_error;
      } else if (pin === undefined || (!readonly && pin.writers === 0)) {
        if (pin === undefined && (!typeOk(e, false) || e.domid !== 2)) expect = GNTST_general_error;
        else if (!readonly && e.flags & GTF_readonly) expect = GNTST_general_error;
        else {
          const mfn = Number.isSafeInteger(e.frame) ? d1.p2m.get(e.frame) : undefined;
          if (mfn === undefined) expect = GNTST_bad_page;
          else if (pin !== undefined && mfn !== pin.mfn) expect = GNTST_general_error;
          else {
            expect = GNTST_okay;
            frame = mfn;
            if (version === 2 && e.flags & GTF_sub_page && pin === undefined) {
              start = e.pageOff;
              length = e.length;
            }
          }
        }
      } else {
        expect = GNTST_okay;
        frame = pin.mfn;
      }
      if (expect === GNTST_okay) {
        if (offset + len > PAGE_SIZE) expect = GNTST_bad_copy_arg;
        else if (offset < start || offset + len > start + length) expect = GNTST_general_error;
      }

      const snapshot = w.machine.bytes.slice();
      const rc = mappers.get(2)!.gt.copy({
        source: intoGrant ? ownSide : grantSide,
        dest: intoGrant ? grantSide : ownSide,
        len,
        flags: intoGrant ? GNTCOPY_dest_gref : GNTCOPY_source_gref,
      });
      assert.equal(
        rc,
        expect,
        `step ${step}: copy ${intoGrant ? 'into' : 'from'} ${ref} entry ${JSON.stringify(e)}`,
      );
      count(`copy ${rc}`);
      // Exactly the destination bytes changed, to the source bytes; and in the entry only
      // its busy bits (a copy clears GTF_reading/GTF_writing it finds set by the guest).
      const expected = snapshot.slice();
      if (rc === GNTST_okay) {
        const [dstAt, srcAt] = intoGrant
          ? [frame * PAGE_SIZE + offset, own * PAGE_SIZE + ownSide.offset]
          : [own * PAGE_SIZE + ownSide.offset, frame * PAGE_SIZE + offset];
        expected.set(snapshot.subarray(srcAt, srcAt + len), dstAt);
      }
      const busyAt = version === 1 ? v1Addr(g1, ref) : statusAddr(g1, ref);
      const was = snapshot[busyAt]! | (snapshot[busyAt + 1]! << 8);
      const now = w.machine.bytes[busyAt]! | (w.machine.bytes[busyAt + 1]! << 8);
      assert.equal((was ^ now) & ~(GTF_reading | GTF_writing), 0, `step ${step}: entry changed`);
      expected[busyAt] = now & 0xff;
      expected[busyAt + 1] = now >>> 8;
      assert.ok(
        Buffer.from(expected).equals(Buffer.from(w.machine.bytes)),
        `step ${step}: memory changed`,
      );
      // Copies hold nothing afterwards.
    }

    const expectedRefs = live.reduce((n, l) => n + l.kinds, 0);
    assert.equal(d1.refCount, expectedRefs, `step ${step}: references`);
    assert.equal(g1.pinned, pins.size, `step ${step}: pinned entries`);
  }

  for (const l of live) {
    const u = mappers
      .get(l.mapper)!
      .gt.unmapGrantRef({ handle: l.handle, hostAddr: 1, devBusAddr: l.mfn * PAGE_SIZE });
    assert.equal(u.status, GNTST_okay);
  }
  assert.equal(d1.refCount, 0);
  assert.equal(g1.pinned, 0);
  // Enough of each outcome happened for the run to mean something.
  for (const what of [
    `map ${GNTST_okay}`,
    `map ${GNTST_general_error}`,
    `map ${GNTST_bad_page}`,
    `copy ${GNTST_okay}`,
    `copy ${GNTST_general_error}`,
  ]) {
    assert.ok((counts[what] ?? 0) > 0, `${what} never happened: ${JSON.stringify(counts)}`);
  }
}

/** Rewrites entries from inside the operations, when the granter's frames are looked up. */
function racingTest(version: 1 | 2, steps: number, seed: number): void {
  const rnd = prng(seed);
  const w = new World();
  const { dom: d1, gt: g1 } = w.add(1, { ram: 4 });
  const { dom: d2, gt: g2 } = w.add(2, { ram: 4 });
  const { dom: d3 } = w.add(3, { ram: 4 });
  if (version === 2) g1.setVersion(2);
  const canary = [...d3.p2m.values()].map((mfn) =>
    w.machine.bytes.slice(mfn * PAGE_SIZE, (mfn + 1) * PAGE_SIZE),
  );
  const ram = new Set(d1.p2m.values());
  let target = 8;
  d1.onAccess = () => {
    if (rnd() < 0.7) writeEntry(w, g1, target, randomEntry(rnd, version));
  };
  const live: { handle: number; mfn: number }[] = [];
  let ok = 0;
  for (let step = 0; step < steps; step++) {
    target = REFS[Math.floor(rnd() * REFS.length)]!;
    writeEntry(w, g1, target, randomEntry(rnd, version));
    const what = rnd();
    if (what < 0.45) {
      const flags = GNTMAP_host_map | (rnd() < 0.5 ? GNTMAP_readonly : 0);
      const m = g2.mapGrantRef({ hostAddr: 1, flags, ref: target, dom: 1 });
      if (m.status === GNTST_okay) {
        assert.ok(ram.has(m.mfn), `step ${step}: mapped ${m.mfn}, not the granter's RAM`);
        live.push({ handle: m.handle, mfn: m.mfn });
        ok++;
      }
    } else if (what < 0.7 && live.length > 0) {
      const l = live.splice(Math.floor(rnd() * live.length), 1)[0]!;
      assert.equal(
        g2.unmapGrantRef({ handle: l.handle, hostAddr: 1, devBusAddr: 0 }).status,
        GNTST_okay,
      );
    } else {
      const into = rnd() < 0.5;
      const g = { u: target, domid: 1, offset: Math.floor(rnd() * 4000) };
      const o = { u: 1, domid: DOMID_SELF, offset: 0 };
      g2.copy({
        source: into ? o : g,
        dest: into ? g : o,
        len: 64,
        flags: into ? GNTCOPY_dest_gref : GNTCOPY_source_gref,
      });
    }
    assert.equal(d1.refCount, live.length, `step ${step}`);
  }
  for (const l of live) g2.unmapGrantRef({ handle: l.handle, hostAddr: 1, devBusAddr: 0 });
  assert.equal(d1.refCount + d2.refCount, 0);
  assert.equal(g1.pinned, 0);
  assert.ok(ok > 0);
  [...d3.p2m.values()].forEach((mfn, i) => {
    assert.deepEqual(w.machine.bytes.slice(mfn * PAGE_SIZE, (mfn + 1) * PAGE_SIZE), canary[i]);
  });
}

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const u32 = new Uint32Array(workerData.buffer);
const ctl = new Int32Array(workerData.control);
const { headers, frames, hdrValues, frameValues } = workerData;
let x = workerData.seed >>> 0;
const next = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
parentPort.postMessage('ready');
while (Atomics.load(ctl, 0) === 0) {
  const i = next() % headers.length;
  if (next() & 1) Atomics.store(u32, headers[i], hdrValues[next() % hdrValues.length]);
  else Atomics.store(u32, frames[i], frameValues[next() % frameValues.length]);
  Atomics.add(ctl, 1, 1);
}
`;

async function concurrentTest(version: 1 | 2, ops: number, seed: number): Promise<void> {
  const rnd = prng(seed);
  const w = new World();
  const { dom: d1, gt: g1 } = w.add(1, { ram: 4 });
  const { dom: d2, gt: g2 } = w.add(2, { ram: 4 });
  const { dom: d3, gt: g3 } = w.add(3, { ram: 4 });
  if (version === 2) g1.setVersion(2);
  const protectedFrames = [...d3.p2m.values(), ...g3.sharedFrames, ...d2.p2m.values()].filter(
    (mfn) => mfn !== d2.mfn(1),
  );
  const before = protectedFrames.map((mfn) =>
    w.machine.bytes.slice(mfn * PAGE_SIZE, (mfn + 1) * PAGE_SIZE),
  );
  const ram = new Set(d1.p2m.values());

  const at = (ref: number) => (version === 1 ? v1Addr(g1, ref) : v2Addr(g1, ref));
  const headers = REFS.map((ref) => at(ref) >>> 2);
  const frames = REFS.map((ref) => (at(ref) + (version === 1 ? 4 : 8)) >>> 2);
  const hdrValues: number[] = [];
  for (const flags of [
    0,
    GTF_permit_access,
    GTF_permit_access | GTF_readonly,
    GTF_permit_access | GTF_sub_page,
    GTF_transitive,
    GTF_permit_access | GTF_reading | GTF_writing,
  ]) {
    for (const domid of [2, 2, 3, 0x7ff0]) hdrValues.push(((domid << 16) | flags) >>> 0);
  }
  const frameValues = [0, 1, 2, 3, 3, 4, 1000, 0xffffffff];
  const control = new SharedArrayBuffer(16);
  const ctl = new Int32Array(control);
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: {
      buffer: w.machine.bytes.buffer,
      control,
      headers,
      frames,
      hdrValues,
      frameValues,
      seed,
    },
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });

  const live: { handle: number; mfn: number }[] = [];
  let mapped = 0;
  let lastFlips = 0;
  try {
    for (let i = 0; i < ops; i++) {
      const ref = REFS[Math.floor(rnd() * REFS.length)]!;
      const what = rnd();
      if (what < 0.4) {
        const flags = GNTMAP_host_map | (rnd() < 0.5 ? GNTMAP_readonly : 0);
        const m = g2.mapGrantRef({ hostAddr: 1, flags, ref, dom: 1 });
        if (m.status === GNTST_okay) {
          assert.ok(ram.has(m.mfn), `mapped ${m.mfn}, not the granter's RAM`);
          live.push(m);
          mapped++;
        }
      } else if (what < 0.7 && live.length > 0) {
        const l = live.splice(Math.floor(rnd() * live.length), 1)[0]!;
        assert.equal(
          g2.unmapGrantRef({ handle: l.handle, hostAddr: 1, devBusAddr: 0 }).status,
          GNTST_okay,
        );
      } else {
        const into = rnd() < 0.5;
        const g = { u: ref, domid: 1, offset: Math.floor(rnd() * 4000) };
        const o = { u: 1, domid: DOMID_SELF, offset: 0 };
        g2.copy({
          source: into ? o : g,
          dest: into ? g : o,
          len: 96,
          flags: into ? GNTCOPY_dest_gref : GNTCOPY_source_gref,
        });
      }
      assert.equal(d1.refCount, live.length);
      if (i % 256 === 255) {
        // Make sure the flipper gets to run even on one core.
        const flips = Atomics.load(ctl, 1);
        if (flips === lastFlips) Atomics.wait(ctl, 2, 0, 1);
        lastFlips = flips;
      }
    }
  } finally {
    Atomics.store(ctl, 0, 1);
    await new Promise((resolve) => worker.once('exit', resolve));
  }
  for (const l of live) g2.unmapGrantRef({ handle: l.handle, hostAddr: 1, devBusAddr: 0 });
  assert.equal(d1.refCount + d2.refCount + d3.refCount, 0);
  assert.equal(g1.pinned, 0);
  assert.ok(Atomics.load(ctl, 1) > 0, 'the flipper ran');
  assert.ok(mapped > 0, 'some mappings succeeded');
  protectedFrames.forEach((mfn, i) => {
    assert.deepEqual(
      w.machine.bytes.slice(mfn * PAGE_SIZE, (mfn + 1) * PAGE_SIZE),
      before[i],
      `frame ${mfn} changed`,
    );
  });
  if (version === 2) assert.ok(statusAddr(g1, 8) > 0);
}

describe('hostile granter', () => {
  for (const version of [1, 2] as const) {
    test(`v${version}: entries rewritten between operations; results match the model`, () => {
      modelTest(version, 3000 * SCALE, SEED + version);
    });
    test(`v${version}: entries rewritten during operations`, () => {
      racingTest(version, 3000 * SCALE, SEED + 10 + version);
    });
    test(`v${version}: a worker thread rewrites entries concurrently`, async () => {
      await concurrentTest(version, 20000 * SCALE, SEED + 20 + version);
    });
  }
});
