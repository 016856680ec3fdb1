/**
 * The ACPI tables of a PVH domain, as libxl builds them with libacpi
 * (tools/libs/light/libxl_x86_acpi.c, tools/libacpi/build.c): DSDT, FADT, MADT, XSDT, RSDT and
 * the RSDP, laid out back to back (16-byte aligned, in libacpi's allocation order) in one blob
 * whose pointers are absolute guest-physical addresses. Linux finds the RSDP through
 * hvm_start_info.rsdp_paddr, and its CPUs and local APICs through the MADT.
 *
 * Where we differ from Xen, and why:
 * - The FADT sets HW_REDUCED_ACPI and has no SCI, PM1, GPE or reset registers and no FACS.
 *   Xen's PVH FADT keeps its HVM values (SCI 9, PM1a at 0xb000, GPE0 at 0xafe0, reset 0xcf9,
 *   a FACS) although PVH emulates none of them; a hardware-reduced FADT keeps Linux away from
 *   those ports, the 8259s and the PIT. It is revision 6 (276 bytes), Xen's is 5 (268), for
 *   Debian's iasl (see acpi_fadt).
 * - APIC ID = vCPU id (our vlapic), where libxl uses 2 × vCPU id.
 * - The DSDT declares the domain's vCPUs only, without Xen's hotplug methods (acpi-dsdt.ts).
 * - The RSDT lists the same FADT as the XSDT; Xen gives it a separate revision-1 FADT for
 *   Windows 2000. Linux reads the XSDT.
 * - The e820 type is ACPI (reclaimable), where libxl says NVS because its AML reads the MADT at
 *   run time; ours reads no table memory.
 */
import { E820_ACPI } from '../../abi/memory.js';
import { buildDsdt } from './acpi-dsdt.js';
import {
  ACPI_FADT_FIX_RTC,
  ACPI_FADT_HW_REDUCED,
  ACPI_FADT_NO_CMOS_RTC,
  ACPI_FADT_NO_VGA,
  ACPI_FADT_PROC_C1,
  ACPI_FADT_PWR_BUTTON,
  ACPI_FADT_REVISION,
  ACPI_FADT_SLP_BUTTON,
  ACPI_FADT_TMR_VAL_EXT,
  ACPI_FADT_USE_PLATFORM_CLOCK,
  ACPI_FADT_WBINVD,
  ACPI_MADT_LAPIC_ENABLED,
  ACPI_MADT_PCAT_COMPAT,
  ACPI_MADT_REVISION,
  ACPI_MADT_TYPE_LOCAL_APIC,
  ACPI_MAX_VCPUS,
  ACPI_OEM_ID,
  ACPI_RSDP_REVISION,
  ACPI_RSDP_SIGNATURE,
  ACPI_RSDT_REVISION,
  ACPI_XSDT_REVISION,
  acpi_fadt,
  acpi_header,
  acpi_madt,
  acpi_madt_lapic,
  acpi_rsdp,
  checksumOf,
  LAPIC_BASE_ADDRESS,
  sealTable,
  tableHeader,
} from './acpi-tables.js';

export { E820_ACPI };

/** The tables cannot be built as asked: a vCPU count or an address out of range. */
export class AcpiTablesError extends Error {
  override name = 'AcpiTablesError';
}

export interface AcpiTablesOptions {
  /** vCPUs the domain can have (max_vcpus): one MADT entry and DSDT processor each. */
  vcpus: number;
  /** vCPUs online at boot, the first ones (default all); the rest are listed disabled. */
  onlineVcpus?: number;
  /** Guest-physical address the blob is loaded at: 16-byte aligned, below 4 GiB. */
  address: number;
}

export interface E820Region {
  addr: number;
  size: number;
  type: number;
}

export interface AcpiTables {
  /** Guest-physical address of the RSDP, for hvm_start_info.rsdp_paddr. */
  rsdpAddress: number;
  /** The blob to copy to `address`. */
  tables: Uint8Array;
  size: number;
  /** The memory-map entry to reserve for the tables: the whole pages they touch. */
  e820: E820Region;
}

/** Where libxl loads PVH tables: the page after its acpi_info page at 0xFC000000. */
export const XEN_PVH_ACPI_ADDRESS = 0xfc001000;

const PAGE_SIZE = 4096;
/** The RSDT, FADT and RSDP hold 32-bit pointers. */
const LIMIT = 2 ** 32;

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

