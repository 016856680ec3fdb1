// What `xl` needs from the toolstack: a small, libxl-shaped API (tools/include/libxl.h and
// tools/libs/light/libxl_types.idl in Xen 4.17). The structures keep libxl's field names so that
// each one can be checked against the IDL; the methods are libxl's calls, made async.
import type { DomainConfig } from './config/domain-config.js';
import type { DiskDevice } from './disk-store.js';
import type { NicRequest } from './nic-store.js';

export type { DomainConfig, ShutdownAction } from './config/domain-config.js';

/** libxl_error (libxl_types.idl): the codes libxl calls fail with. */
export const LibxlError = {
  NONSPECIFIC: -1,
  VERSION: -2,
  FAIL: -3,
  NI: -4,
  NOMEM: -5,
  INVAL: -6,
  BADFAIL: -7,
  GUEST_TIMEDOUT: -8,
  TIMEDOUT: -9,
  NOPARAVIRT: -10,
  NOT_READY: -11,
  OSEVENT_REG_FAIL: -12,
  BUFFERFULL: -13,
  UNKNOWN_CHILD: -14,
  LOCK_FAIL: -15,
  JSON_CONFIG_EMPTY: -16,
  DEVICE_EXISTS: -17,
  DOMAIN_NOTFOUND: -21,
  ABORTED: -22,
  NOTFOUND: -23,
  DOMAIN_DESTROYED: -24,
  FEATURE_REMOVED: -25,
} as const;

/** A failed toolstack call: libxl's error code, and the line libxl would have logged. */
export class ToolstackError extends Error {
  override name = 'ToolstackError';
  readonly code: number;

