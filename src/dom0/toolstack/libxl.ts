// The toolstack over Dom0 (what libxl is to xl): domains are built through XenCtrl and the PVH
// builder, described in xenstore as libxl describes them, served by xenstored and the console
// daemon, and watched through VIRQ_DOM_EXC.
import { readFile, stat } from 'node:fs/promises';
import {
  XEN_DOMCTL_CDF_hap,
  XEN_DOMCTL_CDF_hvm,
  XEN_DOMCTL_setdomainhandle,
  XEN_DOMINF_dying,
} from '../../abi/domctl.js';
import { HVM_PARAM_CALLBACK_IRQ } from '../../abi/hvm.js';
import { XenbusStateClosed, XenbusStateClosing } from '../../abi/io/xenbus.js';
import { XEN_X86_EMU_LAPIC } from '../../abi/xen.js';
import { buildPvh } from '../builder/pvh.js';
import type { Dom0 } from '../index.js';
import { HypercallError } from '../libs/kernel.js';
import { xenStrerror } from '../libs/strerror.js';
import type { DomainConfig } from './config/domain-config.js';
import { strtoul } from './config/strtol.js';
import { addDiskStore, type DiskDevice, diskFrontends, removeDiskStores } from './disk-store.js';
import {
  domainPath,
  makeDomainStore,
  publishBuiltDomain,
  removeDomainStore,
  vmPath,
  writeDomainName,
} from './domain-store.js';
import { hostUname, readVersionInfo, toDomInfo, toPhysInfo, uuidBytes } from './libxl-info.js';
import {
  addNicStore,
  type NicDevice,
  NicExistsError,
  type NicRequest,
  nextNicDevid,
  nicBackendPath,
  nicFrontends,
  removeNicStores,
} from './nic-store.js';
import { Queue } from './queue.js';
import {
  type ConsoleConnection,
  type ConsoleType,
  type DeviceStats,
  type DiskInfo,
  type DomainEvent,
  type DomainWatch,
  type DomInfo,
  LibxlError,
  type NicInfo,
  type PhysInfo,
  type Toolstack,
  ToolstackError,
  type Trigger,
  type Utsname,
  type VcpuInfo,
  type VersionInfo,
} from './types.js';

/** LIBXL_MAXMEM_CONSTANT: the slack libxl adds to max_memkb for the domain's special pages. */
const LIBXL_MAXMEM_CONSTANT_KIB = 1024;
/** xl's defaults for a guest's event channel and grant table limits. */
const MAX_EVTCHN_PORT = 1023;
const MAX_GRANT_FRAMES = 64;
const MAX_MAPTRACK_FRAMES = 1024;
/** XEN_DOMCTL_GRANT_version(2): both grant table versions. */
const GRANT_OPTS = 2;

/** What the toolstack remembers of a domain it built. */
interface DomainRecord {
  config: DomainConfig;
  /** Seconds since the epoch. */
  startTime: number;
}

export interface LibxlOptions {
  log(line: string): void;
}

export type Libxl = Toolstack & {
  /** Destroys every guest (the machine is going away). */
  close(): Promise<void>;
};

export function createLibxl(dom0: Dom0, options: LibxlOptions): Libxl {
  return new Dom0Toolstack(dom0, options);
}

const notFound = (domid: number): ToolstackError =>
  new ToolstackError(LibxlError.DOMAIN_NOTFOUND, `Domain ${domid}:Non-existant domain`);

/** libxl's LOGED: a failed hypercall becomes ERROR_FAIL, logged with its errno's text. */
const loggedFailure =
  (domid: number, what: string) =>
  (error: unknown): never => {
    if (!(error instanceof HypercallError)) throw error;
    throw new ToolstackError(
      LibxlError.FAIL,
      `Domain ${domid}:${what}: ${xenStrerror(error.errno)}`,
      { cause: error },
    );
  };

class Dom0Toolstack implements Toolstack {
  private readonly records = new Map<number, DomainRecord>();
  /** When this Dom0 started: Domain-0's start time. */
  private readonly bootTime = Date.now() / 1000;

