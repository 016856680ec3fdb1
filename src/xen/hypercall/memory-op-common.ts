/**
 * What the memory_op sub-operations share: the extent-order limits, guest arrays of 64-bit numbers, and the P2M edits of
 * xen/arch/x86/mm/p2m.c (guest_remove_page, p2m_remove_page, p2m_add_page) on our P2M and
 * frame table.
 */
import { XEN_ENOENT, XEN_ENXIO } from '../../abi/errno.js';
import { XENMEMF_exact_node_request, XENMEMF_get_node } from '../../abi/memory.js';
import { P2m } from '../../x86/memory.js';
import type { Domain, GuestPointer } from '../common/domain.js';
import { FRAME_XEN } from '../common/frame-table.js';
import { offsetPointer, readBytes } from './guest-args.js';
import type { HypercallCall } from './table.js';
import { isHardwareDomain } from './xsm.js';

/** Bits 6 and up of memory_op's cmd are the extent to continue from (xen/hypercall.h). */
export const MEMOP_EXTENT_SHIFT = 6;
export const MEMOP_CMD_MASK = (1 << MEMOP_EXTENT_SHIFT) - 1;
/** Most extents a request may have: the continuation must encode them (UINT_MAX >> 6). */
export const MEMOP_MAX_EXTENTS = 0xffffffff >>> MEMOP_EXTENT_SHIFT;

/** x86's CONFIG_DOMU_MAX_ORDER (PAGETABLE_ORDER) and MAX_ORDER (2 * PAGETABLE_ORDER). */
export const DOMU_MAX_ORDER = 9;
export const MAX_ORDER = 20;

/** The continuation's cmd: `op` continued from extent `extent`. */
export function memopCmd(op: number, extent: number): number {
  return op + extent * 2 ** MEMOP_EXTENT_SHIFT;
}

/** Xen's max_order(): a control domain may ask for extents up to MAX_ORDER. */
export function maxOrder(caller: Domain): number {
  return caller.privileged ? MAX_ORDER : DOMU_MAX_ORDER;
}

/** NUMA_NO_NODE, as XENMEMF_get_node decodes "no node" (bits 15:8 zero). */
const NUMA_NO_NODE = 0xff;
/** x86's MAX_NUMNODES (1 << NODES_SHIFT). */
const MAX_NUMNODES = 64;

/**
 * Xen's propagate_node for XENMEMF_node(n): a control or hardware domain may name any node
 * (an exact request for a node without memory then fails to allocate; the machine is one
 * node, node 0); another domain may name one only as a hint.
 */
export function propagateNode(caller: Domain, memFlags: number): 'ok' | 'invalid' | 'no-memory' {
  const node = XENMEMF_get_node(memFlags);
  if (node === NUMA_NO_NODE) return 'ok';
  const exact = (memFlags & XENMEMF_exact_node_request) !== 0;
  if (caller.privileged || isHardwareDomain(caller)) {
    if (node >= MAX_NUMNODES) return 'invalid';
    return exact && node !== 0 ? 'no-memory' : 'ok';
  }
  return exact ? 'invalid' : 'ok';
}

/** A guest frame number from a 64-bit field: exact below 2^53, else beyond any P2M. */
export function gfnOf(value: bigint): number {
  return value < 2n ** 53n ? Number(value) : Number.MAX_SAFE_INTEGER;
}

/** Element `index` of a guest array of 64-bit numbers (exact below 2^53), or undefined. */
export function readGuestU64(
  call: HypercallCall,
  base: GuestPointer,
  index: number,
): number | undefined {
  const bytes = readBytes(call, offsetPointer(base, index * 8), 8);
  if (bytes === undefined) return undefined;
  const view = new DataView(bytes.buffer);
  return view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
}

/** Xen's is_special_page: a frame Xen shares with the guest (shared_info, grant frames). */
export function isSpecial(call: HypercallCall, mfn: number): boolean {
  return call.hv.frames.owner[mfn] === FRAME_XEN;
}

/**
 * Whether guest frame `gfn` holds one of the domain's own RAM pages: not a grant mapping
 * (Xen's p2m_grant_map types), not a page mapped a second time.
 */
export function isOwnRam(call: HypercallCall, d: Domain, gfn: number, mfn: number): boolean {
  const frames = call.hv.frames;
  return !d.grantMapped.has(gfn) && frames.owner[mfn] === d.id && frames.m2p[mfn] === gfn;
}

/** p2m_remove_page of a special page: out of this slot, still Xen's. */
export function unhookSpecial(call: HypercallCall, d: Domain, gfn: number, mfn: number): void {
  d.setP2m(gfn, P2m.None);
  const m2p = call.hv.frames.m2p;
  if (m2p[mfn] === gfn) m2p[mfn] = -1;
}

/**
 * Xen's guest_remove_page: the domain's RAM page at `gfn` is freed, a special page unhooked.
 * -ENOENT when nothing is there, -ENXIO for a frame that is not the domain's to free (a
 * grant mapping).
 */
export function removeGuestPage(call: HypercallCall, d: Domain, gfn: number): number {
  const mfn = d.mfnOf(gfn);
  if (mfn < 0) return -XEN_ENOENT;
  if (isOwnRam(call, d, gfn, mfn)) {
    call.hv.releaseRam(d, gfn);
    return 0;
  }
  if (isSpecial(call, mfn) && !d.grantMapped.has(gfn)) {
    unhookSpecial(call, d, gfn, mfn);
    return 0;
  }
  return -XEN_ENXIO;
}

/** p2m_add_page(p2m_ram_rw): maps `mfn` at `gfn`, M2P included. */
export function mapFrame(call: HypercallCall, d: Domain, gfn: number, mfn: number): void {
  d.setP2m(gfn, mfn);
  call.hv.frames.m2p[mfn] = gfn;
}

/**
 * The highest guest frame with something mapped (Xen's p2m max_mapped_pfn, which is a
 * high-water mark; here the current highest), 0 for an empty P2M. Eight entries at a time:
 * their AND is -1 only when all are P2m.None.
 */
export function highestMappedGfn(p2m: Int32Array): number {
  let gfn = p2m.length;
  while (gfn >= 8) {
    const all =
      p2m[gfn - 1]! &
      p2m[gfn - 2]! &
      p2m[gfn - 3]! &
      p2m[gfn - 4]! &
      p2m[gfn - 5]! &
      p2m[gfn - 6]! &
      p2m[gfn - 7]! &
      p2m[gfn - 8]!;
    if (all !== P2m.None) break;
    gfn -= 8;
  }
  for (gfn -= 1; gfn >= 0; gfn--) if (p2m[gfn]! >= 0) return gfn;
  return 0;
}
