/** The hypercall table of this hypervisor. */
import {
  __HYPERVISOR_console_io,
  __HYPERVISOR_domctl,
  __HYPERVISOR_event_channel_op,
  __HYPERVISOR_grant_table_op,
  __HYPERVISOR_hvm_op,
  __HYPERVISOR_memory_op,
  __HYPERVISOR_multicall,
  __HYPERVISOR_physdev_op,
  __HYPERVISOR_sched_op,
  __HYPERVISOR_set_timer_op,
  __HYPERVISOR_sysctl,
  __HYPERVISOR_vcpu_op,
  __HYPERVISOR_vm_assist,
  __HYPERVISOR_xen_version,
} from '../../abi/hypercall.js';
import { consoleIo } from './console-io.js';
import { domctl } from './domctl.js';
import { eventChannelOp } from './event-channel-op.js';
import { grantTableOp } from './grant-table-op.js';
import { hvmOp } from './hvm-op.js';
import { memoryOp } from './memory-op.js';
import { multicall } from './multicall.js';
import { physdevOp } from './physdev-op.js';
import { schedOp } from './sched-op.js';
import { setTimerOp } from './set-timer-op.js';
import { sysctl } from './sysctl.js';
import type { HypercallEntry } from './table.js';
import { vcpuOp } from './vcpu-op.js';
import { vmAssist } from './vm-assist.js';
import { xenVersion } from './xen-version.js';

export function hypercallTable(): Map<number, HypercallEntry> {
  return new Map<number, HypercallEntry>([
    [__HYPERVISOR_xen_version, { name: 'xen_version', handler: xenVersion }],
    [__HYPERVISOR_console_io, { name: 'console_io', handler: consoleIo }],
    [__HYPERVISOR_multicall, { name: 'multicall', handler: multicall }],
    [__HYPERVISOR_sched_op, { name: 'sched_op', handler: schedOp }],
    [__HYPERVISOR_set_timer_op, { name: 'set_timer_op', handler: setTimerOp }],
    [__HYPERVISOR_vcpu_op, { name: 'vcpu_op', handler: vcpuOp }],
    [__HYPERVISOR_vm_assist, { name: 'vm_assist', handler: vmAssist }],
    [__HYPERVISOR_hvm_op, { name: 'hvm_op', handler: hvmOp }],
    [__HYPERVISOR_memory_op, { name: 'memory_op', handler: memoryOp }],
    [__HYPERVISOR_event_channel_op, { name: 'event_channel_op', handler: eventChannelOp }],
    [__HYPERVISOR_physdev_op, { name: 'physdev_op', handler: physdevOp }],
    [__HYPERVISOR_grant_table_op, { name: 'grant_table_op', handler: grantTableOp }],
    [__HYPERVISOR_sysctl, { name: 'sysctl', handler: sysctl, privileged: true }],
    [__HYPERVISOR_domctl, { name: 'domctl', handler: domctl, privileged: true }],
  ]);
}
