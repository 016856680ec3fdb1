/**
 * XEN_DOMCTL_createdomain: the domid (the caller's, or the next free one after Xen's rover),
 * then the configuration checks of Xen's sanitise_domain_config, arch_sanitise_domain_config,
 * arch_domain_create, grant_table_init and sched_init_domain, in Xen's order, then the domain
 * itself: paused once for the toolstack, with no memory allowed until XEN_DOMCTL_max_mem.
 *
 * Only HVM domains with the PVH device set (the local APIC alone) can be created: this
 * hypervisor is built without PV support, which Xen refuses with -EINVAL, and has no device
 * models for full HVM, whose emulator set gets -EOPNOTSUPP (Xen's answer for an emulator set
 * it does not allow).
 */
import {
  XEN_DOMCTL_CDF_hap,
  XEN_DOMCTL_CDF_hvm,
  XEN_DOMCTL_CDF_iommu,
  XEN_DOMCTL_CDF_nested_virt,
  XEN_DOMCTL_CDF_oos_off,
  XEN_DOMCTL_CDF_s3_integrity,
  XEN_DOMCTL_CDF_vpmu,
  XEN_DOMCTL_CDF_xs_domain,
  XEN_DOMCTL_GRANT_version_mask,
  XEN_DOMCTL_IOMMU_no_sharept,
  xen_domctl_createdomain,
} from '../../abi/domctl.js';
import { XEN_EEXIST, XEN_EINVAL, XEN_ENOMEM, XEN_EOPNOTSUPP, XEN_ESRCH } from '../../abi/errno.js';
import {
  DOMID_FIRST_RESERVED,
  XEN_X86_EMU_ALL,
  XEN_X86_EMU_LAPIC,
  XEN_X86_MSR_RELAXED,
} from '../../abi/xen.js';
import type { Hypervisor } from '../hypervisor.js';
import { setDomainOptions } from './domain-info.js';
import { DOMCTL_U, type DomctlOp } from './domctl-op.js';

const CDF_KNOWN =
  XEN_DOMCTL_CDF_hvm |
  XEN_DOMCTL_CDF_hap |
  XEN_DOMCTL_CDF_s3_integrity |
  XEN_DOMCTL_CDF_oos_off |
  XEN_DOMCTL_CDF_xs_domain |
  XEN_DOMCTL_CDF_iommu |
  XEN_DOMCTL_CDF_nested_virt |
  XEN_DOMCTL_CDF_vpmu;

/** Xen's HVM_MAX_VCPUS. */
const HVM_MAX_VCPUS = 128;
/** Xen's defaults and ceilings (gnttab_max_frames, gnttab_max_maptrack_frames, version). */
const MAX_GRANT_FRAMES = 64;
const MAX_MAPTRACK_FRAMES = 1024;
const MAX_GRANT_VERSION = 2;
/** max_evtchn_port is clamped to INT_MAX. */
const INT_MAX = 0x7fffffff;
/** Frames a new domain takes at once (shared_info, the first grant frame, event pages). */
const CREATE_FRAMES = 8;

/** Xen's static rover: where the search for a free domid starts, per hypervisor. */
const rovers = new WeakMap<Hypervisor, number>();

/** Xen's is_free_domid. */
function isFreeDomid(hv: Hypervisor, domid: number): boolean {
  return domid < DOMID_FIRST_RESERVED && hv.domainById(domid) === undefined;
}

/** The domid to create: -EEXIST if the one asked for is taken, -ENOMEM if none is free. */
function chooseDomid(hv: Hypervisor, asked: number): number {
  if (asked > 0 && asked < DOMID_FIRST_RESERVED) {
    return isFreeDomid(hv, asked) ? asked : -XEN_EEXIST;
  }
  // Xen's loop from rover + 1, wrapping from DOMID_FIRST_RESERVED to 1; bounded here.
  let dom = rovers.get(hv) ?? 0;
  for (let tries = 0; tries < DOMID_FIRST_RESERVED; tries++) {
    dom = dom + 1 >= DOMID_FIRST_RESERVED ? 1 : dom + 1;
    if (isFreeDomid(hv, dom)) {
      rovers.set(hv, dom);
      return dom;
    }
  }
  return -XEN_ENOMEM;
}

type CreateConfig = ReturnType<typeof xen_domctl_createdomain.decode>;

