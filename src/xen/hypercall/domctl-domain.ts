/**
 * Domain-wide domctls (xen/common/domctl.c and the x86 ones of arch/x86/domctl.c): destroy,
 * the toolstack's nested pause count, getdomaininfo, memory and vCPU limits, the handle,
 * the wallclock offset, the address size and the global VIRQ handler.
 */
import {
  XEN_DOMCTL_createdomain,
  XEN_DOMCTL_destroydomain,
  XEN_DOMCTL_get_address_size,
  XEN_DOMCTL_getdomaininfo,
  XEN_DOMCTL_max_mem,
  XEN_DOMCTL_max_vcpus,
  XEN_DOMCTL_pausedomain,
  XEN_DOMCTL_set_address_size,
  XEN_DOMCTL_set_virq_handler,
  XEN_DOMCTL_setdomainhandle,
  XEN_DOMCTL_settimeoffset,
  XEN_DOMCTL_unpausedomain,
  xen_domctl_getdomaininfo,
  xen_domctl_max_mem,
  xen_domctl_max_vcpus,
  xen_domctl_set_virq_handler,
  xen_domctl_setdomainhandle,
  xen_domctl_settimeoffset,
} from '../../abi/domctl.js';
import { XEN_EINVAL, XEN_EOPNOTSUPP, XEN_EOVERFLOW, XEN_ESRCH } from '../../abi/errno.js';
import { DOMID_FIRST_RESERVED } from '../../abi/xen.js';
import { updateWallclock } from '../arch/x86/hvm/vcpu-info.js';
import { type Domain, DomainState } from '../common/domain.js';
import { domainInfo, domainList } from './domain-info.js';
import { createdomain } from './domctl-create.js';
import { DOMCTL_U, type DomctlHandler, type DomctlOp, targetOf } from './domctl-op.js';

/** Xen limits the toolstack's pause count so it cannot overflow the domain's. */
const MAX_CONTROLLER_PAUSES = 255;
/** d->max_pages is an unsigned int. */
const UINT_MAX = 0xffffffffn;

/** Commands that pause the target cannot be aimed at the caller's own domain. */
function isCaller(op: DomctlOp, domain: Domain): boolean {
  return op.call.vcpu.domain === domain;
}

/** domain_kill: every frame goes back; the domain lingers only while others map its grants. */
const destroydomain: DomctlHandler = (op) => {
  const hv = op.call.hv;
  const domain = targetOf(op);
  if (isCaller(op, domain)) return -XEN_EINVAL;
  if (domain.state === DomainState.Dying) return 0;
  hv.destroyDomain(domain);
  return 0;
};

const pausedomain: DomctlHandler = (op) => {
  const domain = targetOf(op);
  if (isCaller(op, domain)) return -XEN_EINVAL;
  if (domain.pauseCount + 1 > MAX_CONTROLLER_PAUSES) return -XEN_EOVERFLOW;
  op.call.hv.pause(domain);
  return 0;
};

/** Undoes one pausedomain, or the pause a new domain is created with; never below zero. */
const unpausedomain: DomctlHandler = (op) => {
  const domain = targetOf(op);
  if (domain.pauseCount === 0) return -XEN_EINVAL;
  op.call.hv.unpause(domain);
  return 0;
};

/** The named domain, or when it does not exist the first one with a higher domid. */
const getdomaininfo: DomctlHandler = (op) => {
  const hv = op.call.hv;
  let domain = op.target;
  if (domain === undefined) {
    if (op.domain >= DOMID_FIRST_RESERVED) return -XEN_EINVAL;
    domain = domainList(hv).find((d) => d.id >= op.domain);
    if (domain === undefined) return -XEN_ESRCH;
  }
  xen_domctl_getdomaininfo.write(op.view, DOMCTL_U, domainInfo(hv, domain));
  op.domain = domain.id;
  op.copyback = true;
  return 0;
};

/** KiB to pages; a domain holding more keeps it, but gets nothing new until it is below. */
const maxMem: DomctlHandler = (op) => {
  const { max_memkb } = xen_domctl_max_mem.read(op.view, DOMCTL_U);
  const pages = max_memkb >> 2n; // PAGE_SHIFT - 10
  targetOf(op).maxPages = Number(pages > UINT_MAX ? UINT_MAX : pages);
  return 0;
};

/** vCPUs are all made at createdomain: only that same count is accepted. */
const maxVcpus: DomctlHandler = (op) => {
  const domain = targetOf(op);
  const { max } = xen_domctl_max_vcpus.read(op.view, DOMCTL_U);
  if (isCaller(op, domain) || max !== domain.vcpus.length) return -XEN_EINVAL;
  return 0;
};

const setdomainhandle: DomctlHandler = (op) => {
  targetOf(op).handle.set(xen_domctl_setdomainhandle.read(op.view, DOMCTL_U).handle);
  return 0;
};

/** domain_set_time_offset: the wallclock in shared_info moves at once. */
const settimeoffset: DomctlHandler = (op) => {
  const hv = op.call.hv;
  const domain = targetOf(op);
  const { time_offset_seconds } = xen_domctl_settimeoffset.read(op.view, DOMCTL_U);
  domain.wallclockOffset = Number(time_offset_seconds);
  updateWallclock(hv.memory.view, hv.time, domain);
  return 0;
};

/** Only PV domains have an address size to set or get; every domain here is HVM. */
const addressSize: DomctlHandler = () => -XEN_EOPNOTSUPP;

const setVirqHandler: DomctlHandler = (op) => {
  const { virq } = xen_domctl_set_virq_handler.read(op.view, DOMCTL_U);
  return op.call.hv.globalVirqs.set(virq, targetOf(op).id);
};

export const domainCommands: ReadonlyMap<number, DomctlHandler> = new Map([
  [XEN_DOMCTL_createdomain, createdomain],
  [XEN_DOMCTL_destroydomain, destroydomain],
  [XEN_DOMCTL_pausedomain, pausedomain],
  [XEN_DOMCTL_unpausedomain, unpausedomain],
  [XEN_DOMCTL_getdomaininfo, getdomaininfo],
  [XEN_DOMCTL_max_mem, maxMem],
  [XEN_DOMCTL_max_vcpus, maxVcpus],
  [XEN_DOMCTL_setdomainhandle, setdomainhandle],
  [XEN_DOMCTL_settimeoffset, settimeoffset],
  [XEN_DOMCTL_set_address_size, addressSize],
  [XEN_DOMCTL_get_address_size, addressSize],
  [XEN_DOMCTL_set_virq_handler, setVirqHandler],
]);
