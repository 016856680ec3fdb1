// From the hypervisor's structures to libxl's (libxl__xcinfo2xlinfo, libxl_get_physinfo,
// libxl_get_version_info in Xen 4.17): the conversions only, so each can be read beside libxl.
import { hostname, version as osVersion, release } from 'node:os';
import {
  XEN_DOMINF_blocked,
  XEN_DOMINF_dying,
  XEN_DOMINF_hvm_guest,
  XEN_DOMINF_paused,
  XEN_DOMINF_running,
  XEN_DOMINF_shutdown,
  XEN_DOMINF_shutdownmask,
  XEN_DOMINF_shutdownshift,
} from '../../abi/domctl.js';
import {
  XEN_SYSCTL_PHYSCAP_directio,
  XEN_SYSCTL_PHYSCAP_gnttab_v1,
  XEN_SYSCTL_PHYSCAP_gnttab_v2,
  XEN_SYSCTL_PHYSCAP_hap,
  XEN_SYSCTL_PHYSCAP_hvm,
  XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share,
  XEN_SYSCTL_PHYSCAP_pv,
  XEN_SYSCTL_PHYSCAP_shadow,
  XEN_SYSCTL_PHYSCAP_vmtrace,
  XEN_SYSCTL_PHYSCAP_vpmu,
} from '../../abi/sysctl.js';
import {
  XEN_CAPABILITIES_INFO_LEN,
  XEN_CHANGESET_INFO_LEN,
  XEN_COMMANDLINE_LEN,
  XEN_EXTRAVERSION_LEN,
  XENVER_capabilities,
  XENVER_changeset,
  XENVER_commandline,
  XENVER_compile_info,
  XENVER_extraversion,
  XENVER_pagesize,
  XENVER_platform_parameters,
  XENVER_version,
  xen_compile_info,
  xen_platform_parameters,
} from '../../abi/version.js';
import type { DomainInfo, Physinfo, XenCtrl } from '../libs/ctrl.js';
import {
  type DomInfo,
  MEMKB_NO_LIMIT,
  type PhysInfo,
  type Utsname,
  type VersionInfo,
} from './types.js';

const KIB_PER_PAGE = 4;
const NO_LIMIT_PAGES = 0xffffffff;

