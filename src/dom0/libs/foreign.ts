/**
 * Foreign memory (libxenforeignmemory, Linux's privcmd mmapbatch): another domain's pages
 * mapped into Dom0's physical address space with
 * XENMEM_add_to_physmap_batch(XENMAPSPACE_gmfn_foreign), read and written in place, and
 * removed with XENMEM_remove_from_physmap.
 */
import { __HYPERVISOR_memory_op } from '../../abi/hypercall.js';
import {
  XENMAPSPACE_gmfn_foreign,
  XENMEM_add_to_physmap_batch,
  XENMEM_remove_from_physmap,
  xen_add_to_physmap_batch,
  xen_remove_from_physmap,
} from '../../abi/memory.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { type Dom0Kernel, HypercallError } from './kernel.js';
import { PAGE_SIZE } from './memory.js';

/** The most extents one add_to_physmap_batch takes (its size field is 16 bits). */
const BATCH = 0x1000;

/** Pages of a domain mapped in Dom0, in the order they were asked for. */
export class ForeignMapping {
  private unmapped = false;

  constructor(
    private readonly kernel: Dom0Kernel,
    /** Where in Dom0 they are: the first of `count` contiguous guest frames. */
    readonly base: number,
    readonly count: number,
  ) {}

  /** Page `i` of the mapping. */
  page(i: number): Uint8Array {
    return this.kernel.memory.page(this.base + i);
  }

  /** Writes `data` at byte `offset` of the mapping (across pages). */
  write(offset: number, data: Uint8Array): void {
    this.kernel.memory.write(this.base * PAGE_SIZE + offset, data);
  }

  read(offset: number, length: number): Uint8Array {
    return this.kernel.memory.read(this.base * PAGE_SIZE + offset, length);
  }

  async unmap(): Promise<void> {
    if (this.unmapped) return;
    this.unmapped = true;
    for (let i = 0; i < this.count; i++) await removeFromPhysmap(this.kernel, this.base + i);
    this.kernel.mappingSpace.free(this.base, this.count);
  }
}

function removeFromPhysmap(kernel: Dom0Kernel, gfn: number): Promise<number> {
  return kernel.checked(
    'XENMEM_remove_from_physmap',
    kernel.withStruct(xen_remove_from_physmap, { domid: DOMID_SELF, gpfn: BigInt(gfn) }, (gpa) =>
      kernel.hypercall(__HYPERVISOR_memory_op, XENMEM_remove_from_physmap, gpa),
    ),
  );
}

/** Maps guest frames `gfns` of domain `domid`; all or nothing. */
export async function mapForeign(
  kernel: Dom0Kernel,
  domid: number,
  gfns: readonly number[],
): Promise<ForeignMapping> {
  const base = kernel.mappingSpace.alloc(gfns.length);
  for (let start = 0; start < gfns.length; start += BATCH) {
    const chunk = gfns.slice(start, start + BATCH);
    const errors = await mapBatch(kernel, domid, chunk, base + start);
    const failed = errors.findIndex((rc) => rc !== 0);
    if (failed < 0) continue;
    // All or nothing: what did map goes again.
    for (let i = 0; i < start + chunk.length; i++) {
      if (i < start || errors[i - start] === 0) await removeFromPhysmap(kernel, base + i);
    }
    kernel.mappingSpace.free(base, gfns.length);
    const gfn = chunk[failed]!;
    throw new HypercallError(
      `mapping page 0x${gfn.toString(16)} of domain ${domid}`,
      -errors[failed]!,
    );
  }
  return new ForeignMapping(kernel, base, gfns.length);
}

/** One XENMEM_add_to_physmap_batch: the per-page results. */
async function mapBatch(
  kernel: Dom0Kernel,
  domid: number,
  gfns: readonly number[],
  at: number,
): Promise<number[]> {
  const n = gfns.length;
  const arrays = new DataView(new ArrayBuffer(n * 20));
  gfns.forEach((gfn, i) => {
    arrays.setBigUint64(i * 8, BigInt(gfn), true);
    arrays.setBigUint64(n * 8 + i * 8, BigInt(at + i), true);
  });
  return kernel.withBytes(new Uint8Array(arrays.buffer), async (idxs) => {
    const errs = idxs + n * 16;
    await kernel.checked(
      'XENMEM_add_to_physmap_batch',
      kernel.withStruct(
        xen_add_to_physmap_batch,
        {
          domid: DOMID_SELF,
          space: XENMAPSPACE_gmfn_foreign,
          size: n,
          u: { foreign_domid: domid },
          idxs: BigInt(idxs),
          gpfns: BigInt(idxs + n * 8),
          errs: BigInt(errs),
        },
        (gpa) => kernel.hypercall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap_batch, gpa),
      ),
    );
    const results = new DataView(kernel.memory.read(errs, n * 4).buffer);
    return Array.from({ length: n }, (_, i) => results.getInt32(i * 4, true));
  });
}
