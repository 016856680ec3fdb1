/**
 * The shared grant entries as machine memory: geometry of the v1 and v2 tables and of the
 * status frames (from the abi layouts), and the atomic accesses Xen makes to them.
 *
 * The granting guest can rewrite its entries at any moment, from another vCPU or another
 * thread. Every read here is a single Atomics load of one aligned word, done once; the
 * header (flags and domid) is one 32-bit word so it is read and compare-exchanged as a
 * pair, as Xen's `union grant_combo` does. Callers validate what they read and use only
 * the validated copy.
 */

import {
  GNTST_general_error,
  GNTST_okay,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_transitive,
  GTF_type_mask,
  GTF_writing,
  grant_entry_v1,
  grant_entry_v2,
} from '../../abi/grant_table.js';
import { PAGE_SHIFT, PAGE_SIZE } from '../../x86/memory.js';
import { type GrantMachine, GrantTableError } from './types.js';

/** Bytes of a v1 entry (8) and entries per frame (512). */
export const V1_SIZE = grant_entry_v1.size;
export const V1_PER_FRAME = PAGE_SIZE / V1_SIZE;
/** Bytes of a v2 entry (16) and entries per frame (256). */
export const V2_SIZE = grant_entry_v2.size;
export const V2_PER_FRAME = PAGE_SIZE / V2_SIZE;
/** grant_status_t is a uint16_t: 2048 per status frame. */
export const STATUS_SIZE = 2;
export const STATUS_PER_FRAME = PAGE_SIZE / STATUS_SIZE;

/** Byte offsets of the frame field in a v1 and in a v2 entry. */
export const V1_FRAME = grant_entry_v1.offsets.frame;
export const V2_FRAME = grant_entry_v2.offsets['full_page.frame'];
const V2_PAGE_OFF = grant_entry_v2.offsets['sub_page.page_off'];
const V2_LENGTH = grant_entry_v2.offsets['sub_page.length'];
const V2_TRANS_DOMID = grant_entry_v2.offsets['transitive.trans_domid'];
const V2_TRANS_GREF = grant_entry_v2.offsets['transitive.gref'];

// The header word trick needs flags at byte 0 and domid at byte 2 of both versions, and
// every field we read aligned to its size.
if (
  grant_entry_v1.offsets.flags !== 0 ||
  grant_entry_v1.offsets.domid !== 2 ||
  grant_entry_v2.offsets['hdr.flags'] !== 0 ||
  grant_entry_v2.offsets['hdr.domid'] !== 2 ||
  V1_FRAME % 4 !== 0 ||
  V2_FRAME % 8 !== 0 ||
  V2_TRANS_GREF % 4 !== 0 ||
  V2_PAGE_OFF % 2 !== 0 ||
  V2_LENGTH % 2 !== 0 ||
  V2_TRANS_DOMID % 2 !== 0
) {
  throw new GrantTableError('grant entry layouts are not what the grant table expects');
}
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new GrantTableError('the grant table needs a little-endian host');
}

/** Grant-table frames needed for `grantFrames` v2 frames' status entries. */
export function grantToStatusFrames(grantFrames: number): number {
  return Math.ceil((grantFrames * V2_PER_FRAME) / STATUS_PER_FRAME);
}

/** Grant frames whose entries `statusFrames` status frames cover. */
export function statusToGrantFrames(statusFrames: number): number {
  return Math.ceil((statusFrames * STATUS_PER_FRAME) / V2_PER_FRAME);
}

/** Atomic word views of machine memory. */
export class GrantMemory {
  readonly bytes: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly frames: number;

  constructor(machine: GrantMachine) {
    const { bytes } = machine;
    if (bytes.byteOffset % 4 !== 0) {
      throw new GrantTableError('machine memory must start on a 4-byte boundary');
    }
    this.bytes = bytes;
    this.u16 = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 1);
    this.u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    this.frames = Math.floor(bytes.byteLength / PAGE_SIZE);
  }

  /** True for a machine frame number inside machine memory. */
  validFrame(mfn: number): boolean {
    return Number.isSafeInteger(mfn) && mfn >= 0 && mfn < this.frames;
  }

  /** Zeroes a frame. */
  clearFrame(mfn: number): void {
    this.bytes.fill(0, mfn * PAGE_SIZE, (mfn + 1) * PAGE_SIZE);
  }
}

/**
 * Where one grant entry lives: its header word and, separately, its status halfword
 * (v1: the flags half of the header; v2: the entry in the status frames).
 */
export interface EntryAddress {
  /** Byte address of the entry in machine memory. */
  readonly at: number;
  /** Index of the status halfword in GrantMemory.u16. */
  readonly status: number;
}

/** The header word as read once: flags and domid. */
export function flagsOf(combo: number): number {
  return combo & 0xffff;
}
export function domidOf(combo: number): number {
  return combo >>> 16;
}

export function readHeader(mem: GrantMemory, e: EntryAddress): number {
  return Atomics.load(mem.u32, e.at >>> 2);
}

/** A v1 entry's frame (u32), read once. */
export function readFrameV1(mem: GrantMemory, e: EntryAddress): number {
  return Atomics.load(mem.u32, (e.at + V1_FRAME) >>> 2);
}

