/**
 * The network backend driver (xen-netback's xenbus driver, with what the vif-bridge hotplug
 * script does): a Vif for each device the toolstack writes under backend/vif, each a port of
 * its software bridge. A bridge is made when a vif first names it, with an uplink to the host
 * through a TAP device of the bridge's name when the host allows one.
 */
import { BackendDriver } from '../driver.js';
import { Bridge, type BridgePort } from './bridge.js';
import type { VifCounters } from './queue.js';
import { openTap, type TapDevice, TapUnavailable } from './tap.js';
import { Vif, type VifDeps } from './vif.js';

export type NetBackendDeps = Omit<VifDeps, 'join'> & {
  /** Whether bridges get a TAP uplink to the host (default: when the host allows it). */
  uplink?: boolean;
};

export class NetBackend extends BackendDriver<Vif> {
  private readonly bridges = new Map<string, Bridge>();
  private readonly uplinks: Promise<TapDevice | undefined>[] = [];

  constructor(private readonly deps: NetBackendDeps) {
    const vifDeps: VifDeps = {
      ...deps,
      join: (name, port, vlans) => {
        const bridge = this.bridge(name);
        bridge.attach(port, vlans);
        return {
          receive: (frame) => bridge.receive(port, frame),
          leave: () => bridge.detach(port),
        };
      },
    };
    super({
      name: 'netback',
      kinds: ['vif'],
      store: deps.store,
      log: deps.log,
      create: (path, domid, devid) => new Vif(vifDeps, path, domid, devid),
    });
  }

  /** The bridge called `name`, made (with its uplink) if it is new. */
  bridge(name: string): Bridge {
    let bridge = this.bridges.get(name);
    if (bridge === undefined) {
      bridge = new Bridge(name, { log: this.deps.log });
      this.bridges.set(name, bridge);
      if (this.deps.uplink !== false) this.uplinks.push(this.connectUplink(bridge));
    }
    return bridge;
  }

  /** Each of a domain's vifs' counters, by devid. */
  counters(domid: number): VifCounters[] {
    return this.devicesOf(domid)
      .sort((a, b) => a.devid - b.devid)
      .map((vif) => vif.counters);
  }

  override async close(): Promise<void> {
    await super.close();
    const taps = await Promise.all(this.uplinks.splice(0));
    await Promise.allSettled(taps.map((tap) => tap?.close()));
  }

  private async connectUplink(bridge: Bridge): Promise<TapDevice | undefined> {
    const { log } = this.deps;
    let tap: TapDevice;
    try {
      tap = await openTap(bridge.name, { log });
    } catch (error) {
      if (!(error instanceof TapUnavailable)) throw error;
      log(`netback: ${error.message}`);
      return undefined;
    }
    const port: BridgePort = {
      name: tap.name,
      // A TAP without a virtio-net header takes whole frames with their checksums.
      offloads: { gso: false, checksumBlank: false },
      transmit: (frame) => tap.send(frame.data),
    };
    bridge.attach(port);
    tap.onFrame = (data) =>
      bridge.receive(port, { data, checksumBlank: false, dataValidated: false });
    return tap;
  }
}
