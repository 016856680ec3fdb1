// An in-memory Toolstack for tests of xl: domains are records, guests answer shutdown and reboot
// requests at once (unless told not to), and tests drive consoles and events by hand.
import type { DomainConfig } from './config/domain-config.js';
import {
  type DiskDevice,
  diskBackendKind,
  diskBackendPath,
  diskFrontendPath,
} from './disk-store.js';
import { type NicDevice, type NicRequest, nicBackendPath, nicFrontendPath } from './nic-store.js';
import { domInfo, PHYSINFO, Queue, VERSION } from './testing-fixtures.js';
import {
  type ConsoleConnection,
  type DiskInfo,
  type DomainEvent,
  type DomainWatch,
  type DomInfo,
  LibxlError,
  MEMKB_NO_LIMIT,
  type NicInfo,
  type PhysInfo,
  ShutdownReason,
  type Toolstack,
  ToolstackError,
  type Trigger,
  type Utsname,
  type VcpuInfo,
  type VersionInfo,
} from './types.js';

interface FakeDomain {
  info: DomInfo;
  config: DomainConfig | null;
  startTime: number;
  /** The fake guest has PV drivers (answers shutdown/reboot requests). */
  pvControl: boolean;
  consoles: Set<Queue<Uint8Array>>;
  input: Uint8Array[];
}

export class FakeToolstack implements Toolstack {
  readonly domains = new Map<number, FakeDomain>();
  private nextDomid = 1;
  private watches = new Map<number, Set<Queue<DomainEvent>>>();
  hypervisorConsole = '(XEN) Xen version 4.17.0-xenotype\n(XEN) Brought up 2 CPUs\n';
  /** Seconds since the epoch at which Domain-0 booted. */
  bootTime = 1_700_000_000;
  /** Calls in order, for assertions: "unpause 1", "destroy 2", … */
  readonly calls: string[] = [];
  /** Whether created guests answer shutdown and reboot requests. */
  guestsAnswer = true;
  /** Disks by domid, as a connected guest's blkfront would leave them. */
  readonly disks = new Map<number, DiskInfo[]>();
  /** NICs by domid, oldest first, as a connected guest's netfront would leave them. */
  readonly nics = new Map<number, NicInfo[]>();

  constructor() {
    this.domains.set(0, {
      info: domInfo(0, 'Domain-0', { max_memkb: MEMKB_NO_LIMIT, current_memkb: 524288 }),
      config: null,
      startTime: this.bootTime,
      pvControl: false,
      consoles: new Set(),
      input: [],
    });
    this.update(0, { running: true, vcpu_max_id: 1, vcpu_online: 2, cpu_time: 12_345_678_901 });
  }

  private get(domid: number): FakeDomain {
    const d = this.domains.get(domid);
    if (!d)
      throw new ToolstackError(LibxlError.DOMAIN_NOTFOUND, `Domain ${domid}:Non-existant domain`);
    return d;
  }

  /** Changes a domain's dominfo fields. */
  update(domid: number, fields: Partial<DomInfo>): void {
    const d = this.get(domid);
    d.info = { ...d.info, ...fields };
  }

  /** The guest shuts itself down (SCHEDOP_shutdown). */
  guestShutdown(domid: number, reason: number): void {
    this.update(domid, { shutdown: true, shutdown_reason: reason, running: false, blocked: false });
    this.emit(domid, { type: 'shutdown', domid, shutdown_reason: reason });
  }

  /** The guest writes to its console. */
  consoleOutput(domid: number, text: string | Uint8Array): void {
    const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
    for (const q of this.get(domid).consoles) q.push(bytes);
  }

  /** What was typed into a domain's console. */
  consoleInput(domid: number): string {
    return Buffer.concat(this.get(domid).input).toString('latin1');
  }

  private emit(domid: number, ev: DomainEvent): void {
    for (const q of this.watches.get(domid) ?? []) q.push(ev);
  }

  async listDomains(): Promise<DomInfo[]> {
    return [...this.domains.values()].map((d) => d.info).sort((a, b) => a.domid - b.domid);
  }
  async domainInfo(domid: number): Promise<DomInfo> {
    return this.get(domid).info;
  }
  async physinfo(): Promise<PhysInfo> {
    return PHYSINFO;
  }
  async versionInfo(): Promise<VersionInfo> {
    return VERSION;
  }
  async scheduler(): Promise<string> {
    return 'credit2';
  }
  async freeCpus(): Promise<number[]> {
    return [];
  }
  async cpupoolName(poolid: number): Promise<string | null> {
    return poolid === 0 ? 'Pool-0' : null;
  }
  async uname(): Promise<Utsname> {
    return {
      nodename: 'xenotype',
      release: '6.1.0-xenotype',
      version: '#1 SMP',
      machine: 'x86_64',
    };
  }

