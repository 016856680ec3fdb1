/**
 * The whole surface between Dom0 and the hypervisor, as Linux's privcmd device and the
 * hardware give it to a real Dom0 kernel: the hypercall instruction, Dom0's own memory (machine
 * memory seen through Dom0's second-stage table, the P2M), and the event upcall. Dom0's
 * libraries build everything else on it: control operations, event channels, foreign and
 * granted mappings, xenstore, the console.
 *
 * The host provides it: in the same thread for tests, or across to the hypervisor's worker
 * thread. Hypercalls are therefore asynchronous; memory is shared and read directly.
 */

/** A hypercall argument: a number (exact below 2^53) or a 64-bit value. */
export type HypercallArg = number | bigint;

export interface Privcmd {
  /** All of machine memory (a shared buffer). */
  readonly machine: Uint8Array;
  /**
   * Dom0's P2M: guest frame → machine frame in the format of the CPU's second stage
   * (x86/memory.ts's P2m: negative when nothing is there). Dom0 only reads it, as hardware
   * reads EPT.
   */
  readonly p2m: Int32Array;
  /**
   * Makes hypercall `op` with up to five arguments. Pointers are guest-physical addresses
   * in Dom0's memory. Resolves to the hypervisor's return value (negative: -errno).
   */
  hypercall(op: number, args: readonly HypercallArg[]): Promise<number>;
  /** Called (on Dom0's thread) whenever events may be pending for Dom0. */
  onUpcall(handler: () => void): void;
}
