/**
 * Dom0's start of day, on top of privcmd: its kernel maps shared_info; xenstored starts with
 * Dom0's own entries; the console daemon and the block and network backends start; VIRQ_DOM_EXC tells xenstored (for
 * @releaseDomain) and the toolstack (for domain watches) that a domain shut down or died.
 */
import { VIRQ_DOM_EXC } from '../abi/xen.js';
import { BlockBackend } from './backends/blk/index.js';
import { NetBackend } from './backends/net/index.js';
import { ConsoleDaemon } from './consoled/index.js';
import { XenCtrl } from './libs/ctrl.js';
import { EventChannelDevice } from './libs/evtchn.js';
import { Dom0Kernel } from './libs/kernel.js';
import type { Privcmd } from './libs/privcmd.js';
import { storeAccess } from './libs/store-access.js';
import { type LocalClient, Xenstored } from './xenstored/index.js';

export interface Dom0Options {
  /** Dom0's RAM in frames (as the host populated it). */
  ramFrames: number;
  log(line: string): void;
  /** Where the console daemon writes guest-NAME.log (none if undefined). */
  consoleLogDir?: string;
  /** Whether network bridges get a TAP uplink to the host (default: when it allows one). */
  uplink?: boolean;
}

export interface Dom0 {
  readonly kernel: Dom0Kernel;
  readonly ctrl: XenCtrl;
  readonly events: EventChannelDevice;
  readonly xenstored: Xenstored;
  /** Dom0's own privileged store connection. */
  readonly store: LocalClient;
  readonly consoled: ConsoleDaemon;
  /** blkback and qdisk: serves the disks the toolstack describes under backend/vbd|qdisk. */
  readonly blkback: BlockBackend;
  /** netback and the bridges: serves the vifs the toolstack describes under backend/vif. */
  readonly netback: NetBackend;
  /** Listeners for VIRQ_DOM_EXC (a domain shut down or died). */
  readonly domainExceptions: Set<() => void>;
  readonly log: (line: string) => void;
}

export async function startDom0(privcmd: Privcmd, options: Dom0Options): Promise<Dom0> {
  const kernel = new Dom0Kernel(privcmd, { ramFrames: options.ramFrames });
  await kernel.start();
  const ctrl = new XenCtrl(kernel);
  const events = new EventChannelDevice(kernel);
  const access = storeAccess(ctrl, events);
  const xenstored = new Xenstored({ log: options.log, domains: access });
  access.onEvent = (port) => xenstored.eventFired(port);
  const store = xenstored.connectLocal();
  // What libxl and the init scripts write for Domain-0 (xen-init-dom0).
  await store.write('/local/domain/0/name', 'Domain-0');
  await store.write('/local/domain/0/domid', '0');
  const consoled = new ConsoleDaemon(kernel, events, {
    log: options.log,
    ...(options.consoleLogDir === undefined ? {} : { logDir: options.consoleLogDir }),
  });
  const domainExceptions = new Set<() => void>();
  await events.bindVirq(VIRQ_DOM_EXC, () => {
    void xenstored.domainsChanged();
    for (const listener of domainExceptions) listener();
  });
  const blkback = new BlockBackend({ kernel, events, store, log: options.log });
  await blkback.start();
  const netback = new NetBackend({
    kernel,
    events,
    store,
    log: options.log,
    ...(options.uplink === undefined ? {} : { uplink: options.uplink }),
  });
  await netback.start();
  return {
    kernel,
    ctrl,
    events,
    xenstored,
    store,
    consoled,
    blkback,
    netback,
    domainExceptions,
    log: options.log,
  };
}