  async createDomain(config: DomainConfig): Promise<number> {
    for (const d of this.domains.values()) {
      if (d.info.name === config.name) {
        throw new ToolstackError(
          LibxlError.INVAL,
          `domain with name "${config.name}" already exists.`,
        );
      }
    }
    const domid = this.nextDomid++;
    this.calls.push(`create ${domid} ${config.name}`);
    this.domains.set(domid, {
      info: domInfo(domid, config.name, {
        uuid: config.uuid,
        paused: true,
        current_memkb: config.targetMemkb,
        max_memkb: config.maxMemkb,
        vcpu_max_id: config.maxVcpus - 1,
        vcpu_online: config.vcpus,
      }),
      config,
      startTime: this.bootTime + 100 * domid,
      pvControl: this.guestsAnswer,
      consoles: new Set(),
      input: [],
    });
    this.nics.set(
      domid,
      config.nics.map((nic) => connectedNic(domid, nic)),
    );
    return domid;
  }
  async retrieveDomainConfig(domid: number): Promise<DomainConfig> {
    const c = this.get(domid).config;
    if (!c) throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:no configuration stored`);
    return c;
  }
  async pause(domid: number): Promise<void> {
    this.calls.push(`pause ${domid}`);
    this.update(domid, { paused: true });
  }
  async unpause(domid: number): Promise<void> {
    this.calls.push(`unpause ${domid}`);
    this.update(domid, { paused: false, blocked: true });
  }
  async shutdown(domid: number): Promise<void> {
    this.request(domid, 'shutdown', ShutdownReason.poweroff);
  }
  async reboot(domid: number): Promise<void> {
    this.request(domid, 'reboot', ShutdownReason.reboot);
  }
  private request(domid: number, what: string, reason: number): void {
    const d = this.get(domid);
    this.calls.push(`${what} ${domid}`);
    if (!d.pvControl) {
      throw new ToolstackError(
        LibxlError.NOPARAVIRT,
        `Domain ${domid}:PV control interface not available`,
      );
    }
    queueMicrotask(() => {
      if (this.domains.has(domid)) this.guestShutdown(domid, reason);
    });
  }
  async sendTrigger(domid: number, trigger: Trigger, vcpuid: number): Promise<void> {
    this.get(domid);
    this.calls.push(`trigger ${domid} ${trigger} ${vcpuid}`);
  }
  async destroy(domid: number): Promise<void> {
    const d = this.get(domid);
    this.calls.push(`destroy ${domid}`);
    this.domains.delete(domid);
    this.nics.delete(domid);
    for (const q of d.consoles) q.end();
    this.emit(domid, { type: 'death', domid });
  }
  async rename(domid: number, newName: string): Promise<void> {
    for (const d of this.domains.values()) {
      if (d.info.name === newName && d.info.domid !== domid) {
        throw new ToolstackError(LibxlError.INVAL, `domain with name "${newName}" already exists.`);
      }
    }
    this.calls.push(`rename ${domid} ${newName}`);
    this.update(domid, { name: newName });
  }
  async preserve(domid: number, nameSuffix: string, newUuid: string): Promise<void> {
    const d = this.get(domid);
    this.calls.push(`preserve ${domid} ${nameSuffix}`);
    this.update(domid, { name: `${d.info.name}${nameSuffix}`, uuid: newUuid });
  }
  async watchDomain(domid: number): Promise<DomainWatch> {
    const q = new Queue<DomainEvent>();
    const set = this.watches.get(domid) ?? new Set();
    this.watches.set(domid, set);
    set.add(q);
    const d = this.domains.get(domid);
    if (!d) q.push({ type: 'death', domid });
    else if (d.info.shutdown)
      q.push({ type: 'shutdown', domid, shutdown_reason: d.info.shutdown_reason });
    return {
      next: async () => {
        const r = await q.next();
        if (r.done) throw new ToolstackError(LibxlError.FAIL, 'watch closed');
        return r.value;
      },
      close: () => {
        set.delete(q);
        q.end();
      },
    };
  }
  async readHypervisorConsole(opts: { clear: boolean }): Promise<string> {
    const text = this.hypervisorConsole;
    if (opts.clear) this.hypervisorConsole = '';
    return text;
  }
  async addDisk(domid: number, disk: DiskDevice): Promise<void> {
    this.get(domid);
    const disks = this.disks.get(domid) ?? [];
    if (disks.some((d) => d.devid === disk.devid)) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:device vbd ${disk.devid} exists`);
    }
    disks.push({
      backend: diskBackendPath(diskBackendKind(disk), domid, disk.devid),
      backendId: 0,
      frontend: diskFrontendPath(domid, disk.devid),
      frontendId: domid,
      devid: disk.devid,
      state: 4,
      evtch: 9,
      rref: 8,
    });
    this.disks.set(domid, disks);
    this.calls.push(`block-attach ${domid} ${disk.devid} ${disk.target}`);
  }

  async listDisks(domid: number): Promise<DiskInfo[]> {
    return [...(this.disks.get(domid) ?? [])];
  }

  async removeDisk(domid: number, devid: number, opts: { force: boolean }): Promise<void> {
    const disks = this.disks.get(domid) ?? [];
    if (!disks.some((d) => d.devid === devid)) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:no disk with devid ${devid}`);
    }
    this.disks.set(
      domid,
      disks.filter((d) => d.devid !== devid),
    );
    this.calls.push(`block-detach ${domid} ${devid}${opts.force ? ' force' : ''}`);
  }

  async addNic(domid: number, request: NicRequest): Promise<NicInfo> {
    this.get(domid);
    const nics = this.nics.get(domid) ?? [];
    // libxl__device_nextid: one more than the newest.
    const devid = request.devid ?? (nics.length === 0 ? 0 : nics.at(-1)!.devid + 1);
    if (nics.some((n) => n.devid === devid)) {
      throw new ToolstackError(
        LibxlError.DEVICE_EXISTS,
        `Domain ${domid}:device already exists in xenstore`,
      );
    }
    const info = connectedNic(domid, { ...request, devid });
    nics.push(info);
    this.nics.set(domid, nics);
    this.calls.push(`network-attach ${domid} ${devid} ${request.mac} ${request.bridge}`);
    return info;
  }

  async listNics(domid: number): Promise<NicInfo[]> {
    return [...(this.nics.get(domid) ?? [])];
  }

  async removeNic(domid: number, devid: number, opts: { force: boolean }): Promise<void> {
    const nics = this.nics.get(domid) ?? [];
    if (!nics.some((n) => n.devid === devid)) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:no nic with devid ${devid}`);
    }
    this.nics.set(
      domid,
      nics.filter((n) => n.devid !== devid),
    );
    this.calls.push(`network-detach ${domid} ${devid}${opts.force ? ' force' : ''}`);
  }

  async vcpuList(domid: number): Promise<VcpuInfo[]> {
    const info = this.get(domid).info;
    return Array.from({ length: info.vcpu_max_id + 1 }, (_, i) => ({
      vcpuid: i,
      cpu: i % 2,
      online: i < info.vcpu_online,
      blocked: !info.paused && i > 0,
      running: info.running && i === 0,
      vcpu_time: (info.cpu_time / (info.vcpu_max_id + 1)) | 0,
      cpumap: [0, 1],
      cpumap_soft: [0, 1],
    }));
  }
  async openConsole(domid: number): Promise<ConsoleConnection> {
    const d = this.get(domid);
    const q = new Queue<Uint8Array>();
    d.consoles.add(q);
    this.calls.push(`console ${domid}`);
    return {
      output: q,
      write: (data) => {
        d.input.push(Buffer.from(data));
      },
      close: () => {
        d.consoles.delete(q);
        q.end();
      },
    };
  }
  async domainStartTime(domid: number): Promise<number | null> {
    return this.domains.get(domid)?.startTime ?? null;
  }
}

