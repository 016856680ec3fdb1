import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_page,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_transitive,
  GTF_writing,
} from '../../abi/grant_table.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { PAGE_SIZE } from '../../x86/memory.js';
import type { CopyOp } from './index.js';
import {
  type FakeDomain,
  grantV1,
  grantV2,
  grantV2SubPage,
  grantV2Transitive,
  readStatus,
  readV1,
  World,
} from './testing.js';

const SRC = GNTCOPY_source_gref;
const DST = GNTCOPY_dest_gref;

function fill(w: World, d: FakeDomain, gfn: number, seed: number): void {
  const base = d.mfn(gfn) * PAGE_SIZE;
  for (let i = 0; i < PAGE_SIZE; i++) w.machine.bytes[base + i] = (i * 7 + seed) & 0xff;
}

function bytesOf(w: World, d: FakeDomain, gfn: number, offset: number, len: number): number[] {
  const base = d.mfn(gfn) * PAGE_SIZE + offset;
  return [...w.machine.bytes.subarray(base, base + len)];
}

/** Granter d1 and copier d2 (a backend), each with 4 frames of RAM. */
function setup() {
  const w = new World();
  const a = w.add(1);
  const b = w.add(2);
  fill(w, a.dom, 0, 1);
  fill(w, a.dom, 1, 2);
  fill(w, b.dom, 0, 3);
  fill(w, b.dom, 1, 4);
  return { w, d1: a.dom, g1: a.gt, d2: b.dom, g2: b.gt };
}

function op(partial: Partial<CopyOp> & Pick<CopyOp, 'flags'>): CopyOp {
  return {
    source: { u: 0, domid: DOMID_SELF, offset: 0 },
    dest: { u: 0, domid: DOMID_SELF, offset: 0 },
    len: 16,
    ...partial,
  };
}

