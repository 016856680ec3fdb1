// A virtual disk in xenstore, as libxl's device_disk_add writes it (Xen 4.17 libxl_disk.c and
// libxl_device.c): the backend directory under Dom0 that the block backend serves, and the
// frontend directory under the guest that xen-blkfront probes. Raw images go to blkback
// ("vbd"), qcow2 to the qdisk backend, as libxl chooses between blkback and QEMU.
import type { LocalClient } from '../xenstored/index.js';
import { domainPath } from './domain-store.js';

/** The parts of libxl_device_disk that the store layout needs. */
export interface DiskDevice {
  readonly target: string;
  readonly format: string;
  readonly vdev: string;
  readonly devid: number;
  readonly access: 'r' | 'rw';
  readonly devtype: 'disk' | 'cdrom';
  readonly discard?: boolean | undefined;
}

export const DISK_BACKEND_KINDS = ['vbd', 'qdisk'] as const;
export type DiskBackendKind = (typeof DISK_BACKEND_KINDS)[number];

export const diskBackendKind = (disk: DiskDevice): DiskBackendKind =>
  disk.format === 'raw' ? 'vbd' : 'qdisk';

export const diskBackendPath = (kind: DiskBackendKind, domid: number, devid: number): string =>
  `/local/domain/0/backend/${kind}/${domid}/${devid}`;

export const diskFrontendPath = (domid: number, devid: number): string =>
  `${domainPath(domid)}/device/vbd/${devid}`;

/** Writes the disk's backend and frontend directories in one transaction. */
export async function addDiskStore(
  store: LocalClient,
  domid: number,
  disk: DiskDevice,
): Promise<string> {
  const kind = diskBackendKind(disk);
  const backend = diskBackendPath(kind, domid, disk.devid);
  const frontend = diskFrontendPath(domid, disk.devid);
  const params = kind === 'qdisk' ? `${disk.format}:${disk.target}` : disk.target;
  const backendNodes: Record<string, string> = {
    frontend,
    'frontend-id': String(domid),
    online: '1',
    removable: disk.devtype === 'cdrom' ? '1' : '0',
    bootable: '1',
    state: '1',
    dev: disk.vdev,
    type: kind === 'qdisk' ? 'qdisk' : 'phy',
    mode: disk.access === 'rw' ? 'w' : 'r',
    'device-type': disk.devtype,
    'discard-enable': disk.discard === false ? '0' : '1',
    params,
  };
  const frontendNodes: Record<string, string> = {
    backend,
    'backend-id': '0',
    state: '1',
    'virtual-device': String(disk.devid),
    'device-type': disk.devtype,
  };
  await store.transaction(async (tx) => {
    if ((await store.tryRead(`${frontend}/backend`, tx)) !== undefined) {
      throw new Error(`device vbd ${disk.devid} (${disk.vdev}) already exists`);
    }
    await store.mkdir(backend, tx);
    await store.setPerms(backend, ['n0', `r${domid}`], tx);
    for (const [key, value] of Object.entries(backendNodes)) {
      await store.write(`${backend}/${key}`, value, tx);
    }
    await store.mkdir(frontend, tx);
    await store.setPerms(frontend, [`n${domid}`, 'r0'], tx);
    for (const [key, value] of Object.entries(frontendNodes)) {
      await store.write(`${frontend}/${key}`, value, tx);
    }
  });
  return backend;
}

/** Removes a domain's disk directories (libxl__devices_destroy's share for disks). */
export async function removeDiskStores(store: LocalClient, domid: number): Promise<void> {
  for (const kind of DISK_BACKEND_KINDS) {
    await store.rm(`/local/domain/0/backend/${kind}/${domid}`).catch(() => {});
  }
}

/** The frontend directory of each of a domain's disks (libxl__device_list's walk). */
export async function diskFrontends(store: LocalClient, domid: number): Promise<string[]> {
  const dir = `${domainPath(domid)}/device/vbd`;
  const devids = await store.directory(dir).catch(() => [] as string[]);
  return devids.map((devid) => `${dir}/${devid}`);
}
