/**
 * One domain's event channels (Xen's event_channel.c): the port table, the EVTCHNOP_*
 * operations a guest calls, and the entry points the rest of the hypervisor uses to raise
 * events, pre-allocate the toolstack's channels and tear a domain down.
 *
 * Guest operations are methods of the *calling* domain's EventChannels. Each takes the
 * decoded argument struct, fills its OUT fields in place on success, and returns 0 or a
 * negative Xen errno; nothing a guest passes makes them throw. The pending/mask mechanics
 * live behind PortOps: 2-level until the guest registers a FIFO control block.
 */

import {
  XEN_EACCES,
  XEN_EBUSY,
  XEN_EEXIST,
  XEN_EINVAL,
  XEN_ENOENT,
  XEN_ENOSPC,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  EVTCHN_FIFO_LINK_BITS,
  EVTCHN_FIFO_PRIORITY_DEFAULT,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_pirq,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
} from '../../abi/event_channel.js';
import { DOMID_SELF, NR_VIRQS } from '../../abi/xen.js';
import { FifoPorts, frameNumber, MAX_CONTROL_BLOCK_OFFSET } from './fifo.js';
import { TwoLevelPorts } from './two_level.js';
import {
  type AllocUnboundArg,
  type BindInterdomainArg,
  type BindIpiArg,
  type BindPirqArg,
  type BindVcpuArg,
  type BindVirqArg,
  Channel,
  Ecs,
  EVTCHNS_PER_BUCKET,
  type EvtchnDomain,
  type ExpandArrayArg,
  type InitControlArg,
  type PortArg,
  type PortOps,
  type ResetArg,
  type SetPriorityArg,
  type StatusArg,
  type StatusUnion,
  type XenConsumer,
} from './types.js';
import { GlobalVirqHandlers, VirqType, virqType } from './virq.js';

/** Xen's own limit on max_evtchn_port (INT_MAX). */
const MAX_EVTCHN_PORT = 0x7fffffff;

/** A broken internal invariant (Xen would BUG()): a hypervisor bug, never a guest's doing. */
export class EvtchnInvariantError extends Error {
  override name = 'EvtchnInvariantError';
}

export interface EventChannelsOptions {
  /**
   * Who handles each global VIRQ, shared by all domains of one hypervisor. Default: a
   * private table in which domain 0 handles them all.
   */
  readonly globalVirqs?: GlobalVirqHandlers;
}

/** A port as the hypervisor's observers see it (the 'e' debug key's line). */
export interface ChannelInfo {
  readonly port: number;
  /** EVTCHNSTAT_* */
  readonly status: number;
  readonly vcpu: number;
  /** unbound: who may bind; interdomain: the peer. */
  readonly remoteDom?: number;
  readonly remotePort?: number;
  readonly virq?: number;
  readonly pending: boolean;
  readonly masked: boolean;
  /** FIFO queue priority. */
  readonly priority: number;
  /** Consumed by Xen itself rather than the guest. */
  readonly xen: boolean;
}

export class EventChannels {
  readonly domain: EvtchnDomain;
  readonly #lookup: (domid: number) => EventChannels | undefined;
  readonly #globalVirqs: GlobalVirqHandlers;
  /** Xen's bucketed port table: its length is valid_evtchns, a multiple of 64. */
  readonly #channels: Channel[] = [];
  /** Port bound to each (vCPU, VIRQ), 0 if none; global VIRQs use vCPU 0's row. */
  readonly #virqPorts: Uint32Array;
  /** domain.vcpuCount, fixed at creation as Xen's max_vcpus is. */
  readonly #vcpuCount: number;
  #ops: PortOps;
  #fifo: FifoPorts | undefined = undefined;
  #dying = false;

