/**
 * One netif queue (a pair of transmit and receive rings): packets the guest sends are copied
 * out of its granted pages in batches, one GNTTABOP_copy per batch, and handed to the bridge;
 * frames for the guest wait until it has posted enough receive buffers, then are copied into
 * them the same way. Rings and hypercalls are the only ways in; a frontend that breaks the
 * protocol makes `fail` end its vif.
 */
import {
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  netif_extra_info,
  netif_rx_request,
  netif_rx_response,
  netif_tx_response,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_NR_SLOTS_MIN,
} from '../../../abi/io/netif.js';
import { XEN_PAGE_SIZE } from '../../../abi/io/ring.js';
import { type CopySegment, copyGrants } from '../../libs/gnttab.js';
import type { Dom0Kernel } from '../../libs/kernel.js';
import { type BackRing, RingError } from '../ring.js';
import type { Frame, Gso } from './frame.js';
import type { CreditLimiter } from './rate.js';
import { peekTxPacket, type TxPacket } from './tx-packet.js';

/** Packets taken off the transmit ring per batch, and bytes at most. */
const TX_BATCH_PACKETS = 64;
const TX_BATCH_BYTES = 512 * 1024;
/** Frames waiting for receive buffers, in bytes, before new ones are dropped. */
const RX_QUEUE_BYTES = 1024 * 1024;

/** Counters from the guest's side, as xentop shows them. */
export interface VifCounters {
  rbytes: number;
  rpackets: number;
  rerrs: number;
  rdrop: number;
  tbytes: number;
  tpackets: number;
  terrs: number;
  tdrop: number;
}

export interface NetQueueOptions {
  kernel: Dom0Kernel;
  domid: number;
  tx: BackRing;
  rx: BackRing;
  counters: VifCounters;
  limiter: CreditLimiter | undefined;
  notifyTx(): void;
  notifyRx(): void;
  /** A frame the guest sent. */
  send(frame: Frame): void;
  /** The frontend broke the protocol: the vif must disconnect. */
  fail(why: string): void;
  log(line: string): void;
}

interface RxSlot {
  id: number;
  gref: number;
}

export class NetQueue {
  private stopped = false;
  private txRunning: Promise<void> | undefined;
  private txAgain = false;
  private txTimer: NodeJS.Timeout | undefined;
  private rxRunning: Promise<void> | undefined;
  private rxAgain = false;
  private readonly rxQueue: Frame[] = [];
  private rxQueued = 0;
  private lastRefusal = Number.NEGATIVE_INFINITY;
  private readonly txResponse = new Uint8Array(netif_tx_response.size);
  private readonly txResponseView = new DataView(this.txResponse.buffer);
  private readonly rxResponse = new Uint8Array(netif_rx_response.size);
  private readonly rxResponseView = new DataView(this.rxResponse.buffer);

  constructor(private readonly options: NetQueueOptions) {}

  /** The frontend published packets (its tx event channel). */
  kickTx(): void {
    if (this.stopped) return;
    if (this.txRunning !== undefined) {
      this.txAgain = true;
      return;
    }
    this.txRunning = this.drainTx().finally(() => {
      this.txRunning = undefined;
    });
  }

  /** The frontend posted receive buffers (its rx event channel). */
  kickRx(): void {
    if (this.stopped) return;
    if (this.rxRunning !== undefined) {
      this.rxAgain = true;
      return;
    }
    this.rxRunning = this.drainRx().finally(() => {
      this.rxRunning = undefined;
    });
  }

  /** Queues a frame for the guest; dropped when too much is already waiting. */
  deliver(frame: Frame): void {
    if (this.stopped) return;
    if (this.rxQueued + frame.data.length > RX_QUEUE_BYTES) {
      this.options.counters.rdrop++;
      return;
    }
    this.rxQueue.push(frame);
    this.rxQueued += frame.data.length;
    this.kickRx();
  }

