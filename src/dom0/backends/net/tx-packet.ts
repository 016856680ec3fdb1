/**
 * Reading one packet off a netif transmit ring, with xen-netback's checks: the first request,
 * its extra-info slots, then one request per further fragment (NETTXF_more_data). What
 * netback treats as the frontend breaking the protocol throws RingError (the vif goes);
 * a packet it merely drops comes back with `error` (each of its slots gets NETIF_RSP_ERROR).
 */
import {
  NETTXF_extra_info,
  NETTXF_more_data,
  netif_extra_info,
  netif_tx_request,
  netif_tx_response,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MAX,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_NR_SLOTS_MIN,
} from '../../../abi/io/netif.js';
import { ringEntrySize, XEN_PAGE_SIZE } from '../../../abi/io/ring.js';
import { type BackRing, RingError } from '../ring.js';
import { ETH_HLEN, type Gso } from './frame.js';

export const NETIF_TX_ENTRY_SIZE = ringEntrySize(netif_tx_request, netif_tx_response);

/** Slots past which netback gives up on the frontend (its fatal_skb_slots default). */
export const FATAL_SKB_SLOTS = 20;

const REQ = netif_tx_request.offsets;
const EXTRA = netif_extra_info.offsets;
const GSO_SIZE = EXTRA.u; // gso.size is the union's first field
const GSO_TYPE = EXTRA.u + 2;

/** One data request of a packet: `size` is this slot's own bytes. */
export interface TxSlot {
  readonly id: number;
  readonly gref: number;
  readonly offset: number;
  readonly size: number;
}

export interface TxPacket {
  /** The first request, then one per fragment, in ring order after the extras. */
  readonly slots: readonly TxSlot[];
  /** Extra-info slots after the first request (answered NETIF_RSP_NULL). */
  readonly extras: number;
  /** The whole packet's bytes. */
  readonly size: number;
  /** The first request's NETTXF_* flags. */
  readonly flags: number;
  readonly gso: Gso | undefined;
  /** Why the packet is dropped, if it is. */
  readonly error: string | undefined;
  /** Ring slots the packet takes. */
  readonly consumed: number;
}

/**
 * The packet at the head of `ring` (at least one request must be available), read without
 * consuming it.
 */
export function peekTxPacket(ring: BackRing): TxPacket {
  const available = ring.available();
  const first = readRequest(ring.peekRequest(0));
  let ahead = 1;
  let gso: Gso | undefined;
  let extras = 0;
  if (first.flags & NETTXF_extra_info) {
    let more = true;
    while (more) {
      if (ahead >= available) throw new RingError('Missing extra info');
      const slot = ring.peekRequest(ahead++);
      extras++;
      const type = slot.getUint8(EXTRA.type);
      if (type === 0 || type >= XEN_NETIF_EXTRA_TYPE_MAX) {
        throw new RingError(`Bad extra info type ${type}`);
      }
      if (type === XEN_NETIF_EXTRA_TYPE_GSO) gso = readGso(slot);
      // Multicast filter updates are accepted and ignored: the bridge floods multicast.
      more = (slot.getUint8(EXTRA.flags) & XEN_NETIF_EXTRA_FLAG_MORE) !== 0;
    }
  }
  const slots: TxSlot[] = [];
  let remaining = first.size;
  let error: string | undefined;
  let flags = first.flags;
  while (flags & NETTXF_more_data) {
    if (slots.length + 1 >= FATAL_SKB_SLOTS) {
      throw new RingError(`Too many slots (${slots.length + 2}) exceeding limit`);
    }
    if (ahead >= available) {
      throw new RingError(`Asked for ${slots.length + 2} slots but exceeds this limit`);
    }
    const fragment = readRequest(ring.peekRequest(ahead++));
    if (fragment.offset + fragment.size > XEN_PAGE_SIZE) {
      throw new RingError(
        `Cross page boundary, txp->offset: ${fragment.offset}, size: ${fragment.size}`,
      );
    }
    if (fragment.size > remaining) {
      error ??= `Invalid tx request, slot size ${fragment.size} > remaining size ${remaining}`;
    } else {
      remaining -= fragment.size;
    }
    slots.push(fragment);
    flags = fragment.flags;
  }
  if (first.offset + remaining > XEN_PAGE_SIZE) {
    throw new RingError(
      `txreq.offset: ${first.offset}, size: ${remaining}, end: ${first.offset + remaining}`,
    );
  }
  if (slots.length + 1 > XEN_NETIF_NR_SLOTS_MIN) error ??= `Too many slots (${slots.length + 1})`;
  if (first.size < ETH_HLEN) error ??= `Bad packet size: ${first.size}`;
  return {
    slots: [{ ...first, size: remaining }, ...slots],
    extras,
    size: first.size,
    flags: first.flags,
    gso,
    error,
    consumed: ahead,
  };
}

function readRequest(slot: DataView): TxSlot & { flags: number } {
  return {
    gref: slot.getUint32(REQ.gref, true),
    offset: slot.getUint16(REQ.offset, true),
    flags: slot.getUint16(REQ.flags, true),
    id: slot.getUint16(REQ.id, true),
    size: slot.getUint16(REQ.size, true),
  };
}

function readGso(slot: DataView): Gso {
  const size = slot.getUint16(GSO_SIZE, true);
  const type = slot.getUint8(GSO_TYPE);
  if (size === 0) throw new RingError('GSO size must not be zero');
  if (type === XEN_NETIF_GSO_TYPE_TCPV4) return { type: 'tcpv4', size };
  if (type === XEN_NETIF_GSO_TYPE_TCPV6) return { type: 'tcpv6', size };
  throw new RingError(`Bad GSO type ${type}`);
}
