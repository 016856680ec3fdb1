import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_EBUSY,
  XEN_EINVAL,
  XEN_ENOMEM,
  XEN_ENOSYS,
  XEN_EPERM,
  XEN_ERANGE,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_page,
  GNTST_eagain,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GNTTAB_CACHE_CLEAN,
  GNTTAB_CACHE_INVAL,
  GNTTAB_CACHE_SOURCE_GREF,
  GTF_accept_transfer,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_transitive,
  GTF_writing,
  grant_entry_v1,
  grant_entry_v2,
} from '../../abi/grant_table.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { PAGE_SIZE } from '../../x86/memory.js';
import { GrantTable, GrantTableError } from './index.js';
import {
  FakeMachine,
  grantV1,
  grantV2,
  grantV2Transitive,
  readStatus,
  readV1,
  readV2,
  World,
} from './testing.js';

describe('grant table: creation and size', () => {
  test('a new table has one zeroed frame at version 1', () => {
    const w = new World();
    const { dom, gt } = w.add(1);
    assert.equal(gt.version, 1);
    assert.equal(gt.sharedFrames.length, 1);
    assert.equal(gt.statusFrames.length, 0);
    assert.equal(gt.nrEntries, PAGE_SIZE / grant_entry_v1.size);
    assert.equal(gt.nrEntries, 512);
    const mfn = gt.sharedFrames[0]!;
    assert.ok(dom.xenFrames.has(mfn));
    assert.ok(
      w.machine.bytes.subarray(mfn * PAGE_SIZE, (mfn + 1) * PAGE_SIZE).every((b) => b === 0),
    );
  });

  test('frames handed out dirty are cleared', () => {
    const w = new World();
    const { dom } = w.add(1);
    const mfn = w.machine.alloc()!;
    w.machine.bytes.fill(0xaa, mfn * PAGE_SIZE, (mfn + 1) * PAGE_SIZE);
    w.machine.free(mfn);
    const { gt } = w.add(2, { ram: 0 });
    assert.equal(gt.sharedFrames[0], mfn);
    assert.equal(w.machine.bytes[mfn * PAGE_SIZE + 100], 0);
    assert.ok(dom);
  });

  test('bad limits and out of memory at creation throw GrantTableError', () => {
    const m = new FakeMachine(16);
    const w = new World();
    const { dom } = w.add(1);
    assert.throws(
      () => new GrantTable(dom, m, () => undefined, { maxFrames: 0, maxMaptrackFrames: 1 }),
      GrantTableError,
    );
    assert.throws(
      () => new GrantTable(dom, m, () => undefined, { maxFrames: 1, maxMaptrackFrames: -1 }),
      GrantTableError,
    );
    dom.oom = true;
    assert.throws(
      () => new GrantTable(dom, w.machine, () => undefined, { maxFrames: 4, maxMaptrackFrames: 1 }),
      /out of memory/,
    );
    const bad = {
      ...dom,
      domid: 9,
      allocXenFrame: () => 1 << 30,
      freeXenFrame: () => {},
      gfnToMfn: () => undefined,
      getFrame: () => false,
      putFrame: () => {},
    };
    assert.throws(
      () => new GrantTable(bad, w.machine, () => undefined, { maxFrames: 4, maxMaptrackFrames: 1 }),
      GrantTableError,
    );
  });

  test('query_size: own, controlled, uncontrolled and missing domains', () => {
    const w = new World();
    const { gt: g0 } = w.add(0, { controls: [1] });
    const { gt: g1 } = w.add(1, { limits: { maxFrames: 5 } });
    assert.deepEqual(g1.querySize(DOMID_SELF), { status: GNTST_okay, nrFrames: 1, maxNrFrames: 5 });
    assert.deepEqual(g1.querySize(1), { status: GNTST_okay, nrFrames: 1, maxNrFrames: 5 });
    assert.deepEqual(g0.querySize(1), { status: GNTST_okay, nrFrames: 1, maxNrFrames: 5 });
    assert.equal(g1.querySize(0).status, GNTST_permission_denied);
    assert.equal(g1.querySize(7).status, GNTST_bad_domain);
    assert.equal(g1.querySize(0x7ff1).status, GNTST_bad_domain);
  });

  test('setup_table grows the table and returns its frames', () => {
    const w = new World();
    const { gt: g0 } = w.add(0, { controls: [1] });
    const { dom, gt } = w.add(1, { limits: { maxFrames: 4 } });
    const r = gt.setupTable(DOMID_SELF, 3);
    assert.equal(r.status, GNTST_okay);
    assert.equal(r.frames.length, 3);
    assert.deepEqual(r.frames, gt.sharedFrames);
    for (const f of r.frames) assert.ok(dom.xenFrames.has(f));
    assert.equal(gt.nrEntries, 3 * 512);
    // Fewer frames than the table has: the first ones, no shrinking.
    assert.deepEqual(gt.setupTable(1, 1), { status: GNTST_okay, frames: [r.frames[0]] });
    assert.deepEqual(gt.setupTable(1, 0), { status: GNTST_okay, frames: [] });
    assert.equal(gt.sharedFrames.length, 3);
    // Beyond the limit.
    assert.deepEqual(gt.setupTable(1, 5), { status: GNTST_general_error, frames: [] });
    // Out of memory: nothing changes, nothing leaks.
    dom.oom = true;
    assert.equal(gt.setupTable(1, 4).status, GNTST_general_error);
    assert.equal(gt.sharedFrames.length, 3);
    dom.oom = false;
    // Another domain: the controller may, others may not.
    assert.equal(g0.setupTable(1, 4).status, GNTST_okay);
    assert.equal(gt.sharedFrames.length, 4);
    assert.equal(gt.setupTable(0, 1).status, GNTST_permission_denied);
    assert.equal(gt.setupTable(42, 1).status, GNTST_bad_domain);
  });

  test('setup_table under v2 also grows the status frames', () => {
    const w = new World();
    const { gt } = w.add(1, { limits: { maxFrames: 16 } });
    assert.equal(gt.setVersion(2).rc, 0);
    assert.equal(gt.statusFrames.length, 1);
    assert.equal(gt.setupTable(1, 9).status, GNTST_okay);
    // 9 frames × 256 entries = 2304 status entries → 2 status frames of 2048.
    assert.equal(gt.statusFrames.length, 2);
    assert.equal(gt.nrEntries, 9 * 256);
  });

  test('frameForIndex grows on demand like gnttab_map_frame', () => {
    const w = new World();
    const { gt } = w.add(1, { limits: { maxFrames: 4 } });
    const f2 = gt.frameForIndex(2, false);
    assert.ok(f2 >= 0);
    assert.equal(gt.sharedFrames.length, 3);
    assert.equal(gt.sharedFrames[2], f2);
    assert.equal(gt.frameForIndex(0, false), gt.sharedFrames[0]);
    assert.equal(gt.frameForIndex(4, false), -XEN_EINVAL);
    assert.equal(gt.frameForIndex(-1, false), -XEN_EINVAL);
    // Status frames only exist under v2.
    assert.equal(gt.frameForIndex(0, true), -XEN_EINVAL);
    assert.equal(gt.setVersion(2).rc, 0);
    assert.equal(gt.frameForIndex(0, true), gt.statusFrames[0]);
    // Status frame 1 means growing to the 16 grant frames two status frames cover.
    assert.equal(gt.frameForIndex(1, true), -XEN_EINVAL);
    assert.equal(gt.sharedFrames.length, 3);
    const { gt: big } = w.add(2, { limits: { maxFrames: 16 } });
    big.setVersion(2);
    const s1 = big.frameForIndex(1, true);
    assert.ok(s1 >= 0);
    assert.equal(big.sharedFrames.length, 16);
    assert.equal(big.statusFrames[1], s1);
  });
});

