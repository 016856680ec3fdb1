import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GNTMAP_application_map,
  GNTMAP_contains_pte,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_dev_addr,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_handle,
  GNTST_bad_page,
  GNTST_bad_virt_addr,
  GNTST_general_error,
  GNTST_no_space,
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
import {
  grantV1,
  grantV2,
  grantV2SubPage,
  grantV2Transitive,
  readStatus,
  readV1,
  readV2,
  v1Addr,
  World,
} from './testing.js';

const HOST = GNTMAP_host_map;
const RO = GNTMAP_readonly;
const DEV = GNTMAP_device_map;
const RW_FLAGS = GTF_permit_access | GTF_reading | GTF_writing;

/** Granter d1 (4 frames of RAM) and mapper d2. */
function pair(options: { external?: boolean; maptrack?: number } = {}) {
  const w = new World();
  const a = w.add(1);
  const b = w.add(2, {
    external: options.external ?? false,
    limits: { maxMaptrackFrames: options.maptrack ?? 4 },
  });
  return { w, d1: a.dom, g1: a.gt, d2: b.dom, g2: b.gt };
}

describe('map_grant_ref', () => {
  test('a writable host mapping: handle, frame, flags, references', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 10, { flags: GTF_permit_access, domid: 2, frame: 3 });
    const m = g2.mapGrantRef({ hostAddr: 0x5000, flags: HOST, ref: 10, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(m.mfn, d1.mfn(3));
    assert.equal(m.devBusAddr, d1.mfn(3) * PAGE_SIZE);
    assert.ok(m.handle >= 0);
    assert.deepEqual(readV1(w, g1, 10), { flags: RW_FLAGS, domid: 2, frame: 3 });
    assert.deepEqual(d1.refs.get(m.mfn), [0, 1]);
    assert.deepEqual(g2.mapping(m.handle), { dom: 1, ref: 10, flags: HOST, mfn: m.mfn });
    assert.equal(g1.pinned, 1);
    assert.equal(g2.mappings, 1);
  });

  test('a read-only mapping of a read-only grant sets only GTF_reading', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 11, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 1 });
    const m = g2.mapGrantRef({ hostAddr: 0x5000, flags: HOST | RO, ref: 11, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(readV1(w, g1, 11).flags, GTF_permit_access | GTF_readonly | GTF_reading);
    assert.deepEqual(d1.refs.get(m.mfn), [1, 0]);
  });

  test('a read-only grant refuses a writable mapping and is left untouched', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 11, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 1 });
    const m = g2.mapGrantRef({ hostAddr: 0x5000, flags: HOST, ref: 11, dom: 1 });
    assert.deepEqual(m, { status: GNTST_general_error, handle: -1, mfn: -1, devBusAddr: -1 });
    assert.equal(readV1(w, g1, 11).flags, GTF_permit_access | GTF_readonly);
    assert.equal(d1.refCount, 0);
    assert.equal(g2.mappings, 0);
    // Also when it is already mapped read-only.
    const r = g2.mapGrantRef({ hostAddr: 0x5000, flags: HOST | RO, ref: 11, dom: 1 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 0x6000, flags: HOST, ref: 11, dom: 1 }).status,
      GNTST_general_error,
    );
    assert.equal(readV1(w, g1, 11).flags, GTF_permit_access | GTF_readonly | GTF_reading);
    assert.equal(
      g2.unmapGrantRef({ handle: r.handle, hostAddr: 0x5000, devBusAddr: 0 }).status,
      GNTST_okay,
    );
  });

  test('entries that do not grant this domain access are refused', () => {
    const { w, d1, g1, g2 } = pair();
    const cases: [string, number, number][] = [
      ['invalid', 0, 2],
      ['other domain', GTF_permit_access, 3],
      ['accept_transfer', GTF_accept_transfer, 2],
      ['transitive (v1 type 3)', GTF_transitive, 2],
      ['sub_page bit', GTF_permit_access | GTF_sub_page, 2],
    ];
    for (const [what, flags, domid] of cases) {
      grantV1(w, g1, 20, { flags, domid, frame: 0 });
      const m = g2.mapGrantRef({ hostAddr: 0x5000, flags: HOST, ref: 20, dom: 1 });
      assert.equal(m.status, GNTST_general_error, what);
      assert.deepEqual(readV1(w, g1, 20), { flags, domid, frame: 0 }, what);
    }
    assert.equal(d1.refCount, 0);
    assert.equal(g2.mappings, 0);
  });

  test('argument errors: flags, domain, reference', () => {
    const { w, g1, g2 } = pair();
    grantV1(w, g1, 1, { flags: GTF_permit_access, domid: 2, frame: 0 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: RO, ref: 1, dom: 1 }).status,
      GNTST_bad_gntref,
    );
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: 0, ref: 1, dom: 1 }).status,
      GNTST_bad_gntref,
    );
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 1, dom: 9 }).status,
      GNTST_bad_domain,
    );
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 1, dom: DOMID_SELF }).status,
      GNTST_bad_domain,
    );
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 512, dom: 1 }).status,
      GNTST_bad_gntref,
    );
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 0xffffffff, dom: 1 }).status,
      GNTST_bad_gntref,
    );
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: -1, dom: 1 }).status,
      GNTST_bad_gntref,
    );
    assert.equal(g2.mappings, 0);
  });

  test('a frame that is not the granter RAM: bad page, flags restored', () => {
    const { w, g1, g2 } = pair();
    grantV1(w, g1, 5, { flags: GTF_permit_access, domid: 2, frame: 999 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 5, dom: 1 }).status,
      GNTST_bad_page,
    );
    assert.equal(readV1(w, g1, 5).flags, GTF_permit_access);
    // The granter's table frame itself is not its RAM either.
    grantV1(w, g1, 5, { flags: GTF_permit_access, domid: 2, frame: g1.sharedFrames[0]! });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 5, dom: 1 }).status,
      GNTST_bad_page,
    );
  });

  test('a frame the granter will not let be written: bad page', () => {
    const { w, d1, g1, g2 } = pair();
    d1.noWrite.add(d1.mfn(2));
    grantV1(w, g1, 5, { flags: GTF_permit_access, domid: 2, frame: 2 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 5, dom: 1 }).status,
      GNTST_bad_page,
    );
    assert.equal(readV1(w, g1, 5).flags, GTF_permit_access);
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST | RO, ref: 5, dom: 1 }).status,
      GNTST_okay,
    );
  });

  test('HVM/PVH mappers cannot make device, application or PTE mappings', () => {
    const { w, g1, g2 } = pair({ external: true });
    grantV1(w, g1, 1, { flags: GTF_permit_access, domid: 2, frame: 0 });
    for (const extra of [DEV, GNTMAP_application_map, GNTMAP_contains_pte]) {
      assert.equal(
        g2.mapGrantRef({ hostAddr: 1, flags: HOST | extra, ref: 1, dom: 1 }).status,
        GNTST_general_error,
      );
    }
    assert.equal(readV1(w, g1, 1).flags, GTF_permit_access);
    assert.equal(g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 1, dom: 1 }).status, GNTST_okay);
  });

  test('device and host mappings hold one reference each; dev_bus_addr unmaps the device side', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 7, { flags: GTF_permit_access, domid: 2, frame: 2 });
    const m = g2.mapGrantRef({ hostAddr: 0x7000, flags: HOST | DEV, ref: 7, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.deepEqual(d1.refs.get(m.mfn), [0, 2]);
    const wrong = g2.unmapGrantRef({
      handle: m.handle,
      hostAddr: 0,
      devBusAddr: m.devBusAddr + PAGE_SIZE,
    });
    assert.equal(wrong.status, GNTST_bad_dev_addr);
    // Device side only.
    assert.deepEqual(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0, devBusAddr: m.devBusAddr }),
      {
        status: GNTST_okay,
        mfn: m.mfn,
      },
    );
    assert.deepEqual(d1.refs.get(m.mfn), [0, 1]);
    assert.equal(g2.mapping(m.handle)?.flags, HOST);
    assert.equal(readV1(w, g1, 7).flags, RW_FLAGS);
    // A device address does not matter once the device side is gone.
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x7000, devBusAddr: 12345 }).status,
      GNTST_okay,
    );
    assert.equal(d1.refCount, 0);
    assert.equal(readV1(w, g1, 7).flags, GTF_permit_access);
    assert.equal(g2.mapping(m.handle), undefined);
  });

  test('a device-only mapping', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 7, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 2 });
    const m = g2.mapGrantRef({ hostAddr: 0, flags: DEV | RO, ref: 7, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(m.devBusAddr, d1.mfn(2) * PAGE_SIZE);
    // Nothing named: nothing done, still mapped.
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0, devBusAddr: 0 }).status,
      GNTST_okay,
    );
    assert.equal(g2.mappings, 1);
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0, devBusAddr: m.devBusAddr }).status,
      GNTST_okay,
    );
    assert.equal(g2.mappings, 0);
    assert.equal(readV1(w, g1, 7).flags, GTF_permit_access | GTF_readonly);
  });

  test('mixed read-only and writable mappings of one grant: flags follow the pins', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 3, { flags: GTF_permit_access, domid: 2, frame: 1 });
    const ro = g2.mapGrantRef({ hostAddr: 0x1000, flags: HOST | RO, ref: 3, dom: 1 });
    assert.equal(readV1(w, g1, 3).flags, GTF_permit_access | GTF_reading);
    const rw = g2.mapGrantRef({ hostAddr: 0x2000, flags: HOST, ref: 3, dom: 1 });
    assert.equal(rw.mfn, ro.mfn);
    assert.equal(readV1(w, g1, 3).flags, RW_FLAGS);
    const ro2 = g2.mapGrantRef({ hostAddr: 0x3000, flags: HOST | RO, ref: 3, dom: 1 });
    assert.equal(g1.pinned, 1);
    // Dropping the writer clears GTF_writing only; dropping the last reader clears the rest.
    g2.unmapGrantRef({ handle: rw.handle, hostAddr: 0x2000, devBusAddr: 0 });
    assert.equal(readV1(w, g1, 3).flags, GTF_permit_access | GTF_reading);
    assert.deepEqual(d1.dirty, [rw.mfn]);
    g2.unmapGrantRef({ handle: ro.handle, hostAddr: 0x1000, devBusAddr: 0 });
    assert.equal(readV1(w, g1, 3).flags, GTF_permit_access | GTF_reading);
    g2.unmapGrantRef({ handle: ro2.handle, hostAddr: 0x3000, devBusAddr: 0 });
    assert.equal(readV1(w, g1, 3).flags, GTF_permit_access);
    assert.equal(d1.refCount, 0);
    assert.equal(g1.pinned, 0);
    assert.deepEqual(d1.dirty, [rw.mfn]);
  });

  test('a grant pinned by one domain cannot be mapped by another meanwhile', () => {
    const w = new World();
    const { gt: g1 } = w.add(1);
    const { gt: g2 } = w.add(2);
    const { gt: g3 } = w.add(3);
    grantV1(w, g1, 4, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const m = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 4, dom: 1 });
    // Even if the granter re-targets the entry at d3 meanwhile.
    grantV1(w, g1, 4, { flags: GTF_permit_access | GTF_reading | GTF_writing, domid: 3, frame: 0 });
    assert.equal(
      g3.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 4, dom: 1 }).status,
      GNTST_general_error,
    );
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 });
    assert.equal(g3.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 4, dom: 1 }).status, GNTST_okay);
  });

  test('pin counters stop at 128 mappings of one kind', () => {
    const { w, g1, g2 } = pair({ maptrack: 2 });
    grantV1(w, g1, 4, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const handles: number[] = [];
    for (let i = 0; i < 128; i++) {
      const m = g2.mapGrantRef({ hostAddr: 0x1000 * (i + 1), flags: HOST | RO, ref: 4, dom: 1 });
      assert.equal(m.status, GNTST_okay, `mapping ${i}`);
      handles.push(m.handle);
    }
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST | RO, ref: 4, dom: 1 }).status,
      GNTST_general_error,
    );
    // Another kind still has room.
    const rw = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 4, dom: 1 });
    assert.equal(rw.status, GNTST_okay);
    assert.equal(g2.mappings, 129);
  });

  test('a self-mapping (granter maps its own grant) works', () => {
    const w = new World();
    const { dom, gt } = w.add(1);
    grantV1(w, gt, 3, { flags: GTF_permit_access, domid: 1, frame: 1 });
    const m = gt.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 3, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(m.mfn, dom.mfn(1));
    gt.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 });
    assert.equal(dom.refCount, 0);
  });

  test('v2: busy bits live in the status frame; sub-page and transitive grants cannot be mapped', () => {
    const { w, d1, g1, g2 } = pair();
    g1.setVersion(2);
    grantV2(w, g1, 30, { flags: GTF_permit_access, domid: 2, frame: 2 });
    const m = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 30, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(m.mfn, d1.mfn(2));
    assert.equal(readV2(w, g1, 30).hdr.flags, GTF_permit_access);
    assert.equal(readStatus(w, g1, 30), GTF_reading | GTF_writing);
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 });
    assert.equal(readStatus(w, g1, 30), 0);

    grantV2SubPage(w, g1, 31, {
      flags: GTF_permit_access | GTF_sub_page,
      domid: 2,
      frame: 2,
      pageOff: 0,
      length: 4096,
    });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST | RO, ref: 31, dom: 1 }).status,
      GNTST_general_error,
    );
    assert.equal(readStatus(w, g1, 31), 0);
    grantV2Transitive(w, g1, 32, { flags: GTF_transitive, domid: 2, transDomid: 3, gref: 0 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST | RO, ref: 32, dom: 1 }).status,
      GNTST_general_error,
    );
    assert.equal(readStatus(w, g1, 32), 0);

    // v2 read-only grant: writable refused, status untouched.
    grantV2(w, g1, 33, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 2 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 33, dom: 1 }).status,
      GNTST_general_error,
    );
    assert.equal(readStatus(w, g1, 33), 0);
    assert.equal(d1.refCount, 0);
  });

  test('the host-mapping hook is told a mapping is read-only, so the P2M entry can be', () => {
    const { w, d1, g1, d2, g2 } = pair({ external: true });
    const inserted: [number, number, number][] = [];
    d2.createHostMapping = (addr, mfn, flags) => {
      inserted.push([addr, mfn, flags]);
      return GNTST_okay;
    };
    grantV1(w, g1, 6, { flags: GTF_permit_access, domid: 2, frame: 2 });
    const m = g2.mapGrantRef({ hostAddr: 0x40000, flags: HOST | RO, ref: 6, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.deepEqual(inserted, [[0x40000, d1.mfn(2), HOST | RO]]);
    assert.deepEqual(d1.refs.get(d1.mfn(2)), [1, 0]);
    assert.equal(readV1(w, g1, 6).flags, GTF_permit_access | GTF_reading);
  });

  test('host mapping hooks: create failure undoes the map, destroy failure keeps it', () => {
    const { w, d1, g1, d2, g2 } = pair({ external: true });
    const p2m = new Map<number, number>();
    d2.createHostMapping = (addr, mfn, flags) => {
      assert.equal(flags & ~RO, HOST);
      if (addr % PAGE_SIZE !== 0 || p2m.has(addr)) return GNTST_general_error;
      p2m.set(addr, mfn);
      return GNTST_okay;
    };
    d2.destroyHostMapping = (addr, mfn, _flags, newAddr) => {
      if (newAddr !== 0 || p2m.get(addr) !== mfn) return GNTST_general_error;
      p2m.delete(addr);
      return GNTST_okay;
    };
    grantV1(w, g1, 6, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const bad = g2.mapGrantRef({ hostAddr: 0x1234, flags: HOST, ref: 6, dom: 1 });
    assert.equal(bad.status, GNTST_general_error);
    assert.equal(readV1(w, g1, 6).flags, GTF_permit_access);
    assert.equal(d1.refCount, 0);
    assert.equal(g2.mappings, 0);

    const m = g2.mapGrantRef({ hostAddr: 0x8000, flags: HOST, ref: 6, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(p2m.get(0x8000), d1.mfn(0));
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x9000, devBusAddr: 0 }).status,
      GNTST_general_error,
    );
    assert.equal(g2.mappings, 1);
    assert.equal(readV1(w, g1, 6).flags, RW_FLAGS);
    d2.destroyHostMapping = () => GNTST_bad_virt_addr;
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x8000, devBusAddr: 0 }).status,
      GNTST_bad_virt_addr,
    );
    d2.destroyHostMapping = (addr) => (p2m.delete(addr) ? GNTST_okay : GNTST_general_error);
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x8000, devBusAddr: 0 }).status,
      GNTST_okay,
    );
    assert.equal(p2m.size, 0);
    assert.equal(d1.refCount, 0);
  });
});

