// HYPERVISOR_grant_table_op from inside guests: domain A grants (its entries are written
// host side, as add_to_physmap may not exist yet), domain B maps, copies and unmaps with
// VMCALLs from assembled code; the PV-only commands through doGrantTableOp directly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_handle,
  GNTST_bad_page,
  GNTST_bad_virt_addr,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GNTTAB_CACHE_CLEAN,
  GNTTAB_CACHE_INVAL,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
  gnttab_cache_flush,
  gnttab_copy,
  gnttab_get_status_frames,
  gnttab_get_version,
  gnttab_map_grant_ref,
  gnttab_query_size,
  gnttab_set_version,
  gnttab_setup_table,
  gnttab_swap_grant_ref,
  gnttab_transfer,
  gnttab_unmap_and_replace,
  gnttab_unmap_grant_ref,
  grant_entry_v1,
} from '../../abi/grant_table.js';
import type { Fields, InputOf, Layout, ValueOf } from '../../abi/layout.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { P2m } from '../../x86/memory.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import type { Domain } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest, writeGuest } from '../testing/guest.js';
import { doGrantTableOp } from './grant-table-op.js';
import type { HypercallCall } from './table.js';

const PAGE = 4096;
/** A's pages granted read-only and read-write, and one it never grants. */
const RO_GFN = 0x500;
const RW_GFN = 0x501;
const SECRET_GFN = 0x503;
/** Holes in B's address space (beyond its 8 MiB of RAM) where grants get mapped. */
const HOLE = 0x1000;
/** B's results (8-byte slots) and its argument structs. */
const RESULTS = GUEST_DATA;
const OPS = GUEST_DATA + 0x1000;
const OPS2 = GUEST_DATA + 0x2000;
const LIST = GUEST_DATA + 0x3000;
const UNMAPPED = '0x00007fff00000000';

const MAP = gnttab_map_grant_ref;
const INVALID = -1n; // INVALID_GFN as an int64

const IDLE = assemble('1: cli; hlt; jmp 1b', 64, { origin: GUEST_CODE });

interface Setup {
  hv: Hypervisor;
  a: Domain;
  b: Domain;
  free: number;
}

function setup(): Setup {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const free = hv.frames.free;
  const a = hv.createDomain({ maxVcpus: 1, maxPages: 4096, maxGrantFrames: 4 });
  const b = hv.createDomain({ maxVcpus: 1, maxPages: 4096, maxGrantFrames: 4 });
  // Both get RAM and paging now; B's program is loaded by runB.
  prepareGuest(hv, a, IDLE);
  prepareGuest(hv, b, IDLE);
  for (const gfn of [RO_GFN, RW_GFN, SECRET_GFN]) {
    writeGuest(hv, a, gfn * PAGE, pattern(gfn));
  }
  return { hv, a, b, free };
}

function pattern(seed: number): Uint8Array {
  return Uint8Array.from({ length: PAGE }, (_, i) => (i * 7 + seed) & 0xff);
}

/** A writes grant entry `ref` (v1) into its table. */
function grant(hv: Hypervisor, a: Domain, ref: number, domid: number, frame: number, ro = false) {
  const at = a.grants.sharedFrames[0]! * PAGE + ref * grant_entry_v1.size;
  const flags = GTF_permit_access | (ro ? GTF_readonly : 0);
  grant_entry_v1.write(hv.memory.view, at, { flags, domid, frame });
}

function entryFlags(hv: Hypervisor, a: Domain, ref: number): number {
  return hv.memory.view.getUint16(a.grants.sharedFrames[0]! * PAGE + ref * 8, true);
}

function put<F extends Fields>(
  hv: Hypervisor,
  d: Domain,
  gpa: number,
  layout: Layout<F>,
  values: InputOf<F>[],
): void {
  values.forEach((value, i) => {
    writeGuest(hv, d, gpa + i * layout.size, layout.encode(value));
  });
}

function get<F extends Fields>(
  hv: Hypervisor,
  d: Domain,
  gpa: number,
  layout: Layout<F>,
  count: number,
): ValueOf<F>[] {
  const bytes = readGuest(hv, d, gpa, count * layout.size);
  return Array.from({ length: count }, (_, i) => layout.decode(bytes, i * layout.size));
}

function results(hv: Hypervisor, d: Domain, count: number): bigint[] {
  const view = new DataView(readGuest(hv, d, RESULTS, count * 8).buffer);
  return Array.from({ length: count }, (_, i) => view.getBigInt64(i * 8, true));
}

