import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheDirectory } from './cache.js';
import { buildInitramfs } from './initramfs/build.js';
import { describeKernelFile } from './kernel/describe.js';
import {
  cachedImages,
  ensureImages,
  fetchImages,
  type GuestImages,
  linkDefaultImages,
} from './store.js';

/** The checkout's images/: where examples/*.cfg find the default kernel and initramfs. */
export const CHECKOUT_IMAGES = fileURLToPath(new URL('../../../images/', import.meta.url));

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function showImages(images: GuestImages): string {
  return [
    `kernel     ${images.kernelPackage.name} ${images.kernelPackage.version}`,
    `vmlinuz    ${images.vmlinuz}`,
    `vmlinux    ${images.vmlinux}`,
    `modules    ${images.modulesDir}`,
    `busybox    ${images.busyboxPackage.name} ${images.busyboxPackage.version}: ${images.busybox}`,
    `initramfs  ${images.initramfs}`,
    '',
  ].join('\n');
}

/** `xenotype images …`: returns the exit code. */
export async function runImagesCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'fetch': {
      parseArgs({ args: rest, options: {} });
      const images = await fetchImages({ log });
      await linkDefaultImages(images, CHECKOUT_IMAGES);
      process.stdout.write(showImages(images));
      return 0;
    }
    case 'show': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } });
      const images = await cachedImages();
      if (!images) {
        log(`no images in ${cacheDirectory()}: run "xenotype images fetch"`);
        return 1;
      }
      process.stdout.write(
        values.json ? `${JSON.stringify(images, null, 2)}\n` : showImages(images),
      );
      return 0;
    }
    case 'inspect': {
      const { positionals } = parseArgs({ args: rest, options: {}, allowPositionals: true });
      const file = positionals[0] ?? (await ensureImages({ log })).vmlinuz;
      process.stdout.write(await describeKernelFile(file));
      return 0;
    }
    case 'initramfs':
      return buildInitramfsCommand(rest);
    default:
      log(`xenotype images: unknown subcommand "${sub ?? ''}" (fetch, show, inspect, initramfs)`);
      return 1;
  }
}

async function buildInitramfsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      output: { type: 'string', short: 'o' },
      init: { type: 'string' },
      add: { type: 'string', multiple: true },
      module: { type: 'string', multiple: true },
    },
  });
  if (!values.output) {
    log('xenotype images initramfs: -o FILE is required');
    return 1;
  }
  const images = await ensureImages({ log });
  const extraFiles = [];
  for (const spec of values.add ?? []) {
    const colon = spec.lastIndexOf(':');
    if (colon <= 0 || colon === spec.length - 1) {
      log(`xenotype images initramfs: --add wants HOST:GUEST, got "${spec}"`);
      return 1;
    }
    extraFiles.push({ path: spec.slice(colon + 1), data: await readFile(spec.slice(0, colon)) });
  }
  const archive = await buildInitramfs({
    busybox: images.busybox,
    modulesDir: images.modulesDir,
    kernelRelease: images.kernelRelease,
    extraFiles,
    ...(values.module ? { modules: values.module } : {}),
    ...(values.init ? { init: await readFile(values.init) } : {}),
  });
  await writeFile(values.output, archive);
  log(`wrote ${values.output} (${archive.length} bytes)`);
  return 0;
}