  /** Stops taking work and waits for the batches under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.txTimer);
    this.rxQueue.length = 0;
    await Promise.allSettled([this.txRunning, this.rxRunning]);
  }

  private async drainTx(): Promise<void> {
    const { tx } = this.options;
    try {
      for (;;) {
        this.txAgain = false;
        const more = await this.txBatch();
        if (this.stopped || more === 'limited') return;
        if (more === 'done' && !this.txAgain && !tx.finalCheck()) return;
      }
    } catch (error) {
      this.failed(error);
    }
  }

  /** Takes a batch of packets off the ring, copies them out and answers them. */
  private async txBatch(): Promise<'more' | 'done' | 'limited'> {
    const { tx, limiter, counters } = this.options;
    const packets: TxPacket[] = [];
    let bytes = 0;
    let outcome: 'more' | 'done' | 'limited' = 'done';
    while (tx.available() > 0) {
      if (packets.length === TX_BATCH_PACKETS || bytes >= TX_BATCH_BYTES) {
        outcome = 'more';
        break;
      }
      const packet = peekTxPacket(tx);
      if (packet.error === undefined && limiter !== undefined) {
        const wait = limiter.take(packet.size);
        if (wait > 0) {
          // Over its rate: the packet stays on the ring until there is credit for it.
          clearTimeout(this.txTimer);
          this.txTimer = setTimeout(() => this.kickTx(), wait);
          outcome = 'limited';
          break;
        }
      }
      tx.consume(packet.consumed);
      packets.push(packet);
      if (packet.error === undefined) bytes += packet.size;
    }
    if (packets.length === 0) return outcome;
    const frames = await this.copyOut(packets).catch((error: unknown) => {
      this.options.log(`netback: d${this.options.domid}: copying packets: ${String(error)}`);
      return packets.map(() => undefined);
    });
    let refused = 0;
    packets.forEach((packet, i) => {
      const frame = frames[i];
      if (packet.error !== undefined)
        this.options.log(`netback: d${this.options.domid}: ${packet.error}`);
      else if (frame === undefined) refused++;
      if (frame === undefined) counters.terrs++;
      this.answerTx(packet, frame === undefined ? NETIF_RSP_ERROR : NETIF_RSP_OKAY);
    });
    if (refused > 0) this.refusedGrants('sent', refused);
    if (tx.push()) this.options.notifyTx();
    for (const frame of frames) {
      if (frame === undefined) continue;
      counters.tpackets++;
      counters.tbytes += frame.data.length;
      this.options.send(frame);
    }
    return outcome;
  }

  /** The packets' bytes, copied from the guest in one hypercall; undefined where one failed. */
  private async copyOut(packets: readonly TxPacket[]): Promise<(Frame | undefined)[]> {
    const { kernel, domid } = this.options;
    const total = packets.reduce((n, p) => n + (p.error === undefined ? p.size : 0), 0);
    if (total === 0) return packets.map(() => undefined);
    return kernel.withBuffer(total, async (gpa) => {
      const base = gpa / XEN_PAGE_SIZE;
      const segments: CopySegment[] = [];
      /** Each packet's first segment index and its offset in the staging buffer. */
      const spans: { first: number; end: number; at: number }[] = [];
      let at = 0;
      for (const packet of packets) {
        const first = segments.length;
        const start = at;
        if (packet.error === undefined) {
          for (const slot of packet.slots) {
            let done = 0;
            while (done < slot.size) {
              const offset = at % XEN_PAGE_SIZE;
              const length = Math.min(slot.size - done, XEN_PAGE_SIZE - offset);
              segments.push({
                source: { domid, ref: slot.gref, offset: slot.offset + done },
                dest: { gfn: base + Math.floor(at / XEN_PAGE_SIZE), offset },
                length,
              });
              done += length;
              at += length;
            }
          }
        }
        spans.push({ first, end: segments.length, at: start });
      }
      const statuses = await copyGrants(kernel, segments);
      const staged = kernel.memory.read(gpa, total);
      return packets.map((packet, i) => {
        const span = spans[i]!;
        if (packet.error !== undefined) return undefined;
        for (let s = span.first; s < span.end; s++) if (statuses[s] !== 0) return undefined;
        return {
          data: staged.subarray(span.at, span.at + packet.size),
          checksumBlank: (packet.flags & NETTXF_csum_blank) !== 0,
          dataValidated: (packet.flags & NETTXF_data_validated) !== 0,
          gso: packet.gso,
        };
      });
    });
  }

  /** One response per slot the packet took: its status, NETIF_RSP_NULL for extra info. */
  private answerTx(packet: TxPacket, status: number): void {
    const { tx } = this.options;
    const view = this.txResponseView;
    const respond = (id: number, s: number) => {
      view.setUint16(netif_tx_response.offsets.id, id, true);
      view.setInt16(netif_tx_response.offsets.status, s, true);
      tx.respond(this.txResponse);
    };
    const [first, ...fragments] = packet.slots;
    respond(first!.id, status);
    for (let i = 0; i < packet.extras; i++) respond(0, NETIF_RSP_NULL);
    for (const fragment of fragments) respond(fragment.id, status);
  }

  private async drainRx(): Promise<void> {
    try {
      for (;;) {
        this.rxAgain = false;
        const progress = await this.rxBatch();
        if (this.stopped || (!progress && !this.rxAgain)) return;
      }
    } catch (error) {
      this.failed(error);
    }
  }

