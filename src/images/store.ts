import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AptPackage, downloadPackage, firstDependency, showPackage } from './apt.js';
import { cacheDirectory, exists, publishDirectory, publishFile } from './cache.js';
import { extractEntries, readDebData } from './deb/deb.js';
import { ImageFetchError } from './errors.js';
import { buildInitramfs } from './initramfs/build.js';
import { extractVmlinux } from './kernel/bzimage.js';

/** The default guest: Debian's cloud kernel, its modules, busybox and an initramfs. */
export interface GuestImages {
  kernelRelease: string;
  kernelPackage: { name: string; version: string };
  busyboxPackage: { name: string; version: string };
  /** The bzImage as Debian ships it. */
  vmlinuz: string;
  /** The decompressed ELF kernel. */
  vmlinux: string;
  config: string;
  systemMap: string;
  /** lib/modules/<release> of the kernel package. */
  modulesDir: string;
  busybox: string;
  /** The default initramfs (busybox, Xen frontend modules, /init with a shell on hvc0). */
  initramfs: string;
  /** Which initramfs layout `initramfs` was built with. */
  initramfsLayout: number;
}

/** Bumped whenever the default initramfs changes, so cached ones are rebuilt. */
const INITRAMFS_LAYOUT = 2;
const KERNEL_METAPACKAGE = 'linux-image-cloud-amd64';
const BUSYBOX_PACKAGE = 'busybox-static';
const INDEX_FILE = 'images.json';

export interface FetchOptions {
  cache?: string;
  log?: (line: string) => void;
}

/** Apt spells epochs "1:" in versions; file names keep them as "%3a" the way apt does. */
const versionSlug = (version: string): string => version.replaceAll(':', '%3a');

async function fetchKernel(root: string, pkg: AptPackage, log: (line: string) => void) {
  const release = pkg.name.replace(/^linux-image-/, '');
  const directory = join(root, 'kernel', `${release}_${versionSlug(pkg.version)}`);
  await publishDirectory(directory, async (staging) => {
    log(`downloading ${pkg.name} ${pkg.version} (${(pkg.size / 1048576).toFixed(1)} MiB)`);
    const entries = await readDebData(await downloadPackage(pkg));
    const boot = new Map([
      [`boot/vmlinuz-${release}`, 'vmlinuz'],
      [`boot/config-${release}`, 'config'],
      [`boot/System.map-${release}`, 'System.map'],
    ]);
    const modules = `lib/modules/${release}/`;
    await extractEntries(entries, staging, (path) =>
      path.startsWith(modules) ? `modules/${path.slice(modules.length)}` : boot.get(path),
    );
    if (!(await exists(join(staging, 'vmlinuz')))) {
      throw new ImageFetchError(`${pkg.name} ${pkg.version} holds no boot/vmlinuz-${release}`);
    }
    log(`decompressing vmlinuz-${release}`);
    const vmlinux = await extractVmlinux(await readFile(join(staging, 'vmlinuz')));
    await writeFile(join(staging, 'vmlinux'), vmlinux);
  });
  return { release, directory };
}

async function fetchBusybox(root: string, pkg: AptPackage, log: (line: string) => void) {
  const directory = join(root, 'busybox', versionSlug(pkg.version));
  await publishDirectory(directory, async (staging) => {
    log(`downloading ${pkg.name} ${pkg.version}`);
    const entries = await readDebData(await downloadPackage(pkg));
    await extractEntries(entries, staging, (path) =>
      path === 'bin/busybox' ? 'busybox' : undefined,
    );
    if (!(await exists(join(staging, 'busybox')))) {
      throw new ImageFetchError(`${pkg.name} ${pkg.version} holds no bin/busybox`);
    }
  });
  return join(directory, 'busybox');
}

/**
 * Resolves the current candidates with apt, downloads and verifies what the cache lacks,
 * unpacks it, extracts the vmlinux, builds the default initramfs and records the set as
 * the default.
 */
export async function fetchImages(options: FetchOptions = {}): Promise<GuestImages> {
  const root = options.cache ?? cacheDirectory();
  const log = options.log ?? (() => {});
  const kernelPackage = await showPackage(firstDependency(await showPackage(KERNEL_METAPACKAGE)));
  const busyboxPackage = await showPackage(BUSYBOX_PACKAGE);
  const kernel = await fetchKernel(root, kernelPackage, log);
  const busybox = await fetchBusybox(root, busyboxPackage, log);
  const images: GuestImages = {
    kernelRelease: kernel.release,
    kernelPackage: { name: kernelPackage.name, version: kernelPackage.version },
    busyboxPackage: { name: busyboxPackage.name, version: busyboxPackage.version },
    vmlinuz: join(kernel.directory, 'vmlinuz'),
    vmlinux: join(kernel.directory, 'vmlinux'),
    config: join(kernel.directory, 'config'),
    systemMap: join(kernel.directory, 'System.map'),
    modulesDir: join(kernel.directory, 'modules'),
    busybox,
    initramfs: '',
    initramfsLayout: INITRAMFS_LAYOUT,
  };
  images.initramfs = await buildDefaultInitramfs(root, images, log);
  await publishFile(join(root, INDEX_FILE), `${JSON.stringify(images, null, 2)}\n`);
  return images;
}

async function buildDefaultInitramfs(
  root: string,
  images: GuestImages,
  log: (line: string) => void,
): Promise<string> {
  const name = `${images.kernelRelease}_${versionSlug(images.kernelPackage.version)}+busybox_${versionSlug(images.busyboxPackage.version)}.v${INITRAMFS_LAYOUT}.cpio.gz`;
  const path = join(root, 'initramfs', name);
  if (!(await exists(path))) {
    log(`building initramfs ${name}`);
    const archive = await buildInitramfs({
      busybox: images.busybox,
      modulesDir: images.modulesDir,
      kernelRelease: images.kernelRelease,
    });
    await publishFile(path, archive);
  }
  return path;
}

/** The default images recorded in the cache, if they are all still there. */
export async function cachedImages(
  cache: string = cacheDirectory(),
): Promise<GuestImages | undefined> {
  let images: GuestImages;
  try {
    images = JSON.parse(await readFile(join(cache, INDEX_FILE), 'utf8')) as GuestImages;
  } catch {
    return undefined;
  }
  if (images.initramfsLayout !== INITRAMFS_LAYOUT) return undefined;
  const files = [
    images.vmlinuz,
    images.vmlinux,
    images.modulesDir,
    images.busybox,
    images.initramfs,
  ];
  for (const file of files) if (typeof file !== 'string' || !(await exists(file))) return undefined;
  return images;
}

/**
 * Points DIR/vmlinux and DIR/initramfs.cpio.gz at the default images, so that an xl.cfg can
 * name them by a fixed path (examples/debian-pvh.cfg uses the checkout's images/).
 */
export async function linkDefaultImages(images: GuestImages, directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  for (const [name, target] of [
    ['vmlinux', images.vmlinux],
    ['initramfs.cpio.gz', images.initramfs],
  ] as const) {
    const link = join(directory, name);
    const temporary = `${link}.${process.pid}.tmp`;
    await rm(temporary, { force: true });
    await symlink(target, temporary);
    await rename(temporary, link);
  }
}

/** The cached default images, fetching them first when any is missing. */
export async function ensureImages(options: FetchOptions = {}): Promise<GuestImages> {
  return (await cachedImages(options.cache)) ?? fetchImages(options);
}
