/**
 * HYPERVISOR_set_timer_op(timeout): the calling vCPU's single-shot timer (Xen's
 * do_set_timer_op), an absolute system time in ns; 0 stops it.
 */
import { s64 } from '../arch/x86/time/index.js';
import type { HypercallCall } from './table.js';

export function setTimerOp(call: HypercallCall): number {
  const { vcpu, hv } = call;
  // A 32-bit guest passes the 64-bit timeout in two registers (lo in ebx, hi in ecx).
  const timeout =
    vcpu.cpu.codeSize === 64
      ? s64(call.argLo[1]!, call.argHi[1]!)
      : s64(call.argLo[1]!, call.argLo[2]!);
  return vcpu.domain.timers.setTimerOp(vcpu.id, timeout, hv.time.now());
}
