import {
  XEN_ELFNOTE_BSD_SYMTAB,
  XEN_ELFNOTE_ENTRY,
  XEN_ELFNOTE_FEATURES,
  XEN_ELFNOTE_GUEST_OS,
  XEN_ELFNOTE_GUEST_VERSION,
  XEN_ELFNOTE_HV_START_LOW,
  XEN_ELFNOTE_HYPERCALL_PAGE,
  XEN_ELFNOTE_INFO,
  XEN_ELFNOTE_INIT_P2M,
  XEN_ELFNOTE_L1_MFN_VALID,
  XEN_ELFNOTE_LOADER,
  XEN_ELFNOTE_MOD_START_PFN,
  XEN_ELFNOTE_NAMES,
  XEN_ELFNOTE_OWNER,
  XEN_ELFNOTE_PADDR_OFFSET,
  XEN_ELFNOTE_PAE_MODE,
  XEN_ELFNOTE_PHYS32_ENTRY,
  XEN_ELFNOTE_PHYS32_RELOC,
  XEN_ELFNOTE_SUPPORTED_FEATURES,
  XEN_ELFNOTE_SUSPEND_CANCEL,
  XEN_ELFNOTE_VIRT_BASE,
  XEN_ELFNOTE_XEN_VERSION,
  XENFEAT_BITS,
} from '../../abi/elfnote.js';
import { ImageFormatError } from '../errors.js';
import { cString, hex } from './bytes.js';
import { PT_NOTE } from './constants.js';
import { type ElfFile, sectionNotes } from './elf.js';
import type { ElfNote } from './notes.js';

/** One mask/value pair of XEN_ELFNOTE_L1_MFN_VALID. */
export interface L1MfnValid {
  mask: bigint;
  value: bigint;
}

/**
 * The guest's feature flags, decoded as Xen's libelf decodes them.
 *
 * The FEATURES string lists XENFEAT names separated by '|'. A name with a leading '!' is
 * required: the kernel cannot run without it. A name without '!' is supported but optional.
 * Every listed name, required or not, counts as supported, and the SUPPORTED_FEATURES
 * bitmap adds further supported bits (it lets a kernel declare features an older Xen has no
 * name for). Names Xen does not know are ignored when optional; Xen refuses to build a
 * domain from a kernel that requires one.
 */
export interface XenFeatures {
  /** The FEATURES strings as written, one per note (usually one). */
  strings: string[];
  /** Known names marked '!'. */
  required: string[];
  /** Known names listed without '!'. */
  optional: string[];
  /** Names not in features.h; a required one makes the kernel unbootable on Xen. */
  unknown: { name: string; required: boolean }[];
  /** Bits of the required names. */
  requiredMask: number;
  /** Bits of every listed known name, or-ed with the SUPPORTED_FEATURES bitmap. */
  supportedMask: number;
  /** Names of the bits of `supportedMask` (bits without a name appear as "bit<N>"). */
  supported: string[];
}

/** PVH relocation constraints (XEN_ELFNOTE_PHYS32_RELOC), present only as given. */
export interface Phys32Reloc {
  /** Required alignment of the load address; when absent the largest PT_LOAD p_align of at
   * least 4 KiB is used, else 2 MiB. */
  align?: number;
  /** Lowest start address (default 0). */
  min?: number;
  /** Highest address of the image's last byte (default 0xffffffff). */
  max?: number;
}

/**
 * What a kernel's Xen notes say. A field is absent when its note is absent; Xen's defaults
 * (VIRT_BASE 0, PADDR_OFFSET 0, entry = e_entry …) are for the domain builder to apply.
 * Addresses are bigint: a 64-bit kernel's virtual addresses exceed 2^53.
 */
export interface XenNotes {
  /** Where the notes came from: PT_NOTE segments, SHT_NOTE sections, or nowhere. */
  source: 'segments' | 'sections' | 'none';
  /** The raw "Xen" notes, in file order. */
  notes: ElfNote[];
  info?: string[];
  entry?: bigint;
  hypercallPage?: bigint;
  virtBase?: bigint;
  paddrOffset?: bigint;
  xenVersion?: string;
  guestOs?: string;
  guestVersion?: string;
  loader?: string;
  paeMode?: string;
  bsdSymtab?: boolean;
  hvStartLow?: bigint;
  l1MfnValid?: L1MfnValid[];
  suspendCancel?: boolean;
  initP2m?: bigint;
  /** The guest accepts an initrd that its initial page tables do not map. */
  modStartPfn?: boolean;
  /** The raw SUPPORTED_FEATURES bitmap (submap 0). */
  supportedFeatures?: number;
  /** The 32-bit physical PVH entry point. */
  phys32Entry?: bigint;
  phys32Reloc?: Phys32Reloc;
  features: XenFeatures;
}