  constructor(code: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** libxl_shutdown_reason. */
export const ShutdownReason = {
  unknown: -1,
  poweroff: 0,
  reboot: 1,
  suspend: 2,
  crash: 3,
  watchdog: 4,
  soft_reset: 5,
} as const;

/** max_memkb of a domain without a limit (max_pages == UINT_MAX, as Domain-0 often is). */
export const MEMKB_NO_LIMIT = 0xffffffff * 4;

/** libxl_dominfo, plus the name libxl_domid_to_name would read from xenstore. */
export interface DomInfo {
  readonly uuid: string;
  readonly domid: number;
  /** null where xenstore has no name (xl then prints "(null)"). */
  readonly name: string | null;
  readonly ssidref: number;
  readonly ssid_label: string | null;
  readonly running: boolean;
  readonly blocked: boolean;
  readonly paused: boolean;
  readonly shutdown: boolean;
  readonly dying: boolean;
  readonly never_stop: boolean;
  /** A ShutdownReason; meaningful when `shutdown` is set. */
  readonly shutdown_reason: number;
  readonly outstanding_memkb: number;
  readonly current_memkb: number;
  readonly shared_memkb: number;
  readonly paged_memkb: number;
  /** MEMKB_NO_LIMIT for no limit. */
  readonly max_memkb: number;
  /** Nanoseconds of CPU time. */
  readonly cpu_time: number;
  readonly vcpu_max_id: number;
  readonly vcpu_online: number;
  readonly cpupool: number;
  readonly domain_type: 'pv' | 'hvm' | 'pvh';
}

/** libxl_physinfo. */
export interface PhysInfo {
  readonly threads_per_core: number;
  readonly cores_per_socket: number;
  readonly max_cpu_id: number;
  readonly nr_cpus: number;
  readonly cpu_khz: number;
  readonly total_pages: number;
  readonly free_pages: number;
  readonly scrub_pages: number;
  readonly outstanding_pages: number;
  readonly sharing_freed_pages: number;
  readonly sharing_used_frames: number;
  readonly max_possible_mfn: number;
  readonly nr_nodes: number;
  /** Eight 32-bit words. */
  readonly hw_cap: readonly number[];
  readonly cap_hvm: boolean;
  readonly cap_pv: boolean;
  readonly cap_hvm_directio: boolean;
  readonly cap_hap: boolean;
  readonly cap_shadow: boolean;
  readonly cap_iommu_hap_pt_share: boolean;
  readonly cap_vmtrace: boolean;
  readonly cap_vpmu: boolean;
  readonly cap_gnttab_v1: boolean;
  readonly cap_gnttab_v2: boolean;
}

/** libxl_version_info. */
export interface VersionInfo {
  readonly xen_version_major: number;
  readonly xen_version_minor: number;
  readonly xen_version_extra: string;
  readonly compiler: string;
  readonly compile_by: string;
  readonly compile_domain: string;
  readonly compile_date: string;
  readonly capabilities: string;
  readonly changeset: string;
  readonly virt_start: bigint;
  readonly pagesize: number;
  readonly commandline: string;
  readonly build_id: string;
}

/** libxl_vcpuinfo; the affinities are lists of physical CPU numbers. */
export interface VcpuInfo {
  readonly vcpuid: number;
  readonly cpu: number;
  readonly online: boolean;
  readonly blocked: boolean;
  readonly running: boolean;
  /** Nanoseconds the vCPU has run. */
  readonly vcpu_time: number;
  readonly cpumap: readonly number[];
  readonly cpumap_soft: readonly number[];
}

/** uname(2) of the control domain, for `xl info`. */
export interface Utsname {
  readonly nodename: string;
  readonly release: string;
  readonly version: string;
  readonly machine: string;
}

/** libxl's domain-death events (libxl_evenable_domain_death). */
export type DomainEvent =
  | { readonly type: 'shutdown'; readonly domid: number; readonly shutdown_reason: number }
  | { readonly type: 'death'; readonly domid: number };

/**
 * A watch on one domain. It reports the domain's shutdown once (at once if it is already shut
 * down) and then its death (at once if it does not exist).
 */
export interface DomainWatch {
  next(): Promise<DomainEvent>;
  close(): void;
}

export type ConsoleType = 'pv' | 'serial' | 'vuart';

/** A connection to a guest console (what xenconsole gets from the console pty). */
export interface ConsoleConnection {
  /** The guest's output; it ends when the console goes away (the domain is destroyed). */
  readonly output: AsyncIterable<Uint8Array>;
  /** Input for the guest. */
  write(data: Uint8Array): void;
  close(): void;
}

/** libxl_diskinfo: -1 where the frontend has not written the node. */
export interface DiskInfo {
  readonly backend: string;
  readonly backendId: number;
  readonly frontend: string;
  readonly frontendId: number;
  readonly devid: number;
  readonly state: number;
  readonly evtch: number;
  readonly rref: number;
}

/**
 * libxl_nicinfo, with the MAC of the libxl_device_nic it describes: what `xl network-list`
 * prints. -1 where the frontend has not written the node.
 */
export interface NicInfo {
  readonly backend: string;
  readonly backendId: number;
  readonly frontend: string;
  readonly frontendId: number;
  readonly devid: number;
  /** Lower-case xx:xx:xx:xx:xx:xx. */
  readonly mac: string;
  readonly state: number;
  readonly evtch: number;
  readonly rrefTx: number;
  readonly rrefRx: number;
}

/** libxl_trigger. */
export type Trigger = 'power' | 'sleep' | 'nmi' | 'init' | 'reset' | 's3resume';

/** Per-domain device counters, as xentop reads them. */
export interface DeviceStats {
  readonly networks: readonly {
    readonly rbytes: number;
    readonly rpackets: number;
    readonly rerrs: number;
    readonly rdrop: number;
    readonly tbytes: number;
    readonly tpackets: number;
    readonly terrs: number;
    readonly tdrop: number;
  }[];
  readonly vbds: readonly {
    readonly dev: number;
    readonly error: boolean;
    readonly oo_reqs: number;
    readonly rd_reqs: number;
    readonly wr_reqs: number;
    readonly rd_sects: number;
    readonly wr_sects: number;
  }[];
}

/** The toolstack `xl` drives. Failures are ToolstackError with libxl's code. */
export interface Toolstack {
  /** libxl_list_domain: every domain, by domid. */
  listDomains(): Promise<DomInfo[]>;
  /** libxl_domain_info; DOMAIN_NOTFOUND if there is no such domain. */
  domainInfo(domid: number): Promise<DomInfo>;
  physinfo(): Promise<PhysInfo>;
  versionInfo(): Promise<VersionInfo>;
  /** libxl_get_scheduler, as libxl_scheduler_to_string names it ("credit2", …). */
  scheduler(): Promise<string>;
  /** libxl_get_freecpus: CPUs in no cpupool. */
  freeCpus(): Promise<number[]>;
  /** libxl_cpupoolid_to_name. */
  cpupoolName(poolid: number): Promise<string | null>;
  uname(): Promise<Utsname>;

  /** libxl_domain_create_new: builds the domain and leaves it paused; returns its domid. */
  createDomain(config: DomainConfig): Promise<number>;
  /** libxl_retrieve_domain_configuration. */
  retrieveDomainConfig(domid: number): Promise<DomainConfig>;
  pause(domid: number): Promise<void>;
  unpause(domid: number): Promise<void>;
  /** libxl_domain_shutdown: asks the guest (NOPARAVIRT if it has no PV control). */
  shutdown(domid: number): Promise<void>;
  /** libxl_domain_reboot. */
  reboot(domid: number): Promise<void>;
  /** libxl_send_trigger. */
  sendTrigger(domid: number, trigger: Trigger, vcpuid: number): Promise<void>;
  destroy(domid: number): Promise<void>;
  /** libxl_domain_rename. */
  rename(domid: number, newName: string): Promise<void>;
  /** libxl_domain_preserve: renames with a suffix and gives a new UUID (rename-restart). */
  preserve(domid: number, nameSuffix: string, newUuid: string): Promise<void>;
  /** libxl_evenable_domain_death. */
  watchDomain(domid: number): Promise<DomainWatch>;

  /** The hypervisor's console ring (libxl_xen_console_read_*); `clear` empties it. */
  readHypervisorConsole(opts: { clear: boolean }): Promise<string>;
  /** libxl_list_vcpu. */
  vcpuList(domid: number): Promise<VcpuInfo[]>;
  /** A guest console; type null is the domain's primary console. */
  openConsole(
    domid: number,
    opts: { type: ConsoleType | null; num: number },
  ): Promise<ConsoleConnection>;
  /** libxl_vm_get_start_time in seconds since the epoch (Domain-0: the host's boot); null if unknown. */
  domainStartTime(domid: number): Promise<number | null>;
  /** libxl_device_disk_add: a disk for a domain, hot-plugged if it runs. */
  addDisk(domid: number, disk: DiskDevice): Promise<void>;
  /** libxl_device_disk_list with libxl_device_disk_getinfo, as `xl block-list` shows them. */
  listDisks(domid: number): Promise<DiskInfo[]>;
  /**
   * libxl_device_disk_safe_remove (the backend closes with the frontend's consent), or with
   * `force` libxl_device_disk_destroy (the directories go at once).
   */
  removeDisk(domid: number, devid: number, opts: { force: boolean }): Promise<void>;
  /**
   * libxl_device_nic_add: a NIC for a domain, hot-plugged if it runs; without a devid it gets
   * the next one. DEVICE_EXISTS if the devid is taken.
   */
  addNic(domid: number, nic: NicRequest): Promise<NicInfo>;
  /** libxl_device_nic_list with libxl_device_nic_getinfo, as `xl network-list` shows them. */
  listNics(domid: number): Promise<NicInfo[]>;
  /**
   * libxl_device_nic_remove (the backend closes with the frontend's consent), or with `force`
   * libxl_device_nic_destroy (the directories go at once).
   */
  removeNic(domid: number, devid: number, opts: { force: boolean }): Promise<void>;
  /** Network and block counters for xentop; absent means no devices. */
  deviceStats?(domid: number): Promise<DeviceStats>;
}
