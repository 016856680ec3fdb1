import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

// Test support: tiny ELF64 relocatables that carry a .modinfo section, and fake
// lib/modules/<release>/ trees made of them, for the module resolver and initramfs tests.

export interface FakeSection {
  name: string;
  data: Uint8Array;
  /** sh_type; PROGBITS by default. */
  type?: number;
}

/** An ELF64 little-endian relocatable: header, section bodies, .shstrtab, section headers. */
export function makeElf(sections: readonly FakeSection[]): Uint8Array {
  const encoder = new TextEncoder();
  const all = [...sections, { name: '.shstrtab', data: new Uint8Array(0), type: 3 }];
  const nameOffsets: number[] = [];
  let names = '\0';
  for (const section of all) {
    nameOffsets.push(names.length);
    names += `${section.name}\0`;
  }
  all[all.length - 1] = { name: '.shstrtab', data: encoder.encode(names), type: 3 };
  let offset = 64;
  const offsets = all.map((section) => {
    const at = offset;
    offset += section.data.length;
    return at;
  });
  const shoff = (offset + 7) & ~7;
  const out = new Uint8Array(shoff + (all.length + 1) * 64);
  const view = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  view.setUint16(0x10, 1, true); // ET_REL
  view.setUint16(0x12, 62, true); // EM_X86_64
  view.setUint32(0x14, 1, true);
  view.setUint32(0x28, shoff, true);
  view.setUint16(0x34, 64, true);
  view.setUint16(0x3a, 64, true);
  view.setUint16(0x3c, all.length + 1, true);
  view.setUint16(0x3e, all.length, true);
  all.forEach((section, index) => {
    out.set(section.data, offsets[index]!);
    const at = shoff + (index + 1) * 64;
    view.setUint32(at, nameOffsets[index]!, true);
    view.setUint32(at + 4, section.type ?? 1, true);
    view.setUint32(at + 24, offsets[index]!, true);
    view.setUint32(at + 32, section.data.length, true);
    view.setUint32(at + 48, 1, true);
  });
  return out;
}

/** A fake .ko whose .modinfo holds `fields` ("key=value" strings). */
export function makeKo(fields: readonly string[]): Uint8Array {
  const modinfo = new TextEncoder().encode(fields.map((field) => `${field}\0`).join(''));
  return makeElf([
    { name: '.text', data: new Uint8Array([0xc3]) },
    { name: '.modinfo', data: modinfo },
  ]);
}

export interface FakeModule {
  /** Path under the modules directory, e.g. "kernel/drivers/net/foo-bar.ko". */
  path: string;
  depends?: readonly string[];
  /** vermagic's release; the tree's by default. */
  release?: string;
}

/**
 * Writes a lib/modules/<release>/ tree: the modules, modules.order listing them and
 * modules.builtin listing `builtin` (paths like "kernel/drivers/xen/xenbus/xenbus.ko").
 */
export async function writeFakeModulesTree(
  directory: string,
  release: string,
  modules: readonly FakeModule[],
  builtin: readonly string[] = [],
): Promise<void> {
  for (const module of modules) {
    const name = module.path.replace(/^.*\//, '').replace(/\.ko$/, '').replaceAll('-', '_');
    const ko = makeKo([
      'license=GPL',
      `depends=${(module.depends ?? []).join(',')}`,
      'intree=Y',
      `name=${name}`,
      `vermagic=${module.release ?? release} SMP preempt mod_unload modversions `,
    ]);
    await mkdir(dirname(join(directory, module.path)), { recursive: true });
    await writeFile(join(directory, module.path), ko);
  }
  await writeFile(
    join(directory, 'modules.order'),
    modules.map((module) => `${module.path}\n`).join(''),
  );
  await writeFile(join(directory, 'modules.builtin'), builtin.map((path) => `${path}\n`).join(''));
}
