/**
 * Dom0's in-process xenstore client: the toolstack runs in the same process as xenstored
 * and talks to it through this, with the same messages a socket client sends, without
 * the socket. Methods resolve with the reply, or reject with a XenstoreError carrying the
 * errno xenstored answered.
 */

import { XEN_E2BIG, XEN_EAGAIN } from '../../abi/errno.js';
import {
  XENSTORE_PAYLOAD_MAX,
  XS_CONTROL,
  XS_DIRECTORY,
  XS_ERROR,
  XS_GET_DOMAIN_PATH,
  XS_GET_PERMS,
  XS_INTRODUCE,
  XS_IS_DOMAIN_INTRODUCED,
  XS_MKDIR,
  XS_READ,
  XS_RELEASE,
  XS_RESUME,
  XS_RM,
  XS_SET_PERMS,
  XS_SET_TARGET,
  XS_TRANSACTION_END,
  XS_TRANSACTION_START,
  XS_TYPE_NAMES,
  XS_UNWATCH,
  XS_WATCH,
  XS_WATCH_EVENT,
  XS_WRITE,
  xsErrorErrno,
} from '../../abi/io/xs_wire.js';
import { Connection, type Outgoing } from './connection.js';
import { parsePerms, permToString, type XsPerm } from './perms.js';
import type { XsState } from './state.js';
import {
  concatBytes,
  encodeMessage,
  fromLatin1,
  latin1,
  MessageParser,
  splitStrings,
  strings,
  XenstoreError,
  type XsMessage,
} from './wire.js';

/** A watch event: the changed path (relative if the watch was) and the watch's token. */
export type WatchListener = (path: string, token: string) => void;

class LocalConnection extends Connection {
  /** Splits what xenstored sends back into messages. */
  private readonly replies = new MessageParser();

  constructor(
    state: XsState,
    label: string,
    private readonly deliver: (msg: XsMessage) => void,
    private readonly onShutdown: () => void,
  ) {
    super(state, 0, true, label);
  }

  protected transmit(out: Outgoing): void {
    for (const msg of this.replies.push(out.bytes)) this.deliver(msg);
  }

  protected shutdown(): void {
    this.onShutdown();
  }
}

export class LocalClient {
  private readonly conn: LocalConnection;
  private readonly waiting = new Map<
    number,
    { resolve(msg: XsMessage): void; reject(e: Error): void }
  >();
  private readonly listeners = new Map<string, Set<WatchListener>>();
  private nextReqId = 1;

  constructor(state: XsState, label = 'dom0 local') {
    this.conn = new LocalConnection(
      state,
      label,
      (msg) => this.onMessage(msg),
      () => this.failPending(),
    );
  }

  /** Sends a request of any type; resolves with the reply payload. */
  request(type: number, payload: Uint8Array, tx = 0): Promise<Uint8Array> {
    if (this.conn.closed || this.conn.ignored) {
      return Promise.reject(new Error('xenstore client closed'));
    }
    // libxenstore refuses these itself rather than have xenstored drop the connection.
    if (payload.length > XENSTORE_PAYLOAD_MAX) return Promise.reject(new XenstoreError(XEN_E2BIG));
    const req_id = this.nextReqId++ >>> 0;
    const reply = new Promise<XsMessage>((resolve, reject) =>
      this.waiting.set(req_id, { resolve, reject }),
    );
    this.conn.receive(encodeMessage(type, req_id, tx, payload));
    return reply.then((msg) => {
      if (msg.type !== XS_ERROR) return msg.payload;
      const code = splitStrings(msg.payload)[0] ?? 'EINVAL';
      throw new XenstoreError(xsErrorErrno(code), `${XS_TYPE_NAMES[type] ?? type}: ${code}`);
    });
  }

  async readBytes(path: string, tx = 0): Promise<Uint8Array> {
    return this.request(XS_READ, strings(path), tx);
  }

  /** The value as UTF-8 text. */
  async read(path: string, tx = 0): Promise<string> {
    return Buffer.from(await this.readBytes(path, tx)).toString('utf8');
  }

  /** The value, or undefined when the node does not exist. */
  async tryRead(path: string, tx = 0): Promise<string | undefined> {
    return this.read(path, tx).catch((e: unknown) => {
      if (e instanceof XenstoreError && e.code === 'ENOENT') return undefined;
      throw e;
    });
  }

  async write(path: string, value: string | Uint8Array, tx = 0): Promise<void> {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    await this.request(XS_WRITE, concatBytes([latin1(`${path}\0`), bytes]), tx);
  }

