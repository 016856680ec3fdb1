/**
 * The hypercall table: Xen's numbers, each with its handler, and whether only a privileged
 * domain may make it. The dispatcher (`invokeHypercall`) checks privilege once, before the
 * handler runs, as Xen's hypercall-defs.c arranges; the VMCALL path and multicall's entries
 * go through that same check.
 *
 * Continuations (Xen's hypercall_create_continuation). A handler that has done enough work for
 * one go, or must let the vCPU run before it can go on, describes what is left by updating its
 * own arguments in `argLo`/`argHi` and returns -XEN_ERESTART;
 * `hypercallCreateContinuation(call, { 2: next })` (continuation.ts) does both in one call.
 * -XEN_ERESTART never reaches the guest:
 *
 * - after a VMCALL/VMMCALL the dispatcher steps RIP back over the instruction, puts the
 *   hypercall number in RAX and the updated arguments in the argument registers, so the guest
 *   makes the same hypercall again with them (after any pending interrupt is delivered);
 * - inside a multicall the updated arguments (and result = the hypercall number, as in Xen) are
 *   written back into the guest's multicall_entry, and the multicall itself is continued at
 *   that entry.
 *
 * So a handler keeps no state between the two halves: what it needs is in its arguments and
 * in guest memory. `hypercallPreemptCheck(call, work)` tells a looping handler when to stop.
 */
import type { Vcpu } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';

/** Arguments 1-5 as lo/hi halves (index 0 is unused; rdi rsi rdx r10 r8 for a 64-bit guest). */
export interface HypercallArgs {
  readonly argLo: Int32Array;
  readonly argHi: Int32Array;
}

/** One hypercall in progress. */
export interface HypercallCall extends HypercallArgs {
  readonly hv: Hypervisor;
  readonly vcpu: Vcpu;
  /** The call is an entry of a multicall (Xen's MCSF_in_multicall). */
  readonly inMulticall?: boolean;
}

/**
 * Returns the value for RAX: ≥ 0 success (or an answer), < 0 a negative Xen errno, or
 * -XEN_ERESTART with the arguments updated: a continuation (see above).
 */
export type HypercallHandler = (call: HypercallCall) => number;

export interface HypercallEntry {
  name: string;
  handler: HypercallHandler;
  privileged?: boolean;
}

export type HypercallTable = ReadonlyMap<number, HypercallEntry>;
