/**
 * Grant references (libxengnttab, Linux's gntdev): pages another domain granted to Dom0,
 * mapped into Dom0's physical address space with GNTTABOP_map_grant_ref and read or written in
 * place, and copied with GNTTABOP_copy. Backends move their guests' data with these.
 */
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_okay,
  GNTTABOP_copy,
  GNTTABOP_map_grant_ref,
  GNTTABOP_unmap_grant_ref,
  gnttab_copy,
  gnttab_map_grant_ref,
  gnttab_unmap_grant_ref,
} from '../../abi/grant_table.js';
import { __HYPERVISOR_grant_table_op } from '../../abi/hypercall.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { type Dom0Kernel, HypercallError } from './kernel.js';
import { PAGE_SIZE } from './memory.js';

/** A GNTST_* status that is not GNTST_okay (negative, as Xen returns it). */
export class GrantError extends Error {
  override name = 'GrantError';

  constructor(
    readonly what: string,
    readonly status: number,
  ) {
    super(`${what} failed: grant status ${status}`);
  }
}

const MAP = gnttab_map_grant_ref;
const UNMAP = gnttab_unmap_grant_ref;

/** Granted pages of one domain mapped in Dom0, in the order their references were given. */
export class GrantMapping {
  private unmapped = false;

  constructor(
    private readonly kernel: Dom0Kernel,
    /** The first of `refs.length` contiguous Dom0 frames the pages are mapped at. */
    readonly base: number,
    readonly refs: readonly number[],
    private readonly handles: readonly number[],
  ) {}

  /** Page `i` of the mapping, shared with the granting domain. */
  page(i: number): Uint8Array {
    if (this.unmapped) throw new GrantError('reading an unmapped grant', -1);
    return this.kernel.memory.page(this.base + i);
  }

  async unmap(): Promise<void> {
    if (this.unmapped) return;
    this.unmapped = true;
    await unmapHandles(
      this.kernel,
      this.handles.map((handle, i) => ({ gfn: this.base + i, handle })),
    );
    this.kernel.mappingSpace.free(this.base, this.refs.length);
  }
}

/** Maps grant references `refs` of domain `domid`; all or nothing. */
export async function mapGrants(
  kernel: Dom0Kernel,
  domid: number,
  refs: readonly number[],
  options: { readonly?: boolean } = {},
): Promise<GrantMapping> {
  const n = refs.length;
  const base = kernel.mappingSpace.alloc(n);
  const flags = GNTMAP_host_map | (options.readonly === true ? GNTMAP_readonly : 0);
  const ops = new DataView(new ArrayBuffer(n * MAP.size));
  refs.forEach((ref, i) => {
    const host_addr = BigInt((base + i) * PAGE_SIZE);
    MAP.write(ops, i * MAP.size, { host_addr, flags, ref, dom: domid });
  });
  const results = await kernel.withBytes(new Uint8Array(ops.buffer), async (gpa) => {
    await kernel.checked(
      'GNTTABOP_map_grant_ref',
      kernel.hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref, gpa, n),
    );
    const out = kernel.memory.read(gpa, n * MAP.size);
    return refs.map((_, i) => MAP.decode(out, i * MAP.size));
  });
  const failed = results.findIndex((r) => r.status !== GNTST_okay);
  if (failed < 0) {
    return new GrantMapping(
      kernel,
      base,
      refs,
      results.map((r) => r.handle),
    );
  }
  // All or nothing: what did map goes again.
  const mapped = results.flatMap((r, i) =>
    r.status === GNTST_okay ? [{ gfn: base + i, handle: r.handle }] : [],
  );
  await unmapHandles(kernel, mapped).catch(() => {});
  kernel.mappingSpace.free(base, n);
  throw new GrantError(`mapping grant ${refs[failed]} of domain ${domid}`, results[failed]!.status);
}

async function unmapHandles(
  kernel: Dom0Kernel,
  entries: readonly { gfn: number; handle: number }[],
): Promise<void> {
  if (entries.length === 0) return;
  const ops = new DataView(new ArrayBuffer(entries.length * UNMAP.size));
  entries.forEach(({ gfn, handle }, i) => {
    UNMAP.write(ops, i * UNMAP.size, { host_addr: BigInt(gfn * PAGE_SIZE), handle });
  });
  await kernel.withBytes(new Uint8Array(ops.buffer), async (gpa) => {
    await kernel.checked(
      'GNTTABOP_unmap_grant_ref',
      kernel.hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref, gpa, entries.length),
    );
    const out = kernel.memory.read(gpa, entries.length * UNMAP.size);
    entries.forEach((_, i) => {
      const status = UNMAP.decode(out, i * UNMAP.size).status;
      if (status !== GNTST_okay) throw new GrantError('GNTTABOP_unmap_grant_ref', status);
    });
  });
}

/** One side of a grant copy: a granted page of `domid`, or a frame of Dom0 itself. */
export type CopyEnd =
  | { readonly domid: number; readonly ref: number; readonly offset: number }
  | { readonly gfn: number; readonly offset: number };

export interface CopySegment {
  readonly source: CopyEnd;
  readonly dest: CopyEnd;
  readonly length: number;
}

/**
 * GNTTABOP_copy of every segment in one hypercall; resolves to each segment's GNTST_*
 * status (the caller decides what a failed segment means for its request).
 */
export async function copyGrants(
  kernel: Dom0Kernel,
  segments: readonly CopySegment[],
): Promise<number[]> {
  const n = segments.length;
  if (n === 0) return [];
  const ops = new DataView(new ArrayBuffer(n * gnttab_copy.size));
  segments.forEach((s, i) => {
    const flags =
      ('ref' in s.source ? GNTCOPY_source_gref : 0) | ('ref' in s.dest ? GNTCOPY_dest_gref : 0);
    gnttab_copy.write(ops, i * gnttab_copy.size, {
      source: copyPtr(s.source),
      dest: copyPtr(s.dest),
      len: s.length,
      flags,
    });
  });
  return kernel.withBytes(new Uint8Array(ops.buffer), async (gpa) => {
    const rc = await kernel.hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_copy, gpa, n);
    if (rc < 0) throw new HypercallError('GNTTABOP_copy', -rc);
    const out = kernel.memory.read(gpa, n * gnttab_copy.size);
    return segments.map((_, i) => gnttab_copy.decode(out, i * gnttab_copy.size).status);
  });
}

function copyPtr(end: CopyEnd) {
  return 'ref' in end
    ? { u: { ref: end.ref }, domid: end.domid, offset: end.offset }
    : { u: { gmfn: BigInt(end.gfn) }, domid: DOMID_SELF, offset: end.offset };
}
