import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireTool } from '../../testing/host-tools.js';
import {
  type AcpiTables,
  AcpiTablesError,
  buildAcpiTables,
  E820_ACPI,
  XEN_PVH_ACPI_ADDRESS,
} from './acpi.js';
import { pkgLength } from './acpi-dsdt.js';
import {
  ACPI_FADT_HW_REDUCED,
  ACPI_FADT_NO_CMOS_RTC,
  ACPI_FADT_NO_VGA,
  ACPI_MADT_LAPIC_ENABLED,
  acpi_fadt,
  acpi_header,
  acpi_madt,
  acpi_madt_lapic,
  acpi_rsdp,
  LAPIC_BASE_ADDRESS,
} from './acpi-tables.js';

const BASE = XEN_PVH_ACPI_ADDRESS;

const sum = (bytes: Uint8Array): number => bytes.reduce((s, b) => s + b, 0) & 0xff;

/** The bytes at guest-physical `address`, checked to lie inside the blob. */
function bytesAt(acpi: AcpiTables, base: number, address: number, length: number): Uint8Array {
  const offset = address - base;
  assert.ok(offset >= 0 && offset + length <= acpi.size, `${address} is outside the blob`);
  return acpi.tables.subarray(offset, offset + length);
}

/** The whole table at `address`, by the length its header gives. */
function tableAt(acpi: AcpiTables, base: number, address: number): Uint8Array {
  const header = acpi_header.decode(bytesAt(acpi, base, address, acpi_header.size));
  return bytesAt(acpi, base, address, header.length);
}

/** The entries of the XSDT (8-byte) or RSDT (4-byte). */
function rootEntries(table: Uint8Array, entrySize: number): number[] {
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const out: number[] = [];
  for (let at = acpi_header.size; at < table.length; at += entrySize) {
    out.push(Number(entrySize === 8 ? view.getBigUint64(at, true) : view.getUint32(at, true)));
  }
  return out;
}

interface Parsed {
  rsdp: ReturnType<typeof acpi_rsdp.decode>;
  xsdt: Uint8Array;
  rsdt: Uint8Array;
  fadt: Uint8Array;
  madt: Uint8Array;
  dsdt: Uint8Array;
  fadtAddress: number;
  madtAddress: number;
  dsdtAddress: number;
}

/** Follows the pointers from the RSDP, as an OS does. */
function parse(acpi: AcpiTables, base: number): Parsed {
  const rsdp = acpi_rsdp.decode(bytesAt(acpi, base, acpi.rsdpAddress, acpi_rsdp.size));
  const xsdt = tableAt(acpi, base, Number(rsdp.xsdt_address));
  const rsdt = tableAt(acpi, base, rsdp.rsdt_address);
  const [fadtAddress, madtAddress] = rootEntries(xsdt, 8);
  assert.ok(fadtAddress !== undefined && madtAddress !== undefined);
  const fadt = tableAt(acpi, base, fadtAddress);
  const dsdtAddress = Number(acpi_fadt.decode(fadt).x_dsdt);
  const madt = tableAt(acpi, base, madtAddress);
  const dsdt = tableAt(acpi, base, dsdtAddress);
  return { rsdp, xsdt, rsdt, fadt, madt, dsdt, fadtAddress, madtAddress, dsdtAddress };
}

function signature(table: Uint8Array): string {
  return acpi_header.decode(table).signature;
}

