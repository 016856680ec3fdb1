import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findSection, parseElf, sectionData } from '../elf/index.js';
import { ImageFormatError } from '../errors.js';

// A Linux kernel module (.ko) is an ELF relocatable object. Its `.modinfo` section holds the
// MODULE_INFO strings, NUL-separated "key=value" (name, depends, vermagic, alias, license …).

/** The `.modinfo` strings of one module. */
export interface ModInfo {
  /** Every key=value in section order; keys such as alias and parm repeat. */
  fields: Array<[key: string, value: string]>;
  /** The module's name as the kernel knows it (with '_', e.g. "xen_blkfront"). */
  name: string | undefined;
  /** Modules this one needs loaded first (from `depends=`, comma-separated). */
  depends: string[];
  vermagic: string | undefined;
  aliases: string[];
}

/** Parses NUL-separated "key=value" strings, as in `.modinfo`. */
export function parseModinfo(section: Uint8Array): ModInfo {
  const fields: Array<[string, string]> = [];
  for (const item of new TextDecoder().decode(section).split('\0')) {
    const eq = item.indexOf('=');
    if (eq > 0) fields.push([item.slice(0, eq), item.slice(eq + 1)]);
  }
  const first = (key: string) => fields.find(([k]) => k === key)?.[1];
  return {
    fields,
    name: first('name'),
    depends: (first('depends') ?? '').split(',').filter((dep) => dep !== ''),
    vermagic: first('vermagic'),
    aliases: fields.filter(([k]) => k === 'alias').map(([, v]) => v),
  };
}

/** The `.modinfo` of a kernel module's bytes. */
export function readModinfo(ko: Uint8Array): ModInfo {
  const elf = parseElf(ko);
  const section = findSection(elf, '.modinfo');
  if (section === undefined) throw new ImageFormatError('kernel module has no .modinfo section');
  return parseModinfo(sectionData(elf, section));
}

/** Linux treats '-' and '_' in module names alike; this is the '_' spelling it uses itself. */
export const canonicalModuleName = (name: string): string => name.replaceAll('-', '_');

const moduleNameOfPath = (path: string): string | undefined => {
  const match = /(?:^|\/)([^/]+)\.ko(?:\.(?:gz|xz|zst))?$/.exec(path);
  return match?.[1] === undefined ? undefined : canonicalModuleName(match[1]);
};

/** One module of a resolved set. */
export interface ResolvedModule {
  /** Canonical name ('_' spelling). */
  name: string;
  /** Path of the .ko relative to the modules directory, e.g. "kernel/drivers/net/xen-netfront.ko". */
  path: string;
  /** Direct dependencies that need a file (built-in ones left out), canonical names. */
  depends: string[];
  modinfo: ModInfo;
}

async function listModuleFiles(directory: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(join(directory, prefix), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await listModuleFiles(directory, path)));
    else if (entry.isFile() && moduleNameOfPath(path) !== undefined) found.push(path);
  }
  return found;
}

async function readLines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, 'utf8'))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw cause;
  }
}

/**
 * Resolves modules and everything they depend on, in a kernel's `lib/modules/<release>/`
 * directory, without modules.dep (Debian's package leaves that to depmod at install time):
 * dependencies come from each module's `depends=`. Returns the modules in load order —
 * dependencies first, each once. Modules listed in modules.builtin are built into the kernel
 * and need no file. A module that is neither built in nor found, or a dependency cycle, is an
 * ImageFormatError.
 */
export async function resolveModuleSet(
  modulesDir: string,
  names: readonly string[],
): Promise<ResolvedModule[]> {
  const builtin = new Set<string>();
  for (const line of await readLines(join(modulesDir, 'modules.builtin'))) {
    const name = moduleNameOfPath(line);
    if (name !== undefined) builtin.add(name);
  }
  const ordered = new Set(await readLines(join(modulesDir, 'modules.order')));
  const files = new Map<string, string>();
  for (const path of await listModuleFiles(modulesDir)) {
    const name = moduleNameOfPath(path)!;
    const known = files.get(name);
    // Where two files share a name, prefer the one the kernel build listed in modules.order.
    if (known === undefined || (!ordered.has(known) && ordered.has(path))) files.set(name, path);
  }

  const resolved = new Map<string, ResolvedModule>();
  const visiting: string[] = [];
  const visit = async (name: string, neededBy: string | undefined): Promise<void> => {
    if (resolved.has(name) || builtin.has(name)) return;
    if (visiting.includes(name)) {
      const cycle = [...visiting.slice(visiting.indexOf(name)), name].join(' -> ');
      throw new ImageFormatError(`kernel modules depend on each other in a cycle: ${cycle}`);
    }
    const path = files.get(name);
    if (path === undefined) {
      const why = neededBy === undefined ? '' : ` (needed by ${neededBy})`;
      throw new ImageFormatError(
        `kernel module ${name}${why} is neither in ${modulesDir} nor built in`,
      );
    }
    if (!path.endsWith('.ko')) {
      throw new ImageFormatError(
        `kernel module ${path} is compressed; only uncompressed .ko files are supported`,
      );
    }
    let modinfo: ModInfo;
    try {
      modinfo = readModinfo(await readFile(join(modulesDir, path)));
    } catch (cause) {
      if (!(cause instanceof ImageFormatError)) throw cause;
      throw new ImageFormatError(`kernel module ${path}: ${cause.message}`, { cause });
    }
    visiting.push(name);
    const depends = modinfo.depends.map(canonicalModuleName);
    for (const dep of depends) await visit(dep, name);
    visiting.pop();
    resolved.set(name, {
      name,
      path,
      depends: depends.filter((dep) => !builtin.has(dep)),
      modinfo,
    });
  };
  for (const name of names) {
    if (!/^[\w-]+$/.test(name))
      throw new ImageFormatError(`bad kernel module name ${JSON.stringify(name)}`);
    await visit(canonicalModuleName(name), undefined);
  }
  return [...resolved.values()];
}

/**
 * The .ko files (joined onto `modulesDir`) that loading `names` needs, in load order:
 * dependencies first, each once, built-in modules left out.
 */
export async function resolveModules(
  modulesDir: string,
  names: readonly string[],
): Promise<string[]> {
  return (await resolveModuleSet(modulesDir, names)).map((module) => join(modulesDir, module.path));
}