describe('grant table: versions', () => {
  test('set_version argument checks', () => {
    const w = new World();
    const { gt } = w.add(1);
    assert.deepEqual(gt.setVersion(0), { rc: -XEN_EINVAL, version: 1 });
    assert.deepEqual(gt.setVersion(3), { rc: -XEN_EINVAL, version: 1 });
    assert.deepEqual(gt.setVersion(1), { rc: 0, version: 1 });
    const { gt: v1only } = w.add(2, { limits: { maxVersion: 1 } });
    assert.deepEqual(v1only.setVersion(2), { rc: -XEN_ENOSYS, version: 1 });
    assert.deepEqual(gt.setVersion(2), { rc: 0, version: 2 });
    assert.deepEqual(gt.setVersion(2), { rc: 0, version: 2 });
    assert.deepEqual(gt.setVersion(1), { rc: 0, version: 1 });
  });

  test('get_version: own, foreign and missing domains', () => {
    const w = new World();
    const { gt: g0 } = w.add(0, { controls: [1] });
    const { gt } = w.add(1);
    gt.setVersion(2);
    assert.deepEqual(gt.getVersion(DOMID_SELF), { rc: 0, version: 2 });
    assert.deepEqual(g0.getVersion(1), { rc: 0, version: 2 });
    assert.deepEqual(g0.getVersion(0), { rc: 0, version: 1 });
    assert.equal(gt.getVersion(0).rc, -XEN_EPERM);
    assert.equal(gt.getVersion(9).rc, -XEN_ESRCH);
  });

  test('v1 → v2 keeps the 8 reserved entries, moves their busy bits to status, clears the rest', () => {
    const w = new World();
    const { gt } = w.add(1, { limits: { maxFrames: 2 } });
    gt.setupTable(1, 2);
    grantV1(w, gt, 0, { flags: GTF_permit_access | GTF_reading, domid: 0, frame: 0x1234 });
    grantV1(w, gt, 1, {
      flags: GTF_permit_access | GTF_readonly | GTF_reading | GTF_writing,
      domid: 5,
      frame: 77,
    });
    grantV1(w, gt, 7, { flags: GTF_accept_transfer, domid: 3, frame: 9 });
    grantV1(w, gt, 8, { flags: GTF_permit_access, domid: 2, frame: 5 });
    grantV1(w, gt, 600, { flags: GTF_permit_access, domid: 2, frame: 6 });

    assert.deepEqual(gt.setVersion(2), { rc: 0, version: 2 });
    assert.equal(gt.statusFrames.length, 1);
    assert.equal(gt.nrEntries, 2 * 256);
    const e0 = readV2(w, gt, 0);
    assert.deepEqual(e0.hdr, { flags: GTF_permit_access, domid: 0 });
    assert.equal(e0.full_page.frame, 0x1234n);
    assert.equal(readStatus(w, gt, 0), GTF_reading);
    const e1 = readV2(w, gt, 1);
    assert.deepEqual(e1.hdr, { flags: GTF_permit_access | GTF_readonly, domid: 5 });
    assert.equal(e1.full_page.frame, 77n);
    assert.equal(readStatus(w, gt, 1), GTF_reading | GTF_writing);
    // Reserved entries of other types are copied as they are into the header.
    assert.deepEqual(readV2(w, gt, 7).hdr, { flags: GTF_accept_transfer, domid: 3 });
    assert.equal(readV2(w, gt, 7).full_page.frame, 9n);
    // Everything else is cleared.
    for (const ref of [8, 300, 511])
      assert.deepEqual(readV2(w, gt, ref).hdr, { flags: 0, domid: 0 });
  });

  test('v2 → v1 merges status back, drops non-access reserved entries, frees status frames', () => {
    const w = new World();
    const { dom, gt } = w.add(1);
    gt.setVersion(2);
    const status = gt.statusFrames[0]!;
    grantV2(w, gt, 2, { flags: GTF_permit_access | GTF_readonly, domid: 4, frame: 0xabcdef });
    w.view.setUint16(status * PAGE_SIZE + 2 * 2, GTF_reading, true);
    grantV2(w, gt, 3, { flags: GTF_accept_transfer, domid: 4, frame: 1 });
    grantV2(w, gt, 100, { flags: GTF_permit_access, domid: 4, frame: 1 });

    assert.deepEqual(gt.setVersion(1), { rc: 0, version: 1 });
    assert.deepEqual(gt.statusFrames, []);
    assert.deepEqual(dom.freed, [status]);
    assert.deepEqual(readV1(w, gt, 2), {
      flags: GTF_permit_access | GTF_readonly | GTF_reading,
      domid: 4,
      frame: 0xabcdef,
    });
    assert.deepEqual(readV1(w, gt, 3), { flags: 0, domid: 0, frame: 0 });
    assert.deepEqual(readV1(w, gt, 200), { flags: 0, domid: 0, frame: 0 });
    assert.deepEqual(gt.getStatusFrames(DOMID_SELF, 1), {
      status: GNTST_general_error,
      frames: [],
    });
  });

  test('v2 → v1 refuses reserved grants v1 cannot hold (-ERANGE), changing nothing', () => {
    const w = new World();
    const { gt } = w.add(1);
    gt.setVersion(2);
    grantV2(w, gt, 4, { flags: GTF_permit_access, domid: 4, frame: 0x1_0000_0000n });
    assert.deepEqual(gt.setVersion(1), { rc: -XEN_ERANGE, version: 2 });
    assert.equal(readV2(w, gt, 4).full_page.frame, 0x1_0000_0000n);
    // An accept-transfer entry with a big frame is fine (it is dropped).
    grantV2(w, gt, 4, { flags: GTF_accept_transfer, domid: 4, frame: 0x1_0000_0000n });
    grantV2Transitive(w, gt, 5, { flags: GTF_transitive, domid: 4, transDomid: 2, gref: 3 });
    assert.deepEqual(gt.setVersion(1), { rc: -XEN_ERANGE, version: 2 });
    grantV2(w, gt, 5, { flags: 0, domid: 0, frame: 0 });
    assert.deepEqual(gt.setVersion(1), { rc: 0, version: 1 });
  });

  test('v1 → v2 out of memory for the status frames: -ENOMEM, still v1, entries intact', () => {
    const w = new World();
    const { dom, gt } = w.add(1);
    grantV1(w, gt, 9, { flags: GTF_permit_access, domid: 2, frame: 3 });
    dom.oom = true;
    assert.deepEqual(gt.setVersion(2), { rc: -XEN_ENOMEM, version: 1 });
    assert.equal(readV1(w, gt, 9).frame, 3);
  });

  test('entries in use beyond the reserved 8 block a switch (-EBUSY); reserved ones do not', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1);
    const { gt: g2 } = w.add(2);
    grantV1(w, g1, 0, { flags: GTF_permit_access, domid: 2, frame: 0 });
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 1 });
    const m8 = g2.mapGrantRef({ hostAddr: 0x1000, flags: GNTMAP_host_map, ref: 8, dom: 1 });
    assert.equal(m8.status, GNTST_okay);
    assert.deepEqual(g1.setVersion(2), { rc: -XEN_EBUSY, version: 1 });
    assert.equal(
      g2.unmapGrantRef({ handle: m8.handle, hostAddr: 0x1000, devBusAddr: 0 }).status,
      0,
    );

    // The console ring (ref 0) stays mapped across the switch and unmaps cleanly after it.
    const m0 = g2.mapGrantRef({
      hostAddr: 0x2000,
      flags: GNTMAP_host_map | GNTMAP_readonly,
      ref: 0,
      dom: 1,
    });
    assert.equal(m0.status, GNTST_okay);
    assert.equal(readV1(w, g1, 0).flags, GTF_permit_access | GTF_reading);
    assert.deepEqual(g1.setVersion(2), { rc: 0, version: 2 });
    assert.equal(readStatus(w, g1, 0), GTF_reading);
    assert.equal(readV2(w, g1, 0).hdr.flags, GTF_permit_access);
    assert.equal(
      g2.unmapGrantRef({ handle: m0.handle, hostAddr: 0x2000, devBusAddr: 0 }).status,
      0,
    );
    assert.equal(readStatus(w, g1, 0), 0);
    assert.equal(d1.refCount, 0);
  });

  test('get_status_frames', () => {
    const w = new World();
    const { gt: g0 } = w.add(0, { controls: [1] });
    const { gt } = w.add(1);
    assert.deepEqual(gt.getStatusFrames(DOMID_SELF, 0), { status: GNTST_okay, frames: [] });
    assert.equal(gt.getStatusFrames(DOMID_SELF, 1).status, GNTST_general_error);
    gt.setVersion(2);
    assert.deepEqual(gt.getStatusFrames(DOMID_SELF, 1), {
      status: GNTST_okay,
      frames: gt.statusFrames,
    });
    assert.equal(gt.getStatusFrames(DOMID_SELF, 2).status, GNTST_general_error);
    assert.equal(g0.getStatusFrames(1, 1).status, GNTST_okay);
    assert.equal(gt.getStatusFrames(0, 0).status, GNTST_permission_denied);
    assert.equal(gt.getStatusFrames(33, 0).status, GNTST_bad_domain);
  });
});

