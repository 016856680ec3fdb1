/**
 * Watches (xenstored_watch.c). A watch on a name fires for every change at or below it;
 * for a removal, every removed node fires the watches set exactly on it, so a watch below
 * the removed subtree's root hears about it with its own path. A connection only hears
 * of a change to a node it (or its parent) can read — judged with the permissions before
 * and after the change — and of @introduceDomain / @releaseDomain only when their
 * SET_PERMS grants it read. Events of a watch set with a relative path come back
 * relative to the connection's home.
 */

import type { Connection } from './connection.js';
import { isChild, parentOf } from './paths.js';
import { permForConn, type Requester, XS_PERM_READ, type XsPerm } from './perms.js';
import type { XsState } from './state.js';
import type { MaybeNode, Node } from './tree.js';

export interface Watch {
  /** Absolute name or @special. */
  readonly node: string;
  readonly token: string;
  /** Set with a relative path: events drop the connection's home prefix. */
  readonly relative: boolean;
}

/** A change to announce. */
export interface Change {
  /** The changed name, absolute or @special. */
  readonly name: string;
  /** Only watches on exactly this name fire (removed children, special events). */
  readonly exact: boolean;
  /** The record the change left (or removed); read from the store when not given. */
  readonly node?: MaybeNode;
  /** The node's parent when known (a removal walks it). */
  readonly parent?: MaybeNode;
  /** Permissions before the change (SET_PERMS, commits). */
  readonly oldPerms?: readonly XsPerm[] | undefined;
}

/** The path an event of `watch` carries for a change of `name` (get_watch_path). */
export function eventPath(conn: Connection, watch: Watch, name: string): string {
  if (!watch.relative) return name;
  const rest = name.slice(conn.implicitPath.length);
  return rest.startsWith('/') ? rest.slice(1) : rest;
}

/** Whether `who` can read a node with these permissions. */
export function canRead(state: XsState, who: Requester, node: Node): boolean {
  const honoured = (id: number) => state.domains.honoured(id, node.generation);
  return (permForConn(who, node.perms, honoured) & XS_PERM_READ) !== 0;
}

/** watch_permitted: the old permissions, the node or its parent must let `who` read. */
function permitted(state: XsState, who: Requester, change: Change): boolean {
  if (change.oldPerms && permForConn(who, change.oldPerms) & XS_PERM_READ) return true;
  const node = 'node' in change ? change.node : state.store.read(change.name);
  if (!node) return false;
  if (canRead(state, who, node)) return true;
  const parent = change.parent ?? state.store.read(parentOf(change.name));
  return parent !== undefined && canRead(state, who, parent);
}

/** Sends the events `change` causes to every connection watching it. */
export function fireWatches(state: XsState, change: Change): void {
  const special = change.name.startsWith('@');
  for (const conn of state.connections) {
    if (conn.ignored || conn.watches.length === 0) continue;
    if (special) {
      const perms = state.specialPerms.get(change.name);
      if (!perms || !(permForConn(conn, perms) & XS_PERM_READ)) continue;
    } else if (!permitted(state, conn, change)) continue;
    for (const w of conn.watches) {
      const hit = change.exact ? change.name === w.node : isChild(change.name, w.node);
      if (hit) conn.sendEvent(eventPath(conn, w, change.name), w.token);
    }
  }
}
