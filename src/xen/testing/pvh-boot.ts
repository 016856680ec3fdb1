/**
 * A minimal PVH domain builder for tests: the kernel's segments at their physical addresses,
 * the command line, an e820 map, the hvm_start_info after the kernel, the xenstore and console
 * pages with their event channels (unbound, for Dom0) where libxenguest puts them, and vCPU 0
 * at the PVH entry. The real builder is Dom0's; this one is for starting a kernel from a test.
 */
import {
  HVM_PARAM_CONSOLE_EVTCHN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
  hvm_memmap_table_entry,
  hvm_start_info,
  XEN_HVM_MEMMAP_TYPE_ACPI,
  XEN_HVM_MEMMAP_TYPE_RAM,
  XEN_HVM_MEMMAP_TYPE_RESERVED,
  XEN_HVM_START_MAGIC_VALUE,
} from '../../abi/hvm.js';
import { MASK_XENCONS_IDX, xencons_interface } from '../../abi/io/console.js';
import { xenstore_domain_interface } from '../../abi/io/xs_wire.js';
import { describeKernel } from '../../images/kernel/kernel.js';
import { setPvhEntryState } from '../arch/x86/hvm/pvh.js';
import type { Domain } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import { writeGuest } from './guest.js';

/** libxenguest's special pages: 8 frames ending at 0xff000 (xenstore is 4, console 7). */
const SPECIAL_PFN_BASE = 0xff000 - 8;
export const STORE_PFN = SPECIAL_PFN_BASE + 4;
export const CONSOLE_PFN = SPECIAL_PFN_BASE + 7;

export interface PvhBootOptions {
  vmlinux: Uint8Array;
  cmdline: string;
  memoryMiB: number;
  vcpus?: number;
  /** ACPI tables (Dom0's builder makes them) to load at `address`, with the RSDP's address. */
  acpi?: { address: number; tables: Uint8Array; rsdpAddress: number };
}

export interface PvhDomain {
  domain: Domain;
  storePort: number;
  consolePort: number;
}

const page = (n: number): number => Math.ceil(n / 4096) * 4096;

export function buildPvhDomain(hv: Hypervisor, options: PvhBootOptions): PvhDomain {
  const kernel = describeKernel(options.vmlinux);
  const ramPages = options.memoryMiB * 256;
  const domain = hv.createDomain({ maxVcpus: options.vcpus ?? 1, maxPages: ramPages + 8 });
  if (hv.populatePhysmap(domain, 0, ramPages) !== ramPages) throw new Error('out of memory');
  for (const pfn of [STORE_PFN, CONSOLE_PFN]) {
    if (hv.populatePhysmap(domain, pfn, 1) !== 1) throw new Error('out of memory');
  }
  for (const segment of kernel.segments) {
    const data = options.vmlinux.subarray(segment.offset, segment.offset + segment.filesz);
    writeGuest(hv, domain, Number(segment.paddr), data);
  }
  const memmap = [
    { addr: 0, size: ramPages * 4096, type: XEN_HVM_MEMMAP_TYPE_RAM },
    { addr: SPECIAL_PFN_BASE * 4096, size: 8 * 4096, type: XEN_HVM_MEMMAP_TYPE_RESERVED },
  ];
  const acpi = options.acpi;
  if (acpi !== undefined) {
    const first = Math.floor(acpi.address / 4096);
    const pages = Math.ceil((acpi.address + acpi.tables.length) / 4096) - first;
    domain.maxPages += pages;
    if (hv.populatePhysmap(domain, first, pages) !== pages) throw new Error('out of memory');
    writeGuest(hv, domain, acpi.address, acpi.tables);
    memmap.push({ addr: first * 4096, size: pages * 4096, type: XEN_HVM_MEMMAP_TYPE_ACPI });
  }
  domain.memoryMap = memmap;
  // Boot information after the kernel, as libxenguest places it.
  const startInfo = page(Number(kernel.physEnd));
  const memmapAt = startInfo + hvm_start_info.size;
  const cmdlineAt = memmapAt + memmap.length * hvm_memmap_table_entry.size;
  writeGuest(hv, domain, cmdlineAt, new TextEncoder().encode(`${options.cmdline}\0`));
  memmap.forEach((entry, i) => {
    const bytes = hvm_memmap_table_entry.encode({ ...entry, reserved: 0 });
    writeGuest(hv, domain, memmapAt + i * hvm_memmap_table_entry.size, bytes);
  });
  const info = hvm_start_info.encode({
    magic: XEN_HVM_START_MAGIC_VALUE,
    version: 1,
    flags: 0,
    nr_modules: 0,
    modlist_paddr: 0n,
    cmdline_paddr: BigInt(cmdlineAt),
    rsdp_paddr: BigInt(acpi?.rsdpAddress ?? 0),
    memmap_paddr: BigInt(memmapAt),
    memmap_entries: memmap.length,
    reserved: 0,
  });
  writeGuest(hv, domain, startInfo, info);
  const storePort = domain.evtchn.allocUnboundForToolstack(0);
  const consolePort = domain.evtchn.allocUnboundForToolstack(0);
  domain.hvmParams[HVM_PARAM_STORE_PFN] = BigInt(STORE_PFN);
  domain.hvmParams[HVM_PARAM_STORE_EVTCHN] = BigInt(storePort);
  domain.hvmParams[HVM_PARAM_CONSOLE_PFN] = BigInt(CONSOLE_PFN);
  domain.hvmParams[HVM_PARAM_CONSOLE_EVTCHN] = BigInt(consolePort);
  setPvhEntryState(domain.vcpus[0]!.cpu, Number(kernel.xen.phys32Entry), startInfo);
  return { domain, storePort, consolePort };
}

/** Reads what the guest wrote to its console ring since the last call (a consoled stand-in). */
export function drainConsoleRing(hv: Hypervisor, domain: Domain): string {
  const mfn = domain.mfnOf(CONSOLE_PFN);
  if (mfn < 0) return '';
  const base = mfn * 4096;
  const view = hv.memory.view;
  const o = xencons_interface.offsets;
  const cons = view.getUint32(base + o.out_cons, true);
  const prod = view.getUint32(base + o.out_prod, true);
  const length = (prod - cons) >>> 0;
  if (length === 0 || length > 2048) return '';
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    bytes[i] = view.getUint8(base + o.out + MASK_XENCONS_IDX(cons + i, 2048));
  }
  view.setUint32(base + o.out_cons, prod, true);
  return new TextDecoder('latin1').decode(bytes);
}

/** The xenstore requests the guest has queued on its ring (req_prod − req_cons bytes). */
export function pendingStoreRequests(hv: Hypervisor, domain: Domain): Uint8Array {
  const mfn = domain.mfnOf(STORE_PFN);
  if (mfn < 0) return new Uint8Array(0);
  const base = mfn * 4096;
  const o = xenstore_domain_interface.offsets;
  const cons = hv.memory.view.getUint32(base + o.req_cons, true);
  const prod = hv.memory.view.getUint32(base + o.req_prod, true);
  const length = Math.min((prod - cons) >>> 0, 1024);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = hv.memory.bytes[base + o.req + ((cons + i) & 1023)]!;
  return out;
}