/** A NIC as a connected netfront leaves it: one event channel, rings 768 + 2·devid and +1. */
function connectedNic(domid: number, nic: NicDevice): NicInfo {
  return {
    backend: nicBackendPath(domid, nic.devid),
    backendId: 0,
    frontend: nicFrontendPath(domid, nic.devid),
    frontendId: domid,
    devid: nic.devid,
    mac: nic.mac,
    state: 4,
    evtch: 20 + nic.devid,
    rrefTx: 768 + 2 * nic.devid,
    rrefRx: 769 + 2 * nic.devid,
  };
}

/** A small PVH domain's configuration for tests; `fields` override its values. */
export function testDomainConfig(fields: Partial<DomainConfig> = {}): DomainConfig {
  return {
    name: 'g',
    type: 'pvh',
    uuid: '5d5f2b8e-1c1a-4d6e-9a55-0123456789ab',
    kernel: '/k',
    ramdisk: null,
    cmdline: null,
    targetMemkb: 65536,
    maxMemkb: 65536,
    vcpus: 1,
    maxVcpus: 1,
    onPoweroff: 'destroy',
    onReboot: 'restart',
    onWatchdog: 'destroy',
    onCrash: 'destroy',
    onSoftReset: 'soft-reset',
    disks: [],
    nics: [],
    ...fields,
  };
}
