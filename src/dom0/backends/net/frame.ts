/**
 * Ethernet frames as they travel between vifs, the TAP uplink and the bridge, with the two
 * offloads netif carries (blank checksums, GSO) and the work a device without them needs:
 * completing a TCP/UDP checksum and cutting a TCP super-frame into MTU-sized segments, as
 * Linux's skb_checksum_help and tcp_gso_segment do. Frames are never changed in place: their
 * bytes may still be shared with other ports, so any change is made on a copy.
 */

export interface Gso {
  readonly type: 'tcpv4' | 'tcpv6';
  /** MSS: payload bytes per segment. */
  readonly size: number;
}

export interface Frame {
  /** The Ethernet frame from the destination MAC on, no FCS; may carry one 802.1Q tag. */
  readonly data: Uint8Array;
  /**
   * CHECKSUM_PARTIAL (netif's NETTXF_csum_blank): the TCP/UDP checksum field holds only the
   * pseudo-header sum and must be completed before the frame leaves for a device that does not
   * accept that.
   */
  readonly checksumBlank: boolean;
  /** The sender vouches for its checksums (NETTXF_data_validated / NETRXF_data_validated). */
  readonly dataValidated: boolean;
  /** A TCP segment bigger than the MTU that must be cut into segments of `size` payload bytes (GSO), or undefined. */
  readonly gso?: Gso | undefined;
}

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const VLAN_VID_MASK = 0x0fff;

const IPPROTO_HOPOPTS = 0;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_DSTOPTS = 60;

const IPV4_HLEN = 20;
const IPV6_HLEN = 40;
const TCP_HLEN = 20;
const UDP_HLEN = 8;
/** IPv4 fragment offset and More Fragments bits. */
const IP_OFFSET_MF = 0x3fff;
/** IPv6 fragment header: offset and M flag. */
const IP6_OFFSET_MF = 0xfff9;

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

// ---- MAC addresses: a 48-bit number is a cheap Map key and compares with ===. ----

/** The six bytes at `offset` as one number (first byte most significant). */
export function macAt(data: Uint8Array, offset: number): number {
  return (
    ((data[offset]! << 8) | data[offset + 1]!) * 0x1_0000_0000 +
    (((data[offset + 2]! << 24) |
      (data[offset + 3]! << 16) |
      (data[offset + 4]! << 8) |
      data[offset + 5]!) >>>
      0)
  );
}

export function destinationMac(data: Uint8Array): number {
  return macAt(data, 0);
}

export function sourceMac(data: Uint8Array): number {
  return macAt(data, ETH_ALEN);
}

/** The destination is a group address (multicast or broadcast): the I/G bit of its first byte. */
export function isMulticast(data: Uint8Array): boolean {
  return (data[0]! & 1) !== 0;
}

export const BROADCAST_MAC = 0xffff_ffff_ffff;

/** A MAC as a number is a group address. */
export function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 0x100_0000_0000) % 2 === 1;
}

/** "00:16:3e:12:34:56" as a number, or undefined if it is not six hex pairs. */
export function parseMac(text: string): number | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) return undefined;
  return Number.parseInt(text.replaceAll(':', ''), 16);
}

export function formatMac(mac: number): string {
  return mac
    .toString(16)
    .padStart(12, '0')
    .replace(/(..)(?!$)/g, '$1:');
}

// ---- 802.1Q ----

/** The 802.1Q VID of a tagged frame (TPID 0x8100), or undefined when untagged. */
export function vlanTag(data: Uint8Array): number | undefined {
  if (data.length < ETH_HLEN + VLAN_HLEN || data[12] !== 0x81 || data[13] !== 0x00)
    return undefined;
  return ((data[14]! << 8) | data[15]!) & VLAN_VID_MASK;
}

/** A copy of an untagged frame with an 802.1Q tag for `vid` (priority 0) after the MACs. */
export function addVlanTag(data: Uint8Array, vid: number): Uint8Array {
  const tagged = new Uint8Array(data.length + VLAN_HLEN);
  tagged.set(data.subarray(0, 2 * ETH_ALEN));
  tagged[12] = ETH_P_8021Q >> 8;
  tagged[13] = ETH_P_8021Q & 0xff;
  tagged[14] = (vid >> 8) & 0x0f;
  tagged[15] = vid & 0xff;
  tagged.set(data.subarray(2 * ETH_ALEN), 2 * ETH_ALEN + VLAN_HLEN);
  return tagged;
}

/** A copy of a tagged frame without its tag; an untagged frame comes back as it is. */
export function stripVlanTag(data: Uint8Array): Uint8Array {
  if (vlanTag(data) === undefined) return data;
  const untagged = new Uint8Array(data.length - VLAN_HLEN);
  untagged.set(data.subarray(0, 2 * ETH_ALEN));
  untagged.set(data.subarray(2 * ETH_ALEN + VLAN_HLEN), 2 * ETH_ALEN);
  return untagged;
}

