import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImageFetchError } from './errors.js';

const run = promisify(execFile);

/** What apt knows of one binary package's candidate version. */
export interface AptPackage {
  name: string;
  version: string;
  depends: string;
  size: number;
  sha256: string;
}

/** A command's failure, with its stderr folded into the message. */
async function command(file: string, args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, maxBuffer: 64 << 20, env: aptEnvironment() });
    return stdout;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') {
      throw new ImageFetchError(
        `${file} was not found: Xenotype fetches Debian's kernel and busybox with apt, so it needs a Debian or Ubuntu host`,
        { cause: error },
      );
    }
    const detail = (failure.stderr ?? '').trim().split('\n').slice(-3).join('; ');
    throw new ImageFetchError(`${file} ${args.join(' ')} failed: ${detail || failure.message}`, {
      cause: error,
    });
  }
}

function aptEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
}

function parseStanza(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) fields.set(match[1], match[2]);
  }
  return fields;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * The candidate version of `name` as `apt-cache show` reports it. When apt has no lists
 * yet and we are root, runs `apt-get update` once first, as a fresh machine needs.
 */
export async function showPackage(name: string): Promise<AptPackage> {
  let text: string;
  try {
    text = await command('apt-cache', ['show', '--no-all-versions', name]);
  } catch (error) {
    if (
      !(error instanceof ImageFetchError) ||
      !/No packages found|Unable to locate/.test(error.message)
    ) {
      throw error;
    }
    if (!isRoot()) {
      throw new ImageFetchError(
        `apt does not know the package ${name}: its package lists are missing or stale; run "sudo apt-get update" and try again`,
        { cause: error },
      );
    }
    await updateLists();
    try {
      text = await command('apt-cache', ['show', '--no-all-versions', name]);
    } catch (retryError) {
      throw new ImageFetchError(
        `the package ${name} is not in the Debian archive that apt reaches (it may have left the archive); check /etc/apt/sources.list`,
        { cause: retryError },
      );
    }
  }
  const fields = parseStanza(text);
  const version = fields.get('Version');
  const sha256 = fields.get('SHA256');
  const size = Number(fields.get('Size'));
  if (!version || !sha256 || !Number.isInteger(size)) {
    throw new ImageFetchError(`apt-cache show ${name} gave no Version, Size and SHA256`);
  }
  return { name, version, depends: fields.get('Depends') ?? '', size, sha256 };
}

async function updateLists(): Promise<void> {
  await command('apt-get', ['update', '-q']);
}

/**
 * Downloads the exact version apt described and checks its size and SHA256 against apt's
 * lists, so a truncated or altered download never reaches the cache.
 */
export async function downloadPackage(pkg: AptPackage): Promise<Uint8Array> {
  const directory = await mkdtemp(join(tmpdir(), 'xenotype-apt-'));
  try {
    await command(
      'apt-get',
      ['download', '-q', '-o', 'APT::Sandbox::User=root', `${pkg.name}=${pkg.version}`],
      directory,
    ).catch((error: unknown) => {
      throw new ImageFetchError(
        `could not download ${pkg.name} ${pkg.version}: check the network, or run "apt-get update" if the version has left the archive`,
        { cause: error },
      );
    });
    const files = (await readdir(directory)).filter((file) => file.endsWith('.deb'));
    if (files.length !== 1 || files[0] === undefined) {
      throw new ImageFetchError(`apt-get download ${pkg.name} left ${files.length} .deb files`);
    }
    const deb = await readFile(join(directory, files[0]));
    const digest = createHash('sha256').update(deb).digest('hex');
    if (deb.length !== pkg.size || digest !== pkg.sha256) {
      throw new ImageFetchError(
        `${pkg.name} ${pkg.version}: download does not match apt's lists (size ${deb.length}, expected ${pkg.size}; sha256 ${digest}, expected ${pkg.sha256})`,
      );
    }
    return new Uint8Array(deb.buffer, deb.byteOffset, deb.byteLength);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The package a metapackage's candidate depends on first, e.g. linux-image-6.1.0-N-cloud-amd64. */
export function firstDependency(pkg: AptPackage): string {
  const name = /^\s*([a-z0-9][a-z0-9+.-]*)/.exec(pkg.depends)?.[1];
  if (!name) throw new ImageFetchError(`${pkg.name} ${pkg.version} depends on nothing`);
  return name;
}
