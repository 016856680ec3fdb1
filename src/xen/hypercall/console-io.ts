/** HYPERVISOR_console_io: guests write to the hypervisor console; Dom0 reads its input. */
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM } from '../../abi/errno.js';
import { CONSOLEIO_read, CONSOLEIO_write } from '../../abi/xen.js';
import { copyFromGuest, copyToGuest } from '../arch/x86/guest-copy.js';
import type { HypercallCall } from './table.js';

/** Longest write accepted in one call; Xen loops in 128-byte chunks with preemption. */
const MAX_WRITE = 1 << 16;

export function consoleIo(call: HypercallCall): number {
  const command = call.argLo[1]!;
  const count = call.argLo[2]! >>> 0;
  const lo = call.argLo[3]!;
  const hi = call.argHi[3]!;
  const cpu = call.vcpu.cpu;
  switch (command) {
    case CONSOLEIO_write: {
      if (count > MAX_WRITE) return -XEN_EINVAL;
      const bytes = copyFromGuest(cpu, lo, hi, count);
      if (bytes === undefined) return -XEN_EFAULT;
      const text = new TextDecoder('latin1').decode(bytes);
      call.hv.console.guestWrite(call.vcpu.domain.id, text, call.vcpu.domain.consoleLine);
      return 0;
    }
    case CONSOLEIO_read: {
      if (!call.vcpu.domain.privileged) return -XEN_EPERM;
      const data = call.hv.takeConsoleInput(count);
      return copyToGuest(cpu, lo, hi, data) ? data.length : -XEN_EFAULT;
    }
    default:
      return -XEN_ENOSYS;
  }
}