// ---- The Internet checksum (RFC 1071) ----

/** Adds the bytes [start, end) as big-endian 16-bit words to `sum`, unfolded. */
function addWords(data: Uint8Array, start: number, end: number, sum: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < end) sum += data[i]! << 8;
  return sum;
}

/** Folds an unfolded sum (any size below 2^53) to 16 bits with end-around carry. */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The Internet checksum of data[start, end) with `sum` already added in. */
export function internetChecksum(data: Uint8Array, start = 0, end = data.length, sum = 0): number {
  return ~fold(addWords(data, start, end, sum)) & 0xffff;
}

// ---- Finding the IP and TCP/UDP headers ----

/** Where a TCP or UDP datagram sits in a frame. */
interface Transport {
  readonly ipv6: boolean;
  /** Offset of the IP header. */
  readonly l3: number;
  /** Offset of the TCP/UDP header. */
  readonly l4: number;
  /** End of the IP datagram (the frame may carry Ethernet padding after it). */
  readonly end: number;
  readonly protocol: typeof IPPROTO_TCP | typeof IPPROTO_UDP;
  /** The pseudo-header's addresses and protocol, summed but not folded; the length is added per datagram. */
  readonly pseudo: number;
}

function u16(data: Uint8Array, at: number): number {
  return (data[at]! << 8) | data[at + 1]!;
}

function put16(data: Uint8Array, at: number, value: number): void {
  data[at] = value >> 8;
  data[at + 1] = value;
}

/** The TCP or UDP datagram in a frame, or undefined for anything else, fragments and truncated frames. */
function findTransport(data: Uint8Array): Transport | undefined {
  if (data.length < ETH_HLEN) return undefined;
  let type = u16(data, 12);
  let l3 = ETH_HLEN;
  if (type === ETH_P_8021Q) {
    if (data.length < ETH_HLEN + VLAN_HLEN) return undefined;
    type = u16(data, 16);
    l3 += VLAN_HLEN;
  }
  const found =
    type === ETH_P_IP
      ? findInIpv4(data, l3)
      : type === ETH_P_IPV6
        ? findInIpv6(data, l3)
        : undefined;
  if (found === undefined) return undefined;
  // The header up to and including the checksum field must be there.
  const minimum = found.protocol === IPPROTO_TCP ? TCP_HLEN : UDP_HLEN;
  return found.end - found.l4 >= minimum ? found : undefined;
}

function findInIpv4(data: Uint8Array, l3: number): Transport | undefined {
  if (data.length < l3 + IPV4_HLEN || data[l3]! >> 4 !== 4) return undefined;
  const headerLength = (data[l3]! & 0x0f) * 4;
  const totalLength = u16(data, l3 + 2);
  if (headerLength < IPV4_HLEN || totalLength < headerLength) return undefined;
  if (l3 + totalLength > data.length) return undefined;
  if ((u16(data, l3 + 6) & IP_OFFSET_MF) !== 0) return undefined;
  const protocol = data[l3 + 9]!;
  if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return undefined;
  return {
    ipv6: false,
    l3,
    l4: l3 + headerLength,
    end: l3 + totalLength,
    protocol,
    pseudo: addWords(data, l3 + 12, l3 + 20, protocol),
  };
}

function findInIpv6(data: Uint8Array, l3: number): Transport | undefined {
  if (data.length < l3 + IPV6_HLEN || data[l3]! >> 4 !== 6) return undefined;
  const payloadLength = u16(data, l3 + 4);
  // A zero payload length is a jumbogram, which netif cannot carry.
  if (payloadLength === 0) return undefined;
  const end = l3 + IPV6_HLEN + payloadLength;
  if (end > data.length) return undefined;
  let next = data[l3 + 6]!;
  let at = l3 + IPV6_HLEN;
  /** The pseudo-header's destination: the final one when a routing header still has segments to visit. */
  let destination = l3 + 24;
  for (;;) {
    if (next === IPPROTO_TCP || next === IPPROTO_UDP) break;
    if (at + 8 > end) return undefined;
    let length: number;
    switch (next) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_DSTOPTS:
        length = (data[at + 1]! + 1) * 8;
        break;
      case IPPROTO_ROUTING:
        length = (data[at + 1]! + 1) * 8;
        if (at + length > end) return undefined;
        destination = routingFinalDestination(data, at, length) ?? destination;
        break;
      case IPPROTO_FRAGMENT:
        if ((u16(data, at + 2) & IP6_OFFSET_MF) !== 0) return undefined;
        length = 8;
        break;
      case IPPROTO_AH:
        length = (data[at + 1]! + 2) * 4;
        break;
      default:
        return undefined;
    }
    next = data[at]!;
    at += length;
  }
  if (at > end) return undefined;
  const pseudo = addWords(
    data,
    destination,
    destination + 16,
    addWords(data, l3 + 8, l3 + 24, next),
  );
  return { ipv6: true, l3, l4: at, end, protocol: next, pseudo };
}

