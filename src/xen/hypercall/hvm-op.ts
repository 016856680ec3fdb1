/**
 * HYPERVISOR_hvm_op (Xen's do_hvm_op, xen/arch/x86/hvm/hvm.c): HVM parameters with
 * hvm_allow_set_param / hvm_allow_get_param's rules, the per-vCPU event upcall vector,
 * TLB flushes, the time, and memory types. Every domain here is HVM/PVH with hardware
 * assisted paging and no emulated platform devices (no vPIC, vIOAPIC, ACPI PM timer).
 */
import {
  XEN_EEXIST,
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENODEV,
  XEN_ENOENT,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  HVM_NR_PARAMS,
  HVM_PARAM_ACPI_IOPORTS_LOCATION,
  HVM_PARAM_ACPI_S_STATE,
  HVM_PARAM_ALTP2M,
  HVM_PARAM_BUFIOREQ_EVTCHN,
  HVM_PARAM_BUFIOREQ_PFN,
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_CALLBACK_TYPE_VECTOR,
  HVM_PARAM_CONSOLE_EVTCHN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_DM_DOMAIN,
  HVM_PARAM_IOREQ_PFN,
  HVM_PARAM_IOREQ_SERVER_PFN,
  HVM_PARAM_MCA_CAP,
  HVM_PARAM_MEMORY_EVENT_CR0,
  HVM_PARAM_MEMORY_EVENT_CR3,
  HVM_PARAM_MEMORY_EVENT_CR4,
  HVM_PARAM_MEMORY_EVENT_INT3,
  HVM_PARAM_MEMORY_EVENT_MSR,
  HVM_PARAM_MEMORY_EVENT_SINGLE_STEP,
  HVM_PARAM_NESTEDHVM,
  HVM_PARAM_NR_IOREQ_SERVER_PAGES,
  HVM_PARAM_PAE_ENABLED,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
  HVM_PARAM_TIMER_MODE,
  HVM_PARAM_TRIPLE_FAULT_REASON,
  HVM_PARAM_VIRIDIAN,
  HVM_PARAM_VM_GENERATION_ID_ADDR,
  HVM_PARAM_VM86_TSS,
  HVM_PARAM_VM86_TSS_SIZED,
  HVM_PARAM_X87_FIP_WIDTH,
  HVMMEM_mmio_dm,
  HVMMEM_ram_ro,
  HVMMEM_ram_rw,
  HVMOP_altp2m,
  HVMOP_flush_tlbs,
  HVMOP_get_mem_type,
  HVMOP_get_param,
  HVMOP_get_time,
  HVMOP_guest_request_vm_event,
  HVMOP_pagetable_dying,
  HVMOP_set_evtchn_upcall_vector,
  HVMOP_set_param,
  HVMOP_xentrace,
  HVMPTM_one_missed_tick_pending,
  HVMPV_base_freq,
  HVMPV_feature_mask,
  XEN_ALTP2M_limited,
  XEN_HVM_MCA_CAP_MASK,
  xen_hvm_evtchn_upcall_vector,
  xen_hvm_get_mem_type,
  xen_hvm_get_time,
  xen_hvm_param,
} from '../../abi/hvm.js';
import { SHUTDOWN_MAX } from '../../abi/sched.js';
import { P2m } from '../../x86/memory.js';
import { assertEvtchnIrq } from '../arch/x86/hvm/events.js';
import { updateWallclock } from '../arch/x86/hvm/vcpu-info.js';
import type { Domain } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import {
  argPointer,
  isNull,
  readBytes,
  readStruct,
  updateStruct,
  writeStruct,
} from './guest-args.js';
import type { HypercallCall } from './table.js';
import { domainByAnyId, xsmTarget } from './xsm.js';

