import { readFile } from 'node:fs/promises';
import { hex } from '../elf/bytes.js';
import {
  decodeXenNotes,
  type ElfFile,
  type ElfProgramHeader,
  ET_DYN,
  ET_EXEC,
  isElf,
  NT_GNU_BUILD_ID,
  PF_R,
  PF_W,
  PF_X,
  parseElf,
  type XenNotes,
} from '../elf/index.js';
import { ImageFormatError } from '../errors.js';
import { type BzImage, extractVmlinux, isBzImage, parseBzImage } from './bzimage.js';

/** What a domain builder needs to know about an uncompressed kernel (vmlinux). */
export interface KernelImage {
  elfClass: 32 | 64;
  /** EM_386 or EM_X86_64. */
  machine: number;
  /** ET_EXEC or ET_DYN. */
  type: number;
  /** e_entry: the native entry point (a virtual address for Linux). */
  entry: bigint;
  /**
   * The loadable segments: PT_LOAD with at least one of R/W/X (the ones Xen's libelf
   * loads), in table order. Their physical ranges do not overlap.
   */
  segments: ElfProgramHeader[];
  /** Lowest p_paddr and end of the highest p_paddr + p_memsz of the segments (libelf's
   * pstart/pend). */
  physStart: bigint;
  physEnd: bigint;
  xen: XenNotes;
  /** The GNU build ID, as hex, when the kernel has one. */
  buildId?: string;
  /** The parsed ELF, for sections and everything else. */
  elf: ElfFile;
}

/** Parses a vmlinux ELF and decodes its Xen notes. */
export function describeKernel(vmlinux: Uint8Array): KernelImage {
  const elf = parseElf(vmlinux);
  if (elf.type !== ET_EXEC && elf.type !== ET_DYN) {
    throw new ImageFormatError(
      `kernel ELF has e_type ${elf.type}; a kernel is ET_EXEC (2) or ET_DYN (3)`,
    );
  }
  const segments = elf.segments.filter((p) => (p.flags & (PF_R | PF_W | PF_X)) !== 0);
  if (segments.length === 0) {
    throw new ImageFormatError('kernel ELF has no loadable (PT_LOAD) segment');
  }
  checkNoOverlap(segments);
  let physStart = segments[0]!.paddr;
  let physEnd = 0n;
  for (const s of segments) {
    if (s.paddr < physStart) physStart = s.paddr;
    const end = s.paddr + BigInt(s.memsz);
    if (end > physEnd) physEnd = end;
  }
  const kernel: KernelImage = {
    elfClass: elf.elfClass,
    machine: elf.machine,
    type: elf.type,
    entry: elf.entry,
    segments,
    physStart,
    physEnd,
    xen: decodeXenNotes(elf),
    elf,
  };
  const buildId = elf.notes.find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID);
  if (buildId) kernel.buildId = Buffer.from(buildId.desc).toString('hex');
  return kernel;
}

function checkNoOverlap(segments: ElfProgramHeader[]): void {
  const sorted = segments
    .filter((s) => s.memsz > 0)
    .sort((a, b) => (a.paddr < b.paddr ? -1 : a.paddr > b.paddr ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.paddr + BigInt(prev.memsz) > cur.paddr) {
      throw new ImageFormatError(
        `kernel segments ${prev.index} (paddr ${hex(prev.paddr)}, memsz ${hex(prev.memsz)}) and ${cur.index} (paddr ${hex(cur.paddr)}) overlap`,
      );
    }
  }
}

/** A kernel ready for a domain builder: the ELF bytes, their description, and the bzImage
 * it came from, if any. */
export interface LoadedKernel {
  vmlinux: Uint8Array;
  kernel: KernelImage;
  bzImage?: BzImage;
}

/**
 * Loads a kernel from a file path or bytes: a bzImage (its payload is decompressed) or a
 * raw ELF vmlinux.
 */
export async function loadKernel(source: string | Uint8Array): Promise<LoadedKernel> {
  const data = typeof source === 'string' ? await readFile(source) : source;
  const what = typeof source === 'string' ? source : 'kernel image';
  if (isElf(data)) return { vmlinux: data, kernel: describeKernel(data) };
  if (isBzImage(data)) {
    const bzImage = parseBzImage(data);
    const vmlinux = await extractVmlinux(data);
    return { vmlinux, kernel: describeKernel(vmlinux), bzImage };
  }
  throw new ImageFormatError(
    `${what} is neither an ELF file (no \\x7fELF at offset 0) nor a bzImage (no "HdrS" at offset 0x202)`,
  );
}
