/**
 * Byte layouts and constants of the ACPI tables a PVH domain gets, as Xen's libacpi declares
 * them (tools/libacpi/acpi2_0.h), the FADT extended to ACPI 6.0. Every structure is packed.
 */
import { bytes, chars, struct, u8, u16, u32, u64 } from '../../abi/layout.js';

/** The header every system description table starts with. */
export const acpi_header = struct(
  'acpi_header',
  {
    signature: chars(4),
    length: u32,
    revision: u8,
    checksum: u8,
    oem_id: chars(6),
    oem_table_id: chars(8),
    oem_revision: u32,
    /** A four-character vendor code, stored as the u32 Xen writes (ASCII32). */
    creator_id: chars(4),
    creator_revision: u32,
  },
  { packed: true },
);

/** The ACPI 2.0+ Root System Description Pointer. */
export const acpi_rsdp = struct(
  'acpi_20_rsdp',
  {
    signature: chars(8),
    /** Over the first 20 bytes (the ACPI 1.0 part). */
    checksum: u8,
    oem_id: chars(6),
    revision: u8,
    rsdt_address: u32,
    length: u32,
    xsdt_address: u64,
    /** Over all `length` bytes. */
    extended_checksum: u8,
    reserved: bytes(3),
  },
  { packed: true },
);

/** The Generic Address Structure (GAS) that locates a register. */
export const acpi_generic_address = struct(
  'acpi_20_generic_address',
  {
    address_space_id: u8,
    register_bit_width: u8,
    register_bit_offset: u8,
    /** Xen's `reserved`; ACPI 3.0 made it the access size. */
    access_size: u8,
    address: u64,
  },
  { packed: true },
);

const gas = acpi_generic_address;

/**
 * The Fixed ACPI Description Table, "FACP": libacpi's ACPI 5.0 one (268 bytes, revision 5)
 * plus ACPI 6.0's hypervisor vendor identity (276 bytes, revision 6). Revision 6 because
 * Debian's iasl 20200925 misreads any FADT longer than revision 4's as a revision 6 one, and
 * warns that a 268-byte table "terminates in the middle of a data structure".
 */
export const acpi_fadt = struct(
  'acpi_fadt',
  {
    header: acpi_header,
    firmware_ctrl: u32,
    dsdt: u32,
    reserved0: u8,
    preferred_pm_profile: u8,
    sci_int: u16,
    smi_cmd: u32,
    acpi_enable: u8,
    acpi_disable: u8,
    s4bios_req: u8,
    pstate_cnt: u8,
    pm1a_evt_blk: u32,
    pm1b_evt_blk: u32,
    pm1a_cnt_blk: u32,
    pm1b_cnt_blk: u32,
    pm2_cnt_blk: u32,
    pm_tmr_blk: u32,
    gpe0_blk: u32,
    gpe1_blk: u32,
    pm1_evt_len: u8,
    pm1_cnt_len: u8,
    pm2_cnt_len: u8,
    pm_tmr_len: u8,
    gpe0_blk_len: u8,
    gpe1_blk_len: u8,
    gpe1_base: u8,
    cst_cnt: u8,
    p_lvl2_lat: u16,
    p_lvl3_lat: u16,
    flush_size: u16,
    flush_stride: u16,
    duty_offset: u8,
    duty_width: u8,
    day_alrm: u8,
    mon_alrm: u8,
    century: u8,
    iapc_boot_arch: u16,
    reserved1: u8,
    flags: u32,
    reset_reg: gas,
    reset_value: u8,
    /** Reserved in ACPI 5.0 (libacpi's reserved2[3]); ARM-only flags since 5.1. */
    arm_boot_arch: u16,
    /** ACPI 6.0: 0. */
    minor_version: u8,
    x_firmware_ctrl: u64,
    x_dsdt: u64,
    x_pm1a_evt_blk: gas,
    x_pm1b_evt_blk: gas,
    x_pm1a_cnt_blk: gas,
    x_pm1b_cnt_blk: gas,
    x_pm2_cnt_blk: gas,
    x_pm_tmr_blk: gas,
    x_gpe0_blk: gas,
    x_gpe1_blk: gas,
    sleep_control: gas,
    sleep_status: gas,
    hypervisor_id: u64,
  },
  { packed: true },
);

