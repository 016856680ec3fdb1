/** Domains and their vCPUs: the hypervisor's view of a guest. */
import type { Cpu } from '../../x86/cpu.js';
import { P2m, SecondStage } from '../../x86/memory.js';
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
}

export const enum DomainState {
  Running = 0,
  /** SCHEDOP_shutdown was called: the reason is in `shutdownReason`. */
  Shutdown = 1,
  /** Being destroyed; its frames are being released. */
  Dying = 2,
}

export class Vcpu {
  /** Paused by the toolstack (nested count); a paused vCPU is not scheduled. */
  pauseCount = 0;
  /** Blocked in SCHEDOP_block or HLT until an event arrives. */
  blocked = false;
  /** VCPUOP_up / down state; vCPU 0 comes up with the domain. */
  online = false;

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

  constructor(
    readonly id: number,
    readonly frames: FrameTable,
    config: DomainConfig,
  ) {
    this.p2m = new Int32Array(GUEST_FRAMES).fill(P2m.None);
    this.secondStage = new SecondStage(frames.memory, this.p2m);
    this.maxPages = config.maxPages;
    this.privileged = config.privileged ?? false;
    this.handle = config.handle ?? new Uint8Array(16);
  }

  get runnable(): boolean {
    return this.pauseCount === 0 && this.state === DomainState.Running;
  }

  /** Machine frame behind guest frame `gfn`, or -1 (not RAM). */
  mfnOf(gfn: number): number {
    if (gfn < 0 || gfn >= this.p2m.length) return -1;
    const entry = this.p2m[gfn]!;
    return entry < 0 ? -1 : entry & P2m.FrameMask;
  }
}
