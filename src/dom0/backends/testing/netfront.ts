/**
 * xen-netfront, for tests: adds a vif to the store as libxl does, connects as xen-netfront
 * does (queues, split event channels, offloads) and sends and receives frames through the
 * netif rings; raw slots and ring access let a test play a frontend that breaks every rule.
 */
import {
  NETIF_RSP_NULL,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_extra_info,
  NETTXF_more_data,
  netif_extra_info,
  netif_rx_request,
  netif_rx_response,
  netif_tx_request,
  netif_tx_response,
  XEN_NETIF_EXTRA_TYPE_GSO,
} from '../../../abi/io/netif.js';
import { ringEntrySize } from '../../../abi/io/ring.js';
import { XenbusStateConnected, XenbusStateInitWait } from '../../../abi/io/xenbus.js';
import type { VifRate } from '../../toolstack/config/vif-spec.js';
import { addNicStore } from '../../toolstack/nic-store.js';
import { FrontRing } from './front-ring.js';
import type { FakeGuest } from './guest.js';
import { until } from './wait.js';
import { Frontend, type KeyOverrides } from './xenbus-front.js';

export const NETIF_TX_ENTRY_SIZE = ringEntrySize(netif_tx_request, netif_tx_response);
export const NETIF_RX_ENTRY_SIZE = ringEntrySize(netif_rx_request, netif_rx_response);
const TX = netif_tx_request.offsets;
const RX = netif_rx_response.offsets;
const EXTRA = netif_extra_info.offsets;

export interface NetFrontOptions {
  /** xx:xx:xx:xx:xx:xx */
  mac: string;
  devid?: number;
  /** Default xenbr0. */
  bridge?: string;
  /** Queues (multi-queue-num-queues, queue-N keys when more than one); default 1. */
  queues?: number;
  /** Separate tx and rx event channels (default), as netfront prefers when offered. */
  split?: boolean;
  rate?: VifRate;
  keys?: KeyOverrides;
  /** Wait for Connected (default); false returns once the keys and Connected are written. */
  waitConnected?: boolean;
}

export interface NetQueueFront {
  tx: FrontRing;
  rx: FrontRing;
  txPort: number;
  rxPort: number;
  txRef: number;
  rxRef: number;
  txGfn: number;
  rxGfn: number;
  /** Posted receive buffers by request id. */
  rxBuffers: Map<number, { gfn: number; gref: number }>;
  /** Pages of transmit requests sent with `send`, by request id, until their response. */
  txBuffers: Map<number, { gfn: number; gref: number }>;
}

export interface TxOptions {
  queue?: number;
  /**
   * The bytes of each slot, in order (default: the whole frame in one); they must add up to
   * the frame's length. The first request's size is still the whole packet's, as netif says.
   */
  slots?: readonly number[];
  /** Where in its page each slot's bytes start (default 0). */
  offset?: number;
  /** NETTXF_* flags for the first request besides more_data and extra_info. */
  flags?: number;
  /** A GSO extra-info slot after the first request. */
  gso?: { type: number; size: number };
}

export interface RxPacket {
  queue: number;
  data: Uint8Array;
  /** The first response's NETRXF_* flags. */
  flags: number;
  /** From the GSO extra-info slot. */
  gso?: { type: number; size: number };
  /** Every data response's status (bytes, or a negative NETIF_RSP_*). */
  statuses: number[];
}

export interface TxResponse {
  queue: number;
  id: number;
  status: number;
}

export class NetFront extends Frontend {
  readonly queues: NetQueueFront[] = [];
  readonly received: RxPacket[] = [];
  readonly txResponses: TxResponse[] = [];
  /** The vif's MAC, as the toolstack wrote it. */
  mac = '';
  private nextTxId = 0;

  /** Adds the vif to the store as libxl does, then connects as xen-netfront does. */
  static async attach(guest: FakeGuest, options: NetFrontOptions): Promise<NetFront> {
    const devid = options.devid ?? 0;
    const backend = await addNicStore(guest.rig.store, guest.domid, {
      devid,
      mac: options.mac,
      bridge: options.bridge ?? 'xenbr0',
      mtu: 1500,
      script: 'vif-bridge',
      ...(options.rate === undefined ? {} : { rate: options.rate }),
    });
    const front = new NetFront(guest, backend, `/local/domain/${guest.domid}/device/vif/${devid}`);
    front.mac = options.mac;
    await front.connect(options);
    return front;
  }