/**
 * RFC 8200 8.1: with a routing header whose Segments Left is not zero, the pseudo-header holds
 * the last destination. Type 0 and 2 list it last; type 4 (segment routing, RFC 8754) first.
 */
function routingFinalDestination(data: Uint8Array, at: number, length: number): number | undefined {
  const type = data[at + 2]!;
  const segmentsLeft = data[at + 3]!;
  if (segmentsLeft === 0) return undefined;
  const addresses = Math.floor((length - 8) / 16);
  if (addresses === 0) return undefined;
  if (type === 0 || type === 2) return at + 8 + (addresses - 1) * 16;
  if (type === 4) return at + 8;
  return undefined;
}

/** Writes the complete TCP/UDP checksum of the datagram at t.l4 ending at `end` into `data`. */
function writeTransportChecksum(data: Uint8Array, t: Transport, end: number): void {
  const field = t.l4 + (t.protocol === IPPROTO_TCP ? 16 : 6);
  data[field] = 0;
  data[field + 1] = 0;
  let checksum = internetChecksum(data, t.l4, end, t.pseudo + (end - t.l4));
  // RFC 768: a computed zero is sent as all ones, as zero means "no checksum".
  if (checksum === 0 && t.protocol === IPPROTO_UDP) checksum = 0xffff;
  put16(data, field, checksum);
}

/**
 * The frame with its TCP/UDP checksum computed from scratch, checksumBlank false and
 * dataValidated true. A frame it cannot parse (not IP, truncated, a fragment, another L4)
 * comes back as it is, with checksumBlank false.
 */
export function completeChecksum(frame: Frame): Frame {
  const transport = findTransport(frame.data);
  if (transport === undefined) {
    return frame.checksumBlank ? { ...frame, checksumBlank: false } : frame;
  }
  const data = frame.data.slice();
  writeTransportChecksum(data, transport, transport.end);
  return { ...frame, data, checksumBlank: false, dataValidated: true };
}

/**
 * A GSO frame cut into frames of at most `gso.size` TCP payload bytes, each a complete
 * datagram with its own IP lengths and checksums, as Linux's tcp_gso_segment does: IPv4 ids
 * counting up, sequence numbers advanced, FIN and PSH only on the last segment, CWR only on the
 * first. A frame without GSO comes back alone (its checksum completed if it was blank). A
 * malformed GSO frame gives no frames: it is dropped.
 */
export function segment(frame: Frame): Frame[] {
  const { gso } = frame;
  if (gso === undefined) return [frame.checksumBlank ? completeChecksum(frame) : frame];
  const mss = gso.size;
  if (!Number.isInteger(mss) || mss <= 0) return [];
  const { data } = frame;
  const t = findTransport(data);
  if (t === undefined || t.protocol !== IPPROTO_TCP || t.ipv6 !== (gso.type === 'tcpv6')) return [];
  const tcpHeaderLength = (data[t.l4 + 12]! >> 4) * 4;
  const headerEnd = t.l4 + tcpHeaderLength;
  if (tcpHeaderLength < TCP_HLEN || headerEnd > t.end) return [];

  const payload = t.end - headerEnd;
  const count = Math.max(1, Math.ceil(payload / mss));
  const firstSeq = ((data[t.l4 + 4]! << 24) | (data[t.l4 + 5]! << 16) | u16(data, t.l4 + 6)) >>> 0;
  const flags = data[t.l4 + 13]!;
  const firstId = u16(data, t.l3 + 4);
  const segments: Frame[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const from = headerEnd + i * mss;
    const chunk = Math.min(mss, t.end - from);
    const out = new Uint8Array(headerEnd + chunk);
    out.set(data.subarray(0, headerEnd));
    out.set(data.subarray(from, from + chunk), headerEnd);
    const ipPayload = headerEnd - t.l4 + chunk;
    if (t.ipv6) {
      put16(out, t.l3 + 4, t.l4 - t.l3 - IPV6_HLEN + ipPayload);
    } else {
      put16(out, t.l3 + 2, t.l4 - t.l3 + ipPayload);
      put16(out, t.l3 + 4, (firstId + i) & 0xffff);
      out[t.l3 + 10] = 0;
      out[t.l3 + 11] = 0;
      put16(out, t.l3 + 10, internetChecksum(out, t.l3, t.l4));
    }
    const seq = (firstSeq + i * mss) >>> 0;
    out[t.l4 + 4] = seq >>> 24;
    out[t.l4 + 5] = seq >>> 16;
    out[t.l4 + 6] = seq >>> 8;
    out[t.l4 + 7] = seq;
    let segmentFlags = flags;
    if (i !== count - 1) segmentFlags &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) segmentFlags &= ~TCP_CWR;
    out[t.l4 + 13] = segmentFlags;
    writeTransportChecksum(out, t, out.length);
    segments[i] = { data: out, checksumBlank: false, dataValidated: true };
  }
  return segments;
}
