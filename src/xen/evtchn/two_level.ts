/**
 * The 2-level ABI (Xen's event_2l.c): one pending and one mask bit per port in shared_info,
 * a selector bit per 64-port word in each vCPU's vcpu_info.
 *
 * A guest (Linux's events_2l.c) clears evtchn_upcall_pending, exchanges evtchn_pending_sel
 * with 0, and for every selected word scans evtchn_pending[w] & ~evtchn_mask[w]. So Xen sets,
 * in this order: the port's pending bit (stopping if it was already set), then — unless the
 * port is masked — the word's selector bit in the notified vCPU's vcpu_info, then
 * upcall_pending, and kicks the vCPU if upcall_pending was clear.
 */

import { EVTCHN_2L_NR_CHANNELS } from '../../abi/event_channel.js';
import { shared_info, vcpu_info } from '../../abi/xen.js';
import { testAndClearBit, testAndSetBit, testBit } from './atomic.js';
import type { Channel, EvtchnDomain, PortOps } from './types.js';
import { markEventsPending } from './upcall.js';

/** Bits per evtchn word (xen_ulong_t) on x86-64. */
export const BITS_PER_EVTCHN_WORD = 64;

const PENDING = shared_info.offsets.evtchn_pending;
const MASK = shared_info.offsets.evtchn_mask;
const PENDING_SEL = vcpu_info.offsets.evtchn_pending_sel;

export class TwoLevelPorts implements PortOps {
  readonly abi = '2l';
  readonly maxPorts = EVTCHN_2L_NR_CHANNELS;

  constructor(private readonly domain: EvtchnDomain) {}

  init(): void {}

  setPending(vcpu: number, chn: Channel): void {
    const port = chn.port;
    const si = this.domain.sharedInfo();
    if (si === undefined || port >= this.maxPorts) return;
    if (testAndSetBit(si, PENDING, port)) return;
    if (!testBit(si, MASK, port)) this.#select(vcpu, port);
    this.domain.checkPollers?.(port);
  }

  clearPending(chn: Channel): void {
    const si = this.domain.sharedInfo();
    if (si === undefined || chn.port >= this.maxPorts) return;
    testAndClearBit(si, PENDING, chn.port);
  }

  unmask(chn: Channel): void {
    const port = chn.port;
    const si = this.domain.sharedInfo();
    if (si === undefined || port >= this.maxPorts) return;
    // Same order as setPending: a port that was masked and is pending is raised now.
    if (testAndClearBit(si, MASK, port) && testBit(si, PENDING, port)) {
      this.#select(chn.notifyVcpu, port);
    }
  }

  isPending(chn: Channel): boolean {
    const si = this.domain.sharedInfo();
    return si !== undefined && chn.port < this.maxPorts && testBit(si, PENDING, chn.port);
  }

  isMasked(chn: Channel): boolean {
    const si = this.domain.sharedInfo();
    return si === undefined || chn.port >= this.maxPorts || testBit(si, MASK, chn.port);
  }

  isBusy(): boolean {
    return false;
  }

  /** Sets the port's word in the vCPU's selector; a newly set bit raises the upcall. */
  #select(vcpu: number, port: number): void {
    const info = this.domain.vcpuInfo(vcpu);
    if (info === undefined) return;
    const word = Math.floor(port / BITS_PER_EVTCHN_WORD);
    if (!testAndSetBit(info.view, info.offset + PENDING_SEL, word)) {
      markEventsPending(this.domain, vcpu);
    }
  }
}
