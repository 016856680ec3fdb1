/**
 * HYPERVISOR_multicall(call_list, nr_calls): a batch of hypercalls in one exit (Xen's
 * common/multicall.c). Each entry goes through the table with its own privilege check; its
 * result is written back into the entry, and a failing entry does not stop the batch. Between
 * entries the batch may be preempted: it continues at the next entry, with the list pointer
 * and count updated. A preempted entry is written back whole, with its continuation's
 * arguments, and the batch continues at that entry.
 */
import { XEN_EFAULT, XEN_EINVAL, XEN_ERESTART } from '../../abi/errno.js';
import { multicall_entry } from '../../abi/xen.js';
import { copyFromGuest, copyToGuest } from '../arch/x86/guest-copy.js';
import { hypercallCreateContinuation, hypercallPreemptCheck } from './continuation.js';
import { invokeHypercall } from './dispatch.js';
import { argPointer, offsetPointer } from './guest-args.js';
import type { HypercallArgs, HypercallCall } from './table.js';

/** Where the fields of an entry are: multicall_entry, or its 32-bit (compat) form. */
interface EntryShape {
  size: number;
  /** Bytes per field: 8 (xen_ulong_t) or 4 (compat's unsigned int). */
  word: number;
  result: number;
  args: number;
}

const ENTRY_64: EntryShape = {
  size: multicall_entry.size,
  word: 8,
  result: multicall_entry.offsets.result,
  args: multicall_entry.offsets.args,
};
/** compat_multicall_entry (a 32-bit guest's): the same fields as 32-bit words. */
const ENTRY_32: EntryShape = { size: 32, word: 4, result: 4, args: 8 };

/** Scratch for a result on its way to the guest (copied out at once). */
const RESULT_BYTES = new Uint8Array(8);
const RESULT_VIEW = new DataView(RESULT_BYTES.buffer);

export function multicall(call: HypercallCall): number {
  // Xen's MCSF_in_multicall: "Multicall reentry is disallowed."
  if (call.inMulticall) return -XEN_EINVAL;
  const { hv, vcpu } = call;
  const cpu = vcpu.cpu;
  const shape = cpu.codeSize === 64 ? ENTRY_64 : ENTRY_32;
  const nrCalls = call.argLo[2]! >>> 0;
  let list = argPointer(call, 1);
  if (shape === ENTRY_32) list = { lo: list.lo, hi: 0 };
  const args: HypercallArgs = { argLo: new Int32Array(6), argHi: new Int32Array(6) };
  for (let i = 0; i < nrCalls; i++) {
    if (i > 0 && hypercallPreemptCheck(call, i)) {
      return hypercallCreateContinuation(call, { 1: list, 2: nrCalls - i });
    }
    const raw = copyFromGuest(cpu, list.lo, list.hi, shape.size);
    if (raw === undefined) return -XEN_EFAULT;
    const view = new DataView(raw.buffer);
    const op = readOp(view, shape);
    for (let n = 0; n < 5; n++) {
      const at = shape.args + n * shape.word;
      args.argLo[n + 1] = view.getInt32(at, true);
      args.argHi[n + 1] = shape.word === 8 ? view.getInt32(at + 4, true) : 0;
    }
    const result = invokeHypercall(hv, vcpu, op, args, true);
    if (result === -XEN_ERESTART) {
      // The entry becomes its own continuation; the batch resumes with it.
      writeWord(view, shape.result, shape, op);
      for (let n = 0; n < 5; n++) {
        const at = shape.args + n * shape.word;
        view.setInt32(at, args.argLo[n + 1]!, true);
        if (shape.word === 8) view.setInt32(at + 4, args.argHi[n + 1]!, true);
      }
      if (!copyToGuest(cpu, list.lo, list.hi, raw)) return -XEN_EFAULT;
      return hypercallCreateContinuation(call, { 1: list, 2: nrCalls - i });
    }
    writeWord(RESULT_VIEW, 0, shape, result);
    const resultAt = offsetPointer(list, shape.result);
    if (!copyToGuest(cpu, resultAt.lo, resultAt.hi, RESULT_BYTES.subarray(0, shape.word))) {
      return -XEN_EFAULT;
    }
    list = offsetPointer(list, shape.size);
    if (shape === ENTRY_32) list = { lo: list.lo, hi: 0 };
  }
  return 0;
}

/** The entry's op; one with high bits set names no hypercall (-1: -ENOSYS). */
function readOp(view: DataView, shape: EntryShape): number {
  if (shape.word === 8 && view.getUint32(4, true) !== 0) return -1;
  return view.getUint32(0, true);
}

/** A word of the entry: a result sign-extended, as Xen's long. */
function writeWord(view: DataView, at: number, shape: EntryShape, value: number): void {
  view.setInt32(at, value | 0, true);
  if (shape.word === 8) view.setInt32(at + 4, Math.floor(value / 0x100000000) | 0, true);
}
