/**
 * What the hypervisor does with each exit of a vCPU's CPU. A plain function, so tests can feed
 * it synthetic exits (the Firecracker way).
 */
import { type ExitInfo, ExitReason } from '../../../x86/exit.js';
import { Vector } from '../../../x86/fault.js';
import { Flag } from '../../../x86/flags.js';
import type { Vcpu } from '../../common/domain.js';
import { dispatchHypercall } from '../../hypercall/dispatch.js';
import type { Hypervisor } from '../../hypervisor.js';
import { XEN_HYPERCALL_MSR } from './cpuid.js';
import { hypercallPage } from './hypercall-page.js';
import { handleVlapicExit } from './vlapic/index.js';

/** The debug port guests (and SeaBIOS) write characters to. */
export const DEBUG_PORT = 0xe9;

export function handleExit(hv: Hypervisor, vcpu: Vcpu, exit: ExitInfo): void {
  const cpu = vcpu.cpu;
  const apic = handleVlapicExit(vcpu.vlapic, cpu, exit);
  if (apic === 'handled') return;
  if (apic === 'gp') {
    // A WRMSR exit comes after the instruction: the fault must point at it again.
    if (exit.write) cpu.ripLo = (cpu.ripLo - exit.instructionLength) | 0;
    cpu.injectException(Vector.GP, 0);
    return;
  }
  switch (exit.reason) {
    case ExitReason.Hypercall:
      dispatchHypercall(hv, hv.hypercalls, vcpu);
      return;
    case ExitReason.Halt:
      // HLT with interrupts off is how a guest without an ACPI sleep state stops (a PVH Linux
      // halts this way): the vCPU goes down for good, as in Xen's hvm_hlt.
      if ((cpu.flags & Flag.IF) === 0) hv.vcpuDown(vcpu);
      else hv.block(vcpu);
      return;
    case ExitReason.Shutdown:
      // The CPU's shutdown state (a triple fault, or a machine check it cannot deliver) is
      // what a VMX "triple fault" exit reports; anything else the CPU gave up on is a crash.
      if (/^(triple fault|machine check)/.test(exit.message)) hv.tripleFault(vcpu, exit.message);
      else hv.crashDomain(vcpu.domain, `d${vcpu.domain.id}v${vcpu.id} ${exit.message}`);
      return;
    case ExitReason.PortIo:
      if (exit.write) {
        if (exit.port === DEBUG_PORT) {
          hv.console.guestWrite(
            vcpu.domain.id,
            String.fromCharCode(exit.value & 0xff),
            vcpu.domain.consoleLine,
          );
        }
      } else {
        cpu.completeRead(0xffffffff >>> (32 - exit.size * 8)); // nothing there: the bus floats high
      }
      return;
    case ExitReason.Mmio:
      if (!exit.write) cpu.completeRead(-1, -1);
      return;
    case ExitReason.Msr:
      handleMsr(hv, vcpu, exit);
      return;
    case ExitReason.PauseLoop:
      // A vCPU spinning on a lock or a flag waits for another: let that one run.
      hv.scheduler.yield(vcpu);
      return;
    default:
      return;
  }
}

function handleMsr(hv: Hypervisor, vcpu: Vcpu, exit: ExitInfo): void {
  const cpu = vcpu.cpu;
  if (exit.msr === XEN_HYPERCALL_MSR && exit.write) {
    const gpa = (exit.value >>> 0) + exit.valueHi * 2 ** 32;
    const mfn = vcpu.domain.mfnOf(Math.floor(gpa / 4096));
    if (mfn < 0 || gpa % 4096 !== 0) {
      cpu.injectException(Vector.GP, 0);
      return;
    }
    hv.frames.memory.bytes.set(hypercallPage(), mfn * 4096);
    cpu.blocks.invalidateFrame(mfn, cpu);
    return;
  }
  // MSRs the policy sends here that nothing emulates yet: #GP, as Xen gives for unknown MSRs.
  // A WRMSR exit comes after the instruction: the fault must point at it again.
  if (exit.write) cpu.ripLo = (cpu.ripLo - exit.instructionLength) | 0;
  cpu.injectException(Vector.GP, 0);
}