/** grant_table_op(cmd, uop, count) with RAX stored in result slot `slot`. */
function gnttab(cmd: number, uop: number | string, count: number | string, slot: number): string {
  return `
    mov $20, %eax
    mov $${cmd}, %edi
    movabs $${uop}, %rsi
    mov $${count}, %edx
    vmcall
    mov %rax, ${slot * 8}(%rbx)`;
}

/** Loads the qword at guest-physical `gpa` into result slot `slot`. */
function load(gpa: number, slot: number): string {
  return `
    mov $${gpa}, %rcx
    mov (%rcx), %rax
    mov %rax, ${slot * 8}(%rbx)`;
}

/** B spins here until the test resumes it (a halted vCPU would wait for an interrupt). */
const GO = GUEST_DATA + 0x4000;
const PAUSE = `2: cmpq $0, ${GO}\n je 2b`;

function runB(s: Setup, body: string): void {
  const code = assemble(`mov $${RESULTS}, %rbx\n${body}\n1: cli; hlt; jmp 1b`, 64, {
    origin: GUEST_CODE,
  });
  writeGuest(s.hv, s.b, GUEST_CODE, code);
  s.hv.unpause(s.b);
  s.hv.run(500_000);
}

function resume(s: Setup): void {
  writeGuest(s.hv, s.b, GO, Uint8Array.of(1));
  s.hv.run(500_000);
}

function qword(bytes: Uint8Array, at = 0): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(at, true);
}

function destroyAll(s: Setup): void {
  for (const d of [s.b, s.a]) s.hv.destroyDomain(d);
  assert.equal(s.hv.zombies.size, 0);
  assert.equal(s.hv.frames.free, s.free, 'every frame came back');
}

