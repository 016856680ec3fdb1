import { ImageFormatError } from '../errors.js';
import { cString, hex } from './bytes.js';
import {
  ELF_MAGIC,
  ELF32_SIZES,
  ELF64_SIZES,
  ELFCLASS32,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  EM_386,
  EM_X86_64,
  EV_CURRENT,
  PN_XNUM,
  PT_LOAD,
  PT_NOTE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NOTE,
  SHT_NULL,
  SHT_STRTAB,
  segmentTypeName,
} from './constants.js';
import { type ElfNote, parseNotes } from './notes.js';

// Number vs bigint: addresses (entry, vaddr, paddr, sh_addr) are bigint, because an x86-64
// kernel lives at 0xffffffff8xxxxxxx, beyond what a double holds exactly; parsing a kernel
// is not a hot path, so BigInt costs nothing that matters here. Offsets, sizes and counts
// are numbers: offsets and file sizes are checked against the file's length, and memory
// sizes are checked to be safe integers, so no precision is lost.

/** A program header. */
export interface ElfProgramHeader {
  /** Index in the program header table. */
  index: number;
  type: number;
  /** PF_R | PF_W | PF_X bits. */
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  align: number;
}

/** A section header, with its name resolved through the section name string table. */
export interface ElfSection {
  index: number;
  name: string;
  type: number;
  /** SHF_* bits (all defined ones are in the low 32 bits). */
  flags: number;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

/** A parsed little-endian x86 ELF file. All views share the bytes of `data`. */
export interface ElfFile {
  data: Uint8Array;
  elfClass: 32 | 64;
  /** e_type: ET_EXEC, ET_DYN, ET_REL … */
  type: number;
  /** e_machine: EM_386 or EM_X86_64. */
  machine: number;
  osabi: number;
  entry: bigint;
  flags: number;
  programHeaders: ElfProgramHeader[];
  /** The PT_LOAD program headers, in table order. */
  segments: ElfProgramHeader[];
  /** All section headers including the null section 0; empty when the file has none. */
  sections: ElfSection[];
  /** Notes of the PT_NOTE segments, or of the SHT_NOTE sections when there is no PT_NOTE. */
  notes: ElfNote[];
}

/** Whether `data` starts with the ELF magic. */
export function isElf(data: Uint8Array): boolean {
  return data.length >= 4 && ELF_MAGIC.every((b, i) => data[i] === b);
}

/** Parses an ELF32 or ELF64 little-endian file for EM_386 or EM_X86_64. */
export function parseElf(data: Uint8Array): ElfFile {
  if (data.length < 16) {
    throw new ImageFormatError(
      `ELF file truncated: ${data.length} bytes, the identification alone needs 16`,
    );
  }
  if (!isElf(data)) {
    const found = Array.from(data.subarray(0, 4), (b) => b.toString(16).padStart(2, '0'));
    throw new ImageFormatError(`not an ELF file: bad magic ${found.join(' ')} at offset 0x0`);
  }
  const cls = data[4];
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) {
    throw new ImageFormatError(`ELF file has an invalid class ${cls} at offset 0x4`);
  }
  const encoding = data[5];
  if (encoding === ELFDATA2MSB) {
    throw new ImageFormatError(
      'ELF file is big-endian (offset 0x5); only little-endian x86 is supported',
    );
  }
  if (encoding !== ELFDATA2LSB) {
    throw new ImageFormatError(`ELF file has an invalid data encoding ${encoding} at offset 0x5`);
  }
  if (data[6] !== EV_CURRENT) {
    throw new ImageFormatError(`ELF file has an unknown version ${data[6]} at offset 0x6`);
  }
  const is64 = cls === ELFCLASS64;
  const sizes = is64 ? ELF64_SIZES : ELF32_SIZES;
  const what = is64 ? 'ELF64' : 'ELF32';
  if (data.length < sizes.ehdr) {
    throw new ImageFormatError(
      `${what} header truncated: file has ${data.length} bytes, the header needs ${sizes.ehdr}`,
    );
  }
  const r = new FieldReader(data, is64);
  const type = r.u16(16);
  const machine = r.u16(18);
  if (machine !== EM_386 && machine !== EM_X86_64) {
    throw new ImageFormatError(
      `ELF machine ${machine} at offset 0x12 is not x86 (EM_386 = 3) or x86-64 (EM_X86_64 = 62)`,
    );
  }
  const entry = r.word(24);
  const phoff = r.num(is64 ? 32 : 28, 'e_phoff');
  const shoff = r.num(is64 ? 40 : 32, 'e_shoff');
  const flags = r.u32(is64 ? 48 : 36);
  const ehsize = r.u16(is64 ? 52 : 40);
  const phentsize = r.u16(is64 ? 54 : 42);
  let phnum = r.u16(is64 ? 56 : 44);
  const shentsize = r.u16(is64 ? 58 : 46);
  let shnum = r.u16(is64 ? 60 : 48);
  let shstrndx = r.u16(is64 ? 62 : 50);
  if (ehsize < sizes.ehdr) {
    throw new ImageFormatError(`${what} e_ehsize ${ehsize} is smaller than ${sizes.ehdr}`);
  }

