/**
 * vCPU operations (xen/include/public/vcpu.h): HYPERVISOR_vcpu_op's commands and their
 * argument structs — runstate, timers, vcpu_info placement — and the HVM/PVH initial
 * register state of VCPUOP_initialise (xen/include/public/hvm/hvm_vcpu.h).
 */

import { anonUnion, array, i32, struct, u16, u32, u64 } from './layout.js';

/** Set a down vCPU's initial state: vcpu_guest_context (PV) or vcpu_hvm_context (HVM). */
export const VCPUOP_initialise = 0;
export const VCPUOP_up = 1;
export const VCPUOP_down = 2;
/** Returns 1 if the vCPU is up. */
export const VCPUOP_is_up = 3;
/** Copy out the vCPU's vcpu_runstate_info. */
export const VCPUOP_get_runstate_info = 4;
export const VCPUOP_register_runstate_memory_area = 5;
export const VCPUOP_set_periodic_timer = 6;
export const VCPUOP_stop_periodic_timer = 7;
export const VCPUOP_set_singleshot_timer = 8;
export const VCPUOP_stop_singleshot_timer = 9;
export const VCPUOP_register_vcpu_info = 10;
export const VCPUOP_send_nmi = 11;
export const VCPUOP_get_physid = 12;
export const VCPUOP_register_vcpu_time_memory_area = 13;

export const vcpu_runstate_info = struct('vcpu_runstate_info', {
  /** RUNSTATE_* */
  state: i32,
  /** System time (ns) the current state was entered; bit 63 is XEN_RUNSTATE_UPDATE. */
  state_entry_time: u64,
  /** Nanoseconds spent in each RUNSTATE_*. */
  time: array(u64, 4),
});

/** Set in state_entry_time while Xen updates a guest-registered runstate area. */
export const XEN_RUNSTATE_UPDATE = 1n << 63n;
/** XEN_RUNSTATE_UPDATE as a bit of state_entry_time's upper 32-bit half (hot paths). */
export const XEN_RUNSTATE_UPDATE_HI = 0x80000000;

export const RUNSTATE_running = 0;
export const RUNSTATE_runnable = 1;
export const RUNSTATE_blocked = 2;
export const RUNSTATE_offline = 3;

/** Xen keeps a vcpu_runstate_info up to date at this guest virtual address. */
export const vcpu_register_runstate_memory_area = struct('vcpu_register_runstate_memory_area', {
  addr: anonUnion({ h: u64, v: u64, p: u64 }),
});

export const vcpu_set_periodic_timer = struct('vcpu_set_periodic_timer', {
  period_ns: u64,
});

export const vcpu_set_singleshot_timer = struct('vcpu_set_singleshot_timer', {
  /** Absolute system time, ns. */
  timeout_abs_ns: u64,
  /** VCPU_SSHOTTMR_* */
  flags: u32,
});

/** Fail with -ETIME if the timeout has already passed (Xen may ignore it). */
export const _VCPU_SSHOTTMR_future = 0;
export const VCPU_SSHOTTMR_future = 1 << _VCPU_SSHOTTMR_future;

/** Move the vCPU's vcpu_info to (mfn, offset); it must not cross a page. */
export const vcpu_register_vcpu_info = struct('vcpu_register_vcpu_info', {
  mfn: u64,
  offset: u32,
  rsvd: u32,
});

export const vcpu_get_physid = struct('vcpu_get_physid', {
  /** Low 32 bits: APIC id; high 32 bits: ACPI id. */
  phys_id: u64,
});

/** Xen keeps a copy of the vCPU's vcpu_time_info at this guest virtual address. */
export const vcpu_register_time_memory_area = struct('vcpu_register_time_memory_area', {
  addr: anonUnion({ h: u64, v: u64, p: u64 }),
});

// ---------------------------------------------------------------------------------------
// HVM/PVH initial vCPU state

/** 32-bit protected-mode start state, with cached segment bases, limits and attributes. */
export const vcpu_hvm_x86_32 = struct('vcpu_hvm_x86_32', {
  eax: u32,
  ecx: u32,
  edx: u32,
  ebx: u32,
  esp: u32,
  ebp: u32,
  esi: u32,
  edi: u32,
  eip: u32,
  eflags: u32,
  cr0: u32,
  cr3: u32,
  cr4: u32,
  pad1: u32,
  /** Only NXE, or LME/LMA to start in compatibility mode. */
  efer: u64,
  cs_base: u32,
  ds_base: u32,
  ss_base: u32,
  es_base: u32,
  tr_base: u32,
  cs_limit: u32,
  ds_limit: u32,
  ss_limit: u32,
  es_limit: u32,
  tr_limit: u32,
  cs_ar: u16,
  ds_ar: u16,
  ss_ar: u16,
  es_ar: u16,
  tr_ar: u16,
  pad2: array(u16, 3),
});

/** 64-bit long-mode start state; segments are set up flat by Xen. */
export const vcpu_hvm_x86_64 = struct('vcpu_hvm_x86_64', {
  rax: u64,
  rcx: u64,
  rdx: u64,
  rbx: u64,
  rsp: u64,
  rbp: u64,
  rsi: u64,
  rdi: u64,
  rip: u64,
  rflags: u64,
  cr0: u64,
  cr3: u64,
  cr4: u64,
  efer: u64,
});

export const VCPU_HVM_MODE_32B = 0;
export const VCPU_HVM_MODE_64B = 1;

export const vcpu_hvm_context = struct('vcpu_hvm_context', {
  /** VCPU_HVM_MODE_*: which member of cpu_regs is used. */
  mode: u32,
  pad: u32,
  cpu_regs: anonUnion({
    x86_32: vcpu_hvm_x86_32,
    x86_64: vcpu_hvm_x86_64,
  }),
});
