/**
 * The event-channel module's view of the rest of the hypervisor, its per-port record, and
 * the argument objects of the EVTCHNOP_* operations.
 */

import { EVTCHN_FIFO_PRIORITY_DEFAULT } from '../../abi/event_channel.js';
import type { EventChannels } from './channels.js';

/** What the event-channel code needs from the hypervisor, per domain. */
export interface EvtchnDomain {
  readonly domid: number;
  readonly vcpuCount: number;
  /** The domain's shared_info page (Xen-owned, 4 KiB), or undefined before it is set up. */
  sharedInfo(): DataView | undefined;
  /**
   * Where vCPU n's vcpu_info lives (inside shared_info by default, or a page the guest
   * registered): a view and byte offset; undefined if none (events to it are then lost, as
   * with Xen's dummy vcpu_info).
   */
  vcpuInfo(vcpu: number): { view: DataView; offset: number } | undefined;
  /**
   * Maps guest frame `gfn` of this domain for the FIFO ABI's control blocks and event arrays
   * (read/write), or undefined if it is not the domain's (writable) RAM. The view must cover
   * exactly the 4 KiB frame.
   */
  mapGuestFrame(gfn: number): DataView | undefined;
  /**
   * Undoes one mapGuestFrame when the FIFO ABI is torn down (EVTCHNOP_reset, destroy);
   * Xen holds a page reference for as long as it keeps such a mapping.
   */
  releaseGuestFrame?(gfn: number): void;
  /** Signals vCPU n: the upcall is pending (inject the callback vector / wake it from blocking). */
  kick(vcpu: number): void;
  /**
   * A port became pending (Xen's evtchn_check_pollers): wake vCPUs blocked in SCHEDOP_poll
   * on it. Called even when the port is masked, which is how polling on masked ports works.
   */
  checkPollers?(port: number): void;
  /** Control-domain rights (XSM dummy policy): may act on other domains' channels. */
  isPrivileged: boolean;
  /**
   * Highest port the domain may allocate (XEN_DOMCTL_createdomain's max_evtchn_port; libxl's
   * default for a domU is 1023). Undefined: only the ABI's own limit applies.
   */
  readonly maxEvtchnPort?: number;
  /**
   * Whether the toolstack holds the domain paused (controller_pause_count != 0): another
   * domain may only EVTCHNOP_reset a domain that is paused so.
   */
  isPausedByController?(): boolean;
}

/** Xen's ECS_* channel states (not the EVTCHNSTAT_* numbers a guest sees). */
export const enum Ecs {
  Free = 0,
  /** Port 0, never handed out. */
  Reserved = 1,
  Unbound = 2,
  Interdomain = 3,
  Pirq = 4,
  Virq = 5,
  Ipi = 6,
}

/**
 * What Xen does instead of raising a Xen-attached port when its peer sends: `port` is the
 * Xen-attached port, `vcpu` the vCPU it was allocated for.
 */
export type XenConsumer = (port: number, vcpu: number) => void;

/** Ports are allocated in buckets of this many (Xen: a page of 64-byte struct evtchn). */
export const EVTCHNS_PER_BUCKET = 64;

/**
 * One port of a domain: Xen's struct evtchn. Owned by one EventChannels; its `remote`
 * points at the peer domain's table for an interdomain channel.
 */
export class Channel {
  state: Ecs = Ecs.Free;
  /** The vCPU notified when the port becomes pending. */
  notifyVcpu = 0;
  /** Xen-attached channel: Xen consumes this end's events through this callback. */
  xenConsumer: XenConsumer | undefined = undefined;
  /** ECS_UNBOUND: the domain allowed to bind. */
  remoteDomid = 0;
  /** ECS_INTERDOMAIN: the peer domain's channels and port. */
  remote: EventChannels | undefined = undefined;
  remotePort = 0;
  /** ECS_VIRQ: VIRQ_*; ECS_PIRQ: the pirq. */
  virq = 0;
  pirq = 0;
  // FIFO ABI.
  /** Queue the port is linked on next (0 highest .. 15 lowest). */
  priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
  /** Pending while the port had no event word yet; raised when its array page arrives. */
  fifoPending = false;
  /** The queue the port was last linked on (Xen's fifo_lastq). */
  lastVcpu = 0;
  lastPriority = 0;

  constructor(readonly port: number) {}

  /** Xen's evtchn_usable: a guest-visible, bound (or unbound) channel. */
  get usable(): boolean {
    return this.xenConsumer === undefined && this.state > Ecs.Reserved;
  }
}

/**
 * The port-level mechanics of one ABI (Xen's evtchn_port_ops): where the pending and mask
 * state of a port lives in guest memory and how a guest is told.
 */
export interface PortOps {
  readonly abi: '2l' | 'fifo';
  /** Ports this ABI can express. */
  readonly maxPorts: number;
  /** A channel was just bound. */
  init(chn: Channel): void;
  setPending(vcpu: number, chn: Channel): void;
  clearPending(chn: Channel): void;
  unmask(chn: Channel): void;
  isPending(chn: Channel): boolean;
  isMasked(chn: Channel): boolean;
  /** Still linked on a queue after being closed: not free for reuse yet. */
  isBusy(chn: Channel): boolean;
}

// ---------------------------------------------------------------------------------------
// Decoded hypercall arguments. The dispatcher decodes each struct with its src/abi layout
// (whose `read` result satisfies these types), calls the operation, and on success writes
// the same object back with the layout (the OUT fields are filled in place, as Xen copies
// the whole struct back).

/** struct evtchn_alloc_unbound */
export interface AllocUnboundArg {
  dom: number;
  remote_dom: number;
  /** OUT */
  port: number;
}

/** struct evtchn_bind_interdomain */
export interface BindInterdomainArg {
  remote_dom: number;
  remote_port: number;
  /** OUT */
  local_port: number;
}

/** struct evtchn_bind_virq */
export interface BindVirqArg {
  virq: number;
  vcpu: number;
  /** OUT */
  port: number;
}

/** struct evtchn_bind_pirq */
export interface BindPirqArg {
  pirq: number;
  flags: number;
  /** OUT */
  port: number;
}

/** struct evtchn_bind_ipi */
export interface BindIpiArg {
  vcpu: number;
  /** OUT */
  port: number;
}

/** struct evtchn_close, evtchn_send, evtchn_unmask */
export interface PortArg {
  port: number;
}

/**
 * The status union, holding only the member that applies (so writing it back with the
 * evtchn_status layout touches only that member's bytes).
 */
export type StatusUnion =
  | { unbound: { dom: number } }
  | { interdomain: { dom: number; port: number } }
  | { pirq: number }
  | { virq: number }
  | Record<string, never>;

/** struct evtchn_status */
export interface StatusArg {
  dom: number;
  port: number;
  /** OUT: EVTCHNSTAT_* */
  status: number;
  /** OUT */
  vcpu: number;
  /** OUT */
  u: StatusUnion;
}

/** struct evtchn_bind_vcpu */
export interface BindVcpuArg {
  port: number;
  vcpu: number;
}

/** struct evtchn_reset */
export interface ResetArg {
  dom: number;
}

/** struct evtchn_init_control */
export interface InitControlArg {
  control_gfn: bigint | number;
  offset: number;
  vcpu: number;
  /** OUT */
  link_bits: number;
}

/** struct evtchn_expand_array */
export interface ExpandArrayArg {
  array_gfn: bigint | number;
}

/** struct evtchn_set_priority */
export interface SetPriorityArg {
  port: number;
  priority: number;
}
