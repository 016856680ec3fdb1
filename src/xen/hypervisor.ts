/**
 * The hypervisor: machine memory and its frame table, the domains, the clock, the scheduler
 * and the hypercall table. An ordinary object: the host runs it in a worker thread, tests
 * run it directly.
 */
import { XEN_EFAULT, XEN_ERESTART } from '../abi/errno.js';
import { HVM_NR_PARAMS, HVM_PARAM_TRIPLE_FAULT_REASON } from '../abi/hvm.js';
import { SHUTDOWN_crash, SHUTDOWN_poweroff } from '../abi/sched.js';
import { VIRQ_DOM_EXC, VIRQ_TIMER } from '../abi/xen.js';
import { BlockCache } from '../x86/block.js';
import { Cpu } from '../x86/cpu.js';
import { ExitReason } from '../x86/exit.js';
import { MachineMemory, P2m } from '../x86/memory.js';
import { Seg } from '../x86/segments.js';
import { domainCpuPolicy } from './arch/x86/cpuid.js';
import { handleExit } from './arch/x86/exit.js';
import {
  eventsNeedDelivery,
  evtchnDomain,
  injectEvents,
  upcallPending,
} from './arch/x86/hvm/events.js';
import { grantDomain } from './arch/x86/hvm/grants.js';
import {
  defaultVcpuInfoAddress,
  updateVcpuTime,
  updateWallclock,
} from './arch/x86/hvm/vcpu-info.js';
import { updateRunstateArea } from './arch/x86/runstate.js';
import { TimeSource, type Timespec, VcpuTimers } from './arch/x86/time/index.js';
import { DeliveryMode, loadCr8, storeCr8, Vlapic } from './arch/x86/vlapic/index.js';
import { ConsoleRing } from './common/console.js';
import { Domain, type DomainConfig, DomainState, Vcpu } from './common/domain.js';
import { FRAME_XEN, FrameTable } from './common/frame-table.js';
import { EventChannels, GlobalVirqHandlers } from './evtchn/index.js';
import { GrantTable } from './grant/index.js';
import { invokeHypercall } from './hypercall/dispatch.js';
import { hypercallTable } from './hypercall/index.js';
import { expireWatchdogs, nextWatchdog } from './hypercall/sched-op.js';
import type { HypercallArgs, HypercallEntry } from './hypercall/table.js';
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
  /**
   * 'host' (default): guest time follows the host's monotonic clock. 'virtual': time
   * advances one nanosecond per guest instruction and jumps over idle periods, so a run is
   * deterministic and never waits.
   */
  clock?: 'host' | 'virtual';
  /** The wallclock at start (default: the host's). */
  wallClock?: () => Timespec;
  /** Guest TSC frequency in Hz (default 2 GHz). */
  tscHz?: number;
}

/** Raised for host-side misuse (the toolstack asking for impossible things), not guest errors. */
export class HypervisorError extends Error {
  override name = 'HypervisorError';
}

const NAMES = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'];
/** Xen's defaults for a domain's grant table (gnttab_max_frames, max_maptrack_frames). */
const DEFAULT_GRANT_FRAMES = 64;
const DEFAULT_MAPTRACK_FRAMES = 1024;

const hostNs = (): number => Number(process.hrtime.bigint());
const earliest = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b);
/**
 * The virtual clock's longest jump over an idle period: a guest whose only timer is centuries
 * away gets there a minute at a time, so system time stays far inside s_time_t.
 */
const MAX_IDLE_JUMP_NS = 60e9;
/** The shortest slice: a timer already due (or nearly) still lets the guest make progress. */
const MIN_SLICE_INSTRUCTIONS = 1000;
/**
 * A slice's length is estimated from the average speed, and code that runs slower than that
 * (cold kernel code) overruns it, keeping a due timer waiting: the host clock is looked at
 * every this many instructions (30-100 us of kernel code), and the slice ends once a timer
 * has fallen due. Each tick Linux takes late before it switches to the Xen clocksource is
 * time its clock loses (docs/xen.md): at 20000 a tick came 160-180 us late, at 1000 90-120.
 */
