/**
 * Hypercall numbers (xen/include/public/xen.h, "enum hypercall_num").
 *
 * A guest puts the number in %rax (64-bit) and the arguments in %rdi, %rsi, %rdx, %r10,
 * %r8; or calls `hypercall_page + number * 32`. The names keep Xen's spelling: the
 * `__HYPERVISOR_` constant is the number, `HYPERVISOR_<name>` the guest-side wrapper.
 */

export const __HYPERVISOR_set_trap_table = 0;
export const __HYPERVISOR_mmu_update = 1;
export const __HYPERVISOR_set_gdt = 2;
export const __HYPERVISOR_stack_switch = 3;
export const __HYPERVISOR_set_callbacks = 4;
export const __HYPERVISOR_fpu_taskswitch = 5;
/** The pre-3.0.2 form of sched_op (arguments passed directly, not through a struct). */
export const __HYPERVISOR_sched_op_compat = 6;
export const __HYPERVISOR_platform_op = 7;
export const __HYPERVISOR_set_debugreg = 8;
export const __HYPERVISOR_get_debugreg = 9;
export const __HYPERVISOR_update_descriptor = 10;
// 11 is unused (it was the old dom_mem_op).
export const __HYPERVISOR_memory_op = 12;
export const __HYPERVISOR_multicall = 13;
export const __HYPERVISOR_update_va_mapping = 14;
export const __HYPERVISOR_set_timer_op = 15;
/** The pre-3.2 form of event_channel_op (one evtchn_op struct carrying the command). */
export const __HYPERVISOR_event_channel_op_compat = 16;
export const __HYPERVISOR_xen_version = 17;
export const __HYPERVISOR_console_io = 18;
/** The pre-3.2 form of physdev_op (one physdev_op struct carrying the command). */
export const __HYPERVISOR_physdev_op_compat = 19;
export const __HYPERVISOR_grant_table_op = 20;
export const __HYPERVISOR_vm_assist = 21;
export const __HYPERVISOR_update_va_mapping_otherdomain = 22;
/** x86 only. */
export const __HYPERVISOR_iret = 23;
export const __HYPERVISOR_vcpu_op = 24;
/** x86-64 only. */
export const __HYPERVISOR_set_segment_base = 25;
export const __HYPERVISOR_mmuext_op = 26;
export const __HYPERVISOR_xsm_op = 27;
export const __HYPERVISOR_nmi_op = 28;
export const __HYPERVISOR_sched_op = 29;
export const __HYPERVISOR_callback_op = 30;
export const __HYPERVISOR_xenoprof_op = 31;
export const __HYPERVISOR_event_channel_op = 32;
export const __HYPERVISOR_physdev_op = 33;
export const __HYPERVISOR_hvm_op = 34;
export const __HYPERVISOR_sysctl = 35;
export const __HYPERVISOR_domctl = 36;
export const __HYPERVISOR_kexec_op = 37;
export const __HYPERVISOR_tmem_op = 38;
export const __HYPERVISOR_argo_op = 39;
export const __HYPERVISOR_xenpmu_op = 40;
export const __HYPERVISOR_dm_op = 41;
export const __HYPERVISOR_hypfs_op = 42;

// Architecture-specific hypercalls. x86 uses arch_1 for paging_domctl_cont (tools only).
export const __HYPERVISOR_arch_0 = 48;
export const __HYPERVISOR_arch_1 = 49;
export const __HYPERVISOR_arch_2 = 50;
export const __HYPERVISOR_arch_3 = 51;
export const __HYPERVISOR_arch_4 = 52;
export const __HYPERVISOR_arch_5 = 53;
export const __HYPERVISOR_arch_6 = 54;
export const __HYPERVISOR_arch_7 = 55;

/** Bytes per hypercall stub in the hypercall page: stub n is at n * 32. */
export const HYPERCALL_STUB_SIZE = 32;

/** Hypercall number → its name without the `__HYPERVISOR_` prefix, for logs and traces. */
export const HYPERCALL_NAMES: Readonly<Record<number, string>> = {
  [__HYPERVISOR_set_trap_table]: 'set_trap_table',
  [__HYPERVISOR_mmu_update]: 'mmu_update',
  [__HYPERVISOR_set_gdt]: 'set_gdt',
  [__HYPERVISOR_stack_switch]: 'stack_switch',
  [__HYPERVISOR_set_callbacks]: 'set_callbacks',
  [__HYPERVISOR_fpu_taskswitch]: 'fpu_taskswitch',
  [__HYPERVISOR_sched_op_compat]: 'sched_op_compat',
  [__HYPERVISOR_platform_op]: 'platform_op',
  [__HYPERVISOR_set_debugreg]: 'set_debugreg',
  [__HYPERVISOR_get_debugreg]: 'get_debugreg',
  [__HYPERVISOR_update_descriptor]: 'update_descriptor',
  [__HYPERVISOR_memory_op]: 'memory_op',
  [__HYPERVISOR_multicall]: 'multicall',
  [__HYPERVISOR_update_va_mapping]: 'update_va_mapping',
  [__HYPERVISOR_set_timer_op]: 'set_timer_op',
  [__HYPERVISOR_event_channel_op_compat]: 'event_channel_op_compat',
  [__HYPERVISOR_xen_version]: 'xen_version',
  [__HYPERVISOR_console_io]: 'console_io',
  [__HYPERVISOR_physdev_op_compat]: 'physdev_op_compat',
  [__HYPERVISOR_grant_table_op]: 'grant_table_op',
  [__HYPERVISOR_vm_assist]: 'vm_assist',
  [__HYPERVISOR_update_va_mapping_otherdomain]: 'update_va_mapping_otherdomain',
  [__HYPERVISOR_iret]: 'iret',
  [__HYPERVISOR_vcpu_op]: 'vcpu_op',
  [__HYPERVISOR_set_segment_base]: 'set_segment_base',
  [__HYPERVISOR_mmuext_op]: 'mmuext_op',
  [__HYPERVISOR_xsm_op]: 'xsm_op',
  [__HYPERVISOR_nmi_op]: 'nmi_op',
  [__HYPERVISOR_sched_op]: 'sched_op',
  [__HYPERVISOR_callback_op]: 'callback_op',
  [__HYPERVISOR_xenoprof_op]: 'xenoprof_op',
  [__HYPERVISOR_event_channel_op]: 'event_channel_op',
  [__HYPERVISOR_physdev_op]: 'physdev_op',
  [__HYPERVISOR_hvm_op]: 'hvm_op',
  [__HYPERVISOR_sysctl]: 'sysctl',
  [__HYPERVISOR_domctl]: 'domctl',
  [__HYPERVISOR_kexec_op]: 'kexec_op',
  [__HYPERVISOR_tmem_op]: 'tmem_op',
  [__HYPERVISOR_argo_op]: 'argo_op',
  [__HYPERVISOR_xenpmu_op]: 'xenpmu_op',
  [__HYPERVISOR_dm_op]: 'dm_op',
  [__HYPERVISOR_hypfs_op]: 'hypfs_op',
  [__HYPERVISOR_arch_0]: 'arch_0',
  [__HYPERVISOR_arch_1]: 'arch_1',
  [__HYPERVISOR_arch_2]: 'arch_2',
  [__HYPERVISOR_arch_3]: 'arch_3',
  [__HYPERVISOR_arch_4]: 'arch_4',
  [__HYPERVISOR_arch_5]: 'arch_5',
  [__HYPERVISOR_arch_6]: 'arch_6',
  [__HYPERVISOR_arch_7]: 'arch_7',
};
