/**
 * Assembles test snippets with GNU as and ld, linked at the code address of the differential
 * tests' layout (0x10000000) so that absolute and RIP-relative label references come out as
 * they will run. AT&T syntax by default; a snippet may switch with `.intel_syntax noprefix`.
 *
 * assembleMany() does one `as` and one `ld` run for any number of snippets: each snippet gets
 * its own section, all sections are overlaid at the same address by the linker script, and
 * the bytes are read back from the ELF section table. Named labels are renamed per snippet
 * (`loop` → `loop__xs3`) so that snippets may reuse them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '../../../testing/host-tools.js';
import { LAYOUT } from './native.js';

export interface AssembleOptions {
  /** The address the snippet is linked at (default LAYOUT.code). */
  origin?: number;
}

export class AssembleError extends Error {
  override name = 'AssembleError';
}

export function assemble(
  source: string,
  bits: 64 | 32 | 16 = 64,
  options: AssembleOptions = {},
): Uint8Array {
  return assembleMany([source], bits, options)[0]!;
}

export function assembleMany(
  sources: string[],
  bits: 64 | 32 | 16 = 64,
  options: AssembleOptions = {},
): Uint8Array[] {
  if (sources.length === 0) return [];
  requireTool('as', 'binutils');
  requireTool('ld', 'binutils');
  const origin = options.origin ?? LAYOUT.code;

  // The combined source: per snippet a prelude that resets the syntax and mode, then the
  // snippet. starts[i] is the first line of snippet i (1-based), for error messages.
  const parts: string[] = [];
  const starts: number[] = [];
  let line = 1;
  sources.forEach((source, i) => {
    const text = sources.length > 1 ? renameLabels(source, `__xs${i}`) : source;
    parts.push(`.att_syntax prefix\n.section .xs${i},"ax",@progbits\n.code${bits}\n`);
    line += 3;
    starts.push(line);
    parts.push(text, '\n');
    line += text.split('\n').length;
    for (const macro of text.matchAll(/\.macro\s+([A-Za-z_.$][\w.$]*)/g)) {
      parts.push(`.purgem ${macro[1]}\n`);
      line++;
    }
  });
  parts.push('.section .note.GNU-stack,"",@progbits\n');
  const script = [
    'SECTIONS {',
    `  OVERLAY 0x${origin.toString(16)} : AT(0x0) {`,
    ...sources.map((_, i) => `    .xs${i} { KEEP(*(.xs${i})) }`),
    '  }',
    '  /DISCARD/ : { *(.note.gnu.property) *(.comment) }',
    '}',
  ].join('\n');

  const dir = mkdtempSync(join(tmpdir(), 'xenotype-as-'));
  try {
    writeFileSync(join(dir, 'in.s'), parts.join(''));
    writeFileSync(join(dir, 'link.ld'), script);
    const as = spawnSync('as', ['--64', '-o', 'in.o', 'in.s'], { cwd: dir, encoding: 'utf8' });
    if (as.error || as.status !== 0) {
      throw new AssembleError(`as failed:\n${describeErrors(as.stderr, starts, sources.length)}`, {
        cause: as.error,
      });
    }
    const ldArgs = ['-m', 'elf_x86_64', '-N', '-z', 'noexecstack', '-e', '0', '-T', 'link.ld'];
    const ld = spawnSync('ld', [...ldArgs, '-o', 'out.elf', 'in.o'], {
      cwd: dir,
      encoding: 'utf8',
    });
    if (ld.error || ld.status !== 0) {
      const text = ld.stderr.replace(/\(\.xs(\d+)/g, '(snippet $1');
      throw new AssembleError(`ld failed:\n${text}`, { cause: ld.error });
    }
    const sections = readSections(readFileSync(join(dir, 'out.elf')));
    return sources.map((_, i) => {
      const section = sections.get(`.xs${i}`);
      if (!section) return new Uint8Array(0); // empty sections are dropped by ld
      if (section.address !== BigInt(origin)) {
        throw new AssembleError(`snippet ${i} was linked at 0x${section.address.toString(16)}`);
      }
      return section.bytes;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rewrites `in.s:LINE: Error: …` as `snippet I line J: Error: …`. */
function describeErrors(stderr: string, starts: number[], count: number): string {
  return stderr
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const m = /^in\.s:(\d+): (.*)$/.exec(l);
      if (!m) return l;
      const at = Number(m[1]);
      let i = starts.length - 1;
      while (i > 0 && starts[i]! > at) i--;
      const where =
        count > 1 ? `snippet ${i} line ${at - starts[i]! + 1}` : `line ${at - starts[i]! + 1}`;
      return `${where}: ${m[2]}`;
    })
    .join('\n');
}

const LABEL_AT_START = /^(\s*)([A-Za-z_.$][\w.$]*)(\s*):(?!:)/;

/**
 * Gives the snippet's named labels a per-snippet suffix: definitions (`name:` at the start of
 * a statement) and references in operands. Numeric local labels need no renaming.
 */
function renameLabels(source: string, suffix: string): string {
  const lines = source.split('\n').map(splitComment);
  const names = new Set<string>();
  for (const [code] of lines) {
    for (let statement of code.split(';')) {
      for (let m = LABEL_AT_START.exec(statement); m; m = LABEL_AT_START.exec(statement)) {
        names.add(m[2]!);
        statement = statement.slice(m[0].length);
      }
    }
  }
  if (names.size === 0) return source;
  const escaped = [...names].map((n) => n.replace(/[.$]/g, '\\$&'));
  const reference = new RegExp(`(?<![\\w.%])(${escaped.join('|')})(?![\\w.$])`, 'g');
  const rename = (text: string) => text.replace(reference, `$1${suffix}`);
  return lines
    .map(([code, comment]) => {
      const statements = code.split(';').map((statement) => {
        let labels = '';
        for (let m = LABEL_AT_START.exec(statement); m; m = LABEL_AT_START.exec(statement)) {
          labels += `${m[1]}${rename(m[2]!)}${m[3]}:`;
          statement = statement.slice(m[0].length);
        }
        // The first word is the mnemonic or directive (`loop loop` must keep its mnemonic).
        const head = /^\s*\S*/.exec(statement)![0];
        return labels + head + rename(statement.slice(head.length));
      });
      return statements.join(';') + comment;
    })
    .join('\n');
}

/** Splits a line at a `#` comment outside double quotes. */
function splitComment(line: string): [string, string] {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '#' && !quoted) return [line.slice(0, i), line.slice(i)];
  }
  return [line, ''];
}

interface Section {
  address: bigint;
  bytes: Uint8Array;
}

/** The named sections of an ELF64 little-endian file. */
function readSections(elf: Buffer): Map<string, Section> {
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const header = (i: number) => shoff + i * shentsize;
  let count = view.getUint16(0x3c, true);
  let strndx = view.getUint16(0x3e, true);
  if (count === 0) count = Number(view.getBigUint64(header(0) + 32, true)); // extended numbering
  if (strndx === 0xffff) strndx = view.getUint32(header(0) + 40, true);
  const strtab = Number(view.getBigUint64(header(strndx) + 24, true));
  const sections = new Map<string, Section>();
  for (let i = 1; i < count; i++) {
    const h = header(i);
    const nameAt = strtab + view.getUint32(h, true);
    const name = elf.toString('latin1', nameAt, elf.indexOf(0, nameAt));
    const type = view.getUint32(h + 4, true);
    const address = view.getBigUint64(h + 16, true);
    const offset = Number(view.getBigUint64(h + 24, true));
    const size = Number(view.getBigUint64(h + 32, true));
    const bytes =
      type === 8 /* SHT_NOBITS */
        ? new Uint8Array(size)
        : new Uint8Array(elf.buffer.slice(elf.byteOffset + offset, elf.byteOffset + offset + size));
    sections.set(name, { address, bytes });
  }
  return sections;
}