/** Set in HVM_PARAM_VM86_TSS_SIZED once the TSS has been written (Xen's VM86_TSS_UPDATED). */
const VM86_TSS_UPDATED = 1n << 63n;
/** sizeof(struct tss32), and the most of a VM86 TSS that can be of use. */
const TSS32_SIZE = 104n;
const VM86_TSS_MAX = TSS32_SIZE + 0x100n / 8n + 0x10000n / 8n + 1n;
const U32_MAX = 0xffffffffn;
/** struct xen_hvm_xentrace: event, extra_bytes, extra[28]. */
const XENTRACE_EXTRA = 28;
const XENTRACE_SIZE = 8 + XENTRACE_EXTRA;
const TRC_SUBCLS_SHIFT = 12;

/** Parameters a guest may set on itself (the others are the toolstack's). */
const GUEST_SETTABLE = new Set([
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_VM86_TSS,
  HVM_PARAM_VM86_TSS_SIZED,
  HVM_PARAM_ACPI_IOPORTS_LOCATION,
  HVM_PARAM_VM_GENERATION_ID_ADDR,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_CONSOLE_EVTCHN,
  HVM_PARAM_X87_FIP_WIDTH,
]);

/** Parameters a guest may read on itself. */
const GUEST_READABLE = new Set([
  ...GUEST_SETTABLE,
  HVM_PARAM_STORE_PFN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_ALTP2M,
]);

/** Deprecated parameters: -EINVAL for everyone. */
const DEPRECATED = new Set([
  HVM_PARAM_PAE_ENABLED,
  HVM_PARAM_DM_DOMAIN,
  HVM_PARAM_MEMORY_EVENT_CR0,
  HVM_PARAM_MEMORY_EVENT_CR3,
  HVM_PARAM_MEMORY_EVENT_CR4,
  HVM_PARAM_MEMORY_EVENT_INT3,
  HVM_PARAM_NESTEDHVM,
  HVM_PARAM_MEMORY_EVENT_SINGLE_STEP,
  HVM_PARAM_BUFIOREQ_EVTCHN,
  HVM_PARAM_MEMORY_EVENT_MSR,
]);

/** Parameters that can only be set once (to a non-zero value). */
const SET_ONCE = new Set([
  HVM_PARAM_VIRIDIAN,
  HVM_PARAM_IOREQ_PFN,
  HVM_PARAM_BUFIOREQ_PFN,
  HVM_PARAM_IOREQ_SERVER_PFN,
  HVM_PARAM_NR_IOREQ_SERVER_PAGES,
  HVM_PARAM_ALTP2M,
  HVM_PARAM_MCA_CAP,
]);

function allowSetParam(call: HypercallCall, d: Domain, index: number, value: bigint): number {
  if (!xsmTarget(call.vcpu.domain, d)) return -XEN_EPERM;
  if (DEPRECATED.has(index)) return -XEN_EINVAL;
  if (!GUEST_SETTABLE.has(index) && d === call.vcpu.domain) return -XEN_EPERM;
  const old = d.hvmParams[index]!;
  if (SET_ONCE.has(index) && old !== 0n && value !== old) return -XEN_EEXIST;
  return 0;
}

/** Xen's hvm_set_callback_via: a vector callback wakes every online vCPU to look again. */
function setCallbackVia(hv: Hypervisor, d: Domain): void {
  const host = { frames: hv.frames, view: hv.memory.view, kick: hv.kick.bind(hv) };
  for (const vcpu of d.vcpus) if (vcpu.online) assertEvtchnIrq(host, vcpu);
}

