/**
 * Hypercall entry from a VMCALL/VMMCALL exit (Xen's hvm_hypercall): decode the registers,
 * check, dispatch, then either return the result in RAX or, for a continuation, make the
 * guest execute the instruction again with the updated arguments (see table.ts).
 */
import { XEN_ENOSYS, XEN_EPERM, XEN_ERESTART } from '../../abi/errno.js';
import type { Cpu } from '../../x86/cpu.js';
import type { Vcpu } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import type { HypercallArgs, HypercallCall, HypercallTable } from './table.js';

/** Registers of arguments 1-5: rdi rsi rdx r10 r8 (64-bit), ebx ecx edx esi edi (32-bit). */
const ARG_REGISTERS_64 = [7, 6, 2, 10, 8] as const;
const ARG_REGISTERS_32 = [3, 1, 2, 6, 7] as const;

/** VMCALL and VMMCALL are 3 bytes: used if an exit did not report its length. */
const HYPERCALL_INSN_LENGTH = 3;

/**
 * Runs hypercall `op` for `vcpu`: the table lookup, the privilege check, the handler. Shared by
 * the VMCALL path and multicall. Returns the handler's value: -XEN_ERESTART means the
 * arguments in `args` were updated for a continuation.
 */
export function invokeHypercall(
  hv: Hypervisor,
  vcpu: Vcpu,
  op: number,
  args: HypercallArgs,
  inMulticall = false,
  table: HypercallTable = hv.hypercalls,
): number {
  const entry = table.get(op);
  if (entry === undefined) return -XEN_ENOSYS;
  if (entry.privileged && !vcpu.domain.privileged) return -XEN_EPERM;
  const { argLo, argHi } = args;
  const call: HypercallCall = inMulticall
    ? { hv, vcpu, argLo, argHi, inMulticall }
    : { hv, vcpu, argLo, argHi };
  return entry.handler(call);
}

export function dispatchHypercall(hv: Hypervisor, table: HypercallTable, vcpu: Vcpu): void {
  const cpu = vcpu.cpu;
  const gpr = cpu.gpr;
  const bits64 = cpu.codeSize === 64;
  // Xen refuses hypercalls from guest user mode (and virtual-8086 mode, which runs at CPL 3).
  if (cpu.cpl !== 0) {
    setResult(cpu, bits64, -XEN_EPERM);
    return;
  }
  const registers = bits64 ? ARG_REGISTERS_64 : ARG_REGISTERS_32;
  const args: HypercallArgs = { argLo: new Int32Array(6), argHi: new Int32Array(6) };
  for (let i = 0; i < 5; i++) {
    const reg = registers[i]!;
    args.argLo[i + 1] = gpr[reg * 2]!;
    args.argHi[i + 1] = bits64 ? gpr[reg * 2 + 1]! : 0;
  }
  // A 64-bit guest's number is all of RAX: with high bits set it names no hypercall.
  const op = bits64 && gpr[1] !== 0 ? -1 : gpr[0]! >>> 0;
  let result: number;
  try {
    result = invokeHypercall(hv, vcpu, op, args, false, table);
  } catch (error) {
    // A handler bug must not take down the process or other domains: the caller pays.
    const name = table.get(op)?.name ?? 'unknown';
    hv.crashDomain(vcpu.domain, `hypercall ${name} (${op}) threw ${describe(error)}`);
    setResult(cpu, bits64, -XEN_ENOSYS);
    return;
  }
  if (result === -XEN_ERESTART) {
    continueHypercall(cpu, bits64, op, args, registers);
    return;
  }
  setResult(cpu, bits64, result);
}

/** RAX (EAX for a 32-bit guest): the result, sign-extended to 64 bits. */
function setResult(cpu: Cpu, bits64: boolean, result: number): void {
  cpu.gpr[0] = result | 0;
  cpu.gpr[1] = bits64 ? Math.floor(result / 0x100000000) | 0 : 0;
}

/**
 * The guest will execute the hypercall instruction again: RIP goes back over it, RAX gets
 * the number back, the argument registers get the continuation's arguments.
 */
function continueHypercall(
  cpu: Cpu,
  bits64: boolean,
  op: number,
  args: HypercallArgs,
  registers: readonly number[],
): void {
  const length = cpu.exit.instructionLength || HYPERCALL_INSN_LENGTH;
  const lo = (cpu.ripLo >>> 0) - length;
  if (cpu.codeSize === 16) {
    cpu.ripLo = lo & 0xffff;
  } else {
    if (lo < 0 && bits64) cpu.ripHi = (cpu.ripHi - 1) | 0;
    cpu.ripLo = lo | 0;
  }
  cpu.gpr[0] = op | 0;
  cpu.gpr[1] = 0;
  for (let i = 0; i < 5; i++) {
    const reg = registers[i]!;
    cpu.gpr[reg * 2] = args.argLo[i + 1]!;
    cpu.gpr[reg * 2 + 1] = bits64 ? args.argHi[i + 1]! : 0;
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const frame = error.stack?.split('\n')[1]?.trim();
  return frame === undefined
    ? `${error.name}: ${error.message}`
    : `${error.name}: ${error.message} ${frame}`;
}