  private async connect(options: NetFrontOptions): Promise<void> {
    const { guest } = this;
    await this.waitBackend(XenbusStateInitWait);
    const count = options.queues ?? 1;
    const split = options.split !== false;
    const keys = new Map<string, string>();
    if (count > 1) keys.set('multi-queue-num-queues', String(count));
    for (let q = 0; q < count; q++) {
      const txGfn = guest.page();
      const rxGfn = guest.page();
      const txPort = guest.allocPort();
      const rxPort = split ? guest.allocPort() : txPort;
      const queue: NetQueueFront = {
        tx: new FrontRing([guest.bytes(txGfn)], NETIF_TX_ENTRY_SIZE),
        rx: new FrontRing([guest.bytes(rxGfn)], NETIF_RX_ENTRY_SIZE),
        txPort,
        rxPort,
        txRef: guest.grant(txGfn),
        rxRef: guest.grant(rxGfn),
        txGfn,
        rxGfn,
        rxBuffers: new Map(),
        txBuffers: new Map(),
      };
      this.queues.push(queue);
      const dir = count > 1 ? `queue-${q}/` : '';
      keys.set(`${dir}tx-ring-ref`, String(queue.txRef));
      keys.set(`${dir}rx-ring-ref`, String(queue.rxRef));
      if (split) {
        keys.set(`${dir}event-channel-tx`, String(txPort));
        keys.set(`${dir}event-channel-rx`, String(rxPort));
      } else {
        keys.set(`${dir}event-channel`, String(txPort));
      }
    }
    keys.set('request-rx-copy', '1');
    keys.set('feature-rx-notify', '1');
    keys.set('feature-sg', '1');
    keys.set('feature-gso-tcpv4', '1');
    keys.set('feature-gso-tcpv6', '1');
    keys.set('feature-ipv6-csum-offload', '1');
    await this.writeKeys(keys, options.keys ?? {});
    await this.setState(XenbusStateConnected);
    if (options.waitConnected === false) return;
    await this.waitBackend(XenbusStateConnected);
  }

  protected release(): void {
    for (const queue of this.queues) {
      for (const buffer of queue.rxBuffers.values()) this.drop(buffer);
      for (const buffer of queue.txBuffers.values()) this.drop(buffer);
      queue.rxBuffers.clear();
      queue.txBuffers.clear();
      this.drop({ gfn: queue.txGfn, gref: queue.txRef });
      this.drop({ gfn: queue.rxGfn, gref: queue.rxRef });
    }
  }

  /** Posts `count` receive buffers (fresh granted pages) on a queue and notifies. */
  postRx(count: number, options: { queue?: number; readonly?: boolean } = {}): void {
    const queue = this.queues[options.queue ?? 0]!;
    const { rx } = queue;
    for (let i = 0; i < count; i++) {
      // netfront's ids are the slot's index in the ring.
      const id = rx.reqProdPvt & (rx.size - 1);
      const gfn = this.guest.page();
      const gref = this.guest.grant(gfn, { readonly: options.readonly === true });
      const bytes = new Uint8Array(NETIF_RX_ENTRY_SIZE);
      const view = new DataView(bytes.buffer);
      view.setUint16(netif_rx_request.offsets.id, id, true);
      view.setUint32(netif_rx_request.offsets.gref, gref, true);
      rx.put(bytes);
      queue.rxBuffers.set(id, { gfn, gref });
    }
    if (rx.push()) this.guest.notify(queue.rxPort);
  }

