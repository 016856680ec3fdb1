/**
 * The domains xenstored knows (struct domain in xenstored_domain.c): those introduced,
 * with their ring connection, and those only named by a permission entry. Each carries the
 * store generation at which xenstored first heard of it: a permission entry for a domain
 * is honoured only on nodes written after that (chk_domain_generation), so a new domain
 * that reuses a dead one's domid does not inherit its grants (XSA-322).
 */

import type { Connection } from './connection.js';
import type { Store } from './tree.js';

export interface DomainEntry {
  readonly domid: number;
  /** Store generation when xenstored first heard of the domain. */
  readonly generation: number;
  /** XS_INTRODUCE'd and not yet released. */
  introduced: boolean;
  /** A shutdown or crash was noticed and @releaseDomain fired for it (cleared by RESUME). */
  shutdown: boolean;
  /** The event channel port on our side. */
  localPort: number | undefined;
  /** The mapped xenstore_domain_interface page. */
  page: Uint8Array | undefined;
  /** The ring connection while introduced. */
  conn: Connection | undefined;
}

/** Dom0: always there, its permission entries always honoured (it predates every node). */
export const DOM0 = 0;

export class DomainTable {
  private readonly byId = new Map<number, DomainEntry>();

  constructor(private readonly store: Store) {
    this.known(DOM0).introduced = true;
  }

  get(domid: number): DomainEntry | undefined {
    return this.byId.get(domid);
  }

  /** The entry for `domid`, created (first heard of now) when missing. */
  known(domid: number): DomainEntry {
    let d = this.byId.get(domid);
    if (!d) {
      d = {
        domid,
        generation: domid === DOM0 ? 0 : this.store.generation,
        introduced: false,
        shutdown: false,
        localPort: undefined,
        page: undefined,
        conn: undefined,
      };
      this.byId.set(domid, d);
    }
    return d;
  }

  /**
   * Whether a permission entry for `domid` counts on a node of generation `nodeGeneration`:
   * the node was written after xenstored heard of the domain. A node carries the counter
   * value its write took, a domain the value current when it appeared, so equal means the
   * node is older (xenstored's `<=` lets that tie through).
   */
  honoured(domid: number, nodeGeneration: number): boolean {
    const d = this.byId.get(domid);
    return d !== undefined && (d.domid === DOM0 || d.generation < nodeGeneration);
  }

  /** Introduced domains other than Dom0. */
  introduced(): DomainEntry[] {
    return [...this.byId.values()].filter((d) => d.introduced && d.domid !== DOM0);
  }

  /** Every entry other than Dom0. */
  all(): DomainEntry[] {
    return [...this.byId.values()].filter((d) => d.domid !== DOM0);
  }

  byPort(localPort: number): DomainEntry | undefined {
    for (const d of this.byId.values()) if (d.localPort === localPort) return d;
    return undefined;
  }

  /** Puts an entry back that was forgotten while its introduction was under way. */
  adopt(d: DomainEntry): void {
    this.byId.set(d.domid, d);
  }

  forget(domid: number): void {
    if (domid !== DOM0) this.byId.delete(domid);
  }
}