/** sanitise_domain_config and arch_sanitise_domain_config for this hypervisor. */
function sanitise(config: CreateConfig): number {
  const { flags } = config;
  const hvm = (flags & XEN_DOMCTL_CDF_hvm) !== 0;
  const hap = (flags & XEN_DOMCTL_CDF_hap) !== 0;
  if (flags & ~CDF_KNOWN) return -XEN_EINVAL;
  if (config.grant_opts & ~XEN_DOMCTL_GRANT_version_mask) return -XEN_EINVAL;
  if (config.max_vcpus < 1) return -XEN_EINVAL;
  if (hap && !hvm) return -XEN_EINVAL;
  if (flags & XEN_DOMCTL_CDF_iommu) {
    if (config.iommu_opts & ~XEN_DOMCTL_IOMMU_no_sharept) return -XEN_EINVAL;
    return -XEN_EINVAL; // no IOMMU
  }
  if (config.iommu_opts !== 0) return -XEN_EINVAL;
  if (config.vmtrace_size !== 0) return -XEN_EINVAL; // no processor trace
  if (flags & XEN_DOMCTL_CDF_vpmu) return -XEN_EINVAL; // no virtual PMU
  // arch_sanitise_domain_config
  if (!hvm) return -XEN_EINVAL; // built without PV support
  if (config.max_vcpus > HVM_MAX_VCPUS) return -XEN_EINVAL;
  if (flags & XEN_DOMCTL_CDF_s3_integrity) return -XEN_EINVAL; // no tboot
  if (flags & XEN_DOMCTL_CDF_nested_virt) return -XEN_EINVAL; // Xen: needs HAP; here: none
  if (config.arch.misc_flags & ~XEN_X86_MSR_RELAXED) return -XEN_EINVAL;
  return 0;
}

/** The checks of domain_create's callees, before anything is allocated. */
function checkResources(config: CreateConfig): number {
  // arch_domain_create
  const emulation = config.arch.emulation_flags;
  if (emulation & ~XEN_X86_EMU_ALL) return -XEN_EINVAL;
  if (emulation !== XEN_X86_EMU_LAPIC) return -XEN_EOPNOTSUPP;
  // grant_table_init
  const version = config.grant_opts & XEN_DOMCTL_GRANT_version_mask;
  if (version === 0 || version > MAX_GRANT_VERSION) return -XEN_EINVAL;
  const grantFrames = config.max_grant_frames < 0 ? MAX_GRANT_FRAMES : config.max_grant_frames;
  const maptrackFrames =
    config.max_maptrack_frames < 0 ? MAX_MAPTRACK_FRAMES : config.max_maptrack_frames;
  if (grantFrames < 1 || grantFrames > MAX_GRANT_FRAMES || maptrackFrames > MAX_MAPTRACK_FRAMES) {
    return -XEN_EINVAL;
  }
  // sched_init_domain: cpupool 0 is the only one.
  if (config.cpupool_id !== 0) return -XEN_ESRCH;
  return 0;
}

export function createdomain(op: DomctlOp): number {
  const hv = op.call.hv;
  const config = xen_domctl_createdomain.read(op.view, DOMCTL_U);
  const domid = chooseDomid(hv, op.domain);
  if (domid < 0) return domid;
  const bad = sanitise(config) || checkResources(config);
  if (bad < 0) return bad;
  if (hv.frames.free < CREATE_FRAMES) return -XEN_ENOMEM;
  let domain: ReturnType<Hypervisor['createDomainWithId']>;
  try {
    domain = hv.createDomainWithId(domid, {
      maxVcpus: config.max_vcpus,
      maxPages: 0,
      handle: Uint8Array.from(config.handle),
      maxEvtchnPort: Math.min(config.max_evtchn_port, INT_MAX),
      maxGrantFrames: config.max_grant_frames < 0 ? MAX_GRANT_FRAMES : config.max_grant_frames,
      maxMaptrackFrames:
        config.max_maptrack_frames < 0 ? MAX_MAPTRACK_FRAMES : config.max_maptrack_frames,
    });
  } catch {
    return -XEN_ENOMEM; // everything the caller controls was checked: only memory can fail
  }
  setDomainOptions(domain, { flags: config.flags, emulationFlags: config.arch.emulation_flags });
  op.domain = domain.id;
  op.copyback = true;
  return 0;
}