const CLOCK_CHECK_INSTRUCTIONS = 1000;
/**
 * The longest slice while another vCPU waits to run soon (woken with an event, or spinning on
 * a lock this one may hold): Xen's credit scheduler lets a woken vCPU preempt after its rate
 * limit. A full slice here kept one vCPU's timer tick waiting up to the other's next timer.
 */
const WAITED_SLICE_NS = 250_000;

export class Hypervisor {
  readonly memory: MachineMemory;
  readonly frames: FrameTable;
  readonly blocks = new BlockCache();
  readonly domains = new Map<number, Domain>();
  /** Destroyed domains whose grants others still map: kept until they are released. */
  readonly zombies = new Map<number, Domain>();
  readonly console: ConsoleRing;
  readonly scheduler: SchedulerOps;
  readonly hypercalls: ReadonlyMap<number, HypercallEntry> = hypercallTable();
  readonly commandLine: string;
  readonly time: TimeSource;
  readonly globalVirqs: GlobalVirqHandlers;
  /** Events are pending for a vCPU of an external domain (Dom0): its kernel should look. */
  onExternalUpcall: ((vcpu: Vcpu) => void) | undefined;
  private hostYield = false;
  private consoleInput: number[] = [];
  private nextDomid = 1;
  private readonly virtualClock: boolean;
  /** Virtual clock: nanoseconds at the start of the running slice, and its vCPU. */
  private virtualNs = 0;
  /**
   * Guest instructions per nanosecond of host time, as measured over recent slices (host
   * clock only): a slice is cut where the next timer falls due, as a real CPU takes its timer
   * interrupt then, not a slice later.
   */
  private instructionsPerNs = 0.01;
  private running: Cpu | undefined;
  /** The CPU whose slice is under way, exits included. */
  private sliceCpu: Cpu | undefined;
  private runningSince = 0;

  constructor(options: HypervisorOptions) {
    this.memory = MachineMemory.allocate(options.memoryBytes);
    // Frame 0 stays Xen's, so a zero machine frame number never names guest memory.
    this.frames = new FrameTable(this.memory, 1);
    this.frames.onFree = (mfn) => this.blocks.invalidateFrame(mfn);
    this.console = new ConsoleRing(options.consoleEcho);
    this.scheduler = options.scheduler ?? new RoundRobinScheduler();
    this.commandLine = options.commandLine ?? '';
    this.virtualClock = options.clock === 'virtual';
    this.time = new TimeSource({
      hostNs: this.virtualClock ? () => this.virtualNow() : hostNs,
      ...(options.tscHz === undefined ? {} : { tscHz: options.tscHz }),
      ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
    });
    this.globalVirqs = new GlobalVirqHandlers((domid) => this.domains.get(domid)?.evtchn);
  }

  private virtualNow(): number {
    const cpu = this.running;
    return cpu === undefined ? this.virtualNs : this.virtualNs + (cpu.instret - this.runningSince);
  }