/** A xen_domain_handle_t as LIBXL_UUID_FMT prints it. */
export function formatUuid(handle: Uint8Array): string {
  const hex = Array.from(handle, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The 16 bytes of a UUID in canonical form. */
export function uuidBytes(uuid: string): Uint8Array {
  return Uint8Array.from(Buffer.from(uuid.replaceAll('-', ''), 'hex'));
}

/** libxl__xcinfo2xlinfo, with the name and type the toolstack knows. */
export function toDomInfo(
  info: DomainInfo,
  name: string | null,
  type: DomInfo['domain_type'],
): DomInfo {
  const flags = info.flags;
  const maxPages = Number(info.max_pages);
  return {
    uuid: formatUuid(info.handle),
    domid: info.domain,
    name,
    ssidref: info.ssidref,
    ssid_label: null,
    running: (flags & XEN_DOMINF_running) !== 0,
    blocked: (flags & XEN_DOMINF_blocked) !== 0,
    paused: (flags & XEN_DOMINF_paused) !== 0,
    shutdown: (flags & XEN_DOMINF_shutdown) !== 0,
    dying: (flags & XEN_DOMINF_dying) !== 0,
    never_stop: false,
    shutdown_reason:
      (flags & XEN_DOMINF_shutdown) !== 0
        ? (flags >>> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask
        : -1,
    outstanding_memkb: Number(info.outstanding_pages) * KIB_PER_PAGE,
    current_memkb: Number(info.tot_pages) * KIB_PER_PAGE,
    shared_memkb: Number(info.shr_pages) * KIB_PER_PAGE,
    paged_memkb: Number(info.paged_pages) * KIB_PER_PAGE,
    max_memkb: maxPages >= NO_LIMIT_PAGES ? MEMKB_NO_LIMIT : maxPages * KIB_PER_PAGE,
    cpu_time: Number(info.cpu_time),
    vcpu_max_id: info.max_vcpu_id,
    vcpu_online: info.nr_online_vcpus,
    cpupool: info.cpupool,
    domain_type: (flags & XEN_DOMINF_hvm_guest) === 0 ? 'pv' : type,
  };
}

export function toPhysInfo(p: Physinfo): PhysInfo {
  const cap = (bit: number): boolean => (p.capabilities & bit) !== 0;
  return {
    threads_per_core: p.threads_per_core,
    cores_per_socket: p.cores_per_socket,
    max_cpu_id: p.max_cpu_id,
    nr_cpus: p.nr_cpus,
    cpu_khz: p.cpu_khz,
    total_pages: Number(p.total_pages),
    free_pages: Number(p.free_pages),
    scrub_pages: Number(p.scrub_pages),
    outstanding_pages: Number(p.outstanding_pages),
    sharing_freed_pages: 0,
    sharing_used_frames: 0,
    max_possible_mfn: Number(p.max_mfn),
    nr_nodes: p.nr_nodes,
    hw_cap: [...p.hw_cap],
    cap_hvm: cap(XEN_SYSCTL_PHYSCAP_hvm),
    cap_pv: cap(XEN_SYSCTL_PHYSCAP_pv),
    cap_hvm_directio: cap(XEN_SYSCTL_PHYSCAP_directio),
    cap_hap: cap(XEN_SYSCTL_PHYSCAP_hap),
    cap_shadow: cap(XEN_SYSCTL_PHYSCAP_shadow),
    cap_iommu_hap_pt_share: cap(XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share),
    cap_vmtrace: cap(XEN_SYSCTL_PHYSCAP_vmtrace),
    cap_vpmu: cap(XEN_SYSCTL_PHYSCAP_vpmu),
    cap_gnttab_v1: cap(XEN_SYSCTL_PHYSCAP_gnttab_v1),
    cap_gnttab_v2: cap(XEN_SYSCTL_PHYSCAP_gnttab_v2),
  };
}

const cString = (bytes: Uint8Array): string => {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
};

/** libxl_get_version_info: one xen_version call per field. */
export async function readVersionInfo(ctrl: XenCtrl): Promise<VersionInfo> {
  const text = async (cmd: number, size: number) =>
    cString((await ctrl.xenVersion(cmd, size)).bytes);
  const version = (await ctrl.xenVersion(XENVER_version)).rc;
  const compile = xen_compile_info.decode(
    (await ctrl.xenVersion(XENVER_compile_info, xen_compile_info.size)).bytes,
  );
  const platform = xen_platform_parameters.decode(
    (await ctrl.xenVersion(XENVER_platform_parameters, xen_platform_parameters.size)).bytes,
  );
  return {
    xen_version_major: version >>> 16,
    xen_version_minor: version & 0xffff,
    xen_version_extra: await text(XENVER_extraversion, XEN_EXTRAVERSION_LEN),
    compiler: compile.compiler,
    compile_by: compile.compile_by,
    compile_domain: compile.compile_domain,
    compile_date: compile.compile_date,
    capabilities: await text(XENVER_capabilities, XEN_CAPABILITIES_INFO_LEN),
    changeset: await text(XENVER_changeset, XEN_CHANGESET_INFO_LEN),
    virt_start: BigInt(platform.virt_start),
    pagesize: (await ctrl.xenVersion(XENVER_pagesize)).rc,
    commandline: await text(XENVER_commandline, XEN_COMMANDLINE_LEN),
    // XENVER_build_id: the hypervisor embeds none.
    build_id: '',
  };
}

/** uname(2) of the control domain: the host Dom0 runs on. */
export function hostUname(): Utsname {
  return { nodename: hostname(), release: release(), version: osVersion(), machine: 'x86_64' };
}
