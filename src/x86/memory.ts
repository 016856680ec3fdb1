/**
 * Machine memory and the second-stage translation the hypervisor gives the CPU.
 *
 * Machine RAM is one shared WebAssembly.Memory divided into 4 KiB frames. A guest sees
 * guest-physical frames; its P2M (here `SecondStage.p2m`) maps each to a machine frame with
 * permissions, like EPT/NPT. An entry below zero means no frame: accesses there are MMIO.
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;

/** P2M entry bits above the machine frame number. */
export const enum P2m {
  FrameMask = 0x00ffffff,
  /** Writes fault to the hypervisor (read-only frame). */
  ReadOnly = 1 << 24,
  /** Instruction fetches fault to the hypervisor. */
  NoExecute = 1 << 25,
  /** The first write is reported to the dirty log, then the bit is cleared. */
  LogDirty = 1 << 26,
  /** No frame: the guest-physical frame is MMIO. */
  None = -1,
}

export class MachineMemory {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly frames: number;

  constructor(readonly buffer: ArrayBufferLike) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.frames = Math.floor(this.bytes.length / PAGE_SIZE);
  }

  /** A machine memory of `bytes` bytes in a shared WebAssembly.Memory (≤ 4 GiB). */
  static allocate(bytes: number): MachineMemory {
    const pages = Math.ceil(bytes / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    return new MachineMemory(memory.buffer);
  }
}

/** Hooks the hypervisor hangs on the second stage. */
export interface SecondStageHooks {
  /** A guest wrote a frame marked LogDirty (the entry's bit is already cleared). */
  dirty?(gfn: number): void;
}

/**
 * A domain's guest-physical → machine translation as the CPU uses it. The hypervisor owns
 * and edits `p2m`; after changing an entry that was present it must call
 * `Cpu.flushTlb()` on every vCPU of the domain, as Xen flushes after a P2M change.
 */
export class SecondStage {
  constructor(
    readonly memory: MachineMemory,
    /** Indexed by guest frame number: machine frame | P2m bits, or P2m.None. */
    readonly p2m: Int32Array,
    readonly hooks: SecondStageHooks = {},
  ) {}

  /** A second stage that maps guest frame N to machine frame N for the whole memory. */
  static identity(memory: MachineMemory): SecondStage {
    const p2m = new Int32Array(memory.frames);
    for (let gfn = 0; gfn < p2m.length; gfn++) p2m[gfn] = gfn;
    return new SecondStage(memory, p2m);
  }
}