  // Extended numbering: counts that do not fit 16 bits live in section header 0.
  if (shoff !== 0) {
    checkTable(data, shoff, 1, shentsize, sizes.shdr, 'section header table');
    if (shnum === 0) shnum = r.num(shoff + (is64 ? 32 : 20), 'sh_size of section 0');
    if (shstrndx === SHN_XINDEX) shstrndx = r.u32(shoff + (is64 ? 40 : 24));
    if (phnum === PN_XNUM) phnum = r.u32(shoff + (is64 ? 44 : 28));
  } else {
    shnum = 0;
  }
  if (phnum > 0) checkTable(data, phoff, phnum, phentsize, sizes.phdr, 'program header table');
  if (shnum > 0) checkTable(data, shoff, shnum, shentsize, sizes.shdr, 'section header table');

  const programHeaders: ElfProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    programHeaders.push(readProgramHeader(r, phoff + i * phentsize, i, data.length));
  }
  const sections = readSections(r, data, shoff, shnum, shentsize, shstrndx);

  const elf: ElfFile = {
    data,
    elfClass: is64 ? 64 : 32,
    type,
    machine,
    osabi: data[7] ?? 0,
    entry,
    flags,
    programHeaders,
    segments: programHeaders.filter((p) => p.type === PT_LOAD),
    sections,
    notes: [],
  };
  const hasNoteSegment = programHeaders.some((p) => p.type === PT_NOTE);
  elf.notes = hasNoteSegment ? segmentNotes(elf) : sectionNotes(elf);
  return elf;
}

/** The notes of every PT_NOTE segment, in table order. */
export function segmentNotes(elf: ElfFile): ElfNote[] {
  const notes: ElfNote[] = [];
  for (const p of elf.programHeaders) {
    // Xen's libelf skips note segments at offset 0: some old binutils left p_offset unset.
    if (p.type !== PT_NOTE || p.offset === 0 || p.filesz === 0) continue;
    notes.push(...parseNotes(elf.data, p.offset, p.filesz, p.align, `PT_NOTE segment ${p.index}`));
  }
  return notes;
}

/** The notes of every SHT_NOTE section, in table order. */
export function sectionNotes(elf: ElfFile): ElfNote[] {
  const notes: ElfNote[] = [];
  for (const s of elf.sections) {
    if (s.type !== SHT_NOTE || s.size === 0) continue;
    const where = `SHT_NOTE section ${s.index} (${s.name})`;
    notes.push(...parseNotes(elf.data, s.offset, s.size, s.addralign, where));
  }
  return notes;
}

/** The first section with this name, e.g. ".modinfo". */
export function findSection(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}

/** A section's bytes in the file (empty for SHT_NOBITS and SHT_NULL). */
export function sectionData(elf: ElfFile, section: ElfSection): Uint8Array {
  if (section.type === SHT_NOBITS || section.type === SHT_NULL) return elf.data.subarray(0, 0);
  return elf.data.subarray(section.offset, section.offset + section.size);
}

/** A segment's bytes in the file (its first `filesz` bytes; the rest up to memsz is zero). */
export function segmentData(elf: ElfFile, segment: ElfProgramHeader): Uint8Array {
  return elf.data.subarray(segment.offset, segment.offset + segment.filesz);
}

function checkTable(
  data: Uint8Array,
  offset: number,
  count: number,
  entsize: number,
  minEntsize: number,
  what: string,
): void {
  if (entsize < minEntsize) {
    throw new ImageFormatError(`${what} entry size ${entsize} is smaller than ${minEntsize}`);
  }
  const size = count * entsize;
  if (offset > data.length || size > data.length - offset) {
    throw new ImageFormatError(
      `${what} at offset ${hex(offset)} (${count} entries of ${entsize} bytes) runs past the end of the file (${hex(data.length)} bytes)`,
    );
  }
}

