/**
 * One virtual network interface's backend, as xen-netback's xenbus side and the vif-bridge
 * hotplug script together: it joins its bridge port, advertises its features and waits
 * (InitWait); when xen-netfront has set up its rings and says Connected, it maps them, binds
 * their event channels and says Connected; it closes when the frontend or the toolstack does.
 * A frontend that breaks the protocol loses this vif, nothing else.
 */
import { netif_rx_request, netif_rx_response } from '../../../abi/io/netif.js';
import { ringEntrySize } from '../../../abi/io/ring.js';
import type { EventChannelDevice } from '../../libs/evtchn.js';
import { type GrantMapping, mapGrants } from '../../libs/gnttab.js';
import type { Dom0Kernel } from '../../libs/kernel.js';
import type { LocalClient } from '../../xenstored/index.js';
import { readNumber, XenbusDevice } from '../device.js';
import { BackRing } from '../ring.js';
import { type BridgePort, type PortVlans, parseBridgeSpec } from './bridge.js';
import type { Frame } from './frame.js';
import { NetQueue, type VifCounters } from './queue.js';
import { CreditLimiter, parseRate } from './rate.js';
import { NETIF_TX_ENTRY_SIZE } from './tx-packet.js';

const NETIF_RX_ENTRY_SIZE = ringEntrySize(netif_rx_request, netif_rx_response);

/** Queues offered to a multi-queue frontend (xen-netback offers one per Dom0 CPU). */
export const MAX_QUEUES = 4;

/** What a vif needs of the backend around it. */
export interface VifDeps {
  kernel: Dom0Kernel;
  events: EventChannelDevice;
  store: LocalClient;
  log(line: string): void;
  /** Puts the port on the named bridge (made if need be). */
  join(bridge: string, port: BridgePort, vlans: PortVlans): BridgeLink;
}

/** A port's place on its bridge. */
export interface BridgeLink {
  /** A frame the port's guest sent. */
  receive(frame: Frame): void;
  leave(): void;
}

/** What a connection holds in Dom0: released whole on disconnect, even if half made. */
interface Held {
  queues: NetQueue[];
  mappings: GrantMapping[];
  ports: number[];
}

const nothingHeld = (): Held => ({ queues: [], mappings: [], ports: [] });

export class Vif extends XenbusDevice implements BridgePort {
  name: string;
  offloads = { gso: false, checksumBlank: false };
  readonly counters: VifCounters = {
    rbytes: 0,
    rpackets: 0,
    rerrs: 0,
    rdrop: 0,
    tbytes: 0,
    tpackets: 0,
    terrs: 0,
    tdrop: 0,
  };
  /** The queues frames go to: set once every queue is up. */
  private queues: NetQueue[] = [];
  private held = nothingHeld();
  private link: BridgeLink | undefined;
  private limiter: CreditLimiter | undefined;

  constructor(
    private readonly deps: VifDeps,
    path: string,
    domid: number,
    devid: number,
  ) {
    super(deps, path, domid, devid);
    this.name = `vif${domid}.${devid}`;
  }

  protected get label(): string {
    return `netback: ${this.name}`;
  }

  protected get connected(): boolean {
    return this.held.mappings.length > 0;
  }

  /** Joins the bridge and waits for the frontend (InitWait). */
  async start(): Promise<void> {
    const { store } = this.deps;
    const read = (key: string) => store.tryRead(`${this.path}/${key}`);
    this.name = (await read('vifname')) || this.name;
    const rate = parseRate(await read('rate'));
    if (rate !== undefined) {
      this.limiter = new CreditLimiter(rate.bytesPerInterval, rate.intervalUsecs);
    }
    try {
      const { bridge, vlans } = parseBridgeSpec((await read('bridge')) || 'xenbr0');
      this.link = this.deps.join(bridge, this, vlans);
    } catch (error) {
      await this.fatal(error instanceof Error ? error.message : String(error));
      return;
    }
    // What the vif-bridge script reports once the port is on its bridge.
    await store.write(`${this.path}/hotplug-status`, 'connected');
    await this.waitForFrontend({
      'feature-sg': '1',
      'feature-gso-tcpv4': '1',
      'feature-gso-tcpv6': '1',
      'feature-ipv6-csum-offload': '1',
      'feature-rx-copy': '1',
      'feature-rx-flip': '0',
      'feature-split-event-channels': '1',
      'multi-queue-max-queues': String(MAX_QUEUES),
    });
  }

