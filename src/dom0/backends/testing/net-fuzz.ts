/**
 * Garbage netif transmit slots for fuzzing netback, drawn from a seeded PRNG: packets that
 * are mostly well formed, each field (sizes, offsets, flags, chains, extra info, grants)
 * sometimes wrong, and now and then a slot of random bytes.
 */
import {
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
} from '../../../abi/io/netif.js';
import type { FakeGuest } from './guest.js';
import { pattern } from './hostile.js';
import { NetFront } from './netfront.js';

/**
 * Grants pages of `h` for the fuzzer to draw from (one of them to domain `foreignDomid`), and
 * returns a maker of one packet's garbage slots.
 */
export function netFuzzer(
  h: FakeGuest,
  foreignDomid: number,
  random: () => number,
): () => Uint8Array[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const u16 = () => (random() * 65536) | 0;
  const pages = Array.from({ length: 8 }, () => {
    const gfn = h.page();
    h.bytes(gfn).set(pattern(4096, gfn));
    return h.grant(gfn, { readonly: true });
  });
  const foreign = h.grant(h.page(), { to: foreignDomid });
  const never = h.unusedRef();
  const gref = () =>
    pick([...pages, ...pages, ...pages, foreign, never, (random() * 2 ** 32) >>> 0]);
  const offset = (size: number) =>
    random() < 0.95 ? Math.floor(random() * Math.max(1, 4096 - size)) : u16();
  /** One packet's slots: mostly well formed, each field sometimes wrong. */
  return (): Uint8Array[] => {
    if (random() < 0.03) {
      return [Uint8Array.from({ length: 12 }, () => (random() * 256) | 0)];
    }
    const fragments = random() < 0.7 ? 0 : 1 + Math.floor(random() * (random() < 0.95 ? 4 : 24));
    const sizes = Array.from({ length: fragments }, () =>
      random() < 0.95 ? 1 + Math.floor(random() * 1500) : u16(),
    );
    const head = random() < 0.9 ? 14 + Math.floor(random() * 1400) : Math.floor(random() * 20);
    const total = Math.min(0xffff, head + sizes.reduce((a, b) => a + b, 0));
    const size = random() < 0.95 ? total : u16();
    const extra = random() < 0.2;
    let flags = pick([
      0,
      NETTXF_csum_blank | NETTXF_data_validated,
      NETTXF_data_validated,
      u16() & 3,
    ]);
    if (fragments > 0) flags |= NETTXF_more_data;
    if (extra) flags |= NETTXF_extra_info;
    const slots = [
      NetFront.txRequest({ gref: gref(), offset: offset(head), flags, id: u16(), size }),
    ];
    if (extra) {
      const type = random() < 0.97 ? XEN_NETIF_EXTRA_TYPE_GSO : (random() * 256) | 0;
      const gsoSize = random() < 0.97 ? 500 + Math.floor(random() * 1000) : 0;
      const gsoType =
        random() < 0.97 ? pick([XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6]) : u16() & 0xff;
      slots.push(NetFront.extraInfo(type, { size: gsoSize, type: gsoType }));
    }
    sizes.forEach((s, i) => {
      const more = i + 1 < sizes.length || random() < 0.01 ? NETTXF_more_data : 0;
      slots.push(
        NetFront.txRequest({
          gref: gref(),
          offset: offset(s),
          flags: more,
          id: u16(),
          size: s,
        }),
      );
    });
    return slots;
  };
}
