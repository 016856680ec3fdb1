/**
 * The block backend driver (xen-blkback's xenbus driver, and QEMU's qdisk for qcow2): it
 * watches Dom0's backend directories for the devices the toolstack writes, starts a Vbd for
 * each, and takes it down when the toolstack marks it offline or removes it.
 */
import { DISK_BACKEND_KINDS } from '../../toolstack/disk-store.js';
import { Vbd, type VbdDeps } from './vbd.js';

export class BlockBackend {
  private readonly devices = new Map<string, Vbd>();
  /** Device paths being looked at, so one watch event at a time acts on each. */
  private readonly busy = new Map<string, Promise<void>>();

  constructor(private readonly deps: VbdDeps) {}

  async start(): Promise<void> {
    // The directories libxl writes for blkback (raw) and for qdisk (qcow2).
    for (const kind of DISK_BACKEND_KINDS) {
      const root = `/local/domain/0/backend/${kind}`;
      await this.deps.store.watch(root, `blkback:${kind}`, (path) => this.changed(root, path));
    }
  }

  async close(): Promise<void> {
    for (const [path, vbd] of this.devices) {
      this.devices.delete(path);
      await vbd.destroy();
    }
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
    const { store, log } = this.deps;
    const state = await store.tryRead(`${path}/state`);
    const online = await store.tryRead(`${path}/online`);
    const vbd = this.devices.get(path);
    try {
      if (state === undefined) {
        // Removed by the toolstack.
        if (vbd !== undefined) {
          this.devices.delete(path);
          await vbd.destroy();
        }
        return;
      }
      if (vbd === undefined) {
        if (online !== '1' || !Number.isInteger(domid) || !Number.isInteger(devid)) return;
        const fresh = new Vbd(this.deps, path, domid, devid);
        this.devices.set(path, fresh);
        await fresh.start();
        return;
      }
      if (online === '0') await vbd.remove();
    } catch (error) {
      log(`blkback: ${path}: ${String(error)}`);
    }
  }

  private async sweep(root: string): Promise<void> {
    for (const path of [...this.devices.keys()]) {
      if (!path.startsWith(`${root}/`)) continue;
      if ((await this.deps.store.tryRead(`${path}/state`)) !== undefined) continue;
      const vbd = this.devices.get(path);
      this.devices.delete(path);
      await vbd?.destroy();
    }
  }
}