  /**
   * Puts as many waiting frames as the posted buffers take into the guest: each frame's
   * data a page per slot, a GSO frame's extra info in the slot after its first.
   */
  private async rxBatch(): Promise<boolean> {
    const { rx, kernel, domid, counters } = this.options;
    let available = rx.available();
    /** Each frame with the requests its data goes into, and its first staging page. */
    const batch: { frame: Frame; slots: RxSlot[]; pages: number }[] = [];
    let pages = 0;
    while (this.rxQueue.length > 0) {
      const frame = this.rxQueue[0]!;
      const dataSlots = Math.max(1, Math.ceil(frame.data.length / XEN_PAGE_SIZE));
      const needed = dataSlots + (frame.gso === undefined ? 0 : 1);
      if (needed > XEN_NETIF_NR_SLOTS_MIN) {
        // More than a frontend takes for one packet (MAX_SKB_FRAGS + 1).
        this.rxQueue.shift();
        this.rxQueued -= frame.data.length;
        counters.rdrop++;
        continue;
      }
      if (needed > available) {
        // Ask to be told when the guest has posted enough, unless it already has.
        if (batch.length > 0 || !rx.waitFor(needed)) break;
        available = rx.available();
        continue;
      }
      const slots: RxSlot[] = [];
      for (let i = 0; i < needed; i++) {
        // A GSO frame's second slot carries its extra info, not data.
        if (i === 1 && frame.gso !== undefined) continue;
        const slot = rx.peekRequest(i);
        slots.push({
          id: slot.getUint16(netif_rx_request.offsets.id, true),
          gref: slot.getUint32(netif_rx_request.offsets.gref, true),
        });
      }
      rx.consume(needed);
      available -= needed;
      this.rxQueue.shift();
      this.rxQueued -= frame.data.length;
      batch.push({ frame, slots, pages });
      pages += dataSlots;
    }
    if (batch.length === 0) return false;
    const statuses = await kernel
      .withBuffer(pages * XEN_PAGE_SIZE, async (gpa) => {
        const base = gpa / XEN_PAGE_SIZE;
        const segments: CopySegment[] = [];
        for (const { frame, slots, pages: first } of batch) {
          const data = frame.data;
          kernel.memory.write(gpa + first * XEN_PAGE_SIZE, data);
          slots.forEach((slot, i) => {
            segments.push({
              source: { gfn: base + first + i, offset: 0 },
              dest: { domid, ref: slot.gref, offset: 0 },
              length: Math.min(XEN_PAGE_SIZE, data.length - i * XEN_PAGE_SIZE),
            });
          });
        }
        return copyGrants(kernel, segments);
      })
      .catch((error: unknown) => {
        this.options.log(`netback: d${domid}: copying frames: ${String(error)}`);
        return [] as number[];
      });
    let s = 0;
    let refused = 0;
    for (const { frame, slots } of batch) {
      let ok = true;
      slots.forEach((slot, i) => {
        const length = Math.min(XEN_PAGE_SIZE, frame.data.length - i * XEN_PAGE_SIZE);
        const copied = statuses[s++] === 0;
        ok &&= copied;
        let flags = i + 1 < slots.length ? NETRXF_more_data : 0;
        if (i === 0) {
          if (frame.checksumBlank) flags |= NETRXF_csum_blank | NETRXF_data_validated;
          else if (frame.dataValidated) flags |= NETRXF_data_validated;
          if (frame.gso !== undefined) flags |= NETRXF_extra_info;
        }
        this.answerRx(slot.id, flags, copied ? length : NETIF_RSP_ERROR);
        if (i === 0 && frame.gso !== undefined) this.answerGso(frame.gso);
      });
      if (ok) {
        counters.rpackets++;
        counters.rbytes += frame.data.length;
      } else {
        counters.rerrs++;
        refused++;
      }
    }
    if (refused > 0) this.refusedGrants('received', refused);
    if (rx.push()) this.options.notifyRx();
    return true;
  }

  private answerRx(id: number, flags: number, status: number): void {
    const view = this.rxResponseView;
    const at = netif_rx_response.offsets;
    view.setUint16(at.id, id, true);
    view.setUint16(at.offset, 0, true);
    view.setUint16(at.flags, flags, true);
    view.setInt16(at.status, status, true);
    this.options.rx.respond(this.rxResponse);
  }

  /** The GSO extra-info slot, written over the response of the request it took. */
  private answerGso(gso: Gso): void {
    const bytes = netif_extra_info.encode({
      type: XEN_NETIF_EXTRA_TYPE_GSO,
      flags: 0,
      u: {
        gso: {
          size: gso.size,
          type: gso.type === 'tcpv4' ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6,
          pad: 0,
          features: 0,
        },
      },
    });
    this.options.rx.respond(bytes.subarray(0, netif_rx_response.size));
  }

  /** Grant copies the hypervisor refused: the guest's grants were bad. Logged at most once a second. */
  private refusedGrants(direction: string, packets: number): void {
    const now = Date.now();
    if (now - this.lastRefusal < 1000) return;
    this.lastRefusal = now;
    this.options.log(
      `netback: d${this.options.domid}: ${packets} packet(s) to be ${direction} refused: the guest's grants could not be copied`,
    );
  }

  private failed(error: unknown): void {
    if (!(error instanceof RingError)) {
      this.options.log(`netback: d${this.options.domid}: ${String(error)}`);
    }
    this.options.fail(error instanceof Error ? error.message : String(error));
  }
}
