/**
 * Garbage blkif requests for fuzzing blkback, drawn from a seeded PRNG: mostly requests of
 * real operations whose every field is sometimes wrong, on grants of every kind (the guest's
 * own writable and read-only pages, another domain's, never granted, random), and now and
 * then a slot of random bytes.
 */
import {
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  blkif_request_discard,
  blkif_request_indirect,
} from '../../../abi/io/blkif.js';
import { BLKIF_ENTRY_SIZE } from './blkfront.js';
import type { FakeGuest } from './guest.js';

/** A garbage request: its bytes, and the high half of its 64-bit id (the backend must echo it). */
export interface FuzzRequest {
  bytes: Uint8Array;
  idHi: number;
}

/**
 * Grants pages of `h` for the fuzzer to draw from (one of them to domain `foreign`), and
 * returns a maker of garbage requests for a disk of `diskSectors`.
 */
export function blkFuzzer(
  h: FakeGuest,
  foreign: number,
  diskSectors: number,
  random: () => number,
): (id: number) => FuzzRequest {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const u32 = () => (random() * 2 ** 32) >>> 0;
  // Grants the fuzzer draws from: the guest's own (writable and not), another
  // domain's, none at all; and an indirect page of random segments.
  const data = Array.from({ length: 12 }, () => h.grant(h.page()));
  const readonly = Array.from({ length: 4 }, () => h.grant(h.page(), { readonly: true }));
  const foreignRef = h.grant(h.page(), { to: foreign });
  const indirectGfn = h.page();
  const indirect = h.grant(indirectGfn);
  const never = h.unusedRef();
  const gref = () => pick([...data, ...data, ...readonly, foreignRef, indirect, never, u32()]);
  const sect = () => (random() < 0.9 ? Math.floor(random() * 8) : Math.floor(random() * 256));
  const sector = () =>
    pick([
      Math.floor(random() * (diskSectors - 100)),
      diskSectors - Math.floor(random() * 16),
      u32(),
      u32() * 2 ** 20,
    ]);
  return (id: number): FuzzRequest => {
    const bytes = new Uint8Array(BLKIF_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    if (random() < 0.15) {
      for (let i = 0; i < bytes.length; i++) bytes[i] = (random() * 256) | 0;
    } else {
      const op = pick([
        BLKIF_OP_READ,
        BLKIF_OP_READ,
        BLKIF_OP_WRITE,
        BLKIF_OP_WRITE,
        BLKIF_OP_WRITE_BARRIER,
        BLKIF_OP_FLUSH_DISKCACHE,
        BLKIF_OP_DISCARD,
        BLKIF_OP_INDIRECT,
        (random() * 256) | 0,
      ]);
      view.setUint8(0, op);
      if (op === BLKIF_OP_INDIRECT) {
        const I = blkif_request_indirect.offsets;
        view.setUint8(I.indirect_op, pick([BLKIF_OP_READ, BLKIF_OP_WRITE, (random() * 256) | 0]));
        view.setUint16(
          I.nr_segments,
          pick([1 + Math.floor(random() * 256), 0, u32() & 0xffff]),
          true,
        );
        const s = sector();
        view.setUint32(I.sector_number, s % 2 ** 32, true);
        view.setUint32(I.sector_number + 4, Math.floor(s / 2 ** 32), true);
        for (let i = 0; i < 8; i++) {
          view.setUint32(I.indirect_grefs + i * 4, pick([indirect, gref()]), true);
        }
        const page = new DataView(
          h.bytes(indirectGfn).buffer,
          h.bytes(indirectGfn).byteOffset,
          4096,
        );
        for (let i = 0; i < 512; i++) {
          page.setUint32(i * 8, gref(), true);
          page.setUint8(i * 8 + 4, sect());
          page.setUint8(i * 8 + 5, sect());
        }
      } else if (op === BLKIF_OP_DISCARD) {
        const D = blkif_request_discard.offsets;
        view.setUint8(D.flag, (random() * 4) | 0);
        view.setUint32(D.sector_number, sector() % 2 ** 32, true);
        view.setUint32(D.nr_sectors, pick([1 + Math.floor(random() * 64), u32()]), true);
        view.setUint32(D.nr_sectors + 4, pick([0, 0, u32()]), true);
      } else {
        const n = pick([1 + Math.floor(random() * 11), 0, 12 + Math.floor(random() * 244)]);
        view.setUint8(1, n);
        const s = sector();
        view.setUint32(16, s % 2 ** 32, true);
        view.setUint32(20, Math.floor(s / 2 ** 32), true);
        for (let i = 0; i < 11; i++) {
          view.setUint32(24 + i * 8, gref(), true);
          const first = sect();
          view.setUint8(28 + i * 8, first);
          view.setUint8(
            29 + i * 8,
            random() < 0.8 ? first + Math.floor(random() * (8 - Math.min(first, 7))) : sect(),
          );
        }
      }
    }
    const idHi = u32();
    view.setUint32(8, id, true);
    view.setUint32(12, idHi, true);
    return { bytes, idHi };
  };
}
