/**
 * Transactions (xenstored_transaction.c): a view of the store as it was when the
 * transaction started, plus the transaction's own changes.
 *
 * Every name the transaction touches is recorded with the generation it had in the
 * snapshot (NO_GENERATION if absent). TRANSACTION_END "T" commits only when each recorded
 * name still has that generation in the store — otherwise someone else changed what the
 * transaction read or wrote, and the answer is EAGAIN. Names changed by others but never
 * touched by the transaction do not conflict (as xenstored 4.17). Watch events of the
 * transaction's changes are queued and fire on commit.
 */

import { XEN_EAGAIN, XEN_ENOSPC } from '../../abi/errno.js';
import type { XsPerm } from './perms.js';
import {
  type MaybeNode,
  NO_GENERATION,
  type Node,
  type NodeView,
  ownerOf,
  type Snapshot,
  type Store,
} from './tree.js';
import { fail } from './wire.js';

/** One name the transaction touched. */
interface Accessed {
  /** The record as the transaction sees it now (undefined: absent or removed). */
  node: MaybeNode;
  /** The generation in the snapshot, compared with the store's at commit. */
  readonly generation: number;
  /** The permissions it had in the snapshot (a watcher that could read it then hears of it). */
  readonly oldPerms: readonly XsPerm[] | undefined;
  modified: boolean;
  /** A watch event is due on commit; `exact` when only watches on this very name fire. */
  fire: { exact: boolean } | undefined;
}

/** A watch event a commit makes due. */
export interface CommitEvent {
  readonly name: string;
  readonly exact: boolean;
  readonly oldPerms: readonly XsPerm[] | undefined;
}

export class Transaction implements NodeView, Snapshot {
  /** Touched names in order of first touch, which is the order events fire in on commit. */
  private readonly accessed = new Map<string, Accessed>();
  /** Records the store replaced after the start that this transaction had not touched yet. */
  private readonly preserved = new Map<string, MaybeNode>();
  private readonly delta = new Map<number, number>();

  constructor(
    readonly id: number,
    private readonly store: Store,
    /** Most names one transaction may touch (the transaction-nodes quota), or Infinity. */
    private readonly maxNodes: number,
  ) {
    store.nextGeneration();
    store.addSnapshot(this);
  }

  preserve(name: string, old: MaybeNode): void {
    if (!this.accessed.has(name) && !this.preserved.has(name)) this.preserved.set(name, old);
  }

  read(name: string): MaybeNode {
    return this.touch(name).node;
  }

  write(name: string, node: Omit<Node, 'generation'>): Node {
    const a = this.touch(name);
    const stored = { ...node, generation: this.store.nextGeneration() };
    this.account(a.node, stored);
    a.node = stored;
    a.modified = true;
    return stored;
  }

  remove(name: string): void {
    const a = this.touch(name);
    this.account(a.node, undefined);
    a.node = undefined;
    a.modified = true;
  }

  entries(domid: number): number {
    return this.store.entries(domid) + (this.delta.get(domid) ?? 0);
  }

  /** Queues the watch event for a change of `name`; a non-exact event wins over an exact one. */
  queueWatch(name: string, exact: boolean): void {
    const a = this.touch(name);
    if (!a.fire) a.fire = { exact };
    else if (!exact) a.fire.exact = false;
  }

  /**
   * Commits into the store. `checkQuota(domid, count)` vets the final node count of each
   * domain whose count grows (ENOSPC); then EAGAIN if a touched name changed meanwhile.
   * Returns the watch events now due, in order.
   */
  commit(checkQuota: (domid: number, count: number) => boolean): CommitEvent[] {
    const final = new Map<number, number>();
    const bump = (n: MaybeNode, d: number) => {
      if (n) final.set(ownerOf(n), (final.get(ownerOf(n)) ?? 0) + d);
    };
    for (const [name, a] of this.accessed) {
      if (!a.modified) continue;
      bump(this.store.read(name), -1);
      bump(a.node, +1);
    }
    for (const [domid, d] of final) {
      if (d > 0 && !checkQuota(domid, this.store.entries(domid) + d)) fail(XEN_ENOSPC);
    }
    // Quota first, conflicts second, as xenstored's do_transaction_end checks them.
    for (const [name, a] of this.accessed) {
      if ((this.store.read(name)?.generation ?? NO_GENERATION) !== a.generation) fail(XEN_EAGAIN);
    }
    this.close();
    const events: CommitEvent[] = [];
    for (const [name, a] of this.accessed) {
      if (a.modified) {
        if (a.node) this.store.put(name, { ...a.node, generation: this.store.nextGeneration() });
        else this.store.remove(name);
      }
      if (a.fire) events.push({ name, exact: a.fire.exact, oldPerms: a.oldPerms });
    }
    return events;
  }

  /** Ends the transaction without committing (also after commit). */
  close(): void {
    this.store.dropSnapshot(this);
    this.preserved.clear();
  }

  private touch(name: string): Accessed {
    const known = this.accessed.get(name);
    if (known) return known;
    if (this.accessed.size >= this.maxNodes) fail(XEN_ENOSPC, 'too many nodes in transaction');
    const node = this.preserved.has(name) ? this.preserved.get(name) : this.store.read(name);
    this.preserved.delete(name);
    const a: Accessed = {
      node,
      generation: node?.generation ?? NO_GENERATION,
      oldPerms: node?.perms,
      modified: false,
      fire: undefined,
    };
    this.accessed.set(name, a);
    return a;
  }

  private account(old: MaybeNode, next: MaybeNode): void {
    const bump = (n: MaybeNode, d: number) => {
      if (n) this.delta.set(ownerOf(n), (this.delta.get(ownerOf(n)) ?? 0) + d);
    };
    bump(old, -1);
    bump(next, +1);
  }
}
