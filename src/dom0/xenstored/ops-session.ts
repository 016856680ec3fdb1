/**
 * The requests on a connection's own state: WATCH, UNWATCH, TRANSACTION_START,
 * TRANSACTION_END and RESET_WATCHES.
 */

import {
  XEN_E2BIG,
  XEN_EBUSY,
  XEN_EEXIST,
  XEN_EINVAL,
  XEN_ENOENT,
  XEN_ENOSPC,
} from '../../abi/errno.js';
import { XENSTORE_REL_PATH_MAX } from '../../abi/io/xs_wire.js';
import type { OpContext } from './access.js';
import { canonicalize, isValidNodename } from './paths.js';
import { Transaction } from './transaction.js';
import { eventPath, fireWatches } from './watches.js';
import { fail, onearg, splitStrings, strings } from './wire.js';

const OK = strings('OK');

/**
 * WATCH "<path>\0<token>\0": acknowledged, then fired once at once with the path as
 * given. The node need not exist. `after` runs once the ack is sent (the initial event
 * follows the ack, as in xenstored).
 */
export function doWatch(ctx: OpContext, payload: Uint8Array): { reply: Uint8Array; after(): void } {
  const { conn, state } = ctx;
  const args = splitStrings(payload);
  if (args.length !== 2) fail(XEN_EINVAL);
  const [path, token] = args as [string, string];
  let node: string;
  let relative = false;
  if (path.startsWith('@')) {
    if (path.length > XENSTORE_REL_PATH_MAX) fail(XEN_EINVAL);
    node = path;
  } else {
    relative = !path.startsWith('/');
    node = canonicalize(conn.implicitPath, path);
    if (!isValidNodename(node, state.quota.values.pathMax)) fail(XEN_EINVAL);
  }
  if (conn.watches.some((w) => w.node === node && w.token === token)) fail(XEN_EEXIST);
  if (!state.quota.allows(conn.privileged, 'watches', conn.watches.length)) fail(XEN_E2BIG);
  const watch = { node, token, relative };
  conn.watches.push(watch);
  return { reply: OK, after: () => conn.sendEvent(eventPath(conn, watch, node), token) };
}

/** UNWATCH "<path>\0<token>\0": ENOENT when no such watch. */
export function doUnwatch(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const { conn } = ctx;
  const args = splitStrings(payload);
  if (args.length !== 2) fail(XEN_EINVAL);
  const [path, token] = args as [string, string];
  const node = canonicalize(conn.implicitPath, path);
  const i = conn.watches.findIndex((w) => w.node === node && w.token === token);
  if (i < 0) fail(XEN_ENOENT);
  conn.watches.splice(i, 1);
  return OK;
}

/** TRANSACTION_START: replies the new id in decimal. No nesting (EBUSY). */
export function doTransactionStart(ctx: OpContext): Uint8Array {
  const { conn, state } = ctx;
  if (ctx.tx) fail(XEN_EBUSY);
  if (!state.quota.allows(conn.privileged, 'transactions', conn.transactions.size)) {
    fail(XEN_ENOSPC);
  }
  const id = conn.allocTransactionId();
  const maxNodes = conn.privileged ? Infinity : state.quota.values.transactionNodes;
  conn.transactions.set(id, new Transaction(id, state.store, maxNodes));
  return strings(String(id));
}

/**
 * TRANSACTION_END "T\0" commits (EAGAIN on a conflict), "F\0" discards. Either way the
 * transaction is over.
 */
export function doTransactionEnd(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const { conn, state, tx } = ctx;
  const arg = onearg(payload);
  if (arg !== 'T' && arg !== 'F') fail(XEN_EINVAL);
  if (!tx) fail(XEN_ENOENT);
  conn.transactions.delete(tx.id);
  if (arg === 'F') {
    tx.close();
    return OK;
  }
  try {
    const privileged = (domid: number) => domid === 0 || conn.privileged;
    const events = tx.commit(
      (domid, count) => privileged(domid) || state.quota.allows(false, 'nodes', count, 0),
    );
    for (const e of events)
      fireWatches(state, { name: e.name, exact: e.exact, oldPerms: e.oldPerms });
  } finally {
    tx.close();
  }
  return OK;
}

/** RESET_WATCHES: drops all the connection's watches and transactions. */
export function doResetWatches(ctx: OpContext): Uint8Array {
  ctx.conn.resetWatchesAndTransactions();
  return OK;
}