/**
 * A v2 entry's 64-bit frame (full_page.frame or sub_page.frame), read as two atomic
 * halves; a frame at or above 2^53 cannot be any domain's RAM and reads as -1.
 */
export function readFrameV2(mem: GrantMemory, e: EntryAddress): number {
  const lo = Atomics.load(mem.u32, (e.at + V2_FRAME) >>> 2);
  const hi = Atomics.load(mem.u32, (e.at + V2_FRAME + 4) >>> 2);
  return hi > 0x1fffff ? -1 : hi * 2 ** 32 + lo;
}

/** A v2 entry's low frame half (what v1 can hold), read once. */
export function readFrameV2Low(mem: GrantMemory, e: EntryAddress): number {
  return Atomics.load(mem.u32, (e.at + V2_FRAME) >>> 2);
}

/** A v2 entry's high frame half: set means v1 cannot represent it. */
export function readFrameV2High(mem: GrantMemory, e: EntryAddress): number {
  return Atomics.load(mem.u32, (e.at + V2_FRAME + 4) >>> 2);
}

/** sub_page.page_off and sub_page.length, each read once. */
export function readSubPage(mem: GrantMemory, e: EntryAddress): [off: number, length: number] {
  return [
    Atomics.load(mem.u16, (e.at + V2_PAGE_OFF) >>> 1),
    Atomics.load(mem.u16, (e.at + V2_LENGTH) >>> 1),
  ];
}

/** transitive.trans_domid and transitive.gref, each read once. */
export function readTransitive(mem: GrantMemory, e: EntryAddress): [domid: number, gref: number] {
  return [
    Atomics.load(mem.u16, (e.at + V2_TRANS_DOMID) >>> 1),
    Atomics.load(mem.u32, (e.at + V2_TRANS_GREF) >>> 2),
  ];
}

/** Xen's gnttab_clear_flags: an atomic AND confined to the status halfword. */
export function clearStatus(mem: GrantMemory, e: EntryAddress, mask: number): void {
  Atomics.and(mem.u16, e.status, ~mask & 0xffff);
}

/** What an entry must be for the operation asking (Xen's _set_status arguments). */
export interface PinRequest {
  /** The entry is already pinned: its type and domid are not checked again. */
  readonly pinned: boolean;
  readonly readonly: boolean;
  /** A mapping (sub-page and transitive grants refused) rather than a copy. */
  readonly mapping: boolean;
  /** The domain asking. */
  readonly domid: number;
}

/** How many times a racing guest may make the compare-exchange fail (Xen: 5 tries). */
const CMPXCHG_TRIES = 5;

/**
 * Xen's _set_status_v1: checks the entry grants `req.domid` the access asked for and sets
 * GTF_reading (and GTF_writing) with a compare-exchange on the header word, retrying a few
 * times if the guest changes it meanwhile. The check and the update use the same value.
 */
export function setStatusV1(mem: GrantMemory, e: EntryAddress, req: PinRequest): number {
  const mask = GTF_type_mask | (req.mapping ? GTF_sub_page : 0);
  const index = e.at >>> 2;
  let combo = Atomics.load(mem.u32, index);
  for (let tries = 1; ; tries++) {
    const flags = flagsOf(combo);
    if (!req.pinned && ((flags & mask) !== GTF_permit_access || domidOf(combo) !== req.domid)) {
      return GNTST_general_error;
    }
    let set = GTF_reading;
    if (!req.readonly) {
      if (flags & GTF_readonly) return GNTST_general_error;
      set |= GTF_writing;
    }
    const next = (combo | set) >>> 0;
    const prev = Atomics.compareExchange(mem.u32, index, combo, next);
    if (prev === combo) return GNTST_okay;
    if (tries === CMPXCHG_TRIES) return GNTST_general_error;
    combo = prev;
  }
}

/**
 * Xen's _set_status_v2: checks the header, sets the status bits in the status frame, then
 * reads the header again and backs the bits out if the guest changed it in between.
 */
export function setStatusV2(mem: GrantMemory, e: EntryAddress, req: PinRequest): number {
  const mask = GTF_type_mask | (req.mapping ? GTF_sub_page : 0);
  const typeOk = (flags: number): boolean =>
    (flags & mask) === GTF_permit_access || (!req.mapping && (flags & mask) === GTF_transitive);

  let combo = readHeader(mem, e);
  if (!req.pinned && (!typeOk(flagsOf(combo)) || domidOf(combo) !== req.domid)) {
    return GNTST_general_error;
  }
  if (req.readonly) {
    Atomics.or(mem.u16, e.status, GTF_reading);
  } else {
    if (flagsOf(combo) & GTF_readonly) return GNTST_general_error;
    Atomics.or(mem.u16, e.status, GTF_reading | GTF_writing);
  }

  combo = readHeader(mem, e);
  const flags = flagsOf(combo);
  if (!req.pinned) {
    if (!typeOk(flags) || domidOf(combo) !== req.domid || (!req.readonly && flags & GTF_readonly)) {
      clearStatus(mem, e, GTF_reading | GTF_writing);
      return GNTST_general_error;
    }
  } else if (flags & GTF_readonly) {
    clearStatus(mem, e, GTF_writing);
    return GNTST_general_error;
  }
  return GNTST_okay;
}

/** Machine page shift, re-exported for the modules that turn frames into addresses. */
export { PAGE_SHIFT, PAGE_SIZE };
