// Data for FakeToolstack: a small host's physinfo and version, and a dominfo maker.
import { type DomInfo, type PhysInfo, ShutdownReason, type VersionInfo } from './types.js';

export { Queue } from './queue.js';

export const PHYSINFO: PhysInfo = {
  threads_per_core: 1,
  cores_per_socket: 2,
  max_cpu_id: 1,
  nr_cpus: 2,
  cpu_khz: 2494222,
  total_pages: 262144,
  free_pages: 131072,
  scrub_pages: 0,
  outstanding_pages: 0,
  sharing_freed_pages: 0,
  sharing_used_frames: 0,
  max_possible_mfn: 262143,
  nr_nodes: 1,
  hw_cap: [0x178bfbff, 0xf6d8320b, 0x2c100800, 0x000007ff, 0x219c07a9, 0, 0, 0],
  cap_hvm: true,
  cap_pv: false,
  cap_hvm_directio: false,
  cap_hap: true,
  cap_shadow: false,
  cap_iommu_hap_pt_share: false,
  cap_vmtrace: false,
  cap_vpmu: false,
  cap_gnttab_v1: true,
  cap_gnttab_v2: true,
};

export const VERSION: VersionInfo = {
  xen_version_major: 4,
  xen_version_minor: 17,
  xen_version_extra: '.0-xenotype',
  compiler: 'TypeScript',
  compile_by: 'xenotype',
  compile_domain: 'example.org',
  compile_date: 'Thu Jan  1 00:00:00 UTC 1970',
  capabilities: 'xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64',
  changeset: 'unavailable',
  virt_start: 0xffff800000000000n,
  pagesize: 4096,
  commandline: 'console=com1',
  build_id: '',
};

export function domInfo(domid: number, name: string, fields: Partial<DomInfo>): DomInfo {
  return {
    uuid: `00000000-0000-0000-0000-${domid.toString(16).padStart(12, '0')}`,
    domid,
    name,
    ssidref: 0,
    ssid_label: null,
    running: false,
    blocked: false,
    paused: false,
    shutdown: false,
    dying: false,
    never_stop: false,
    shutdown_reason: ShutdownReason.unknown,
    outstanding_memkb: 0,
    current_memkb: 0,
    shared_memkb: 0,
    paged_memkb: 0,
    max_memkb: 0,
    cpu_time: 0,
    vcpu_max_id: 0,
    vcpu_online: 1,
    cpupool: 0,
    domain_type: domid === 0 ? 'pv' : 'pvh',
    ...fields,
  };
}
