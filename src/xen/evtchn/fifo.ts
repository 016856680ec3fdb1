/**
 * The FIFO ABI (Xen's event_fifo.c).
 *
 * Every port has a 32-bit event word in guest-provided event array pages: PENDING, MASKED,
 * LINKED and BUSY flags above a 17-bit LINK to the next port in its queue. Each vCPU
 * registers a control block (EVTCHNOP_init_control) holding a READY bit and a HEAD port
 * per priority; queues are singly-linked lists through the LINK fields.
 *
 * Xen owns the tail of every queue (kept here, never in guest memory) and links a newly
 * pending, unmasked port after it; the guest consumes from HEAD, clearing LINKED as it
 * goes. Xen never follows a LINK or reads a HEAD, so a guest that scribbles over its
 * event words or control block can only lose its own events: every guest word is read
 * once per step, and only its flag bits are interpreted.
 */

import { XEN_EINVAL, XEN_ENOSPC } from '../../abi/errno.js';
import {
  EVTCHN_FIFO_BUSY,
  EVTCHN_FIFO_LINK_MASK,
  EVTCHN_FIFO_LINKED,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_MAX_QUEUES,
  EVTCHN_FIFO_NR_CHANNELS,
  EVTCHN_FIFO_PENDING,
  EVTCHN_FIFO_PRIORITY_DEFAULT,
  EVTCHN_FIFO_PRIORITY_MIN,
  evtchn_fifo_control_block,
} from '../../abi/event_channel.js';
import { clearBit, cmpxchg32, load32, setBit, store32, testAndSetBit, testBit } from './atomic.js';
import type { Channel, EvtchnDomain, PortOps } from './types.js';
import { markEventsPending } from './upcall.js';

export const PAGE_SIZE = 4096;
/** Event words per array page. */
export const EVENT_WORDS_PER_PAGE = PAGE_SIZE / 4;
/** Array pages needed for every port the ABI can express (128). */
export const MAX_EVENT_ARRAY_PAGES = EVTCHN_FIFO_NR_CHANNELS / EVENT_WORDS_PER_PAGE;

const READY = evtchn_fifo_control_block.offsets.ready;
const HEAD = evtchn_fifo_control_block.offsets.head;
/** Highest offset at which a control block still fits in its page. */
export const MAX_CONTROL_BLOCK_OFFSET = PAGE_SIZE - evtchn_fifo_control_block.size;

const LINKED = 1 << EVTCHN_FIFO_LINKED;
const BUSY = 1 << EVTCHN_FIFO_BUSY;

interface Mapped {
  readonly gfn: number;
  readonly view: DataView;
}

interface ControlBlock extends Mapped {
  readonly offset: number;
}

/** One vCPU's queues: its control block and, per priority, the tail Xen links after. */
class FifoVcpu {
  control: ControlBlock | undefined = undefined;
  readonly tails = new Uint32Array(EVTCHN_FIFO_MAX_QUEUES);
}

/** Guest frame number from a hypercall's 64-bit field, or undefined if no frame can have it. */
export function frameNumber(value: bigint | number): number | undefined {
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(value);
}

export class FifoPorts implements PortOps {
  readonly abi = 'fifo';
  readonly maxPorts = EVTCHN_FIFO_NR_CHANNELS;
  readonly #domain: EvtchnDomain;
  readonly #channel: (port: number) => Channel | undefined;
  readonly #pages: Mapped[] = [];
  readonly #vcpus: FifoVcpu[] = [];

  /**
   * FIFO state for every vCPU (no control blocks yet) and an empty event array.
   * `channel` looks up the domain's port records, for re-raising on expand_array.
   */
  constructor(domain: EvtchnDomain, channel: (port: number) => Channel | undefined) {
    this.#domain = domain;
    this.#channel = channel;
    for (let v = 0; v < domain.vcpuCount; v++) this.#vcpus.push(new FifoVcpu());
  }

  /** Ports that have an event word (a multiple of 1024). */
  get numEvtchns(): number {
    return this.#pages.length * EVENT_WORDS_PER_PAGE;
  }