function readProgramHeader(
  r: FieldReader,
  at: number,
  index: number,
  fileSize: number,
): ElfProgramHeader {
  const is64 = r.is64;
  const type = r.u32(at);
  const name = `segment ${index} (${segmentTypeName(type)}, header at ${hex(at)})`;
  const ph: ElfProgramHeader = {
    index,
    type,
    flags: r.u32(at + (is64 ? 4 : 24)),
    offset: r.num(at + (is64 ? 8 : 4), `p_offset of ${name}`),
    vaddr: r.word(at + (is64 ? 16 : 8)),
    paddr: r.word(at + (is64 ? 24 : 12)),
    filesz: r.num(at + (is64 ? 32 : 16), `p_filesz of ${name}`),
    memsz: r.num(at + (is64 ? 40 : 20), `p_memsz of ${name}`),
    align: r.num(at + (is64 ? 48 : 28), `p_align of ${name}`),
  };
  if (ph.filesz > 0 && (ph.offset > fileSize || ph.filesz > fileSize - ph.offset)) {
    throw new ImageFormatError(
      `${name} at file offset ${hex(ph.offset)} with p_filesz ${hex(ph.filesz)} runs past the end of the file (${hex(fileSize)} bytes)`,
    );
  }
  if (type === PT_LOAD) {
    if (ph.filesz > ph.memsz) {
      throw new ImageFormatError(
        `${name} has p_filesz ${hex(ph.filesz)} larger than p_memsz ${hex(ph.memsz)}`,
      );
    }
    const limit = 1n << (is64 ? 64n : 32n);
    const memsz = BigInt(ph.memsz);
    if (ph.vaddr + memsz > limit || ph.paddr + memsz > limit) {
      throw new ImageFormatError(
        `${name} with p_memsz ${hex(ph.memsz)} wraps past the top of the address space (vaddr ${hex(ph.vaddr)}, paddr ${hex(ph.paddr)})`,
      );
    }
  }
  return ph;
}

function readSections(
  r: FieldReader,
  data: Uint8Array,
  shoff: number,
  shnum: number,
  shentsize: number,
  shstrndx: number,
): ElfSection[] {
  const is64 = r.is64;
  const sections: ElfSection[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    const where = `section ${i} (header at ${hex(at)})`;
    nameOffsets.push(r.u32(at));
    const s: ElfSection = {
      index: i,
      name: '',
      type: r.u32(at + 4),
      flags: r.num(at + 8, `sh_flags of ${where}`),
      addr: r.word(at + (is64 ? 16 : 12)),
      offset: r.num(at + (is64 ? 24 : 16), `sh_offset of ${where}`),
      size: r.num(at + (is64 ? 32 : 20), `sh_size of ${where}`),
      link: r.u32(at + (is64 ? 40 : 24)),
      info: r.u32(at + (is64 ? 44 : 28)),
      addralign: r.num(at + (is64 ? 48 : 32), `sh_addralign of ${where}`),
      entsize: r.num(at + (is64 ? 56 : 36), `sh_entsize of ${where}`),
    };
    const inFile = s.type !== SHT_NOBITS && s.type !== SHT_NULL && i !== 0;
    if (inFile && (s.offset > data.length || s.size > data.length - s.offset)) {
      throw new ImageFormatError(
        `${where} at file offset ${hex(s.offset)} with sh_size ${hex(s.size)} runs past the end of the file (${hex(data.length)} bytes)`,
      );
    }
    sections.push(s);
  }
  if (shnum === 0 || shstrndx === SHN_UNDEF) return sections;
  const strtab = sections[shstrndx];
  if (strtab === undefined) {
    throw new ImageFormatError(
      `ELF section name table index ${shstrndx} is out of range (${shnum} sections)`,
    );
  }
  if (strtab.type !== SHT_STRTAB) {
    throw new ImageFormatError(
      `ELF section name table (section ${shstrndx}) has type ${strtab.type}, not SHT_STRTAB`,
    );
  }
  const names = data.subarray(strtab.offset, strtab.offset + strtab.size);
  for (const s of sections) {
    const off = nameOffsets[s.index] ?? 0;
    if (off >= names.length && !(off === 0 && names.length === 0)) {
      throw new ImageFormatError(
        `section ${s.index} name offset ${hex(off)} is outside the section name table (${hex(names.length)} bytes)`,
      );
    }
    s.name = cString(names.subarray(off));
  }
  return sections;
}

/** Little-endian field reads. Callers check that the whole structure is inside the file. */
class FieldReader {
  private readonly view: DataView;

  constructor(
    data: Uint8Array,
    readonly is64: boolean,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  u16(at: number): number {
    return this.view.getUint16(at, true);
  }

  u32(at: number): number {
    return this.view.getUint32(at, true);
  }

  /** An address-sized field (Elf32_Addr or Elf64_Addr) as a bigint. */
  word(at: number): bigint {
    return this.is64 ? this.view.getBigUint64(at, true) : BigInt(this.view.getUint32(at, true));
  }

  /** An address-sized offset, size or flag word as a number; refuses values above 2^53. */
  num(at: number, what: string): number {
    const value = this.word(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ImageFormatError(`${what} at offset ${hex(at)} is absurdly large: ${hex(value)}`);
    }
    return Number(value);
  }
}