describe('buildAcpiTables', () => {
  test('the RSDP is ACPI 2.0, 16-byte aligned, with both checksums right', () => {
    const acpi = buildAcpiTables({ vcpus: 2, address: BASE });
    assert.equal(acpi.size, acpi.tables.length);
    assert.equal(acpi.rsdpAddress % 16, 0);
    const raw = bytesAt(acpi, BASE, acpi.rsdpAddress, acpi_rsdp.size);
    const rsdp = acpi_rsdp.decode(raw);
    assert.equal(rsdp.signature, 'RSD PTR ');
    assert.equal(rsdp.revision, 2);
    assert.equal(rsdp.length, 36);
    assert.equal(rsdp.oem_id, 'Xen');
    assert.equal(sum(raw.subarray(0, 20)), 0, 'ACPI 1.0 checksum');
    assert.equal(sum(raw), 0, 'extended checksum');
  });

  test('every table has its signature, a length inside the blob and a zero checksum', () => {
    const acpi = buildAcpiTables({ vcpus: 3, address: BASE });
    const p = parse(acpi, BASE);
    const tables = { XSDT: p.xsdt, RSDT: p.rsdt, FACP: p.fadt, APIC: p.madt, DSDT: p.dsdt };
    for (const [sig, table] of Object.entries(tables)) {
      const header = acpi_header.decode(table);
      assert.equal(header.signature, sig);
      assert.equal(header.length, table.length);
      assert.equal(sum(table), 0, `${sig} checksum`);
      assert.equal(header.oem_id, 'Xen');
      assert.equal(header.oem_table_id, 'HVM');
      assert.equal(header.creator_id, 'HVML');
    }
  });

  test('the XSDT and the RSDT list the FADT and the MADT', () => {
    const acpi = buildAcpiTables({ vcpus: 2, address: BASE });
    const p = parse(acpi, BASE);
    assert.equal(acpi_header.decode(p.xsdt).revision, 1);
    assert.deepEqual(rootEntries(p.xsdt, 8), [p.fadtAddress, p.madtAddress]);
    assert.deepEqual(rootEntries(p.rsdt, 4), [p.fadtAddress, p.madtAddress]);
    assert.equal(signature(p.fadt), 'FACP');
    assert.equal(signature(p.madt), 'APIC');
  });

  test('the FADT is hardware-reduced, with no fixed hardware, and points at the DSDT', () => {
    const acpi = buildAcpiTables({ vcpus: 1, address: BASE });
    const p = parse(acpi, BASE);
    const fadt = acpi_fadt.decode(p.fadt);
    assert.equal(fadt.header.revision, 6);
    assert.equal(fadt.header.length, 276);
    assert.equal(fadt.dsdt, p.dsdtAddress);
    assert.equal(Number(fadt.x_dsdt), p.dsdtAddress);
    assert.equal(signature(p.dsdt), 'DSDT');
    assert.ok(fadt.flags & ACPI_FADT_HW_REDUCED);
    assert.equal(fadt.iapc_boot_arch, ACPI_FADT_NO_VGA | ACPI_FADT_NO_CMOS_RTC);
    assert.equal(fadt.firmware_ctrl, 0);
    assert.equal(fadt.x_firmware_ctrl, 0n);
    assert.equal(fadt.sci_int, 0);
    assert.equal(fadt.smi_cmd, 0);
    for (const block of ['pm1a_evt_blk', 'pm1a_cnt_blk', 'pm_tmr_blk', 'gpe0_blk'] as const) {
      assert.equal(fadt[block], 0, block);
    }
    assert.equal(fadt.x_pm_tmr_blk.address, 0n);
    assert.equal(fadt.pm_tmr_len, 0);
  });

  for (const vcpus of [1, 2, 7, 128]) {
    test(`the MADT lists ${vcpus} enabled local APIC(s), APIC ID = UID = vCPU id`, () => {
      const acpi = buildAcpiTables({ vcpus, address: BASE });
      const { madt } = parse(acpi, BASE);
      const head = acpi_madt.decode(madt);
      assert.equal(head.lapic_addr, LAPIC_BASE_ADDRESS);
      assert.equal(madt.length, acpi_madt.size + vcpus * acpi_madt_lapic.size);
      for (let id = 0; id < vcpus; id++) {
        const entry = acpi_madt_lapic.decode(madt, acpi_madt.size + id * acpi_madt_lapic.size);
        assert.deepEqual(entry, {
          type: 0,
          length: 8,
          acpi_processor_id: id,
          apic_id: id,
          flags: ACPI_MADT_LAPIC_ENABLED,
        });
      }
    });
  }

  test('vCPUs past onlineVcpus are listed but disabled', () => {
    const acpi = buildAcpiTables({ vcpus: 4, onlineVcpus: 2, address: BASE });
    const { madt } = parse(acpi, BASE);
    const flags = [0, 1, 2, 3].map(
      (id) => acpi_madt_lapic.decode(madt, acpi_madt.size + id * 8).flags,
    );
    assert.deepEqual(flags, [1, 1, 0, 0]);
  });

  test('the DSDT declares Processor PRnn with ID nn for every vCPU', () => {
    const acpi = buildAcpiTables({ vcpus: 20, address: BASE });
    const { dsdt } = parse(acpi, BASE);
    const text = new TextDecoder('latin1').decode(dsdt);
    for (let id = 0; id < 20; id++) {
      const name = `PR${id.toString(16).toUpperCase().padStart(2, '0')}`;
      const at = text.indexOf(name);
      assert.ok(at > 0, name);
      // ExtOpPrefix ProcessorOp PkgLength(1 byte) NameSeg ProcID
      assert.deepEqual([dsdt[at - 3], dsdt[at - 2], dsdt[at + 4]], [0x5b, 0x83, id]);
    }
    assert.equal(text.indexOf('PR14'), -1, 'no processor past the last vCPU');
  });

  test('pointers are absolute guest-physical addresses', () => {
    const a = buildAcpiTables({ vcpus: 2, address: BASE });
    const b = buildAcpiTables({ vcpus: 2, address: 0x9_0000 });
    assert.equal(a.rsdpAddress - BASE, b.rsdpAddress - 0x9_0000);
    const pa = parse(a, BASE);
    const pb = parse(b, 0x9_0000);
    assert.equal(pa.dsdtAddress - BASE, pb.dsdtAddress - 0x9_0000);
    assert.equal(pa.madtAddress - BASE, pb.madtAddress - 0x9_0000);
  });

  test('the e820 region is ACPI and covers the whole pages holding the blob', () => {
    const aligned = buildAcpiTables({ vcpus: 128, address: BASE });
    assert.equal(aligned.e820.type, E820_ACPI);
    assert.equal(E820_ACPI, 3);
    assert.equal(aligned.e820.addr, BASE);
    assert.equal(aligned.e820.size, Math.ceil(aligned.size / 4096) * 4096);
    const odd = buildAcpiTables({ vcpus: 1, address: 0x10_0ff0 });
    assert.deepEqual(odd.e820, { addr: 0x10_0000, size: 0x2000, type: E820_ACPI });
  });

  test('rejects vCPU counts and addresses it cannot describe', () => {
    const bad = [
      { vcpus: 0, address: BASE },
      { vcpus: 129, address: BASE },
      { vcpus: 1.5, address: BASE },
      { vcpus: 4, onlineVcpus: 0, address: BASE },
      { vcpus: 4, onlineVcpus: 5, address: BASE },
      { vcpus: 1, address: BASE + 8 },
      { vcpus: 1, address: -16 },
      { vcpus: 1, address: 2 ** 32 - 0x100 },
    ];
    for (const options of bad) {
      assert.throws(() => buildAcpiTables(options), AcpiTablesError, JSON.stringify(options));
    }
  });
});

