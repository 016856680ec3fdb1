/** The hypercall table of this hypervisor. */
import {
  __HYPERVISOR_console_io,
  __HYPERVISOR_sched_op,
  __HYPERVISOR_xen_version,
} from '../../abi/hypercall.js';
import { consoleIo } from './console-io.js';
import { schedOp } from './sched-op.js';
import type { HypercallEntry } from './table.js';
import { xenVersion } from './xen-version.js';

export function hypercallTable(): Map<number, HypercallEntry> {
  return new Map<number, HypercallEntry>([
    [__HYPERVISOR_xen_version, { name: 'xen_version', handler: xenVersion }],
    [__HYPERVISOR_console_io, { name: 'console_io', handler: consoleIo }],
    [__HYPERVISOR_sched_op, { name: 'sched_op', handler: schedOp }],
  ]);
}