  constructor(
    private readonly dom0: Dom0,
    private readonly options: LibxlOptions,
  ) {}

  async close(): Promise<void> {
    for (const domid of [...this.records.keys()]) {
      await this.destroy(domid).catch((e: unknown) => this.options.log(`destroy ${domid}: ${e}`));
    }
  }

  private async name(domid: number): Promise<string | null> {
    return (await this.dom0.store.tryRead(`${domainPath(domid)}/name`)) ?? null;
  }

  private typeOf(domid: number): DomInfo['domain_type'] {
    return this.records.get(domid)?.config.type ?? 'pvh';
  }

  async listDomains(): Promise<DomInfo[]> {
    const list = await this.dom0.ctrl.listDomains();
    return Promise.all(
      list.map(async (d) => toDomInfo(d, await this.name(d.domain), this.typeOf(d.domain))),
    );
  }

  async domainInfo(domid: number): Promise<DomInfo> {
    const info = await this.dom0.ctrl.domainInfo(domid);
    if (info === undefined) throw notFound(domid);
    return toDomInfo(info, await this.name(domid), this.typeOf(domid));
  }

  async physinfo(): Promise<PhysInfo> {
    return toPhysInfo(await this.dom0.ctrl.physinfo());
  }

  versionInfo(): Promise<VersionInfo> {
    return readVersionInfo(this.dom0.ctrl);
  }

  async scheduler(): Promise<string> {
    // The hypervisor's round-robin is none of the schedulers libxl names.
    return 'unknown';
  }

  async freeCpus(): Promise<number[]> {
    return [];
  }

  async cpupoolName(poolid: number): Promise<string | null> {
    return poolid === 0 ? 'Pool-0' : null;
  }

  async uname(): Promise<Utsname> {
    return hostUname();
  }

  /** libxl_domain_create_new: make, build, describe, introduce; the domain is left paused. */
  async createDomain(config: DomainConfig): Promise<number> {
    const { ctrl, store } = this.dom0;
    for (const d of await this.listDomains()) {
      if (d.name === config.name) {
        throw new ToolstackError(
          LibxlError.INVAL,
          `domain with name "${config.name}" already exists.`,
        );
      }
    }
    const kernel = await readImage('kernel', config.kernel);
    const ramdisk =
      config.ramdisk === null ? undefined : await readImage('ramdisk', config.ramdisk);
    const domid = await ctrl.createDomain({
      ssidref: 0,
      handle: uuidBytes(config.uuid),
      flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
      iommu_opts: 0,
      max_vcpus: config.maxVcpus,
      max_evtchn_port: MAX_EVTCHN_PORT,
      max_grant_frames: MAX_GRANT_FRAMES,
      max_maptrack_frames: MAX_MAPTRACK_FRAMES,
      grant_opts: GRANT_OPTS,
      vmtrace_size: 0,
      cpupool_id: 0,
      arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
    });
    const startTime = Date.now() / 1000;
    this.records.set(domid, { config, startTime });
    try {
      await makeDomainStore(store, domid, config);
      await ctrl.setMaxMem(domid, config.maxMemkb + LIBXL_MAXMEM_CONSTANT_KIB);
      const built = await buildPvh(this.dom0, domid, {
        kernel,
        ...(ramdisk === undefined ? {} : { ramdisk }),
        cmdline: config.cmdline ?? '',
        // As under Xen, the guest's memory map holds maxmem, and its balloon driver gives back
        // what is above memory (memory/target) as it boots. Xen backs the difference with
        // populate-on-demand; here it is populated up front and freed again.
        memoryMiB: Math.floor(config.maxMemkb / 1024),
        vcpus: config.vcpus,
        maxVcpus: config.maxVcpus,
      });
      await publishBuiltDomain(store, domid, config, built, startTime);
      await this.dom0.xenstored.introduce(domid, built.storePfn, built.storePort);
      await this.dom0.consoled.add(domid, config.name, built.consolePfn, built.consolePort);
      for (const disk of config.disks) {
        await statDisk(domid, disk);
        await addDiskStore(store, domid, disk);
      }
      for (const nic of config.nics) await addNicStore(store, domid, nic);
    } catch (error) {
      this.options.log(`libxl: domain ${domid} (${config.name}) failed to build: ${error}`);
      await this.destroy(domid).catch(() => {});
      if (error instanceof ToolstackError) throw error;
      throw new ToolstackError(
        LibxlError.FAIL,
        `Domain ${domid}:cannot build the domain: ${error instanceof Error ? error.message : error}`,
        { cause: error },
      );
    }
    this.options.log(`libxl: created domain ${domid} (${config.name})`);
    return domid;
  }

