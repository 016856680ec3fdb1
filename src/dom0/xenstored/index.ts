/**
 * xenstored: Dom0's store daemon, after Xen 4.17's C xenstored.
 *
 * It keeps the store — a tree of nodes with values and permissions — and serves it to
 * Dom0's tools over a Unix socket (and in process, see connectLocal) and to each guest over
 * the shared ring page that XS_INTRODUCE names, waking it through an interdomain event
 * channel. It implements every request of xs_wire.h with xenstored's payloads and errors,
 * transactions (EAGAIN on conflict), watches (with the initial event, permission
 * filtering and @introduceDomain / @releaseDomain), per-domain quotas, and the removal of a
 * dead domain's nodes.
 *
 * What differs from C xenstored 4.17:
 * - no TDB file, no live update, no trace file: CONTROL log/print go to the log callback,
 *   and CONTROL knows check, log, print, quota and help only;
 * - no memory quota, write rate limiting or watch-event timeouts;
 * - transactions read a true snapshot (4.17 reads untouched nodes from the live store);
 * - quotas are "at most N" (4.17 admits N + 1 watches and transactions);
 * - a grant to a domain counts on nodes written strictly after the domain appeared
 *   (4.17's `<=` also lets through a node written just before);
 * - Dom0 is served in process, not through a ring; only domid 0 is privileged (no
 *   --priv-domid); INTRODUCE refuses domid 0 and reserved domids;
 * - a domain named by SET_PERMS is taken to exist until domainsChanged() learns
 *   otherwise (xenstored asks the hypervisor at once);
 * - the ring's server_features are left as the guest's builder set them, as 4.17 does.
 */

import { XEN_EINVAL } from '../../abi/errno.js';
import { DOMID_FIRST_RESERVED } from '../../abi/xen.js';
import { rmNode } from './access.js';
import { DOM0, type DomainEntry } from './domains.js';
import { LocalClient } from './local.js';
import type { QuotaValues } from './quota.js';
import { RingConnection } from './ring.js';
import { SocketServer } from './socket.js';
import { SPECIAL_INTRODUCE, SPECIAL_RELEASE, XsState } from './state.js';
import { fireWatches } from './watches.js';
import { XenstoreError } from './wire.js';

export { LocalClient, type WatchListener } from './local.js';
export type { XsPerm } from './perms.js';
export { XS_PERM_NONE, XS_PERM_READ, XS_PERM_WRITE } from './perms.js';
export type { QuotaValues } from './quota.js';
export { XenstoreError } from './wire.js';

/** A domain's state as the hypervisor reports it (xc_domain_getinfo). */
export interface DomainState {
  /** Shut down or crashed (still there, not yet being destroyed). */
  readonly shutdown: boolean;
  /** Being destroyed. */
  readonly dying: boolean;
}

/** What xenstored needs from Dom0's libraries; the host implements it with hypercalls. */
export interface DomainAccess {
  /**
   * Maps the domain's xenstore page (struct xenstore_domain_interface) read-write. `gfn`
   * is what XS_INTRODUCE named (start_info's store_mfn / HVM_PARAM_STORE_PFN); Xen 4.17's
   * xenstored maps grant reference GNTTAB_RESERVED_XENSTORE instead, which is the same page.
   */
  mapRing(domid: number, gfn: number): Promise<Uint8Array>;
  unmapRing(domid: number, page: Uint8Array): void | Promise<void>;
  /** Binds an interdomain event channel to the domain's `remotePort`; returns our port. */
  bindInterdomain(domid: number, remotePort: number): Promise<number>;
  unbind(localPort: number): void | Promise<void>;
  notify(localPort: number): void;
  /** The domain's state, or undefined if it no longer exists. */
  domainState(domid: number): Promise<DomainState | undefined>;
}

export interface XenstoredOptions {
  log(line: string): void;
  domains: DomainAccess;
  /** Quota overrides (xenstored's command-line options). */
  quota?: Partial<QuotaValues>;
}

export class Xenstored {
  /** The daemon's insides, for tests and diagnostics. */
  readonly state: XsState;
  private readonly domains: DomainAccess;
  private readonly sockets: SocketServer[] = [];
  private readonly introducing = new Map<number, Promise<void>>();

  constructor(options: XenstoredOptions) {
    this.state = new XsState(options.log, options.quota ?? {});
    this.domains = options.domains;
    this.state.domainControl = {
      introduce: (domid, gfn, port) => this.introduce(domid, gfn, port),
      release: (domid) => this.release(domid),
    };
  }

