/**
 * HYPERVISOR_sched_op (Xen's do_sched_op, xen/common/sched/core.c): yield, block, poll,
 * shutdown and its code, remote shutdown, and the domain watchdogs.
 */
import {
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENOSPC,
  XEN_ENOSYS,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  SCHEDOP_block,
  SCHEDOP_pin_override,
  SCHEDOP_poll,
  SCHEDOP_remote_shutdown,
  SCHEDOP_shutdown,
  SCHEDOP_shutdown_code,
  SCHEDOP_watchdog,
  SCHEDOP_yield,
  SHUTDOWN_watchdog,
  sched_pin_override,
  sched_poll,
  sched_remote_shutdown,
  sched_shutdown,
  sched_watchdog,
} from '../../abi/sched.js';
import { RUNSTATE_blocked } from '../../abi/vcpu.js';
import { vcpu_info } from '../../abi/xen.js';
import { Flag } from '../../x86/flags.js';
import { eventsNeedDelivery } from '../arch/x86/hvm/events.js';
import { type Domain, DomainState, type Vcpu } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import { argPointer, handlePointer, offsetPointer, readBytes, readStruct } from './guest-args.js';
import type { HypercallCall } from './table.js';

/** Most ports one SCHEDOP_poll may wait on ("fairly arbitrary", says Xen). */
const MAX_POLL_PORTS = 128;
/** Xen's NR_DOMAIN_WATCHDOG_TIMERS. */
export const NR_DOMAIN_WATCHDOG_TIMERS = 2;

/**
 * Xen's domain_shutdown: the first reason recorded (by SCHEDOP_shutdown_code or this) is
 * the one reported; a domain already shutting down stays as it is.
 */
export function shutdownWithCode(hv: Hypervisor, domain: Domain, reason: number): void {
  if (domain.shutdownCode < 0) domain.shutdownCode = reason & 0xff;
  hv.shutdownDomain(domain, domain.shutdownCode);
}

/**
 * Xen's local_events_need_delivery for an HVM vCPU: something is pending and interrupts
 * are not blocked (by RFLAGS.IF or a shadow; an NMI only by its own blocking).
 */
function eventsDeliverable(hv: Hypervisor, vcpu: Vcpu): boolean {
  const cpu = vcpu.cpu;
  if (cpu.nmiPending) return true;
  if (!(cpu.flags & Flag.IF) || cpu.interruptShadow) return false;
  return eventsNeedDelivery(hv.memory.view, vcpu);
}

/** Takes the vCPU off the CPU until hv.kick (an event, a poll timeout) wakes it. */
function blockVcpu(hv: Hypervisor, vcpu: Vcpu): void {
  vcpu.blocked = true;
  hv.setRunstate(vcpu, RUNSTATE_blocked);
  vcpu.cpu.requestStop();
}

/** SCHEDOP_block: clear evtchn_upcall_mask, then block unless an event can be taken now. */
function block(hv: Hypervisor, vcpu: Vcpu): number {
  const at = vcpu.vcpuInfoAddress;
  if (at >= 0) hv.memory.view.setUint8(at + vcpu_info.offsets.evtchn_upcall_mask, 0);
  if (!eventsDeliverable(hv, vcpu)) blockVcpu(hv, vcpu);
  return 0;
}

/** Xen's do_poll. */
function poll(call: HypercallCall): number {
  const { hv, vcpu } = call;
  const a = readStruct(call, sched_poll, argPointer(call, 2));
  if (a === undefined) return -XEN_EFAULT;
  if (a.nr_ports > MAX_POLL_PORTS) return -XEN_EINVAL;
  if (eventsDeliverable(hv, vcpu)) return 0;
  const ports: number[] = [];
  const base = handlePointer(a.ports);
  for (let i = 0; i < a.nr_ports; i++) {
    const raw = readBytes(call, offsetPointer(base, i * 4), 4);
    if (raw === undefined) return -XEN_EFAULT;
    const port = new DataView(raw.buffer).getUint32(0, true);
    // Stops at the first pending (1: return 0) or invalid (-EINVAL) port.
    const rc = vcpu.domain.evtchn.portPoll(port);
    if (rc !== 0) return rc > 0 ? 0 : rc;
    ports.push(port);
  }
  vcpu.pollPorts = ports;
  blockVcpu(hv, vcpu);
  if (a.timeout !== 0n) {
    // An absolute system time; one already past fires at the next timer check.
    vcpu.domain.timers.queue.set(vcpu.id, 'poll', Number(BigInt.asIntN(64, a.timeout)));
  }
  return 0;
}

