// A virtual network interface in xenstore, as libxl writes a vif for a PV or PVH guest (Xen 4.17
// libxl_nic.c libxl__set_xenstore_nic, libxl_device.c libxl__device_add_async and
// libxl__device_generic_add): the backend directory under Dom0 that the network backend serves,
// and the frontend directory under the guest that xen-netfront probes.
//
// One difference: libxl also writes hotplug-status = "" so that Linux's netback waits for the
// vif-bridge script to write "connected"; Xenotype runs no hotplug scripts (its backend joins
// the bridge itself), so the node is left out.
import type { LocalClient } from '../xenstored/index.js';
import { strtoul } from './config/strtol.js';
import type { VifRate } from './config/vif-spec.js';
import { domainPath } from './domain-store.js';

/** The parts of libxl_device_nic that the store layout needs (a vif served by Domain-0). */
export interface NicDevice {
  readonly devid: number;
  /** Lower-case xx:xx:xx:xx:xx:xx. */
  readonly mac: string;
  readonly bridge: string;
  /** As written in the spec; the hotplug script may take a space-separated list. */
  readonly ip?: string | undefined;
  /** The backend interface's name; undefined: vif<domid>.<devid>. */
  readonly vifname?: string | undefined;
  /** For the vif-route script. */
  readonly gatewaydev?: string | undefined;
  /** undefined: unlimited. */
  readonly rate?: VifRate | undefined;
  readonly mtu: number;
  /** As given; relative names are taken from Xen's script directory. */
  readonly script: string;
  /** Whether the frontend may trust the backend; undefined: libxl's default (true). */
  readonly trusted?: boolean | undefined;
  /** COLO settings by their xenstore key (`forwarddev`, `colo_*`), written as libxl does. */
  readonly colo?: Readonly<Record<string, string>> | undefined;
}

/** A NIC to add: without a devid, the toolstack picks one (libxl_device_nic_add). */
export type NicRequest = Omit<NicDevice, 'devid'> & { readonly devid?: number | undefined };

/** LIBXL_DEVICE_NIC_MTU_DEFAULT: the backend's mtu node is written only for another value. */
export const NIC_MTU_DEFAULT = 1500;

/** libxl__xen_script_dir_path() of a standard installation. */
const XEN_SCRIPT_DIR = '/etc/xen/scripts';

/** libxl__device_exists found the device: libxl_device_nic_add fails with DEVICE_EXISTS. */
export class NicExistsError extends Error {
  override name = 'NicExistsError';
}

export const nicBackendPath = (domid: number, devid: number): string =>
  `/local/domain/0/backend/vif/${domid}/${devid}`;

export const nicFrontendPath = (domid: number, devid: number): string =>
  `${domainPath(domid)}/device/vif/${devid}`;

/** libxl__abs_path against the script directory. */
const scriptPath = (script: string): string =>
  script.startsWith('/') ? script : `${XEN_SCRIPT_DIR}/${script}`;

/** The backend's nodes, in the order libxl appends them. */
function backendNodes(domid: number, nic: NicDevice): [string, string][] {
  const nodes: [string, string][] = [
    ['frontend', nicFrontendPath(domid, nic.devid)],
    ['frontend-id', String(domid)],
    ['online', '1'],
    ['state', '1'],
    ['script', scriptPath(nic.script)],
  ];
  if (nic.vifname !== undefined) nodes.push(['vifname', nic.vifname]);
  for (const [key, value] of Object.entries(nic.colo ?? {})) nodes.push([key, value]);
  nodes.push(['mac', nic.mac]);
  if (nic.ip !== undefined) nodes.push(['ip', nic.ip]);
  if (nic.gatewaydev !== undefined) nodes.push(['gatewaydev', nic.gatewaydev]);
  if (nic.rate !== undefined && nic.rate.intervalUsecs > 0) {
    nodes.push(['rate', `${nic.rate.bytesPerInterval},${nic.rate.intervalUsecs}`]);
  }
  if (nic.mtu !== NIC_MTU_DEFAULT) nodes.push(['mtu', String(nic.mtu)]);
  nodes.push(['bridge', nic.bridge], ['handle', String(nic.devid)], ['type', 'vif']);
  return nodes;
}

/** Writes the NIC's backend and frontend directories in one transaction. */
export async function addNicStore(
  store: LocalClient,
  domid: number,
  nic: NicDevice,
): Promise<string> {
  const backend = nicBackendPath(domid, nic.devid);
  const frontend = nicFrontendPath(domid, nic.devid);
  const frontendNodes: [string, string][] = [
    ['backend', backend],
    ['backend-id', '0'],
    ['state', '1'],
    ['handle', String(nic.devid)],
    ['mac', nic.mac],
    ['trusted', nic.trusted === false ? '0' : '1'],
  ];
  await store.transaction(async (tx) => {
    if ((await store.tryRead(backend, tx)) !== undefined) {
      throw new NicExistsError('device already exists in xenstore');
    }
    await store.mkdir(backend, tx);
    await store.setPerms(backend, ['n0', `r${domid}`], tx);
    for (const [key, value] of backendNodes(domid, nic)) {
      await store.write(`${backend}/${key}`, value, tx);
    }
    await store.mkdir(frontend, tx);
    await store.setPerms(frontend, [`n${domid}`, 'r0'], tx);
    for (const [key, value] of frontendNodes) {
      await store.write(`${frontend}/${key}`, value, tx);
    }
    // libxl's read-only frontend entry: the guest reads its MTU but cannot change it.
    await store.write(`${frontend}/mtu`, String(nic.mtu), tx);
    await store.setPerms(`${frontend}/mtu`, ['n0', `r${domid}`], tx);
  });
  return backend;
}

/** Removes a domain's vif backend directories (libxl__devices_destroy's share for NICs). */
export async function removeNicStores(store: LocalClient, domid: number): Promise<void> {
  await store.rm(`/local/domain/0/backend/vif/${domid}`).catch(() => {});
}

/** The frontend directory of each of a domain's NICs, oldest first. */
export async function nicFrontends(store: LocalClient, domid: number): Promise<string[]> {
  const dir = `${domainPath(domid)}/device/vif`;
  const devids = await store.directory(dir).catch(() => [] as string[]);
  return devids.map((devid) => `${dir}/${devid}`);
}

/**
 * libxl__device_nextid: one more than the newest device (xenstored lists a directory in creation
 * order), or 0. libxl lists its own /libxl copy of the devices; Dom0's backend directory is the
 * same list, and also one the guest cannot write.
 */
export async function nextNicDevid(store: LocalClient, domid: number): Promise<number> {
  const devids = await store
    .directory(`/local/domain/0/backend/vif/${domid}`)
    .catch(() => [] as string[]);
  const last = devids.at(-1);
  return last === undefined ? 0 : Number(strtoul(last, 10).value) + 1;
}
