#!/usr/bin/env node
import { runImagesCommand } from '../images/cli.js';
import { describeKernelFile } from '../images/kernel/describe.js';
import { ensureImages } from '../images/store.js';

const USAGE = `Usage: xenotype <command> [args]

Commands:
  images fetch                 fetch Debian's cloud kernel and busybox, build the default initramfs
  images show [--json]         show the cached default images
  images inspect FILE          describe a kernel (bzImage or ELF): segments and Xen ELF notes
  images initramfs -o FILE     build an initramfs (--init FILE, --add HOST:GUEST, --module NAME)
  boot                         boot the default Debian guest to a shell
`;

/** The main job: prepare the default Debian guest and boot it. */
async function boot(): Promise<number> {
  const images = await ensureImages({ log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(await describeKernelFile(images.vmlinuz));
  process.stdout.write(`initramfs    ${images.initramfs}\n`);
  process.stderr.write(
    'xenotype: the default guest is ready, but Xenotype cannot boot it yet: the hypervisor core and Dom0 are still being built (docs/ROADMAP.md)\n',
  );
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'images':
      return runImagesCommand(rest);
    case 'boot':
      return boot();
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`xenotype: unknown command "${command}"\n${USAGE}`);
      return 1;
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`xenotype: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
});