describe('grant_table_op: map and unmap', () => {
  test('B maps A grants, reads and writes through them, and unmaps', () => {
    const s = setup();
    const { hv, a, b } = s;
    grant(hv, a, 10, b.id, RO_GFN, true);
    grant(hv, a, 11, b.id, RW_GFN);
    grant(hv, a, 12, 7, SECRET_GFN); // for another domain
    const host = (n: number) => BigInt((HOLE + n) * PAGE);
    const ro = GNTMAP_host_map | GNTMAP_readonly;
    const sentinel = { status: 0x55, handle: 0xdeadbeef, dev_bus_addr: 0x1234n };
    put(hv, b, OPS, MAP, [
      { host_addr: host(0), flags: ro, ref: 10, dom: a.id, ...sentinel },
      { host_addr: host(1), flags: GNTMAP_host_map, ref: 11, dom: a.id, ...sentinel },
      { host_addr: host(2), flags: ro, ref: 12, dom: a.id, ...sentinel },
      { host_addr: host(3), flags: ro, ref: 13, dom: a.id, ...sentinel }, // never granted
      { host_addr: host(4), flags: GNTMAP_host_map, ref: 10, dom: a.id, ...sentinel },
      { host_addr: host(5), flags: ro, ref: 5000, dom: a.id, ...sentinel },
      { host_addr: host(6), flags: ro, ref: 10, dom: 99, ...sentinel },
      { host_addr: host(7), flags: GNTMAP_device_map, ref: 10, dom: a.id, ...sentinel },
    ]);
    const mapHandle = (i: number) => OPS + i * MAP.size + MAP.offsets.handle;
    const unmapHandle = (i: number) => OPS2 + i * 24 + gnttab_unmap_grant_ref.offsets.handle;
    put(hv, b, OPS2, gnttab_unmap_grant_ref, [
      { host_addr: host(0), dev_bus_addr: 0n, handle: 0, status: 0x55 },
      { host_addr: host(1), dev_bus_addr: 0n, handle: 0, status: 0x55 },
      { host_addr: host(0), dev_bus_addr: 0n, handle: 0, status: 0x55 }, // again
      { host_addr: host(0), dev_bus_addr: 0n, handle: 999, status: 0x55 },
    ]);
    runB(
      s,
      `${gnttab(0, OPS, 8, 0)}
      ${load(HOLE * PAGE, 1)}
      ${load((HOLE + 1) * PAGE, 2)}
      ${load((HOLE + 2) * PAGE, 3)}
      ${load((HOLE + 3) * PAGE, 4)}
      mov $${(HOLE + 1) * PAGE}, %rcx
      movq $0x11223344, 8(%rcx)
      ${PAUSE}
      mov ${mapHandle(0)}, %eax
      mov %eax, ${unmapHandle(0)}
      mov %eax, ${unmapHandle(2)}
      mov ${mapHandle(1)}, %eax
      mov %eax, ${unmapHandle(1)}
      ${gnttab(1, OPS2, 4, 5)}
      ${load(HOLE * PAGE, 6)}
      ${load((HOLE + 1) * PAGE, 7)}`,
    );
    const maps = get(hv, b, OPS, MAP, 8);
    assert.deepEqual(
      maps.map((m) => m.status),
      [
        GNTST_okay,
        GNTST_okay,
        GNTST_general_error, // granted to d7, not to B
        GNTST_general_error, // not granted at all
        GNTST_general_error, // a writable map of a read-only grant
        GNTST_bad_gntref,
        GNTST_bad_domain,
        GNTST_general_error, // no device mappings for HVM
      ],
    );
    const roMfn = a.mfnOf(RO_GFN);
    assert.equal(maps[0]!.dev_bus_addr, BigInt(roMfn * PAGE));
    assert.notEqual(maps[0]!.handle, maps[1]!.handle);
    for (const m of maps.slice(2)) {
      assert.equal(m.handle, 0xdeadbeef, 'a failed map leaves handle alone');
      assert.equal(m.dev_bus_addr, 0x1234n);
    }
    let r = results(hv, b, 5);
    assert.equal(r[0], 0n);
    assert.equal(r[1], qword(pattern(RO_GFN)), 'B reads A page through the grant');
    assert.equal(r[2], qword(pattern(RW_GFN)));
    assert.equal(r[3], -1n, 'nothing mapped for a grant to another domain');
    assert.equal(r[4], -1n, 'nothing mapped for an ungranted frame');
    for (const n of [2, 3, 4, 5, 6, 7]) assert.equal(b.mfnOf(HOLE + n), -1);

    // While mapped: A's entries show the use, B's write reached A's read-write page.
    assert.equal(entryFlags(hv, a, 10) & (GTF_reading | GTF_writing), GTF_reading);
    assert.equal(entryFlags(hv, a, 11) & (GTF_reading | GTF_writing), GTF_reading | GTF_writing);
    assert.equal(a.grants.pinned, 2);
    assert.equal(b.grants.mappings, 2);
    assert.equal(qword(readGuest(hv, a, RW_GFN * PAGE + 8, 8)), 0x11223344n);

    resume(s);
    const unmaps = get(hv, b, OPS2, gnttab_unmap_grant_ref, 4);
    assert.deepEqual(
      unmaps.map((u) => u.status),
      [GNTST_okay, GNTST_okay, GNTST_bad_handle, GNTST_bad_handle],
    );
    r = results(hv, b, 8);
    assert.equal(r[5], 0n);
    assert.equal(r[6], -1n, 'unmapped: the hole reads as nothing again');
    assert.equal(r[7], -1n);
    assert.equal(entryFlags(hv, a, 10) & (GTF_reading | GTF_writing), 0);
    assert.equal(entryFlags(hv, a, 11) & (GTF_reading | GTF_writing), 0);
    assert.equal(a.grants.pinned, 0);
    assert.equal(b.grants.mappings, 0);
    assert.equal(b.p2m[HOLE], P2m.None);
    destroyAll(s);
  });

  // A write to a read-only P2M entry is an MMIO exit, which this hypervisor discards.
  test('a write through a read-only grant mapping does not reach the granter', () => {
    const s = setup();
    const { hv, a, b } = s;
    grant(hv, a, 10, b.id, RO_GFN, true);
    put(hv, b, OPS, MAP, [
      {
        host_addr: BigInt(HOLE * PAGE),
        flags: GNTMAP_host_map | GNTMAP_readonly,
        ref: 10,
        dom: a.id,
      },
    ]);
    runB(
      s,
      `${gnttab(0, OPS, 1, 0)}
      mov $${HOLE * PAGE}, %rcx
      movq $0x55667788, 8(%rcx)
      ${load(HOLE * PAGE + 8, 1)}`,
    );
    const r = results(hv, b, 2);
    assert.equal(r[0], 0n);
    assert.equal(get(hv, b, OPS, MAP, 1)[0]!.status, GNTST_okay);
    assert.deepEqual(readGuest(hv, a, RO_GFN * PAGE, PAGE), pattern(RO_GFN));
    assert.equal(r[1], qword(pattern(RO_GFN), 8), 'B still reads the original');
  });

  test('a map array cut short by a fault keeps what it did; bad calls are refused', () => {
    const s = setup();
    const { hv, a, b } = s;
    grant(hv, a, 10, b.id, RO_GFN, true);
    // The second element lies beyond B's RAM (8 MiB), so reading it faults.
    const edge = 0x800000 - MAP.size;
    put(hv, b, edge, MAP, [
      {
        host_addr: BigInt(HOLE * PAGE),
        flags: GNTMAP_host_map | GNTMAP_readonly,
        ref: 10,
        dom: a.id,
      },
    ]);
    runB(
      s,
      `${gnttab(0, edge, 2, 0)}
      ${gnttab(0, UNMAPPED, 1, 1)}
      ${gnttab(13, OPS, 1, 2)}
      ${gnttab(0, OPS, '0x80000000', 3)}
      ${gnttab(0x1000, OPS, 1, 4)}
      ${gnttab(0, OPS, 0, 5)}
      ${gnttab(3, OPS, 1, 6)}
      ${gnttab(4, OPS, 1, 7)}
      ${gnttab(7, OPS, 1, 8)}
      ${gnttab(9, OPS, 1, 9)}
      ${gnttab(12, OPS, 1, 10)}
      ${gnttab(6, UNMAPPED, 1, 11)}
      ${gnttab(6, OPS, 2, 12)}
      ${gnttab(8, UNMAPPED, 1, 13)}
      ${gnttab(10, UNMAPPED, 1, 14)}
      ${gnttab(5, UNMAPPED, 1, 15)}`,
    );
    const [partial, fault, unknown, tooMany, opaque, none, ...rest] = results(hv, b, 16);
    assert.equal(partial, -14n, 'EFAULT');
    assert.equal(get(hv, b, edge, MAP, 1)[0]!.status, GNTST_okay, 'the first element was done');
    assert.equal(b.grants.mappings, 1);
    assert.equal(fault, -14n);
    assert.equal(unknown, -38n, 'ENOSYS');
    assert.equal(tooMany, -22n, 'EINVAL: count negative as an int');
    assert.equal(opaque, -38n, 'continuation bits: no such HVM command');
    assert.equal(none, 0n);
    // dump_table, transfer, unmap_and_replace, get_status_frames, cache_flush: not for HVM.
    assert.deepEqual(rest.slice(0, 5), [-38n, -38n, -38n, -38n, -38n]);
    assert.deepEqual(rest.slice(5), [-14n, -22n, -14n, -14n, -14n]);
    destroyAll(s);
  });
});

