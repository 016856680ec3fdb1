/**
 * Boots a domain the way the toolstack will: Dom0's services on the hypervisor's privcmd
 * surface, the PVH builder through hypercalls, xenstore entries, xenstored and the console
 * daemon serving the guest. In one thread: the test drives the hypervisor in chunks and lets
 * Dom0's handlers run between them.
 */
import { readFile } from 'node:fs/promises';
import { XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm } from '../../src/abi/domctl.js';
import { XEN_X86_EMU_LAPIC } from '../../src/abi/xen.js';
import { buildPvh } from '../../src/dom0/builder/pvh.js';
import { type Dom0, startDom0 } from '../../src/dom0/index.js';
import { ensureImages } from '../../src/images/store.js';
import type { Domain } from '../../src/xen/common/domain.js';
import { createControlDomain, ExternalPort } from '../../src/xen/external.js';
import { Hypervisor } from '../../src/xen/hypervisor.js';

export interface Booted {
  hv: Hypervisor;
  dom0: Dom0;
  domain: Domain;
  /** Everything on the guest's console so far. */
  console(): string;
  /** The hypervisor's log so far. */
  xenLog(): string;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

export async function bootDebian(options: {
  memoryMiB: number;
  vcpus: number;
  cmdline: string;
}): Promise<Booted> {
  const images = await ensureImages();
  let xenLog = '';
  const hv = new Hypervisor({
    memoryBytes: (options.memoryMiB + 96) << 20,
    clock: 'virtual',
    consoleEcho: (text) => {
      xenLog += text;
    },
  });
  const ramFrames = 4096;
  const dom0 = await startDom0(new ExternalPort(hv, createControlDomain(hv, { ramFrames })), {
    ramFrames,
    log: () => {},
  });
  const domid = await dom0.ctrl.createDomain({
    flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
    max_vcpus: options.vcpus,
    max_evtchn_port: 1023,
    max_grant_frames: 32,
    max_maptrack_frames: -1,
    grant_opts: 2,
    arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
  });
  await dom0.ctrl.setMaxMem(domid, options.memoryMiB * 1024 + 1024);
  const build = await buildPvh(dom0, domid, {
    kernel: new Uint8Array(await readFile(images.vmlinux)),
    ramdisk: new Uint8Array(await readFile(images.initramfs)),
    cmdline: options.cmdline,
    memoryMiB: options.memoryMiB,
    vcpus: options.vcpus,
    maxVcpus: options.vcpus,
  });
  const base = `/local/domain/${domid}`;
  await dom0.store.write(`${base}/name`, 'debian');
  await dom0.store.write(`${base}/domid`, String(domid));
  await dom0.store.setPerms(base, [`n0`, `r${domid}`]);
  for (const dir of ['device', 'control']) await dom0.store.mkdir(`${base}/${dir}`);
  // What libxl__domain_make leaves writable by the guest (owned by it).
  for (const node of [
    'control/shutdown',
    'control/feature-poweroff',
    'control/feature-reboot',
    'control/feature-suspend',
    'control/sysrq',
    'control/platform-feature-multiprocessor-suspend',
    'control/platform-feature-xs_reset_watches',
    'data',
    'drivers',
    'feature',
    'attr',
    'error',
  ]) {
    await dom0.store.write(`${base}/${node}`, '');
    await dom0.store.setPerms(`${base}/${node}`, [`n${domid}`]);
  }
  await dom0.store.write(`${base}/memory/target`, String(options.memoryMiB * 1024));
  await dom0.xenstored.introduce(domid, build.storePfn, build.storePort);
  let output = '';
  await dom0.consoled.add(domid, 'debian', build.consolePfn, build.consolePort);
  dom0.consoled.attach(domid, {
    output: (bytes) => {
      output += new TextDecoder('latin1').decode(bytes);
    },
    ended: () => {},
  });
  await dom0.ctrl.unpauseDomain(domid);
  const domain = hv.domains.get(domid)!;
  return { hv, dom0, domain, console: () => output, xenLog: () => xenLog };
}

/** Runs the machine until `done` says so or `limit` instructions ran; the instructions run. */
export async function runUntil(
  booted: Booted,
  done: () => boolean,
  limit: number,
): Promise<number> {
  let ran = 0;
  while (ran < limit && !done()) {
    ran += booted.hv.run(1_000_000);
    for (let i = 0; i < 8; i++) await settle();
  }
  return ran;
}
