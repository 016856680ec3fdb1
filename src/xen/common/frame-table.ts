/**
 * The frame table: who owns each machine frame and how many references it has, the M2P
 * (machine → guest frame) and the allocator. Frames are scrubbed when they are handed out and
 * when they come back, so no domain ever sees another's data.
 */
import type { MachineMemory } from '../../x86/memory.js';

/** Owner value of a free frame. */
export const FRAME_FREE = -1;
/** Owner value of frames the hypervisor keeps (shared_info pages, grant frames …). */
export const FRAME_XEN = 0x7ff2; // DOMID_XEN

export class FrameTable {
  readonly owner: Int32Array;
  readonly refs: Int32Array;
  /** Machine frame → guest frame number in its owner's P2M, or -1. */
  readonly m2p: Int32Array;
  private readonly freeStack: Int32Array;
  /** Called when a frame goes back to the free list (code decoded from it must be dropped). */
  onFree: ((mfn: number) => void) | undefined = undefined;
  private freeCount = 0;

  /** Frames below `reserved` are never allocated (the low frames of machine memory). */
  constructor(
    readonly memory: MachineMemory,
    reserved = 0,
  ) {
    const frames = memory.frames;
    this.owner = new Int32Array(frames).fill(FRAME_XEN);
    this.refs = new Int32Array(frames);
    this.m2p = new Int32Array(frames).fill(-1);
    this.freeStack = new Int32Array(frames);
    // Pushed high to low so that allocation hands out low frames first.
    for (let mfn = frames - 1; mfn >= reserved; mfn--) {
      this.owner[mfn] = FRAME_FREE;
      this.freeStack[this.freeCount++] = mfn;
    }
  }

  get free(): number {
    return this.freeCount;
  }

  /** A scrubbed frame for `owner`, or -1 when memory is exhausted. */
  alloc(owner: number): number {
    if (this.freeCount === 0) return -1;
    const mfn = this.freeStack[--this.freeCount]!;
    this.owner[mfn] = owner;
    this.refs[mfn] = 1;
    this.m2p[mfn] = -1;
    this.scrub(mfn);
    return mfn;
  }

  /** Drops a reference; the last one returns the frame, scrubbed, to the free list. */
  put(mfn: number): void {
    const refs = --this.refs[mfn]!;
    if (refs > 0) return;
    if (refs < 0) throw new Error(`frame ${mfn} released more often than taken`);
    this.scrub(mfn);
    this.onFree?.(mfn);
    this.owner[mfn] = FRAME_FREE;
    this.m2p[mfn] = -1;
    this.freeStack[this.freeCount++] = mfn;
  }

  /** Takes a reference on a frame that `owner` owns; false if it does not own it. */
  get(mfn: number, owner: number): boolean {
    if (mfn < 0 || mfn >= this.owner.length || this.owner[mfn] !== owner) return false;
    this.refs[mfn]!++;
    return true;
  }

  /** How many frames `owner` holds. */
  count(owner: number): number {
    let count = 0;
    for (let mfn = 0; mfn < this.owner.length; mfn++) if (this.owner[mfn] === owner) count++;
    return count;
  }

  private scrub(mfn: number): void {
    this.memory.bytes.fill(0, mfn * 4096, mfn * 4096 + 4096);
  }
}
