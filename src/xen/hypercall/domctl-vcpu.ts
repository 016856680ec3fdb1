/** Per-vCPU domctls: {set,get}vcpucontext (HVM register state) and getvcpuinfo. */
import {
  XEN_DOMCTL_getvcpucontext,
  XEN_DOMCTL_getvcpuinfo,
  XEN_DOMCTL_setvcpucontext,
  xen_domctl_getvcpuinfo,
  xen_domctl_vcpucontext,
} from '../../abi/domctl.js';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENODATA, XEN_ESRCH } from '../../abi/errno.js';
import { VGCF_online, vcpu_guest_context } from '../../abi/xen.js';
import { getGuestContext, setGuestContext } from '../arch/x86/hvm/guest-context.js';
import type { Vcpu } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import { nsToU64, vcpuCpuTime } from './domain-info.js';
import { DOMCTL_U, type DomctlHandler, targetOf } from './domctl-op.js';
import { handlePointer, isNull, readBytes, writeBytes } from './guest-args.js';
import { HVM_VM_ASSIST_MASK } from './vm-assist.js';

/** vcpu_reset: the vCPU goes down uninitialised, forgetting a block or poll in progress. */
function vcpuReset(hv: Hypervisor, vcpu: Vcpu): void {
  hv.setOnline(vcpu, false);
  vcpu.initialised = false;
  vcpu.blocked = false;
  vcpu.pollPorts = undefined;
}

/** A null context resets the vCPU; otherwise arch_set_info_guest, then VGCF_online. */
const setvcpucontext: DomctlHandler = (op) => {
  const { hv, vcpu: caller } = op.call;
  const domain = targetOf(op);
  const { vcpu: id, ctxt } = xen_domctl_vcpucontext.read(op.view, DOMCTL_U);
  const vcpu = domain.vcpus[id];
  if (domain === caller.domain || vcpu === undefined) return -XEN_EINVAL;
  const handle = handlePointer(ctxt);
  if (isNull(handle)) {
    vcpuReset(hv, vcpu);
    return 0;
  }
  const raw = readBytes(op.call, handle, vcpu_guest_context.size);
  if (raw === undefined) return -XEN_EFAULT;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const flags = view.getUint32(vcpu_guest_context.offsets.flags, true);
  const vmAssist = view.getBigUint64(vcpu_guest_context.offsets.vm_assist, true);
  // Checked before anything changes (Xen checks after loading the registers).
  if (vcpu.id === 0 && (vmAssist & ~BigInt(HVM_VM_ASSIST_MASK)) !== 0n) return -XEN_EINVAL;
  setGuestContext(vcpu.cpu, raw);
  if (vcpu.id === 0) domain.vmAssist = Number(vmAssist);
  // Xen leaves an HVM vCPU's is_initialised alone here; the vCPU has a state now, though,
  // so a later getvcpucontext or VCPUOP_up finds one.
  vcpu.initialised = true;
  hv.setOnline(vcpu, (flags & VGCF_online) !== 0);
  return 0;
};

const getvcpucontext: DomctlHandler = (op) => {
  const domain = targetOf(op);
  const { vcpu: id, ctxt } = xen_domctl_vcpucontext.read(op.view, DOMCTL_U);
  const vcpu = domain.vcpus[id];
  if (vcpu === undefined || vcpu === op.call.vcpu) return -XEN_EINVAL;
  if (!vcpu.initialised && !vcpu.online) return -XEN_ENODATA;
  const bytes = getGuestContext(vcpu.cpu, vcpu.online, BigInt(domain.vmAssist));
  op.copyback = true;
  return writeBytes(op.call, handlePointer(ctxt), bytes) ? 0 : -XEN_EFAULT;
};

const getvcpuinfo: DomctlHandler = (op) => {
  const domain = targetOf(op);
  const { vcpu: id } = xen_domctl_getvcpuinfo.read(op.view, DOMCTL_U);
  if (id >= domain.vcpus.length) return -XEN_EINVAL;
  const vcpu = domain.vcpus[id];
  if (vcpu === undefined) return -XEN_ESRCH;
  xen_domctl_getvcpuinfo.write(op.view, DOMCTL_U, {
    online: vcpu.online ? 1 : 0,
    blocked: vcpu.blocked ? 1 : 0,
    running: vcpu.runstate === 0 ? 1 : 0,
    cpu_time: nsToU64(vcpuCpuTime(op.call.hv, vcpu)),
    cpu: 0, // one physical CPU
  });
  op.copyback = true;
  return 0;
};

export const vcpuCommands: ReadonlyMap<number, DomctlHandler> = new Map([
  [XEN_DOMCTL_setvcpucontext, setvcpucontext],
  [XEN_DOMCTL_getvcpucontext, getvcpucontext],
  [XEN_DOMCTL_getvcpuinfo, getvcpuinfo],
]);