describe('unmap_grant_ref', () => {
  test('bad handles', () => {
    const { w, g1, g2 } = pair();
    assert.deepEqual(g2.unmapGrantRef({ handle: 0, hostAddr: 1, devBusAddr: 0 }), {
      status: GNTST_bad_handle,
      mfn: -1,
    });
    grantV1(w, g1, 1, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const m = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 1, dom: 1 });
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle + 1, hostAddr: 1, devBusAddr: 0 }).status,
      GNTST_bad_handle,
    );
    assert.equal(
      g2.unmapGrantRef({ handle: 1 << 20, hostAddr: 1, devBusAddr: 0 }).status,
      GNTST_bad_handle,
    );
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 }).status,
      GNTST_okay,
    );
    // Twice.
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 }).status,
      GNTST_bad_handle,
    );
    // Handles are per domain: the granter's table knows nothing of d2's handle.
    const m2 = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 1, dom: 1 });
    assert.equal(
      g1.unmapGrantRef({ handle: m2.handle, hostAddr: 1, devBusAddr: 0 }).status,
      GNTST_bad_handle,
    );
  });

  test('unmap_and_replace passes new_addr to the host-mapping hook', () => {
    const { w, g1, d2, g2 } = pair();
    const seen: number[] = [];
    d2.destroyHostMapping = (_a, _m, _f, newAddr) => {
      seen.push(newAddr);
      return GNTST_okay;
    };
    grantV1(w, g1, 1, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const m = g2.mapGrantRef({ hostAddr: 0x1000, flags: HOST, ref: 1, dom: 1 });
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x1000, devBusAddr: 0, newAddr: 0x3000 })
        .status,
      GNTST_okay,
    );
    assert.deepEqual(seen, [0x3000]);
  });
});

