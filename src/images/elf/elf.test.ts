import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ImageFormatError } from '../errors.js';
import { cString } from './bytes.js';
import {
  EM_386,
  EM_X86_64,
  ET_EXEC,
  PF_R,
  PF_W,
  PF_X,
  PT_LOAD,
  PT_NOTE,
  SHT_NOBITS,
  SHT_NOTE,
  SHT_STRTAB,
} from './constants.js';
import { findSection, isElf, parseElf, sectionData, segmentData } from './elf.js';
import {
  ElfWorkshop,
  kernelLinkerScript,
  readelfNotes,
  readelfSections,
  readelfSegments,
  xenKernelSource,
} from './testing.js';

const workshop = new ElfWorkshop();
after(() => workshop.remove());

const elf64 = workshop.build(xenKernelSource(64), kernelLinkerScript(64), 64, ['--build-id']);
const elf32 = workshop.build(xenKernelSource(32), kernelLinkerScript(32), 32, ['--build-id']);

function flagString(flags: number): string {
  return `${flags & PF_R ? 'R' : ' '}${flags & PF_W ? 'W' : ' '}${flags & PF_X ? 'E' : ' '}`.trim();
}

function typeName(type: number): string {
  return type === PT_LOAD ? 'LOAD' : type === PT_NOTE ? 'NOTE' : String(type);
}

for (const [bits, built] of [
  [64, elf64],
  [32, elf32],
] as const) {
  describe(`ELF${bits} built by gcc and ld`, () => {
    const elf = parseElf(built.data);

    it('decodes the file header', () => {
      assert.equal(isElf(built.data), true);
      assert.equal(elf.elfClass, bits);
      assert.equal(elf.machine, bits === 64 ? EM_X86_64 : EM_386);
      assert.equal(elf.type, ET_EXEC);
      assert.equal(elf.entry, bits === 64 ? 0xffffffff81000000n : 0xc1000000n);
    });

    it('matches readelf -lW program headers', () => {
      const expected = readelfSegments(built.path);
      assert.equal(expected.length, 3);
      assert.deepEqual(
        elf.programHeaders.map((p) => ({
          type: typeName(p.type),
          offset: p.offset,
          vaddr: p.vaddr,
          paddr: p.paddr,
          filesz: p.filesz,
          memsz: p.memsz,
          flags: flagString(p.flags),
          align: p.align,
        })),
        expected,
      );
      assert.deepEqual(
        elf.segments.map((s) => s.index),
        [0, 1],
      );
      const data = elf.segments[1]!;
      assert.ok(data.memsz > data.filesz, '.bss makes the data segment larger in memory');
      const bytes = segmentData(elf, data);
      assert.equal(bytes.length, data.filesz);
      assert.deepEqual([...bytes.subarray(0, 4)], [0x78, 0x56, 0x34, 0x12]);
    });

    it('matches readelf -SW section headers and finds .modinfo', () => {
      const expected = readelfSections(built.path);
      assert.deepEqual(
        elf.sections.map((s) => s.name),
        expected.map((s) => s.name),
      );
      for (const row of expected) {
        const s = elf.sections[row.index]!;
        assert.equal(s.offset, row.offset, `offset of ${row.name}`);
        assert.equal(s.size, row.size, `size of ${row.name}`);
      }
      assert.equal(findSection(elf, '.notes')?.type, SHT_NOTE);
      assert.equal(findSection(elf, '.bss')?.type, SHT_NOBITS);
      assert.equal(findSection(elf, '.shstrtab')?.type, SHT_STRTAB);
      assert.equal(findSection(elf, '.nonexistent'), undefined);
      const modinfo = findSection(elf, '.modinfo');
      assert.ok(modinfo);
      const strings = sectionData(elf, modinfo);
      assert.equal(cString(strings), 'license=GPL');
      assert.equal(cString(strings.subarray(12)), 'name=xenotype_test');
      assert.equal(sectionData(elf, findSection(elf, '.bss')!).length, 0);
    });

    it('matches readelf -nW notes', () => {
      const expected = readelfNotes(built.path);
      assert.ok(expected.length >= 20);
      assert.deepEqual(
        elf.notes.map((n) => ({
          owner: n.name,
          size: n.desc.length,
          desc: Buffer.from(n.desc).toString('hex'),
        })),
        expected,
      );
      assert.equal(elf.notes.at(-1)?.name, 'GNU');
    });
  });
}

