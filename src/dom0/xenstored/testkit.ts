/**
 * Test doubles for xenstored's tests: a DomainAccess over in-memory pages and a guest that
 * speaks the ring protocol on such a page, as Linux's xenbus driver does.
 */

import {
  MASK_XENSTORE_IDX,
  XENSTORE_RING_SIZE,
  XS_ERROR,
  XS_WATCH_EVENT,
  xenstore_domain_interface,
} from '../../abi/io/xs_wire.js';
import { type DomainAccess, type DomainState, Xenstored } from './index.js';
import {
  concatBytes,
  encodeMessage,
  fromLatin1,
  latin1,
  MessageParser,
  splitStrings,
  strings,
  type XsMessage,
} from './wire.js';

const OFF = xenstore_domain_interface.offsets;

/** A DomainAccess whose domains are pages in memory; it records what xenstored asked. */
export class FakeDomains implements DomainAccess {
  readonly pages = new Map<number, Uint8Array>();
  readonly bound = new Map<number, { domid: number; remote: number }>();
  readonly notified: number[] = [];
  readonly unbound: number[] = [];
  readonly unmapped: number[] = [];
  /** Domain states; a domain missing here does not exist (undefined from domainState). */
  readonly states = new Map<number, DomainState>();
  /** Called on notify(localPort): a guest double can react to its event. */
  onNotify: (localPort: number) => void = () => {};
  failMap = false;
  private nextPort = 100;

  /** A domain that exists, with a zeroed store page. */
  create(domid: number): Uint8Array {
    const page = new Uint8Array(new SharedArrayBuffer(4096));
    this.pages.set(domid, page);
    this.states.set(domid, { shutdown: false, dying: false });
    return page;
  }

  async mapRing(domid: number): Promise<Uint8Array> {
    const page = this.pages.get(domid);
    if (!page || this.failMap) throw new Error(`no page for domain ${domid}`);
    return page;
  }

  unmapRing(domid: number): void {
    this.unmapped.push(domid);
  }

  async bindInterdomain(domid: number, remote: number): Promise<number> {
    const port = this.nextPort++;
    this.bound.set(port, { domid, remote });
    return port;
  }

  unbind(localPort: number): void {
    this.unbound.push(localPort);
    this.bound.delete(localPort);
  }

  notify(localPort: number): void {
    this.notified.push(localPort);
    this.onNotify(localPort);
  }

  async domainState(domid: number): Promise<DomainState | undefined> {
    return this.states.get(domid);
  }

  portOf(domid: number): number {
    for (const [port, b] of this.bound) if (b.domid === domid) return port;
    throw new Error(`domain ${domid} has no port`);
  }
}

/** The guest end of a xenstore ring page. */
export class GuestRing {
  readonly view: DataView;
  readonly events: { path: string; token: string }[] = [];
  private readonly replies: XsMessage[] = [];
  private readonly parser = new MessageParser();
  private reqId = 1;

  constructor(
    readonly page: Uint8Array,
    /** Fires the guest's event channel towards xenstored. */
    readonly kick: () => void,
  ) {
    this.view = new DataView(page.buffer, page.byteOffset, page.length);
  }

  get(field: 'req_cons' | 'req_prod' | 'rsp_cons' | 'rsp_prod' | 'connection' | 'error'): number {
    return this.view.getUint32(OFF[field], true);
  }

  set(field: 'req_cons' | 'req_prod' | 'rsp_cons' | 'rsp_prod' | 'connection', v: number): void {
    this.view.setUint32(OFF[field], v >>> 0, true);
  }

  /** Produces raw bytes into req[] (as much as fits) and kicks; returns bytes written. */
  writeRaw(bytes: Uint8Array, kick = true): number {
    const cons = this.get('req_cons');
    let prod = this.get('req_prod');
    let n = 0;
    while (n < bytes.length && (prod - cons) >>> 0 < XENSTORE_RING_SIZE) {
      this.page[OFF.req + MASK_XENSTORE_IDX(prod)] = bytes[n++]!;
      prod = (prod + 1) >>> 0;
    }
    this.set('req_prod', prod);
    if (kick) this.kick();
    return n;
  }

  /** Consumes everything in rsp[]; replies and events are sorted out. */
  drain(): void {
    const prod = this.get('rsp_prod');
    let cons = this.get('rsp_cons');
    const bytes: number[] = [];
    while (cons !== prod) {
      bytes.push(this.page[OFF.rsp + MASK_XENSTORE_IDX(cons)]!);
      cons = (cons + 1) >>> 0;
    }
    this.set('rsp_cons', cons);
    for (const msg of this.parser.push(Uint8Array.from(bytes))) {
      if (msg.type === XS_WATCH_EVENT) {
        const [path = '', token = ''] = splitStrings(msg.payload);
        this.events.push({ path, token });
      } else this.replies.push(msg);
    }
  }

  /** Sends one request and returns its reply (the daemon answers synchronously). */
  request(type: number, payload: Uint8Array | readonly string[], tx = 0): XsMessage {
    const body = payload instanceof Uint8Array ? payload : strings(...payload);
    const req_id = this.reqId++;
    const msg = encodeMessage(type, req_id, tx, body);
    let sent = 0;
    while (sent < msg.length) {
      const n = this.writeRaw(msg.subarray(sent));
      if (n === 0) throw new Error('xenstored does not consume the ring');
      sent += n;
      this.drain();
    }
    // A reply longer than the ring comes in pieces: consume, kick, repeat.
    for (let round = 0; round < 16; round++) {
      this.drain();
      const i = this.replies.findIndex((r) => r.req_id === req_id);
      if (i >= 0) return this.replies.splice(i, 1)[0]!;
      this.kick();
    }
    throw new Error(`no reply to request ${req_id}`);
  }

  /** The reply as text ("OK\0" → "OK\0"), or "ERROR <name>" for an error reply. */
  ask(type: number, payload: Uint8Array | readonly string[], tx = 0): string {
    const r = this.request(type, payload, tx);
    const text = fromLatin1(r.payload);
    return r.type === XS_ERROR ? `ERROR ${text.replace(/\0$/, '')}` : text;
  }

  /** Replies received but not asked for by request(), taken. */
  takeReplies(): XsMessage[] {
    this.drain();
    return this.replies.splice(0);
  }

  /** Watch events received so far, taken. */
  takeEvents(): { path: string; token: string }[] {
    this.drain();
    return this.events.splice(0);
  }
}

/** A daemon with fake domains, and helpers to bring up guests. */
export async function testDaemon(quota: ConstructorParameters<typeof Xenstored>[0]['quota'] = {}) {
  const log: string[] = [];
  const domains = new FakeDomains();
  const xs = new Xenstored({ log: (l) => log.push(l), domains, quota });
  const dom0 = xs.connectLocal();
  const guest = async (domid: number): Promise<GuestRing> => {
    const page = domains.create(domid);
    await dom0.introduce(domid, 0x1000 + domid, 1);
    return new GuestRing(page, () => xs.eventFired(domains.portOf(domid)));
  };
  return { xs, dom0, domains, log, guest };
}

/** A payload of a path and raw value bytes (WRITE). */
export function pathAndValue(path: string, value: string): Uint8Array {
  return concatBytes([latin1(`${path}\0`), latin1(value)]);
}
