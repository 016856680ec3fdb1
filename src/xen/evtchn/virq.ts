/**
 * Virtual IRQs: which are per-vCPU, per-domain or global (get_virq_type), and which domain
 * handles each global one (Xen's global_virq_handlers, by default the hardware domain).
 */

import { XEN_EBUSY, XEN_EINVAL } from '../../abi/errno.js';
import {
  NR_VIRQS,
  VIRQ_ARGO,
  VIRQ_DEBUG,
  VIRQ_TIMER,
  VIRQ_XENOPROF,
  VIRQ_XENPMU,
} from '../../abi/xen.js';
import type { EventChannels } from './channels.js';

export const enum VirqType {
  /** Raised for the whole system; one handler domain binds it on vCPU 0. */
  Global = 0,
  /** Raised for one domain; bound on vCPU 0. */
  Domain = 1,
  /** Raised for one vCPU; each vCPU binds its own. */
  Vcpu = 2,
}

/** The kind of `virq` (< NR_VIRQS). x86 has no per-vCPU or per-domain arch VIRQs. */
export function virqType(virq: number): VirqType {
  switch (virq) {
    case VIRQ_TIMER:
    case VIRQ_DEBUG:
    case VIRQ_XENOPROF:
    case VIRQ_XENPMU:
      return VirqType.Vcpu;
    case VIRQ_ARGO:
      return VirqType.Domain;
    default:
      return VirqType.Global;
  }
}

/**
 * Which domain receives each global VIRQ (XEN_DOMCTL_set_virq_handler). One instance is
 * shared by every domain's EventChannels of a hypervisor.
 */
export class GlobalVirqHandlers {
  readonly #handlers = new Map<number, number>();

  /**
   * @param lookup finds a domain's event channels by domid.
   * @param hardwareDomid the domain that handles global VIRQs nobody else was given
   *   (Xen's hardware_domain); undefined before it exists.
   */
  constructor(
    private readonly lookup: (domid: number) => EventChannels | undefined,
    public hardwareDomid: number | undefined = 0,
  ) {}

  /** The domid handling global `virq`, or undefined. */
  handler(virq: number): number | undefined {
    return this.#handlers.get(virq) ?? this.hardwareDomid;
  }

  /**
   * Makes `domid` the handler of global `virq` (set_global_virq_handler): -EINVAL for a
   * VIRQ that is not global or a domain that does not exist or is dying, -EBUSY if the
   * current handler still has it bound.
   */
  set(virq: number, domid: number): number {
    if (!(virq >= 0 && virq < NR_VIRQS) || virqType(virq) !== VirqType.Global) return -XEN_EINVAL;
    if (this.#handlers.get(virq) === domid) return 0;
    const target = this.lookup(domid);
    if (target === undefined || target.dying) return -XEN_EINVAL;
    const current = this.handler(virq);
    if (current !== undefined && current !== domid) {
      if (this.lookup(current)?.virqBound(0, virq)) return -XEN_EBUSY;
    }
    this.#handlers.set(virq, domid);
    return 0;
  }

  /** Forgets `domid` as a handler (clear_global_virq_handlers, on its destruction). */
  clearDomain(domid: number): void {
    for (const [virq, d] of this.#handlers) if (d === domid) this.#handlers.delete(virq);
  }

  /** Raises global `virq` in its handler domain (send_global_virq). Whether it was bound. */
  send(virq: number): boolean {
    if (!(virq >= 0 && virq < NR_VIRQS) || virqType(virq) !== VirqType.Global) return false;
    const domid = this.handler(virq);
    if (domid === undefined) return false;
    return this.lookup(domid)?.sendVirq(0, virq) ?? false;
  }
}
