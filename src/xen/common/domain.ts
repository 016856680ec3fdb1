/** Domains and their vCPUs: the hypervisor's view of a guest. */
import { HVM_PARAM_TRIPLE_FAULT_REASON } from '../../abi/hvm.js';
import { SHUTDOWN_reboot } from '../../abi/sched.js';
import type { Cpu } from '../../x86/cpu.js';
import { P2m, SecondStage } from '../../x86/memory.js';
import type { VcpuTimers } from '../arch/x86/time/index.js';
import type { Vlapic } from '../arch/x86/vlapic/index.js';
import type { EventChannels } from '../evtchn/index.js';
import type { GrantTable } from '../grant/index.js';
import type { FrameTable } from './frame-table.js';

/** Guest-physical address space of a domain: 64 GiB of frames (RAM, holes and MMIO). */
export const GUEST_FRAMES = 1 << 24;

export interface DomainConfig {
  maxVcpus: number;
  /** Most pages of RAM the domain may hold (XEN_DOMCTL_max_mem). */
  maxPages: number;
  /** Dom0 and other privileged domains may use domctl/sysctl and foreign mappings. */
  privileged?: boolean;
  /** 16-byte handle (the VM's UUID). */
  handle?: Uint8Array;
  /** Highest event-channel port (XEN_DOMCTL_createdomain's max_evtchn_port). */
  maxEvtchnPort?: number;
  /** Grant-table frames (max_grant_frames; Xen's default 64). */
  maxGrantFrames?: number;
  /** Maptrack frames (max_maptrack_frames; Xen's default 1024). */
  maxMaptrackFrames?: number;
  /**
   * The domain's kernel runs outside the emulated CPU: Dom0, whose kernel is TypeScript on
   * the host's main thread. Its vCPUs never run; its P2M lives in shared memory, read by
   * that kernel as hardware reads a second-stage table, and its event upcalls go to
   * `Hypervisor.onExternalUpcall`.
   */
  external?: boolean;
}

export const enum DomainState {
  Running = 0,
  /** SCHEDOP_shutdown was called: the reason is in `shutdownReason`. */
  Shutdown = 1,
  /** Being destroyed; its frames are being released. */
  Dying = 2,
}

/** One e820 entry. */
export interface MemoryMapEntry {
  addr: number;
  size: number;
  /** E820_RAM 1, E820_RESERVED 2, E820_ACPI 3, E820_NVS 4, E820_UNUSABLE 5 */
  type: number;
}

/** A guest virtual address registered by a hypercall (lo/hi halves). */
export interface GuestPointer {
  lo: number;
  hi: number;
}

export class Vcpu {
  /** Paused by the toolstack (nested count); a paused vCPU is not scheduled. */
  pauseCount = 0;
  /** Blocked in SCHEDOP_block, SCHEDOP_poll or HLT until an event arrives. */
  blocked = false;
  /** VCPUOP_up / down state; vCPU 0 comes up with the domain. */
  online = false;
  /**
   * Xen's is_initialised: VCPUOP_initialise gave the vCPU a state (a vCPU that has been
   * online, like vCPU 0 set up by the builder, counts as initialised too).
   */
  initialised = false;
  /** The virtual local APIC (set when the hypervisor creates the vCPU). */
  vlapic!: Vlapic;
  /**
   * Machine byte address of this vCPU's vcpu_info: its slot in shared_info for the first 32
   * vCPUs, or where VCPUOP_register_vcpu_info put it; -1 when it has none.
   */
  vcpuInfoAddress = -1;
  /**
   * Whether VCPUOP_register_vcpu_info moved vcpu_info (it cannot move twice); the frame at
   * `vcpuInfoAddress` then holds a reference until the domain is destroyed.
   */
  vcpuInfoRegistered = false;
  /** VCPUOP_register_runstate_memory_area's guest virtual address. */
  runstateArea: GuestPointer | undefined = undefined;
  /** VCPUOP_register_vcpu_time_memory_area's guest virtual address. */
  timeArea: GuestPointer | undefined = undefined;
  /** SCHEDOP_poll: the ports waited on while blocked in a poll. */
  pollPorts: readonly number[] | undefined = undefined;
  /** Runstate accounting: RUNSTATE_* now, since system time `runstateEntry`. */
  runstate = 3; // RUNSTATE_offline
  runstateEntry = 0;
  /** Nanoseconds spent in each RUNSTATE_* (running, runnable, blocked, offline). */
  readonly runstateTime = [0, 0, 0, 0];

  constructor(
    readonly id: number,
    readonly domain: Domain,
    readonly cpu: Cpu,
  ) {}