/** hvm_set_param: 0 or a negative errno; the value is stored on success. */
function setParam(call: HypercallCall, d: Domain, index: number, value: bigint): number {
  const rc = allowSetParam(call, d, index, value);
  if (rc !== 0) return rc;
  const self = d === call.vcpu.domain;
  let stored = value;
  let at = index;
  switch (index) {
    case HVM_PARAM_CALLBACK_IRQ:
      d.hvmParams[index] = value; // events.ts reads the via from here
      // Without a vPIC or vIOAPIC only the vector type takes effect (GSI and PCI INTx are
      // stored and ignored, as hvm_set_callback_via leaves them).
      if (value >> 56n === BigInt(HVM_PARAM_CALLBACK_TYPE_VECTOR)) setCallbackVia(call.hv, d);
      // hvm_latch_shinfo_size: the first thing PV drivers do; refresh the wallclock.
      if (self) updateWallclock(call.hv.memory.view, call.hv.time, d);
      return 0;
    case HVM_PARAM_TIMER_MODE:
      if (value > BigInt(HVMPTM_one_missed_tick_pending)) return -XEN_EINVAL;
      break;
    case HVM_PARAM_VIRIDIAN:
      if (value & ~BigInt(HVMPV_feature_mask) || !(value & BigInt(HVMPV_base_freq))) {
        return -XEN_EINVAL;
      }
      break;
    case HVM_PARAM_ACPI_S_STATE:
      // No S3 without an ACPI platform; the values Xen takes are still checked.
      if (value !== 0n && value !== 3n) return -XEN_EINVAL;
      break;
    case HVM_PARAM_ACPI_IOPORTS_LOCATION:
      return -XEN_ENODEV; // pmtimer_change_ioport: no ACPI PM timer
    case HVM_PARAM_ALTP2M:
      if (!call.vcpu.domain.privileged) return -XEN_EPERM;
      if (value > BigInt(XEN_ALTP2M_limited)) return -XEN_EINVAL;
      break;
    case HVM_PARAM_TRIPLE_FAULT_REASON:
      if (value > BigInt(SHUTDOWN_MAX)) return -XEN_EINVAL;
      break;
    case HVM_PARAM_NR_IOREQ_SERVER_PAGES:
      if (value === 0n || value > 64n) return -XEN_EINVAL;
      break;
    case HVM_PARAM_X87_FIP_WIDTH:
      if (value !== 0n && value !== 4n && value !== 8n) return -XEN_EINVAL;
      break;
    case HVM_PARAM_VM86_TSS:
      // Hardware would truncate; old hvmloaders assume a 128-byte TSS.
      if (value > U32_MAX) {
        if (self) call.hv.crashDomain(d, 'HVM_PARAM_VM86_TSS above 4 GiB');
        return -XEN_EINVAL;
      }
      stored = value === 0n ? 0n : value | (128n << 32n) | VM86_TSS_UPDATED;
      at = HVM_PARAM_VM86_TSS_SIZED;
      break;
    case HVM_PARAM_VM86_TSS_SIZED:
      if (value >> 32n < TSS32_SIZE) {
        if (self) call.hv.crashDomain(d, 'HVM_PARAM_VM86_TSS_SIZED too small');
        return -XEN_EINVAL;
      }
      if (value >> 32n > VM86_TSS_MAX) stored = (value & U32_MAX) | (VM86_TSS_MAX << 32n);
      stored |= VM86_TSS_UPDATED;
      break;
    case HVM_PARAM_MCA_CAP:
      // No LMCE on this machine: only 0 is a capability set it can give.
      if (value & ~BigInt(XEN_HVM_MCA_CAP_MASK) || value !== 0n) return -XEN_EINVAL;
      break;
    default:
      break;
  }
  d.hvmParams[at] = stored;
  return 0;
}

/** hvm_get_param: the value, or a negative errno. */
function getParam(call: HypercallCall, d: Domain, index: number): bigint | number {
  if (!xsmTarget(call.vcpu.domain, d)) return -XEN_EPERM;
  if (DEPRECATED.has(index)) return -XEN_EINVAL;
  if (!GUEST_READABLE.has(index) && d === call.vcpu.domain) return -XEN_EPERM;
  const params = d.hvmParams;
  switch (index) {
    case HVM_PARAM_ACPI_S_STATE:
      return 0n; // never suspended to S3
    case HVM_PARAM_VM86_TSS:
      return params[HVM_PARAM_VM86_TSS_SIZED]! & U32_MAX;
    case HVM_PARAM_VM86_TSS_SIZED:
      return params[HVM_PARAM_VM86_TSS_SIZED]! & ~VM86_TSS_UPDATED;
    default:
      return params[index]!;
  }
}