describe('grant table: layouts', () => {
  test('v1 entries are 8 bytes, 512 a frame; refs in later frames land where the abi says', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1, { ram: 8 });
    const { gt: g2 } = w.add(2);
    g1.setupTable(1, 3);
    assert.equal(grant_entry_v1.size, 8);
    for (const ref of [0, 511, 512, 1000, 1535]) {
      const gfn = ref % 8;
      grantV1(w, g1, ref, { flags: GTF_permit_access, domid: 2, frame: gfn });
      const m = g2.mapGrantRef({ hostAddr: 0x1000, flags: GNTMAP_host_map, ref, dom: 1 });
      assert.equal(m.status, GNTST_okay, `ref ${ref}`);
      assert.equal(m.mfn, d1.mfn(gfn));
      // The flags half of exactly this entry changed.
      assert.equal(readV1(w, g1, ref).flags, GTF_permit_access | GTF_reading | GTF_writing);
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x1000, devBusAddr: 0 });
      assert.deepEqual(readV1(w, g1, ref), { flags: GTF_permit_access, domid: 2, frame: gfn });
    }
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: GNTMAP_host_map, ref: 1536, dom: 1 }).status,
      GNTST_bad_gntref,
    );
  });

  test('v2 entries are 16 bytes, 256 a frame; status is 2 bytes, 2048 a frame', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1, { ram: 8, limits: { maxFrames: 10 } });
    const { gt: g2 } = w.add(2);
    g1.setVersion(2);
    g1.setupTable(1, 9);
    assert.equal(grant_entry_v2.size, 16);
    assert.equal(g1.statusFrames.length, 2);
    for (const ref of [0, 255, 256, 2047, 2048, 2303]) {
      const gfn = ref % 8;
      grantV2(w, g1, ref, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: gfn });
      const m = g2.mapGrantRef({
        hostAddr: 0x1000,
        flags: GNTMAP_host_map | GNTMAP_readonly,
        ref,
        dom: 1,
      });
      assert.equal(m.status, GNTST_okay, `ref ${ref}`);
      assert.equal(m.mfn, d1.mfn(gfn));
      // v2 never writes the header: the busy bits go to the status entry.
      assert.equal(readV2(w, g1, ref).hdr.flags, GTF_permit_access | GTF_readonly);
      assert.equal(readStatus(w, g1, ref), GTF_reading);
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x1000, devBusAddr: 0 });
      assert.equal(readStatus(w, g1, ref), 0);
    }
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: GNTMAP_host_map, ref: 2304, dom: 1 }).status,
      GNTST_bad_gntref,
    );
  });

  test('v2 frames above 2^53 are bad pages, not rounded into range', () => {
    const w = new World();
    const { gt: g1 } = w.add(1);
    const { gt: g2 } = w.add(2);
    g1.setVersion(2);
    grantV2(w, g1, 10, { flags: GTF_permit_access, domid: 2, frame: (1n << 60n) + 1n });
    const m = g2.mapGrantRef({ hostAddr: 0x1000, flags: GNTMAP_host_map, ref: 10, dom: 1 });
    assert.equal(m.status, GNTST_bad_page);
    assert.equal(readStatus(w, g1, 10), 0);
  });
});

