/**
 * A client of xenstored: a socket, an in-process Dom0 client, or a domain's ring. It owns
 * its watches and transactions, parses its incoming byte stream into requests, handles
 * them one at a time in order (a request that waits on Dom0's libraries, XS_INTRODUCE,
 * holds back the ones behind it), and queues replies and watch events.
 *
 * A connection that breaks the protocol (a payload over XENSTORE_PAYLOAD_MAX, bad ring
 * indexes) is ignored from then on, as xenstored's ignore_connection: its watches and
 * transactions go, a socket is closed, a ring gets the error in its page. Nothing else is
 * affected.
 */

import { XEN_E2BIG } from '../../abi/errno.js';
import { XENSTORE_ERROR_PROTO, XENSTORE_PAYLOAD_MAX, XS_TYPE_NAMES } from '../../abi/io/xs_wire.js';
import { processMessage } from './operations.js';
import { domainPath } from './paths.js';
import type { Requester } from './perms.js';
import type { XsState } from './state.js';
import type { Transaction } from './transaction.js';
import type { Watch } from './watches.js';
import {
  encodeError,
  encodeMessage,
  encodeWatchEvent,
  MessageParser,
  strings,
  type XsMessage,
} from './wire.js';

/** A message waiting to be written out. */
export interface Outgoing {
  readonly bytes: Uint8Array;
  readonly event: boolean;
}

export abstract class Connection implements Requester {
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  /** SET_TARGET: this domain may act on `target`'s nodes as if it owned them. */
  target: Connection | undefined;
  /** Broke the protocol: no more input is read and nothing more is sent. */
  ignored = false;
  closed = false;
  private nextTransactionId = 1;
  private readonly parser = new MessageParser();
  private readonly pending: XsMessage[] = [];
  private busy = false;

  /**
   * @param id the domid requests act as (0 for sockets and Dom0's own clients)
   * @param privileged whether it may do anything (Dom0), unbound by permissions and quotas
   * @param label names the connection in log lines
   */
  constructor(
    readonly state: XsState,
    readonly id: number,
    readonly privileged: boolean,
    readonly label: string,
  ) {
    state.connections.add(this);
  }

  get targetId(): number | undefined {
    return this.target?.id;
  }

  /** Where relative paths start: /local/domain/<id> (/local/domain/0 for sockets). */
  get implicitPath(): string {
    return domainPath(this.id);
  }

  /** Writes bytes to the client (or queues them when the transport is full). */
  protected abstract transmit(out: Outgoing): void;

  /** Drops the transport: when the connection is ignored (with the XENSTORE_ERROR_*) and when destroyed. */
  protected abstract shutdown(error: number | undefined): void;

  /** Feeds bytes received from the client. */
  receive(data: Uint8Array): void {
    if (this.ignored || this.closed) return;
    const msgs = this.parser.push(data);
    this.pending.push(...msgs);
    if (this.parser.error) {
      // Requests completed before the bad header are still answered, as xenstored does.
      this.processPending();
      this.ignore(XENSTORE_ERROR_PROTO, `payload of ${this.parser.badLength} bytes`);
      return;
    }
    this.processPending();
  }

  /** Bytes the parser needs to finish the current message (a ring reads no more than this). */
  inputNeeded(): number {
    return this.parser.needed();
  }

  /** Whether no request is waiting to be handled (a ring reads the next one only then). */
  get idle(): boolean {
    return !this.busy && this.pending.length === 0;
  }

  /** Sends a reply to `req`. Over XENSTORE_PAYLOAD_MAX it becomes E2BIG, as send_reply. */
  reply(req: XsMessage, type: number, payload: Uint8Array): void {
    if (payload.length > XENSTORE_PAYLOAD_MAX) return this.replyError(req, XEN_E2BIG);
    if (this.state.trace) {
      this.state.log(`xenstored: ${this.label} OUT ${XS_TYPE_NAMES[type] ?? type}`);
    }
    this.send({ bytes: encodeMessage(type, req.req_id, req.tx_id, payload), event: false });
  }

  replyError(req: XsMessage, errno: number): void {
    this.send({ bytes: encodeError(req.req_id, req.tx_id, errno), event: false });
  }

  /** The "OK" acknowledgement. */
  ack(req: XsMessage): void {
    this.reply(req, req.type, strings('OK'));
  }

  /** Queues a watch event; an event too long for one message is dropped (send_event). */
  sendEvent(path: string, token: string): void {
    if (path.length + token.length + 2 > XENSTORE_PAYLOAD_MAX) return;
    this.send({ bytes: encodeWatchEvent(path, token), event: true });
  }

  /** A fresh transaction id: never 0, never one in use. */
  allocTransactionId(): number {
    for (;;) {
      const id = this.nextTransactionId;
      this.nextTransactionId = (this.nextTransactionId + 1) >>> 0;
      if (id !== 0 && !this.transactions.has(id)) return id;
    }
  }

  /** Drops every watch and open transaction (RESET_WATCHES, teardown). */
  resetWatchesAndTransactions(): void {
    this.watches.length = 0;
    for (const tx of this.transactions.values()) tx.close();
    this.transactions.clear();
  }

  /** Stops serving a connection that broke the protocol (ignore_connection). */
  ignore(error: number, why: string): void {
    if (this.ignored || this.closed) return;
    this.state.log(`xenstored: ${this.label}: ${why}, connection ignored`);
    this.ignored = true;
    this.resetWatchesAndTransactions();
    this.pending.length = 0;
    this.shutdown(error);
  }

  /** Removes the connection for good (socket closed, domain released). */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.resetWatchesAndTransactions();
    this.pending.length = 0;
    this.state.connections.delete(this);
    for (const c of this.state.connections) if (c.target === this) c.target = undefined;
    this.shutdown(undefined);
  }

  private send(out: Outgoing): void {
    if (this.ignored || this.closed) return;
    this.transmit(out);
  }

  private processPending(): void {
    while (!this.busy && !this.ignored && !this.closed) {
      const msg = this.pending.shift();
      if (!msg) return;
      const done = processMessage(this, msg);
      if (done) {
        this.busy = true;
        void done.finally(() => {
          this.busy = false;
          this.processPending();
          this.afterAsync();
        });
      }
    }
  }

  /** A delayed request finished; a ring uses this to look for more input. */
  protected afterAsync(): void {}
}