describe('malformed ELF files', () => {
  const good = elf64.data;
  const patched = (edit: (bytes: Uint8Array, view: DataView) => void): Uint8Array => {
    const bytes = new Uint8Array(good);
    edit(bytes, new DataView(bytes.buffer));
    return bytes;
  };
  const rejects = (data: Uint8Array, message: RegExp): void => {
    assert.throws(
      () => parseElf(data),
      (e: unknown) => {
        assert.ok(e instanceof ImageFormatError, `expected ImageFormatError, got ${String(e)}`);
        assert.match(e.message, message);
        return true;
      },
    );
  };

  it('rejects a file too short for the identification', () => {
    rejects(good.subarray(0, 10), /ELF file truncated: 10 bytes/);
  });

  it('rejects a truncated file header', () => {
    rejects(good.subarray(0, 40), /ELF64 header truncated: file has 40 bytes, the header needs 64/);
    rejects(elf32.data.subarray(0, 30), /ELF32 header truncated/);
  });

  it('rejects a bad magic', () => {
    rejects(
      patched((b) => {
        b[1] = 0x46;
      }),
      /not an ELF file: bad magic 7f 46 4c 46 at offset 0x0/,
    );
    assert.equal(isElf(new Uint8Array([0x7f, 0x45])), false);
  });

  it('rejects big-endian files', () => {
    rejects(
      patched((b) => {
        b[5] = 2;
      }),
      /big-endian/,
    );
  });

  it('rejects other machines', () => {
    rejects(
      patched((_, v) => v.setUint16(18, 40, true)),
      /ELF machine 40 at offset 0x12 is not x86/,
    );
  });

  it('rejects a program header table past the end of the file', () => {
    rejects(
      patched((_, v) => v.setBigUint64(32, BigInt(good.length - 10), true)),
      /program header table at offset 0x[0-9a-f]+ \(3 entries of 56 bytes\) runs past the end of the file/,
    );
  });

  it('rejects a section header table past the end of the file', () => {
    rejects(
      patched((_, v) => v.setUint16(60, 500, true)),
      /section header table at offset 0x[0-9a-f]+ \(500 entries of 64 bytes\) runs past the end/,
    );
  });

  it('rejects a segment beyond the end of the file', () => {
    rejects(
      patched((_, v) => v.setBigUint64(64 + 32, 0x100000n, true)),
      /segment 0 \(PT_LOAD, header at 0x40\) at file offset 0x1000 with p_filesz 0x100000 runs past the end of the file/,
    );
  });

  it('rejects p_filesz larger than p_memsz', () => {
    rejects(
      patched((_, v) => v.setBigUint64(64 + 40, 0x10n, true)),
      /segment 0 .* has p_filesz 0x[0-9a-f]+ larger than p_memsz 0x10/,
    );
  });

  it('rejects absurd offsets and wrapping segments', () => {
    rejects(
      patched((_, v) => v.setBigUint64(64 + 8, 0xffffffffffffff00n, true)),
      /p_offset of segment 0 .* is absurdly large: 0xffffffffffffff00/,
    );
    rejects(
      patched((_, v) => v.setBigUint64(64 + 56 + 40, 0xfffffffffff0n, true)),
      /segment 1 .* with p_memsz 0xfffffffffff0 wraps past the top of the address space/,
    );
  });

  it('rejects a note whose descsz runs past its segment', () => {
    const note = parseElf(good).programHeaders.find((p) => p.type === PT_NOTE)!;
    rejects(
      patched((_, v) => v.setUint32(note.offset + 4, 0x1000, true)),
      /PT_NOTE segment 2: note at offset 0x[0-9a-f]+ has descsz 0x1000 past the end of its container/,
    );
    rejects(
      patched((_, v) => v.setUint32(note.offset, 0x1000, true)),
      /note at offset 0x[0-9a-f]+ has namesz 0x1000 past the end/,
    );
  });

  it('rejects a note segment with a truncated note header', () => {
    const note = parseElf(good).programHeaders.find((p) => p.type === PT_NOTE)!;
    const at = 64 + 56 * note.index + 32;
    rejects(
      patched((_, v) => v.setBigUint64(at, BigInt(note.filesz + 4), true)),
      /note header at offset 0x[0-9a-f]+ is truncated \(4 bytes left, 12 needed\)/,
    );
  });

  it('rejects a bad section name table', () => {
    rejects(
      patched((_, v) => v.setUint16(62, 99, true)),
      /section name table index 99 is out of range/,
    );
    rejects(
      patched((_, v) => v.setUint16(62, 1, true)),
      /section name table \(section 1\) has type 1, not SHT_STRTAB/,
    );
  });

  it('never throws anything but ImageFormatError on truncation', () => {
    for (let len = 0; len < good.length; len += 97) {
      try {
        parseElf(good.subarray(0, len));
      } catch (e) {
        assert.ok(e instanceof ImageFormatError, `length ${len}: ${String(e)}`);
      }
    }
  });
});
