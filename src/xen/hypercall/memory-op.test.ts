// HYPERVISOR_memory_op from inside assembled guests (reservations, the physmap, memory maps,
// a control domain acting on another) and, for the edge cases, called directly on a prepared
// domain. Every test ends by destroying its domains and counting the free frames.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_EACCES,
  XEN_EDOM,
  XEN_EFAULT,
  XEN_EILSEQ,
  XEN_EINVAL,
  XEN_ENODEV,
  XEN_ENOENT,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EOVERFLOW,
  XEN_EPERM,
  XEN_ERESTART,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  E820_RAM,
  E820_RESERVED,
  e820entry,
  XENMAPIDX_grant_table_status,
  XENMAPSPACE_dev_mmio,
  XENMAPSPACE_gmfn,
  XENMAPSPACE_gmfn_foreign,
  XENMAPSPACE_gmfn_range,
  XENMAPSPACE_grant_table,
  XENMAPSPACE_shared_info,
  XENMEM_access_op,
  XENMEM_acquire_resource,
  XENMEM_add_to_physmap,
  XENMEM_add_to_physmap_batch,
  XENMEM_claim_pages,
  XENMEM_current_reservation,
  XENMEM_decrease_reservation,
  XENMEM_exchange,
  XENMEM_get_pod_target,
  XENMEM_get_sharing_shared_pages,
  XENMEM_get_vnumainfo,
  XENMEM_increase_reservation,
  XENMEM_machine_memory_map,
  XENMEM_machphys_mfn_list,
  XENMEM_maximum_gpfn,
  XENMEM_maximum_ram_page,
  XENMEM_maximum_reservation,
  XENMEM_memory_map,
  XENMEM_paging_op,
  XENMEM_populate_physmap,
  XENMEM_remove_from_physmap,
  XENMEM_reserved_device_memory_map,
  XENMEM_set_memory_map,
  XENMEM_set_pod_target,
  XENMEMF_exact_node_request,
  XENMEMF_node,
  xen_add_to_physmap,
  xen_add_to_physmap_batch,
  xen_foreign_memory_map,
  xen_mem_access_op,
  xen_mem_acquire_resource,
  xen_memory_domain,
  xen_memory_exchange,
  xen_memory_map,
  xen_memory_reservation,
  xen_pod_target,
  xen_remove_from_physmap,
  xen_reserved_device_memory_map,
  xen_vnuma_topology_info,
} from '../../abi/memory.js';
import { SHUTDOWN_crash, SHUTDOWN_poweroff } from '../../abi/sched.js';
import { DOMID_SELF, shared_info, vcpu_info, vcpu_time_info } from '../../abi/xen.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import { type Domain, DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest, writeGuest } from '../testing/guest.js';
import { memoryOp } from './memory-op.js';
import { highestMappedGfn } from './memory-op-common.js';
import type { HypercallCall } from './table.js';

/** Results (8 bytes each), argument structs, arrays and the shutdown reason. */
const RESULTS = GUEST_DATA;
const ARGS = GUEST_DATA + 0x10000;
const ARRAYS = GUEST_DATA + 0x20000;
const REASON = GUEST_DATA + 0x30000;
/** A guest virtual address the test guests' page tables do not map. */
const UNMAPPED = 0x7fff00000000;
/** What a read of a guest frame with nothing behind it gives. */
const ALL_ONES = -1;

/** A guest program written step by step; each step's value lands in its own result slot. */
class Program {
  private readonly steps: string[] = [];
  private slots = 0;

  /** memory_op(cmd, arg): the slot of its result. */
  memop(cmd: number, arg: number): number {
    this.steps.push(`mov $12, %eax\n mov $${cmd}, %rdi\n movabs $${arg}, %rsi\n vmcall`);
    return this.store();
  }

  /** A 64-bit read of guest address `at` (an MMIO exit where nothing is mapped). */
  read(at: number, bytes: 4 | 8 = 8): number {
    this.steps.push(bytes === 8 ? `mov ${at}, %rax` : `mov ${at}, %eax`);
    return this.store();
  }

  write(at: number, value: number): void {
    this.steps.push(`movabs $${value}, %rax\n mov %rax, ${at}`);
  }

  source(): string {
    return `
      mov $${RESULTS}, %rbx
      ${this.steps.join('\n')}
      movl $${SHUTDOWN_poweroff}, ${REASON}
      mov $29, %eax
      mov $2, %edi
      mov $${REASON}, %esi
      vmcall
      ud2
    `;
  }

  private store(): number {
    const slot = this.slots++;
    this.steps.push(`mov %rax, ${slot * 8}(%rbx)`);
    return slot;
  }
}

interface Machine {
  hv: Hypervisor;
  freeBefore: number;
}

function machine(memoryMiB = 32): Machine {
  const hv = new Hypervisor({ memoryBytes: memoryMiB << 20, clock: 'virtual' });
  return { hv, freeBefore: hv.frames.free };
}

/** Runs `program` in `domain` to its poweroff; returns its result slots. */
function run(hv: Hypervisor, domain: Domain, program: Program, setup?: () => void): number[] {
  prepareGuest(hv, domain, assemble(program.source(), 64, { origin: GUEST_CODE }));
  setup?.();
  hv.unpause(domain);
  hv.run(2_000_000);
  assert.equal(domain.state, DomainState.Shutdown, 'the guest reached its end');
  assert.equal(domain.shutdownReason, SHUTDOWN_poweroff, hv.console.contents());
  const bytes = readGuest(hv, domain, RESULTS, 0x1000);
  const view = new DataView(bytes.buffer);
  return Array.from({ length: 512 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
}

/** Destroys the domains and checks that every frame came back. */
function destroyAll(m: Machine, ...domains: Domain[]): void {
  for (const d of domains) m.hv.destroyDomain(d);
  assert.equal(m.hv.frames.free, m.freeBefore, 'destroy gives back every frame');
}

function u64s(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(v)), true);
  });
  return out;
}

function put(hv: Hypervisor, d: Domain, at: number, bytes: Uint8Array): number {
  writeGuest(hv, d, at, bytes);
  return at;
}

