/**
 * Scheduler operations (xen/include/public/sched.h): HYPERVISOR_sched_op's commands,
 * their argument structs and the shutdown reasons.
 */

import { i32, struct, u16, u32, u64 } from './layout.js';

/** Give up the CPU voluntarily. */
export const SCHEDOP_yield = 0;
/** Block until an event is pending (clears the vCPU's upcall mask first). */
export const SCHEDOP_block = 1;
/** Shut the domain down; arg: sched_shutdown. */
export const SCHEDOP_shutdown = 2;
/** Block until one of a set of ports is pending, or a timeout; arg: sched_poll. */
export const SCHEDOP_poll = 3;
/** Shut another domain down (privileged); arg: sched_remote_shutdown. */
export const SCHEDOP_remote_shutdown = 4;
/** Record a shutdown code without shutting down; arg: sched_shutdown. */
export const SCHEDOP_shutdown_code = 5;
/** Arm, re-arm or destroy a domain watchdog; arg: sched_watchdog. */
export const SCHEDOP_watchdog = 6;
/** Temporarily pin the vCPU to a physical CPU (hardware domain); arg: sched_pin_override. */
export const SCHEDOP_pin_override = 7;

export const sched_shutdown = struct('sched_shutdown', {
  /** SHUTDOWN_* */
  reason: u32,
});

export const sched_poll = struct('sched_poll', {
  /** Guest handle of an evtchn_port_t array. */
  ports: u64,
  nr_ports: u32,
  /** Absolute system time in ns; 0 for none. */
  timeout: u64,
});

export const sched_remote_shutdown = struct('sched_remote_shutdown', {
  domain_id: u16,
  /** SHUTDOWN_* */
  reason: u32,
});

export const sched_watchdog = struct('sched_watchdog', {
  /** 0 to allocate a new watchdog; its id to re-arm (timeout > 0) or destroy (timeout 0). */
  id: u32,
  /** Seconds. */
  timeout: u32,
});

export const sched_pin_override = struct('sched_pin_override', {
  /** Physical CPU, or negative to end the override. */
  pcpu: i32,
});

/** The domain exited normally: clean up and kill. */
export const SHUTDOWN_poweroff = 0;
/** Clean up, kill, and restart. */
export const SHUTDOWN_reboot = 1;
/** Clean up, save suspend info, kill. */
export const SHUTDOWN_suspend = 2;
/** The domain crashed. */
export const SHUTDOWN_crash = 3;
/** Restart because the watchdog expired. */
export const SHUTDOWN_watchdog = 4;
/** Reset the domain's state but keep its memory (kexec). */
export const SHUTDOWN_soft_reset = 5;
export const SHUTDOWN_MAX = 5;
