// Test support (not used at run time): builds small ELF files with the system's gcc and ld,
// and runs readelf on them, so the parser is checked against the GNU tools.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The note macro of Linux's include/linux/elfnote.h, as Linux writes its Xen notes. */
export const ELFNOTE_MACRO = `
#define ELFNOTE(name, type, desc)            \\
  .pushsection .note.name, "a", @note;       \\
  .balign 4;                                 \\
  .long 2f - 1f;                             \\
  .long 4484f - 3f;                          \\
  .long type;                                \\
1:.asciz #name;                              \\
2:.balign 4;                                 \\
3:desc;                                      \\
4484:.balign 4;                              \\
  .popsection;
`;

export interface BuiltElf {
  path: string;
  data: Uint8Array;
}

/** A scratch directory for one test file's builds; `remove()` deletes it. */
export class ElfWorkshop {
  readonly dir = mkdtempSync(join(tmpdir(), 'xenotype-elf-'));
  private count = 0;

  /** Assembles `source` (preprocessed like a .S file) and links it with `script`. */
  build(source: string, script: string, bits: 32 | 64, ldFlags: string[] = []): BuiltElf {
    const n = this.count++;
    const src = join(this.dir, `t${n}.S`);
    const obj = join(this.dir, `t${n}.o`);
    const lds = join(this.dir, `t${n}.ld`);
    const out = join(this.dir, `t${n}.elf`);
    writeFileSync(src, `${ELFNOTE_MACRO}\n${source}\n`);
    writeFileSync(lds, script);
    execFileSync('gcc', [bits === 32 ? '-m32' : '-m64', '-c', src, '-o', obj]);
    execFileSync('ld', [
      '-m',
      bits === 32 ? 'elf_i386' : 'elf_x86_64',
      '-T',
      lds,
      ...ldFlags,
      '-o',
      out,
      obj,
    ]);
    return { path: out, data: new Uint8Array(readFileSync(out)) };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs readelf with the given options (e.g. ['-lW']) on a file. */
export function readelf(options: string[], path: string): string {
  return execFileSync('readelf', [...options, path], { encoding: 'utf8' });
}

/** The program headers of `readelf -lW`. */
export function readelfSegments(path: string): {
  type: string;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  flags: string;
  align: number;
}[] {
  const re =
    /^\s+(\w+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s(.{3})\s(0x[0-9a-f]+)$/;
  const rows = [];
  for (const line of readelf(['-lW'], path).split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    rows.push({
      type: m[1]!,
      offset: Number(m[2]),
      vaddr: BigInt(m[3]!),
      paddr: BigInt(m[4]!),
      filesz: Number(m[5]),
      memsz: Number(m[6]),
      flags: m[7]!.trim(),
      align: Number(m[8]),
    });
  }
  return rows;
}

/** The notes of `readelf -nW`: owner, descriptor size and descriptor bytes as hex. */
export function readelfNotes(path: string): { owner: string; size: number; desc: string }[] {
  const rows = [];
  for (const line of readelf(['-nW'], path).split('\n')) {
    const m = /^\s+(\S+)\s+(0x[0-9a-f]{8})\s/.exec(line);
    if (!m) continue;
    const data = /description data: ([0-9a-f ]*)/.exec(line)?.[1];
    const buildId = /Build ID: ([0-9a-f]+)/.exec(line)?.[1];
    rows.push({
      owner: m[1]!,
      size: Number(m[2]),
      desc: (data ?? buildId ?? '').replace(/ /g, ''),
    });
  }
  return rows;
}

/** The section headers of `readelf -SW`: name, type, offset and size. */
export function readelfSections(
  path: string,
): { index: number; name: string; type: string; offset: number; size: number }[] {
  const re = /^\s+\[\s*(\d+)\]\s+(\S*)\s+([A-Z_]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)\s/;
  const rows = [];
  for (const line of readelf(['-SW'], path).split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    rows.push({
      index: Number(m[1]),
      name: m[2]!,
      type: m[3]!,
      offset: Number.parseInt(m[4]!, 16),
      size: Number.parseInt(m[5]!, 16),
    });
  }
  return rows;
}

/**
 * A kernel-shaped test program with every Xen note, written the way Linux's
 * arch/x86/xen/xen-head.S and arch/x86/platform/pvh/head.S write them. `bits` picks 8-byte
 * (.quad) or 4-byte (.long) numeric notes and the kernel's address layout.
 */
export function xenKernelSource(bits: 32 | 64): string {
  const ptr = bits === 64 ? '.quad' : '.long';
  const base = bits === 64 ? '0xffffffff80000000' : '0xc0000000';
  const hvStartLow = bits === 64 ? '0xffff800000000000' : '0xf5800000';
  return `
  .text
  .globl _start
_start: hlt
startup_xen: nop
  .balign 4096
hypercall_page: .skip 4096
pvh_start: nop
  .data
  .long 0x12345678
  .bss
  .skip 8192
  .section .modinfo, "a"
  .asciz "license=GPL"
  .asciz "name=xenotype_test"

ELFNOTE(Xen, 0, .asciz "NAME=value")
ELFNOTE(Xen, 6, .asciz "linux")
ELFNOTE(Xen, 7, .asciz "2.6")
ELFNOTE(Xen, 5, .asciz "xen-3.0")
ELFNOTE(Xen, 3, ${ptr} ${base})
ELFNOTE(Xen, 15, .quad 0x8000000000)
ELFNOTE(Xen, 1, ${ptr} startup_xen)
ELFNOTE(Xen, 2, ${ptr} hypercall_page)
ELFNOTE(Xen, 10, .ascii "!writable_page_tables|pae_pgdir_above_4gb|bogus_flag")
ELFNOTE(Xen, 9, .asciz "yes")
ELFNOTE(Xen, 8, .asciz "generic")
ELFNOTE(Xen, 11, .asciz "yes")
ELFNOTE(Xen, 13, .quad 1; .quad 1)
ELFNOTE(Xen, 14, .long 1)
ELFNOTE(Xen, 16, .long 1)
ELFNOTE(Xen, 12, ${ptr} ${hvStartLow})
ELFNOTE(Xen, 4, ${ptr} 0)
ELFNOTE(Xen, 17, .long (1 << 0) | (1 << 11) | (1 << 15))
ELFNOTE(Xen, 18, .long pvh_start - ${base})
ELFNOTE(Xen, 19, .long 0x200000; .long 0x1000000; .long 0x7fffffff)
ELFNOTE(Xen, 4660, .long 7)
`;
}

/** A linker script laying the program out like a kernel: virtual addresses at `base` +
 * 16 MiB, physical at 16 MiB, two PT_LOADs and a PT_NOTE. */
export function kernelLinkerScript(bits: 32 | 64): string {
  const base = bits === 64 ? '0xffffffff80000000' : '0xc0000000';
  return `
ENTRY(_start)
PHDRS { text PT_LOAD FLAGS(5); data PT_LOAD FLAGS(6); note PT_NOTE FLAGS(4); }
SECTIONS {
  . = ${base} + 0x1000000;
  .text : AT(ADDR(.text) - ${base}) { *(.text) } :text
  .notes : AT(ADDR(.notes) - ${base}) { *(.note.*) } :text :note
  .modinfo : AT(ADDR(.modinfo) - ${base}) { *(.modinfo) } :text
  . = ALIGN(4096);
  .data : AT(ADDR(.data) - ${base}) { *(.data) } :data
  .bss : AT(ADDR(.bss) - ${base}) { *(.bss) } :data
  /DISCARD/ : { *(.note.gnu.property) }
}
`;
}
