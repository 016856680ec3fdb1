import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  XEN_ELFNOTE_ENTRY,
  XEN_ELFNOTE_FEATURES,
  XEN_ELFNOTE_L1_MFN_VALID,
  XEN_ELFNOTE_PHYS32_ENTRY,
  XEN_ELFNOTE_SUPPORTED_FEATURES,
  XEN_ELFNOTE_VIRT_BASE,
} from '../../abi/elfnote.js';
import { ImageFormatError } from '../errors.js';
import { parseElf } from './elf.js';
import type { ElfNote } from './notes.js';
import { ElfWorkshop, kernelLinkerScript, xenKernelSource } from './testing.js';
import { decodeXenNoteList, decodeXenNotes, type XenNotes, xenNoteName } from './xen-notes.js';

const workshop = new ElfWorkshop();
after(() => workshop.remove());

/** Everything but the raw notes, for deepEqual. */
function fields(x: XenNotes): Omit<XenNotes, 'notes'> {
  const { notes: _, ...rest } = x;
  return rest;
}

const commonExpectations = {
  source: 'segments',
  info: ['NAME=value'],
  guestOs: 'linux',
  guestVersion: '2.6',
  xenVersion: 'xen-3.0',
  initP2m: 0x8000000000n,
  paeMode: 'yes',
  loader: 'generic',
  bsdSymtab: true,
  l1MfnValid: [{ mask: 1n, value: 1n }],
  suspendCancel: true,
  modStartPfn: true,
  paddrOffset: 0n,
  supportedFeatures: 0x8801,
  phys32Entry: 0x1002000n,
  phys32Reloc: { align: 0x200000, min: 0x1000000, max: 0x7fffffff },
  features: {
    strings: ['!writable_page_tables|pae_pgdir_above_4gb|bogus_flag'],
    required: ['writable_page_tables'],
    optional: ['pae_pgdir_above_4gb'],
    unknown: [{ name: 'bogus_flag', required: false }],
    requiredMask: 0x1,
    supportedMask: 0x8811,
    supported: ['writable_page_tables', 'pae_pgdir_above_4gb', 'dom0', 'linux_rsdp_unrestricted'],
  },
} as const;

describe('Xen notes written like Linux writes them', () => {
  it('decodes every field of an ELF64 kernel, 8-byte values intact', () => {
    const built = workshop.build(xenKernelSource(64), kernelLinkerScript(64), 64);
    const xen = decodeXenNotes(parseElf(built.data));
    assert.deepEqual(fields(xen), {
      ...commonExpectations,
      entry: 0xffffffff81000001n,
      hypercallPage: 0xffffffff81001000n,
      virtBase: 0xffffffff80000000n,
      hvStartLow: 0xffff800000000000n,
    });
    assert.equal(xen.notes.length, 21);
    assert.ok(xen.notes.every((n) => n.name === 'Xen'));
  });

  it('decodes every field of an ELF32 kernel with 4-byte values', () => {
    const built = workshop.build(xenKernelSource(32), kernelLinkerScript(32), 32);
    const xen = decodeXenNotes(parseElf(built.data));
    assert.deepEqual(fields(xen), {
      ...commonExpectations,
      entry: 0xc1000001n,
      hypercallPage: 0xc1001000n,
      virtBase: 0xc0000000n,
      hvStartLow: 0xf5800000n,
    });
    const entry = xen.notes.find((n) => n.type === XEN_ELFNOTE_ENTRY)!;
    assert.equal(entry.desc.length, 4);
  });

  it('falls back to SHT_NOTE sections when there is no PT_NOTE segment', () => {
    const script = kernelLinkerScript(64)
      .replace(' note PT_NOTE FLAGS(4);', '')
      .replace(':text :note', ':text');
    const elf = parseElf(workshop.build(xenKernelSource(64), script, 64).data);
    assert.equal(elf.programHeaders.length, 2);
    const xen = decodeXenNotes(elf);
    assert.equal(xen.source, 'sections');
    assert.equal(xen.virtBase, 0xffffffff80000000n);
  });

  it('falls back to SHT_NOTE sections when the PT_NOTE segments hold no Xen note', () => {
    const script = kernelLinkerScript(64).replace(
      '.notes : AT(ADDR(.notes) - 0xffffffff80000000) { *(.note.*) } :text :note',
      `.notes : AT(ADDR(.notes) - 0xffffffff80000000) { *(.note.gnu.build-id) } :text :note
  .xennotes : AT(ADDR(.xennotes) - 0xffffffff80000000) { *(.note.Xen) } :text`,
    );
    const elf = parseElf(workshop.build(xenKernelSource(64), script, 64, ['--build-id']).data);
    assert.deepEqual(
      elf.notes.map((n) => n.name),
      ['GNU'],
    );
    const xen = decodeXenNotes(elf);
    assert.equal(xen.source, 'sections');
    assert.equal(xen.entry, 0xffffffff81000001n);
    assert.equal(xen.phys32Entry, 0x1002000n);
  });

  it('reports no notes for an ELF without Xen notes', () => {
    const elf = parseElf(
      workshop.build('.text\n.globl _start\n_start: hlt', kernelLinkerScript(64), 64).data,
    );
    const xen = decodeXenNotes(elf);
    assert.equal(xen.source, 'none');
    assert.deepEqual(xen.notes, []);
    assert.equal(xen.entry, undefined);
    assert.deepEqual(xen.features.supported, []);
  });
});