  /**
   * @param domain the domain's side of the interface.
   * @param lookup finds another domain's event channels by domid (for interdomain
   *   channels, alloc_unbound/status/reset on other domains).
   */
  constructor(
    domain: EvtchnDomain,
    lookup: (domid: number) => EventChannels | undefined,
    options: EventChannelsOptions = {},
  ) {
    this.domain = domain;
    this.#lookup = lookup;
    this.#globalVirqs = options.globalVirqs ?? new GlobalVirqHandlers(lookup);
    this.#vcpuCount = Number.isInteger(domain.vcpuCount) ? Math.max(domain.vcpuCount, 0) : 0;
    this.#virqPorts = new Uint32Array(this.#vcpuCount * NR_VIRQS);
    this.#ops = new TwoLevelPorts(domain);
    // evtchn_init: the first bucket, with port 0 reserved.
    this.#allocatePort(0);
    this.#channels[0]!.state = Ecs.Reserved;
  }

  get domid(): number {
    return this.domain.domid;
  }

  /** Whether destroy() ran: no new channels can be made here. */
  get dying(): boolean {
    return this.#dying;
  }

  /** The ABI in use: 2-level until the first EVTCHNOP_init_control. */
  get abi(): '2l' | 'fifo' {
    return this.#ops.abi;
  }

