// The xenstore side of a domain's life, as libxl writes it (Xen 4.17 libxl_create.c
// libxl__domain_make and libxl_dom.c libxl__build_post, libxl_console.c for the primary
// console): the paths the guest and the daemons read, with the permissions that let the guest
// write only its own control, data and feature nodes.
import type { LocalClient } from '../xenstored/index.js';
import type { DomainConfig } from './config/domain-config.js';

export const domainPath = (domid: number): string => `/local/domain/${domid}`;
export const vmPath = (uuid: string): string => `/vm/${uuid}`;
const libxlPath = (domid: number): string => `/libxl/${domid}`;
const consoleBackendPath = (domid: number): string => `/local/domain/0/backend/console/${domid}/0`;

/** xenconsoled's ring limit (LIBXL_XENCONSOLE_LIMIT). */
const XENCONSOLE_LIMIT = 1048576;

/** What the guest may write: the nodes libxl makes with rwperm (owned by the guest). */
const GUEST_WRITABLE = [
  'control/shutdown',
  'control/feature-poweroff',
  'control/feature-reboot',
  'control/feature-suspend',
  'control/sysrq',
  'data',
  'drivers',
  'feature',
  'attr',
  'error',
  'device/suspend/event-channel',
];

/** libxl__domain_make's share: the domain's directories before it is built. */
export async function makeDomainStore(
  store: LocalClient,
  domid: number,
  config: DomainConfig,
): Promise<void> {
  const dom = domainPath(domid);
  const vm = vmPath(config.uuid);
  // roperm: Dom0 owns it, the guest reads it.
  const roperm = ['n0', `r${domid}`];
  await store.transaction(async (tx) => {
    await store.rm(dom, tx).catch(() => {});
    await store.mkdir(dom, tx);
    await store.setPerms(dom, roperm, tx);
    await store.rm(vm, tx).catch(() => {});
    await store.mkdir(vm, tx);
    await store.setPerms(vm, ['n0'], tx);
    await store.mkdir(libxlPath(domid), tx);
    await store.setPerms(libxlPath(domid), ['n0'], tx);
    for (const dir of ['device', 'control']) {
      await store.mkdir(`${dom}/${dir}`, tx);
      await store.setPerms(`${dom}/${dir}`, roperm, tx);
    }
    for (const node of GUEST_WRITABLE) {
      await store.write(`${dom}/${node}`, '', tx);
      await store.setPerms(`${dom}/${node}`, [`n${domid}`], tx);
    }
    await store.write(`${dom}/control/platform-feature-multiprocessor-suspend`, '1', tx);
    await store.write(`${dom}/control/platform-feature-xs_reset_watches`, '1', tx);
    await store.write(`${vm}/uuid`, config.uuid, tx);
    await store.write(`${vm}/name`, config.name, tx);
    await store.write(`${dom}/vm`, vm, tx);
    await store.write(`${dom}/name`, config.name, tx);
    await store.write(`${libxlPath(domid)}/type`, config.type, tx);
  });
}

export interface BuiltDomain {
  storePfn: number;
  storePort: number;
  consolePfn: number;
  consolePort: number;
}

/** libxl__build_post and the primary console: what the guest finds once it is built. */
export async function publishBuiltDomain(
  store: LocalClient,
  domid: number,
  config: DomainConfig,
  built: BuiltDomain,
  startTime: number,
): Promise<void> {
  const dom = domainPath(domid);
  const backend = consoleBackendPath(domid);
  await store.transaction(async (tx) => {
    const write = (path: string, value: string | number) => store.write(path, String(value), tx);
    await write(`${dom}/domid`, domid);
    await write(`${dom}/memory/static-max`, config.maxMemkb);
    await write(`${dom}/memory/target`, config.targetMemkb);
    for (let i = 0; i < config.maxVcpus; i++) {
      await write(`${dom}/cpu/${i}/availability`, i < config.vcpus ? 'online' : 'offline');
    }
    await write(`${dom}/store/port`, built.storePort);
    await write(`${dom}/store/ring-ref`, built.storePfn);
    // The primary console's frontend is dom/console (not device/console/0), its backend
    // xenconsoled's.
    await write(`${dom}/console/backend`, backend);
    await write(`${dom}/console/backend-id`, 0);
    await write(`${dom}/console/limit`, XENCONSOLE_LIMIT);
    await write(`${dom}/console/type`, 'xenconsoled');
    await write(`${dom}/console/output`, 'pty');
    await write(`${dom}/console/tty`, '');
    await write(`${dom}/console/port`, built.consolePort);
    await write(`${dom}/console/ring-ref`, built.consolePfn);
    await write(`${backend}/frontend`, `${dom}/console`);
    await write(`${backend}/frontend-id`, domid);
    await write(`${backend}/online`, 1);
    await write(`${backend}/state`, 1);
    await write(`${backend}/protocol`, 'vt100');
    await store.setPerms(backend, ['n0', `r${domid}`], tx);
    await write(`${vmPath(config.uuid)}/start_time`, startTime.toFixed(2));
  });
}

/** What libxl__destroy_domid removes. */
export async function removeDomainStore(
  store: LocalClient,
  domid: number,
  uuid: string | undefined,
): Promise<void> {
  const dom = domainPath(domid);
  const vm = (await store.tryRead(`${dom}/vm`)) ?? (uuid === undefined ? undefined : vmPath(uuid));
  const paths = [dom, libxlPath(domid), `/local/domain/0/backend/console/${domid}`];
  if (vm !== undefined) paths.push(vm);
  for (const path of paths) await store.rm(path).catch(() => {});
}

/** libxl__domain_rename's writes: the name in the domain's and the VM's directories. */
export async function writeDomainName(
  store: LocalClient,
  domid: number,
  name: string,
): Promise<void> {
  const dom = domainPath(domid);
  await store.transaction(async (tx) => {
    await store.write(`${dom}/name`, name, tx);
    const vm = await store.tryRead(`${dom}/vm`, tx);
    if (vm !== undefined) await store.write(`${vm}/name`, name, tx);
  });
}