describe('grant_table_op: copy', () => {
  test('copies both ways through grants, with per-element statuses', () => {
    const s = setup();
    const { hv, a, b } = s;
    grant(hv, a, 20, b.id, RW_GFN);
    grant(hv, a, 21, b.id, RO_GFN, true);
    const LOCAL = 0x600;
    writeGuest(hv, b, (LOCAL + 1) * PAGE, pattern(99));
    const self = (gfn: number, offset = 0) => ({
      u: { gmfn: BigInt(gfn) },
      domid: DOMID_SELF,
      offset,
    });
    const gref = (ref: number, offset = 0) => ({ u: { ref }, domid: a.id, offset });
    const SRC = GNTCOPY_source_gref;
    const DST = GNTCOPY_dest_gref;
    put(hv, b, OPS, gnttab_copy, [
      { source: gref(21, 16), dest: self(LOCAL, 100), len: 32, flags: SRC, status: 0x55 },
      { source: self(LOCAL + 1), dest: gref(20, 200), len: 64, flags: DST, status: 0x55 },
      { source: gref(9999), dest: self(LOCAL), len: 8, flags: SRC, status: 0x55 },
      // A's frame named directly instead of through a grant.
      {
        source: { u: { gmfn: BigInt(RO_GFN) }, domid: a.id, offset: 0 },
        dest: self(LOCAL),
        len: 8,
        flags: 0,
      },
      { source: self(LOCAL + 1), dest: gref(21), len: 8, flags: DST }, // a read-only grant
      { source: gref(20, 4000), dest: self(LOCAL), len: 200, flags: SRC },
      { source: self(HOLE), dest: self(LOCAL), len: 8, flags: 0 }, // not B's RAM
      // A gfn is always the caller's own: this copies within B, whatever A has there.
      { source: self(LOCAL + 1), dest: self(RW_GFN, 0), len: 16, flags: 0 },
    ]);
    runB(s, gnttab(5, OPS, 8, 0));
    assert.deepEqual(results(hv, b, 1), [0n]);
    assert.deepEqual(
      get(hv, b, OPS, gnttab_copy, 8).map((c) => c.status),
      [
        GNTST_okay,
        GNTST_okay,
        GNTST_bad_gntref,
        GNTST_permission_denied,
        GNTST_general_error,
        GNTST_bad_copy_arg,
        GNTST_bad_page,
        GNTST_okay,
      ],
    );
    assert.deepEqual(readGuest(hv, b, LOCAL * PAGE + 100, 32), pattern(RO_GFN).subarray(16, 48));
    assert.deepEqual(readGuest(hv, a, RW_GFN * PAGE + 200, 64), pattern(99).subarray(0, 64));
    assert.deepEqual(readGuest(hv, b, RW_GFN * PAGE, 16), pattern(99).subarray(0, 16));
    assert.deepEqual(readGuest(hv, a, RW_GFN * PAGE, 16), pattern(RW_GFN).subarray(0, 16));
    assert.deepEqual(readGuest(hv, a, RO_GFN * PAGE, PAGE), pattern(RO_GFN));
    assert.equal(entryFlags(hv, a, 20) & (GTF_reading | GTF_writing), 0);
    assert.equal(entryFlags(hv, a, 21) & (GTF_reading | GTF_writing), 0);
    assert.equal(a.grants.pinned, 0);
    destroyAll(s);
  });

  test('a long copy array is preempted and continued until every element is done', () => {
    const s = setup();
    const { hv, a, b } = s;
    grant(hv, a, 21, b.id, RO_GFN, true);
    const LOCAL = 0x600;
    const n = 300;
    put(
      hv,
      b,
      OPS,
      gnttab_copy,
      Array.from({ length: n }, (_, i) => ({
        source: { u: { ref: i === 150 ? 9999 : 21 }, domid: a.id, offset: i },
        dest: { u: { gmfn: BigInt(LOCAL) }, domid: DOMID_SELF, offset: i },
        len: 1,
        flags: GNTCOPY_source_gref,
        status: 0x55,
      })),
    );
    runB(s, gnttab(5, OPS, n, 0));
    assert.deepEqual(results(hv, b, 1), [0n]);
    const statuses = get(hv, b, OPS, gnttab_copy, n).map((c) => c.status);
    assert.deepEqual(
      statuses,
      statuses.map((_, i) => (i === 150 ? GNTST_bad_gntref : GNTST_okay)),
    );
    const copied = readGuest(hv, b, LOCAL * PAGE, n);
    const want = pattern(RO_GFN).slice(0, n);
    want[150] = 0;
    assert.deepEqual(copied, want);
    destroyAll(s);
  });
});