  /**
   * Starts serving a domain's ring (also XS_INTRODUCE). Again for an introduced domain, it
   * rebinds the event channel and resets the connection, as xenstored does.
   */
  async introduce(domid: number, gfn: number, port: number): Promise<void> {
    // One introduction of a domain at a time: a second waits for the first to settle.
    const before = this.introducing.get(domid) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.doIntroduce(domid, gfn, port));
    this.introducing.set(domid, run);
    try {
      await run;
    } finally {
      if (this.introducing.get(domid) === run) this.introducing.delete(domid);
    }
  }

  private async doIntroduce(domid: number, gfn: number, port: number): Promise<void> {
    const { state } = this;
    // Dom0 is served in process; reserved domids (DOMID_SELF…) have no ring.
    if (domid === DOM0 || domid >= DOMID_FIRST_RESERVED) {
      throw new XenstoreError(XEN_EINVAL, `cannot introduce domain ${domid}`);
    }
    const d = state.domains.known(domid);
    const first = !d.introduced;
    try {
      if (first) {
        const page = await this.domains.mapRing(domid, gfn);
        let localPort: number | undefined;
        try {
          localPort = await this.domains.bindInterdomain(domid, port);
          d.conn = new RingConnection(state, domid, page, () => this.kick(d));
        } catch (e) {
          if (localPort !== undefined) await this.domains.unbind(localPort);
          await this.domains.unmapRing(domid, page);
          throw e;
        }
        d.page = page;
        d.localPort = localPort;
        d.introduced = true;
        d.shutdown = false;
        state.domains.adopt(d);
      } else {
        const old = d.localPort;
        d.localPort = undefined;
        if (old !== undefined) await this.domains.unbind(old);
        d.localPort = await this.domains.bindInterdomain(domid, port);
      }
    } catch (e) {
      if (e instanceof XenstoreError) throw e;
      throw new XenstoreError(XEN_EINVAL, `introducing domain ${domid}`, { cause: e });
    }
    const ring = d.conn as RingConnection;
    ring.resetWatchesAndTransactions();
    ring.resetRing();
    if (ring.reconnect()) this.kick(d);
    state.log(`xenstored: introduced domain ${domid} (port ${d.localPort})`);
    if (first) fireWatches(state, { name: SPECIAL_INTRODUCE, exact: true });
  }

  /** Stops serving a domain (also XS_RELEASE): its nodes go and @releaseDomain fires. */
  release(domid: number): void {
    const d = this.state.domains.get(domid);
    if (d && domid !== DOM0) this.destroyDomain(d);
  }

  /** The domain's event channel fired (Dom0's evtchn device reported `localPort`). */
  eventFired(localPort: number): void {
    const d = this.state.domains.byPort(localPort);
    if (d?.conn instanceof RingConnection) d.conn.poll();
  }

  /**
   * VIRQ_DOM_EXC fired: a domain shut down, crashed or died (check_domains). A shutdown
   * fires @releaseDomain once (until RESUME); a dying or vanished domain is released.
   */
  async domainsChanged(): Promise<void> {
    const entries = this.state.domains.all();
    const infos = await Promise.all(entries.map((d) => this.domains.domainState(d.domid)));
    let notify = false;
    entries.forEach((d, i) => {
      const info = infos[i];
      if (this.state.domains.get(d.domid) !== d) return; // released meanwhile
      if (!d.introduced) {
        if (!info) this.destroyDomain(d);
        return;
      }
      if (info?.shutdown && !d.shutdown) {
        d.shutdown = true;
        notify = true;
      }
      if (!info || info.dying) this.destroyDomain(d);
    });
    if (notify) fireWatches(this.state, { name: SPECIAL_RELEASE, exact: true });
  }

  /** Listens on a Unix socket, privileged like /run/xenstored/socket. */
  async listen(socketPath: string): Promise<void> {
    this.sockets.push(await SocketServer.listen(this.state, socketPath));
  }

  /** A privileged in-process client for Dom0's toolstack. */
  connectLocal(label?: string): LocalClient {
    return new LocalClient(this.state, label);
  }

  /** Whether a domain is introduced (IS_DOMAIN_INTRODUCED). */
  isIntroduced(domid: number): boolean {
    return this.state.domains.get(domid)?.introduced === true;
  }

  /** Closes the sockets and every connection, releasing the domains' rings and ports. */
  async close(): Promise<void> {
    await Promise.all(this.sockets.splice(0).map((s) => s.close()));
    for (const d of this.state.domains.introduced()) await this.unbindAndUnmap(d);
    for (const c of [...this.state.connections]) c.destroy();
  }

  /** destroy_domain: remove its nodes and its grants to the special watches, then tell. */
  private destroyDomain(d: DomainEntry): void {
    const { state } = this;
    const wasIntroduced = d.introduced;
    d.conn?.destroy();
    d.conn = undefined;
    d.introduced = false;
    void this.unbindAndUnmap(d);
    this.removeOwnedNodes(d.domid);
    for (const [name, perms] of state.specialPerms) {
      const owner = perms[0]!.id === d.domid ? [{ ...perms[0]!, id: DOM0 }] : [perms[0]!];
      state.specialPerms.set(name, [...owner, ...perms.slice(1).filter((p) => p.id !== d.domid)]);
    }
    state.domains.forget(d.domid);
    if (wasIntroduced) {
      state.log(`xenstored: released domain ${d.domid}`);
      fireWatches(state, { name: SPECIAL_RELEASE, exact: true });
    }
  }

  /** Removes every node the domain owns, with its subtree (domain_tree_remove). */
  private removeOwnedNodes(domid: number): void {
    const { state } = this;
    const ctx = { state, tx: undefined, view: state.store };
    const doomed: string[] = [];
    const walk = (name: string): void => {
      const node = state.store.read(name);
      if (!node) return;
      if (node.perms[0]?.id === domid && name !== '/') doomed.push(name);
      else for (const c of node.children) walk(name === '/' ? `/${c}` : `${name}/${c}`);
    };
    walk('/');
    for (const name of doomed) if (state.store.has(name)) rmNode(ctx, name);
  }

  private async unbindAndUnmap(d: DomainEntry): Promise<void> {
    const { localPort, page } = d;
    d.localPort = undefined;
    d.page = undefined;
    try {
      if (localPort !== undefined) await this.domains.unbind(localPort);
      if (page) await this.domains.unmapRing(d.domid, page);
    } catch (e) {
      this.state.log(`xenstored: releasing domain ${d.domid}: ${(e as Error).message}`);
    }
  }

  private kick(d: DomainEntry): void {
    if (d.localPort !== undefined) this.domains.notify(d.localPort);
  }
}
