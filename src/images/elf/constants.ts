// ELF constants from the System V gABI, limited to what the kernel and module loaders use.

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const; // "\x7fELF"

// e_ident[EI_CLASS], e_ident[EI_DATA], e_ident[EI_VERSION]
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export const EV_CURRENT = 1;

// e_type
export const ET_NONE = 0;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

// e_machine
export const EM_386 = 3;
export const EM_X86_64 = 62;

// p_type
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const PT_GNU_STACK = 0x6474e551;
export const PT_GNU_RELRO = 0x6474e552;
export const PT_GNU_PROPERTY = 0x6474e553;

// p_flags
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

// sh_type
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;

// Special section indexes and the extended-numbering escapes.
export const SHN_UNDEF = 0;
export const SHN_XINDEX = 0xffff;
export const PN_XNUM = 0xffff;

// Note types of the "GNU" owner that the loaders care about.
export const NT_GNU_BUILD_ID = 3;

/** Sizes of the file header, a program header and a section header, by class. */
export const ELF32_SIZES = { ehdr: 52, phdr: 32, shdr: 40 } as const;
export const ELF64_SIZES = { ehdr: 64, phdr: 56, shdr: 64 } as const;

/** A readable name for a p_type value, for messages. */
export function segmentTypeName(type: number): string {
  switch (type) {
    case PT_NULL:
      return 'PT_NULL';
    case PT_LOAD:
      return 'PT_LOAD';
    case PT_DYNAMIC:
      return 'PT_DYNAMIC';
    case PT_INTERP:
      return 'PT_INTERP';
    case PT_NOTE:
      return 'PT_NOTE';
    case PT_PHDR:
      return 'PT_PHDR';
    case PT_TLS:
      return 'PT_TLS';
    case PT_GNU_EH_FRAME:
      return 'PT_GNU_EH_FRAME';
    case PT_GNU_STACK:
      return 'PT_GNU_STACK';
    case PT_GNU_RELRO:
      return 'PT_GNU_RELRO';
    case PT_GNU_PROPERTY:
      return 'PT_GNU_PROPERTY';
    default:
      return `type 0x${type.toString(16)}`;
  }
}