describe('AML PkgLength', () => {
  test('counts its own bytes and grows to 2 and 3 bytes', () => {
    assert.deepEqual(pkgLength(0), [1]);
    assert.deepEqual(pkgLength(62), [63]);
    // 63 + 2 = 65 = 0x41: one following byte, low nibble 1, then 0x04.
    assert.deepEqual(pkgLength(63), [0x41, 0x04]);
    assert.deepEqual(pkgLength(4093), [0x4f, 0xff]);
    // 4094 + 3 = 4097 = 0x1001 needs two following bytes.
    assert.deepEqual(pkgLength(4094), [0x81, 0x00, 0x01]);
  });
});

/** Runs a host tool in `cwd`; its combined output. */
function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  const output = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, `${command} ${args.join(' ')}:\n${output}`);
  return output;
}

describe('ACPICA reads the tables (iasl -d, acpiexec)', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'xenotype-acpi-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** Writes each table of the blob to `<dir>/<sig>.dat`; their paths by signature. */
  async function writeTables(acpi: AcpiTables, dir: string): Promise<Record<string, string>> {
    const p = parse(acpi, BASE);
    const files: Record<string, string> = {};
    for (const table of [p.dsdt, p.fadt, p.madt, p.xsdt, p.rsdt]) {
      const file = join(dir, `${signature(table).toLowerCase()}.dat`);
      await writeFile(file, table);
      files[signature(table)] = file;
    }
    return files;
  }

  for (const vcpus of [1, 4, 128]) {
    test(`iasl disassembles all tables for ${vcpus} vCPU(s) without a warning`, async () => {
      requireTool('iasl', 'acpica-tools');
      const dir = await mkdtemp(join(work, `iasl-${vcpus}-`));
      const acpi = buildAcpiTables({ vcpus, address: BASE });
      const p = parse(acpi, BASE);
      const files = await writeTables(acpi, dir);
      const listings: Record<string, string> = {};
      for (const [sig, file] of Object.entries(files)) {
        const output = run('iasl', ['-d', file], dir);
        assert.doesNotMatch(output, /warning|error|invalid|checksum/i, `${sig}:\n${output}`);
        const listing = await readFile(file.replace(/\.dat$/, '.dsl'), 'latin1');
        assert.doesNotMatch(listing, /incorrect|invalid|warning|error|terminates/i, sig);
        listings[sig] = listing;
      }
      const madt = listings.APIC ?? '';
      assert.equal(madt.match(/\[Processor Local APIC\]/g)?.length, vcpus);
      const ids = [...madt.matchAll(/Local Apic ID : ([0-9A-F]{2})/g)].map((m) => m[1]);
      assert.deepEqual(
        ids,
        Array.from({ length: vcpus }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0')),
      );
      assert.match(madt, /Local Apic Address : FEE00000/);
      assert.equal(listings.DSDT?.match(/Processor \(PR[0-9A-F]{2}, /g)?.length, vcpus);
      assert.match(listings.FACP ?? '', /Hardware Reduced \(V5\) : 1/);
      const hex = (n: number): string => n.toString(16).toUpperCase().padStart(16, '0');
      assert.match(listings.FACP ?? '', new RegExp(`DSDT Address : ${hex(p.dsdtAddress)}`));
      const xsdtEntries = [...(listings.XSDT ?? '').matchAll(/ACPI Table Address {3}\d : (\w+)/g)];
      assert.deepEqual(
        xsdtEntries.map((m) => m[1]),
        [hex(p.fadtAddress), hex(p.madtAddress)],
      );
    });
  }

  test('acpiexec loads the tables and finds one Processor object per vCPU', async () => {
    requireTool('acpiexec', 'acpica-tools');
    const dir = await mkdtemp(join(work, 'acpiexec-'));
    const files = await writeTables(buildAcpiTables({ vcpus: 6, address: BASE }), dir);
    const { DSDT, FACP, APIC } = files;
    assert.ok(DSDT && FACP && APIC);
    const output = run('acpiexec', ['-b', 'namespace', DSDT, FACP, APIC], dir);
    assert.doesNotMatch(output, /warning|error|exception/i, output);
    const cpus = [...output.matchAll(/(PR[0-9A-F]{2}) Processor .* ID ([0-9A-F]{2}) /g)];
    assert.deepEqual(
      cpus.map((m) => [m[1], m[2]]),
      [0, 1, 2, 3, 4, 5].map((i) => [`PR0${i}`, `0${i}`]),
    );
  });
});