describe('grant table: swap, transfer, cache flush', () => {
  test('swap_grant_ref swaps entries (and v2 status), refuses busy ones', () => {
    const w = new World();
    const { gt: g1 } = w.add(1);
    const { gt: g2 } = w.add(2);
    grantV1(w, g1, 10, { flags: GTF_permit_access, domid: 2, frame: 1 });
    grantV1(w, g1, 11, { flags: GTF_permit_access | GTF_readonly, domid: 3, frame: 2 });
    assert.equal(g1.swapGrantRef(10, 11), GNTST_okay);
    assert.deepEqual(readV1(w, g1, 10), {
      flags: GTF_permit_access | GTF_readonly,
      domid: 3,
      frame: 2,
    });
    assert.deepEqual(readV1(w, g1, 11), { flags: GTF_permit_access, domid: 2, frame: 1 });
    assert.equal(g1.swapGrantRef(10, 10), GNTST_okay);
    assert.equal(g1.swapGrantRef(10, 512), GNTST_bad_gntref);
    assert.equal(g1.swapGrantRef(512, 10), GNTST_bad_gntref);
    const m = g2.mapGrantRef({ hostAddr: 0x1000, flags: GNTMAP_host_map, ref: 11, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(g1.swapGrantRef(10, 11), GNTST_eagain);
    assert.equal(g1.swapGrantRef(11, 10), GNTST_eagain);
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x1000, devBusAddr: 0 });

    g1.setVersion(2);
    grantV2(w, g1, 20, { flags: GTF_permit_access, domid: 2, frame: 1 });
    grantV2(w, g1, 21, { flags: GTF_permit_access, domid: 3, frame: 0x1_0000_0002n });
    w.view.setUint16(g1.statusFrames[0]! * PAGE_SIZE + 20 * 2, GTF_reading, true);
    assert.equal(g1.swapGrantRef(20, 21), GNTST_okay);
    assert.equal(readV2(w, g1, 20).full_page.frame, 0x1_0000_0002n);
    assert.equal(readV2(w, g1, 20).hdr.domid, 3);
    assert.equal(readV2(w, g1, 21).full_page.frame, 1n);
    assert.equal(readStatus(w, g1, 20), 0);
    assert.equal(readStatus(w, g1, 21), GTF_reading);
  });

  test('transfer is refused: bad page for a non-RAM frame, general error otherwise', () => {
    const w = new World();
    const { gt: g1 } = w.add(1, { external: true });
    w.add(2);
    assert.equal(g1.transfer({ mfn: 1000, domid: 2, ref: 0 }), GNTST_bad_page);
    assert.equal(g1.transfer({ mfn: 0, domid: 2, ref: 0 }), GNTST_general_error);
    assert.equal(g1.transfer({ mfn: 0, domid: 99, ref: 0 }), GNTST_general_error);
  });

  test('cache_flush: argument checks, own frames, granted frames', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1);
    const { dom: d2, gt: g2 } = w.add(2);
    const own = d2.mfn(0) * PAGE_SIZE;
    const ok = { a: own, offset: 0, length: 64, op: GNTTAB_CACHE_CLEAN };
    assert.equal(g2.cacheFlush(ok), 0);
    assert.equal(g2.cacheFlush({ ...ok, op: GNTTAB_CACHE_CLEAN | GNTTAB_CACHE_INVAL }), 0);
    assert.equal(g2.cacheFlush({ ...ok, offset: PAGE_SIZE }), -XEN_EINVAL);
    assert.equal(g2.cacheFlush({ ...ok, length: PAGE_SIZE + 1 }), -XEN_EINVAL);
    assert.equal(g2.cacheFlush({ ...ok, offset: 4000, length: 200 }), -XEN_EINVAL);
    assert.equal(g2.cacheFlush({ ...ok, op: 4 }), -XEN_EINVAL);
    assert.equal(
      g2.cacheFlush({ ...ok, op: GNTTAB_CACHE_SOURCE_GREF | GNTTAB_CACHE_CLEAN }),
      -XEN_EINVAL,
    );
    // Nothing to do: success whatever the address.
    assert.equal(g2.cacheFlush({ ...ok, a: 0xdead0000, length: 0 }), 0);
    assert.equal(g2.cacheFlush({ ...ok, a: 0xdead0000, op: 0 }), 0);
    // Outside machine memory, or another domain's frame not granted to us.
    assert.equal(g2.cacheFlush({ ...ok, a: 2 ** 40 }), -XEN_EINVAL);
    const theirs = d1.mfn(1) * PAGE_SIZE;
    assert.equal(g2.cacheFlush({ ...ok, a: theirs }), -XEN_EINVAL);
    grantV1(w, g1, 12, { flags: GTF_permit_access, domid: 2, frame: 1 });
    const m = g2.mapGrantRef({ hostAddr: 0x1000, flags: GNTMAP_host_map, ref: 12, dom: 1 });
    assert.equal(g2.cacheFlush({ ...ok, a: theirs + 128 }), 0);
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x1000, devBusAddr: 0 });
    assert.equal(g2.cacheFlush({ ...ok, a: theirs }), -XEN_EINVAL);
    assert.equal(d1.refCount + d2.refCount, 0);
  });
});