export function buildAcpiTables(options: AcpiTablesOptions): AcpiTables {
  const { vcpus, address } = options;
  const online = options.onlineVcpus ?? vcpus;
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > ACPI_MAX_VCPUS) {
    throw new AcpiTablesError(`vcpus must be 1 to ${ACPI_MAX_VCPUS}, not ${vcpus}`);
  }
  if (!Number.isInteger(online) || online < 1 || online > vcpus) {
    throw new AcpiTablesError(`onlineVcpus must be 1 to ${vcpus}, not ${online}`);
  }
  if (!Number.isSafeInteger(address) || address < 0 || address % 16 !== 0) {
    throw new AcpiTablesError(`the tables' address must be 16-byte aligned, not ${address}`);
  }

  // Each table is placed, in turn, after the ones it points to.
  const placed: { offset: number; bytes: Uint8Array }[] = [];
  let end = 0;
  const place = (bytes: Uint8Array): number => {
    const offset = align16(end);
    placed.push({ offset, bytes });
    end = offset + bytes.length;
    if (address + end > LIMIT) {
      throw new AcpiTablesError(`the tables must end below 4 GiB (at ${address} + ${end})`);
    }
    return address + offset;
  };

  const dsdt = place(buildDsdt(vcpus));
  const fadt = place(buildFadt(dsdt));
  const madt = place(buildMadt(vcpus, online));
  const xsdt = place(buildRootTable('XSDT', [fadt, madt]));
  const rsdt = place(buildRootTable('RSDT', [fadt, madt]));
  const rsdp = place(buildRsdp(rsdt, xsdt));

  const tables = new Uint8Array(end);
  for (const t of placed) tables.set(t.bytes, t.offset);
  const first = Math.floor(address / PAGE_SIZE) * PAGE_SIZE;
  const last = Math.ceil((address + end) / PAGE_SIZE) * PAGE_SIZE;
  return {
    rsdpAddress: rsdp,
    tables,
    size: end,
    e820: { addr: first, size: last - first, type: E820_ACPI },
  };
}

function buildFadt(dsdt: number): Uint8Array {
  const table = acpi_fadt.encode({
    header: tableHeader('FACP', ACPI_FADT_REVISION),
    dsdt,
    x_dsdt: dsdt,
    // libacpi's flags with no PM timer and no buttons (libxl passes no ACPI_HAS_* for PVH).
    flags:
      ACPI_FADT_WBINVD |
      ACPI_FADT_PROC_C1 |
      ACPI_FADT_FIX_RTC |
      ACPI_FADT_TMR_VAL_EXT |
      ACPI_FADT_USE_PLATFORM_CLOCK |
      ACPI_FADT_PWR_BUTTON |
      ACPI_FADT_SLP_BUTTON |
      ACPI_FADT_HW_REDUCED,
    // No VGA and no CMOS RTC, as libxl says for PVH; no 8042 either.
    iapc_boot_arch: ACPI_FADT_NO_VGA | ACPI_FADT_NO_CMOS_RTC,
    // C2/C3 latencies above the limits: not supported (libacpi's values).
    p_lvl2_lat: 0x0fff,
    p_lvl3_lat: 0x0fff,
  });
  return sealTable(table);
}

function buildMadt(vcpus: number, online: number): Uint8Array {
  const table = new Uint8Array(acpi_madt.size + vcpus * acpi_madt_lapic.size);
  const view = new DataView(table.buffer);
  acpi_madt.write(view, 0, {
    header: tableHeader('APIC', ACPI_MADT_REVISION),
    lapic_addr: LAPIC_BASE_ADDRESS,
    flags: ACPI_MADT_PCAT_COMPAT,
  });
  for (let id = 0; id < vcpus; id++) {
    acpi_madt_lapic.write(view, acpi_madt.size + id * acpi_madt_lapic.size, {
      type: ACPI_MADT_TYPE_LOCAL_APIC,
      length: acpi_madt_lapic.size,
      // The processor UID matches the DSDT's processor ID; the APIC ID is our vlapic's.
      acpi_processor_id: id,
      apic_id: id,
      flags: id < online ? ACPI_MADT_LAPIC_ENABLED : 0,
    });
  }
  return sealTable(table);
}

/** The XSDT (64-bit entries) or the RSDT (32-bit entries). */
function buildRootTable(signature: 'XSDT' | 'RSDT', entries: readonly number[]): Uint8Array {
  const wide = signature === 'XSDT';
  const entrySize = wide ? 8 : 4;
  const table = new Uint8Array(acpi_header.size + entries.length * entrySize);
  const revision = wide ? ACPI_XSDT_REVISION : ACPI_RSDT_REVISION;
  table.set(acpi_header.encode(tableHeader(signature, revision)));
  const view = new DataView(table.buffer);
  entries.forEach((entry, i) => {
    // Addresses are below 4 GiB, so an XSDT entry's high half stays 0.
    view.setUint32(acpi_header.size + i * entrySize, entry, true);
  });
  return sealTable(table);
}

function buildRsdp(rsdt: number, xsdt: number): Uint8Array {
  const rsdp = acpi_rsdp.encode({
    signature: ACPI_RSDP_SIGNATURE,
    oem_id: ACPI_OEM_ID,
    revision: ACPI_RSDP_REVISION,
    rsdt_address: rsdt,
    length: acpi_rsdp.size,
    xsdt_address: xsdt,
  });
  rsdp[acpi_rsdp.offsets.checksum] = checksumOf(rsdp, acpi_rsdp.offsets.length);
  rsdp[acpi_rsdp.offsets.extended_checksum] = checksumOf(rsdp);
  return rsdp;
}
