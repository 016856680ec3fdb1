/**
 * The request table (wire_funcs in xenstored_core.c) and the one place a request is
 * handled: unknown types get ENOSYS, privileged ones from a domain EACCES, a tx_id that
 * names no open transaction ENOENT (except WATCH and UNWATCH, which ignore it). A reply
 * keeps the request's req_id and tx_id; an error reply is XS_ERROR with the errno's name.
 */

import { XEN_EACCES, XEN_EINVAL, XEN_ENOENT, XEN_ENOSYS } from '../../abi/errno.js';
import {
  XS_CONTROL,
  XS_DIRECTORY,
  XS_DIRECTORY_PART,
  XS_GET_DOMAIN_PATH,
  XS_GET_PERMS,
  XS_INTRODUCE,
  XS_IS_DOMAIN_INTRODUCED,
  XS_MKDIR,
  XS_READ,
  XS_RELEASE,
  XS_RESET_WATCHES,
  XS_RESUME,
  XS_RM,
  XS_SET_PERMS,
  XS_SET_TARGET,
  XS_TRANSACTION_END,
  XS_TRANSACTION_START,
  XS_TYPE_NAMES,
  XS_UNWATCH,
  XS_WATCH,
  XS_WRITE,
} from '../../abi/io/xs_wire.js';
import { makeContext, type OpContext } from './access.js';
import type { Connection } from './connection.js';
import {
  doControl,
  doGetDomainPath,
  doIntroduce,
  doIsDomainIntroduced,
  doRelease,
  doResume,
  doSetTarget,
} from './ops-domain.js';
import {
  doDirectory,
  doDirectoryPart,
  doGetPerms,
  doMkdir,
  doRead,
  doRm,
  doSetPerms,
  doWrite,
} from './ops-node.js';
import {
  doResetWatches,
  doTransactionEnd,
  doTransactionStart,
  doUnwatch,
  doWatch,
} from './ops-session.js';
import { XenstoreError, type XsMessage } from './wire.js';

/** A handler's answer: the reply payload, possibly with something to do after sending it. */
type Answer = Uint8Array | { reply: Uint8Array; after(): void };
type Handler = (ctx: OpContext, payload: Uint8Array) => Answer | Promise<Answer>;

interface Op {
  readonly handler: Handler;
  /** Dom0 only (XS_FLAG_PRIV). */
  readonly priv?: boolean;
  /** The tx_id is not looked up (XS_FLAG_NOTID). */
  readonly notid?: boolean;
}

const OPS: Readonly<Record<number, Op>> = {
  [XS_CONTROL]: { handler: doControl, priv: true },
  [XS_DIRECTORY]: { handler: doDirectory },
  [XS_READ]: { handler: doRead },
  [XS_GET_PERMS]: { handler: doGetPerms },
  [XS_WATCH]: { handler: doWatch, notid: true },
  [XS_UNWATCH]: { handler: doUnwatch, notid: true },
  [XS_TRANSACTION_START]: { handler: doTransactionStart },
  [XS_TRANSACTION_END]: { handler: doTransactionEnd },
  [XS_INTRODUCE]: { handler: doIntroduce, priv: true },
  [XS_RELEASE]: { handler: doRelease, priv: true },
  [XS_GET_DOMAIN_PATH]: { handler: doGetDomainPath },
  [XS_WRITE]: { handler: doWrite },
  [XS_MKDIR]: { handler: doMkdir },
  [XS_RM]: { handler: doRm },
  [XS_SET_PERMS]: { handler: doSetPerms },
  [XS_IS_DOMAIN_INTRODUCED]: { handler: doIsDomainIntroduced, priv: true },
  [XS_RESUME]: { handler: doResume, priv: true },
  [XS_SET_TARGET]: { handler: doSetTarget, priv: true },
  [XS_RESET_WATCHES]: { handler: doResetWatches },
  [XS_DIRECTORY_PART]: { handler: doDirectoryPart },
};

/**
 * Handles one request of `conn` and sends its reply. Returns a promise when the reply
 * has to wait (the connection holds its next requests until it settles).
 */
export function processMessage(conn: Connection, msg: XsMessage): Promise<void> | undefined {
  const { state } = conn;
  if (state.trace) {
    state.log(
      `xenstored: ${conn.label} IN ${XS_TYPE_NAMES[msg.type] ?? msg.type} req ${msg.req_id}`,
    );
  }
  const op = OPS[msg.type];
  if (!op) {
    state.log(`xenstored: ${conn.label}: unknown operation ${msg.type}`);
    conn.replyError(msg, XEN_ENOSYS);
    return undefined;
  }
  if (op.priv && !conn.privileged) {
    conn.replyError(msg, XEN_EACCES);
    return undefined;
  }
  let tx: ReturnType<typeof conn.transactions.get>;
  if (!op.notid && msg.tx_id !== 0) {
    tx = conn.transactions.get(msg.tx_id);
    if (!tx) {
      conn.replyError(msg, XEN_ENOENT);
      return undefined;
    }
  }
  const ctx = makeContext(state, conn, tx);
  try {
    const answer = op.handler(ctx, msg.payload);
    if (answer instanceof Promise) {
      return answer.then(
        (a) => send(conn, msg, a),
        (e: unknown) => sendFailure(conn, msg, e),
      );
    }
    send(conn, msg, answer);
  } catch (e) {
    sendFailure(conn, msg, e);
  }
  return undefined;
}

function send(conn: Connection, msg: XsMessage, answer: Answer): void {
  if (answer instanceof Uint8Array) return conn.reply(msg, msg.type, answer);
  conn.reply(msg, msg.type, answer.reply);
  answer.after();
}

function sendFailure(conn: Connection, msg: XsMessage, e: unknown): void {
  if (e instanceof XenstoreError) return conn.replyError(msg, e.errno);
  // Not the client's fault: say so in the log, answer as xenstored would to a failed library call.
  conn.state.log(
    `xenstored: ${conn.label}: ${XS_TYPE_NAMES[msg.type]} failed: ${e instanceof Error ? e.message : String(e)}`,
  );
  conn.replyError(msg, XEN_EINVAL);
}