/**
 * Decodes the Xen notes of an ELF file. Like Xen's libelf, it reads the PT_NOTE segments and
 * falls back to the SHT_NOTE sections when those hold no Xen note. When a note appears more
 * than once the last one wins, except FEATURES, whose flags accumulate.
 */
export function decodeXenNotes(elf: ElfFile): XenNotes {
  // elf.notes holds the segments' notes when there is a PT_NOTE, else the sections' notes.
  const fromSegments = elf.programHeaders.some((p) => p.type === PT_NOTE);
  let notes = elf.notes.filter((n) => n.name === XEN_ELFNOTE_OWNER);
  let source: XenNotes['source'] = fromSegments ? 'segments' : 'sections';
  if (notes.length === 0 && fromSegments) {
    notes = sectionNotes(elf).filter((n) => n.name === XEN_ELFNOTE_OWNER);
    source = 'sections';
  }
  return decodeXenNoteList(notes, elf.elfClass, notes.length > 0 ? source : 'none');
}

/** Decodes a list of "Xen" notes (other owners must already be filtered out). */
export function decodeXenNoteList(
  notes: ElfNote[],
  elfClass: 32 | 64,
  source: XenNotes['source'] = 'segments',
): XenNotes {
  const out: XenNotes = { source, notes, features: emptyFeatures() };
  for (const note of notes) {
    switch (note.type) {
      case XEN_ELFNOTE_INFO:
        out.info = [...(out.info ?? []), string(note)];
        break;
      case XEN_ELFNOTE_ENTRY:
        out.entry = numeric(note);
        break;
      case XEN_ELFNOTE_HYPERCALL_PAGE:
        out.hypercallPage = numeric(note);
        break;
      case XEN_ELFNOTE_VIRT_BASE:
        out.virtBase = numeric(note);
        break;
      case XEN_ELFNOTE_PADDR_OFFSET:
        out.paddrOffset = numeric(note);
        break;
      case XEN_ELFNOTE_XEN_VERSION:
        out.xenVersion = string(note);
        break;
      case XEN_ELFNOTE_GUEST_OS:
        out.guestOs = string(note);
        break;
      case XEN_ELFNOTE_GUEST_VERSION:
        out.guestVersion = string(note);
        break;
      case XEN_ELFNOTE_LOADER:
        out.loader = string(note);
        break;
      case XEN_ELFNOTE_PAE_MODE:
        out.paeMode = string(note);
        break;
      case XEN_ELFNOTE_FEATURES:
        addFeatureString(out.features, string(note));
        break;
      case XEN_ELFNOTE_BSD_SYMTAB:
        out.bsdSymtab = string(note) === 'yes';
        break;
      case XEN_ELFNOTE_HV_START_LOW:
        out.hvStartLow = numeric(note);
        break;
      case XEN_ELFNOTE_L1_MFN_VALID:
        out.l1MfnValid = l1MfnValid(note, elfClass);
        break;
      case XEN_ELFNOTE_SUSPEND_CANCEL:
        out.suspendCancel = numeric(note) !== 0n;
        break;
      case XEN_ELFNOTE_INIT_P2M:
        out.initP2m = numeric(note);
        break;
      case XEN_ELFNOTE_MOD_START_PFN:
        out.modStartPfn = numeric(note) !== 0n;
        break;
      case XEN_ELFNOTE_SUPPORTED_FEATURES:
        out.supportedFeatures = u32Array(note)[0] ?? 0;
        break;
      case XEN_ELFNOTE_PHYS32_ENTRY: {
        const entry = numeric(note);
        if (entry > 0xffffffffn) {
          throw new ImageFormatError(
            `Xen note PHYS32_ENTRY at offset ${hex(note.offset)} is ${hex(entry)}, beyond 32 bits`,
          );
        }
        out.phys32Entry = entry;
        break;
      }
      case XEN_ELFNOTE_PHYS32_RELOC:
        out.phys32Reloc = phys32Reloc(note);
        break;
      default:
        // Unknown types are skipped, as Xen does.
        break;
    }
  }
  const f = out.features;
  f.supportedMask = (f.supportedMask | (out.supportedFeatures ?? 0)) >>> 0;
  f.supported = bitNames(f.supportedMask);
  return out;
}

