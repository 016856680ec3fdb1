import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type CompressionFormat, decompress } from '../decompress/index.js';
import { ImageFormatError } from '../errors.js';
import { readAr } from './ar.js';
import { readTar, type TarEntry } from './tar.js';

const DATA_MEMBER_FORMATS: Record<string, CompressionFormat | 'none'> = {
  'data.tar': 'none',
  'data.tar.gz': 'gzip',
  'data.tar.xz': 'xz',
  'data.tar.zst': 'zstd',
  'data.tar.bz2': 'bzip2',
  'data.tar.lzma': 'lzma',
};

/** The entries of a Debian package's data archive (what dpkg would install). */
export async function readDebData(deb: Uint8Array): Promise<TarEntry[]> {
  const members = readAr(deb);
  if (members[0]?.name !== 'debian-binary') {
    throw new ImageFormatError('not a Debian package: the first ar member is not "debian-binary"');
  }
  for (const member of members) {
    const format = DATA_MEMBER_FORMATS[member.name];
    if (format === undefined) continue;
    const tar = format === 'none' ? member.data : await decompress(member.data, format);
    return readTar(tar);
  }
  throw new ImageFormatError('Debian package has no data.tar member');
}

/** Refuses paths that could leave the extraction directory. */
function safeRelative(path: string): string {
  if (path.startsWith('/') || path.split('/').includes('..')) {
    throw new ImageFormatError(`package entry "${path}" points outside the package root`);
  }
  return path;
}

/**
 * Writes entries below `root`, keeping modes and symlinks. `place` maps a package path
 * (without its leading "./") to a path below `root`, or to undefined to leave it out.
 */
export async function extractEntries(
  entries: TarEntry[],
  root: string,
  place: (path: string) => string | undefined = (path) => path,
): Promise<void> {
  for (const entry of entries) {
    const destination = entry.path === '' ? undefined : place(entry.path);
    if (destination === undefined) continue;
    const target = join(root, safeRelative(destination));
    if (entry.type === 'directory') {
      await mkdir(target, { recursive: true, mode: 0o755 });
      continue;
    }
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    if (entry.type === 'file') await writeFile(target, entry.data, { mode: entry.mode || 0o644 });
    else if (entry.type === 'symlink') await symlink(entry.linkTarget, target);
    else {
      const linked = place(entry.linkTarget);
      if (linked === undefined)
        throw new ImageFormatError(`hard link "${entry.path}" leads out of the selection`);
      await link(join(root, safeRelative(linked)), target);
    }
  }
}