  get runnable(): boolean {
    return this.online && !this.blocked && this.pauseCount === 0 && this.domain.runnable;
  }
}

export class Domain {
  readonly p2m: Int32Array;
  readonly secondStage: SecondStage;
  readonly vcpus: Vcpu[] = [];
  readonly privileged: boolean;
  readonly handle: Uint8Array;
  readonly config: DomainConfig;
  maxPages: number;
  /** Pages of RAM currently populated. */
  totPages = 0;
  pauseCount = 0;
  state = DomainState.Running;
  shutdownReason = 0;
  /** SCHEDOP_shutdown_code: the reason to report if the domain shuts down later (e.g. on a crash). */
  shutdownCode = -1;
  /** Whether the domain's last console_io write ended mid-line (for the "(dN) " prefixes). */
  readonly consoleLine = { partial: false };
  /** Machine frame of shared_info (Xen-owned), or -1. */
  sharedInfoMfn = -1;
  /** HVM_PARAM_* values (64-bit). */
  readonly hvmParams: BigUint64Array;
  /** Event channels, grant table and timers (set when the hypervisor creates the domain). */
  evtchn!: EventChannels;
  grants!: GrantTable;
  timers!: VcpuTimers;
  /** Added to the machine TSC for this domain's vCPUs at creation. */
  tscOffset = 0;
  /** XEN_DOMCTL_settimeoffset: seconds added to the wallclock this domain sees. */
  wallclockOffset = 0;
  /** SCHEDOP_watchdog timers: id → deadline in system time (ns). */
  readonly watchdogs = new Map<number, number>();
  /** XENMEM_set_memory_map: the e820 map XENMEM_memory_map gives the guest (undefined: none set). */
  memoryMap: readonly MemoryMapEntry[] | undefined = undefined;
  /** Guest frames where a grant is mapped (Xen's p2m_grant_map_rw/ro types). */
  readonly grantMapped = new Set<number>();
  /**
   * RAM frames a grant mapping displaced from the P2M: still the domain's (and counted in
   * totPages, as Xen keeps them) until it is destroyed.
   */
  readonly displacedRam: number[] = [];
  /** Guest frames where another domain's page is mapped (Xen's p2m_map_foreign): gfn → mfn. */
  readonly foreignMapped = new Map<number, number>();
  /** HYPERVISOR_vm_assist: the VMASST_TYPE_* bits enabled. */
  vmAssist = 0;
  /** XEN_DOMCTL_set_address_size: 64 for HVM/PVH domains. */
  addressSize = 64;

  constructor(
    readonly id: number,
    readonly frames: FrameTable,
    config: DomainConfig,
    hvmParamCount: number,
  ) {
    this.config = config;
    this.p2m = new Int32Array(
      config.external ? new SharedArrayBuffer(GUEST_FRAMES * 4) : new ArrayBuffer(GUEST_FRAMES * 4),
    ).fill(P2m.None);
    this.secondStage = new SecondStage(frames.memory, this.p2m);
    this.maxPages = config.maxPages;
    this.privileged = config.privileged ?? false;
    this.handle = config.handle ?? new Uint8Array(16);
    this.hvmParams = new BigUint64Array(hvmParamCount);
    this.hvmParams[HVM_PARAM_TRIPLE_FAULT_REASON] = BigInt(SHUTDOWN_reboot);
  }

  get runnable(): boolean {
    return this.pauseCount === 0 && this.state === DomainState.Running;
  }

  /** Machine frame behind guest frame `gfn`, or -1 (not mapped). */
  mfnOf(gfn: number): number {
    if (!Number.isInteger(gfn) || gfn < 0 || gfn >= this.p2m.length) return -1;
    const entry = this.p2m[gfn]!;
    return entry < 0 ? -1 : entry & P2m.FrameMask;
  }

  /**
   * Takes the domain's RAM page at `gfn` out of the physmap but keeps it allocated and
   * counted, as Xen does when a page is replaced without being freed; destroy frees it.
   */
  displaceRam(gfn: number): void {
    const mfn = this.mfnOf(gfn);
    this.setP2m(gfn, P2m.None);
    this.frames.m2p[mfn] = -1;
    this.displacedRam.push(mfn);
  }

  /**
   * Changes the P2M entry of `gfn` (a machine frame with P2m bits, or P2m.None). Removing or
   * replacing a mapping flushes every vCPU's TLB, since they cache machine addresses.
   */
  setP2m(gfn: number, entry: number): void {
    const old = this.p2m[gfn]!;
    this.p2m[gfn] = entry;
    if (old >= 0 && old !== entry) for (const vcpu of this.vcpus) vcpu.cpu.flushTlb();
  }
}