describe('revocation', () => {
  test('v1: the granter drops GTF_permit_access while mapped: the mapping stays, the busy bits show it', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 9, { flags: GTF_permit_access, domid: 2, frame: 1 });
    const m = g2.mapGrantRef({ hostAddr: 0x1000, flags: HOST, ref: 9, dom: 1 });
    // Linux's gnttab_end_foreign_access_ref would see GTF_reading|GTF_writing and wait; a
    // careless granter clears the type bits anyway.
    const flagsIndex = v1Addr(g1, 9) >>> 1;
    const u16 = new Uint16Array(w.machine.bytes.buffer);
    Atomics.and(u16, flagsIndex, ~GTF_type_mask);
    assert.equal(readV1(w, g1, 9).flags, GTF_reading | GTF_writing);
    // The mapping and the frame reference remain.
    assert.deepEqual(g2.mapping(m.handle), { dom: 1, ref: 9, flags: HOST, mfn: d1.mfn(1) });
    assert.deepEqual(d1.refs.get(d1.mfn(1)), [0, 1]);
    // Xen checks type and domid only when the entry is not pinned: a further mapping by
    // the same domain still succeeds, to the frame already pinned.
    const again = g2.mapGrantRef({ hostAddr: 0x2000, flags: HOST | RO, ref: 9, dom: 1 });
    assert.equal(again.status, GNTST_okay);
    assert.equal(again.mfn, m.mfn);
    g2.unmapGrantRef({ handle: again.handle, hostAddr: 0x2000, devBusAddr: 0 });
    assert.equal(
      g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x1000, devBusAddr: 0 }).status,
      GNTST_okay,
    );
    assert.equal(readV1(w, g1, 9).flags, 0);
    assert.equal(d1.refCount, 0);
    // Unpinned and revoked: refused.
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 9, dom: 1 }).status,
      GNTST_general_error,
    );
  });

  test('v1: a granter rewriting the frame while mapped changes nothing mapped', () => {
    const { w, d1, g1, g2 } = pair();
    grantV1(w, g1, 9, { flags: GTF_permit_access, domid: 2, frame: 1 });
    const m = g2.mapGrantRef({ hostAddr: 0x1000, flags: HOST, ref: 9, dom: 1 });
    grantV1(w, g1, 9, { flags: RW_FLAGS, domid: 2, frame: 3 });
    const again = g2.mapGrantRef({ hostAddr: 0x2000, flags: HOST, ref: 9, dom: 1 });
    assert.equal(again.mfn, d1.mfn(1));
    g2.unmapGrantRef({ handle: again.handle, hostAddr: 0x2000, devBusAddr: 0 });
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 0x1000, devBusAddr: 0 });
    assert.equal(d1.refCount, 0);
  });

  test('v2: revoking shows in the status frame until the mapping goes', () => {
    const { w, d1, g1, g2 } = pair();
    g1.setVersion(2);
    grantV2(w, g1, 40, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 0 });
    const m = g2.mapGrantRef({ hostAddr: 1, flags: HOST | RO, ref: 40, dom: 1 });
    grantV2(w, g1, 40, { flags: 0, domid: 0, frame: 0 });
    assert.equal(readStatus(w, g1, 40), GTF_reading);
    assert.equal(d1.refCount, 1);
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 });
    assert.equal(readStatus(w, g1, 40), 0);
    assert.equal(d1.refCount, 0);
    // A read-only entry pinned read-only: a writable mapping is refused and GTF_writing
    // does not leak into the status.
    grantV2(w, g1, 41, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const r = g2.mapGrantRef({ hostAddr: 1, flags: HOST | RO, ref: 41, dom: 1 });
    grantV2(w, g1, 41, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 0 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 2, flags: HOST, ref: 41, dom: 1 }).status,
      GNTST_general_error,
    );
    assert.equal(readStatus(w, g1, 41), GTF_reading);
    g2.unmapGrantRef({ handle: r.handle, hostAddr: 1, devBusAddr: 0 });
  });
});

