import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Where guest images live: $XENOTYPE_CACHE, else $XDG_CACHE_HOME/xenotype, else
 * ~/.cache/xenotype.
 */
export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XENOTYPE_CACHE) return env.XENOTYPE_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'xenotype');
  return join(homedir(), '.cache', 'xenotype');
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Builds a cache entry (a directory) in a temporary sibling and renames it into place, so a
 * crash or a failed download never leaves a half-written entry. When another process won
 * the race, its entry is kept and ours dropped.
 */
export async function publishDirectory(
  target: string,
  fill: (staging: string) => Promise<void>,
): Promise<void> {
  if (await exists(target)) return;
  await mkdir(dirname(target), { recursive: true });
  const staging = await mkdtemp(`${target}.partial-`);
  try {
    await fill(staging);
    await chmod(staging, 0o755); // mkdtemp makes it private; the cache is readable like ~/.cache
    await rename(staging, target).catch(async (error: NodeJS.ErrnoException) => {
      if (!['EEXIST', 'ENOTEMPTY'].includes(error.code ?? '')) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Writes a file through a temporary name and a rename. */
export async function publishFile(target: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const staging = `${target}.partial-${process.pid}-${Date.now()}`;
  try {
    await writeFile(staging, data);
    await rename(staging, target);
  } finally {
    await rm(staging, { force: true });
  }
}
