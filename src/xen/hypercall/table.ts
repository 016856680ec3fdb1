/**
 * The hypercall table: Xen's numbers, each with its handler, and whether only a privileged
 * domain may make it. The dispatcher checks privilege once, before the handler runs, as
 * Xen's hypercall-defs.c arranges.
 */
import type { Vcpu } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';

/** One hypercall in progress: arguments 1-5 as lo/hi halves (rdi rsi rdx r10 r8). */
export interface HypercallCall {
  readonly hv: Hypervisor;
  readonly vcpu: Vcpu;
  readonly argLo: Int32Array;
  readonly argHi: Int32Array;
}

/** Returns the value for RAX: ≥ 0 success (or an answer), < 0 a negative Xen errno. */
export type HypercallHandler = (call: HypercallCall) => number;

export interface HypercallEntry {
  name: string;
  handler: HypercallHandler;
  privileged?: boolean;
}

export type HypercallTable = ReadonlyMap<number, HypercallEntry>;