  /** A frame for the guest, from the bridge. */
  transmit(frame: Frame): void {
    const queues = this.queues;
    if (queues.length === 0) {
      this.counters.rdrop++;
      return;
    }
    const pick = queues.length === 1 ? 0 : flowHash(frame.data) % queues.length;
    queues[pick]!.deliver(frame);
  }

  override async destroy(): Promise<void> {
    this.link?.leave();
    this.link = undefined;
    await super.destroy();
  }

  protected async connect(): Promise<void> {
    const { store, kernel, events, log } = this.deps;
    const fe = this.frontendPath;
    const feature = async (key: string, absent: string) =>
      ((await store.tryRead(`${fe}/${key}`)) ?? absent) === '1';
    if (!(await feature('request-rx-copy', '0'))) {
      throw new Error('frontend does not request a copying receive path');
    }
    const sg = await feature('feature-sg', '0');
    this.offloads = {
      gso:
        sg &&
        (await feature('feature-gso-tcpv4', '0')) &&
        (await feature('feature-gso-tcpv6', '0')),
      checksumBlank:
        !(await feature('feature-no-csum-offload', '0')) &&
        (await feature('feature-ipv6-csum-offload', '0')),
    };
    const count = Number((await store.tryRead(`${fe}/multi-queue-num-queues`)) ?? 1);
    if (!Number.isInteger(count) || count < 1 || count > MAX_QUEUES) {
      throw new Error(`guest requested ${count} queues, exceeding the maximum of ${MAX_QUEUES}.`);
    }
    for (let q = 0; q < count; q++) {
      const dir = count === 1 ? fe : `${fe}/queue-${q}`;
      const number = async (key: string) => readNumber(await store.read(`${dir}/${key}`));
      const held = this.held;
      const txMap = await mapGrants(kernel, this.domid, [await number('tx-ring-ref')]);
      held.mappings.push(txMap);
      const rxMap = await mapGrants(kernel, this.domid, [await number('rx-ring-ref')]);
      held.mappings.push(rxMap);
      const split = (await store.tryRead(`${dir}/event-channel-tx`)) !== undefined;
      let txPort = -1;
      let rxPort = -1;
      const queue = new NetQueue({
        kernel,
        domid: this.domid,
        tx: new BackRing([txMap.page(0)], NETIF_TX_ENTRY_SIZE),
        rx: new BackRing([rxMap.page(0)], NETIF_RX_ENTRY_SIZE),
        counters: this.counters,
        limiter: this.limiter,
        notifyTx: () => void events.notify(txPort).catch(() => {}),
        notifyRx: () => void events.notify(rxPort).catch(() => {}),
        send: (frame) => this.link?.receive(frame),
        fail: (why) => void this.fatal(`queue ${q}: ${why}`),
        log,
      });
      held.queues.push(queue);
      if (split) {
        txPort = await events.bindInterdomain(this.domid, await number('event-channel-tx'), () =>
          queue.kickTx(),
        );
        held.ports.push(txPort);
        rxPort = await events.bindInterdomain(this.domid, await number('event-channel-rx'), () =>
          queue.kickRx(),
        );
        held.ports.push(rxPort);
      } else {
        txPort = await events.bindInterdomain(this.domid, await number('event-channel'), () => {
          queue.kickTx();
          queue.kickRx();
        });
        rxPort = txPort;
        held.ports.push(txPort);
      }
    }
    this.queues = [...this.held.queues];
    for (const queue of this.queues) {
      queue.kickTx(); // packets sent before we bound
      queue.kickRx();
    }
    log(
      `netback: ${this.name} connected: ${count} queue(s)` +
        `${this.offloads.gso ? ', GSO' : ''}${this.offloads.checksumBlank ? ', checksum offload' : ''}`,
    );
  }

  protected async disconnect(): Promise<void> {
    this.queues = [];
    const { queues, ports, mappings } = this.held;
    this.held = nothingHeld();
    for (const queue of queues) await queue.stop();
    for (const port of ports) await this.deps.events.close(port).catch(() => {});
    for (const mapping of mappings) await mapping.unmap().catch(() => {});
  }
}

/**
 * Keeps a flow on one queue, so its frames stay in order: a hash of the bytes where an
 * untagged IPv4 frame has its addresses and ports (other frames hash what is there).
 */
function flowHash(data: Uint8Array): number {
  let h = 0;
  for (let i = 26; i < Math.min(data.length, 38); i++) h = (h * 31 + data[i]!) >>> 0;
  return h;
}
