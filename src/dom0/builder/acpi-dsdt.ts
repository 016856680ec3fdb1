/**
 * The PVH DSDT, encoded as AML by hand (ACPI 5.0 §20). Xen's PVH DSDT (iasl-compiled from
 * tools/libacpi/mk_dsdt.c with --dm-version none) declares, under \_SB, one Processor object
 * per possible vCPU, named PRnn with processor ID nn, each with _HID "ACPI0007" and _UID nn.
 * We declare the same objects for the domain's vCPUs only, and leave out Xen's CPU-hotplug
 * machinery (_MAT/_STA/_EJ0 reading its acpi_info page at 0xFC000000): with no _STA a
 * processor is present, and every vCPU the MADT lists exists.
 */
import { ACPI_DSDT_REVISION, acpi_header, sealTable, tableHeader } from './acpi-tables.js';

const ZERO_OP = 0x00;
const ONE_OP = 0x01;
const NAME_OP = 0x08;
const BYTE_PREFIX = 0x0a;
const WORD_PREFIX = 0x0b;
const DWORD_PREFIX = 0x0c;
const STRING_PREFIX = 0x0d;
const SCOPE_OP = 0x10;
const ROOT_CHAR = 0x5c;
const EXT_OP_PREFIX = 0x5b;
const PROCESSOR_OP = 0x83;

/** A PkgLength: the length of what follows it plus its own 1 to 4 bytes. */
export function pkgLength(contentLength: number): number[] {
  if (contentLength + 1 <= 0x3f) return [contentLength + 1];
  for (let extra = 1; extra <= 3; extra++) {
    const total = contentLength + 1 + extra;
    if (total < 2 ** (4 + 8 * extra)) {
      const out = [(extra << 6) | (total & 0x0f)];
      for (let i = 0; i < extra; i++) out.push(Math.floor(total / 2 ** (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new RangeError(`AML package of ${contentLength} bytes is too long`);
}

/** A four-character NameSeg: a leading A–Z or '_', then A–Z, 0–9 or '_'. */
function nameSeg(name: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{3}$/.test(name)) throw new RangeError(`bad AML NameSeg "${name}"`);
  return [...name].map((c) => c.charCodeAt(0));
}

/** The shortest integer encoding, as iasl emits it. */
function integer(value: number): number[] {
  if (value === 0) return [ZERO_OP];
  if (value === 1) return [ONE_OP];
  if (value <= 0xff) return [BYTE_PREFIX, value];
  if (value <= 0xffff) return [WORD_PREFIX, value & 0xff, value >>> 8];
  return [DWORD_PREFIX, ...le32(value)];
}

function le32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

function string(text: string): number[] {
  return [STRING_PREFIX, ...[...text].map((c) => c.charCodeAt(0)), 0];
}

/** Processor (PRnn, nn, 0, 0) { Name (_HID, "ACPI0007") Name (_UID, nn) } */
function processor(id: number): number[] {
  const name = `PR${id.toString(16).toUpperCase().padStart(2, '0')}`;
  // No P_BLK: Xen's points at port 0xb010, which PVH does not emulate.
  const body = [
    ...nameSeg(name),
    id,
    ...le32(0),
    0,
    NAME_OP,
    ...nameSeg('_HID'),
    ...string('ACPI0007'),
    NAME_OP,
    ...nameSeg('_UID'),
    ...integer(id),
  ];
  return [EXT_OP_PREFIX, PROCESSOR_OP, ...pkgLength(body.length), ...body];
}

/** The DSDT for `vcpus` processors (IDs 0 … vcpus − 1), with its header and checksum. */
export function buildDsdt(vcpus: number): Uint8Array {
  const cpus: number[] = [];
  for (let id = 0; id < vcpus; id++) cpus.push(...processor(id));
  const scopeBody = [ROOT_CHAR, ...nameSeg('_SB_'), ...cpus];
  const aml = [SCOPE_OP, ...pkgLength(scopeBody.length), ...scopeBody];
  const table = new Uint8Array(acpi_header.size + aml.length);
  table.set(acpi_header.encode(tableHeader('DSDT', ACPI_DSDT_REVISION)));
  table.set(aml, acpi_header.size);
  return sealTable(table);
}