function remoteShutdown(call: HypercallCall): number {
  const a = readStruct(call, sched_remote_shutdown, argPointer(call, 2));
  if (a === undefined) return -XEN_EFAULT;
  const target = call.hv.domains.get(a.domain_id);
  if (target === undefined) return -XEN_ESRCH;
  // XSM_DM_PRIV: a privileged domain (device-model stub domains are not modelled).
  if (!call.vcpu.domain.privileged) return -XEN_EPERM;
  shutdownWithCode(call.hv, target, a.reason);
  return 0;
}

/** Xen's domain_watchdog: ids are 1-based; id 0 allocates one, timeout 0 destroys one. */
export function domainWatchdog(domain: Domain, id: number, timeout: number, now: number): number {
  if (id > NR_DOMAIN_WATCHDOG_TIMERS) return -XEN_EINVAL;
  const deadline = now + timeout * 1e9;
  if (id === 0) {
    for (let n = 1; n <= NR_DOMAIN_WATCHDOG_TIMERS; n++) {
      if (domain.watchdogs.has(n)) continue;
      domain.watchdogs.set(n, deadline);
      return n;
    }
    return -XEN_ENOSPC;
  }
  if (!domain.watchdogs.has(id)) return -XEN_EINVAL;
  if (timeout === 0) domain.watchdogs.delete(id);
  else domain.watchdogs.set(id, deadline);
  return 0;
}

/** The earliest watchdog deadline of the domain (system time, ns), or undefined. */
export function nextWatchdog(domain: Domain): number | undefined {
  let next: number | undefined;
  for (const deadline of domain.watchdogs.values()) {
    if (Number.isFinite(deadline) && (next === undefined || deadline < next)) next = deadline;
  }
  return next;
}

/**
 * Fires the domain's expired watchdogs (domain_watchdog_timeout): the domain shuts down with
 * SHUTDOWN_watchdog unless it is already shutting down. A fired watchdog stays allocated,
 * disarmed, until the guest re-arms or destroys it.
 */
export function expireWatchdogs(hv: Hypervisor, domain: Domain, now: number): void {
  let fired = false;
  for (const [id, deadline] of domain.watchdogs) {
    if (deadline > now) continue;
    domain.watchdogs.set(id, Number.POSITIVE_INFINITY);
    fired = true;
  }
  if (!fired || domain.state !== DomainState.Running) return;
  hv.console.write(`(XEN) Watchdog timer fired for domain ${domain.id}\n`);
  shutdownWithCode(hv, domain, SHUTDOWN_watchdog);
}

export function schedOp(call: HypercallCall): number {
  const command = call.argLo[1]!;
  const { vcpu, hv } = call;
  switch (command) {
    case SCHEDOP_yield:
      hv.scheduler.yield(vcpu);
      return 0;
    case SCHEDOP_block:
      return block(hv, vcpu);
    case SCHEDOP_shutdown:
    case SCHEDOP_shutdown_code: {
      const a = readStruct(call, sched_shutdown, argPointer(call, 2));
      if (a === undefined) return -XEN_EFAULT;
      // The reason is taken as a u8, unchecked, as Xen does.
      if (command === SCHEDOP_shutdown) shutdownWithCode(hv, vcpu.domain, a.reason);
      else if (vcpu.domain.shutdownCode < 0) vcpu.domain.shutdownCode = a.reason & 0xff;
      return 0;
    }
    case SCHEDOP_poll:
      return poll(call);
    case SCHEDOP_remote_shutdown:
      return remoteShutdown(call);
    case SCHEDOP_watchdog: {
      const a = readStruct(call, sched_watchdog, argPointer(call, 2));
      if (a === undefined) return -XEN_EFAULT;
      return domainWatchdog(vcpu.domain, a.id, a.timeout, hv.time.now());
    }
    case SCHEDOP_pin_override: {
      if (!vcpu.domain.privileged) return -XEN_EPERM; // the hardware domain only
      const a = readStruct(call, sched_pin_override, argPointer(call, 2));
      if (a === undefined) return -XEN_EFAULT;
      // One physical CPU: pinning to it (or ending the override) changes nothing.
      return a.pcpu >= 1 ? -XEN_EINVAL : 0;
    }
    default:
      return -XEN_ENOSYS;
  }
}