  async retrieveDomainConfig(domid: number): Promise<DomainConfig> {
    const record = this.records.get(domid);
    if (record === undefined) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:no configuration stored`);
    }
    const name = (await this.name(domid)) ?? record.config.name;
    return { ...record.config, name };
  }

  private async exists(domid: number): Promise<void> {
    if ((await this.dom0.ctrl.domainInfo(domid)) === undefined) throw notFound(domid);
  }

  async pause(domid: number): Promise<void> {
    await this.exists(domid);
    await this.dom0.ctrl.pauseDomain(domid).catch(loggedFailure(domid, 'Pausing domain'));
  }

  async unpause(domid: number): Promise<void> {
    await this.exists(domid);
    await this.dom0.ctrl.unpauseDomain(domid).catch(loggedFailure(domid, 'Unpausing domain'));
  }

  shutdown(domid: number): Promise<void> {
    return this.pvControl(domid, 'poweroff');
  }

  reboot(domid: number): Promise<void> {
    return this.pvControl(domid, 'reboot');
  }

  /** libxl__domain_pvcontrol: the guest's PV drivers read control/shutdown. */
  private async pvControl(domid: number, command: string): Promise<void> {
    await this.exists(domid);
    // An HVM-type guest has PV drivers once it has set up its event channel callback.
    const callback = await this.dom0.ctrl.getHvmParam(domid, HVM_PARAM_CALLBACK_IRQ);
    if (callback === 0n) {
      throw new ToolstackError(
        LibxlError.NOPARAVIRT,
        `Domain ${domid}:PV control interface not available`,
      );
    }
    const path = `${domainPath(domid)}/control/shutdown`;
    if ((await this.dom0.store.tryRead(path)) === undefined) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:no ${path} in xenstore`);
    }
    await this.dom0.store.write(path, command);
  }

  async sendTrigger(domid: number, trigger: Trigger, _vcpuid: number): Promise<void> {
    await this.exists(domid);
    // A PVH domain has no emulated ACPI buttons or NMI line to trigger.
    throw new ToolstackError(LibxlError.FAIL, `Send trigger '${trigger}' failed`);
  }

  async addDisk(domid: number, disk: DiskDevice): Promise<void> {
    await this.exists(domid);
    await statDisk(domid, disk);
    try {
      await addDiskStore(this.dom0.store, domid, disk);
    } catch (error) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:${String(error)}`);
    }
    const record = this.records.get(domid);
    if (record !== undefined) {
      record.config = { ...record.config, disks: [...record.config.disks, disk] };
    }
  }

  /** xentop's counters: each vif's traffic and each disk's requests, from the backends. */
  async deviceStats(domid: number): Promise<DeviceStats> {
    const { netback, blkback } = this.dom0;
    return {
      networks: netback.counters(domid).map((c) => ({ ...c })),
      vbds: blkback.counters(domid).map((c) => ({ ...c, error: false })),
    };
  }

  async listDisks(domid: number): Promise<DiskInfo[]> {
    const { store } = this.dom0;
    const disks: DiskInfo[] = [];
    const number = async (path: string) => {
      const text = await store.tryRead(path);
      return text === undefined ? -1 : Number(text);
    };
    for (const frontend of await diskFrontends(store, domid)) {
      const backend = await store.tryRead(`${frontend}/backend`);
      if (backend === undefined) continue;
      disks.push({
        backend,
        backendId: await number(`${frontend}/backend-id`),
        frontend,
        frontendId: domid,
        devid: Number(frontend.slice(frontend.lastIndexOf('/') + 1)),
        state: await number(`${frontend}/state`),
        evtch: await number(`${frontend}/event-channel`),
        rref: await number(`${frontend}/ring-ref`),
      });
    }
    return disks;
  }

  async removeDisk(domid: number, devid: number, opts: { force: boolean }): Promise<void> {
    const disk = (await this.listDisks(domid)).find((d) => d.devid === devid);
    if (disk === undefined) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:no disk with devid ${devid}`);
    }
    await this.removeDevice(domid, disk.backend, disk.frontend, opts.force);
    const record = this.records.get(domid);
    if (record !== undefined) {
      const disks = record.config.disks.filter((d) => d.devid !== devid);
      record.config = { ...record.config, disks };
    }
  }

  async addNic(domid: number, request: NicRequest): Promise<NicInfo> {
    const { store } = this.dom0;
    await this.exists(domid);
    const nic: NicDevice = {
      ...request,
      devid: request.devid ?? (await nextNicDevid(store, domid)),
    };
    try {
      await addNicStore(store, domid, nic);
    } catch (error) {
      if (error instanceof NicExistsError) {
        throw new ToolstackError(LibxlError.DEVICE_EXISTS, `Domain ${domid}:${error.message}`);
      }
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:${String(error)}`, {
        cause: error,
      });
    }
    const record = this.records.get(domid);
    if (record !== undefined) {
      record.config = { ...record.config, nics: [...record.config.nics, nic] };
    }
    const info = (await this.listNics(domid)).find((n) => n.devid === nic.devid);
    if (info === undefined) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:nic ${nic.devid} went away`);
    }
    return info;
  }

  /**
   * libxl_device_nic_list and libxl_device_nic_getinfo. The backend path and the MAC come from
   * Dom0's backend directory (libxl reads its own copy), the state, event channel and rings
   * from the frontend as the guest wrote them.
   */
  async listNics(domid: number): Promise<NicInfo[]> {
    const { store } = this.dom0;
    const nics: NicInfo[] = [];
    const number = async (path: string) => {
      const text = await store.tryRead(path);
      // strtoul into an int.
      return text === undefined ? -1 : Number(BigInt.asIntN(32, strtoul(text, 10).value));
    };
    for (const frontend of await nicFrontends(store, domid)) {
      const name = frontend.slice(frontend.lastIndexOf('/') + 1);
      if (!/^[0-9]+$/.test(name)) continue;
      const devid = Number(name);
      const backend = nicBackendPath(domid, devid);
      const mac = await store.tryRead(`${backend}/mac`);
      if (mac === undefined) continue;
      nics.push({
        backend,
        backendId: 0,
        frontend,
        frontendId: domid,
        devid,
        mac,
        state: await number(`${frontend}/state`),
        evtch: await number(`${frontend}/event-channel`),
        rrefTx: await number(`${frontend}/tx-ring-ref`),
        rrefRx: await number(`${frontend}/rx-ring-ref`),
      });
    }
    return nics;
  }

  async removeNic(domid: number, devid: number, opts: { force: boolean }): Promise<void> {
    const nic = (await this.listNics(domid)).find((n) => n.devid === devid);
    if (nic === undefined) {
      throw new ToolstackError(LibxlError.FAIL, `Domain ${domid}:no nic with devid ${devid}`);
    }
    await this.removeDevice(domid, nic.backend, nic.frontend, opts.force);
    const record = this.records.get(domid);
    if (record !== undefined) {
      const nics = record.config.nics.filter((n) => n.devid !== devid);
      record.config = { ...record.config, nics };
    }
  }

  /**
   * libxl__initiate_device_generic_remove: offline and Closing, then the backend's Closed (or
   * with `force` at once); then the directories go.
   */
  private async removeDevice(
    domid: number,
    backend: string,
    frontend: string,
    force: boolean,
  ): Promise<void> {
    const { store } = this.dom0;
    if (!force) {
      const closed = waitForState(store, `${backend}/state`, XenbusStateClosed, 10_000);
      await store.transaction(async (tx) => {
        await store.write(`${backend}/online`, '0', tx);
        await store.write(`${backend}/state`, String(XenbusStateClosing), tx);
      });
      if (!(await closed)) {
        throw new ToolstackError(
          LibxlError.FAIL,
          `Domain ${domid}:unable to remove device with path ${backend}: the frontend did not close it`,
        );
      }
    }
    await store.rm(frontend).catch(() => {});
    await store.rm(backend).catch(() => {});
  }

  /** libxl_domain_destroy: console, xenstore, then the domain itself. */
  async destroy(domid: number): Promise<void> {
    if (domid === 0) {
      throw new ToolstackError(LibxlError.INVAL, 'Domain 0:Cannot destroy privileged domain');
    }
    const { ctrl, consoled, store } = this.dom0;
    const info = await ctrl.domainInfo(domid);
    const record = this.records.get(domid);
    if (info === undefined && record === undefined) throw notFound(domid);
    if (info !== undefined) await ctrl.pauseDomain(domid).catch(() => {});
    if (consoled.has(domid)) await consoled.remove(domid);
    // The block and network backends see their directories go and let go of the guest's grants.
    await removeDiskStores(store, domid);
    await removeNicStores(store, domid);
    await removeDomainStore(store, domid, record?.config.uuid);
    if (info !== undefined) await ctrl.destroyDomain(domid);
    this.records.delete(domid);
    // The hypervisor raises VIRQ_DOM_EXC: xenstored (@releaseDomain) and the watches look again.
    this.options.log(`libxl: destroyed domain ${domid}`);
  }

  async rename(domid: number, newName: string): Promise<void> {
    await this.exists(domid);
    for (const d of await this.listDomains()) {
      if (d.name === newName && d.domid !== domid) {
        throw new ToolstackError(LibxlError.INVAL, `domain with name "${newName}" already exists.`);
      }
    }
    await writeDomainName(this.dom0.store, domid, newName);
  }

  /** libxl_domain_preserve: a new name and UUID, so the old domain can stay beside a new one. */
  async preserve(domid: number, nameSuffix: string, newUuid: string): Promise<void> {
    const { ctrl, store } = this.dom0;
    await this.exists(domid);
    const name = `${(await this.name(domid)) ?? ''}${nameSuffix}`;
    await ctrl.domctl('XEN_DOMCTL_setdomainhandle', {
      cmd: XEN_DOMCTL_setdomainhandle,
      domain: domid,
      u: { setdomainhandle: { handle: uuidBytes(newUuid) } },
    });
    const oldVm = await store.tryRead(`${domainPath(domid)}/vm`);
    const vm = vmPath(newUuid);
    await store.write(`${vm}/uuid`, newUuid);
    await store.setPerms(vm, ['n0']);
    await store.write(`${domainPath(domid)}/vm`, vm);
    if (oldVm !== undefined) await store.rm(oldVm).catch(() => {});
    await writeDomainName(store, domid, name);
    const record = this.records.get(domid);
    if (record !== undefined) record.config = { ...record.config, name, uuid: newUuid };
  }

  async watchDomain(domid: number): Promise<DomainWatch> {
    return new DeathWatch(this.dom0, domid);
  }

  readHypervisorConsole(opts: { clear: boolean }): Promise<string> {
    return this.dom0.ctrl.readConsole(opts.clear);
  }

  async vcpuList(domid: number): Promise<VcpuInfo[]> {
    const info = await this.domainInfo(domid);
    const cpus = (await this.physinfo()).nr_cpus;
    const all = Array.from({ length: cpus }, (_, i) => i);
    const list: VcpuInfo[] = [];
    for (let vcpu = 0; vcpu <= info.vcpu_max_id && info.vcpu_max_id !== 0xffffffff; vcpu++) {
      const v = await this.dom0.ctrl.vcpuInfo(domid, vcpu);
      list.push({
        vcpuid: vcpu,
        cpu: v.cpu,
        online: v.online !== 0,
        blocked: v.blocked !== 0,
        running: v.running !== 0,
        vcpu_time: Number(v.cpu_time),
        cpumap: all,
        cpumap_soft: all,
      });
    }
    return list;
  }

  async openConsole(
    domid: number,
    opts: { type: ConsoleType | null; num: number },
  ): Promise<ConsoleConnection> {
    await this.exists(domid);
    const type = opts.type ?? 'pv';
    if (type !== 'pv' || opts.num !== 0 || !this.dom0.consoled.has(domid)) {
      throw new ToolstackError(
        LibxlError.FAIL,
        `Domain ${domid}:unable to get console tty (type ${type}, number ${opts.num})`,
      );
    }
    const output = new Queue<Uint8Array>();
    const attachment = this.dom0.consoled.attach(domid, {
      output: (bytes) => output.push(bytes.slice()),
      ended: () => output.end(),
    });
    if (attachment === undefined) throw notFound(domid);
    return {
      output,
      write: (data) => attachment.input(data),
      close: () => {
        attachment.detach();
        output.end();
      },
    };
  }

  async domainStartTime(domid: number): Promise<number | null> {
    if (domid === 0) return this.bootTime;
    return this.records.get(domid)?.startTime ?? null;
  }
}