function reservation(
  hv: Hypervisor,
  d: Domain,
  at: number,
  list: number,
  nr: number,
  fields: { order?: number; flags?: number; domid?: number } = {},
): number {
  const value = {
    extent_start: list,
    nr_extents: nr,
    extent_order: fields.order ?? 0,
    mem_flags: fields.flags ?? 0,
    domid: fields.domid ?? DOMID_SELF,
  };
  return put(hv, d, at, xen_memory_reservation.encode(value));
}

function domidArg(hv: Hypervisor, d: Domain, at: number, domid: number): number {
  return put(hv, d, at, xen_memory_domain.encode({ domid }));
}

function xatp(
  hv: Hypervisor,
  d: Domain,
  at: number,
  space: number,
  idx: number,
  gpfn: number | bigint,
  fields: { size?: number; domid?: number } = {},
): number {
  const value = { domid: fields.domid ?? DOMID_SELF, size: fields.size ?? 0, space, idx, gpfn };
  return put(hv, d, at, xen_add_to_physmap.encode(value));
}

/** One memory_op called directly, as the dispatcher would, for vCPU 0 of `d`. */
function direct(hv: Hypervisor, d: Domain, cmd: number, arg: number): number {
  const call: HypercallCall = {
    hv,
    vcpu: d.vcpus[0]!,
    argLo: new Int32Array(6),
    argHi: new Int32Array(6),
  };
  call.argLo[1] = cmd | 0;
  call.argHi[1] = Math.floor(cmd / 2 ** 32);
  call.argLo[2] = arg | 0;
  call.argHi[2] = Math.floor(arg / 2 ** 32);
  let result = memoryOp(call);
  // Continuations: the guest would make the call again with the updated arguments.
  for (let n = 0; result === -XEN_ERESTART && n < 10_000; n++) result = memoryOp(call);
  return result;
}

let UD2: Uint8Array | undefined;

/** A prepared (not running) domain whose memory the direct calls read their arguments from. */
function prepared(hv: Hypervisor, config: { maxPages?: number; privileged?: boolean } = {}) {
  const d = hv.createDomain({
    maxVcpus: 1,
    maxPages: config.maxPages ?? 4096,
    ...(config.privileged ? { privileged: true } : {}),
  });
  UD2 ??= assemble('ud2', 64, { origin: GUEST_CODE });
  prepareGuest(hv, d, UD2);
  return d;
}