  /** One more than the highest port this domain may allocate now. */
  get portLimit(): number {
    return Math.min(this.#ops.maxPorts, this.#maxEvtchnPort() + 1);
  }

  /** The FIFO ABI's state, once the guest switched to it (for tests and observers). */
  get fifo(): FifoPorts | undefined {
    return this.#fifo;
  }

  // -------------------------------------------------------------------------------------
  // EVTCHNOP_* (called on the calling domain's EventChannels)

  /** EVTCHNOP_alloc_unbound: a port in `dom` that `remote_dom` may bind to. */
  allocUnbound(arg: AllocUnboundArg): number {
    const d = this.#resolve(arg.dom);
    if (d === undefined) return -XEN_ESRCH;
    const port = d.#getFreePort();
    if (port < 0) return port;
    if (d !== this && !this.domain.isPrivileged) return -XEN_EPERM;
    d.#bindUnbound(port, arg.remote_dom === DOMID_SELF ? this.domid : arg.remote_dom);
    arg.port = port;
    return 0;
  }

  /** EVTCHNOP_bind_interdomain: connect a fresh local port to an unbound remote one. */
  bindInterdomain(arg: BindInterdomainArg): number {
    const port = this.#bindInterdomain(arg.remote_dom, arg.remote_port, 0);
    if (port < 0) return port;
    arg.local_port = port;
    return 0;
  }

  /** EVTCHNOP_bind_virq */
  bindVirq(arg: BindVirqArg): number {
    const { virq, vcpu } = arg;
    if (!(Number.isInteger(virq) && virq >= 0 && virq < NR_VIRQS)) return -XEN_EINVAL;
    const type = virqType(virq);
    // Global and per-domain VIRQs are bound on vCPU 0 (bind_vcpu may move them later).
    if (type !== VirqType.Vcpu && vcpu !== 0) return -XEN_EINVAL;
    if (!this.#vcpuValid(vcpu)) return -XEN_ENOENT;
    if (type === VirqType.Global && this.#globalVirqs.handler(virq) !== this.domid) {
      return -XEN_EBUSY;
    }
    const slot = vcpu * NR_VIRQS + virq;
    if (this.#virqPorts[slot] !== 0) return -XEN_EEXIST;
    const port = this.#getFreePort();
    if (port < 0) return port;
    const chn = this.#channels[port]!;
    chn.state = Ecs.Virq;
    chn.notifyVcpu = vcpu;
    chn.virq = virq;
    this.#ops.init(chn);
    this.#virqPorts[slot] = port;
    arg.port = port;
    return 0;
  }

  /** EVTCHNOP_bind_ipi: a port that notifies `vcpu` when this domain sends on it. */
  bindIpi(arg: BindIpiArg): number {
    if (!this.#vcpuValid(arg.vcpu)) return -XEN_ENOENT;
    const port = this.#getFreePort();
    if (port < 0) return port;
    const chn = this.#channels[port]!;
    chn.state = Ecs.Ipi;
    chn.notifyVcpu = arg.vcpu;
    this.#ops.init(chn);
    arg.port = port;
    return 0;
  }

  /**
   * EVTCHNOP_bind_pirq. No physical IRQ is routed to any domain here, so this fails as Xen
   * fails it on x86: -EPERM for a domain without access to the IRQ (every unprivileged
   * one), -EINVAL for a privileged one (no IRQ is mapped to the pirq).
   */
  bindPirq(_arg: BindPirqArg): number {
    return this.domain.isPrivileged ? -XEN_EINVAL : -XEN_EPERM;
  }

  /** EVTCHNOP_close: an interdomain peer goes back to unbound, accepting this domain. */
  close(arg: PortArg): number {
    return this.#close(arg.port, true);
  }

  /** EVTCHNOP_send */
  send(arg: PortArg): number {
    const chn = this.#channel(arg.port);
    if (chn === undefined || chn.xenConsumer !== undefined) return -XEN_EINVAL;
    switch (chn.state) {
      case Ecs.Interdomain: {
        const [rd, rchn] = this.#peer(chn);
        if (rchn.xenConsumer !== undefined) rchn.xenConsumer(rchn.port, rchn.notifyVcpu);
        else rd.#raise(rchn.notifyVcpu, rchn);
        return 0;
      }
      case Ecs.Ipi:
        this.#raise(chn.notifyVcpu, chn);
        return 0;
      case Ecs.Unbound:
        // Nobody to tell yet: dropped (bind_interdomain raises the port conservatively).
        return 0;
      default:
        return -XEN_EINVAL;
    }
  }

  /** EVTCHNOP_status */
  status(arg: StatusArg): number {
    const d = this.#resolve(arg.dom);
    if (d === undefined) return -XEN_ESRCH;
    const chn = d.#channel(arg.port);
    if (chn === undefined) return -XEN_EINVAL;
    if (d !== this && !this.domain.isPrivileged) return -XEN_EPERM;
    const [status, u] = describeState(chn);
    arg.status = status;
    arg.u = u;
    arg.vcpu = chn.notifyVcpu;
    return 0;
  }

  /** EVTCHNOP_bind_vcpu: which vCPU an unbound, interdomain or global-VIRQ port notifies. */
  bindVcpu(arg: BindVcpuArg): number {
    if (!this.#vcpuValid(arg.vcpu)) return -XEN_ENOENT;
    const chn = this.#channel(arg.port);
    if (chn === undefined || chn.xenConsumer !== undefined) return -XEN_EINVAL;
    switch (chn.state) {
      case Ecs.Virq:
        if (virqType(chn.virq) === VirqType.Vcpu) return -XEN_EINVAL;
        chn.notifyVcpu = arg.vcpu;
        return 0;
      case Ecs.Unbound:
      case Ecs.Interdomain:
        chn.notifyVcpu = arg.vcpu;
        return 0;
      default:
        return -XEN_EINVAL;
    }
  }

  /** EVTCHNOP_unmask: clears the mask and raises the port if it is pending. */
  unmask(arg: PortArg): number {
    const chn = this.#channel(arg.port);
    if (chn === undefined) return -XEN_EINVAL;
    if (chn.usable) this.#ops.unmask(chn);
    return 0;
  }

  /**
   * EVTCHNOP_reset: close every guest channel of `dom` and go back to the 2-level ABI.
   * Another domain (privileged) may only reset one the toolstack holds paused.
   */
  reset(arg: ResetArg): number {
    const d = this.#resolve(arg.dom);
    if (d === undefined) return -XEN_ESRCH;
    if (d !== this && !this.domain.isPrivileged) return -XEN_EPERM;
    if (d !== this && !(d.domain.isPausedByController?.() ?? false)) return -XEN_EINVAL;
    for (let port = 1; port < d.#channels.length; port++) d.#close(port, true);
    d.#dropFifo();
    return 0;
  }

  /**
   * EVTCHNOP_init_control: register `vcpu`'s FIFO control block. The first one switches the
   * domain to the FIFO ABI; existing bindings carry over at the default priority, and
   * ports pending in the 2-level bitmap are raised once their event array page exists.
   */
  initControl(arg: InitControlArg): number {
    arg.link_bits = EVTCHN_FIFO_LINK_BITS;
    const { vcpu, offset } = arg;
    if (!this.#vcpuValid(vcpu)) return -XEN_ENOENT;
    if (!(Number.isInteger(offset) && offset >= 0 && offset <= MAX_CONTROL_BLOCK_OFFSET)) {
      return -XEN_EINVAL;
    }
    if ((offset & 7) !== 0) return -XEN_EINVAL;
    const gfn = frameNumber(arg.control_gfn);
    if (this.#fifo !== undefined) return this.#fifo.mapControlBlock(vcpu, gfn, offset);

    const fifo = new FifoPorts(this.domain, (port) => this.#channel(port));
    const rc = fifo.mapControlBlock(vcpu, gfn, offset);
    if (rc < 0) {
      fifo.destroy();
      return rc;
    }
    // setup_ports: remember what was pending under 2L; every port gets the default priority.
    const twoLevel = this.#ops;
    const carried = Math.min(this.#channels.length, twoLevel.maxPorts);
    for (let port = 1; port < carried; port++) {
      const chn = this.#channels[port]!;
      if (chn.usable && twoLevel.isPending(chn)) chn.fifoPending = true;
      chn.priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    }
    this.#ops = fifo;
    this.#fifo = fifo;
    return 0;
  }

  /** EVTCHNOP_expand_array: add a page of FIFO event words. */
  expandArray(arg: ExpandArrayArg): number {
    if (this.#fifo === undefined) return -XEN_EOPNOTSUPP;
    return this.#fifo.addPage(frameNumber(arg.array_gfn));
  }

  /** EVTCHNOP_set_priority: the FIFO queue for the port's future events. */
  setPriority(arg: SetPriorityArg): number {
    const chn = this.#channel(arg.port);
    if (chn === undefined) return -XEN_EINVAL;
    if (this.#fifo === undefined) return -XEN_ENOSYS;
    if (!chn.usable) return -XEN_EACCES;
    return this.#fifo.setPriority(chn, arg.priority);
  }

  // -------------------------------------------------------------------------------------
  // Hypervisor side

  /**
   * Raises `virq` for this domain: a per-vCPU VIRQ on `vcpu` (send_guest_vcpu_virq), any
   * other on whichever vCPU its port notifies, `vcpu` ignored (send_guest_domain_virq).
   * Returns whether the guest has it bound.
   */
  sendVirq(vcpu: number, virq: number): boolean {
    if (!(Number.isInteger(virq) && virq >= 0 && virq < NR_VIRQS)) return false;
    if (virqType(virq) === VirqType.Vcpu) {
      if (!this.#vcpuValid(vcpu)) return false;
      const chn = this.#channels[this.#virqPorts[vcpu * NR_VIRQS + virq]!];
      if (chn === undefined || chn.port === 0) return false;
      this.#raise(vcpu, chn);
      return true;
    }
    if (!this.#vcpuValid(0)) return false;
    const chn = this.#channels[this.#virqPorts[virq]!];
    if (chn === undefined || chn.port === 0) return false;
    this.#raise(chn.notifyVcpu, chn);
    return true;
  }

  /** Whether the guest bound `virq` (for `vcpu` if per-vCPU): evtchn_virq_enabled. */
  virqBound(vcpu: number, virq: number): boolean {
    if (!(Number.isInteger(virq) && virq >= 0 && virq < NR_VIRQS)) return false;
    const v = virqType(virq) === VirqType.Vcpu ? vcpu : 0;
    if (!this.#vcpuValid(v)) return false;
    return this.#virqPorts[v * NR_VIRQS + virq] !== 0;
  }

  /**
   * Raises this domain's own `port` from Xen's side, whatever it is bound to — as if its
   * peer had sent. 0, or -EINVAL for a port that is not a live guest channel.
   */
  notifyPort(port: number): number {
    const chn = this.#channel(port);
    if (chn === undefined || !chn.usable) return -XEN_EINVAL;
    this.#raise(chn.notifyVcpu, chn);
    return 0;
  }

  /**
   * For the domain builder: an unbound port of this domain that `remoteDomid` may bind
   * (the xenstore and console channels), allocated without the caller's privilege check —
   * `port` 0 picks the lowest free one. Returns the port or a negative errno.
   */
  allocUnboundForToolstack(remoteDomid: number, port = 0): number {
    const p = this.#getPort(port);
    if (p < 0) return p;
    this.#bindUnbound(p, remoteDomid);
    return p;
  }

  /**
   * For the toolstack: bind a port of this domain (`localPort`, or the lowest free one if
   * 0) to the unbound `remotePort` of `remoteDomid`. Returns the port or a negative errno.
   */
  bindInterdomainForToolstack(remoteDomid: number, remotePort: number, localPort = 0): number {
    return this.#bindInterdomain(remoteDomid, remotePort, localPort);
  }

  /**
   * A Xen-attached unbound port (alloc_unbound_xen_event_channel): `remoteDomid` binds to
   * it as usual, but its sends call `consumer` instead of raising this domain's port, and
   * this domain's guest can neither send on, close nor re-bind it. Port or negative errno.
   */
  allocXenChannel(remoteDomid: number, vcpu: number, consumer: XenConsumer): number {
    if (!this.#vcpuValid(vcpu)) return -XEN_ENOENT;
    const port = this.#getFreePort();
    if (port < 0) return port;
    const chn = this.#channels[port]!;
    chn.state = Ecs.Unbound;
    chn.xenConsumer = consumer;
    chn.notifyVcpu = vcpu;
    chn.remoteDomid = remoteDomid;
    return port;
  }

  /** Raises the remote end of Xen-attached `port` (notify_via_xen_event_channel). */
  notifyViaXenChannel(port: number): void {
    const chn = this.#channel(port);
    if (chn === undefined || chn.xenConsumer === undefined || chn.state !== Ecs.Interdomain) {
      return;
    }
    const [rd, rchn] = this.#peer(chn);
    rd.#raise(rchn.notifyVcpu, rchn);
  }

  /** Closes a Xen-attached port (free_xen_event_channel). */
  freeXenChannel(port: number): void {
    this.#close(port, false);
  }

  /** For SCHEDOP_poll (evtchn_port_poll): 1 pending, 0 not, -EINVAL not a guest channel. */
  portPoll(port: number): number {
    const chn = this.#channel(port);
    if (chn === undefined || !chn.usable) return -XEN_EINVAL;
    return this.#ops.isPending(chn) ? 1 : 0;
  }

  /** Whether guest channel `port` is pending (false for anything else). */
  isPending(port: number): boolean {
    const chn = this.#channel(port);
    return chn?.usable === true && this.#ops.isPending(chn);
  }

  /** Whether `port` is masked (true for anything but a guest channel). */
  isMasked(port: number): boolean {
    const chn = this.#channel(port);
    return chn === undefined || !chn.usable || this.#ops.isMasked(chn);
  }

  /** Every port in use, for observers and debugging. */
  describe(): ChannelInfo[] {
    const out: ChannelInfo[] = [];
    for (const chn of this.#channels) {
      if (chn.state === Ecs.Free || chn.state === Ecs.Reserved) continue;
      const [status, u] = describeState(chn);
      out.push({
        port: chn.port,
        status,
        vcpu: chn.notifyVcpu,
        ...('unbound' in u ? { remoteDom: u.unbound.dom } : {}),
        ...('interdomain' in u
          ? { remoteDom: u.interdomain.dom, remotePort: u.interdomain.port }
          : {}),
        ...('virq' in u ? { virq: u.virq } : {}),
        pending: chn.usable && this.#ops.isPending(chn),
        masked: !chn.usable || this.#ops.isMasked(chn),
        priority: chn.priority,
        xen: chn.xenConsumer !== undefined,
      });
    }
    return out;
  }

  /**
   * Closes every channel (evtchn_destroy): interdomain peers see their ends unbound.
   * Afterwards nothing can be allocated here; global VIRQ handling falls back to the
   * hardware domain, and the FIFO pages are released.
   */
  destroy(): void {
    if (this.#dying) return;
    this.#dying = true;
    for (let port = this.#channels.length - 1; port > 0; port--) this.#close(port, false);
    this.#globalVirqs.clearDomain(this.domid);
    this.#dropFifo();
  }

  // -------------------------------------------------------------------------------------
  // Internals

  #maxEvtchnPort(): number {
    const m = this.domain.maxEvtchnPort;
    return m !== undefined && Number.isInteger(m) && m >= 0
      ? Math.min(m, MAX_EVTCHN_PORT)
      : MAX_EVTCHN_PORT;
  }

  #vcpuValid(vcpu: number): boolean {
    return Number.isInteger(vcpu) && vcpu >= 0 && vcpu < this.#vcpuCount;
  }

  #resolve(domid: number): EventChannels | undefined {
    return domid === DOMID_SELF || domid === this.domid ? this : this.#lookup(domid);
  }

  /** Xen's _evtchn_from_port: the record if `port` lies in an allocated bucket. */
  #channel(port: number): Channel | undefined {
    return Number.isInteger(port) && port >= 0 ? this.#channels[port] : undefined;
  }

  /** evtchn_allocate_port: make `port` usable for a new binding (0 or -errno). */
  #allocatePort(port: number): number {
    if (port > this.#maxEvtchnPort() || port >= this.#ops.maxPorts) return -XEN_ENOSPC;
    const chn = this.#channels[port];
    if (chn !== undefined) {
      return chn.state !== Ecs.Free || this.#ops.isBusy(chn) ? -XEN_EBUSY : 0;
    }
    while (this.#channels.length <= port) {
      const base = this.#channels.length;
      for (let i = 0; i < EVTCHNS_PER_BUCKET; i++) this.#channels.push(new Channel(base + i));
    }
    return 0;
  }

  /** get_free_port: the lowest port free for a new binding, or a negative errno. */
  #getFreePort(): number {
    if (this.#dying) return -XEN_EINVAL;
    const max = this.#maxEvtchnPort();
    for (let port = 0; port <= max; port++) {
      const rc = this.#allocatePort(port);
      if (rc === 0) return port;
      if (rc !== -XEN_EBUSY) return rc;
    }
    return -XEN_ENOSPC;
  }

  /** evtchn_get_port: `port` itself if non-zero, else the lowest free one. */
  #getPort(port: number): number {
    if (port === 0) return this.#getFreePort();
    if (this.#dying || !(Number.isInteger(port) && port > 0)) return -XEN_EINVAL;
    const rc = this.#allocatePort(port);
    return rc < 0 ? rc : port;
  }

  #bindUnbound(port: number, remoteDomid: number): void {
    const chn = this.#channels[port]!;
    chn.state = Ecs.Unbound;
    chn.remoteDomid = remoteDomid;
    this.#ops.init(chn);
  }

  /** evtchn_bind_interdomain with this domain as the local end: port or -errno. */
  #bindInterdomain(remoteDom: number, remotePort: number, localPort: number): number {
    const rd = this.#resolve(remoteDom);
    if (rd === undefined) return -XEN_ESRCH;
    const lport = this.#getPort(localPort);
    if (lport < 0) return lport;
    const rchn = rd.#channel(remotePort);
    if (rchn === undefined || rchn.state !== Ecs.Unbound || rchn.remoteDomid !== this.domid) {
      return -XEN_EINVAL;
    }
    const lchn = this.#channels[lport]!;
    lchn.state = Ecs.Interdomain;
    lchn.remote = rd;
    lchn.remotePort = rchn.port;
    this.#ops.init(lchn);
    rchn.state = Ecs.Interdomain;
    rchn.remote = this;
    rchn.remotePort = lport;
    // The peer may have sent while its end was unbound: raise ours conservatively.
    this.#raise(lchn.notifyVcpu, lchn);
    return lport;
  }

  /** The other end of an interdomain channel, checked. */
  #peer(chn: Channel): [EventChannels, Channel] {
    const rd = chn.remote;
    const rchn = rd === undefined ? undefined : rd.#channels[chn.remotePort];
    if (
      rd === undefined ||
      rchn === undefined ||
      rchn.state !== Ecs.Interdomain ||
      rchn.remote !== this ||
      rchn.remotePort !== chn.port
    ) {
      throw new EvtchnInvariantError(
        `d${this.domid} port ${chn.port}: interdomain peer d${rd?.domid} port ${chn.remotePort} does not point back`,
      );
    }
    return [rd, rchn];
  }

  /** evtchn_port_set_pending: raise `chn` for `vcpu` if it is a guest channel. */
  #raise(vcpu: number, chn: Channel): void {
    if (chn.usable) this.#ops.setPending(vcpu, chn);
  }

  /** evtchn_close; `guest` false for Xen's own teardown (which may close Xen-attached ports). */
  #close(port: number, guest: boolean): number {
    const chn = this.#channel(port);
    if (chn === undefined) return -XEN_EINVAL;
    if (chn.xenConsumer !== undefined && guest) return -XEN_EINVAL;
    switch (chn.state) {
      case Ecs.Free:
      case Ecs.Reserved:
        return -XEN_EINVAL;
      case Ecs.Virq: {
        const v = virqType(chn.virq) === VirqType.Vcpu ? chn.notifyVcpu : 0;
        this.#virqPorts[v * NR_VIRQS + chn.virq] = 0;
        break;
      }
      case Ecs.Interdomain: {
        const [, rchn] = this.#peer(chn);
        this.#free(chn);
        rchn.state = Ecs.Unbound;
        rchn.remote = undefined;
        rchn.remotePort = 0;
        rchn.remoteDomid = this.domid;
        return 0;
      }
      default:
        break;
    }
    this.#free(chn);
    return 0;
  }

  /** evtchn_free */
  #free(chn: Channel): void {
    if (chn.usable) this.#ops.clearPending(chn);
    chn.state = Ecs.Free;
    chn.notifyVcpu = 0;
    chn.xenConsumer = undefined;
    chn.remote = undefined;
    chn.remotePort = 0;
    chn.remoteDomid = 0;
    chn.virq = 0;
    chn.fifoPending = false;
  }

  /** evtchn_fifo_destroy + evtchn_2l_init */
  #dropFifo(): void {
    if (this.#fifo === undefined) return;
    this.#fifo.destroy();
    this.#fifo = undefined;
    this.#ops = new TwoLevelPorts(this.domain);
  }
}

function describeState(chn: Channel): [status: number, u: StatusUnion] {
  switch (chn.state) {
    case Ecs.Unbound:
      return [EVTCHNSTAT_unbound, { unbound: { dom: chn.remoteDomid } }];
    case Ecs.Interdomain:
      return [
        EVTCHNSTAT_interdomain,
        { interdomain: { dom: chn.remote?.domid ?? 0, port: chn.remotePort } },
      ];
    case Ecs.Pirq:
      return [EVTCHNSTAT_pirq, { pirq: chn.pirq }];
    case Ecs.Virq:
      return [EVTCHNSTAT_virq, { virq: chn.virq }];
    case Ecs.Ipi:
      return [EVTCHNSTAT_ipi, {}];
    default:
      return [EVTCHNSTAT_closed, {}];
  }
}