function paramOp(call: HypercallCall, set: boolean): number {
  const at = argPointer(call, 2);
  const a = readStruct(call, xen_hvm_param, at);
  if (a === undefined) return -XEN_EFAULT;
  if (a.index >= HVM_NR_PARAMS) return -XEN_EINVAL;
  const d = domainByAnyId(call, a.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (set) return setParam(call, d, a.index, a.value);
  const value = getParam(call, d, a.index);
  if (typeof value === 'number') return value;
  return updateStruct(call, xen_hvm_param, at, { value }) ? 0 : -XEN_EFAULT;
}

function setEvtchnUpcallVector(call: HypercallCall): number {
  const op = readStruct(call, xen_hvm_evtchn_upcall_vector, argPointer(call, 2));
  if (op === undefined) return -XEN_EFAULT;
  if (op.vector < 0x10) return -XEN_EINVAL;
  const vcpu = call.vcpu.domain.vcpus[op.vcpu];
  if (vcpu === undefined) return -XEN_ENOENT;
  // Raised once straight away (hvm_assert_evtchn_irq), so the guest scans what is pending.
  return vcpu.vlapic.setUpcallVector(op.vector);
}

/** HVMOP_xentrace: checked as Xen does; with no trace buffers the record is dropped. */
function xentrace(call: HypercallCall): number {
  const head = readBytes(call, argPointer(call, 2), XENTRACE_SIZE);
  if (head === undefined) return -XEN_EFAULT;
  const view = new DataView(head.buffer);
  const event = view.getUint32(0, true);
  const extraBytes = view.getUint32(4, true);
  if (extraBytes > XENTRACE_EXTRA || event & ~((1 << TRC_SUBCLS_SHIFT) - 1)) return -XEN_EINVAL;
  return 0;
}

/**
 * HVMOP_pagetable_dying is a hint for shadow paging, which this hypervisor does not have: it
 * is -ENOSYS (as for a Xen built without shadow paging), which Linux takes as "not supported".
 */
function pagetableDying(): number {
  return -XEN_ENOSYS;
}

function getMemType(call: HypercallCall): number {
  const at = argPointer(call, 2);
  const a = readStruct(call, xen_hvm_get_mem_type, at);
  if (a === undefined) return -XEN_EFAULT;
  const d = domainByAnyId(call, a.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (!xsmTarget(call.vcpu.domain, d)) return -XEN_EPERM;
  const entry = a.pfn < BigInt(d.p2m.length) ? d.p2m[Number(a.pfn)]! : P2m.None;
  let type = HVMMEM_mmio_dm; // holes and MMIO
  if (entry >= 0) type = entry & P2m.ReadOnly ? HVMMEM_ram_ro : HVMMEM_ram_rw;
  return updateStruct(call, xen_hvm_get_mem_type, at, { mem_type: type }) ? 0 : -XEN_EFAULT;
}

export function hvmOp(call: HypercallCall): number {
  const op = call.argLo[1]!;
  // The op is an unsigned long: a set upper half names no operation.
  if (call.argHi[1] !== 0) return -XEN_ENOSYS;
  const arg = argPointer(call, 2);
  switch (op) {
    case HVMOP_set_evtchn_upcall_vector:
      return setEvtchnUpcallVector(call);
    case HVMOP_set_param:
      return paramOp(call, true);
    case HVMOP_get_param:
      return paramOp(call, false);
    case HVMOP_flush_tlbs:
      if (!isNull(arg)) return -XEN_EINVAL;
      for (const vcpu of call.vcpu.domain.vcpus) vcpu.cpu.flushTlb();
      return 0;
    case HVMOP_get_mem_type:
      return getMemType(call);
    case HVMOP_pagetable_dying:
      return pagetableDying();
    case HVMOP_get_time:
      return writeStruct(call, xen_hvm_get_time, arg, {
        now: BigInt(Math.floor(call.hv.time.now())),
      })
        ? 0
        : -XEN_EFAULT;
    case HVMOP_xentrace:
      return xentrace(call);
    case HVMOP_guest_request_vm_event:
      return isNull(arg) ? 0 : -XEN_EINVAL; // no monitor: nothing to notify
    case HVMOP_altp2m:
      return -XEN_EOPNOTSUPP; // no altp2m support
    default:
      return -XEN_ENOSYS;
  }
}
