/**
 * A domain's connection over its xenstore ring page (struct xenstore_domain_interface in
 * xs_wire.h; domain_funcs in xenstored_domain.c).
 *
 * The guest produces requests into req[] and we consume them; we produce replies and
 * watch events into rsp[] and the guest consumes them. Indices are free-running u32s.
 * The page is shared with a guest running on another thread, so the indices are read and
 * written with Atomics (sequentially consistent, which gives xenstored's barriers): read
 * the producer index before the data it covers, write the data before publishing the
 * producer index. Indices are read once per step and checked: a guest claiming more than
 * XENSTORE_RING_SIZE bytes between cons and prod is hostile or broken, and its connection
 * is ignored with XENSTORE_ERROR_RINGIDX in the page's error field — other domains carry on.
 */

import { XEN_EINVAL } from '../../abi/errno.js';
import {
  MASK_XENSTORE_IDX,
  XENSTORE_CONNECTED,
  XENSTORE_ERROR_RINGIDX,
  XENSTORE_RECONNECT,
  XENSTORE_RING_SIZE,
  xenstore_domain_interface,
} from '../../abi/io/xs_wire.js';
import { Connection, type Outgoing } from './connection.js';
import type { XsState } from './state.js';
import { fail, XSD_SOCKMSG_SIZE } from './wire.js';

const OFF = xenstore_domain_interface.offsets;
/** u32 slots of the index block, which starts at req_cons. */
const REQ_CONS = 0;
const REQ_PROD = (OFF.req_prod - OFF.req_cons) / 4;
const RSP_CONS = (OFF.rsp_cons - OFF.req_cons) / 4;
const RSP_PROD = (OFF.rsp_prod - OFF.req_cons) / 4;
const CONNECTION = (OFF.connection - OFF.req_cons) / 4;
const ERROR = (OFF.error - OFF.req_cons) / 4;
const INDEX_WORDS = (xenstore_domain_interface.size - OFF.req_cons) / 4;

const AT = 0x40; // '@'

/** Whether the host stores a u32 little-endian, as the guest ABI needs for Atomics on the page. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class RingConnection extends Connection {
  private readonly req: Uint8Array;
  private readonly rsp: Uint8Array;
  private readonly idx: Uint32Array;
  private readonly queue: { out: Outgoing; sent: number }[] = [];
  private inPoll = false;
  private kicked = false;

  /**
   * @param page the mapped xenstore_domain_interface page (4-byte aligned)
   * @param notify kicks the guest's event channel
   */
  constructor(
    state: XsState,
    domid: number,
    page: Uint8Array,
    private readonly notify: () => void,
  ) {
    // Checked before super() registers the connection.
    if (!LITTLE_ENDIAN) fail(XEN_EINVAL, 'ring pages need a little-endian host');
    if (page.length < xenstore_domain_interface.size || (page.byteOffset + OFF.req_cons) % 4) {
      fail(XEN_EINVAL, `domain ${domid}: unusable xenstore page`);
    }
    super(state, domid, domid === 0, `domain ${domid}`);
    this.req = page.subarray(OFF.req, OFF.req + XENSTORE_RING_SIZE);
    this.rsp = page.subarray(OFF.rsp, OFF.rsp + XENSTORE_RING_SIZE);
    this.idx = new Uint32Array(page.buffer, page.byteOffset + OFF.req_cons, INDEX_WORDS);
  }

  /** Empties both rings, as a (re)introduction does (domain_conn_reset). */
  resetRing(): void {
    for (const i of [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD]) Atomics.store(this.idx, i, 0);
    this.queue.length = 0;
  }

  /** Marks the ring connected if the guest asked to reconnect; true if it did. */
  reconnect(): boolean {
    if (Atomics.load(this.idx, CONNECTION) !== XENSTORE_RECONNECT) return false;
    Atomics.store(this.idx, CONNECTION, XENSTORE_CONNECTED);
    return true;
  }

  /** Handles everything the guest has produced and sends what fits. Called on its event. */
  poll(): void {
    if (this.ignored || this.closed) return;
    this.inPoll = true;
    try {
      let progress = true;
      while (progress && !this.ignored && !this.closed) {
        progress = this.flush();
        if (this.canRead()) progress = this.readSome() || progress;
      }
    } finally {
      this.inPoll = false;
    }
    this.kick();
  }

  protected transmit(out: Outgoing): void {
    // Drop an event identical to one still waiting to go out, special ones excepted (send_event).
    const dup =
      out.event &&
      out.bytes[XSD_SOCKMSG_SIZE] !== AT &&
      this.queue.some((q) => q.out.event && q.sent === 0 && same(q.out, out));
    if (!dup) this.queue.push({ out, sent: 0 });
    if (!this.inPoll) {
      this.flush();
      this.kick();
    }
  }

  protected shutdown(error: number | undefined): void {
    this.queue.length = 0;
    if (error !== undefined) Atomics.store(this.idx, ERROR, error);
  }

  protected override afterAsync(): void {
    this.poll();
  }

  private canRead(): boolean {
    if (!this.idle) return false;
    const outstanding = this.queue.filter((q) => !q.out.event).length;
    return this.state.quota.allows(this.privileged, 'outstanding', outstanding);
  }

  /** Reads at most the rest of the current message; false if nothing was there. */
  private readSome(): boolean {
    const cons = Atomics.load(this.idx, REQ_CONS);
    const prod = Atomics.load(this.idx, REQ_PROD);
    const avail = (prod - cons) >>> 0;
    if (avail > XENSTORE_RING_SIZE) return this.badIndexes('req', cons, prod);
    if (avail === 0) return false;
    const start = MASK_XENSTORE_IDX(cons);
    const n = Math.min(avail, XENSTORE_RING_SIZE - start, this.inputNeeded());
    const chunk = this.req.slice(start, start + n);
    Atomics.store(this.idx, REQ_CONS, (cons + n) >>> 0);
    this.kicked = true;
    this.receive(chunk);
    return true;
  }

  /** Writes queued output while there is room; true if anything was written. */
  private flush(): boolean {
    let wrote = false;
    while (this.queue.length > 0 && !this.ignored) {
      const head = this.queue[0]!;
      const cons = Atomics.load(this.idx, RSP_CONS);
      const prod = Atomics.load(this.idx, RSP_PROD);
      const used = (prod - cons) >>> 0;
      if (used > XENSTORE_RING_SIZE) return this.badIndexes('rsp', cons, prod);
      const start = MASK_XENSTORE_IDX(prod);
      const room = Math.min(XENSTORE_RING_SIZE - used, XENSTORE_RING_SIZE - start);
      if (room === 0) break;
      const n = Math.min(room, head.out.bytes.length - head.sent);
      this.rsp.set(head.out.bytes.subarray(head.sent, head.sent + n), start);
      Atomics.store(this.idx, RSP_PROD, (prod + n) >>> 0);
      head.sent += n;
      wrote = true;
      this.kicked = true;
      if (head.sent === head.out.bytes.length) this.queue.shift();
    }
    return wrote;
  }

  private badIndexes(ring: string, cons: number, prod: number): false {
    this.ignore(XENSTORE_ERROR_RINGIDX, `bad ${ring} ring indexes cons=${cons} prod=${prod}`);
    return false;
  }

  private kick(): void {
    if (!this.kicked) return;
    this.kicked = false;
    this.notify();
  }
}

function same(a: Outgoing, b: Outgoing): boolean {
  if (a.bytes.length !== b.bytes.length) return false;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  return true;
}
