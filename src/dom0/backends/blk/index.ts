/**
 * The block backend driver (xen-blkback's xenbus driver, and QEMU's qdisk for qcow2): a Vbd
 * for each device the toolstack writes under backend/vbd (raw) or backend/qdisk (qcow2).
 */
import { DISK_BACKEND_KINDS } from '../../toolstack/disk-store.js';
import { BackendDriver } from '../driver.js';
import type { VbdCounters } from './queue.js';
import { Vbd, type VbdDeps } from './vbd.js';

export class BlockBackend extends BackendDriver<Vbd> {
  constructor(deps: VbdDeps) {
    super({
      name: 'blkback',
      kinds: DISK_BACKEND_KINDS,
      store: deps.store,
      log: deps.log,
      create: (path, domid, devid) => new Vbd(deps, path, domid, devid),
    });
  }

  /** Each of a domain's disks' counters, with its devid. */
  counters(domid: number): (VbdCounters & { dev: number })[] {
    return this.devicesOf(domid)
      .sort((a, b) => a.devid - b.devid)
      .map((vbd) => ({ dev: vbd.devid, ...vbd.counters }));
  }
}
