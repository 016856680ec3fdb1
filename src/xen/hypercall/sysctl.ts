/**
 * HYPERVISOR_sysctl: the toolstack's system control (Xen's do_sysctl): the console ring
 * (xl dmesg), the machine's description (xl info) and the domain list (xl list). The struct
 * xen_sysctl is copied in, its interface version checked (-EACCES), and copied back whole
 * when the command succeeds. The dispatcher has already refused unprivileged callers.
 */
import { xen_domctl_getdomaininfo } from '../../abi/domctl.js';
import { XEN_EACCES, XEN_EFAULT, XEN_ENOSYS } from '../../abi/errno.js';
import {
  XEN_SYSCTL_getdomaininfolist,
  XEN_SYSCTL_INTERFACE_VERSION,
  XEN_SYSCTL_PHYSCAP_gnttab_v1,
  XEN_SYSCTL_PHYSCAP_gnttab_v2,
  XEN_SYSCTL_PHYSCAP_hap,
  XEN_SYSCTL_PHYSCAP_hvm,
  XEN_SYSCTL_physinfo,
  XEN_SYSCTL_readconsole,
  xen_sysctl,
  xen_sysctl_getdomaininfolist,
  xen_sysctl_physinfo,
  xen_sysctl_readconsole,
} from '../../abi/sysctl.js';
import { defaultPolicy } from '../../x86/policy.js';
import type { ConsoleRing } from '../common/console.js';
import type { Hypervisor } from '../hypervisor.js';
import { domainInfo, domainList } from './domain-info.js';
import { argPointer, handlePointer, offsetPointer, readBytes, writeBytes } from './guest-args.js';
import type { HypercallCall } from './table.js';

const U = xen_sysctl.offsets.u;
const TWO_32 = 2 ** 32;

type SysctlHandler = (call: HypercallCall, view: DataView) => number;

// ---------------------------------------------------------------------------------------
// XEN_SYSCTL_readconsole

/**
 * Xen's conringc for each console: where a clearing read left the ring's consumer. The
 * producer index is every byte ever written (ConsoleRing.dropped + what it holds); both
 * are 32-bit and wrap.
 */
const consumers = new WeakMap<ConsoleRing, number>();

/** read_console_ring: up to `count` bytes from the consumer (or `index`), then maybe clear. */
const readconsole: SysctlHandler = (call, view) => {
  const ring = call.hv.console;
  const op = xen_sysctl_readconsole.read(view, U);
  const text = ring.contents();
  const p = (ring.dropped + text.length) % TWO_32;
  // The consumer, unless the ring has since overwritten it.
  let c = consumers.get(ring) ?? 0;
  if ((p - c) >>> 0 > text.length) c = (p - text.length) >>> 0;
  const index = op.index;
  if (op.incremental && (c <= p ? c < index && index <= p : c < index || index <= p)) c = index;

  const length = Math.min((p - c) >>> 0, op.count);
  const start = text.length - ((p - c) >>> 0);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = text.charCodeAt(start + i) & 0xff;
  if (!writeBytes(call, handlePointer(op.buffer), bytes)) return -XEN_EFAULT;
  c = (c + length) >>> 0;
  if (op.clear) consumers.set(ring, c);
  xen_sysctl_readconsole.write(view, U, { count: length, index: c });
  return 0;
};

// ---------------------------------------------------------------------------------------
// XEN_SYSCTL_physinfo

/** Xen's MAX_NUMNODES (max_node_id is reported as MAX_NUMNODES - 1). */
const MAX_NUMNODES = 64;

/** boot_cpu_data.x86_capability's first eight words: the CPUID feature leaves, in order. */
function hardwareCapabilities(): number[] {
  const policy = defaultPolicy();
  const leaf = (l: number, s = 0) => policy.cpuid(l, s, 0) ?? { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  const words = [
    leaf(1).edx,
    leaf(1).ecx,
    leaf(0x80000001).edx,
    leaf(0x80000001).ecx,
    leaf(0xd, 1).eax,
    leaf(7).ebx,
    leaf(7).ecx,
    leaf(0x80000007).edx,
  ];
  return words.map((w) => w >>> 0);
}

/** One physical CPU, one node; HVM with HAP, grant tables v1 and v2; no PV, no IOMMU. */
const physinfo: SysctlHandler = (call, view) => {
  const hv: Hypervisor = call.hv;
  const frames = hv.memory.frames;
  xen_sysctl_physinfo.clear(view, U);
  xen_sysctl_physinfo.write(view, U, {
    threads_per_core: 1,
    cores_per_socket: 1,
    nr_cpus: 1,
    max_cpu_id: 0,
    nr_nodes: 1,
    max_node_id: MAX_NUMNODES - 1,
    cpu_khz: Math.floor(hv.time.tscHz / 1000),
    capabilities:
      XEN_SYSCTL_PHYSCAP_hvm |
      XEN_SYSCTL_PHYSCAP_hap |
      XEN_SYSCTL_PHYSCAP_gnttab_v1 |
      XEN_SYSCTL_PHYSCAP_gnttab_v2,
    arch_capabilities: 0,
    total_pages: frames,
    free_pages: hv.frames.free,
    scrub_pages: 0, // frames are scrubbed as they are freed
    outstanding_pages: 0,
    max_mfn: frames - 1,
    hw_cap: hardwareCapabilities(),
  });
  return 0;
};

// ---------------------------------------------------------------------------------------
// XEN_SYSCTL_getdomaininfolist

/** Up to max_domains entries from first_domain on, in domid order; num_domains says how many. */
const getdomaininfolist: SysctlHandler = (call, view) => {
  const hv = call.hv;
  const op = xen_sysctl_getdomaininfolist.read(view, U);
  const buffer = handlePointer(op.buffer);
  let count = 0;
  for (const domain of domainList(hv)) {
    if (domain.id < op.first_domain) continue;
    if (count === op.max_domains) break;
    const entry = xen_domctl_getdomaininfo.encode(domainInfo(hv, domain));
    const at = offsetPointer(buffer, count * xen_domctl_getdomaininfo.size);
    if (!writeBytes(call, at, entry)) return -XEN_EFAULT;
    count++;
  }
  xen_sysctl_getdomaininfolist.write(view, U, { num_domains: count });
  return 0;
};

const COMMANDS: ReadonlyMap<number, SysctlHandler> = new Map([
  [XEN_SYSCTL_readconsole, readconsole],
  [XEN_SYSCTL_physinfo, physinfo],
  [XEN_SYSCTL_getdomaininfolist, getdomaininfolist],
]);

export function sysctl(call: HypercallCall): number {
  const at = argPointer(call, 1);
  const raw = readBytes(call, at, xen_sysctl.size);
  if (raw === undefined) return -XEN_EFAULT;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint32(xen_sysctl.offsets.interface_version, true) !== XEN_SYSCTL_INTERFACE_VERSION) {
    return -XEN_EACCES;
  }
  const handler = COMMANDS.get(view.getUint32(xen_sysctl.offsets.cmd, true));
  if (handler === undefined) return -XEN_ENOSYS;
  const ret = handler(call, view);
  if (ret !== 0) return ret;
  return writeBytes(call, at, raw) ? 0 : -XEN_EFAULT;
}
