/**
 * Dom0's event channels (what Linux's evtchn device and its 2-level upcall give a Dom0
 * program): bind, allocate, notify and close ports, and a handler per port, called when the
 * upcall finds it pending in shared_info.
 */
import {
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_bind_interdomain,
  EVTCHNOP_bind_virq,
  EVTCHNOP_close,
  EVTCHNOP_send,
  EVTCHNOP_unmask,
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_bind_virq,
  evtchn_close,
  evtchn_send,
  evtchn_unmask,
} from '../../abi/event_channel.js';
import { __HYPERVISOR_event_channel_op } from '../../abi/hypercall.js';
import type { Fields, InputOf, Layout, ValueOf } from '../../abi/layout.js';
import { DOMID_SELF, shared_info, vcpu_info } from '../../abi/xen.js';
import { type Dom0Kernel, HypercallError } from './kernel.js';

export type PortHandler = (port: number) => void;

const PENDING = shared_info.offsets.evtchn_pending;
const MASK = shared_info.offsets.evtchn_mask;
/** Dom0 takes its events on vCPU 0, through the vcpu_info inside shared_info. */
const UPCALL_PENDING = vcpu_info.offsets.evtchn_upcall_pending;
const PENDING_SEL = vcpu_info.offsets.evtchn_pending_sel;

export class EventChannelDevice {
  private readonly handlers = new Map<number, PortHandler>();

  constructor(private readonly kernel: Dom0Kernel) {
    kernel.onUpcall(() => this.scan());
  }

  /** A port of Dom0 that `remoteDomid` may bind to (for rings Dom0 serves). */
  async allocUnbound(remoteDomid: number, handler: PortHandler): Promise<number> {
    const port = await this.allocUnboundFor(DOMID_SELF, remoteDomid);
    this.handlers.set(port, handler);
    return port;
  }

  /** An unbound port in domain `domid` for `remoteDomid` (the toolstack's store/console ports). */
  async allocUnboundFor(domid: number, remoteDomid: number): Promise<number> {
    const out = await this.op(
      'EVTCHNOP_alloc_unbound',
      EVTCHNOP_alloc_unbound,
      evtchn_alloc_unbound,
      { dom: domid, remote_dom: remoteDomid, port: 0 },
    );
    return out.port;
  }

  /** Binds a local port to `remotePort` of `remoteDomid`; returns the local port. */
  async bindInterdomain(
    remoteDomid: number,
    remotePort: number,
    handler: PortHandler,
  ): Promise<number> {
    const out = await this.op(
      'EVTCHNOP_bind_interdomain',
      EVTCHNOP_bind_interdomain,
      evtchn_bind_interdomain,
      { remote_dom: remoteDomid, remote_port: remotePort, local_port: 0 },
    );
    this.handlers.set(out.local_port, handler);
    return out.local_port;
  }

  /** Binds a virtual IRQ (VIRQ_DOM_EXC, VIRQ_CON…) on vCPU 0. */
  async bindVirq(virq: number, handler: PortHandler): Promise<number> {
    const out = await this.op('EVTCHNOP_bind_virq', EVTCHNOP_bind_virq, evtchn_bind_virq, {
      virq,
      vcpu: 0,
      port: 0,
    });
    this.handlers.set(out.port, handler);
    return out.port;
  }

  async notify(port: number): Promise<void> {
    await this.op('EVTCHNOP_send', EVTCHNOP_send, evtchn_send, { port });
  }

  async unmask(port: number): Promise<void> {
    await this.op('EVTCHNOP_unmask', EVTCHNOP_unmask, evtchn_unmask, { port });
  }

  async close(port: number): Promise<void> {
    this.handlers.delete(port);
    await this.op('EVTCHNOP_close', EVTCHNOP_close, evtchn_close, { port });
  }

  /** One EVTCHNOP_* with its IN/OUT structure: the structure as the hypervisor left it. */
  private async op<F extends Fields>(
    what: string,
    cmd: number,
    layout: Layout<F>,
    value: InputOf<F>,
  ): Promise<ValueOf<F>> {
    const kernel = this.kernel;
    const { rc, out } = await kernel.inOut(layout, value, (gpa) =>
      kernel.hypercall(__HYPERVISOR_event_channel_op, cmd, gpa),
    );
    if (rc < 0) throw new HypercallError(what, -rc);
    return out;
  }

  /**
   * The 2-level upcall: clear evtchn_upcall_pending, take the selector, and for each
   * pending, unmasked port clear its bit and call its handler. The hypervisor sets these
   * bits from another thread: every read-modify-write is one Atomics operation on a byte.
   */
  private scan(): void {
    const page = this.kernel.sharedInfoPage;
    Atomics.store(page, UPCALL_PENDING, 0);
    for (let selByte = 0; selByte < 8; selByte++) {
      const sel = Atomics.exchange(page, PENDING_SEL + selByte, 0);
      for (let bit = 0; bit < 8; bit++) {
        if (sel & (1 << bit)) this.scanWord(page, selByte * 8 + bit);
      }
    }
  }

  private scanWord(page: Uint8Array, word: number): void {
    for (let byte = word * 8; byte < word * 8 + 8; byte++) {
      const ready = Atomics.load(page, PENDING + byte) & ~Atomics.load(page, MASK + byte);
      for (let bit = 0; bit < 8; bit++) {
        if (!(ready & (1 << bit))) continue;
        Atomics.and(page, PENDING + byte, ~(1 << bit));
        const port = byte * 8 + bit;
        this.handlers.get(port)?.(port);
      }
    }
  }
}
