/**
 * The PVH domain builder (libxenguest's xc_dom_* for a PVH guest, with libxl's memory map and
 * ACPI tables), entirely through Dom0's hypercalls: it populates the domain's RAM, maps its
 * pages to load the kernel's segments, the initramfs (module 0), the command line, the
 * e820 map and hvm_start_info, sets up the xenstore and console pages with their event
 * channels and HVM params, and sets vCPU 0 at the kernel's PVH entry.
 *
 * The domain must exist (createdomain) with its max_mem set; the toolstack does both.
 */
import {
  HVM_PARAM_CONSOLE_EVTCHN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
  hvm_memmap_table_entry,
  hvm_modlist_entry,
  hvm_start_info,
  XEN_HVM_MEMMAP_TYPE_RAM,
  XEN_HVM_MEMMAP_TYPE_RESERVED,
  XEN_HVM_START_MAGIC_VALUE,
} from '../../abi/hvm.js';
import { extractVmlinux, isBzImage } from '../../images/kernel/bzimage.js';
import { describeKernel, type KernelImage } from '../../images/kernel/kernel.js';
import type { MemoryMapEntry, XenCtrl } from '../libs/ctrl.js';
import type { EventChannelDevice } from '../libs/evtchn.js';
import { mapForeign } from '../libs/foreign.js';
import { buildAcpiTables, XEN_PVH_ACPI_ADDRESS } from './acpi.js';
import { setPvhEntry } from './vcpu.js';

const PAGE = 4096;
/** libxenguest's special pages: 8 frames ending at 0xff000 (X86_HVM_END_SPECIAL_REGION). */
export const SPECIAL_PFN_BASE = 0xff000 - 8;
export const STORE_PFN = SPECIAL_PFN_BASE + 4; // SPECIALPAGE_XENSTORE
export const CONSOLE_PFN = SPECIAL_PFN_BASE + 7; // SPECIALPAGE_CONSOLE
/** Where guest RAM must stop below 4 GiB (libxl's default MMIO hole starts here). */
export const LOWMEM_END = 0xf0000000;
/** Pages populated per XENMEM_populate_physmap. */
const POPULATE_BATCH = 0x4000;

export class BuildError extends Error {
  override name = 'BuildError';
}

export interface PvhBuildSpec {
  /** A bzImage or a vmlinux ELF. */
  kernel: Uint8Array;
  ramdisk?: Uint8Array;
  cmdline: string;
  memoryMiB: number;
  /** vCPUs online at boot, and the most the domain can have. */
  vcpus: number;
  maxVcpus: number;
}

export interface PvhBuild {
  storePfn: number;
  storePort: number;
  consolePfn: number;
  consolePort: number;
}

export interface BuilderServices {
  ctrl: XenCtrl;
  events: EventChannelDevice;
}

const pageUp = (n: number): number => Math.ceil(n / PAGE) * PAGE;

export async function buildPvh(
  services: BuilderServices,
  domid: number,
  spec: PvhBuildSpec,
): Promise<PvhBuild> {
  const { ctrl, events } = services;
  const vmlinux = isBzImage(spec.kernel) ? await extractVmlinux(spec.kernel) : spec.kernel;
  const kernel = describeKernel(vmlinux);
  const entry = kernel.xen.phys32Entry;
  if (entry === undefined) {
    throw new BuildError('the kernel has no XEN_ELFNOTE_PHYS32_ENTRY: it cannot boot as PVH');
  }
  const ramBytes = spec.memoryMiB * 1024 * 1024;
  if (ramBytes > LOWMEM_END) {
    throw new BuildError(`PVH guests of more than ${LOWMEM_END >> 20} MiB are not supported yet`);
  }
  // The kernel (with its bss), the initramfs after it, then the start info page.
  const kernelEnd = pageUp(Number(kernel.physEnd));
  const startInfo = kernelEnd + (spec.ramdisk === undefined ? 0 : pageUp(spec.ramdisk.length));
  if (startInfo + PAGE > ramBytes) {
    throw new BuildError(
      `${spec.memoryMiB} MiB is too little for this kernel and initramfs ` +
        `(they need ${Math.ceil((startInfo + PAGE) / 2 ** 20)} MiB)`,
    );
  }
  const ramFrames = ramBytes / PAGE;
  for (let gfn = 0; gfn < ramFrames; gfn += POPULATE_BATCH) {
    const count = Math.min(POPULATE_BATCH, ramFrames - gfn);
    await ctrl.populatePhysmap(
      domid,
      Array.from({ length: count }, (_, i) => gfn + i),
    );
  }
  await loadSegments(ctrl, domid, vmlinux, kernel);

  let module: { paddr: number; size: number } | undefined;
  if (spec.ramdisk !== undefined) {
    module = { paddr: kernelEnd, size: spec.ramdisk.length };
    await writeGuest(ctrl, domid, kernelEnd, spec.ramdisk);
  }
  const acpi = buildAcpiTables({
    vcpus: spec.maxVcpus,
    onlineVcpus: spec.vcpus,
    address: XEN_PVH_ACPI_ADDRESS,
  });
  const acpiFirst = acpi.e820.addr / PAGE;
  await ctrl.populatePhysmap(
    domid,
    Array.from({ length: acpi.e820.size / PAGE }, (_, i) => acpiFirst + i),
  );
  await writeGuest(ctrl, domid, XEN_PVH_ACPI_ADDRESS, acpi.tables);
  const memmap: MemoryMapEntry[] = [
    { addr: 0, size: ramBytes, type: XEN_HVM_MEMMAP_TYPE_RAM },
    { addr: acpi.e820.addr, size: acpi.e820.size, type: acpi.e820.type },
    { addr: SPECIAL_PFN_BASE * PAGE, size: 8 * PAGE, type: XEN_HVM_MEMMAP_TYPE_RESERVED },
  ];
  await writeGuest(
    ctrl,
    domid,
    startInfo,
    startInfoBlob(startInfo, spec.cmdline, memmap, module, acpi.rsdpAddress),
  );
  await ctrl.setMemoryMap(domid, memmap);

  // The xenstore and console pages, and the ports Dom0 will bind to.
  await ctrl.populatePhysmap(domid, [STORE_PFN, CONSOLE_PFN]);
  const storePort = await events.allocUnboundFor(domid, 0);
  const consolePort = await events.allocUnboundFor(domid, 0);
  await ctrl.setHvmParam(domid, HVM_PARAM_STORE_PFN, STORE_PFN);
  await ctrl.setHvmParam(domid, HVM_PARAM_STORE_EVTCHN, storePort);
  await ctrl.setHvmParam(domid, HVM_PARAM_CONSOLE_PFN, CONSOLE_PFN);
  await ctrl.setHvmParam(domid, HVM_PARAM_CONSOLE_EVTCHN, consolePort);
  await setPvhEntry(ctrl, domid, Number(entry), startInfo, spec.maxVcpus);
  return { storePfn: STORE_PFN, storePort, consolePfn: CONSOLE_PFN, consolePort };
}

