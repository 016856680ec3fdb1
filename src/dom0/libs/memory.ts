/**
 * Dom0's memory as its kernel sees it: guest-physical addresses translated through its P2M
 * into machine memory, and allocators for its RAM pages (hypercall buffers) and for the
 * stretch of its physical address space where guests' pages get mapped.
 */
import { P2m } from '../../x86/memory.js';
import type { Privcmd } from './privcmd.js';

export const PAGE_SIZE = 4096;

/** Host-side failures of Dom0's libraries (not a guest's errors). */
export class Dom0Error extends Error {
  override name = 'Dom0Error';
}

export class Dom0Memory {
  constructor(private readonly privcmd: Privcmd) {}

  /** The machine byte address of guest-physical `gpa`; throws where nothing is mapped. */
  machineAddress(gpa: number): number {
    const entry = this.privcmd.p2m[Math.floor(gpa / PAGE_SIZE)];
    if (entry === undefined || entry < 0) {
      throw new Dom0Error(`Dom0 has nothing at guest-physical 0x${gpa.toString(16)}`);
    }
    return (entry & P2m.FrameMask) * PAGE_SIZE + (gpa % PAGE_SIZE);
  }

  /** The 4 KiB page at guest frame `gfn`, as a view into machine memory. */
  page(gfn: number): Uint8Array {
    const base = this.machineAddress(gfn * PAGE_SIZE);
    return this.privcmd.machine.subarray(base, base + PAGE_SIZE);
  }

  read(gpa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.forEachPage(gpa, length, (machine, done, size) => {
      out.set(this.privcmd.machine.subarray(machine, machine + size), done);
    });
    return out;
  }

  write(gpa: number, data: Uint8Array): void {
    this.forEachPage(gpa, data.length, (machine, done, size) => {
      this.privcmd.machine.set(data.subarray(done, done + size), machine);
    });
  }

  fill(gpa: number, length: number, value = 0): void {
    this.forEachPage(gpa, length, (machine, _done, size) => {
      this.privcmd.machine.fill(value, machine, machine + size);
    });
  }

  private forEachPage(
    gpa: number,
    length: number,
    visit: (machine: number, done: number, size: number) => void,
  ): void {
    let done = 0;
    while (done < length) {
      const at = gpa + done;
      const size = Math.min(length - done, PAGE_SIZE - (at % PAGE_SIZE));
      visit(this.machineAddress(at), done, size);
      done += size;
    }
  }
}

/** First-fit allocation of runs of frames in [first, first + count). */
export class FrameAllocator {
  private readonly used: Uint8Array;

  constructor(
    readonly first: number,
    readonly count: number,
  ) {
    this.used = new Uint8Array(count);
  }

  /** `frames` contiguous frames; throws when there is no such run. */
  alloc(frames: number): number {
    const frame = this.tryAlloc(frames);
    if (frame === undefined) {
      throw new Dom0Error(`no run of ${frames} free frames left (of ${this.count})`);
    }
    return frame;
  }

  /** `frames` contiguous frames, or undefined when there is no such run now. */
  tryAlloc(frames: number): number | undefined {
    let run = 0;
    for (let i = 0; i < this.count; i++) {
      run = this.used[i] ? 0 : run + 1;
      if (run === frames) {
        const start = i - frames + 1;
        this.used.fill(1, start, i + 1);
        return this.first + start;
      }
    }
    return undefined;
  }

  free(frame: number, frames: number): void {
    const start = frame - this.first;
    if (start < 0 || start + frames > this.count) {
      throw new Dom0Error(`frames 0x${frame.toString(16)}+${frames} are not this allocator's`);
    }
    this.used.fill(0, start, start + frames);
  }
}
