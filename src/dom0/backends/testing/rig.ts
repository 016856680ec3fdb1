/**
 * An in-process machine for testing Dom0's split-driver backends: a hypervisor on a virtual
 * clock with Dom0's kernel, xenstored, blkback and netback on top, as startDom0 puts them
 * together, and guest domains (FakeGuest) that run no code.
 */
import { XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm } from '../../../abi/domctl.js';
import { XEN_X86_EMU_LAPIC } from '../../../abi/xen.js';
import { createControlDomain, ExternalPort } from '../../../xen/external.js';
import { Hypervisor } from '../../../xen/hypervisor.js';
import { type CreateDomainConfig, XenCtrl } from '../../libs/ctrl.js';
import { EventChannelDevice } from '../../libs/evtchn.js';
import { Dom0Kernel } from '../../libs/kernel.js';
import type { HypercallArg, Privcmd } from '../../libs/privcmd.js';
import { storeAccess } from '../../libs/store-access.js';
import { type LocalClient, Xenstored } from '../../xenstored/index.js';
import { BlockBackend } from '../blk/index.js';
import { NetBackend } from '../net/index.js';
import { FakeGuest } from './guest.js';

/** A guest as xl creates an HVM guest: one vCPU, room for grants and event channels. */
const GUEST: CreateDomainConfig = {
  flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
  max_vcpus: 1,
  max_evtchn_port: 1023,
  max_grant_frames: 32,
  max_maptrack_frames: -1,
  grant_opts: 2,
  arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
};

export class BackendRig {
  /** Every line Dom0 logged, in order. */
  readonly logs: string[] = [];
  readonly log = (line: string): void => {
    this.logs.push(line);
  };
  readonly ctrl: XenCtrl;
  readonly events: EventChannelDevice;
  readonly xenstored: Xenstored;
  /** Dom0's own store connection (the toolstack's). */
  readonly store: LocalClient;
  readonly blkback: BlockBackend;
  readonly netback: NetBackend;

  private constructor(
    readonly hv: Hypervisor,
    readonly kernel: Dom0Kernel,
  ) {
    this.ctrl = new XenCtrl(kernel);
    this.events = new EventChannelDevice(kernel);
    const access = storeAccess(this.ctrl, this.events);
    this.xenstored = new Xenstored({ log: this.log, domains: access });
    access.onEvent = (port) => this.xenstored.eventFired(port);
    this.store = this.xenstored.connectLocal();
    const deps = { kernel, events: this.events, store: this.store, log: this.log };
    this.blkback = new BlockBackend(deps);
    this.netback = new NetBackend({ ...deps, uplink: false });
  }

  /**
   * A machine with Dom0 running blkback and netback (bridges without a host uplink).
   * `dom0Frames`: Dom0's RAM, which holds its hypercall buffers. `threaded`: each hypercall is answered a macrotask later, as when the hypervisor runs in
   * its worker thread, so that other work (upcalls, timers) can run while one is under way.
   */
  static async start(
    options: { threaded?: boolean; dom0Frames?: number } = {},
  ): Promise<BackendRig> {
    const hv = new Hypervisor({ memoryBytes: 96 << 20, clock: 'virtual' });
    // The host gives Dom0 4096 frames (machine-services.ts); a test may give it fewer.
    const ramFrames = options.dom0Frames ?? 4096;
    const dom0 = createControlDomain(hv, { ramFrames });
    const port = new ExternalPort(hv, dom0);
    const privcmd = options.threaded === true ? new DeferredPrivcmd(port) : port;
    const kernel = new Dom0Kernel(privcmd, { ramFrames });
    await kernel.start();
    const rig = new BackendRig(hv, kernel);
    if (privcmd instanceof DeferredPrivcmd) rig.holdHypercalls = () => privcmd.hold();
    await rig.store.write('/local/domain/0/name', 'Domain-0');
    await rig.store.write('/local/domain/0/domid', '0');
    await rig.blkback.start();
    await rig.netback.start();
    return rig;
  }

  /**
   * On a threaded rig: Dom0's hypercalls wait until the function returned is called (the
   * hypervisor's thread is busy); upcalls still come.
   */
  holdHypercalls: () => () => void = () => {
    throw new Error('hypercalls can be held on a threaded rig only');
  };

  /** A new guest domain, as the toolstack creates it (no code runs in it). */
  async guest(): Promise<FakeGuest> {
    const domid = await this.ctrl.createDomain(GUEST);
    await this.ctrl.setMaxMem(domid, 64 << 10);
    await this.store.write(`/local/domain/${domid}/name`, `guest${domid}`);
    const domain = this.hv.domains.get(domid);
    if (domain === undefined) throw new Error(`domain ${domid} was not created`);
    return new FakeGuest(this, domid, domain);
  }

  /** Log lines matching `pattern`. */
  logged(pattern: RegExp): string[] {
    return this.logs.filter((line) => pattern.test(line));
  }

  async close(): Promise<void> {
    await this.blkback.close();
    await this.netback.close();
  }
}

/**
 * A privcmd whose hypercalls complete a macrotask later, as across the worker thread; while
 * held, they wait (a hypervisor thread that is busy), so that a test can keep requests in
 * flight.
 */
class DeferredPrivcmd implements Privcmd {
  readonly machine: Uint8Array;
  readonly p2m: Int32Array;
  private held: (() => void)[] | undefined;

  constructor(private readonly port: ExternalPort) {
    this.machine = port.machine;
    this.p2m = port.p2m;
  }

  hypercall(op: number, args: readonly HypercallArg[]): Promise<number> {
    return new Promise((resolve) => {
      const run = () => setImmediate(() => resolve(this.port.hypercall(op, args)));
      if (this.held === undefined) run();
      else this.held.push(run);
    });
  }

  /** Holds hypercalls until the function returned is called. */
  hold(): () => void {
    this.held ??= [];
    return () => {
      const waiting = this.held ?? [];
      this.held = undefined;
      for (const run of waiting) run();
    };
  }

  onUpcall(handler: () => void): void {
    this.port.onUpcall(handler);
  }
}
