/** HYPERVISOR_sched_op: yield, block, shutdown (with a reason), shutdown_code. */
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS } from '../../abi/errno.js';
import {
  SCHEDOP_block,
  SCHEDOP_shutdown,
  SCHEDOP_shutdown_code,
  SCHEDOP_yield,
  SHUTDOWN_MAX,
} from '../../abi/sched.js';
import { copyFromGuest } from '../arch/x86/guest-copy.js';
import type { HypercallCall } from './table.js';

export function schedOp(call: HypercallCall): number {
  const command = call.argLo[1]!;
  const { vcpu, hv } = call;
  switch (command) {
    case SCHEDOP_yield:
      hv.scheduler.yield(vcpu);
      return 0;
    case SCHEDOP_block:
      // Blocks until an event is pending; with one already pending it returns at once.
      vcpu.cpu.flags |= 1 << 9; // SCHEDOP_block enables event delivery, like "sti; hlt"
      hv.block(vcpu);
      return 0;
    case SCHEDOP_shutdown:
    case SCHEDOP_shutdown_code: {
      const raw = copyFromGuest(vcpu.cpu, call.argLo[2]!, call.argHi[2]!, 4);
      if (raw === undefined) return -XEN_EFAULT;
      const reason = new DataView(raw.buffer).getUint32(0, true);
      if (reason > SHUTDOWN_MAX) return -XEN_EINVAL;
      if (command === SCHEDOP_shutdown_code) {
        vcpu.domain.shutdownCode = reason;
        return 0;
      }
      hv.shutdownDomain(vcpu.domain, reason);
      return 0;
    }
    default:
      return -XEN_ENOSYS;
  }
}