describe('grant_table_op: the table', () => {
  test('query_size, setup_table, get/set_version and swap_grant_ref', () => {
    const s = setup();
    const { hv, a, b } = s;
    // B's first table frame mapped at a hole, as XENMEM_add_to_physmap would.
    const TABLE_GFN = 0x1800;
    const frame0 = b.grants.frameForIndex(0, false);
    b.setP2m(TABLE_GFN, frame0);
    hv.frames.m2p[frame0] = TABLE_GFN;
    grant(hv, b, 30, a.id, 0x111);
    grant(hv, b, 31, a.id, 0x222, true);
    const qs = { nr_frames: 0x5555, max_nr_frames: 0x5555, status: 0x55 };
    put(hv, b, OPS, gnttab_query_size, [
      { dom: DOMID_SELF, ...qs },
      { dom: a.id, ...qs },
      { dom: DOMID_SELF, ...qs },
    ]);
    const Q = (i: number) => OPS + i * gnttab_query_size.size;
    const ST = gnttab_setup_table;
    put(hv, b, OPS + 0x100, ST, [
      { dom: DOMID_SELF, nr_frames: 2, status: 0x55, frame_list: BigInt(LIST) },
      { dom: DOMID_SELF, nr_frames: 5, status: 0x55, frame_list: BigInt(LIST + 0x100) },
      { dom: DOMID_SELF, nr_frames: 1, status: 0x55, frame_list: BigInt(UNMAPPED) },
      { dom: a.id, nr_frames: 1, status: 0x55, frame_list: BigInt(LIST + 0x100) },
    ]);
    const S = (i: number) => OPS + 0x100 + i * ST.size;
    put(hv, b, OPS + 0x200, gnttab_get_version, [
      { dom: DOMID_SELF, version: 0x55 },
      { dom: DOMID_SELF, version: 0x55 },
      { dom: a.id, version: 0x55 },
      { dom: 99, version: 0x55 },
    ]);
    const G = (i: number) => OPS + 0x200 + i * gnttab_get_version.size;
    put(hv, b, OPS + 0x300, gnttab_set_version, [{ version: 2 }, { version: 3 }, { version: 1 }]);
    const V = (i: number) => OPS + 0x300 + i * gnttab_set_version.size;
    put(hv, b, OPS + 0x400, gnttab_swap_grant_ref, [
      { ref_a: 30, ref_b: 31, status: 0x55 },
      { ref_a: 30, ref_b: 9999, status: 0x55 },
      { ref_a: 32, ref_b: 32, status: 0x55 },
    ]);
    runB(
      s,
      `${gnttab(6, Q(0), 1, 0)}
      ${gnttab(6, Q(1), 1, 1)}
      ${gnttab(2, S(0), 1, 2)}
      ${gnttab(2, S(1), 1, 3)}
      ${gnttab(2, S(2), 1, 4)}
      ${gnttab(2, S(3), 1, 5)}
      ${gnttab(2, S(0), 2, 6)}
      ${gnttab(6, Q(2), 1, 7)}
      ${gnttab(11, OPS + 0x400, 3, 8)}
      ${load(TABLE_GFN * PAGE + 30 * 8, 9)}
      ${load(TABLE_GFN * PAGE + 31 * 8, 10)}
      ${gnttab(10, G(0), 1, 11)}
      ${gnttab(8, V(0), 1, 12)}
      ${gnttab(10, G(1), 1, 13)}
      ${gnttab(8, V(1), 1, 14)}
      ${gnttab(10, G(2), 1, 15)}
      ${gnttab(10, G(3), 1, 16)}
      ${gnttab(8, V(2), 1, 17)}`,
    );
    const r = results(hv, b, 18);
    const queries = get(hv, b, OPS, gnttab_query_size, 3);
    assert.deepEqual(queries[0], { dom: DOMID_SELF, nr_frames: 1, max_nr_frames: 4, status: 0 });
    assert.deepEqual(queries[1], { dom: a.id, ...qs, status: GNTST_permission_denied });
    assert.equal(queries[2]!.nr_frames, 2, 'setup_table grew the table');
    const setups = get(hv, b, OPS + 0x100, ST, 4);
    assert.deepEqual(
      setups.map((x) => x.status),
      [GNTST_okay, GNTST_general_error, GNTST_bad_virt_addr, GNTST_permission_denied],
    );
    const list = new DataView(readGuest(hv, b, LIST, 16).buffer);
    assert.equal(list.getBigInt64(0, true), BigInt(TABLE_GFN), 'the GFN where frame 0 is');
    assert.equal(list.getBigInt64(8, true), INVALID, 'frame 1 is mapped nowhere');
    assert.equal(b.grants.sharedFrames.length, 2);
    assert.deepEqual(r.slice(0, 8), [0n, 0n, 0n, 0n, 0n, 0n, -22n, 0n]);

    assert.equal(r[8], 0n);
    assert.deepEqual(
      get(hv, b, OPS + 0x400, gnttab_swap_grant_ref, 3).map((x) => x.status),
      [GNTST_okay, GNTST_bad_gntref, GNTST_okay],
    );
    const entry = (v: bigint) =>
      grant_entry_v1.decode(new Uint8Array(new BigInt64Array([v]).buffer));
    assert.deepEqual(entry(r[9]!), {
      flags: GTF_permit_access | GTF_readonly,
      domid: a.id,
      frame: 0x222,
    });
    assert.deepEqual(entry(r[10]!), { flags: GTF_permit_access, domid: a.id, frame: 0x111 });

    assert.deepEqual(r.slice(11), [0n, 0n, 0n, -22n, -1n, -3n, 0n]);
    const versions = get(hv, b, OPS + 0x200, gnttab_get_version, 4).map((x) => x.version);
    assert.deepEqual(versions, [1, 2, 0x55, 0x55], 'failed get_version writes nothing');
    const set = get(hv, b, OPS + 0x300, gnttab_set_version, 3).map((x) => x.version);
    assert.deepEqual(set, [2, 2, 1], 'set_version reports the version in force');
    assert.equal(b.grants.version, 1);
    destroyAll(s);
  });
});