describe('maptrack', () => {
  test('exhaustion: 256 handles a frame, GNTST_no_space past the limit, reuse after unmap', () => {
    const { w, g1, g2 } = pair({ maptrack: 1 });
    for (let ref = 8; ref < 8 + 256; ref++) {
      grantV1(w, g1, ref, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: ref % 4 });
    }
    const handles = new Set<number>();
    for (let ref = 8; ref < 8 + 256; ref++) {
      const m = g2.mapGrantRef({ hostAddr: 1, flags: HOST | RO, ref, dom: 1 });
      assert.equal(m.status, GNTST_okay);
      handles.add(m.handle);
    }
    assert.equal(handles.size, 256);
    grantV1(w, g1, 300, { flags: GTF_permit_access, domid: 2, frame: 0 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 300, dom: 1 }).status,
      GNTST_no_space,
    );
    // The failed attempt left no trace in the granter's entry.
    assert.equal(readV1(w, g1, 300).flags, GTF_permit_access);
    assert.equal(g2.unmapGrantRef({ handle: 17, hostAddr: 1, devBusAddr: 0 }).status, GNTST_okay);
    const m = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 300, dom: 1 });
    assert.equal(m.status, GNTST_okay);
    assert.equal(m.handle, 17);
  });

  test('no maptrack frames: nothing can be mapped', () => {
    const { w, g1, g2 } = pair({ maptrack: 0 });
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 8, dom: 1 }).status,
      GNTST_no_space,
    );
  });

  test('freed handles are reused oldest first', () => {
    const { w, g1, g2 } = pair();
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const a = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 8, dom: 1 }).handle;
    const b = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 8, dom: 1 }).handle;
    g2.unmapGrantRef({ handle: a, hostAddr: 1, devBusAddr: 0 });
    const c = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 8, dom: 1 }).handle;
    assert.notEqual(c, a);
    assert.notEqual(c, b);
  });
});

