/**
 * The node tree. Like xenstored's TDB it is a flat map from absolute name to record; a
 * record holds the value bytes, the names of its children (in the order they were
 * added, which is the order DIRECTORY returns), the permissions and a generation count.
 *
 * Records are immutable: a change stores a new record. That makes transaction snapshots
 * cheap: before a name changes, every open transaction that has not looked at it yet is
 * handed the old record (`Snapshot.preserve`), so it keeps seeing the store as it was when
 * the transaction started.
 *
 * The generation counter is global: every write gives the written record the next value,
 * so a record's generation says "changed since" — transactions detect conflicts with it
 * and DIRECTORY_PART returns it.
 */

import { XEN_EINVAL } from '../../abi/errno.js';
import { XS_PERM_NONE, type XsPerm } from './perms.js';
import { fail } from './wire.js';

export interface Node {
  readonly value: Uint8Array;
  readonly children: readonly string[];
  readonly perms: readonly XsPerm[];
  readonly generation: number;
}

/** What a name maps to in a view: a record, or undefined when absent. */
export type MaybeNode = Node | undefined;

/** The generation a missing node is checked with (NO_GENERATION). */
export const NO_GENERATION = -1;

/**
 * The size xenstored accounts a record at (struct xs_tdb_record_hdr: a 24-byte header,
 * 8 bytes per permission, the value, the NUL-terminated children): the node-size quota
 * applies to it.
 */
export function nodeSize(n: Omit<Node, 'generation'>): number {
  let children = 0;
  for (const c of n.children) children += c.length + 1;
  return 24 + 8 * n.perms.length + n.value.length + children;
}

/** Children as DIRECTORY sends them: each name followed by a NUL. */
export function childrenBytes(n: Node): Uint8Array {
  return Uint8Array.from(Buffer.from(n.children.map((c) => `${c}\0`).join(''), 'latin1'));
}

/** The owner of a node (its first permission entry). */
export function ownerOf(n: Node): number {
  return n.perms[0]?.id ?? 0;
}

/**
 * A place where nodes are read and written: the store itself, or a transaction over it.
 * Reads in a transaction are recorded for conflict detection; writes assign the next
 * generation.
 */
export interface NodeView {
  read(name: string): MaybeNode;
  write(name: string, node: Omit<Node, 'generation'>): Node;
  remove(name: string): void;
  /** Nodes owned by `domid` as this view sees them (the "nodes" quota counts these). */
  entries(domid: number): number;
}

/** An open transaction, told about changes so it can keep its snapshot. */
export interface Snapshot {
  preserve(name: string, old: MaybeNode): void;
}

export class Store implements NodeView {
  private readonly nodes = new Map<string, Node>();
  private readonly owned = new Map<number, number>();
  private readonly snapshots = new Set<Snapshot>();
  private gen = 0;

  /** A store holding what C xenstored starts with: /, /tool and /tool/xenstored, owned by dom0. */
  constructor() {
    const perms: XsPerm[] = [{ id: 0, perms: XS_PERM_NONE }];
    const empty = new Uint8Array(0);
    this.write('/', { value: empty, children: ['tool'], perms });
    this.write('/tool', { value: empty, children: ['xenstored'], perms });
    this.write('/tool/xenstored', { value: empty, children: [], perms });
  }

  /** Takes the next generation value. */
  nextGeneration(): number {
    return ++this.gen;
  }

  get generation(): number {
    return this.gen;
  }

  read(name: string): MaybeNode {
    return this.nodes.get(name);
  }

  has(name: string): boolean {
    return this.nodes.has(name);
  }

  write(name: string, node: Omit<Node, 'generation'>): Node {
    return this.put(name, { ...node, generation: this.nextGeneration() });
  }

  /** Stores a record as given, generation included (transaction commit). */
  put(name: string, node: Node): Node {
    if (node.perms.length === 0) fail(XEN_EINVAL, `node ${name} without permissions`);
    const old = this.nodes.get(name);
    this.changing(name, old);
    this.nodes.set(name, node);
    this.count(old, -1);
    this.count(node, +1);
    return node;
  }

  remove(name: string): void {
    const old = this.nodes.get(name);
    if (!old) return;
    this.changing(name, old);
    this.nodes.delete(name);
    this.count(old, -1);
  }

  entries(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  /** Number of nodes in the store. */
  get size(): number {
    return this.nodes.size;
  }

  /** Every name, for walks that must not see their own changes. */
  names(): string[] {
    return [...this.nodes.keys()];
  }

  addSnapshot(s: Snapshot): void {
    this.snapshots.add(s);
  }

  dropSnapshot(s: Snapshot): void {
    this.snapshots.delete(s);
  }

  private changing(name: string, old: MaybeNode): void {
    for (const s of this.snapshots) s.preserve(name, old);
  }

  private count(n: MaybeNode, delta: number): void {
    if (!n) return;
    const owner = ownerOf(n);
    const v = (this.owned.get(owner) ?? 0) + delta;
    if (v === 0) this.owned.delete(owner);
    else this.owned.set(owner, v);
  }
}