/** The Multiple APIC Description Table, "APIC": this header, then interrupt controllers. */
export const acpi_madt = struct(
  'acpi_20_madt',
  { header: acpi_header, lapic_addr: u32, flags: u32 },
  { packed: true },
);

/** MADT entry type 0, one per processor. */
export const acpi_madt_lapic = struct(
  'acpi_20_madt_lapic',
  { type: u8, length: u8, acpi_processor_id: u8, apic_id: u8, flags: u32 },
  { packed: true },
);

// Identification, as libacpi stamps every table.
export const ACPI_OEM_ID = 'Xen';
export const ACPI_OEM_TABLE_ID = 'HVM';
export const ACPI_OEM_REVISION = 0;
/** "HVML" (hvmloader), the creator libacpi writes even when libxl builds the tables. */
export const ACPI_CREATOR_ID = 'HVML';
export const ACPI_CREATOR_REVISION = 0;

export const ACPI_RSDP_SIGNATURE = 'RSD PTR ';
export const ACPI_RSDP_REVISION = 2;
export const ACPI_RSDT_REVISION = 1;
export const ACPI_XSDT_REVISION = 1;
/** libxl asks libacpi for ACPI 5 (FADT revision 5); see acpi_fadt for why we say 6. */
export const ACPI_FADT_REVISION = 6;
export const ACPI_MADT_REVISION = 2;
/** The DSDT's compliance revision (2 or more means 64-bit AML integers); Xen's PVH DSDT says 5. */
export const ACPI_DSDT_REVISION = 5;

// FADT fixed feature flags.
export const ACPI_FADT_WBINVD = 1 << 0;
export const ACPI_FADT_PROC_C1 = 1 << 2;
export const ACPI_FADT_PWR_BUTTON = 1 << 4;
export const ACPI_FADT_SLP_BUTTON = 1 << 5;
export const ACPI_FADT_FIX_RTC = 1 << 6;
export const ACPI_FADT_TMR_VAL_EXT = 1 << 8;
export const ACPI_FADT_USE_PLATFORM_CLOCK = 1 << 15;
export const ACPI_FADT_HW_REDUCED = 1 << 20;

// FADT IA-PC boot architecture flags.
export const ACPI_FADT_NO_VGA = 1 << 2;
export const ACPI_FADT_NO_CMOS_RTC = 1 << 5;

/** MADT flag: the platform also has dual 8259s (Xen sets it for PVH too). */
export const ACPI_MADT_PCAT_COMPAT = 1 << 0;
export const ACPI_MADT_TYPE_LOCAL_APIC = 0;
export const ACPI_MADT_LAPIC_ENABLED = 1 << 0;

/** libxl's LAPIC_BASE_ADDRESS. */
export const LAPIC_BASE_ADDRESS = 0xfee00000;

/** Xen's HVM_MAX_VCPUS: the most vCPUs an HVM/PVH domain can have, and its DSDT declares. */
export const ACPI_MAX_VCPUS = 128;

/** The byte that makes `data[0..length)` sum to 0 mod 256, given its checksum byte is 0. */
export function checksumOf(data: Uint8Array, length = data.length): number {
  let sum = 0;
  for (let i = 0; i < length; i++) sum += data[i]!;
  return -sum & 0xff;
}

/** A header for a table with `signature`, stamped like libacpi's; length and checksum later. */
export function tableHeader(signature: string, revision: number) {
  return {
    signature,
    length: 0,
    revision,
    checksum: 0,
    oem_id: ACPI_OEM_ID,
    oem_table_id: ACPI_OEM_TABLE_ID,
    oem_revision: ACPI_OEM_REVISION,
    creator_id: ACPI_CREATOR_ID,
    creator_revision: ACPI_CREATOR_REVISION,
  };
}

/** Writes a finished table's length into its header and fixes its checksum. */
export function sealTable(table: Uint8Array): Uint8Array {
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  view.setUint32(acpi_header.offsets.length, table.length, true);
  table[acpi_header.offsets.checksum] = 0;
  table[acpi_header.offsets.checksum] = checksumOf(table);
  return table;
}
