/**
 * PV callbacks (xen/include/public/callback.h): HYPERVISOR_callback_op registers the
 * entry points Xen bounces a PV guest to — event upcalls, failsafe, syscall, NMI.
 */

import { struct, u16, u64 } from './layout.js';

/** Event delivery. */
export const CALLBACKTYPE_event = 0;
/** Guest state could not be restored by Xen. */
export const CALLBACKTYPE_failsafe = 1;
/** SYSCALL from 64-bit user space. */
export const CALLBACKTYPE_syscall = 2;
/** Unused (old 32-on-32 sysenter). */
export const CALLBACKTYPE_sysenter_deprecated = 3;
/** NMI delivery. */
export const CALLBACKTYPE_nmi = 4;
/** SYSENTER from 32-bit user space (x86-64 Xen). */
export const CALLBACKTYPE_sysenter = 5;
/** SYSCALL from 32-bit user space (x86-64 Xen). */
export const CALLBACKTYPE_syscall32 = 7;

/** Mask events (set the upcall mask) on entry to the callback. */
export const _CALLBACKF_mask_events = 0;
export const CALLBACKF_mask_events = 1 << _CALLBACKF_mask_events;

export const CALLBACKOP_register = 0;
export const CALLBACKOP_unregister = 1;

export const callback_register = struct('callback_register', {
  /** CALLBACKTYPE_* */
  type: u16,
  /** CALLBACKF_* */
  flags: u16,
  /** xen_callback_t: the entry point's virtual address on x86-64. */
  address: u64,
});

export const callback_unregister = struct('callback_unregister', {
  type: u16,
  _unused: u16,
});