  /** Whether vCPU `vcpu` has registered its control block. */
  hasControlBlock(vcpu: number): boolean {
    return this.#vcpus[vcpu]?.control !== undefined;
  }

  /** The port Xen would link the next event of queue (vcpu, priority) after; 0 if none. */
  queueTail(vcpu: number, priority: number): number {
    return this.#vcpus[vcpu]?.tails[priority] ?? 0;
  }

  /**
   * Maps vCPU `vcpu`'s control block (map_control_block). The caller checked the vCPU and
   * the offset (8-byte aligned, inside the page). -EINVAL if the vCPU already has one or
   * the frame is not the domain's RAM (`gfn` undefined: no frame can have that number).
   */
  mapControlBlock(vcpu: number, gfn: number | undefined, offset: number): number {
    const fv = this.#vcpus[vcpu];
    if (fv === undefined || fv.control !== undefined) return -XEN_EINVAL;
    const view = gfn === undefined ? undefined : this.#map(gfn);
    if (gfn === undefined || view === undefined) return -XEN_EINVAL;
    fv.control = { gfn, view, offset };
    return 0;
  }

  /** EVTCHNOP_expand_array: add the next page of event words (add_page_to_event_array). */
  addPage(gfn: number | undefined): number {
    const first = this.numEvtchns;
    if (this.#pages.length >= MAX_EVENT_ARRAY_PAGES) return -XEN_ENOSPC;
    const view = gfn === undefined ? undefined : this.#map(gfn);
    if (gfn === undefined || view === undefined) return -XEN_EINVAL;
    this.#pages.push({ gfn, view });
    // Raise what became pending while these ports had no event word.
    for (let port = first; port < this.numEvtchns; port++) {
      const chn = this.#channel(port);
      if (chn === undefined) break;
      if (chn.fifoPending && chn.usable) {
        chn.fifoPending = false;
        this.setPending(chn.notifyVcpu, chn);
      }
    }
    return 0;
  }

  /** Unmaps every control block and array page (evtchn_fifo_destroy). */
  destroy(): void {
    for (const fv of this.#vcpus) {
      if (fv.control !== undefined) this.#domain.releaseGuestFrame?.(fv.control.gfn);
      fv.control = undefined;
    }
    for (const page of this.#pages) this.#domain.releaseGuestFrame?.(page.gfn);
    this.#pages.length = 0;
  }

  init(chn: Channel): void {
    chn.priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
  }

  setPending(vcpu: number, chn: Channel): void {
    const port = chn.port;
    const word = this.#word(port);
    if (word === undefined) {
      chn.fifoPending = true;
      return;
    }
    const fv = this.#vcpus[vcpu];
    const oldFv = this.#vcpus[chn.lastVcpu];
    // No control block: the guest cannot have unmasked anything yet, so the event is dropped.
    if (fv?.control === undefined || oldFv === undefined) return;
    const { view, offset } = word;
    const control = fv.control;
    const priority = chn.priority;

    const wasPending = testAndSetBit(view, offset, EVTCHN_FIFO_PENDING);
    let linked = true;
    if (
      !testBit(view, offset, EVTCHN_FIFO_MASKED) &&
      !testAndSetBit(view, offset, EVTCHN_FIFO_LINKED)
    ) {
      // If this port was its old queue's tail, that queue is empty now: forget the tail so
      // a later event there does not link after a port that moved to another queue.
      if (oldFv.tails[chn.lastPriority] === port) oldFv.tails[chn.lastPriority] = 0;
      chn.lastVcpu = vcpu;
      chn.lastPriority = priority;

      // Link after the tail iff the tail is still linked (the guest has not consumed it);
      // otherwise the queue is empty and the port becomes its head.
      linked = false;
      const tail = fv.tails[priority]!;
      if (tail !== 0) {
        const tailWord = this.#word(tail);
        if (tailWord !== undefined) linked = setLink(tailWord.view, tailWord.offset, port);
      }
      if (!linked) store32(control.view, control.offset + HEAD + 4 * priority, port);
      fv.tails[priority] = port;
    }

    if (!linked && !testAndSetBit(control.view, control.offset + READY, priority)) {
      markEventsPending(this.#domain, vcpu);
    }
    if (!wasPending) this.#domain.checkPollers?.(port);
  }

  clearPending(chn: Channel): void {
    // Only PENDING: the guest unlinks (and ignores) events that are no longer pending.
    const word = this.#word(chn.port);
    if (word !== undefined) clearBit(word.view, word.offset, EVTCHN_FIFO_PENDING);
  }

  unmask(chn: Channel): void {
    const word = this.#word(chn.port);
    if (word === undefined) return;
    clearBit(word.view, word.offset, EVTCHN_FIFO_MASKED);
    if (testBit(word.view, word.offset, EVTCHN_FIFO_PENDING)) this.setPending(chn.notifyVcpu, chn);
  }

  isPending(chn: Channel): boolean {
    const word = this.#word(chn.port);
    return word !== undefined && testBit(word.view, word.offset, EVTCHN_FIFO_PENDING);
  }

  isMasked(chn: Channel): boolean {
    const word = this.#word(chn.port);
    return word === undefined || testBit(word.view, word.offset, EVTCHN_FIFO_MASKED);
  }

  isBusy(chn: Channel): boolean {
    const word = this.#word(chn.port);
    return word !== undefined && testBit(word.view, word.offset, EVTCHN_FIFO_LINKED);
  }

  setPriority(chn: Channel, priority: number): number {
    if (!(priority >= 0 && priority <= EVTCHN_FIFO_PRIORITY_MIN)) return -XEN_EINVAL;
    // Only future events use the new queue; one already linked stays where it is.
    chn.priority = priority;
    return 0;
  }

  #word(port: number): { view: DataView; offset: number } | undefined {
    if (port >= this.numEvtchns) return undefined;
    const page = this.#pages[Math.floor(port / EVENT_WORDS_PER_PAGE)]!;
    return { view: page.view, offset: (port % EVENT_WORDS_PER_PAGE) * 4 };
  }

  #map(gfn: number): DataView | undefined {
    const view = this.#domain.mapGuestFrame(gfn);
    if (view === undefined) return undefined;
    if (view.byteLength < PAGE_SIZE) {
      // Not a whole frame: unusable, give it back.
      this.#domain.releaseGuestFrame?.(gfn);
      return undefined;
    }
    return view;
  }
}

/**
 * One attempt to point a LINKED word's LINK at `link` (try_set_link): 1 done, 0 the word
 * is no longer LINKED, -1 the guest changed it meanwhile (`w[0]` then holds its new value).
 */
function trySetLink(view: DataView, offset: number, w: Uint32Array, link: number): number {
  const old = w[0]!;
  if ((old & LINKED) === 0) return 0;
  const next = ((old & ~(BUSY | EVTCHN_FIFO_LINK_MASK)) | link) >>> 0;
  const seen = cmpxchg32(view, offset, old, next);
  if (seen === old) return 1;
  w[0] = seen;
  return -1;
}

/**
 * Sets the LINK of the tail word to `link` iff it is still LINKED (evtchn_fifo_set_link).
 * Returns whether the port was linked there. A guest may only set/clear MASKED, clear
 * PENDING, or clear LINKED on a linked word, and BUSY stops it unmasking, so after BUSY the
 * exchange fails at most four times; a guest that keeps changing the word anyway gets its
 * event treated as linked (lost), as in Xen.
 */
export function setLink(view: DataView, offset: number, link: number): boolean {
  const w = new Uint32Array([load32(view, offset)]);
  let ret = trySetLink(view, offset, w, link);
  if (ret >= 0) return ret === 1;
  setBit(view, offset, EVTCHN_FIFO_BUSY);
  w[0] = load32(view, offset);
  for (let attempt = 0; attempt < 4; attempt++) {
    ret = trySetLink(view, offset, w, link);
    if (ret >= 0) {
      if (ret === 0) clearBit(view, offset, EVTCHN_FIFO_BUSY);
      return ret === 1;
    }
  }
  clearBit(view, offset, EVTCHN_FIFO_BUSY);
  return true;
}
