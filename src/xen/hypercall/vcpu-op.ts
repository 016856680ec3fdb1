/**
 * HYPERVISOR_vcpu_op(cmd, vcpuid, arg) for HVM/PVH domains: Xen's do_vcpu_op
 * (xen/arch/x86/domain.c) and common_vcpu_op (xen/common/domain.c) — bringing vCPUs up
 * and down, their initial state, runstate, timers, and where vcpu_info and the time
 * records live.
 */
import {
  XEN_EEXIST,
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENOENT,
  XEN_ENOSYS,
  XEN_ENXIO,
} from '../../abi/errno.js';
import { SHUTDOWN_poweroff } from '../../abi/sched.js';
import {
  VCPUOP_down,
  VCPUOP_get_physid,
  VCPUOP_get_runstate_info,
  VCPUOP_initialise,
  VCPUOP_is_up,
  VCPUOP_register_runstate_memory_area,
  VCPUOP_register_vcpu_info,
  VCPUOP_register_vcpu_time_memory_area,
  VCPUOP_send_nmi,
  VCPUOP_set_periodic_timer,
  VCPUOP_set_singleshot_timer,
  VCPUOP_stop_periodic_timer,
  VCPUOP_stop_singleshot_timer,
  VCPUOP_up,
  vcpu_hvm_context,
  vcpu_register_runstate_memory_area,
  vcpu_register_time_memory_area,
  vcpu_register_vcpu_info,
  vcpu_set_periodic_timer,
  vcpu_set_singleshot_timer,
} from '../../abi/vcpu.js';
import { vcpu_info } from '../../abi/xen.js';
import { P2m } from '../../x86/memory.js';
import { applyHvmContext } from '../arch/x86/hvm/vcpu-context.js';
import { updateVcpuTime } from '../arch/x86/hvm/vcpu-info.js';
import { runstateBytes } from '../arch/x86/runstate.js';
import type { Vcpu } from '../common/domain.js';
import { markEventsPending } from '../evtchn/upcall.js';
import { argPointer, handlePointer, isNull, readStruct, writeBytes } from './guest-args.js';
import { shutdownWithCode } from './sched-op.js';
import type { HypercallCall } from './table.js';

/** Xen's MILLISECS(1): the shortest period of a periodic timer. */
const MIN_PERIOD_NS = 1_000_000n;
/** Xen's STIME_DELTA_MAX. */
const STIME_DELTA_MAX = (1n << 62n) - 1n;
/** alignof(vcpu_info) for a 64-bit shared_info. */
const VCPU_INFO_ALIGN = 8;

/**
 * Xen's map_vcpu_info: vcpu_info moves to (gfn, offset) of the domain's own writable RAM,
 * once. The frame is referenced until the domain is destroyed; every event is then marked
 * pending so that none is lost in the move.
 */
function registerVcpuInfo(call: HypercallCall, v: Vcpu): number {
  const info = readStruct(call, vcpu_register_vcpu_info, argPointer(call, 3));
  if (info === undefined) return -XEN_EFAULT;
  const rc = mapVcpuInfo(call, v, info.mfn, info.offset);
  updateVcpuTime(call.hv.memory.view, call.hv.time, v); // force_update_vcpu_system_time
  return rc;
}

function mapVcpuInfo(call: HypercallCall, v: Vcpu, gfn: bigint, offset: number): number {
  const { hv } = call;
  const d = v.domain;
  if (offset > 4096 - vcpu_info.size || offset % VCPU_INFO_ALIGN !== 0) return -XEN_ENXIO;
  if (v.vcpuInfoRegistered) return -XEN_EINVAL;
  // Only on itself, or on a vCPU that is down.
  if (v !== call.vcpu && v.online) return -XEN_EINVAL;
  if (gfn >= BigInt(d.p2m.length)) return -XEN_EINVAL;
  const entry = d.p2m[Number(gfn)]!;
  if (entry < 0 || entry & P2m.ReadOnly) return -XEN_EINVAL;
  const mfn = entry & P2m.FrameMask;
  if (!hv.frames.get(mfn, d.id)) return -XEN_EINVAL; // not the domain's own RAM
  const bytes = hv.memory.bytes;
  const at = mfn * 4096 + offset;
  const old = v.vcpuInfoAddress;
  if (old >= 0) {
    bytes.copyWithin(at, old, old + vcpu_info.size);
  } else {
    // Xen's dummy vcpu_info had nothing: start clean, with upcalls masked.
    bytes.fill(0, at, at + vcpu_info.size);
    bytes[at + vcpu_info.offsets.evtchn_upcall_mask] = 1;
  }
  v.vcpuInfoAddress = at;
  v.vcpuInfoRegistered = true;
  const sel = at + vcpu_info.offsets.evtchn_pending_sel;
  hv.memory.view.setUint32(sel, 0xffffffff, true);
  hv.memory.view.setUint32(sel + 4, 0xffffffff, true);
  markEventsPending(d.evtchn.domain, v.id);
  return 0;
}