  /** XEN_DOMCTL_createdomain: a paused domain with its vCPUs (vCPU 0 online). */
  createDomain(config: DomainConfig): Domain {
    if (!Number.isInteger(config.maxVcpus) || config.maxVcpus < 1 || config.maxVcpus > 128) {
      throw new HypervisorError(`bad vCPU count ${config.maxVcpus}`);
    }
    const sharedInfo = this.frames.alloc(FRAME_XEN);
    if (sharedInfo < 0) throw new HypervisorError('out of memory for shared_info');
    let id: number;
    if (config.privileged && !this.domains.has(0)) id = 0;
    else id = this.nextDomid++;
    const domain = new Domain(id, this.frames, config, HVM_NR_PARAMS);
    // An external domain's vCPU never runs here: it is not scheduled, and not paused (a
    // paused vCPU would preempt every long hypercall its kernel makes).
    domain.pauseCount = config.external ? 0 : 1;
    domain.sharedInfoMfn = sharedInfo;
    domain.timers = new VcpuTimers();
    domain.tscOffset = this.time.zeroTscOffset();
    for (let n = 0; n < config.maxVcpus; n++) {
      const cpu = new Cpu({
        secondStage: domain.secondStage,
        blocks: this.blocks,
        policy: domainCpuPolicy(id),
        id: n,
      });
      cpu.clock = this.time.clock;
      // vCPUs take turns on one thread: one spinning on a lock waits for one not running.
      cpu.pauseLoopExiting = true;
      // An external kernel is a 64-bit kernel whose pointers are guest-physical: the vCPU
      // reads as 64-bit to the hypercall handlers, with paging off.
      if (config.external) cpu.codeSize = 64;
      cpu.tscOffset = domain.tscOffset;
      const vcpu = new Vcpu(n, domain, cpu);
      vcpu.online = n === 0;
      vcpu.runstate = n === 0 ? 1 : 3; // RUNSTATE_runnable / RUNSTATE_offline
      vcpu.vcpuInfoAddress = defaultVcpuInfoAddress(domain, n);
      vcpu.vlapic = this.createVlapic(domain, vcpu);
      domain.vcpus.push(vcpu);
      if (!config.external) this.scheduler.insert(vcpu);
    }
    const host = { frames: this.frames, view: this.memory.view, kick: (v: Vcpu) => this.kick(v) };
    domain.evtchn = new EventChannels(
      evtchnDomain(host, domain),
      (domid) => this.domains.get(domid)?.evtchn,
      {
        globalVirqs: this.globalVirqs,
      },
    );
    domain.grants = new GrantTable(
      grantDomain(this, domain),
      this.memory,
      (domid) => (this.domains.get(domid) ?? this.zombies.get(domid))?.grants,
      {
        maxFrames: config.maxGrantFrames ?? DEFAULT_GRANT_FRAMES,
        maxMaptrackFrames: config.maxMaptrackFrames ?? DEFAULT_MAPTRACK_FRAMES,
      },
    );
    updateWallclock(this.memory.view, this.time, domain);
    for (const vcpu of domain.vcpus) updateVcpuTime(this.memory.view, this.time, vcpu);
    this.domains.set(id, domain);
    this.console.write(`(XEN) Created domain ${id}\n`);
    return domain;
  }

  private createVlapic(domain: Domain, vcpu: Vcpu): Vlapic {
    const cpu = vcpu.cpu;
    return new Vlapic({
      vcpuId: vcpu.id,
      now: () => this.time.now(),
      setTimer: (deadline) => {
        if (deadline === undefined) domain.timers.queue.cancel(vcpu.id, 'lapic');
        else domain.timers.queue.set(vcpu.id, 'lapic', deadline);
      },
      deliverIpi: (target, vector, mode) => this.deliverIpi(domain, target, vector, mode),
      peers: () => domain.vcpus.map((v) => v.vlapic),
      tsc: {
        now: () => cpu.clock() + cpu.tscOffset,
        ticksToNs: (ticks) => this.time.ticksToNs(ticks),
      },
      kick: () => this.kick(vcpu),
      upcallPending: () => upcallPending(this.memory.view, vcpu),
    });
  }

  private deliverIpi(domain: Domain, target: number, vector: number, mode: DeliveryMode): void {
    const vcpu = domain.vcpus[target];
    if (vcpu === undefined) return;
    switch (mode) {
      case DeliveryMode.Fixed:
      case DeliveryMode.LowestPriority:
        vcpu.vlapic.acceptInterrupt(vector);
        break;
      case DeliveryMode.Nmi:
        vcpu.cpu.injectNmi();
        this.kick(vcpu);
        break;
      case DeliveryMode.Init:
        // The vCPU waits for a start-up IPI (Xen's vlapic_init_sipi_one).
        vcpu.cpu.reset();
        vcpu.vlapic.init();
        this.setOnline(vcpu, false);
        break;
      case DeliveryMode.StartUp: {
        if (vcpu.online) break;
        const cpu = vcpu.cpu;
        cpu.reset();
        // The AP's TSC follows the BSP's (Xen's hvm_vcpu_reset_state), whatever the builder's
        // sethvmcontext did to the BSP's.
        cpu.tscOffset = vcpu.domain.vcpus[0]!.cpu.tscOffset;
        cpu.segSel[Seg.CS] = vector << 8;
        cpu.segBaseLo[Seg.CS] = vector << 12;
        cpu.ripLo = 0;
        cpu.updateMode();
        this.setOnline(vcpu, true);
        break;
      }
    }
  }

