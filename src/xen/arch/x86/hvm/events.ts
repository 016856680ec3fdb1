/**
 * Event delivery for an HVM/PVH domain: its side of the event channels (EvtchnDomain) and
 * the upcall, which reaches the vCPU as Xen's hvm_assert_evtchn_irq delivers it: the
 * per-vCPU upcall vector through the local APIC (HVMOP_set_evtchn_upcall_vector), or the
 * domain-wide callback vector (HVM_PARAM_CALLBACK_IRQ of type vector), injected directly
 * for as long as vcpu_info.evtchn_upcall_pending is set.
 */
import {
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT,
  HVM_PARAM_CALLBACK_TYPE_VECTOR,
} from '../../../../abi/hvm.js';
import { vcpu_info } from '../../../../abi/xen.js';
import { P2m } from '../../../../x86/memory.js';
import type { Domain, Vcpu } from '../../../common/domain.js';
import type { FrameTable } from '../../../common/frame-table.js';
import type { EvtchnDomain } from '../../../evtchn/index.js';
import { injectPendingInterrupt } from '../vlapic/index.js';

export interface EventHost {
  readonly frames: FrameTable;
  /** The whole of machine memory. */
  readonly view: DataView;
  /** An event is pending for the vCPU: wake it. */
  kick(vcpu: Vcpu): void;
}

/** The callback vector of HVM_PARAM_CALLBACK_IRQ when its type is "vector", else 0. */
export function callbackVector(domain: Domain): number {
  const via = domain.hvmParams[HVM_PARAM_CALLBACK_IRQ]!;
  if (Number(via >> BigInt(HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT)) !== HVM_PARAM_CALLBACK_TYPE_VECTOR) {
    return 0;
  }
  return Number(via & 0xffn);
}

/** Whether vcpu_info.evtchn_upcall_pending is set. */
export function upcallPending(view: DataView, vcpu: Vcpu): boolean {
  const at = vcpu.vcpuInfoAddress;
  return at >= 0 && view.getUint8(at + vcpu_info.offsets.evtchn_upcall_pending) !== 0;
}

/** Xen's hvm_assert_evtchn_irq: the upcall of a vCPU whose events became pending. */
export function assertEvtchnIrq(host: EventHost, vcpu: Vcpu): void {
  if (vcpu.vlapic.upcallVector !== 0) vcpu.vlapic.assertUpcall();
  host.kick(vcpu);
}

/**
 * Before a vCPU runs: injects what it should take now (the callback vector while events are
 * pending, else the APIC's highest interrupt), or asks for an interrupt-window exit.
 */
export function injectEvents(view: DataView, vcpu: Vcpu): void {
  const cpu = vcpu.cpu;
  if (cpu.pendingInterrupt >= 0) return;
  const vector = callbackVector(vcpu.domain);
  if (vector !== 0 && vcpu.vlapic.upcallVector === 0 && upcallPending(view, vcpu)) {
    if (cpu.interruptible) cpu.injectInterrupt(vector);
    else cpu.requestInterruptWindow();
    return;
  }
  injectPendingInterrupt(vcpu.vlapic, cpu);
}

/** Xen's hvm_local_events_need_delivery: something would interrupt the vCPU (ignoring IF). */
export function eventsNeedDelivery(view: DataView, vcpu: Vcpu): boolean {
  if (vcpu.cpu.pendingInterrupt >= 0 || vcpu.cpu.nmiPending) return true;
  if (callbackVector(vcpu.domain) !== 0 && upcallPending(view, vcpu)) return true;
  return vcpu.vlapic.highestPending() >= 0;
}

export function evtchnDomain(host: EventHost, domain: Domain): EvtchnDomain {
  const { frames, view } = host;
  /** FIFO pages Xen holds mapped: gfn → the machine frame it referenced. */
  const mapped = new Map<number, number[]>();
  let sharedInfo: DataView | undefined;
  return {
    domid: domain.id,
    vcpuCount: domain.config.maxVcpus,
    isPrivileged: domain.privileged,
    ...(domain.config.maxEvtchnPort === undefined
      ? {}
      : { maxEvtchnPort: domain.config.maxEvtchnPort }),
    sharedInfo() {
      const mfn = domain.sharedInfoMfn;
      if (mfn < 0) return undefined;
      if (sharedInfo?.byteOffset !== mfn * 4096) {
        sharedInfo = new DataView(view.buffer, mfn * 4096, 4096);
      }
      return sharedInfo;
    },
    vcpuInfo(n) {
      const at = domain.vcpus[n]?.vcpuInfoAddress ?? -1;
      return at < 0 ? undefined : { view, offset: at };
    },
    mapGuestFrame(gfn) {
      const entry = domain.p2m[gfn];
      if (entry === undefined || entry < 0 || entry & P2m.ReadOnly) return undefined;
      const mfn = domain.mfnOf(gfn);
      if (frames.owner[mfn] !== domain.id || !frames.get(mfn, domain.id)) return undefined;
      const list = mapped.get(gfn) ?? [];
      list.push(mfn);
      mapped.set(gfn, list);
      return new DataView(view.buffer, mfn * 4096, 4096);
    },
    releaseGuestFrame(gfn) {
      const mfn = mapped.get(gfn)?.pop();
      if (mfn !== undefined) frames.put(mfn);
    },
    kick(n) {
      const vcpu = domain.vcpus[n];
      if (vcpu !== undefined) assertEvtchnIrq(host, vcpu);
    },
    checkPollers(port) {
      for (const vcpu of domain.vcpus) {
        if (vcpu.pollPorts?.includes(port)) {
          vcpu.pollPorts = undefined;
          host.kick(vcpu);
        }
      }
    },
    isPausedByController: () => domain.pauseCount > 0,
  };
}
