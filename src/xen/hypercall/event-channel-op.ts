/**
 * HYPERVISOR_event_channel_op (Xen's do_event_channel_op). Each EVTCHNOP_* struct is copied
 * in with its layout and handed to the calling domain's EventChannels; the ops with outputs
 * copy the whole struct back on success, as Xen does. HVM guests reach this directly (no
 * hvm_ filter), and have no __HYPERVISOR_event_channel_op_compat: that is PV-only.
 */
import {
  XEN_EBUSY,
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENOSYS,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_bind_interdomain,
  EVTCHNOP_bind_ipi,
  EVTCHNOP_bind_pirq,
  EVTCHNOP_bind_vcpu,
  EVTCHNOP_bind_virq,
  EVTCHNOP_close,
  EVTCHNOP_expand_array,
  EVTCHNOP_init_control,
  EVTCHNOP_reset,
  EVTCHNOP_send,
  EVTCHNOP_set_priority,
  EVTCHNOP_status,
  EVTCHNOP_unmask,
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_bind_ipi,
  evtchn_bind_pirq,
  evtchn_bind_vcpu,
  evtchn_bind_virq,
  evtchn_close,
  evtchn_expand_array,
  evtchn_init_control,
  evtchn_reset,
  evtchn_send,
  evtchn_set_priority,
  evtchn_status,
  evtchn_unmask,
} from '../../abi/event_channel.js';
import { argPointer, readBytes, writeBytes } from './guest-args.js';
import type { HypercallCall } from './table.js';
import { domainByAnyId, xsmTarget } from './xsm.js';

/**
 * EVTCHNOP_reset's continuation. Xen's header defines it under __XEN__ only, yet a guest
 * may pass it; it resumes a preempted reset.
 */
export const EVTCHNOP_reset_cont = 14;

export function eventChannelOp(call: HypercallCall): number {
  const cmd = call.argLo[1]!;
  const evtchn = call.vcpu.domain.evtchn;
  switch (cmd) {
    case EVTCHNOP_alloc_unbound:
      return withArg(call, evtchn_alloc_unbound, true, (a) => evtchn.allocUnbound(a));
    case EVTCHNOP_bind_interdomain:
      return withArg(call, evtchn_bind_interdomain, true, (a) => evtchn.bindInterdomain(a));
    case EVTCHNOP_bind_virq:
      return withArg(call, evtchn_bind_virq, true, (a) => evtchn.bindVirq(a));
    case EVTCHNOP_bind_ipi:
      return withArg(call, evtchn_bind_ipi, true, (a) => evtchn.bindIpi(a));
    case EVTCHNOP_bind_pirq:
      return withArg(call, evtchn_bind_pirq, true, (a) => evtchn.bindPirq(a));
    case EVTCHNOP_close:
      return withArg(call, evtchn_close, false, (a) => evtchn.close(a));
    case EVTCHNOP_send:
      return withArg(call, evtchn_send, false, (a) => evtchn.send(a));
    case EVTCHNOP_status:
      return withArg(call, evtchn_status, true, (a) => evtchn.status(a));
    case EVTCHNOP_bind_vcpu:
      return withArg(call, evtchn_bind_vcpu, false, (a) => evtchn.bindVcpu(a));
    case EVTCHNOP_unmask:
      return withArg(call, evtchn_unmask, false, (a) => evtchn.unmask(a));
    case EVTCHNOP_reset:
      return withArg(call, evtchn_reset, false, (a) => evtchn.reset(a));
    case EVTCHNOP_reset_cont:
      return withArg(call, evtchn_reset, false, (a) => resetCont(call, a.dom));
    case EVTCHNOP_init_control:
      return withArg(call, evtchn_init_control, true, (a) => evtchn.initControl(a));
    case EVTCHNOP_expand_array:
      return withArg(call, evtchn_expand_array, false, (a) => evtchn.expandArray(a));
    case EVTCHNOP_set_priority:
      return withArg(call, evtchn_set_priority, false, (a) => evtchn.setPriority(a));
    default:
      return -XEN_ENOSYS;
  }
}

/** What withArg needs of a src/abi layout: its decoded value goes back in as it came out. */
interface StructCodec<V> {
  readonly size: number;
  decode(data: Uint8Array): V;
  write(view: DataView, at: number, value: NoInfer<V>): void;
}

/**
 * Copies the struct at argument 2 in (-EFAULT if it cannot), runs the op on it and, for an
 * op with outputs that succeeded, writes it back over the bytes copied in: fields the op
 * did not set (padding, other union members) go back as the guest passed them.
 */
function withArg<V>(
  call: HypercallCall,
  layout: StructCodec<V>,
  hasOutput: boolean,
  op: (arg: V) => number,
): number {
  const at = argPointer(call, 2);
  const bytes = readBytes(call, at, layout.size);
  if (bytes === undefined) return -XEN_EFAULT;
  const arg = layout.decode(bytes);
  const rc = op(arg);
  if (rc !== 0 || !hasOutput) return rc;
  layout.write(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, arg);
  // Xen: "Cleaning up here would be a mess!" — the op stays done, the guest sees -EFAULT.
  return writeBytes(call, at, bytes) ? 0 : -XEN_EFAULT;
}

/**
 * EVTCHNOP_reset_cont: the checks of EVTCHNOP_reset (the domain, XSM_TARGET, a foreign
 * domain must be paused by the toolstack), then -EBUSY: our resets are never preempted, so
 * there is never one in progress to resume (Xen's next_evtchn is 0).
 */
function resetCont(call: HypercallCall, dom: number): number {
  const current = call.vcpu.domain;
  const d = domainByAnyId(call, dom);
  if (d === undefined) return -XEN_ESRCH;
  if (!xsmTarget(current, d)) return -XEN_EPERM;
  if (d !== current && d.pauseCount === 0) return -XEN_EINVAL;
  return -XEN_EBUSY;
}
