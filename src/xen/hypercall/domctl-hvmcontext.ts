/**
 * XEN_DOMCTL_{get,set}hvmcontext and gethvmcontext_partial: a domain's HVM save records
 * (arch/x86/hvm/save.ts), with the checks of Xen 4.17's arch_do_domctl: the target must be an
 * HVM domain other than the caller's own (-EINVAL), which Xen pauses around the operation —
 * here no other domain's vCPU runs while a hypercall is being served, so nothing is needed.
 */
import {
  XEN_DOMCTL_CDF_hvm,
  XEN_DOMCTL_gethvmcontext,
  XEN_DOMCTL_gethvmcontext_partial,
  XEN_DOMCTL_sethvmcontext,
  xen_domctl_hvmcontext,
  xen_domctl_hvmcontext_partial,
} from '../../abi/domctl.js';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOBUFS, XEN_ENOMEM, XEN_ENOSPC } from '../../abi/errno.js';
import { XEN_X86_EMU_LAPIC } from '../../abi/xen.js';
import { hvmLoad, hvmSave, hvmSaveOne, hvmSaveSize, type SaveEnv } from '../arch/x86/hvm/save.js';
import { domainOptions } from './domain-info.js';
import { DOMCTL_U, type DomctlHandler, type DomctlOp, targetOf } from './domctl-op.js';
import { handlePointer, isNull, readBytes, writeBytes } from './guest-args.js';

/**
 * The largest context sethvmcontext copies in. Xen allocates whatever size it is given and
 * answers -ENOMEM when it cannot; a real context is a few KiB per vCPU.
 */
export const HVM_CONTEXT_MAX = 16 << 20;

/** The target, or undefined when Xen refuses it: the caller's own domain, or not HVM. */
function hvmTarget(op: DomctlOp): SaveEnv | undefined {
  const domain = targetOf(op);
  const opts = domainOptions(domain);
  if (domain === op.call.vcpu.domain || !(opts.flags & XEN_DOMCTL_CDF_hvm)) return undefined;
  const hv = op.call.hv;
  return {
    hv,
    domain,
    syncTsc: hv.time.clock(),
    vlapic: (opts.emulationFlags & XEN_X86_EMU_LAPIC) !== 0,
  };
}

const gethvmcontext: DomctlHandler = (op) => {
  op.copyback = true; // on every path, as Xen's gethvmcontext_out
  const env = hvmTarget(op);
  if (env === undefined) return -XEN_EINVAL;
  const { size, buffer } = xen_domctl_hvmcontext.read(op.view, DOMCTL_U);
  const need = hvmSaveSize(env);
  const handle = handlePointer(buffer);
  if (isNull(handle)) {
    // The caller asks how big a buffer to bring.
    xen_domctl_hvmcontext.write(op.view, DOMCTL_U, { size: need });
    return 0;
  }
  if (size < need) return -XEN_ENOSPC;
  const { rc, data } = hvmSave(env);
  xen_domctl_hvmcontext.write(op.view, DOMCTL_U, { size: data.length });
  return writeBytes(op.call, handle, data) ? rc : -XEN_EFAULT;
};

const sethvmcontext: DomctlHandler = (op) => {
  const env = hvmTarget(op);
  if (env === undefined) return -XEN_EINVAL;
  const { size, buffer } = xen_domctl_hvmcontext.read(op.view, DOMCTL_U);
  if (size > HVM_CONTEXT_MAX) return -XEN_ENOMEM;
  const data = size === 0 ? new Uint8Array(0) : readBytes(op.call, handlePointer(buffer), size);
  if (data === undefined) return -XEN_EFAULT;
  return hvmLoad(env, data);
};

const gethvmcontextPartial: DomctlHandler = (op) => {
  const env = hvmTarget(op);
  if (env === undefined) return -XEN_EINVAL;
  const { type, instance, bufsz, buffer } = xen_domctl_hvmcontext_partial.read(op.view, DOMCTL_U);
  const body = hvmSaveOne(env, type, instance);
  if (typeof body === 'number') return body;
  const handle = handlePointer(buffer);
  if (!isNull(handle)) {
    if (bufsz < BigInt(body.length)) return -XEN_ENOBUFS;
    if (!writeBytes(op.call, handle, body)) return -XEN_EFAULT;
  }
  xen_domctl_hvmcontext_partial.write(op.view, DOMCTL_U, { bufsz: BigInt(body.length) });
  op.copyback = true;
  return 0;
};

export const hvmContextCommands: ReadonlyMap<number, DomctlHandler> = new Map([
  [XEN_DOMCTL_gethvmcontext, gethvmcontext],
  [XEN_DOMCTL_sethvmcontext, sethvmcontext],
  [XEN_DOMCTL_gethvmcontext_partial, gethvmcontextPartial],
]);