describe('do_grant_table_op: the commands HVM guests cannot make', () => {
  /** Calls doGrantTableOp as B's vCPU 0 (the structs are in B's memory). */
  function call(s: Setup, cmd: number, uop: number, count: number): number {
    const argLo = Int32Array.of(0, cmd, uop, count, 0, 0);
    const c: HypercallCall = { hv: s.hv, vcpu: s.b.vcpus[0]!, argLo, argHi: new Int32Array(6) };
    return doGrantTableOp(c);
  }

  function prepared(): Setup {
    const s = setup();
    s.hv.unpause(s.b); // a paused vCPU would be preempted at once
    return s;
  }

  test('get_status_frames, unmap_and_replace, transfer, dump_table', () => {
    const s = prepared();
    const { hv, a, b } = s;
    const GS = gnttab_get_status_frames;
    put(hv, b, OPS, GS, [
      { nr_frames: 1, dom: DOMID_SELF, status: 0x55, frame_list: BigInt(LIST) },
    ]);
    assert.equal(call(s, 9, OPS, 1), 0);
    assert.equal(get(hv, b, OPS, GS, 1)[0]!.status, GNTST_general_error, 'v1 has none');
    put(hv, b, OPS + 0x100, gnttab_set_version, [{ version: 2 }]);
    assert.equal(call(s, 8, OPS + 0x100, 1), 0);
    const status0 = b.grants.statusFrames[0]!;
    b.setP2m(0x1900, status0);
    hv.frames.m2p[status0] = 0x1900;
    assert.equal(call(s, 9, OPS, 1), 0);
    assert.equal(get(hv, b, OPS, GS, 1)[0]!.status, GNTST_okay);
    assert.equal(qword(readGuest(hv, b, LIST, 8)), 0x1900n);
    assert.equal(call(s, 9, OPS, 2), -22);
    put(hv, b, OPS, GS, [
      { nr_frames: 2, dom: DOMID_SELF, status: 0x55, frame_list: BigInt(LIST) },
    ]);
    assert.equal(call(s, 9, OPS, 1), 0);
    assert.equal(get(hv, b, OPS, GS, 1)[0]!.status, GNTST_general_error);
    put(hv, b, OPS + 0x100, gnttab_set_version, [{ version: 1 }]);
    assert.equal(call(s, 8, OPS + 0x100, 1), 0);

    // unmap_and_replace: HVM cannot replace (new_addr != 0), it can only unmap.
    grant(hv, a, 10, b.id, RO_GFN, true);
    const flags = GNTMAP_host_map | GNTMAP_readonly;
    put(hv, b, OPS, MAP, [{ host_addr: BigInt(HOLE * PAGE), flags, ref: 10, dom: a.id }]);
    assert.equal(call(s, 0, OPS, 1), 0);
    const handle = get(hv, b, OPS, MAP, 1)[0]!.handle;
    const UR = gnttab_unmap_and_replace;
    put(hv, b, OPS + 0x100, UR, [
      { host_addr: BigInt(HOLE * PAGE), new_addr: BigInt(0x2000 * PAGE), handle, status: 0x55 },
      { host_addr: BigInt(HOLE * PAGE), new_addr: 0n, handle, status: 0x55 },
    ]);
    assert.equal(call(s, 7, OPS + 0x100, 2), 0);
    assert.deepEqual(
      get(hv, b, OPS + 0x100, UR, 2).map((x) => x.status),
      [GNTST_general_error, GNTST_okay],
    );
    assert.equal(b.mfnOf(HOLE), -1);
    assert.equal(a.grants.pinned, 0);

    // transfer: a page that is not B's is bad_page; B's own cannot be stolen from HVM.
    put(hv, b, OPS, gnttab_transfer, [
      { mfn: BigInt(HOLE), domid: a.id, ref: 40, status: 0x55 },
      { mfn: 0x600n, domid: a.id, ref: 40, status: 0x55 },
    ]);
    assert.equal(call(s, 4, OPS, 2), 0);
    assert.deepEqual(
      get(hv, b, OPS, gnttab_transfer, 2).map((x) => x.status),
      [GNTST_bad_page, GNTST_general_error],
    );
    assert.equal(call(s, 3, OPS, 1), -38, 'dump_table is gone from Xen 4.17');
    assert.equal(call(s, 0x1000, OPS, 1), -22, 'continuation bits on a command without one');
    assert.equal(call(s, 0, OPS, -1), -22);
    destroyAll(s);
  });

  test('cache_flush answers as x86 Xen does', () => {
    const s = prepared();
    const { hv, a, b } = s;
    const own = BigInt(b.mfnOf(0x600) * PAGE);
    const foreign = BigInt(a.mfnOf(RO_GFN) * PAGE);
    const CF = gnttab_cache_flush;
    const flush = (addr: bigint, op: number, length = 64, cmd = 12) => {
      put(hv, b, OPS, CF, [{ a: { dev_bus_addr: addr }, offset: 0, length, op }]);
      return call(s, cmd, OPS, 1);
    };
    assert.equal(flush(own, GNTTAB_CACHE_CLEAN), 0);
    assert.equal(flush(own, GNTTAB_CACHE_CLEAN | GNTTAB_CACHE_INVAL), 0);
    assert.equal(flush(own, GNTTAB_CACHE_INVAL), -95, 'EOPNOTSUPP: no invalidate on x86');
    assert.equal(flush(own, 4), -22);
    assert.equal(flush(foreign, GNTTAB_CACHE_CLEAN), -22, 'not mapped through a grant');
    assert.equal(flush(own, GNTTAB_CACHE_CLEAN, 0), 0);
    assert.equal(flush(own, GNTTAB_CACHE_CLEAN, 0, 12 | (5 << 12)), -84, 'EILSEQ');
    put(hv, b, OPS, CF, [
      { a: { dev_bus_addr: own }, offset: 0, length: 64, op: GNTTAB_CACHE_CLEAN },
      { a: { dev_bus_addr: own }, offset: 4000, length: 200, op: GNTTAB_CACHE_CLEAN },
    ]);
    assert.equal(call(s, 12, OPS, 2), -22);
    destroyAll(s);
  });

  test('a long array continues with uop and count moved past the work done', () => {
    const s = prepared();
    const { hv, b } = s;
    put(
      hv,
      b,
      OPS,
      gnttab_swap_grant_ref,
      Array.from({ length: 300 }, () => ({ ref_a: 40, ref_b: 41, status: 0x55 })),
    );
    const argLo = Int32Array.of(0, 11, OPS, 300, 0, 0);
    const c: HypercallCall = { hv, vcpu: b.vcpus[0]!, argLo, argHi: new Int32Array(6) };
    assert.equal(doGrantTableOp(c), -85, 'ERESTART');
    const done = (argLo[2]! - OPS) / gnttab_swap_grant_ref.size;
    assert.ok(done > 0 && done < 300);
    assert.equal(argLo[3], 300 - done);
    assert.equal(argLo[1], 11);
    const statuses = get(hv, b, OPS, gnttab_swap_grant_ref, 300).map((x) => x.status);
    assert.deepEqual(
      statuses,
      statuses.map((_, i) => (i < done ? GNTST_okay : 0x55)),
    );
    destroyAll(s);
  });
});