  /** VCPUOP_up / down, INIT and SIPI. */
  setOnline(vcpu: Vcpu, online: boolean): void {
    if (vcpu.online === online) return;
    vcpu.online = online;
    vcpu.blocked = false;
    this.setRunstate(vcpu, online ? 1 : 3);
    if (online) updateVcpuTime(this.memory.view, this.time, vcpu);
    else vcpu.cpu.requestStop();
  }

  /** hvm_vcpu_down: the vCPU stops; when none is left online the domain powers off. */
  vcpuDown(vcpu: Vcpu): void {
    this.setOnline(vcpu, false);
    const domain = vcpu.domain;
    if (domain.vcpus.some((other) => other.online)) return;
    this.console.write(`(XEN) d${domain.id}v${vcpu.id} All CPUs offline -- powering off.\n`);
    this.shutdownDomain(domain, SHUTDOWN_poweroff);
  }

  /** Runstate accounting (RUNSTATE_running 0, runnable 1, blocked 2, offline 3). */
  setRunstate(vcpu: Vcpu, state: number): void {
    if (vcpu.runstate === state) return;
    const now = this.time.now();
    vcpu.runstateTime[vcpu.runstate]! += now - vcpu.runstateEntry;
    vcpu.runstate = state;
    vcpu.runstateEntry = now;
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

  /** Takes one page of RAM out of the domain's P2M and frees it (decrease_reservation). */
  releaseRam(domain: Domain, gfn: number): boolean {
    const mfn = domain.mfnOf(gfn);
    if (mfn < 0 || this.frames.owner[mfn] !== domain.id) return false;
    domain.setP2m(gfn, P2m.None);
    this.frames.m2p[mfn] = -1;
    this.frames.put(mfn);
    domain.totPages--;
    return true;
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
    // The toolstack (xenstored's @releaseDomain, xl) learns of it through VIRQ_DOM_EXC.
    this.globalVirqs.send(VIRQ_DOM_EXC);
  }

  /**
   * hvm_triple_fault: the domain shuts down for HVM_PARAM_TRIPLE_FAULT_REASON (reboot unless the
   * toolstack chose otherwise) — how a Linux without an ACPI reset register reboots.
   */
  tripleFault(vcpu: Vcpu, why: string): void {
    const domain = vcpu.domain;
    const reason = Number(domain.hvmParams[HVM_PARAM_TRIPLE_FAULT_REASON]);
    this.console.write(
      `(XEN) d${domain.id}v${vcpu.id} Triple fault (${why}) - invoking HVM shutdown action ${reason}\n`,
    );
    this.shutdownDomain(domain, reason);
  }

  /** A guest broke itself (triple fault, bad state): it is shut down as crashed, nobody else is. */
  crashDomain(domain: Domain, why: string): void {
    this.console.write(`(XEN) Domain ${domain.id} crashed: ${why}\n`);
    const code = domain.shutdownCode;
    this.shutdownDomain(domain, code >= 0 ? code : SHUTDOWN_crash);
  }

  /** XEN_DOMCTL_destroydomain: every frame the domain held goes back, scrubbed. */
  destroyDomain(domain: Domain): void {
    if (domain.state === DomainState.Dying) return;
    domain.state = DomainState.Dying;
    for (const vcpu of domain.vcpus) {
      this.scheduler.remove(vcpu);
      this.blocks.detach(vcpu.cpu);
      domain.timers.remove(vcpu.id);
    }
    domain.evtchn.destroy();
    // Its mappings of other domains' grants go first; its own grants may stay in use.
    const grants = domain.grants.destroy();
    const p2m = domain.p2m;
    for (let gfn = 0; gfn < p2m.length; gfn++) {
      const entry = p2m[gfn]!;
      if (entry < 0) continue;
      const mfn = entry & P2m.FrameMask;
      p2m[gfn] = P2m.None;
      if (this.frames.owner[mfn] === domain.id) {
        this.frames.m2p[mfn] = -1;
        this.frames.put(mfn);
      }
    }
    for (const mfn of domain.displacedRam.splice(0)) this.frames.put(mfn);
    for (const mfn of domain.foreignMapped.values()) this.frames.put(mfn);
    domain.foreignMapped.clear();
    domain.grantMapped.clear();
    domain.totPages = 0;
    if (domain.sharedInfoMfn >= 0) {
      this.frames.put(domain.sharedInfoMfn);
      domain.sharedInfoMfn = -1;
    }
    domain.watchdogs.clear();
    for (const vcpu of domain.vcpus) {
      // The reference VCPUOP_register_vcpu_info took on its frame (unmap_vcpu_info).
      if (vcpu.vcpuInfoRegistered) this.frames.put(Math.floor(vcpu.vcpuInfoAddress / 4096));
      vcpu.vcpuInfoRegistered = false;
      vcpu.vcpuInfoAddress = -1;
      vcpu.runstateArea = undefined;
      vcpu.timeArea = undefined;
    }
    this.domains.delete(domain.id);
    if (grants.zombie) this.zombies.set(domain.id, domain);
    this.console.write(`(XEN) Destroyed domain ${domain.id}\n`);
    this.globalVirqs.send(VIRQ_DOM_EXC);
  }

  /** The grant table of a destroyed domain is no longer in use (GrantDomain.released). */
  grantsReleased(domain: Domain): void {
    this.zombies.delete(domain.id);
  }

  /** An event is pending for the vCPU (Xen's vcpu_kick): wake it if it blocked. */
  kick(vcpu: Vcpu): void {
    if (vcpu.domain.config.external) {
      this.onExternalUpcall?.(vcpu);
      return;
    }
    if (this.sliceCpu !== vcpu.cpu) {
      // Another vCPU is running, or none: this one goes next, and the running one stops at
      // once (Xen would IPI its pCPU), so the event is taken promptly.
      this.scheduler.wake(vcpu);
      this.sliceCpu?.requestStop();
    }
    if (!vcpu.blocked) return;
    vcpu.blocked = false;
    vcpu.pollPorts = undefined;
    vcpu.domain.timers.queue.cancel(vcpu.id, 'poll');
    this.setRunstate(vcpu, 1);
  }

  /**
   * Ends the running slice and `run` at once: the host has work for its own side (an event
   * for an external Dom0), which should not wait for the rest of the chunk.
   */
  yieldToHost(): void {
    this.hostYield = true;
    this.sliceCpu?.requestStop();
  }

  /** Blocks the vCPU (SCHEDOP_block, HLT) unless an event would wake it straight away. */
  block(vcpu: Vcpu): void {
    if (this.eventPending(vcpu)) return;
    vcpu.blocked = true;
    this.setRunstate(vcpu, 2);
    vcpu.cpu.requestStop();
  }

  /** Whether an event is waiting for the vCPU (something to inject when IF allows). */
  eventPending(vcpu: Vcpu): boolean {
    return eventsNeedDelivery(this.memory.view, vcpu);
  }

  /** Console input for Dom0's CONSOLEIO_read. */
  typeConsoleInput(bytes: Uint8Array): void {
    this.consoleInput.push(...bytes);
  }

  takeConsoleInput(max: number): Uint8Array {
    return Uint8Array.from(this.consoleInput.splice(0, max));
  }

  /** Fires every guest timer that is due: VIRQ_TIMER, the APIC timers, poll timeouts. */
  serviceTimers(): void {
    const now = this.time.now();
    for (const domain of this.domains.values()) {
      if (domain.watchdogs.size > 0) expireWatchdogs(this, domain, now);
      const next = domain.timers.nextDeadline();
      if (next === undefined || next > now) continue;
      for (const timer of domain.timers.expire(now)) {
        const vcpu = domain.vcpus[timer.vcpu];
        if (vcpu === undefined) continue;
        if (timer.kind === 'lapic') vcpu.vlapic.fireTimer();
        else if (timer.kind === 'poll') this.kick(vcpu);
        else domain.evtchn.sendVirq(vcpu.id, VIRQ_TIMER);
      }
    }
  }

  /** About how many guest instructions run before system time reaches `deadline`. */
  private instructionsUntil(deadline: number | undefined): number {
    if (deadline === undefined) return Number.POSITIVE_INFINITY;
    const ns = deadline - this.time.now();
    // The virtual clock is one nanosecond per instruction.
    const instructions = this.virtualClock ? ns : Math.ceil(ns * this.instructionsPerNs);
    return Math.max(MIN_SLICE_INSTRUCTIONS, instructions);
  }

  /** The earliest timer deadline of any domain (system time, ns), or undefined. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const domain of this.domains.values()) {
      if (!domain.runnable) continue; // its timers wake nobody until it runs again
      const d = domain.timers.nextDeadline();
      if (d !== undefined && (next === undefined || d < next)) next = d;
      const w = domain.watchdogs.size > 0 ? nextWatchdog(domain) : undefined;
      if (w !== undefined && (next === undefined || w < next)) next = w;
    }
    return next;
  }

  /**
   * Runs one slice of a vCPU, of up to `limit` instructions and until the next timer (or
   * `endBy`) falls due: events in, guest code, the exit handled.
   */
  private runSlice(vcpu: Vcpu, limit: number, endBy: number | undefined): number {
    const cpu = vcpu.cpu;
    const view = this.memory.view;
    this.setRunstate(vcpu, 0);
    // Context switch in: the registered runstate area shows it running (Xen's
    // update_runstate_area, through the vCPU's own page tables).
    updateRunstateArea(vcpu);
    updateVcpuTime(view, this.time, vcpu);
    // The virtual clock cuts the slice where the deadline falls; on the host clock it also
    // ends once the deadline has passed. Only this vCPU's exits can arm timers while it runs.
    const checkClock = !this.virtualClock;
    let deadline = earliest(this.nextDeadline(), endBy);
    const start = cpu.instret;
    let end = start + Math.min(limit, this.instructionsUntil(deadline));
    let stalls = 0;
    this.sliceCpu = cpu;
    // Exits the hypervisor answers at once (port I/O, MMIO, MSRs, most hypercalls) do not end
    // the slice: the vCPU runs on until its budget is spent, it blocks or it is stopped.
    for (;;) {
      injectEvents(view, vcpu);
      loadCr8(vcpu.vlapic, cpu);
      const before = cpu.instret;
      this.running = cpu;
      this.runningSince = before;
      const exit = cpu.run(
        checkClock ? Math.min(end - before, CLOCK_CHECK_INSTRUCTIONS) : end - before,
      );
      this.running = undefined;
      this.virtualNs += cpu.instret - before;
      storeCr8(vcpu.vlapic, cpu);
      const reason = exit.reason;
      if (reason === ExitReason.Budget) {
        if (cpu.instret >= end) break;
        if (checkClock && deadline !== undefined && deadline <= this.time.now()) break;
        continue;
      }
      if (reason === ExitReason.Stopped) break;
      handleExit(this, vcpu, exit);
      if (reason === ExitReason.Halt || reason === ExitReason.Shutdown) break;
      if (!vcpu.runnable || cpu.stopRequested) break;
      // The exit may have armed a timer (the guest's next tick): the slice ends when it falls due.
      deadline = earliest(this.nextDeadline(), endBy);
      end = Math.min(end, cpu.instret + this.instructionsUntil(deadline));
      if (cpu.instret >= end) break;
      // An instruction may exit once before it completes (an MMIO read); twice without
      // progress, something else must run.
      stalls = cpu.instret === before ? stalls + 1 : 0;
      if (stalls > 1) break;
    }
    this.sliceCpu = undefined;
    const spent = cpu.instret - start;
    if (vcpu.runstate === 0) this.setRunstate(vcpu, vcpu.online ? 1 : 3);
    updateRunstateArea(vcpu); // and out: runnable, blocked or offline
    return spent;
  }

  /**
   * Runs the scheduler for up to `instructions` guest instructions in total; returns the
   * number run. It returns early when nothing is runnable (with the host clock: the caller
   * waits until `nextDeadline()` or an outside event).
   */
  run(instructions: number): number {
    let spent = 0;
    let idleJumps = 0;
    while (spent < instructions) {
      this.serviceTimers();
      const vcpu = this.scheduler.pick(0);
      if (vcpu === undefined) {
        const next = this.nextDeadline();
        // Idle: the virtual clock jumps to the next timer (a bounded number of times, so
        // timers that wake nobody cannot keep the loop going).
        if (!this.virtualClock || next === undefined || ++idleJumps > 64) break;
        const now = this.time.now();
        if (next > now) this.virtualNs += Math.min(next - now, MAX_IDLE_JUMP_NS);
        continue;
      }
      idleJumps = 0;
      const now = this.time.now();
      const endBy = this.scheduler.othersWaiting(vcpu) ? now + WAITED_SLICE_NS : undefined;
      const limit = Math.min(this.scheduler.sliceInstructions, instructions - spent);
      const started = this.virtualClock ? 0 : now;
      const done = this.runSlice(vcpu, limit, endBy);
      if (!this.virtualClock && done >= MIN_SLICE_INSTRUCTIONS) {
        const elapsed = this.time.now() - started;
        if (elapsed > 0) this.instructionsPerNs += (done / elapsed - this.instructionsPerNs) / 8;
      }
      // An exit that made no progress still counts, so a storm of exits cannot spin forever.
      spent += Math.max(done, 1);
      if (this.hostYield) break;
    }
    this.hostYield = false;
    return spent;
  }

  // -------------------------------------------------------------------------------------
  // Toolstack support for domctl/sysctl (hypercall/domctl*.ts, hypercall/sysctl.ts)

  /**
   * XEN_DOMCTL_createdomain under the domid the toolstack chose (or its rover picked):
   * createDomain's domain, never privileged. Ids createDomain hands out later stay above it.
   */
  createDomainWithId(id: number, config: DomainConfig): Domain {
    if (!Number.isInteger(id) || id < 1 || id >= 0x7ff0 || this.domainById(id) !== undefined) {
      throw new HypervisorError(`domain id ${id} is not free`);
    }
    const next = this.nextDomid;
    this.nextDomid = id;
    try {
      return this.createDomain({ ...config, privileged: false });
    } finally {
      this.nextDomid = Math.max(next, id + 1);
    }
  }

  /**
   * A hypercall from an external domain's kernel (Dom0's privcmd). Its vCPU runs without
   * paging, so pointers are guest-physical addresses in its memory. A continuation is carried
   * on here until the hypercall completes.
   */
  externalHypercall(domain: Domain, op: number, args: HypercallArgs): number {
    const vcpu = domain.vcpus[0];
    if (!domain.config.external || vcpu === undefined) {
      throw new HypervisorError(`domain ${domain.id} is not an external domain`);
    }
    for (;;) {
      let result: number;
      try {
        result = invokeHypercall(this, vcpu, op, args);
      } catch (error) {
        // A handler bug: the caller gets an error, the hypervisor carries on.
        this.console.write(`(XEN) d${domain.id} hypercall ${op} failed: ${String(error)}\n`);
        return -XEN_EFAULT;
      }
      if (result !== -XEN_ERESTART) return result;
    }
  }

  /** A domain by id, including destroyed ones that others' grant mappings still hold. */
  domainById(id: number): Domain | undefined {
    return this.domains.get(id) ?? this.zombies.get(id);
  }
}
