/**
 * HYPERVISOR_domctl: the toolstack's domain control (Xen's do_domctl). The struct xen_domctl
 * is copied in, its interface version checked (-EACCES on a mismatch), the target domain
 * looked up (-ESRCH), the command run, and the struct copied back when the command answers
 * through it. The dispatcher has already refused unprivileged callers (-EPERM).
 */
import {
  XEN_DOMCTL_createdomain,
  XEN_DOMCTL_getdomaininfo,
  XEN_DOMCTL_INTERFACE_VERSION,
  xen_domctl,
} from '../../abi/domctl.js';
import { XEN_EACCES, XEN_EFAULT, XEN_ENOSYS, XEN_ESRCH } from '../../abi/errno.js';
import { domainCommands } from './domctl-domain.js';
import { hvmContextCommands } from './domctl-hvmcontext.js';
import type { DomctlHandler, DomctlOp } from './domctl-op.js';
import { vcpuCommands } from './domctl-vcpu.js';
import { argPointer, readBytes, writeBytes } from './guest-args.js';
import type { HypercallCall } from './table.js';

const COMMANDS: ReadonlyMap<number, DomctlHandler> = new Map([
  ...domainCommands,
  ...vcpuCommands,
  ...hvmContextCommands,
]);

export function domctl(call: HypercallCall): number {
  const at = argPointer(call, 1);
  const raw = readBytes(call, at, xen_domctl.size);
  if (raw === undefined) return -XEN_EFAULT;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint32(xen_domctl.offsets.interface_version, true) !== XEN_DOMCTL_INTERFACE_VERSION) {
    return -XEN_EACCES;
  }
  const cmd = view.getUint32(xen_domctl.offsets.cmd, true);
  const domain = view.getUint16(xen_domctl.offsets.domain, true);
  // Xen looks the domain up before it knows the command: a bad domid is -ESRCH even for an
  // unknown command. createdomain names no domain; getdomaininfo may name a missing one.
  const target = cmd === XEN_DOMCTL_createdomain ? undefined : call.hv.domainById(domain);
  if (target === undefined && cmd !== XEN_DOMCTL_createdomain && cmd !== XEN_DOMCTL_getdomaininfo) {
    return -XEN_ESRCH;
  }
  const handler = COMMANDS.get(cmd);
  if (handler === undefined) return -XEN_ENOSYS;
  const op: DomctlOp = { call, cmd, domain, view, target, copyback: false };
  const ret = handler(op);
  if (!op.copyback) return ret;
  view.setUint16(xen_domctl.offsets.domain, op.domain, true);
  return writeBytes(call, at, raw) ? ret : -XEN_EFAULT;
}
