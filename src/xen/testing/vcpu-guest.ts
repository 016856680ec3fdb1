/**
 * Test guests for the vCPU hypercalls (hvm_op, vcpu_op, sched_op, set_timer_op): assembler
 * macros for hypercalls, an IDT, the hypervisor's time and shutdown, and a runner that gives
 * back the guest's result slots. Results are 8-byte slots at GUEST_DATA ("SAVE n").
 */
import { assemble } from '../../x86/testing/native/assemble.js';
import type { Domain, Vcpu } from '../common/domain.js';
import type { HypercallHandler } from '../hypercall/table.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest } from './guest.js';

/** Where the guest's IDT lives (256 gates); its IDTR is just below it. */
export const GUEST_IDT = GUEST_DATA + 0x2000;

const PRELUDE = `
.set DATA, ${GUEST_DATA}
.set IDT, ${GUEST_IDT}
# hypercall \\nr with arguments already in rdi rsi rdx r10 r8
.macro HCALL nr
  mov $\\nr, %eax
  vmcall
.endm
# rax to result slot \\slot
.macro SAVE slot
  mov %rax, DATA + \\slot * 8
.endm
# a 64-bit interrupt gate for \\vector to \\handler
.macro GATE vector, handler
  lea \\handler(%rip), %rax
  mov $(IDT + \\vector * 16), %rdi
  mov %ax, (%rdi)
  movw $0x08, 2(%rdi)
  movw $0x8e00, 4(%rdi)
  shr $16, %rax
  mov %ax, 6(%rdi)
  shr $16, %rax
  mov %eax, 8(%rdi)
  movl $0, 12(%rdi)
.endm
.macro LOAD_IDT
  movw $0xfff, IDT - 16
  movq $IDT, %rax
  mov %rax, IDT - 14
  lidt IDT - 16
.endm
# rax = NOW() by HVMOP_get_time (clobbers rdi rsi)
.macro GET_TIME
  mov $(DATA + 0xfe0), %esi
  mov $10, %edi
  HCALL 34
  mov DATA + 0xfe0, %rax
.endm
# HVMOP_set_param(DOMID_SELF, HVM_PARAM_CALLBACK_IRQ, type vector (2) << 56 | \\vector)
.macro CALLBACK_VECTOR vector
  mov $(DATA + 0x100), %rsi
  movl $0x7ff0, (%rsi)
  movl $0, 4(%rsi)
  movabs $(0x0200000000000000 | \\vector), %rax
  mov %rax, 8(%rsi)
  xor %edi, %edi
  HCALL 34
.endm
# SCHEDOP_block
.macro BLOCK
  mov $1, %edi
  HCALL 29
.endm
# SCHEDOP_shutdown(SHUTDOWN_poweroff)
.macro POWEROFF
  movl $0, DATA + 0xff0
  mov $(DATA + 0xff0), %esi
  mov $2, %edi
  HCALL 29
  ud2
.endm
`;

export function guestProgram(body: string): Uint8Array {
  return assemble(`${PRELUDE}\n${body}`, 64, { origin: GUEST_CODE });
}

/** A virtual-clock hypervisor with one domain running `body` on vCPU 0. */
export function startGuest(
  body: string,
  options: { maxVcpus?: number; privileged?: boolean; hv?: Hypervisor } = {},
): { hv: Hypervisor; domain: Domain } {
  const hv = options.hv ?? new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const domain = hv.createDomain({
    maxVcpus: options.maxVcpus ?? 1,
    maxPages: 4096,
    ...(options.privileged === undefined ? {} : { privileged: options.privileged }),
  });
  prepareGuest(hv, domain, guestProgram(body));
  return { hv, domain };
}

/** The guest's result slots 0..count-1 (signed 64-bit, as numbers). */
export function results(hv: Hypervisor, domain: Domain, count: number): number[] {
  const bytes = readGuest(hv, domain, GUEST_DATA, count * 8);
  const view = new DataView(bytes.buffer);
  return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
}

/** A 64-bit little-endian value the test hands to the guest at a guest-physical address. */
export function u64Bytes(value: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(value)), true);
  return out;
}

/** Calls a hypercall handler as if `vcpu` had made it with these arguments (1-5). */
export function hostCall(
  hv: Hypervisor,
  vcpu: Vcpu,
  handler: HypercallHandler,
  ...args: (number | bigint)[]
): number {
  const call = { hv, vcpu, argLo: new Int32Array(6), argHi: new Int32Array(6) };
  args.forEach((arg, i) => {
    const value = BigInt.asUintN(64, BigInt(arg));
    call.argLo[i + 1] = Number(value & 0xffffffffn) | 0;
    call.argHi[i + 1] = Number(value >> 32n) | 0;
  });
  return handler(call);
}
