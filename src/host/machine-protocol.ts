/**
 * Messages between the host's main thread (Dom0) and the hypervisor's worker thread. Dom0's
 * hypercalls go one way and their results come back; the upcall and the hypervisor's console
 * come back unasked. Machine memory and Dom0's P2M are shared buffers, handed over once.
 */

export interface MachineOptions {
  /** Machine memory in bytes. */
  memoryBytes: number;
  /** Dom0's RAM in 4 KiB frames (hypercall buffers). */
  dom0Frames: number;
  /** Xen's command line (xl info, xl dmesg). */
  commandLine: string;
  /** Instructions the worker runs between two looks at its messages. */
  chunk?: number;
}

/** Main → worker. */
export type ToMachine =
  | { kind: 'hypercall'; id: number; op: number; args: (number | bigint)[] }
  | { kind: 'stop' };

/** Worker → main. */
export type FromMachine =
  | { kind: 'ready'; machine: SharedArrayBuffer; p2m: SharedArrayBuffer }
  | { kind: 'result'; id: number; result: number }
  | { kind: 'upcall' }
  | { kind: 'console'; text: string }
  | { kind: 'stopped' }
  | { kind: 'failed'; message: string };

/**
 * The doorbell: an Int32Array over a SharedArrayBuffer; the main thread rings it after posting.
 * The same buffer carries, from STATS_OFFSET, a Float64Array the worker keeps up to date:
 * STAT_INSTRUCTIONS is every guest instruction retired so far.
 */
export const DOORBELL_BYTES = 16;
export const STATS_OFFSET = 8;
export const STAT_INSTRUCTIONS = 0;
