/**
 * XENMEM_increase_reservation, XENMEM_decrease_reservation and XENMEM_populate_physmap
 * (xen/common/memory.c). Every failure, before or during the work, answers with the number
 * of extents done so far (the continuation's start extent at first); a long request is
 * preempted and continued with the extents done in cmd's upper bits, as in Xen.
 */
import {
  XENMEM_decrease_reservation,
  XENMEM_increase_reservation,
  XENMEMF_get_address_bits,
  XENMEMF_populate_on_demand,
  XENMEMF_vnode,
  xen_memory_reservation,
} from '../../abi/memory.js';
import type { Domain, GuestPointer } from '../common/domain.js';
import { DomainState } from '../common/domain.js';
import { hypercallCreateContinuation, hypercallPreemptCheck } from './continuation.js';
import { argPointer, handlePointer, readStruct } from './guest-args.js';
import {
  isOwnRam,
  isSpecial,
  MAX_ORDER,
  MEMOP_MAX_EXTENTS,
  mapFrame,
  maxOrder,
  memopCmd,
  propagateNode,
  readGuestU64,
  removeGuestPage,
  unhookSpecial,
} from './memory-op-common.js';
import type { HypercallCall } from './table.js';
import { domainByAnyId, xsmTarget } from './xsm.js';

const PAGE_SHIFT = 12;

/** Xen's struct memop_args. */
interface MemopArgs {
  readonly d: Domain;
  readonly list: GuestPointer;
  readonly nrExtents: number;
  readonly order: number;
  readonly populateOnDemand: boolean;
  /** An exact-node request for a node without memory: every allocation fails. */
  readonly noMemory: boolean;
  done: number;
  preempted: boolean;
}

export function reservationOp(call: HypercallCall, op: number, start: number): number {
  const r = readStruct(call, xen_memory_reservation, argPointer(call, 2));
  if (r === undefined || r.nr_extents > BigInt(MEMOP_MAX_EXTENTS)) return start;
  const nrExtents = Number(r.nr_extents);
  if (start >= nrExtents) return start;
  const d = domainByAnyId(call, r.domid);
  if (d === undefined) return start;
  const flags = memFlags(call, r.mem_flags);
  if (flags === undefined || !xsmTarget(call.vcpu.domain, d)) return start;
  const a: MemopArgs = {
    d,
    list: handlePointer(r.extent_start),
    nrExtents,
    order: r.extent_order,
    populateOnDemand: (r.mem_flags & XENMEMF_populate_on_demand) !== 0,
    noMemory: flags.noMemory,
    done: start,
    preempted: false,
  };
  if (op === XENMEM_increase_reservation) increaseReservation(call, a);
  else if (op === XENMEM_decrease_reservation) decreaseReservation(call, a);
  else populatePhysmap(call, a);
  if (a.preempted) return hypercallCreateContinuation(call, { 1: memopCmd(op, a.done) });
  return a.done;
}

/** construct_memop_from_reservation's checks of mem_flags; undefined: refuse the request. */
function memFlags(call: HypercallCall, memFlags: number): { noMemory: boolean } | undefined {
  const bits = XENMEMF_get_address_bits(memFlags);
  const machineBits = Math.ceil(Math.log2(call.hv.memory.frames)) + PAGE_SHIFT;
  // Below the machine's size the limit restricts allocation (all frames qualify here).
  if (bits !== 0 && bits < machineBits && bits <= PAGE_SHIFT) return undefined;
  // XENMEMF_vnode names a virtual node; without a vNUMA topology it is ignored.
  if (memFlags & XENMEMF_vnode) return { noMemory: false };
  const node = propagateNode(call.vcpu.domain, memFlags);
  return node === 'invalid' ? undefined : { noMemory: node === 'no-memory' };
}

/**
 * For a translated guest Xen allocates the pages and tells the guest nothing (it has no use
 * for machine frames): they belong to the domain, count in tot_pages, and no guest frame
 * maps them until the domain dies.
 */