function registerRunstateArea(call: HypercallCall, v: Vcpu): number {
  const area = readStruct(call, vcpu_register_runstate_memory_area, argPointer(call, 3));
  if (area === undefined) return -XEN_EFAULT;
  const at = handlePointer(area.addr.h);
  // A NULL handle stops the updates.
  v.runstateArea = isNull(at) ? undefined : at;
  if (v.runstateArea !== undefined) {
    // Written now, into the caller's address space; failures are ignored as in Xen.
    writeBytes(call, at, runstateBytes(v, v === call.vcpu ? undefined : call.hv.time.now()));
  }
  return 0;
}

function registerTimeArea(call: HypercallCall, v: Vcpu): number {
  const area = readStruct(call, vcpu_register_time_memory_area, argPointer(call, 3));
  if (area === undefined) return -XEN_EFAULT;
  const at = handlePointer(area.addr.h);
  v.timeArea = isNull(at) ? undefined : at;
  updateVcpuTime(call.hv.memory.view, call.hv.time, v);
  return 0;
}

/** VCPUOP_initialise: a down vCPU's first state, which VCPUOP_up then starts. */
function initialise(call: HypercallCall, v: Vcpu): number {
  if (v.vcpuInfoAddress < 0) return -XEN_EINVAL; // no vcpu_info yet: register one first
  const ctx = readStruct(call, vcpu_hvm_context, argPointer(call, 3));
  if (ctx === undefined) return -XEN_EFAULT;
  if (v.initialised || v.online) return -XEN_EEXIST;
  const rc = applyHvmContext(v.cpu, ctx);
  if (rc !== 0) return rc;
  // The AP's TSC follows the BSP's.
  v.cpu.tscOffset = v.domain.vcpus[0]!.cpu.tscOffset;
  v.initialised = true;
  return 0;
}

function down(call: HypercallCall, v: Vcpu): number {
  const d = v.domain;
  // The last vCPU going down powers the domain off instead.
  if (!d.vcpus.some((other) => other !== v && other.online)) {
    shutdownWithCode(call.hv, d, SHUTDOWN_poweroff);
    return 0;
  }
  if (v.online) v.initialised = true; // it keeps its state for a later VCPUOP_up
  call.hv.setOnline(v, false);
  return 0;
}

function setPeriodic(call: HypercallCall, v: Vcpu): number {
  const set = readStruct(call, vcpu_set_periodic_timer, argPointer(call, 3));
  if (set === undefined) return -XEN_EFAULT;
  if (set.period_ns < MIN_PERIOD_NS || set.period_ns > STIME_DELTA_MAX) return -XEN_EINVAL;
  return v.domain.timers.setPeriodic(v.id, Number(set.period_ns), call.hv.time.now());
}

function setSingleshot(call: HypercallCall, v: Vcpu): number {
  if (v !== call.vcpu) return -XEN_EINVAL;
  const set = readStruct(call, vcpu_set_singleshot_timer, argPointer(call, 3));
  if (set === undefined) return -XEN_EFAULT;
  // Xen 4.17 ignores VCPU_SSHOTTMR_future: a timeout in the past fires at once, and so
  // does one at 2^63 or more (set_timer takes it as a negative s_time_t).
  const timeout = Number(BigInt.asIntN(64, set.timeout_abs_ns));
  return v.domain.timers.setSingleshot(v.id, timeout, 0, call.hv.time.now());
}

export function vcpuOp(call: HypercallCall): number {
  const cmd = call.argLo[1]!;
  const v = call.vcpu.domain.vcpus[call.argLo[2]! >>> 0];
  if (v === undefined) return -XEN_ENOENT;
  const { hv } = call;
  switch (cmd) {
    case VCPUOP_send_nmi:
      if (!isNull(argPointer(call, 3))) return -XEN_EINVAL;
      if (!v.cpu.nmiPending) {
        v.cpu.injectNmi();
        hv.kick(v);
      }
      return 0;
    case VCPUOP_register_vcpu_time_memory_area:
      return registerTimeArea(call, v);
    case VCPUOP_get_physid:
      return -XEN_EINVAL; // only for a hardware domain with pinned vCPUs
    case VCPUOP_initialise:
      return initialise(call, v);
    case VCPUOP_up:
      // A vCPU needs a state first (VCPUOP_initialise, or INIT-SIPI having started it).
      if (!v.initialised && !v.online) return -XEN_EINVAL;
      hv.setOnline(v, true);
      return 0;
    case VCPUOP_down:
      return down(call, v);
    case VCPUOP_is_up:
      return v.online ? 1 : 0;
    case VCPUOP_get_runstate_info:
      return writeBytes(call, argPointer(call, 3), runstateBytes(v, hv.time.now()))
        ? 0
        : -XEN_EFAULT;
    case VCPUOP_set_periodic_timer:
      return setPeriodic(call, v);
    case VCPUOP_stop_periodic_timer:
      return v.domain.timers.stopPeriodic(v.id);
    case VCPUOP_set_singleshot_timer:
      return setSingleshot(call, v);
    case VCPUOP_stop_singleshot_timer:
      if (v !== call.vcpu) return -XEN_EINVAL;
      return v.domain.timers.stopSingleshot(v.id);
    case VCPUOP_register_vcpu_info:
      return registerVcpuInfo(call, v);
    case VCPUOP_register_runstate_memory_area:
      return registerRunstateArea(call, v);
    default:
      return -XEN_ENOSYS;
  }
}
