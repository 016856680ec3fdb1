/** Ethernet frames for tests of netback and its bridge. */

/** A MAC address's six bytes. */
export function macBytes(mac: string): number[] {
  return mac.split(':').map((part) => Number.parseInt(part, 16));
}

/**
 * An Ethernet frame carrying IPv4/TCP from `src` to `dst` (MACs) with `payload` bytes of a
 * pattern seeded by `seed`; the TCP ports and addresses come from `flow` so that different
 * flows hash to different queues. Checksums are left blank (CHECKSUM_PARTIAL's pseudo-header
 * sum is not needed for the bridge to pass it on).
 */
export function tcpFrame(
  dst: string,
  src: string,
  payload: number,
  seed = 0,
  flow = 0,
): Uint8Array {
  const frame = new Uint8Array(14 + 20 + 20 + payload);
  const view = new DataView(frame.buffer);
  frame.set(macBytes(dst), 0);
  frame.set(macBytes(src), 6);
  view.setUint16(12, 0x0800);
  view.setUint8(14, 0x45);
  view.setUint16(16, 20 + 20 + payload > 0xffff ? 0 : 20 + 20 + payload);
  view.setUint8(22, 64);
  view.setUint8(23, 6);
  view.setUint32(26, 0x0a000001 + flow);
  view.setUint32(30, 0x0a000002 + flow * 7);
  view.setUint16(34, 1024 + flow);
  view.setUint16(36, 80);
  view.setUint8(46, 0x50);
  view.setUint8(47, 0x18);
  for (let i = 0; i < payload; i++) frame[54 + i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return frame;
}