describe('destroy', () => {
  test('a mapper dying releases its mappings of others', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1);
    const { dom: d3, gt: g3 } = w.add(3);
    const { dom: d2, gt: g2 } = w.add(2);
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    grantV1(w, g1, 9, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 1 });
    g3.setVersion(2);
    grantV2(w, g3, 8, { flags: GTF_permit_access, domid: 2, frame: 2 });
    g2.mapGrantRef({ hostAddr: 1, flags: HOST | DEV, ref: 8, dom: 1 });
    g2.mapGrantRef({ hostAddr: 2, flags: HOST | RO, ref: 9, dom: 1 });
    g2.mapGrantRef({ hostAddr: 3, flags: HOST | RO, ref: 9, dom: 1 });
    g2.mapGrantRef({ hostAddr: 4, flags: HOST, ref: 8, dom: 3 });
    assert.equal(d1.refCount, 4);
    assert.equal(d3.refCount, 1);
    const r = g2.destroy();
    assert.deepEqual(r, { zombie: false, pinned: 0 });
    assert.equal(d1.refCount, 0);
    assert.equal(d3.refCount, 0);
    assert.equal(g1.pinned, 0);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access);
    assert.equal(readV1(w, g1, 9).flags, GTF_permit_access | GTF_readonly);
    assert.equal(readStatus(w, g3, 8), 0);
    assert.equal(g2.mappings, 0);
    // Its own table frames were freed.
    assert.equal(d2.xenFrames.size, 0);
    assert.equal(d2.releasedCalls, 0);
    // A dead domain maps nothing.
    assert.equal(
      g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 8, dom: 1 }).status,
      GNTST_no_space,
    );
  });

  test('a granter dying while mapped stays a zombie until the last unmap', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1);
    const { gt: g2 } = w.add(2);
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    grantV1(w, g1, 9, { flags: GTF_permit_access, domid: 2, frame: 1 });
    const a = g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 8, dom: 1 });
    const b = g2.mapGrantRef({ hostAddr: 2, flags: HOST, ref: 9, dom: 1 });
    const tableFrames = g1.sharedFrames;
    assert.deepEqual(g1.destroy(), { zombie: true, pinned: 2 });
    assert.deepEqual(g1.destroy(), { zombie: true, pinned: 2 });
    assert.ok(g1.zombie);
    assert.equal(d1.freed.length, 0);
    // No new uses of a dying domain's grants.
    grantV1(w, g1, 10, { flags: GTF_permit_access, domid: 2, frame: 2 });
    assert.equal(
      g2.mapGrantRef({ hostAddr: 3, flags: HOST, ref: 10, dom: 1 }).status,
      GNTST_general_error,
    );
    assert.equal(g2.mappings, 2);
    // Existing ones unmap normally.
    assert.equal(
      g2.unmapGrantRef({ handle: a.handle, hostAddr: 1, devBusAddr: 0 }).status,
      GNTST_okay,
    );
    assert.equal(d1.releasedCalls, 0);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access);
    assert.equal(
      g2.unmapGrantRef({ handle: b.handle, hostAddr: 2, devBusAddr: 0 }).status,
      GNTST_okay,
    );
    assert.equal(d1.releasedCalls, 1);
    assert.equal(d1.refCount, 0);
    assert.deepEqual(d1.freed.sort(), [...tableFrames].sort());
    assert.ok(!g1.zombie);
    assert.deepEqual(g1.destroy(), { zombie: false, pinned: 0 });
  });

  test('both sides dying: the mapper first releases, then the granter is idle', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1);
    const { gt: g2 } = w.add(2);
    g1.setVersion(2);
    grantV2(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    g2.mapGrantRef({ hostAddr: 1, flags: HOST, ref: 8, dom: 1 });
    assert.equal(g1.destroy().zombie, true);
    const status = g1.statusFrames;
    assert.equal(g2.destroy().zombie, false);
    assert.equal(d1.releasedCalls, 1);
    assert.equal(d1.refCount, 0);
    assert.ok(status.every((f) => d1.freed.includes(f)));
  });
});