async function loadSegments(
  ctrl: XenCtrl,
  domid: number,
  vmlinux: Uint8Array,
  kernel: KernelImage,
): Promise<void> {
  for (const segment of kernel.segments) {
    const data = vmlinux.subarray(segment.offset, segment.offset + segment.filesz);
    // The rest of memsz is bss: fresh pages are already zero.
    await writeGuest(ctrl, domid, Number(segment.paddr), data);
  }
}

/** hvm_start_info v1, then the module list, the memory map and the command line. */
function startInfoBlob(
  at: number,
  cmdline: string,
  memmap: readonly MemoryMapEntry[],
  module: { paddr: number; size: number } | undefined,
  rsdp: number,
): Uint8Array {
  const modlistAt = at + hvm_start_info.size;
  const memmapAt = modlistAt + (module === undefined ? 0 : hvm_modlist_entry.size);
  const cmdlineAt = memmapAt + memmap.length * hvm_memmap_table_entry.size;
  const text = new TextEncoder().encode(`${cmdline}\0`);
  if (cmdlineAt + text.length > at + PAGE) throw new BuildError('the command line is too long');
  const out = new Uint8Array(cmdlineAt + text.length - at);
  out.set(
    hvm_start_info.encode({
      magic: XEN_HVM_START_MAGIC_VALUE,
      version: 1,
      flags: 0,
      nr_modules: module === undefined ? 0 : 1,
      modlist_paddr: module === undefined ? 0n : BigInt(modlistAt),
      cmdline_paddr: BigInt(cmdlineAt),
      rsdp_paddr: BigInt(rsdp),
      memmap_paddr: BigInt(memmapAt),
      memmap_entries: memmap.length,
      reserved: 0,
    }),
  );
  if (module !== undefined) {
    out.set(
      hvm_modlist_entry.encode({
        paddr: BigInt(module.paddr),
        size: BigInt(module.size),
        cmdline_paddr: 0n,
        reserved: 0n,
      }),
      modlistAt - at,
    );
  }
  memmap.forEach((e, i) => {
    out.set(
      hvm_memmap_table_entry.encode({
        addr: BigInt(e.addr),
        size: BigInt(e.size),
        type: e.type,
        reserved: 0,
      }),
      memmapAt - at + i * hvm_memmap_table_entry.size,
    );
  });
  out.set(text, cmdlineAt - at);
  return out;
}

/** Copies `data` to guest-physical `at` of the domain through a foreign mapping. */
async function writeGuest(
  ctrl: XenCtrl,
  domid: number,
  at: number,
  data: Uint8Array,
): Promise<void> {
  if (data.length === 0) return;
  const first = Math.floor(at / PAGE);
  const count = Math.ceil((at + data.length) / PAGE) - first;
  // In pieces, so a large initramfs does not need a mapping space as large as itself.
  const piece = 1024;
  for (let done = 0; done < count; done += piece) {
    const n = Math.min(piece, count - done);
    const mapping = await mapForeign(
      ctrl.kernel,
      domid,
      Array.from({ length: n }, (_, i) => first + done + i),
    );
    try {
      const start = Math.max(at, (first + done) * PAGE);
      const end = Math.min(at + data.length, (first + done + n) * PAGE);
      mapping.write(start - (first + done) * PAGE, data.subarray(start - at, end - at));
    } finally {
      await mapping.unmap();
    }
  }
}