describe('memory_op: reservations', () => {
  test('populate, decrease, the reservation queries and their errors, from a guest', () => {
    const m = machine();
    const { hv } = m;
    const other = hv.createDomain({ maxVcpus: 1, maxPages: 100 });
    hv.populatePhysmap(other, 0, 10);
    const d = hv.createDomain({ maxVcpus: 1, maxPages: 2048 + 16 });
    const p = new Program();
    const a = (n: number) => ARGS + n * 0x40;
    const list = (n: number) => ARRAYS + n * 0x100;
    const r: Record<string, number> = {};
    const setup: (() => void)[] = [];
    const arg = (n: number, write: () => number) => {
      setup.push(write);
      return a(n);
    };
    r.current = p.memop(
      XENMEM_current_reservation,
      arg(0, () => domidArg(hv, d, a(0), DOMID_SELF)),
    );
    r.maximum = p.memop(XENMEM_maximum_reservation, a(0));
    // Two frames in the hole above the guest's 8 MiB.
    setup.push(() => put(hv, d, list(0), u64s([0x900, 0x901])));
    r.populate = p.memop(
      XENMEM_populate_physmap,
      arg(1, () => reservation(hv, d, a(1), list(0), 2)),
    );
    p.write(0x900008, 0x1234_5678_9abc);
    r.readBack = p.read(0x900008);
    r.afterPopulate = p.memop(XENMEM_current_reservation, a(0));
    setup.push(() => put(hv, d, list(1), u64s([0xa00])));
    r.order1 = p.memop(
      XENMEM_populate_physmap,
      arg(2, () => reservation(hv, d, a(2), list(1), 1, { order: 1 })),
    );
    r.maxGpfn = p.memop(XENMEM_maximum_gpfn, a(0));
    r.decrease = p.memop(
      XENMEM_decrease_reservation,
      arg(3, () => reservation(hv, d, a(3), list(0), 1)),
    );
    r.gone = p.read(0x900008);
    setup.push(() => put(hv, d, list(2), u64s([0x950])));
    r.decreaseHole = p.memop(
      XENMEM_decrease_reservation,
      arg(4, () => reservation(hv, d, a(4), list(2), 1)),
    );
    // Stops at the hole: one extent done.
    setup.push(() => put(hv, d, list(3), u64s([0x901, 0x950, 0xa00])));
    r.decreasePartial = p.memop(
      XENMEM_decrease_reservation,
      arg(5, () => reservation(hv, d, a(5), list(3), 3)),
    );
    r.gone901 = p.read(0x901000);
    r.kept = p.read(0xa00000);
    // Continuing from extent 1 (cmd's upper bits): only 0xc01 is populated.
    setup.push(() => put(hv, d, list(4), u64s([0xc00, 0xc01])));
    r.fromExtent1 = p.memop(
      XENMEM_populate_physmap | (1 << 6),
      arg(6, () => reservation(hv, d, a(6), list(4), 2)),
    );
    r.c00 = p.read(0xc00000);
    r.c01 = p.read(0xc01000);
    r.increase = p.memop(
      XENMEM_increase_reservation,
      arg(14, () => reservation(hv, d, a(14), 0, 1)),
    );
    r.afterIncrease = p.memop(XENMEM_current_reservation, a(0));
    // 2048 + 2 + 2 - 1 - 1 + 1 + 1 = 2052 pages: 12 more fit under max_pages.
    setup.push(() => put(hv, d, list(5), u64s(Array.from({ length: 20 }, (_, i) => 0xb00 + i))));
    r.overMax = p.memop(
      XENMEM_populate_physmap,
      arg(7, () => reservation(hv, d, a(7), list(5), 20)),
    );
    r.atMax = p.memop(XENMEM_current_reservation, a(0));
    r.ramPage = p.memop(XENMEM_maximum_ram_page, 0);
    r.noDomain = p.memop(
      XENMEM_populate_physmap,
      arg(8, () => reservation(hv, d, a(8), list(0), 1, { domid: 77 })),
    );
    r.queryNoDomain = p.memop(
      XENMEM_current_reservation,
      arg(9, () => domidArg(hv, d, a(9), 77)),
    );
    r.queryOther = p.memop(
      XENMEM_current_reservation,
      arg(10, () => domidArg(hv, d, a(10), other.id)),
    );
    setup.push(() => put(hv, d, list(6), u64s([5])));
    r.decreaseOther = p.memop(
      XENMEM_decrease_reservation,
      arg(11, () => reservation(hv, d, a(11), list(6), 1, { domid: other.id })),
    );
    r.queryFault = p.memop(XENMEM_current_reservation, UNMAPPED);
    r.populateFault = p.memop(XENMEM_populate_physmap, UNMAPPED);
    r.listFault = p.memop(
      XENMEM_decrease_reservation,
      arg(12, () => reservation(hv, d, a(12), UNMAPPED, 1)),
    );
    r.orderTooBig = p.memop(
      XENMEM_populate_physmap,
      arg(13, () => reservation(hv, d, a(13), list(1), 1, { order: 10 })),
    );
    r.noMap = p.memop(
      XENMEM_memory_map,
      arg(15, () => put(hv, d, a(15), new Uint8Array(16))),
    );
    r.unknown = p.memop(63, a(0));
    r.ramPageExtent = p.memop(XENMEM_maximum_ram_page | (1 << 6), 0);
    r.machineMap = p.memop(XENMEM_machine_memory_map, a(15));
    const results = run(hv, d, p, () => {
      for (const write of setup) write();
    });
    const at = (name: string) => results[r[name]!]!;

    assert.equal(at('current'), 2048);
    assert.equal(at('maximum'), 2064);
    assert.equal(at('populate'), 2);
    assert.equal(at('readBack'), 0x1234_5678_9abc);
    assert.equal(at('afterPopulate'), 2050);
    assert.equal(at('order1'), 1);
    assert.equal(at('maxGpfn'), 0xa01);
    assert.equal(at('decrease'), 1);
    assert.equal(at('gone'), ALL_ONES, 'a decreased frame reads as nothing');
    assert.equal(at('decreaseHole'), 0);
    assert.equal(at('decreasePartial'), 1);
    assert.equal(at('gone901'), ALL_ONES);
    assert.notEqual(at('kept'), ALL_ONES, 'the extent after the hole was left alone');
    assert.equal(at('fromExtent1'), 2);
    assert.equal(at('c00'), ALL_ONES);
    assert.equal(at('c01'), 0);
    assert.equal(at('overMax'), 12);
    assert.equal(at('atMax'), 2064);
    assert.equal(at('ramPage'), hv.memory.frames);
    assert.equal(at('noDomain'), 0);
    assert.equal(at('queryNoDomain'), -XEN_ESRCH);
    assert.equal(at('queryOther'), -XEN_EPERM);
    assert.equal(at('decreaseOther'), 0);
    assert.ok(other.mfnOf(5) >= 0, "another domain's page stays");
    assert.equal(other.totPages, 10);
    assert.equal(at('queryFault'), -XEN_EFAULT);
    assert.equal(at('populateFault'), 0);
    assert.equal(at('listFault'), 0);
    assert.equal(at('orderTooBig'), 0);
    assert.equal(at('increase'), 1, 'allocated, mapped nowhere');
    assert.equal(at('afterIncrease'), 2052);
    assert.equal(d.displacedRam.length, 1);
    assert.equal(at('noMap'), -XEN_ENOSYS);
    assert.equal(at('unknown'), -XEN_ENOSYS);
    assert.equal(at('ramPageExtent'), -XEN_EINVAL);
    assert.equal(at('machineMap'), -XEN_ENOSYS);
    assert.equal(d.totPages, hv.frames.count(d.id), 'tot_pages counts the frames it owns');
    destroyAll(m, d, other);
  });

  test('a long populate is preempted and continued until every extent is done', () => {
    const m = machine();
    const { hv } = m;
    const d = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    const p = new Program();
    const gfns = Array.from({ length: 300 }, (_, i) => 0x1000 + i);
    const done = p.memop(XENMEM_populate_physmap, ARGS);
    const last = p.read(0x1000000 + 299 * 4096);
    const results = run(hv, d, p, () => {
      put(hv, d, ARRAYS, u64s(gfns));
      reservation(hv, d, ARGS, ARRAYS, gfns.length);
    });
    assert.equal(results[done], 300);
    assert.equal(results[last], 0);
    assert.ok(gfns.every((gfn) => d.mfnOf(gfn) >= 0));
    assert.equal(d.totPages, 2048 + 300);
    destroyAll(m, d);
  });

  test('host-side edge cases: flags, extents, a grant mapping in the way', () => {
    const m = machine();
    const { hv } = m;
    const d = prepared(hv);
    const other = prepared(hv);
    put(hv, d, ARRAYS, u64s([0x900]));
    const populate = (fields: Parameters<typeof reservation>[5], nr = 1) =>
      direct(hv, d, XENMEM_populate_physmap, reservation(hv, d, ARGS, ARRAYS, nr, fields));
    // address bits at or below PAGE_SHIFT are refused; a domU may not insist on a node.
    assert.equal(populate({ flags: 12 }), 0);
    assert.equal(populate({ flags: XENMEMF_node(1) | XENMEMF_exact_node_request }), 0);
    assert.equal(populate({ flags: XENMEMF_node(1) }), 1, 'a node hint is fine');
    const first = d.mfnOf(0x900);
    assert.equal(populate({}), 1, 'populating a populated frame replaces its page');
    assert.notEqual(d.mfnOf(0x900), first);
    assert.deepEqual(d.displacedRam, [first], 'the old page stays allocated, unmapped');
    assert.equal(d.totPages, 2050);
    // A start extent at or past nr_extents is the answer.
    assert.equal(
      direct(hv, d, XENMEM_populate_physmap | (5 << 6), reservation(hv, d, ARGS, ARRAYS, 1)),
      5,
    );
    // Too many extents to continue: nothing done.
    assert.equal(populate({}, 2 ** 26), 0);
    // Populate-on-demand on oneself is refused.
    assert.equal(populate({ flags: 1 << 16 }), 0);
    // Decrease of shared_info's frame unhooks it; tot_pages does not change.
    assert.equal(
      direct(hv, d, XENMEM_add_to_physmap, xatp(hv, d, ARGS, XENMAPSPACE_shared_info, 0, 0x910)),
      0,
    );
    put(hv, d, ARRAYS, u64s([0x910]));
    assert.equal(
      direct(hv, d, XENMEM_decrease_reservation, reservation(hv, d, ARGS, ARRAYS, 1)),
      1,
    );
    assert.equal(d.mfnOf(0x910), -1);
    assert.equal(d.totPages, 2050);
    // A frame of another domain (as a grant mapping puts it) is not the guest's to free…
    const foreign = other.mfnOf(0x10);
    d.setP2m(0x920, foreign);
    d.grantMapped.add(0x920);
    put(hv, d, ARRAYS, u64s([0x920]));
    assert.equal(
      direct(hv, d, XENMEM_decrease_reservation, reservation(hv, d, ARGS, ARRAYS, 1)),
      0,
    );
    assert.equal(
      direct(
        hv,
        d,
        XENMEM_remove_from_physmap,
        put(hv, d, ARGS, xen_remove_from_physmap.encode({ domid: DOMID_SELF, gpfn: 0x920 })),
      ),
      -XEN_ENOENT,
    );
    // …nor to populate over: Xen crashes the domain.
    assert.equal(populate({}), 0);
    assert.equal(d.state, DomainState.Shutdown);
    assert.equal(d.shutdownReason, SHUTDOWN_crash);
    assert.equal(other.mfnOf(0x10), foreign, 'the other domain keeps its page');
    d.setP2m(0x920, -1);
    d.grantMapped.delete(0x920);
    destroyAll(m, d, other);
  });

  test('populate stops when machine memory runs out; an extent with a hole stops decrease', () => {
    const m = machine(16);
    const { hv } = m;
    const d = prepared(hv, { maxPages: 1 << 20 });
    const free = hv.frames.free;
    put(hv, d, ARRAYS, u64s(Array.from({ length: 16 }, (_, i) => 0x10000 + i * 512)));
    const done = direct(
      hv,
      d,
      XENMEM_populate_physmap,
      reservation(hv, d, ARGS, ARRAYS, 16, { order: 9 }),
    );
    assert.equal(done, Math.floor(free / 512));
    assert.ok(hv.frames.free < 512);
    // Order 1 at 0x7ff: 0x7ff is RAM, 0x800 a hole. The first page goes, the extent fails.
    put(hv, d, ARRAYS, u64s([0x7ff]));
    const before = d.totPages;
    assert.equal(
      direct(hv, d, XENMEM_decrease_reservation, reservation(hv, d, ARGS, ARRAYS, 1, { order: 1 })),
      0,
    );
    assert.equal(d.mfnOf(0x7ff), -1);
    assert.equal(d.totPages, before - 1);
    destroyAll(m, d);
  });

  test('maximum_gpfn is the highest mapped frame', () => {
    const p2m = new Int32Array(1 << 12).fill(-1);
    assert.equal(highestMappedGfn(p2m), 0);
    p2m[5] = 7;
    assert.equal(highestMappedGfn(p2m), 5);
    p2m[(1 << 12) - 1] = 9;
    assert.equal(highestMappedGfn(p2m), (1 << 12) - 1);
    p2m[(1 << 12) - 1] = -1;
    p2m[0x801] = 0;
    assert.equal(highestMappedGfn(p2m), 0x801);
  });
});

