/**
 * A backend driver's xenbus side (Linux's xenbus_backend): it watches Dom0's backend
 * directories for the devices the toolstack writes, starts a device for each, and takes it
 * down when the toolstack marks it offline or removes it.
 */
import type { LocalClient } from '../xenstored/index.js';

export interface BackendDevice {
  readonly domid: number;
  /** Opens what the device needs and waits for its frontend. */
  start(): Promise<void>;
  /** The toolstack asked for the device to go (online=0): close towards the frontend. */
  remove(): Promise<void>;
  /** Everything released. */
  destroy(): Promise<void>;
}

export interface DriverOptions<D extends BackendDevice> {
  /** For log lines and watch tokens ("blkback"). */
  name: string;
  /** The directories under /local/domain/0/backend served ("vbd", "qdisk"). */
  kinds: readonly string[];
  store: LocalClient;
  log(line: string): void;
  create(path: string, domid: number, devid: number): D;
}

export class BackendDriver<D extends BackendDevice> {
  private readonly devices = new Map<string, D>();
  /** Device paths being looked at, so one watch event at a time acts on each. */
  private readonly busy = new Map<string, Promise<void>>();

  constructor(private readonly options: DriverOptions<D>) {}

  async start(): Promise<void> {
    const { store, name, kinds } = this.options;
    for (const kind of kinds) {
      const root = `/local/domain/0/backend/${kind}`;
      await store.watch(root, `${name}:${kind}`, (path) => this.changed(root, path));
    }
  }

  async close(): Promise<void> {
    for (const [path, device] of this.devices) {
      this.devices.delete(path);
      await device.destroy();
    }
  }

  /** The devices serving domain `domid`. */
  devicesOf(domid: number): D[] {
    return [...this.devices.values()].filter((d) => d.domid === domid);
  }

  /** A path under a backend root changed: its device (…/<domid>/<devid>) may need action. */
  private changed(root: string, path: string): void {
    const parts = path.slice(root.length + 1).split('/');
    if (parts.length < 2) {
      // The root or a domain's directory: devices may have gone with it.
      void this.sweep(root);
      return;
    }
    const [domid, devid] = parts;
    const device = `${root}/${domid}/${devid}`;
    const previous = this.busy.get(device) ?? Promise.resolve();
    const next = previous.then(() => this.look(device, Number(domid), Number(devid)));
    this.busy.set(device, next);
    void next.finally(() => {
      if (this.busy.get(device) === next) this.busy.delete(device);
    });
  }

  private async look(path: string, domid: number, devid: number): Promise<void> {
    const { store, log, name } = this.options;
    const state = await store.tryRead(`${path}/state`);
    const online = await store.tryRead(`${path}/online`);
    const device = this.devices.get(path);
    try {
      if (state === undefined) {
        // Removed by the toolstack.
        if (device !== undefined) {
          this.devices.delete(path);
          await device.destroy();
        }
        return;
      }
      if (device === undefined) {
        if (online !== '1' || !Number.isInteger(domid) || !Number.isInteger(devid)) return;
        const fresh = this.options.create(path, domid, devid);
        this.devices.set(path, fresh);
        await fresh.start();
        return;
      }
      if (online === '0') await device.remove();
    } catch (error) {
      log(`${name}: ${path}: ${String(error)}`);
    }
  }

  private async sweep(root: string): Promise<void> {
    for (const path of [...this.devices.keys()]) {
      if (!path.startsWith(`${root}/`)) continue;
      if ((await this.options.store.tryRead(`${path}/state`)) !== undefined) continue;
      const device = this.devices.get(path);
      this.devices.delete(path);
      await device?.destroy();
    }
  }
}