function increaseReservation(call: HypercallCall, a: MemopArgs): void {
  if (a.order > maxOrder(call.vcpu.domain)) return;
  const { d } = a;
  const count = 2 ** a.order;
  forEachExtent(call, a, () => {
    if (!canAllocate(call, a, count)) return false;
    for (let n = 0; n < count; n++) {
      d.displacedRam.push(call.hv.frames.alloc(d.id));
    }
    d.totPages += count;
    return true;
  });
}

function populatePhysmap(call: HypercallCall, a: MemopArgs): void {
  const limit = a.populateOnDemand ? MAX_ORDER : maxOrder(call.vcpu.domain);
  if (a.order > limit) return;
  forEachExtent(call, a, (i) => {
    const gpfn = readGuestU64(call, a.list, i);
    // Populate-on-demand: refused on oneself, and not supported for others (no PoD here).
    if (gpfn === undefined || a.populateOnDemand) return false;
    return populateExtent(call, a, gpfn);
  });
}

/**
 * alloc_domheap_pages + guest_physmap_add_page for one extent, all or nothing. What was at
 * those frames goes: a special page is unhooked, a RAM page leaves the physmap but stays
 * allocated (p2m_add_page only forgets its M2P entry). A grant mapping there is not the
 * guest's to replace: Xen crashes the domain.
 */
function populateExtent(call: HypercallCall, a: MemopArgs, gpfn: number): boolean {
  const { hv } = call;
  const { d } = a;
  const count = 2 ** a.order;
  if (gpfn + count > d.p2m.length || !canAllocate(call, a, count)) return false;
  for (let gfn = gpfn; gfn < gpfn + count; gfn++) {
    const old = d.mfnOf(gfn);
    if (old < 0 || isOwnRam(call, d, gfn, old)) continue;
    if (d.grantMapped.has(gfn) || !isSpecial(call, old)) {
      hv.crashDomain(d, `populate_physmap over the mapping at gfn ${gfn.toString(16)}`);
      return false;
    }
  }
  for (let gfn = gpfn; gfn < gpfn + count; gfn++) {
    const old = d.mfnOf(gfn);
    if (old >= 0) {
      if (isSpecial(call, old)) unhookSpecial(call, d, gfn, old);
      else d.displaceRam(gfn);
    }
    mapFrame(call, d, gfn, hv.frames.alloc(d.id));
  }
  d.totPages += count;
  return true;
}

/** assign_pages' limits, and memory to take the pages from. */
function canAllocate(call: HypercallCall, a: MemopArgs, count: number): boolean {
  const { d } = a;
  if (d.state === DomainState.Dying || a.noMemory) return false;
  return d.totPages + count <= d.maxPages && call.hv.frames.free >= count;
}

/**
 * Runs `extent` for extents a.done.., counting them done while it succeeds; preempts
 * between extents (never before the first) as Xen's hypercall_preempt_check does.
 */
function forEachExtent(call: HypercallCall, a: MemopArgs, extent: (i: number) => boolean): void {
  const start = a.done;
  const pages = 2 ** a.order;
  for (let i = start; i < a.nrExtents; i++) {
    if (i !== start && hypercallPreemptCheck(call, (i - start) * pages)) {
      a.preempted = true;
      return;
    }
    if (!extent(i)) return;
    a.done = i + 1;
  }
}

/** Frees each extent's pages; an extent with a hole (or a page not the guest's) ends it. */
function decreaseReservation(call: HypercallCall, a: MemopArgs): void {
  if (a.order > maxOrder(call.vcpu.domain)) return;
  const count = 2 ** a.order;
  forEachExtent(call, a, (i) => {
    const gmfn = readGuestU64(call, a.list, i);
    if (gmfn === undefined) return false;
    // Pages removed before a failure in the same extent stay removed, as in Xen.
    for (let j = 0; j < count; j++) if (removeGuestPage(call, a.d, gmfn + j) !== 0) return false;
    return true;
  });
}