  async mkdir(path: string, tx = 0): Promise<void> {
    await this.request(XS_MKDIR, strings(path), tx);
  }

  async rm(path: string, tx = 0): Promise<void> {
    await this.request(XS_RM, strings(path), tx);
  }

  async directory(path: string, tx = 0): Promise<string[]> {
    return splitStrings(await this.request(XS_DIRECTORY, strings(path), tx));
  }

  async getPerms(path: string, tx = 0): Promise<XsPerm[]> {
    return parsePerms(splitStrings(await this.request(XS_GET_PERMS, strings(path), tx)));
  }

  /** Sets permissions, given as entries or as text ("b5", "r0"). */
  async setPerms(path: string, perms: readonly (XsPerm | string)[], tx = 0): Promise<void> {
    const text = perms.map((p) => (typeof p === 'string' ? p : permToString(p)));
    await this.request(XS_SET_PERMS, strings(path, ...text), tx);
  }

  /**
   * Adds a watch; `listener` hears every event carrying `token`, the first at once. Events
   * are routed by token, so give each watch its own.
   */
  async watch(path: string, token: string, listener: WatchListener): Promise<void> {
    const set = this.listeners.get(token) ?? new Set<WatchListener>();
    this.listeners.set(token, set);
    set.add(listener);
    try {
      await this.request(XS_WATCH, strings(path, token));
    } catch (e) {
      set.delete(listener);
      throw e;
    }
  }

  async unwatch(path: string, token: string): Promise<void> {
    await this.request(XS_UNWATCH, strings(path, token));
    this.listeners.delete(token);
  }

  async transactionStart(): Promise<number> {
    return Number(splitStrings(await this.request(XS_TRANSACTION_START, strings('')))[0]);
  }

  /** Ends a transaction; with `commit` a conflict rejects with EAGAIN. */
  async transactionEnd(tx: number, commit: boolean): Promise<void> {
    await this.request(XS_TRANSACTION_END, strings(commit ? 'T' : 'F'), tx);
  }

  /** Runs `body` in a transaction and commits, starting over on EAGAIN (at most `tries` times). */
  async transaction<T>(body: (tx: number) => Promise<T>, tries = 16): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const tx = await this.transactionStart();
      let result: T;
      try {
        result = await body(tx);
      } catch (e) {
        await this.transactionEnd(tx, false).catch(() => undefined);
        throw e;
      }
      try {
        await this.transactionEnd(tx, true);
        return result;
      } catch (e) {
        if (!(e instanceof XenstoreError && e.errno === XEN_EAGAIN) || attempt >= tries) throw e;
      }
    }
  }

  async introduce(domid: number, gfn: number, port: number): Promise<void> {
    await this.request(XS_INTRODUCE, strings(String(domid), String(gfn), String(port)));
  }

  async release(domid: number): Promise<void> {
    await this.request(XS_RELEASE, strings(String(domid)));
  }

  async resume(domid: number): Promise<void> {
    await this.request(XS_RESUME, strings(String(domid)));
  }

  async setTarget(domid: number, target: number): Promise<void> {
    await this.request(XS_SET_TARGET, strings(String(domid), String(target)));
  }

  async getDomainPath(domid: number): Promise<string> {
    return splitStrings(await this.request(XS_GET_DOMAIN_PATH, strings(String(domid))))[0] ?? '';
  }

  async isDomainIntroduced(domid: number): Promise<boolean> {
    const r = await this.request(XS_IS_DOMAIN_INTRODUCED, strings(String(domid)));
    return fromLatin1(r) === 'T\0';
  }

  /** CONTROL: a command and its arguments; resolves with the reply text (NUL dropped). */
  async control(...args: readonly string[]): Promise<string> {
    return splitStrings(await this.request(XS_CONTROL, strings(...args)))[0] ?? '';
  }

  /** Drops the connection, its watches and transactions. */
  close(): void {
    this.conn.destroy();
    this.listeners.clear();
  }

  private failPending(): void {
    for (const w of this.waiting.values()) w.reject(new Error('xenstore client closed'));
    this.waiting.clear();
  }

  private onMessage(msg: XsMessage): void {
    if (msg.type === XS_WATCH_EVENT) {
      const [path, token] = splitStrings(msg.payload);
      if (path === undefined || token === undefined) return;
      for (const l of this.listeners.get(token) ?? []) l(path, token);
      return;
    }
    const waiter = this.waiting.get(msg.req_id);
    this.waiting.delete(msg.req_id);
    waiter?.resolve(msg);
  }
}
