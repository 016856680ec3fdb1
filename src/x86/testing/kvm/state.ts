/**
 * The shape of a system-level differential case and of its result, shared by the KVM runner
 * (kvm.ts) and the emulator side (emulated.ts): a guest-physical memory image and the full
 * architectural state to start from; the exit, the state and the memory dumps to compare.
 */

/** Guest-physical memory of every case: 64 MiB at address 0, zeroed, then the case's chunks. */
export const GUEST_MEMORY_BYTES = 64 << 20;

/** Segment registers in Xenotype's order (the order of `Cpu.segSel`). */
export const SEGMENT_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;
export { GPR_NAMES } from '../registers.js';

export interface Segment {
  selector: number;
  base: bigint;
  /** Byte-granular limit (a G=1 segment's limit already scaled: 0xffffffff). */
  limit: number;
  /**
   * VMX-style access rights, as `Cpu.segAttr`: type 0-3, S 4, DPL 5-6, P 7, AVL 12, L 13,
   * D/B 14, G 15, unusable 16.
   */
  attr: number;
}

export interface TableRegister {
  base: bigint;
  limit: number;
}

export interface MachineState {
  /** rax rcx rdx rbx rsp rbp rsi rdi r8 .. r15 */
  gpr: bigint[];
  rip: bigint;
  rflags: number;
  cr0: number;
  cr2: bigint;
  cr3: bigint;
  cr4: number;
  cr8: number;
  efer: number;
  /** ES CS SS DS FS GS LDTR TR */
  segments: Segment[];
  gdt: TableRegister;
  idt: TableRegister;
}

export interface MemoryChunk {
  gpa: number;
  bytes: Uint8Array;
}

export interface MemoryRange {
  gpa: number;
  length: number;
}

export interface MsrValue {
  index: number;
  value: bigint;
}

export interface KvmCase {
  /** For messages. */
  name: string;
  /** Copied into zeroed guest memory, in order. */
  memory: MemoryChunk[];
  state: MachineState;
  /** MSRs set before the run and read back after it (EFER is in `state`). */
  msrs?: MsrValue[];
  /** Guest-physical ranges returned in the result, in order. */
  dumps?: MemoryRange[];
  /** KVM: wall-clock time before a `timeout` exit (default 1000 ms). */
  timeoutMs?: number;
  /** Emulator: instructions before a `timeout` exit (default 1,000,000). */
  budget?: number;
  /** The data an IN or an MMIO read gets (default 0). */
  readValue?: bigint;
}

export type ExitKind =
  | 'hlt'
  | 'io'
  | 'mmio'
  | 'shutdown'
  | 'timeout'
  | 'entry-failure'
  | 'internal-error'
  | 'other'
  | 'rejected';

export interface Access {
  /** Port (I/O) or guest-physical address (MMIO). */
  address: bigint;
  size: number;
  write: boolean;
  /** Written data, or the case's readValue for a read. */
  value: bigint;
}

export interface KvmResult {
  exit: ExitKind;
  /** A human-readable note on the exit (KVM's raw reason, a shutdown message …). */
  detail: string;
  /** For `io` and `mmio` exits. */
  access?: Access;
  /**
   * The state at the exit. For `hlt` and `io` the instruction has completed (RIP is past it).
   * After `shutdown` the registers are meaningless (KVM on SVM resets the vCPU); only memory
   * counts.
   */
  state: MachineState;
  msrs: MsrValue[];
  /** The case's dumps, in order. */
  dumps: Uint8Array[];
}

/** A zeroed state (every segment unusable). */
export function emptyState(): MachineState {
  return {
    gpr: new Array<bigint>(16).fill(0n),
    rip: 0n,
    rflags: 2,
    cr0: 0,
    cr2: 0n,
    cr3: 0n,
    cr4: 0,
    cr8: 0,
    efer: 0,
    segments: SEGMENT_NAMES.map(() => ({ selector: 0, base: 0n, limit: 0, attr: 1 << 16 })),
    gdt: { base: 0n, limit: 0 },
    idt: { base: 0n, limit: 0 },
  };
}