describe('copy', () => {
  test('from a grant into own frame (netback rx side) and back (tx side)', () => {
    const { w, d1, g1, d2, g2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 1 });
    grantV1(w, g1, 9, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const expect = bytesOf(w, d1, 1, 100, 200);
    const rc = g2.copy({
      source: { u: 8, domid: 1, offset: 100 },
      dest: { u: 2, domid: DOMID_SELF, offset: 3000 },
      len: 200,
      flags: SRC,
    });
    assert.equal(rc, GNTST_okay);
    assert.deepEqual(bytesOf(w, d2, 2, 3000, 200), expect);
    // The grant is back to idle; no references left.
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access | GTF_readonly);
    assert.equal(d1.refCount + d2.refCount, 0);
    assert.equal(g1.pinned, 0);

    const mine = bytesOf(w, d2, 0, 0, 4096);
    assert.equal(
      g2.copy({
        source: { u: 0, domid: DOMID_SELF, offset: 0 },
        dest: { u: 9, domid: 1, offset: 0 },
        len: 4096,
        flags: DST,
      }),
      GNTST_okay,
    );
    assert.deepEqual(bytesOf(w, d1, 0, 0, 4096), mine);
    assert.equal(readV1(w, g1, 9).flags, GTF_permit_access);
    assert.deepEqual(d1.dirty, [d1.mfn(0)]);
    assert.equal(d1.refCount + d2.refCount, 0);
  });

  test('grant to grant, both of another domain, and own frame to own frame', () => {
    const { w, d1, g1, d2, g2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 0 });
    grantV1(w, g1, 9, { flags: GTF_permit_access, domid: 2, frame: 3 });
    const expect = bytesOf(w, d1, 0, 5, 50);
    const flags = SRC | DST;
    const r = g2.copy({
      source: { u: 8, domid: 1, offset: 5 },
      dest: { u: 9, domid: 1, offset: 9 },
      len: 50,
      flags,
    });
    assert.equal(r, GNTST_okay);
    assert.deepEqual(bytesOf(w, d1, 3, 9, 50), expect);
    const own = bytesOf(w, d2, 1, 0, 10);
    assert.equal(
      g2.copy(
        op({
          source: { u: 1, domid: DOMID_SELF, offset: 0 },
          dest: { u: 3, domid: DOMID_SELF, offset: 4086 },
          len: 10,
          flags: 0,
        }),
      ),
      GNTST_okay,
    );
    assert.deepEqual(bytesOf(w, d2, 3, 4086, 10), own);
    assert.equal(d1.refCount + d2.refCount, 0);
  });

  test('a read-only grant can be a source but never a destination', () => {
    const { w, d1, g1, g2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 0 });
    const before = bytesOf(w, d1, 0, 0, 16);
    assert.equal(
      g2.copy(op({ dest: { u: 8, domid: 1, offset: 0 }, flags: DST })),
      GNTST_general_error,
    );
    assert.deepEqual(bytesOf(w, d1, 0, 0, 16), before);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access | GTF_readonly);
    assert.equal(g2.copy(op({ source: { u: 8, domid: 1, offset: 0 }, flags: SRC })), GNTST_okay);
    assert.equal(d1.refCount, 0);
  });

  test('offsets and lengths must stay within the page (GNTST_bad_copy_arg), nothing copied', () => {
    const { w, d1, g1, d2, g2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const before = bytesOf(w, d2, 0, 0, 4096);
    const cases: [number, number, number][] = [
      [4090, 0, 16],
      [0, 4090, 16],
      [0, 0, 4097],
      [0xffff, 0, 1],
    ];
    for (const [s, d, len] of cases) {
      const rc = g2.copy({
        source: { u: 8, domid: 1, offset: s },
        dest: { u: 0, domid: DOMID_SELF, offset: d },
        len,
        flags: SRC,
      });
      assert.equal(rc, GNTST_bad_copy_arg, `${s} ${d} ${len}`);
    }
    assert.deepEqual(bytesOf(w, d2, 0, 0, 4096), before);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access);
    assert.equal(d1.refCount + d2.refCount, 0);
  });

  test('validation of each side, in Xen order', () => {
    const { w, g1, g2, d1, d2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    grantV1(w, g1, 10, { flags: GTF_permit_access, domid: 3, frame: 0 });
    grantV1(w, g1, 11, { flags: GTF_permit_access, domid: 2, frame: 77 });
    const self = { u: 0, domid: DOMID_SELF, offset: 0 };
    // Zero length: success without looking at anything.
    assert.equal(
      g2.copy({ source: { u: 5, domid: 99, offset: 0 }, dest: self, len: 0, flags: SRC }),
      GNTST_okay,
    );
    // A frame of another domain cannot be named directly — not even our own by number.
    assert.equal(
      g2.copy(op({ source: { u: 0, domid: 1, offset: 0 }, flags: 0 })),
      GNTST_permission_denied,
    );
    assert.equal(
      g2.copy(op({ source: { u: 0, domid: 2, offset: 0 }, flags: 0 })),
      GNTST_permission_denied,
    );
    assert.equal(
      g2.copy(op({ dest: { u: 0, domid: 1, offset: 0 }, flags: 0 })),
      GNTST_permission_denied,
    );
    assert.equal(
      g2.copy(op({ source: { u: 8, domid: 9, offset: 0 }, flags: SRC })),
      GNTST_bad_domain,
    );
    assert.equal(
      g2.copy(op({ dest: { u: 8, domid: 9, offset: 0 }, flags: DST })),
      GNTST_bad_domain,
    );
    // Source checked before destination.
    assert.equal(
      g2.copy(
        op({
          source: { u: 8, domid: 9, offset: 0 },
          dest: { u: 0, domid: 1, offset: 0 },
          flags: SRC,
        }),
      ),
      GNTST_bad_domain,
    );
    assert.equal(
      g2.copy(op({ source: { u: 512, domid: 1, offset: 0 }, flags: SRC })),
      GNTST_bad_gntref,
    );
    assert.equal(
      g2.copy(op({ source: { u: 10, domid: 1, offset: 0 }, flags: SRC })),
      GNTST_general_error,
    );
    assert.equal(
      g2.copy(op({ source: { u: 11, domid: 1, offset: 0 }, flags: SRC })),
      GNTST_bad_page,
    );
    assert.equal(
      g2.copy(op({ source: { u: 50, domid: DOMID_SELF, offset: 0 }, flags: 0 })),
      GNTST_bad_page,
    );
    assert.equal(
      g2.copy(op({ dest: { u: 2 ** 60, domid: DOMID_SELF, offset: 0 }, flags: 0 })),
      GNTST_bad_page,
    );
    // A good source and a bad destination: the source is released again.
    assert.equal(
      g2.copy(
        op({
          source: { u: 8, domid: 1, offset: 0 },
          dest: { u: 99, domid: DOMID_SELF, offset: 0 },
          flags: SRC,
        }),
      ),
      GNTST_bad_page,
    );
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access);
    // A grant reference is 32 bits: the upper half of the union is ignored.
    assert.equal(
      g2.copy(op({ source: { u: 2 ** 32 + 8, domid: 1, offset: 0 }, flags: SRC })),
      GNTST_okay,
    );
    assert.equal(d1.refCount + d2.refCount, 0);
  });

  test('copying from a grant that is also mapped keeps the mapping flags', () => {
    const { w, d1, g1, g2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const m = g2.mapGrantRef({
      hostAddr: 1,
      flags: GNTMAP_host_map | GNTMAP_readonly,
      ref: 8,
      dom: 1,
    });
    assert.equal(g2.copy(op({ dest: { u: 8, domid: 1, offset: 0 }, flags: DST })), GNTST_okay);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access | GTF_reading);
    assert.equal(g2.copy(op({ source: { u: 8, domid: 1, offset: 0 }, flags: SRC })), GNTST_okay);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access | GTF_reading);
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 });
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access);
    assert.equal(d1.refCount, 0);
  });

  test('copy within one grant (source and destination the same reference)', () => {
    const { w, d1, g1, g2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 1 });
    const expect = bytesOf(w, d1, 1, 0, 32);
    const flags = SRC | DST;
    assert.equal(
      g2.copy({
        source: { u: 8, domid: 1, offset: 0 },
        dest: { u: 8, domid: 1, offset: 16 },
        len: 32,
        flags,
      }),
      GNTST_okay,
    );
    assert.deepEqual(bytesOf(w, d1, 1, 16, 32), expect);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access);
    assert.equal(d1.refCount, 0);
  });

  test('v2 sub-page grants bound the bytes that may be copied', () => {
    const { w, d1, g1, g2 } = setup();
    g1.setVersion(2);
    grantV2SubPage(w, g1, 8, {
      flags: GTF_permit_access | GTF_sub_page,
      domid: 2,
      frame: 1,
      pageOff: 1000,
      length: 100,
    });
    const src = (offset: number, len: number) =>
      g2.copy(op({ source: { u: 8, domid: 1, offset }, len, flags: SRC }));
    assert.equal(src(1000, 100), GNTST_okay);
    assert.equal(src(1050, 50), GNTST_okay);
    assert.equal(src(999, 10), GNTST_general_error);
    assert.equal(src(1050, 51), GNTST_general_error);
    assert.equal(src(0, 16), GNTST_general_error);
    assert.equal(readStatus(w, g1, 8), 0);
    // A sub-page destination likewise.
    const dst = (offset: number) =>
      g2.copy(op({ dest: { u: 8, domid: 1, offset }, len: 10, flags: DST }));
    assert.equal(dst(1090), GNTST_okay);
    assert.equal(dst(1091), GNTST_general_error);
    // Bounds running past the page are caught by the page check first.
    grantV2SubPage(w, g1, 9, {
      flags: GTF_permit_access | GTF_sub_page,
      domid: 2,
      frame: 1,
      pageOff: 4000,
      length: 4000,
    });
    assert.equal(
      g2.copy(op({ source: { u: 9, domid: 1, offset: 4000 }, len: 200, flags: SRC })),
      GNTST_bad_copy_arg,
    );
    assert.equal(d1.refCount, 0);
  });

  test('v2 full-page grants, status bits set and cleared', () => {
    const { w, d1, g1, g2 } = setup();
    g1.setVersion(2);
    grantV2(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    let seen = -1;
    d1.onAccess = () => {
      seen = readStatus(w, g1, 8);
    };
    assert.equal(g2.copy(op({ dest: { u: 8, domid: 1, offset: 0 }, flags: DST })), GNTST_okay);
    // The status said reading|writing while the frame was being looked up.
    assert.equal(seen, GTF_reading | GTF_writing);
    assert.equal(readStatus(w, g1, 8), 0);
  });

  test('v2 transitive grants are followed one level', () => {
    const w = new World();
    const { dom: d1, gt: g1 } = w.add(1); // the original granter
    const { gt: g2 } = w.add(2); // re-grants transitively
    const { dom: d3, gt: g3 } = w.add(3); // copies
    fill(w, d1, 2, 9);
    g2.setVersion(2);
    grantV1(w, g1, 8, { flags: GTF_permit_access | GTF_readonly, domid: 2, frame: 2 });
    grantV2Transitive(w, g2, 20, { flags: GTF_transitive, domid: 3, transDomid: 1, gref: 8 });
    const expect = bytesOf(w, d1, 2, 64, 64);
    const copyFrom = (ref: number) =>
      g3.copy(op({ source: { u: ref, domid: 2, offset: 64 }, len: 64, flags: SRC }));
    assert.equal(copyFrom(20), GNTST_okay);
    assert.deepEqual(bytesOf(w, d3, 0, 0, 64), expect);
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access | GTF_readonly);
    assert.equal(readStatus(w, g2, 20), 0);
    assert.equal(d1.refCount, 0);
    // Read-only at the origin stays read-only through the chain.
    assert.equal(
      g3.copy(op({ dest: { u: 20, domid: 2, offset: 0 }, flags: DST })),
      GNTST_general_error,
    );
    assert.equal(readV1(w, g1, 8).flags, GTF_permit_access | GTF_readonly);
    assert.equal(readStatus(w, g2, 20), 0);
    // Self-referential, missing domain, or a second transitive hop: refused.
    grantV2Transitive(w, g2, 21, { flags: GTF_transitive, domid: 3, transDomid: 2, gref: 20 });
    assert.equal(copyFrom(21), GNTST_general_error);
    grantV2Transitive(w, g2, 22, { flags: GTF_transitive, domid: 3, transDomid: 77, gref: 8 });
    assert.equal(copyFrom(22), GNTST_general_error);
    g1.setVersion(2);
    grantV2Transitive(w, g1, 9, { flags: GTF_transitive, domid: 2, transDomid: 3, gref: 0 });
    grantV2Transitive(w, g2, 23, { flags: GTF_transitive, domid: 3, transDomid: 1, gref: 9 });
    assert.equal(copyFrom(23), GNTST_general_error);
    // The inner grant must be to the re-granting domain, not to the copier.
    grantV2(w, g1, 10, { flags: GTF_permit_access, domid: 3, frame: 2 });
    grantV2Transitive(w, g2, 24, { flags: GTF_transitive, domid: 3, transDomid: 1, gref: 10 });
    assert.equal(copyFrom(24), GNTST_general_error);
    for (const ref of [21, 22, 23, 24]) assert.equal(readStatus(w, g2, ref), 0);
    assert.equal(readStatus(w, g1, 10), 0);
    assert.equal(d1.refCount, 0);
    // Transitive entries are copy-only: a v1 table has no such type.
    assert.equal(
      g3.mapGrantRef({ hostAddr: 1, flags: GNTMAP_host_map | GNTMAP_readonly, ref: 20, dom: 2 })
        .status,
      GNTST_general_error,
    );
  });

  test('a dying granter cannot be copied from', () => {
    const { w, d1, g1, g2 } = setup();
    grantV1(w, g1, 8, { flags: GTF_permit_access, domid: 2, frame: 0 });
    const m = g2.mapGrantRef({ hostAddr: 1, flags: GNTMAP_host_map, ref: 8, dom: 1 });
    g1.destroy();
    assert.equal(
      g2.copy(op({ source: { u: 8, domid: 1, offset: 0 }, flags: SRC })),
      GNTST_bad_domain,
    );
    g2.unmapGrantRef({ handle: m.handle, hostAddr: 1, devBusAddr: 0 });
    assert.equal(d1.refCount, 0);
  });
});
