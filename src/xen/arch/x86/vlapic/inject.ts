/**
 * The vlapic against the CPU's exit contract: routing MMIO and MSR exits to it, keeping
 * CR8 and TPR in step, and injecting the highest pending interrupt when the vCPU can take
 * it (else asking for an interrupt-window exit).
 *
 * The hypervisor's vCPU loop, per exit:
 *
 *     storeCr8(vlapic, cpu);
 *     if (handleVlapicExit(vlapic, cpu, exit) === 'gp') …inject #GP…
 *     injectPendingInterrupt(vlapic, cpu);   // also after InterruptWindow exits and kicks
 *     loadCr8(vlapic, cpu);
 *     cpu.run(budget);
 *
 * with `cpu.policy.msrExits` returning true for `isVlapicMsr` indices.
 */

import type { Cpu } from '../../../../x86/cpu.js';
import { type ExitInfo, ExitReason } from '../../../../x86/exit.js';
import { isVlapicMsr, type Vlapic } from './vlapic.js';

/** Before running the vCPU: CR8 shows TPR[7:4]. */
export function loadCr8(vlapic: Vlapic, cpu: Cpu): void {
  cpu.cr8 = vlapic.tpr >>> 4;
}

/** After an exit: a MOV to CR8 the guest made sets TPR[7:4] (and clears TPR[3:0]). */
export function storeCr8(vlapic: Vlapic, cpu: Cpu): void {
  const tpr = (cpu.cr8 & 0xf) << 4;
  if (tpr !== (vlapic.tpr & 0xf0)) vlapic.setTpr(tpr);
}

/**
 * Injects the APIC's highest deliverable vector if the CPU can take an interrupt now (the
 * vector moves to ISR as the CPU takes it at the next instruction boundary); if it cannot,
 * requests an interrupt-window exit. Returns the injected vector, or -1.
 */
export function injectPendingInterrupt(vlapic: Vlapic, cpu: Cpu): number {
  if (cpu.pendingInterrupt >= 0) return -1; // one is already on its way in
  const vector = vlapic.highestPending();
  if (vector < 0) return -1;
  if (!cpu.interruptible) {
    cpu.requestInterruptWindow();
    return -1;
  }
  const taken = vlapic.ackInterrupt(vector);
  cpu.injectInterrupt(taken);
  return taken;
}

/**
 * Serves an MMIO or MSR exit that belongs to the vlapic: 'handled' (a read's data is given
 * to the CPU with `completeRead`), 'gp' when the guest must get #GP (for RDMSR, RIP is still
 * at the instruction; for WRMSR the CPU has already moved past it), or 'unhandled' when the
 * exit is not the vlapic's.
 */
export function handleVlapicExit(
  vlapic: Vlapic,
  cpu: Cpu,
  exit: ExitInfo,
): 'handled' | 'gp' | 'unhandled' {
  if (exit.reason === ExitReason.Mmio) {
    if (!vlapic.claimsMmio(exit.address, exit.addressHi)) return 'unhandled';
    const offset = exit.address & 0xfff;
    if (exit.write) vlapic.mmioWrite(offset, exit.size, exit.value);
    else cpu.completeRead(vlapic.mmioRead(offset, exit.size), 0);
    return 'handled';
  }
  if (exit.reason === ExitReason.Msr) {
    if (!isVlapicMsr(exit.msr)) return 'unhandled';
    if (exit.write) return vlapic.msrWrite(exit.msr, exit.value, exit.valueHi) ? 'handled' : 'gp';
    const value = vlapic.msrRead(exit.msr);
    if (value === undefined) return 'gp';
    cpu.completeRead(value[0], value[1]);
    return 'handled';
  }
  return 'unhandled';
}
