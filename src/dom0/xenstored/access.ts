/**
 * Reaching nodes on behalf of a connection (get_node, errno_from_parents, create_node and
 * rm_node in xenstored_core.c).
 *
 * A missing node answers ENOENT only if the nearest existing ancestor would grant the
 * access asked for, and EACCES otherwise, so that an unreadable directory does not leak
 * which names exist below it. A created node inherits the permissions of its parent, but
 * an unprivileged creator becomes its owner.
 */

import { XEN_EACCES, XEN_EINVAL, XEN_ENOENT, XEN_ENOSPC } from '../../abi/errno.js';
import type { Connection } from './connection.js';
import { basename, canonicalize, isValidNodename, parentOf } from './paths.js';
import { permForConn, type XsPerm } from './perms.js';
import type { XsState } from './state.js';
import type { Transaction } from './transaction.js';
import { type MaybeNode, type Node, type NodeView, nodeSize } from './tree.js';
import { type Change, fireWatches } from './watches.js';
import { fail } from './wire.js';

/** Where one request runs: its connection, and the store or its transaction. */
export interface OpContext {
  readonly state: XsState;
  readonly conn: Connection;
  readonly tx: Transaction | undefined;
  readonly view: NodeView;
}

export function makeContext(state: XsState, conn: Connection, tx: Transaction | undefined) {
  return { state, conn, tx, view: tx ?? state.store } satisfies OpContext;
}

/** Announces a change: at once, or on commit inside a transaction (fire_watches). */
export function fire(ctx: Pick<OpContext, 'state' | 'tx'>, change: Change): void {
  if (ctx.tx) ctx.tx.queueWatch(change.name, change.exact);
  else fireWatches(ctx.state, change);
}

/** XS_PERM_* bits the connection has on `node`. */
export function permOf(ctx: OpContext, node: Node): number {
  const honoured = (id: number) => ctx.state.domains.honoured(id, node.generation);
  return permForConn(ctx.conn, node.perms, honoured);
}

/**
 * Resolves `name` for an access needing `perm`: the canonical name and the node, or node
 * undefined when it does not exist but could be created. Throws EINVAL for a bad name and
 * EACCES when the access is denied.
 */
export function lookup(
  ctx: OpContext,
  name: string | undefined,
  perm: number,
): { name: string; node: MaybeNode } {
  if (name === undefined) fail(XEN_EINVAL);
  const canonical = canonicalize(ctx.conn.implicitPath, name);
  if (!isValidNodename(canonical, ctx.state.quota.values.pathMax)) fail(XEN_EINVAL);
  const node = ctx.view.read(canonical);
  if (node) {
    if ((permOf(ctx, node) & perm) !== perm) fail(XEN_EACCES);
    return { name: canonical, node };
  }
  // What do the parents say? Only someone they would let in may learn it is missing.
  let up = canonical;
  let ancestor: MaybeNode;
  do {
    up = parentOf(up);
    ancestor = ctx.view.read(up);
  } while (!ancestor && up !== '/');
  if (!ancestor || !(permOf(ctx, ancestor) & perm)) fail(XEN_EACCES);
  return { name: canonical, node: undefined };
}

/** Like lookup, but a missing node is ENOENT. */
export function getNode(ctx: OpContext, name: string | undefined, perm: number) {
  const found = lookup(ctx, name, perm);
  if (!found.node) fail(XEN_ENOENT);
  return { name: found.name, node: found.node };
}

/** ENOSPC unless an unprivileged connection may store a record this big. */
export function checkNodeSize(ctx: OpContext, node: Omit<Node, 'generation'>): void {
  // xenstored refuses a record of node-size bytes or more (data.dsize >= quota).
  if (!ctx.conn.privileged && nodeSize(node) >= ctx.state.quota.values.nodeSize) {
    fail(XEN_ENOSPC, 'node too big');
  }
}

/**
 * Creates `name` with `value`, and every missing ancestor with an empty value
 * (create_node). Quotas are checked before anything changes.
 */
export function createNode(ctx: OpContext, name: string, value: Uint8Array): Node {
  const missing = [name];
  let top = parentOf(name);
  let parent = ctx.view.read(top);
  while (!parent) {
    if (top === '/') fail(XEN_EINVAL, 'no root node');
    missing.push(top);
    top = parentOf(top);
    parent = ctx.view.read(top);
  }
  const { conn, state, view } = ctx;
  if (!state.quota.allows(conn.privileged, 'nodes', view.entries(conn.id), missing.length)) {
    fail(XEN_ENOSPC, 'too many nodes');
  }
  // Build top-down: each new node inherits the permissions of the one above it.
  const records: { name: string; node: Omit<Node, 'generation'> }[] = [];
  const above = { ...parent, children: [...parent.children, basename(missing.at(-1)!)] };
  records.push({ name: top, node: above });
  let perms: readonly XsPerm[] = parent.perms;
  for (let i = missing.length - 1; i >= 0; i--) {
    if (!conn.privileged) perms = [{ id: conn.id, perms: perms[0]!.perms }, ...perms.slice(1)];
    const next = missing[i - 1];
    records.push({
      name: missing[i]!,
      node: {
        value: i === 0 ? value : new Uint8Array(0),
        children: next === undefined ? [] : [basename(next)],
        perms,
      },
    });
  }
  for (const r of records) checkNodeSize(ctx, r.node);
  // Written bottom-up, as xenstored does (the new node gets the oldest generation).
  let created: Node | undefined;
  for (const r of records.reverse()) {
    const stored = view.write(r.name, r.node);
    created ??= stored;
  }
  return created!;
}

/**
 * Removes `name` and everything below it (rm_node). Each removed node fires the watches
 * set exactly on it, the removed subtree's root every watch at or above it. Children go
 * before their parents.
 */
export function rmNode(ctx: Pick<OpContext, 'state' | 'tx' | 'view'>, name: string): void {
  const parentName = parentOf(name);
  const parent = ctx.view.read(parentName);
  if (!parent) fail(XEN_EINVAL);
  const walk = (n: string, node: Node, above: Node): void => {
    for (const c of node.children) {
      const cn = n === '/' ? `/${c}` : `${n}/${c}`;
      const child = ctx.view.read(cn);
      if (child) walk(cn, child, node);
    }
    ctx.view.remove(n);
    fire(ctx, { name: n, exact: n !== name, node, parent: above });
  };
  const node = ctx.view.read(name);
  if (node) walk(name, node, parent);
  const leaf = basename(name);
  ctx.view.write(parentName, { ...parent, children: parent.children.filter((c) => c !== leaf) });
}
