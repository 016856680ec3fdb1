/**
 * The hypervisor: machine memory and its frame table, the domains, the scheduler and the
 * hypercall table. An ordinary object: the host runs it in a worker thread, tests run it
 * directly.
 */
import { SHUTDOWN_crash } from '../abi/sched.js';
import { BlockCache } from '../x86/block.js';
import { Cpu } from '../x86/cpu.js';
import { ExitReason } from '../x86/exit.js';
import { MachineMemory, P2m } from '../x86/memory.js';
import { domainCpuPolicy } from './arch/x86/cpuid.js';
import { handleExit } from './arch/x86/exit.js';
import { ConsoleRing } from './common/console.js';
import { Domain, type DomainConfig, DomainState, Vcpu } from './common/domain.js';
import { FRAME_XEN, FrameTable } from './common/frame-table.js';
import { hypercallTable } from './hypercall/index.js';
import type { HypercallEntry } from './hypercall/table.js';
import type { SchedulerOps } from './sched/ops.js';
import { RoundRobinScheduler } from './sched/round-robin.js';

export interface HypervisorOptions {
  /** Machine memory in bytes (at most 4 GiB). */
  memoryBytes: number;
  /** Xen's command line, as XENVER_commandline shows it to Dom0. */
  commandLine?: string;
  /** Receives everything written to the hypervisor console. */
  consoleEcho?: (text: string) => void;
  scheduler?: SchedulerOps;
}

/** Raised for host-side misuse (the toolstack asking for impossible things), not guest errors. */
export class HypervisorError extends Error {
  override name = 'HypervisorError';
}

const NAMES = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'];

export class Hypervisor {
  readonly memory: MachineMemory;
  readonly frames: FrameTable;
  readonly blocks = new BlockCache();
  readonly domains = new Map<number, Domain>();
  readonly console: ConsoleRing;
  readonly scheduler: SchedulerOps;
  readonly hypercalls: ReadonlyMap<number, HypercallEntry> = hypercallTable();
  readonly commandLine: string;
  private consoleInput: number[] = [];
  private nextDomid = 1;

  constructor(options: HypervisorOptions) {
    this.memory = MachineMemory.allocate(options.memoryBytes);
    // Frame 0 stays Xen's, so a zero machine frame number never names guest memory.
    this.frames = new FrameTable(this.memory, 1);
    this.console = new ConsoleRing(options.consoleEcho);
    this.scheduler = options.scheduler ?? new RoundRobinScheduler();
    this.commandLine = options.commandLine ?? '';
  }

  /** XEN_DOMCTL_createdomain: a paused domain with its vCPUs (vCPU 0 online). */
  createDomain(config: DomainConfig): Domain {
    let id: number;
    if (config.privileged && !this.domains.has(0)) id = 0;
    else id = this.nextDomid++;
    const domain = new Domain(id, this.frames, config);
    domain.pauseCount = 1;
    for (let n = 0; n < config.maxVcpus; n++) {
      const cpu = new Cpu({
        secondStage: domain.secondStage,
        blocks: this.blocks,
        policy: domainCpuPolicy(id),
        id: n,
      });
      const vcpu = new Vcpu(n, domain, cpu);
      vcpu.online = n === 0;
      domain.vcpus.push(vcpu);
      this.scheduler.insert(vcpu);
    }
    this.domains.set(id, domain);
    this.console.write(`(XEN) Created domain ${id}\n`);
    return domain;
  }

  /** Populates `count` frames of RAM from guest frame `gfn`; returns how many it could. */
  populatePhysmap(domain: Domain, gfn: number, count: number): number {
    let done = 0;
    for (; done < count; done++) {
      const at = gfn + done;
      if (at >= domain.p2m.length || domain.p2m[at]! >= 0) break;
      if (domain.totPages >= domain.maxPages) break;
      const mfn = this.frames.alloc(domain.id);
      if (mfn < 0) break;
      this.frames.m2p[mfn] = at;
      domain.p2m[at] = mfn;
      domain.totPages++;
    }
    return done;
  }

  pause(domain: Domain): void {
    domain.pauseCount++;
    for (const vcpu of domain.vcpus) vcpu.cpu.requestStop();
  }

  unpause(domain: Domain): void {
    if (domain.pauseCount === 0) throw new HypervisorError(`domain ${domain.id} is not paused`);
    domain.pauseCount--;
  }

  /** The domain stops running and reports `reason` (SHUTDOWN_*) to the toolstack. */
  shutdownDomain(domain: Domain, reason: number): void {
    if (domain.state !== DomainState.Running) return;
    domain.state = DomainState.Shutdown;
    domain.shutdownReason = reason;
    for (const vcpu of domain.vcpus) vcpu.cpu.requestStop();
    this.console.write(`(XEN) Domain ${domain.id} shutdown: ${NAMES[reason] ?? reason}\n`);
  }

  /** A guest broke itself (triple fault, bad state): it is shut down as crashed, nobody else is. */
  crashDomain(domain: Domain, why: string): void {
    this.console.write(`(XEN) Domain ${domain.id} crashed: ${why}\n`);
    const code = domain.shutdownCode;
    this.shutdownDomain(domain, code >= 0 ? code : SHUTDOWN_crash);
  }

  /** XEN_DOMCTL_destroydomain: every frame the domain held goes back, scrubbed. */
  destroyDomain(domain: Domain): void {
    domain.state = DomainState.Dying;
    for (const vcpu of domain.vcpus) this.scheduler.remove(vcpu);
    const p2m = domain.p2m;
    for (let gfn = 0; gfn < p2m.length; gfn++) {
      const entry = p2m[gfn]!;
      if (entry < 0) continue;
      const mfn = entry & P2m.FrameMask;
      p2m[gfn] = P2m.None;
      if (this.frames.owner[mfn] === domain.id) this.frames.put(mfn);
    }
    domain.totPages = 0;
    if (domain.sharedInfoMfn >= 0 && this.frames.owner[domain.sharedInfoMfn] === FRAME_XEN) {
      this.frames.put(domain.sharedInfoMfn);
      domain.sharedInfoMfn = -1;
    }
    this.domains.delete(domain.id);
    this.console.write(`(XEN) Destroyed domain ${domain.id}\n`);
  }

  /** Whether an event is waiting for the vCPU (an interrupt to inject). */
  eventPending(vcpu: Vcpu): boolean {
    return vcpu.cpu.pendingInterrupt >= 0 || vcpu.cpu.nmiPending;
  }

  /** Console input for Dom0's CONSOLEIO_read. */
  typeConsoleInput(bytes: Uint8Array): void {
    this.consoleInput.push(...bytes);
  }

  takeConsoleInput(max: number): Uint8Array {
    return Uint8Array.from(this.consoleInput.splice(0, max));
  }

  /**
   * Runs the scheduler for up to `instructions` guest instructions in total; returns the
   * number run (less when nothing is runnable).
   */
  run(instructions: number): number {
    let spent = 0;
    while (spent < instructions) {
      const vcpu = this.scheduler.pick(0);
      if (vcpu === undefined) break;
      const cpu = vcpu.cpu;
      const before = cpu.instret;
      const exit = cpu.run(Math.min(this.scheduler.sliceInstructions, instructions - spent));
      spent += cpu.instret - before;
      if (exit.reason !== ExitReason.Budget) handleExit(this, vcpu, exit);
      // An exit that made no progress still counts, so a storm of exits cannot spin forever.
      if (cpu.instret === before) spent++;
    }
    return spent;
  }
}
