/**
 * Why `Cpu.run()` returned: the exit contract between the CPU (our "hardware with
 * virtualization extensions") and the hypervisor, in the manner of KVM's exit reasons.
 */
export const enum ExitReason {
  /** The instruction budget is spent. */
  Budget = 0,
  /** VMCALL or VMMCALL: a hypercall. RIP already points past the instruction. */
  Hypercall = 1,
  /** SYSCALL from a PV guest kernel where the hypervisor asked to see it. */
  Syscall = 2,
  /** IN/OUT/INS/OUTS. For IN, the hypervisor answers with `Cpu.completeIn`. */
  PortIo = 3,
  /** A guest-physical access with no frame behind it. */
  Mmio = 4,
  /** RDMSR/WRMSR of an MSR the policy does not own. */
  Msr = 5,
  /** CPUID where the policy asked for an exit. */
  Cpuid = 6,
  /** HLT with interrupts that could wake it. */
  Halt = 7,
  /** A triple fault (or HLT with interrupts off forever): the vCPU is dead. */
  Shutdown = 8,
  /** The guest can take an interrupt now (requested with `Cpu.requestInterruptWindow`). */
  InterruptWindow = 9,
  /** `Cpu.requestStop` was called (from a device or the hypervisor). */
  Stopped = 10,
  /**
   * PAUSE in a spin loop that went on past the window (with `Cpu.pauseLoopExiting` on, as
   * VMX's PAUSE-loop exiting): the vCPU waits for another one. RIP is past the PAUSE.
   */
  PauseLoop = 11,
}

/** Details of the last exit; one object per CPU, rewritten at every exit. */
export class ExitInfo {
  reason: ExitReason = ExitReason.Budget;
  /** Instruction length, for exits that report an instruction. */
  instructionLength = 0;
  /** PortIo: port number; Mmio: guest-physical address (low 32 bits in `address`, high in `addressHi`). */
  port = 0;
  address = 0;
  addressHi = 0;
  /** Access size in bytes. */
  size = 0;
  /** true for OUT / MMIO write / WRMSR. */
  write = false;
  /** The value written (OUT, MMIO write, WRMSR low half). */
  value = 0;
  valueHi = 0;
  /** Msr: the MSR index. */
  msr = 0;
  /** Shutdown: what killed the vCPU. */
  message = '';
}