describe('memory_op: the physmap', () => {
  test('shared_info, grant frames and moved pages appear where the guest asks', () => {
    const m = machine();
    const { hv } = m;
    const other = hv.createDomain({ maxVcpus: 1, maxPages: 100 });
    const d = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    const p = new Program();
    const a = (n: number) => ARGS + n * 0x40;
    const setup: (() => void)[] = [];
    const arg = (n: number, write: () => number) => {
      setup.push(write);
      return a(n);
    };
    const wcSec = shared_info.offsets.wc_sec;
    const timeVersion = vcpu_info.offsets.time + vcpu_time_info.offsets.version;
    const r: Record<string, number> = {};
    r.map = p.memop(
      XENMEM_add_to_physmap,
      arg(0, () => xatp(hv, d, a(0), XENMAPSPACE_shared_info, 0, 0x800)),
    );
    r.wcSec = p.read(0x800000 + wcSec, 4);
    r.timeVersion = p.read(0x800000 + timeVersion, 4);
    r.remap = p.memop(
      XENMEM_add_to_physmap,
      arg(1, () => xatp(hv, d, a(1), XENMAPSPACE_shared_info, 0, 0x810)),
    );
    r.oldPlace = p.read(0x800000);
    r.wcSecMoved = p.read(0x810000 + wcSec, 4);
    r.before = p.memop(
      XENMEM_current_reservation,
      arg(2, () => domidArg(hv, d, a(2), DOMID_SELF)),
    );
    r.overRam = p.memop(
      XENMEM_add_to_physmap,
      arg(3, () => xatp(hv, d, a(3), XENMAPSPACE_shared_info, 0, 0x7f0)),
    );
    r.after = p.memop(XENMEM_current_reservation, a(2));
    r.grant = p.memop(
      XENMEM_add_to_physmap,
      arg(4, () => xatp(hv, d, a(4), XENMAPSPACE_grant_table, 0, 0x820)),
    );
    p.write(0x820008, 0x0000_0001_dead_beef);
    r.grantTooFar = p.memop(
      XENMEM_add_to_physmap,
      arg(5, () => xatp(hv, d, a(5), XENMAPSPACE_grant_table, 1000, 0x821)),
    );
    r.statusV1 = p.memop(
      XENMEM_add_to_physmap,
      arg(6, () => xatp(hv, d, a(6), XENMAPSPACE_grant_table, XENMAPIDX_grant_table_status, 0x821)),
    );
    p.write(0x700010, 0x77);
    r.move = p.memop(
      XENMEM_add_to_physmap,
      arg(7, () => xatp(hv, d, a(7), XENMAPSPACE_gmfn, 0x700, 0x830)),
    );
    r.moved = p.read(0x830010);
    r.vacated = p.read(0x700010);
    r.moveHole = p.memop(
      XENMEM_add_to_physmap,
      arg(8, () => xatp(hv, d, a(8), XENMAPSPACE_gmfn, 0x960, 0x831)),
    );
    r.remove = p.memop(
      XENMEM_remove_from_physmap,
      arg(9, () =>
        put(hv, d, a(9), xen_remove_from_physmap.encode({ domid: DOMID_SELF, gpfn: 0x830 })),
      ),
    );
    r.removed = p.read(0x830010);
    r.removeAgain = p.memop(XENMEM_remove_from_physmap, a(9));
    r.sharedIdx1 = p.memop(
      XENMEM_add_to_physmap,
      arg(10, () => xatp(hv, d, a(10), XENMAPSPACE_shared_info, 1, 0x832)),
    );
    r.badSpace = p.memop(
      XENMEM_add_to_physmap,
      arg(11, () => xatp(hv, d, a(11), 9, 0, 0x832)),
    );
    r.foreign = p.memop(
      XENMEM_add_to_physmap,
      arg(12, () => xatp(hv, d, a(12), XENMAPSPACE_gmfn_foreign, 0, 0x832)),
    );
    p.write(0x710000, 0x10);
    p.write(0x711000, 0x11);
    r.range = p.memop(
      XENMEM_add_to_physmap,
      arg(13, () => xatp(hv, d, a(13), XENMAPSPACE_gmfn_range, 0x710, 0x840, { size: 2 })),
    );
    r.range0 = p.read(0x840000);
    r.range1 = p.read(0x841000);
    const idxs = ARRAYS;
    const gpfns = ARRAYS + 0x100;
    const errs = ARRAYS + 0x200;
    setup.push(() => put(hv, d, idxs, u64s([0x720, 0x960])));
    setup.push(() => put(hv, d, gpfns, u64s([0x850, 0x851])));
    setup.push(() => put(hv, d, errs, new Uint8Array(8).fill(0x5a)));
    r.batch = p.memop(
      XENMEM_add_to_physmap_batch,
      arg(14, () =>
        put(
          hv,
          d,
          a(14),
          xen_add_to_physmap_batch.encode({
            domid: DOMID_SELF,
            space: XENMAPSPACE_gmfn,
            size: 2,
            idxs,
            gpfns,
            errs,
          }),
        ),
      ),
    );
    r.batchMoved = p.read(0x850000);
    r.otherDomain = p.memop(
      XENMEM_add_to_physmap,
      arg(15, () => xatp(hv, d, a(15), XENMAPSPACE_shared_info, 0, 0x10, { domid: other.id })),
    );
    r.noDomain = p.memop(
      XENMEM_add_to_physmap,
      arg(16, () => xatp(hv, d, a(16), XENMAPSPACE_shared_info, 0, 0x10, { domid: 99 })),
    );
    r.fault = p.memop(XENMEM_add_to_physmap, UNMAPPED);
    r.devMmio = p.memop(
      XENMEM_add_to_physmap,
      arg(17, () => xatp(hv, d, a(17), XENMAPSPACE_dev_mmio, 0, 0x860)),
    );
    r.unhookGrant = p.memop(
      XENMEM_remove_from_physmap,
      arg(18, () =>
        put(hv, d, a(18), xen_remove_from_physmap.encode({ domid: DOMID_SELF, gpfn: 0x820 })),
      ),
    );
    r.unhooked = p.read(0x820008);
    r.final = p.memop(XENMEM_current_reservation, a(2));
    const results = run(hv, d, p, () => {
      for (const write of setup) write();
    });
    const at = (name: string) => results[r[name]!]!;
    const sharedView = new DataView(hv.memory.bytes.buffer, d.sharedInfoMfn * 4096, 4096);

    assert.equal(at('map'), 0);
    assert.ok(at('wcSec') > 1_600_000_000, 'the wallclock the hypervisor wrote');
    assert.equal(at('wcSec'), sharedView.getUint32(wcSec, true));
    assert.ok(at('timeVersion') > 0 && at('timeVersion') % 2 === 0, 'a stable pvclock record');
    assert.equal(at('remap'), 0);
    assert.equal(at('oldPlace'), ALL_ONES, 'shared_info left its old frame');
    assert.equal(at('wcSecMoved'), at('wcSec'));
    assert.equal(at('before'), 2048);
    assert.equal(at('overRam'), 0);
    assert.equal(at('after'), 2047, 'the RAM page under it was freed');
    assert.equal(d.mfnOf(0x810), -1);
    assert.equal(d.mfnOf(0x7f0), d.sharedInfoMfn);
    assert.equal(at('grant'), 0);
    const grantMfn = d.grants.frameForIndex(0, false);
    assert.equal(d.mfnOf(0x820), -1, 'unhooked again at the end');
    assert.equal(
      new DataView(hv.memory.bytes.buffer).getUint32(grantMfn * 4096 + 8, true),
      0xdeadbeef,
    );
    assert.equal(at('grantTooFar'), -XEN_EINVAL);
    assert.equal(at('statusV1'), -XEN_EINVAL);
    assert.equal(at('move'), 0);
    assert.equal(at('moved'), 0x77);
    assert.equal(at('vacated'), ALL_ONES);
    assert.equal(at('moveHole'), -XEN_EINVAL);
    assert.equal(at('remove'), 0);
    assert.equal(at('removed'), ALL_ONES);
    assert.equal(at('removeAgain'), -XEN_ENOENT);
    assert.equal(at('sharedIdx1'), -XEN_EINVAL);
    assert.equal(at('badSpace'), -XEN_EINVAL);
    assert.equal(at('foreign'), -XEN_ENOSYS);
    assert.equal(at('range'), 0);
    assert.equal(at('range0'), 0x10);
    assert.equal(at('range1'), 0x11);
    assert.equal(at('batch'), 0);
    const errView = new DataView(readGuest(hv, d, errs, 8).buffer);
    assert.deepEqual([errView.getInt32(0, true), errView.getInt32(4, true)], [0, -XEN_EINVAL]);
    assert.equal(at('batchMoved'), 0);
    assert.equal(d.mfnOf(0x720), -1);
    assert.equal(at('otherDomain'), -XEN_EPERM);
    assert.equal(other.mfnOf(0x10), -1);
    assert.equal(at('noDomain'), -XEN_ESRCH);
    assert.equal(at('fault'), -XEN_EFAULT);
    assert.equal(at('devMmio'), -XEN_EACCES);
    assert.equal(at('unhookGrant'), 0);
    assert.equal(at('unhooked'), ALL_ONES);
    // 2048 - the RAM under shared_info (freed); the removed page stays allocated.
    assert.equal(at('final'), 2047);
    assert.equal(d.displacedRam.length, 1);
    assert.equal(d.totPages, hv.frames.count(d.id));
    destroyAll(m, d, other);
  });

  test('host-side edge cases of add_to_physmap and its batch', () => {
    const m = machine();
    const { hv } = m;
    const d = prepared(hv);
    const add = (at: number) => direct(hv, d, XENMEM_add_to_physmap, at);
    assert.equal(direct(hv, d, XENMEM_add_to_physmap | (0x10000 << 6), ARGS), -XEN_EDOM);
    assert.equal(add(xatp(hv, d, ARGS, XENMAPSPACE_shared_info, 0, 2n ** 64n - 1n)), -XEN_EINVAL);
    assert.equal(add(xatp(hv, d, ARGS, XENMAPSPACE_shared_info, 0, 1 << 24)), -XEN_EINVAL);
    assert.equal(
      add(xatp(hv, d, ARGS, XENMAPSPACE_gmfn_range, 0x700, 2n ** 64n - 2n, { size: 4 })),
      -XEN_EOVERFLOW,
    );
    assert.equal(
      direct(
        hv,
        d,
        XENMEM_add_to_physmap | (5 << 6),
        xatp(hv, d, ARGS, XENMAPSPACE_gmfn_range, 0x700, 0x900, { size: 4 }),
      ),
      -XEN_EILSEQ,
    );
    // Moving a page onto itself is a no-op that succeeds.
    assert.equal(add(xatp(hv, d, ARGS, XENMAPSPACE_gmfn, 0x700, 0x700)), 0);
    assert.ok(d.mfnOf(0x700) >= 0);
    // Onto a frame of another domain: guest_remove_page refuses it.
    const other = prepared(hv);
    d.setP2m(0x930, other.mfnOf(0x10));
    assert.equal(add(xatp(hv, d, ARGS, XENMAPSPACE_gmfn, 0x701, 0x930)), -6, 'ENXIO');
    assert.ok(d.mfnOf(0x701) >= 0, 'nothing moved');
    d.setP2m(0x930, -1);
    // A grant frame beyond the first grows the table, as gnttab_map_frame does.
    assert.equal(add(xatp(hv, d, ARGS, XENMAPSPACE_grant_table, 3, 0x940)), 0);
    assert.equal(d.mfnOf(0x940), d.grants.frameForIndex(3, false));
    // Batch: size == start ends, INVALID_GFN fails the whole call, errors per entry.
    const batch = (fields: Partial<Parameters<typeof xen_add_to_physmap_batch.encode>[0]>) =>
      put(
        hv,
        d,
        ARGS,
        xen_add_to_physmap_batch.encode({
          domid: DOMID_SELF,
          space: XENMAPSPACE_gmfn,
          size: 1,
          idxs: ARRAYS,
          gpfns: ARRAYS + 0x100,
          errs: ARRAYS + 0x200,
          ...fields,
        }),
      );
    put(hv, d, ARRAYS, u64s([0x702]));
    put(hv, d, ARRAYS + 0x100, u64s([-1]));
    assert.equal(direct(hv, d, XENMEM_add_to_physmap_batch, batch({})), -XEN_EINVAL);
    assert.equal(direct(hv, d, XENMEM_add_to_physmap_batch, batch({ size: 0 })), 0);
    assert.equal(
      direct(hv, d, XENMEM_add_to_physmap_batch | (1 << 6), batch({ size: 1 })),
      -XEN_EILSEQ,
    );
    assert.equal(
      direct(hv, d, XENMEM_add_to_physmap_batch, batch({ space: XENMAPSPACE_gmfn_range })),
      -XEN_EOPNOTSUPP,
    );
    assert.equal(
      direct(hv, d, XENMEM_add_to_physmap_batch, batch({ errs: UNMAPPED, gpfns: ARRAYS + 0x300 })),
      -XEN_EFAULT,
    );
    put(hv, d, ARRAYS + 0x100, u64s([0x950]));
    assert.equal(
      direct(
        hv,
        d,
        XENMEM_add_to_physmap_batch,
        batch({ space: XENMAPSPACE_gmfn_foreign, u: { foreign_domid: other.id } }),
      ),
      0,
    );
    const err = new DataView(readGuest(hv, d, ARRAYS + 0x200, 4).buffer).getInt32(0, true);
    assert.equal(err, -XEN_EPERM, 'only the hardware domain maps foreign pages');
    destroyAll(m, d, other);
  });
});

