/** HYPERVISOR_xen_version: the version, build information and the guest's feature bits. */
import {
  XENFEAT_auto_translated_physmap,
  XENFEAT_dom0,
  XENFEAT_hvm_callback_vector,
  XENFEAT_hvm_safe_pvclock,
  XENFEAT_linux_rsdp_unrestricted,
  XENFEAT_memory_op_vnode_supported,
  XENFEAT_NR_SUBMAPS,
  XENFEAT_writable_page_tables,
} from '../../abi/elfnote.js';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS } from '../../abi/errno.js';
import {
  XEN_CAPABILITIES_INFO_LEN,
  XEN_CHANGESET_INFO_LEN,
  XEN_COMMANDLINE_LEN,
  XEN_EXTRAVERSION_LEN,
  XENVER_build_id,
  XENVER_capabilities,
  XENVER_changeset,
  XENVER_commandline,
  XENVER_compile_info,
  XENVER_extraversion,
  XENVER_get_features,
  XENVER_guest_handle,
  XENVER_pagesize,
  XENVER_platform_parameters,
  XENVER_version,
  xen_compile_info,
  xen_feature_info,
  xen_platform_parameters,
} from '../../abi/version.js';
import { copyFromGuest, copyToGuest } from '../arch/x86/guest-copy.js';
import type { HypercallCall } from './table.js';

/** The Xen release this hypervisor presents. */
export const XEN_MAJOR = 4;
export const XEN_MINOR = 17;
export const XEN_EXTRAVERSION = '.0-xenotype';
const CAPABILITIES = 'xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64';

/** A NUL-terminated string in a fixed-size buffer. */
function fixedString(text: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(new TextEncoder().encode(text).subarray(0, size - 1));
  return out;
}

/** Feature submap 0 for an HVM/PVH domain, as Xen's kernel.c computes it. */
export function featureBits(privileged: boolean): number {
  let bits =
    (1 << XENFEAT_memory_op_vnode_supported) |
    (1 << XENFEAT_writable_page_tables) |
    (1 << XENFEAT_auto_translated_physmap) |
    (1 << XENFEAT_hvm_callback_vector) |
    (1 << XENFEAT_hvm_safe_pvclock) |
    (1 << XENFEAT_linux_rsdp_unrestricted);
  if (privileged) bits |= 1 << XENFEAT_dom0;
  return bits >>> 0;
}

export function xenVersion(call: HypercallCall): number {
  const cpu = call.vcpu.cpu;
  const command = call.argLo[1]!;
  const lo = call.argLo[2]!;
  const hi = call.argHi[2]!;
  const put = (data: Uint8Array): number => (copyToGuest(cpu, lo, hi, data) ? 0 : -XEN_EFAULT);
  switch (command) {
    case XENVER_version:
      return (XEN_MAJOR << 16) | XEN_MINOR;
    case XENVER_extraversion:
      return put(fixedString(XEN_EXTRAVERSION, XEN_EXTRAVERSION_LEN));
    case XENVER_compile_info:
      return put(
        xen_compile_info.encode({
          compiler: 'Xenotype (TypeScript)',
          compile_by: 'xenotype',
          compile_domain: 'xenotype.invalid',
          compile_date: '2026-11-21',
        }),
      );
    case XENVER_capabilities:
      return put(fixedString(CAPABILITIES, XEN_CAPABILITIES_INFO_LEN));
    case XENVER_changeset:
      return put(fixedString('xenotype', XEN_CHANGESET_INFO_LEN));
    case XENVER_platform_parameters:
      // An HVM guest has no Xen hole in its address space.
      return put(xen_platform_parameters.encode({ virt_start: 0 }));
    case XENVER_get_features: {
      const raw = copyFromGuest(cpu, lo, hi, xen_feature_info.size);
      if (raw === undefined) return -XEN_EFAULT;
      const info = xen_feature_info.decode(raw);
      if (info.submap_idx >= XENFEAT_NR_SUBMAPS) return -XEN_EINVAL;
      return put(
        xen_feature_info.encode({
          submap_idx: info.submap_idx,
          submap: featureBits(call.vcpu.domain.privileged),
        }),
      );
    }
    case XENVER_pagesize:
      return 4096;
    case XENVER_guest_handle:
      return put(call.vcpu.domain.handle);
    case XENVER_commandline:
      return put(
        fixedString(call.vcpu.domain.privileged ? call.hv.commandLine : '', XEN_COMMANDLINE_LEN),
      );
    case XENVER_build_id:
      return -XEN_ENOSYS; // no build id is embedded, as a Xen built without one answers
    default:
      return -XEN_ENOSYS;
  }
}
