/**
 * struct xen_domctl_getdomaininfo for one domain (Xen's getdomaininfo), shared by
 * XEN_DOMCTL_getdomaininfo and XEN_SYSCTL_getdomaininfolist; the domain list in Xen's order;
 * and the creation options Xen keeps in struct domain that our Domain does not carry.
 */
import {
  XEN_DOMCTL_CDF_hap,
  XEN_DOMCTL_CDF_hvm,
  XEN_DOMCTL_CDF_xs_domain,
  XEN_DOMINF_blocked,
  XEN_DOMINF_dying,
  XEN_DOMINF_hap,
  XEN_DOMINF_hvm_guest,
  XEN_DOMINF_paused,
  XEN_DOMINF_running,
  XEN_DOMINF_shutdown,
  XEN_DOMINF_shutdownshift,
  XEN_DOMINF_xs_domain,
  XEN_INVALID_MAX_VCPU_ID,
  type xen_domctl_getdomaininfo,
} from '../../abi/domctl.js';
import { XEN_X86_EMU_IOAPIC, XEN_X86_EMU_LAPIC, XEN_X86_EMU_VPCI } from '../../abi/xen.js';
import { type Domain, DomainState, GUEST_FRAMES, type Vcpu } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import { isHardwareDomain } from './xsm.js';

export type DomainInfo = Parameters<typeof xen_domctl_getdomaininfo.encode>[0];

/** What XEN_DOMCTL_createdomain was asked for, beyond DomainConfig. */
export interface DomainOptions {
  /** XEN_DOMCTL_CDF_* */
  readonly flags: number;
  /** XEN_X86_EMU_*: the devices Xen emulates for the domain. */
  readonly emulationFlags: number;
}

const options = new WeakMap<Domain, DomainOptions>();

export function setDomainOptions(domain: Domain, value: DomainOptions): void {
  options.set(domain, value);
}

/**
 * Domains the host built directly (Dom0, tests) are PVH: HVM with HAP and only the local
 * APIC emulated; the hardware domain also has the IO-APIC and vPCI, as Xen's PVH Dom0.
 */
export function domainOptions(domain: Domain): DomainOptions {
  const known = options.get(domain);
  if (known !== undefined) return known;
  return {
    flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
    emulationFlags: isHardwareDomain(domain)
      ? XEN_X86_EMU_LAPIC | XEN_X86_EMU_IOAPIC | XEN_X86_EMU_VPCI
      : XEN_X86_EMU_LAPIC,
  };
}

/** Every domain Xen would list, destroyed ones still referenced included, by domid. */
export function domainList(hv: Hypervisor): Domain[] {
  return [...hv.domains.values(), ...hv.zombies.values()].sort((a, b) => a.id - b.id);
}

/** Nanoseconds the vCPU has spent running (vcpu_runstate_get's RUNSTATE_running). */
export function vcpuCpuTime(hv: Hypervisor, vcpu: Vcpu): number {
  const current = vcpu.runstate === 0 ? hv.time.now() - vcpu.runstateEntry : 0;
  return vcpu.runstateTime[0]! + Math.max(0, current);
}

export function nsToU64(ns: number): bigint {
  return Number.isFinite(ns) && ns > 0 ? BigInt(Math.floor(ns)) : 0n;
}

/** Guest-physical address bits (hap_paddr_bits): the span of a domain's P2M. */
const GPADDR_BITS = Math.log2(GUEST_FRAMES) + 12;
/** What Xen reports for a frame with no guest frame (INVALID_M2P_ENTRY). */
const INVALID_GFN = 0xffff_ffff_ffff_ffffn;

export function domainInfo(hv: Hypervisor, domain: Domain): DomainInfo {
  const opts = domainOptions(domain);
  let cpuTime = 0;
  let online = 0;
  let maxVcpuId = XEN_INVALID_MAX_VCPU_ID;
  // Blocked only if every online vCPU is; running if any is.
  let flags = XEN_DOMINF_blocked;
  for (const vcpu of domain.vcpus) {
    cpuTime += vcpuCpuTime(hv, vcpu);
    maxVcpuId = vcpu.id;
    if (!vcpu.online) continue;
    if (!vcpu.blocked) flags &= ~XEN_DOMINF_blocked;
    if (vcpu.runstate === 0) flags |= XEN_DOMINF_running;
    online++;
  }
  if (online === 0) flags = 0;
  if (domain.state === DomainState.Dying) flags |= XEN_DOMINF_dying;
  if (domain.state === DomainState.Shutdown) flags |= XEN_DOMINF_shutdown;
  if (domain.pauseCount > 0) flags |= XEN_DOMINF_paused;
  if (opts.flags & XEN_DOMCTL_CDF_xs_domain) flags |= XEN_DOMINF_xs_domain;
  if (opts.flags & XEN_DOMCTL_CDF_hvm) flags |= XEN_DOMINF_hvm_guest;
  if (opts.flags & XEN_DOMCTL_CDF_hap) flags |= XEN_DOMINF_hap;
  // Xen ORs in d->shutdown_code unmasked: SHUTDOWN_CODE_INVALID (~0u) until the domain shuts
  // down or sets a code, which fills bits 16-31. Callers mask with XEN_DOMINF_shutdownmask.
  const code = domain.state === DomainState.Shutdown ? domain.shutdownReason : domain.shutdownCode;
  flags |= code << XEN_DOMINF_shutdownshift;

  const mfn = domain.sharedInfoMfn;
  const gfn = mfn >= 0 ? hv.frames.m2p[mfn]! : -1;
  return {
    domain: domain.id,
    flags: flags >>> 0,
    tot_pages: domain.totPages,
    max_pages: domain.maxPages,
    outstanding_pages: 0,
    shr_pages: 0,
    paged_pages: 0,
    shared_info_frame: gfn >= 0 ? BigInt(gfn) : INVALID_GFN,
    cpu_time: nsToU64(cpuTime),
    nr_online_vcpus: online,
    max_vcpu_id: maxVcpuId,
    ssidref: 0, // no XSM policy
    handle: domain.handle,
    cpupool: 0,
    gpaddr_bits: GPADDR_BITS,
    arch_config: { emulation_flags: opts.emulationFlags, misc_flags: 0 },
  };
}