/** Xen's name for a note type, or its number. */
export function xenNoteName(type: number): string {
  return XEN_ELFNOTE_NAMES[type] ?? `type ${type}`;
}

function emptyFeatures(): XenFeatures {
  return {
    strings: [],
    required: [],
    optional: [],
    unknown: [],
    requiredMask: 0,
    supportedMask: 0,
    supported: [],
  };
}

function addFeatureString(f: XenFeatures, text: string): void {
  f.strings.push(text);
  for (const token of text.split('|')) {
    if (token === '') continue;
    const required = token.startsWith('!');
    const name = required ? token.slice(1) : token;
    const bit = Object.hasOwn(XENFEAT_BITS, name) ? XENFEAT_BITS[name] : undefined;
    if (bit === undefined) {
      f.unknown.push({ name, required });
      continue;
    }
    f.supportedMask = (f.supportedMask | (1 << bit)) >>> 0;
    if (required) {
      f.requiredMask = (f.requiredMask | (1 << bit)) >>> 0;
      if (!f.required.includes(name)) f.required.push(name);
    } else if (!f.optional.includes(name)) {
      f.optional.push(name);
    }
  }
  // A name both listed plainly and with '!' is required.
  f.optional = f.optional.filter((n) => !f.required.includes(n));
}

function bitNames(mask: number): string[] {
  const byBit = new Map(Object.entries(XENFEAT_BITS).map(([name, bit]) => [bit, name]));
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (mask & (1 << bit)) names.push(byBit.get(bit) ?? `bit${bit}`);
  }
  return names;
}

function describe(note: ElfNote): string {
  return `Xen note ${xenNoteName(note.type)} at offset ${hex(note.offset)}`;
}

/** A numeric note: 1, 2, 4 or 8 little-endian bytes, as its descsz says. */
function numeric(note: ElfNote): bigint {
  const d = note.desc;
  if (d.length !== 1 && d.length !== 2 && d.length !== 4 && d.length !== 8) {
    throw new ImageFormatError(
      `${describe(note)} has descsz ${d.length}; a numeric note has 1, 2, 4 or 8 bytes`,
    );
  }
  return readLe(d, 0, d.length);
}

/** A string note: ASCII up to the first NUL, or the whole descriptor (Linux writes FEATURES
 * with .ascii, without a NUL). */
function string(note: ElfNote): string {
  return cString(note.desc);
}

function u32Array(note: ElfNote): number[] {
  if (note.desc.length % 4 !== 0) {
    throw new ImageFormatError(
      `${describe(note)} has descsz ${note.desc.length}, not a multiple of 4`,
    );
  }
  const values: number[] = [];
  for (let i = 0; i < note.desc.length; i += 4) values.push(Number(readLe(note.desc, i, 4)));
  return values;
}

function l1MfnValid(note: ElfNote, elfClass: 32 | 64): L1MfnValid[] {
  const size = note.desc.length;
  // Entries are maddr_t-sized: 8 bytes on x86-64 and 32-bit PAE; 4 for old non-PAE kernels.
  let unit: number;
  if (elfClass === 64 || size === 16) unit = 8;
  else if (size === 8) unit = 4;
  else unit = 0;
  if (unit === 0 || size === 0 || size % (2 * unit) !== 0) {
    throw new ImageFormatError(
      `${describe(note)} has descsz ${size}, not a whole number of mask/value pairs`,
    );
  }
  const pairs: L1MfnValid[] = [];
  for (let i = 0; i < size; i += 2 * unit) {
    pairs.push({ mask: readLe(note.desc, i, unit), value: readLe(note.desc, i + unit, unit) });
  }
  return pairs;
}

function phys32Reloc(note: ElfNote): Phys32Reloc {
  const words = u32Array(note);
  const reloc: Phys32Reloc = {};
  if (words[0] !== undefined) reloc.align = words[0];
  if (words[1] !== undefined) reloc.min = words[1];
  if (words[2] !== undefined) reloc.max = words[2];
  return reloc;
}

function readLe(bytes: Uint8Array, at: number, size: number): bigint {
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i] ?? 0);
  return value;
}