async function readImage(what: string, path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ToolstackError(LibxlError.FAIL, `cannot read the ${what} ${path}: ${reason}`, {
      cause: error,
    });
  }
}

/**
 * libxl_evenable_domain_death: reports the domain's shutdown once, then its death (gone or
 * dying). Every VIRQ_DOM_EXC makes it look again.
 */
class DeathWatch implements DomainWatch {
  private readonly events = new Queue<DomainEvent>();
  private shutdownReported = false;
  private dead = false;
  private checking: Promise<void> = Promise.resolve();
  private readonly listener = () => this.recheck();

  constructor(
    private readonly dom0: Dom0,
    private readonly domid: number,
  ) {
    dom0.domainExceptions.add(this.listener);
    this.recheck();
  }

  private recheck(): void {
    this.checking = this.checking.then(() => this.check()).catch(() => {});
  }

  private async check(): Promise<void> {
    if (this.dead) return;
    const info = await this.dom0.ctrl.domainInfo(this.domid);
    const domid = this.domid;
    if (info === undefined || info.flags & XEN_DOMINF_dying) {
      this.dead = true;
      this.events.push({ type: 'death', domid });
      return;
    }
    const dominfo = toDomInfo(info, null, 'pvh');
    if (dominfo.shutdown && !this.shutdownReported) {
      this.shutdownReported = true;
      this.events.push({ type: 'shutdown', domid, shutdown_reason: dominfo.shutdown_reason });
    }
  }

