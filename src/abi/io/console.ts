/**
 * The PV console ring (xen/include/public/io/console.h): one shared page with an input
 * ring (backend → guest) and an output ring (guest → backend), each a byte ring indexed
 * by free-running 32-bit counters.
 */

import { bytes, struct, u32 } from '../layout.js';

export const xencons_interface = struct('xencons_interface', {
  /** Bytes for the guest to read. */
  in: bytes(1024),
  /** Bytes the guest wrote. */
  out: bytes(2048),
  in_cons: u32,
  in_prod: u32,
  out_cons: u32,
  out_prod: u32,
});

/** The offset in a console ring of `ringSize` bytes for index `index` (MASK_XENCONS_IDX). */
export function MASK_XENCONS_IDX(index: number, ringSize: number): number {
  return (index & (ringSize - 1)) >>> 0;
}
