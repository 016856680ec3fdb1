// The ELF reader: headers, segments, sections and notes of x86 ELF32/ELF64 files, and the
// decoding of Xen's notes.

export * from './constants.js';
export {
  type ElfFile,
  type ElfProgramHeader,
  type ElfSection,
  findSection,
  isElf,
  parseElf,
  sectionData,
  sectionNotes,
  segmentData,
  segmentNotes,
} from './elf.js';
export { type ElfNote, parseNotes } from './notes.js';
export {
  decodeXenNoteList,
  decodeXenNotes,
  type L1MfnValid,
  type Phys32Reloc,
  type XenFeatures,
  type XenNotes,
  xenNoteName,
} from './xen-notes.js';