  /** A transmit request's bytes. */
  static txRequest(fields: {
    gref: number;
    offset?: number;
    flags?: number;
    id?: number;
    size: number;
  }): Uint8Array {
    const bytes = new Uint8Array(NETIF_TX_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    view.setUint32(TX.gref, fields.gref, true);
    view.setUint16(TX.offset, fields.offset ?? 0, true);
    view.setUint16(TX.flags, fields.flags ?? 0, true);
    view.setUint16(TX.id, fields.id ?? 0, true);
    view.setUint16(TX.size, fields.size, true);
    return bytes;
  }

  /** An extra-info slot's bytes (type, flags, then the GSO size and type). */
  static extraInfo(type: number, gso: { size: number; type: number }, flags = 0): Uint8Array {
    const bytes = new Uint8Array(NETIF_TX_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    view.setUint8(EXTRA.type, type);
    view.setUint8(EXTRA.flags, flags);
    view.setUint16(EXTRA.u, gso.size, true);
    view.setUint8(EXTRA.u + 2, gso.type);
    return bytes;
  }

  /** A fresh transmit id. */
  txId(): number {
    const id = this.nextTxId;
    this.nextTxId = (id + 1) & 0xffff;
    return id;
  }

  /**
   * Sends `frame` as netfront does: each slot's bytes on a page granted read-only, the first
   * request carrying the packet's size, a GSO extra-info slot after it if asked. Returns the
   * ids of the data requests, in order.
   */
  send(frame: Uint8Array, options: TxOptions = {}): number[] {
    const queue = this.queues[options.queue ?? 0]!;
    const sizes = options.slots ?? [frame.length];
    if (sizes.reduce((a, b) => a + b, 0) !== frame.length) throw new RangeError('slot sizes');
    const offset = options.offset ?? 0;
    const ids: number[] = [];
    let at = 0;
    sizes.forEach((size, i) => {
      const gfn = this.guest.page();
      this.guest.bytes(gfn).set(frame.subarray(at, at + size), offset);
      at += size;
      const gref = this.guest.grant(gfn, { readonly: true });
      let flags = i + 1 < sizes.length ? NETTXF_more_data : 0;
      if (i === 0) {
        flags |= options.flags ?? 0;
        if (options.gso !== undefined) flags |= NETTXF_extra_info;
      }
      const id = this.txId();
      ids.push(id);
      queue.txBuffers.set(id, { gfn, gref });
      queue.tx.put(
        NetFront.txRequest({ gref, offset, flags, id, size: i === 0 ? frame.length : size }),
      );
      if (i === 0 && options.gso !== undefined) {
        queue.tx.put(NetFront.extraInfo(XEN_NETIF_EXTRA_TYPE_GSO, options.gso));
      }
    });
    if (queue.tx.push()) this.guest.notify(queue.txPort);
    return ids;
  }

  /** Puts raw slots on a queue's transmit ring, publishes them and notifies. */
  sendRaw(slots: readonly Uint8Array[], queue = 0): void {
    const q = this.queues[queue]!;
    for (const slot of slots) q.tx.put(slot);
    q.tx.push();
    this.guest.notify(q.txPort);
  }

  /** Takes the transmit responses published so far into `txResponses`. */
  collectTx(): void {
    this.queues.forEach((queue, q) => {
      const { tx } = queue;
      while (tx.unconsumed() > 0) {
        const slot = tx.peek();
        tx.take();
        const id = slot.getUint16(netif_tx_response.offsets.id, true);
        const status = slot.getInt16(netif_tx_response.offsets.status, true);
        this.txResponses.push({ queue: q, id, status });
        const buffer = status === NETIF_RSP_NULL ? undefined : queue.txBuffers.get(id);
        if (buffer !== undefined) {
          queue.txBuffers.delete(id);
          this.guest.endGrant(buffer.gref);
          this.guest.freePage(buffer.gfn);
        }
      }
    });
  }

  /** Waits until `count` transmit responses have come in all told. */
  async waitTx(count: number): Promise<TxResponse[]> {
    return until(`${this.backend}: ${count} tx responses`, () => {
      this.collectTx();
      return this.txResponses.length >= count && this.txResponses;
    });
  }

  /** Takes every whole packet published on the receive rings into `received`. */
  collectRx(): void {
    this.queues.forEach((queue, q) => {
      for (;;) {
        const packet = this.nextPacket(queue, q);
        if (packet === undefined) return;
        this.received.push(packet);
      }
    });
  }

  /** Waits until `count` packets have been received all told. */
  async waitRx(count: number): Promise<RxPacket[]> {
    return until(`${this.backend}: ${count} packets received`, () => {
      this.collectRx();
      return this.received.length >= count && this.received;
    });
  }

  /** Responses on a queue's receive ring not yet taken. */
  rxPending(queue = 0): number {
    return this.queues[queue]!.rx.unconsumed();
  }

  /** One packet off a receive ring as xennet_get_responses reads it, if all of it is there. */
  private nextPacket(queue: NetQueueFront, q: number): RxPacket | undefined {
    const { rx } = queue;
    const available = rx.unconsumed();
    if (available === 0) return undefined;
    // First find the packet's extent without taking anything.
    let ahead = 0;
    const first = rx.peek(0);
    const flags = first.getUint16(RX.flags, true);
    let gso: RxPacket['gso'];
    const data: Uint8Array[] = [];
    const statuses: number[] = [];
    let slot: DataView = first;
    for (;;) {
      const status = slot.getInt16(RX.status, true);
      statuses.push(status);
      const buffer = queue.rxBuffers.get(slot.getUint16(RX.id, true));
      if (status > 0 && buffer !== undefined) {
        const offset = slot.getUint16(RX.offset, true);
        data.push(this.guest.bytes(buffer.gfn).slice(offset, offset + status));
      }
      const more = (slot.getUint16(RX.flags, true) & NETRXF_more_data) !== 0;
      if (ahead === 0 && (flags & NETRXF_extra_info) !== 0) {
        if (++ahead >= available) return undefined;
        const extra = rx.peek(ahead);
        if (extra.getUint8(EXTRA.type) === XEN_NETIF_EXTRA_TYPE_GSO) {
          gso = { size: extra.getUint16(EXTRA.u, true), type: extra.getUint8(EXTRA.u + 2) };
        }
      }
      if (!more) break;
      if (++ahead >= available) return undefined;
      slot = rx.peek(ahead);
    }
    for (let i = 0; i <= ahead; i++) {
      const id = (rx.rspCons + i) & (rx.size - 1);
      const buffer = queue.rxBuffers.get(id);
      if (buffer === undefined) continue;
      queue.rxBuffers.delete(id);
      this.guest.endGrant(buffer.gref);
      this.guest.freePage(buffer.gfn);
    }
    rx.take(ahead + 1);
    const length = data.reduce((n, d) => n + d.length, 0);
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const d of data) {
      bytes.set(d, at);
      at += d.length;
    }
    return { queue: q, data: bytes, flags, statuses, ...(gso === undefined ? {} : { gso }) };
  }
}