describe('memory_op: memory maps', () => {
  test('memory_map gives the map the toolstack set, cut to the buffer; set_memory_map', () => {
    const m = machine();
    const { hv } = m;
    const other = hv.createDomain({ maxVcpus: 1, maxPages: 100 });
    const d = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    d.memoryMap = [
      { addr: 0, size: 0x9f000, type: E820_RAM },
      { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
      { addr: 0x100000, size: 0x700000, type: E820_RAM },
    ];
    const buffer = ARRAYS;
    const p = new Program();
    const get = p.memop(XENMEM_memory_map, ARGS);
    const fault = p.memop(XENMEM_memory_map, ARGS + 0x40);
    const setSelf = p.memop(XENMEM_set_memory_map, ARGS + 0x80);
    const getAgain = p.memop(XENMEM_memory_map, ARGS + 0xc0);
    const setOther = p.memop(XENMEM_set_memory_map, ARGS + 0x100);
    const tooMany = p.memop(XENMEM_set_memory_map, ARGS + 0x140);
    const results = run(hv, d, p, () => {
      put(hv, d, ARGS, xen_memory_map.encode({ nr_entries: 2, buffer }));
      put(hv, d, ARGS + 0x40, xen_memory_map.encode({ nr_entries: 2, buffer: UNMAPPED }));
      put(hv, d, ARRAYS + 0x100, e820entry.encode({ addr: 0x1000, size: 0x5000, type: E820_RAM }));
      const own = { domid: DOMID_SELF, map: { nr_entries: 1, buffer: ARRAYS + 0x100 } };
      put(hv, d, ARGS + 0x80, xen_foreign_memory_map.encode(own));
      put(hv, d, ARGS + 0xc0, xen_memory_map.encode({ nr_entries: 8, buffer: ARRAYS + 0x200 }));
      const theirs = { domid: other.id, map: { nr_entries: 1, buffer: ARRAYS + 0x100 } };
      put(hv, d, ARGS + 0x100, xen_foreign_memory_map.encode(theirs));
      const many = { domid: DOMID_SELF, map: { nr_entries: 1025, buffer: ARRAYS + 0x100 } };
      put(hv, d, ARGS + 0x140, xen_foreign_memory_map.encode(many));
    });
    assert.equal(results[get], 0);
    assert.equal(xen_memory_map.decode(readGuest(hv, d, ARGS, 16)).nr_entries, 2);
    const entries = readGuest(hv, d, buffer, 3 * e820entry.size);
    assert.deepEqual(e820entry.decode(entries, 0), { addr: 0n, size: 0x9f000n, type: E820_RAM });
    assert.deepEqual(e820entry.decode(entries, 20), {
      addr: 0xf0000n,
      size: 0x10000n,
      type: E820_RESERVED,
    });
    assert.ok(
      entries.subarray(40).every((b) => b === 0),
      'nothing past the buffer',
    );
    assert.equal(results[fault], -XEN_EFAULT);
    assert.equal(results[setSelf], 0);
    assert.deepEqual(d.memoryMap, [{ addr: 0x1000, size: 0x5000, type: E820_RAM }]);
    assert.equal(results[getAgain], 0);
    assert.equal(xen_memory_map.decode(readGuest(hv, d, ARGS + 0xc0, 16)).nr_entries, 1);
    assert.equal(results[setOther], -XEN_EPERM);
    assert.equal(other.memoryMap, undefined);
    assert.equal(results[tooMany], -XEN_EINVAL);
    destroyAll(m, d, other);
  });

  test('a host-set map with values a double cannot hold does not break memory_map', () => {
    const m = machine();
    const { hv } = m;
    const d = prepared(hv);
    d.memoryMap = [{ addr: 2 ** 60, size: Number.NaN, type: 1 }];
    put(hv, d, ARGS, xen_memory_map.encode({ nr_entries: 1, buffer: ARRAYS }));
    assert.equal(direct(hv, d, XENMEM_memory_map, ARGS), 0);
    assert.deepEqual(e820entry.decode(readGuest(hv, d, ARRAYS, 20)), {
      addr: 2n ** 60n,
      size: 0n,
      type: 1,
    });
    // reserved_device_memory_map: no IOMMU, no regions.
    const rdm = {
      flags: 1,
      nr_entries: 4,
      buffer: ARRAYS,
      dev: { pci: { seg: 0, bus: 0, devfn: 0 } },
    };
    put(hv, d, ARGS, xen_reserved_device_memory_map.encode(rdm));
    assert.equal(direct(hv, d, XENMEM_reserved_device_memory_map, ARGS), 0);
    assert.equal(xen_reserved_device_memory_map.decode(readGuest(hv, d, ARGS, 24)).nr_entries, 0);
    put(hv, d, ARGS, xen_reserved_device_memory_map.encode({ ...rdm, flags: 2 }));
    assert.equal(direct(hv, d, XENMEM_reserved_device_memory_map, ARGS), -XEN_EINVAL);
    destroyAll(m, d);
  });
});

describe('memory_op: a control domain and the other sub-operations', () => {
  test("a privileged domain populates, maps and frees another domain's memory", () => {
    const m = machine();
    const { hv } = m;
    const dom0 = hv.createDomain({ maxVcpus: 1, maxPages: 4096, privileged: true });
    const domU = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    hv.populatePhysmap(domU, 0, 16);
    const p = new Program();
    const populate = p.memop(XENMEM_populate_physmap, ARGS);
    const current = p.memop(XENMEM_current_reservation, ARGS + 0x40);
    const shared = p.memop(XENMEM_add_to_physmap, ARGS + 0x80);
    const order10 = p.memop(XENMEM_populate_physmap, ARGS + 0xc0);
    const decrease = p.memop(XENMEM_decrease_reservation, ARGS + 0x100);
    const pod = p.memop(XENMEM_get_pod_target, ARGS + 0x140);
    const results = run(hv, dom0, p, () => {
      put(hv, dom0, ARRAYS, u64s([0x900, 0x2000]));
      reservation(hv, dom0, ARGS, ARRAYS, 1, { domid: domU.id });
      domidArg(hv, dom0, ARGS + 0x40, domU.id);
      xatp(hv, dom0, ARGS + 0x80, XENMAPSPACE_shared_info, 0, 0x800, { domid: domU.id });
      reservation(hv, dom0, ARGS + 0xc0, ARRAYS + 8, 1, { domid: domU.id, order: 10 });
      reservation(hv, dom0, ARGS + 0x100, ARRAYS, 1, { domid: domU.id });
      put(hv, dom0, ARGS + 0x140, xen_pod_target.encode({ domid: domU.id }));
    });
    assert.equal(results[populate], 1);
    assert.equal(results[current], 17);
    assert.equal(results[shared], 0);
    assert.equal(domU.mfnOf(0x800), domU.sharedInfoMfn);
    assert.equal(dom0.mfnOf(0x800), -1, "the caller's own physmap is untouched");
    assert.equal(results[order10], 1, 'a control domain may use larger extents');
    assert.equal(domU.totPages, 16 + 1024);
    assert.equal(results[decrease], 1);
    assert.equal(domU.mfnOf(0x900), -1);
    assert.equal(results[pod], 0);
    const target = xen_pod_target.decode(readGuest(hv, dom0, ARGS + 0x140, xen_pod_target.size));
    assert.equal(target.tot_pages, BigInt(16 + 1024));
    destroyAll(m, dom0, domU);
  });

  test('the sub-operations with nothing to do answer as Xen does for an HVM guest', () => {
    const m = machine();
    const { hv } = m;
    const dom0 = prepared(hv, { privileged: true });
    const d = prepared(hv);
    const call = (cmd: number, bytes: Uint8Array, who = d) =>
      direct(hv, who, cmd, put(hv, who, ARGS, bytes));

    // exchange: checks, then the first page cannot be stolen from a translated guest.
    const exchange = (fields: {
      inGfn?: number;
      outOrder?: number;
      done?: number;
      order?: number;
    }) => {
      put(hv, d, ARRAYS, u64s([fields.inGfn ?? 0x700]));
      const half = {
        extent_start: ARRAYS,
        nr_extents: 1,
        extent_order: fields.order ?? 0,
        domid: DOMID_SELF,
      };
      return call(
        XENMEM_exchange,
        xen_memory_exchange.encode({
          in: half,
          out: { ...half, extent_start: ARRAYS + 0x100, extent_order: fields.outOrder ?? 0 },
          nr_exchanged: fields.done ?? 0,
        }),
      );
    };
    const exchanged = () =>
      xen_memory_exchange.decode(readGuest(hv, d, ARGS, xen_memory_exchange.size)).nr_exchanged;
    assert.equal(exchange({}), -XEN_EOPNOTSUPP);
    assert.equal(exchanged(), 0n);
    assert.ok(d.mfnOf(0x700) >= 0, 'the page stays');
    assert.equal(exchange({ inGfn: 0x950 }), -XEN_EINVAL);
    assert.equal(exchange({ outOrder: 1 }), -XEN_EINVAL, 'sizes differ');
    assert.equal(exchange({ order: 10, outOrder: 10 }), -XEN_EPERM);
    assert.equal(exchange({ done: 1 }), 0, 'all already exchanged');
    assert.equal(direct(hv, d, XENMEM_exchange | (1 << 6), ARGS), -XEN_EINVAL);

    // claims: a control domain's business.
    const claim = (fields: { domid?: number; start?: number; nr?: number }, who = d) =>
      call(
        XENMEM_claim_pages,
        xen_memory_reservation.encode({
          extent_start: fields.start ?? 0,
          nr_extents: fields.nr ?? 10,
          domid: fields.domid ?? d.id,
        }),
        who,
      );
    assert.equal(claim({}), -XEN_EPERM);
    assert.equal(claim({ start: ARRAYS }), -XEN_EINVAL);
    assert.equal(claim({ domid: DOMID_SELF }), -XEN_EINVAL);
    assert.equal(claim({ nr: 0 }, dom0), 0);

    // vNUMA: none configured.
    const vnuma = xen_vnuma_topology_info.encode({ domid: DOMID_SELF });
    assert.equal(call(XENMEM_get_vnumainfo, vnuma), -XEN_EOPNOTSUPP);
    assert.equal(
      call(XENMEM_get_vnumainfo, xen_vnuma_topology_info.encode({ domid: DOMID_SELF, pad: 1 })),
      -XEN_EINVAL,
    );
    assert.equal(
      call(XENMEM_get_vnumainfo, xen_vnuma_topology_info.encode({ domid: dom0.id })),
      -XEN_EPERM,
    );

    // PoD targets: control domain only, not beyond max_pages.
    assert.equal(
      call(XENMEM_get_pod_target, xen_pod_target.encode({ domid: DOMID_SELF })),
      -XEN_EPERM,
    );
    const podSet = xen_pod_target.encode({ domid: d.id, target_pages: 5000 });
    assert.equal(call(XENMEM_set_pod_target, podSet, dom0), -XEN_EINVAL);

    // mem_access: another live domain, a privileged caller, and a vm_event ring nobody has.
    const access = (domid: number, who = d) =>
      call(XENMEM_access_op, xen_mem_access_op.encode({ domid }), who);
    assert.equal(access(DOMID_SELF), -XEN_ESRCH);
    assert.equal(access(d.id), -XEN_EPERM);
    assert.equal(access(dom0.id), -XEN_EPERM);
    assert.equal(access(d.id, dom0), -XEN_ENODEV);

    // acquire_resource: only the hardware domain may, and mapping is not supported.
    const acquire = xen_mem_acquire_resource.encode({ domid: d.id, nr_frames: 1 });
    assert.equal(call(XENMEM_acquire_resource, acquire), -XEN_EACCES);
    assert.equal(call(XENMEM_acquire_resource, acquire, dom0), -XEN_EOPNOTSUPP);
    const pad = xen_mem_acquire_resource.encode({ domid: d.id, pad: 1 });
    assert.equal(call(XENMEM_acquire_resource, pad, dom0), -XEN_EINVAL);

    assert.equal(call(XENMEM_machphys_mfn_list, new Uint8Array(24)), -XEN_EOPNOTSUPP);
    assert.equal(direct(hv, d, XENMEM_machphys_mfn_list, UNMAPPED), -XEN_EFAULT);
    assert.equal(direct(hv, d, XENMEM_get_sharing_shared_pages, 0), 0);
    assert.equal(direct(hv, d, XENMEM_paging_op, 0), -XEN_ENOSYS);
    assert.equal(direct(hv, d, XENMEM_memory_map | (1 << 6), ARGS), -XEN_ENOSYS);
    destroyAll(m, dom0, d);
  });
});
