/**
 * What Dom0's kernel does for its libraries, on top of privcmd: hypercalls whose arguments
 * live in buffers of its RAM, its shared_info page, and the stretch of physical address
 * space where guests' pages are mapped (Linux uses ballooned-out pages for that; Dom0 here
 * has a hole in its P2M).
 */

import { __HYPERVISOR_memory_op } from '../../abi/hypercall.js';
import type { Fields, InputOf, Layout, ValueOf } from '../../abi/layout.js';
import {
  XENMAPSPACE_shared_info,
  XENMEM_add_to_physmap,
  xen_add_to_physmap,
} from '../../abi/memory.js';
import { DOMID_SELF } from '../../abi/xen.js';
import { Dom0Error, Dom0Memory, FrameAllocator, PAGE_SIZE } from './memory.js';
import type { HypercallArg, Privcmd } from './privcmd.js';

/** Where Dom0 maps other domains' pages: guest frames 0x800000 (32 GiB) and up. */
export const MAPPING_BASE_GFN = 0x800000;
const MAPPING_FRAMES = 0x100000;

export interface Dom0KernelOptions {
  /** Dom0's RAM: guest frames [0, ramFrames) are populated. */
  ramFrames: number;
}

/** A hypercall that failed: `errno` is Xen's (positive). */
export class HypercallError extends Error {
  override name = 'HypercallError';

  constructor(
    readonly what: string,
    readonly errno: number,
  ) {
    super(`${what} failed: Xen error ${errno}`);
  }
}

export class Dom0Kernel {
  readonly memory: Dom0Memory;
  /** Dom0's RAM pages, for hypercall buffers (frame 0 stays unused: a zero is never one). */
  private readonly ram: FrameAllocator;
  /** Free guest frames for mapping other domains' pages. */
  readonly mappingSpace = new FrameAllocator(MAPPING_BASE_GFN, MAPPING_FRAMES);
  private sharedInfo: Uint8Array | undefined;
  private readonly upcallHandlers: (() => void)[] = [];
  private upcallQueued = false;
  private readonly bufferWaiters: (() => void)[] = [];

  constructor(
    readonly privcmd: Privcmd,
    options: Dom0KernelOptions,
  ) {
    this.memory = new Dom0Memory(privcmd);
    this.ram = new FrameAllocator(1, options.ramFrames - 1);
    // Upcalls are coalesced: one scan handles everything pending by then.
    privcmd.onUpcall(() => {
      if (this.upcallQueued) return;
      this.upcallQueued = true;
      setImmediate(() => {
        this.upcallQueued = false;
        for (const handler of this.upcallHandlers) handler();
      });
    });
  }

  /** Maps shared_info, as a kernel does first. */
  async start(): Promise<void> {
    const gfn = this.mappingSpace.alloc(1);
    await this.checked(
      'XENMEM_add_to_physmap(shared_info)',
      this.withStruct(
        xen_add_to_physmap,
        { domid: DOMID_SELF, size: 0, space: XENMAPSPACE_shared_info, idx: 0n, gpfn: BigInt(gfn) },
        (at) => this.hypercall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, at),
      ),
    );
    this.sharedInfo = this.memory.page(gfn);
  }

  /** The shared_info page (after start()). */
  get sharedInfoPage(): Uint8Array {
    if (this.sharedInfo === undefined) throw new Dom0Error('Dom0 kernel not started');
    return this.sharedInfo;
  }

  onUpcall(handler: () => void): void {
    this.upcallHandlers.push(handler);
  }

  hypercall(op: number, ...args: HypercallArg[]): Promise<number> {
    return this.privcmd.hypercall(op, args);
  }

  /** Throws a HypercallError for a negative result. */
  async checked(what: string, result: Promise<number>): Promise<number> {
    const rc = await result;
    if (rc < 0) throw new HypercallError(what, -rc);
    return rc;
  }

  /**
   * Runs `body` with `size` bytes of Dom0 RAM (zeroed), freed afterwards. When RAM is short
   * it waits for buffers in use to come back, so a busy guest slows others but never fails
   * their hypercalls.
   */
  async withBuffer<T>(size: number, body: (gpa: number) => Promise<T>): Promise<T> {
    const frames = Math.max(1, Math.ceil(size / PAGE_SIZE));
    if (frames > this.ram.count)
      throw new Dom0Error(`a buffer of ${size} bytes is more than Dom0's RAM`);
    let gfn = this.ram.tryAlloc(frames);
    while (gfn === undefined) {
      await new Promise<void>((resolve) => this.bufferWaiters.push(resolve));
      gfn = this.ram.tryAlloc(frames);
    }
    const gpa = gfn * PAGE_SIZE;
    this.memory.fill(gpa, frames * PAGE_SIZE);
    try {
      return await body(gpa);
    } finally {
      this.ram.free(gfn, frames);
      for (const wake of this.bufferWaiters.splice(0)) wake();
    }
  }

  /** Runs `body` with `bytes` copied into a buffer; returns its result. */
  withBytes<T>(bytes: Uint8Array, body: (gpa: number) => Promise<T>): Promise<T> {
    return this.withBuffer(bytes.length, (gpa) => {
      this.memory.write(gpa, bytes);
      return body(gpa);
    });
  }

  /** Runs `body` with a structure in a buffer. */
  withStruct<F extends Fields, T>(
    layout: Layout<F>,
    value: InputOf<F>,
    body: (gpa: number) => Promise<T>,
  ): Promise<T> {
    return this.withBytes(layout.encode(value), body);
  }

  /**
   * Makes a hypercall whose one structure argument is read back afterwards (IN/OUT
   * structures such as domctl, sysctl, evtchn ops): resolves to the result and the struct.
   */
  async inOut<F extends Fields>(
    layout: Layout<F>,
    value: InputOf<F>,
    call: (gpa: number) => Promise<number>,
  ): Promise<{ rc: number; out: ValueOf<F> }> {
    return this.withStruct(layout, value, async (gpa) => {
      const rc = await call(gpa);
      return { rc, out: layout.decode(this.memory.read(gpa, layout.size)) };
    });
  }
}
