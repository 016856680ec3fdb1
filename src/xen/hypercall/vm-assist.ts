/**
 * HYPERVISOR_vm_assist: turns optional hypervisor behaviours on or off for the calling
 * domain. An HVM/PVH domain may only have VMASST_TYPE_runstate_update_flag (Xen's
 * HVM_VM_ASSIST_MASK), which Linux enables before registering its runstate areas.
 */
import { XEN_EINVAL, XEN_ENOSYS } from '../../abi/errno.js';
import {
  VMASST_CMD_disable,
  VMASST_CMD_enable,
  VMASST_TYPE_runstate_update_flag,
} from '../../abi/xen.js';
import type { HypercallCall } from './table.js';

export const HVM_VM_ASSIST_MASK = 1 << VMASST_TYPE_runstate_update_flag;

export function vmAssist(call: HypercallCall): number {
  const cmd = call.argLo[1]! >>> 0;
  const type = call.argLo[2]! >>> 0;
  if (call.argHi[2] !== 0 || type >= 32 || !(HVM_VM_ASSIST_MASK & (1 << type))) {
    return -XEN_EINVAL;
  }
  const domain = call.vcpu.domain;
  switch (cmd) {
    case VMASST_CMD_enable:
      domain.vmAssist |= 1 << type;
      return 0;
    case VMASST_CMD_disable:
      domain.vmAssist &= ~(1 << type);
      return 0;
    default:
      return -XEN_ENOSYS;
  }
}
