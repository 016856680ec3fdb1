/** Hypercall entry from a VMCALL/VMMCALL exit: decode registers, check, dispatch, return. */
import { XEN_ENOSYS, XEN_EPERM } from '../../abi/errno.js';
import type { Vcpu } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import type { HypercallCall, HypercallTable } from './table.js';

/** Registers that carry arguments 1-5 in the 64-bit HVM calling convention. */
const ARG_REGISTERS = [7, 6, 2, 10, 8] as const; // rdi rsi rdx r10 r8

export function dispatchHypercall(hv: Hypervisor, table: HypercallTable, vcpu: Vcpu): void {
  const cpu = vcpu.cpu;
  const gpr = cpu.gpr;
  const number = gpr[0]!;
  const call: HypercallCall = { hv, vcpu, argLo: new Int32Array(6), argHi: new Int32Array(6) };
  const bits64 = cpu.codeSize === 64;
  ARG_REGISTERS.forEach((reg, i) => {
    call.argLo[i + 1] = gpr[reg * 2]!;
    call.argHi[i + 1] = bits64 ? gpr[reg * 2 + 1]! : 0;
  });
  // 32-bit guests pass arguments in ebx ecx edx esi edi.
  if (!bits64) {
    [3, 1, 2, 6, 7].forEach((reg, i) => {
      call.argLo[i + 1] = gpr[reg * 2]!;
    });
  }
  const entry = gpr[1] === 0 || !bits64 ? table.get(number) : undefined;
  let result: number;
  if (entry === undefined) result = -XEN_ENOSYS;
  else if (entry.privileged && !vcpu.domain.privileged) result = -XEN_EPERM;
  else result = entry.handler(call);
  gpr[0] = result | 0;
  gpr[1] = bits64 ? result >> 31 : 0;
}