  async next(): Promise<DomainEvent> {
    const r = await this.events.next();
    if (r.done) throw new ToolstackError(LibxlError.FAIL, 'domain watch closed');
    return r.value;
  }

  close(): void {
    this.dom0.domainExceptions.delete(this.listener);
    this.events.end();
  }
}

/** libxl__device_disk_set_backend's stat of the target, with its message. */
async function statDisk(domid: number, disk: DiskDevice): Promise<void> {
  try {
    await stat(disk.target);
  } catch (error) {
    const why =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'No such file or directory'
        : String(error);
    throw new ToolstackError(
      LibxlError.INVAL,
      `Domain ${domid}:Disk vdev=${disk.vdev} failed to stat: ${disk.target}: ${why}`,
    );
  }
}

/** Resolves true once `path` reads `state`, false after `ms`. */
async function waitForState(
  store: Dom0['store'],
  path: string,
  state: number,
  ms: number,
): Promise<boolean> {
  const token = `libxl-wait:${path}:${Math.random()}`;
  let done: (reached: boolean) => void = () => {};
  const reached = new Promise<boolean>((resolve) => {
    done = resolve;
  });
  const timer = setTimeout(() => done(false), ms);
  await store.watch(path, token, () => {
    void store.tryRead(path).then((value) => {
      if (value === String(state)) done(true);
    });
  });
  const result = await reached;
  clearTimeout(timer);
  await store.unwatch(path, token).catch(() => {});
  return result;
}