function note(type: number, desc: number[] | string): ElfNote {
  const bytes = typeof desc === 'string' ? Buffer.from(desc, 'latin1') : Uint8Array.from(desc);
  return { name: 'Xen', type, desc: new Uint8Array(bytes), offset: 0x100, descOffset: 0x110 };
}

describe('Xen note decoding rules', () => {
  it("treats '!' as required and every listed name as supported", () => {
    const xen = decodeXenNoteList(
      [
        note(XEN_ELFNOTE_FEATURES, 'writable_descriptor_tables|dom0|\0'),
        note(XEN_ELFNOTE_FEATURES, '!dom0|!auto_translated_physmap||!no_such_feature'),
      ],
      64,
    );
    assert.deepEqual(xen.features.required, ['dom0', 'auto_translated_physmap']);
    assert.deepEqual(xen.features.optional, ['writable_descriptor_tables']);
    assert.deepEqual(xen.features.unknown, [{ name: 'no_such_feature', required: true }]);
    assert.equal(xen.features.requiredMask, (1 << 11) | (1 << 2));
    assert.deepEqual(xen.features.supported, [
      'writable_descriptor_tables',
      'auto_translated_physmap',
      'dom0',
    ]);
  });

  it('ors the SUPPORTED_FEATURES bitmap into the supported set', () => {
    const xen = decodeXenNoteList(
      [note(XEN_ELFNOTE_SUPPORTED_FEATURES, [0x00, 0x10, 0x00, 0x80])],
      64,
    );
    assert.equal(xen.supportedFeatures, 0x80001000);
    assert.equal(xen.features.supportedMask, 0x80001000);
    assert.deepEqual(xen.features.supported, ['bit12', 'bit31']);
    assert.deepEqual(xen.features.required, []);
  });

  it('reads numeric notes of 1, 2, 4 and 8 bytes; the last note wins', () => {
    const xen = decodeXenNoteList(
      [
        note(XEN_ELFNOTE_ENTRY, [0x12]),
        note(XEN_ELFNOTE_VIRT_BASE, [0x34, 0x12]),
        note(XEN_ELFNOTE_VIRT_BASE, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      ],
      64,
    );
    assert.equal(xen.entry, 0x12n);
    assert.equal(xen.virtBase, 0xffffffffffffffffn);
  });

  it('rejects numeric and list notes with bad sizes', () => {
    const rejects = (n: ElfNote, message: RegExp): void => {
      assert.throws(
        () => decodeXenNoteList([n], 64),
        (e: unknown) => e instanceof ImageFormatError && message.test(e.message),
      );
    };
    rejects(
      note(XEN_ELFNOTE_ENTRY, [1, 2, 3]),
      /Xen note ENTRY at offset 0x100 has descsz 3; a numeric note has 1, 2, 4 or 8 bytes/,
    );
    rejects(note(XEN_ELFNOTE_L1_MFN_VALID, [1, 0, 0, 0, 0, 0, 0, 0]), /L1_MFN_VALID .* descsz 8/);
    rejects(note(XEN_ELFNOTE_SUPPORTED_FEATURES, [1, 0]), /descsz 2, not a multiple of 4/);
    rejects(
      note(XEN_ELFNOTE_PHYS32_ENTRY, [0, 0, 0, 0, 1, 0, 0, 0]),
      /PHYS32_ENTRY .* is 0x100000000, beyond 32 bits/,
    );
  });

  it('names note types', () => {
    assert.equal(xenNoteName(18), 'PHYS32_ENTRY');
    assert.equal(xenNoteName(99), 'type 99');
  });
});