describe('grant_table_op: destruction', () => {
  function mapRw(s: Setup): void {
    grant(s.hv, s.a, 11, s.b.id, RW_GFN);
    put(s.hv, s.b, OPS, MAP, [
      { host_addr: BigInt(HOLE * PAGE), flags: GNTMAP_host_map, ref: 11, dom: s.a.id },
    ]);
    put(s.hv, s.b, OPS2, gnttab_unmap_grant_ref, [
      { host_addr: BigInt(HOLE * PAGE), dev_bus_addr: 0n, handle: 0, status: 0x55 },
    ]);
    const handle = OPS + MAP.offsets.handle;
    runB(
      s,
      `${gnttab(0, OPS, 1, 0)}
      ${PAUSE}
      ${load(HOLE * PAGE, 1)}
      mov ${handle}, %eax
      mov %eax, ${OPS2 + gnttab_unmap_grant_ref.offsets.handle}
      ${gnttab(1, OPS2, 1, 2)}`,
    );
    assert.equal(get(s.hv, s.b, OPS, MAP, 1)[0]!.status, GNTST_okay);
    assert.equal(s.a.grants.pinned, 1);
  }

  test('destroying the mapper releases its mappings of the granter', () => {
    const s = setup();
    mapRw(s);
    s.hv.destroyDomain(s.b);
    assert.equal(s.a.grants.pinned, 0);
    assert.equal(entryFlags(s.hv, s.a, 11) & (GTF_reading | GTF_writing), 0);
    assert.equal(s.hv.zombies.size, 0);
    s.hv.destroyDomain(s.a);
    assert.equal(s.hv.frames.free, s.free);
  });

  test('a destroyed granter stays a zombie until the mapper unmaps', () => {
    const s = setup();
    mapRw(s);
    s.hv.destroyDomain(s.a);
    assert.ok(s.hv.zombies.has(s.a.id));
    resume(s);
    const r = results(s.hv, s.b, 3);
    assert.equal(r[1], qword(pattern(RW_GFN)), 'the granted page outlives its owner');
    assert.equal(r[2], 0n);
    assert.equal(get(s.hv, s.b, OPS2, gnttab_unmap_grant_ref, 1)[0]!.status, GNTST_okay);
    assert.equal(s.hv.zombies.size, 0, 'the last unmap released the zombie');
    s.hv.destroyDomain(s.b);
    assert.equal(s.hv.frames.free, s.free);
  });

  test('a zombie granter goes when its mapper is destroyed still mapping', () => {
    const s = setup();
    mapRw(s);
    s.hv.destroyDomain(s.a);
    assert.ok(s.hv.zombies.has(s.a.id));
    s.hv.destroyDomain(s.b);
    assert.equal(s.hv.zombies.size, 0);
    assert.equal(s.hv.frames.free, s.free);
  });
});
