#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runHostCommand } from '../host/host-command.js';
import { CHECKOUT_IMAGES, runImagesCommand } from '../images/cli.js';
import { ensureImages, linkDefaultImages } from '../images/store.js';

const USAGE = `Usage: xenotype <command> [args]

Commands:
  images fetch                 fetch Debian's cloud kernel and busybox, build the default initramfs
  images show [--json]         show the cached default images
  images inspect FILE          describe a kernel (bzImage or ELF): segments and Xen ELF notes
  images initramfs -o FILE     build an initramfs (--init FILE, --add HOST:GUEST, --module NAME)
  boot                         boot the default Debian guest to a shell
  host start [--foreground]    start the host daemon that xl talks to (xl starts it on demand)
  host stop                    stop the host daemon: its guests are destroyed
  host status                  show whether the host daemon runs, with its guests and clients
`;

/**
 * The main job: prepare the default Debian guest, then `xl create -c examples/debian-pvh.cfg`
 * from the checkout, on this terminal (the host daemon starts on demand).
 */
async function boot(): Promise<number> {
  const images = await ensureImages({ log: (line) => process.stderr.write(`${line}\n`) });
  await linkDefaultImages(images, CHECKOUT_IMAGES);
  const checkout = dirname(CHECKOUT_IMAGES);
  const xl = fileURLToPath(new URL('./xl.js', import.meta.url));
  process.stderr.write(`xenotype: xl create -c examples/debian-pvh.cfg (in ${checkout})\n`);
  const child = spawn(process.execPath, [xl, 'create', '-c', 'examples/debian-pvh.cfg'], {
    cwd: checkout,
    stdio: 'inherit',
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  return code ?? (signal === null ? 1 : 128);
}

/** `xenotype host …`; a host run in the foreground ends the process when it stops. */
async function host(argv: string[]): Promise<number> {
  const code = await runHostCommand(argv, {
    env: process.env,
    uid: process.getuid?.() ?? 0,
    home: homedir(),
    hostCommand: [
      process.execPath,
      fileURLToPath(import.meta.url),
      'host',
      'start',
      '--foreground',
    ],
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTty: process.stderr.isTTY === true,
  });
  // A stopped host may leave handles behind (a guest's last timers): nothing more is to come.
  if (argv[0] === 'start' && argv[1] === '--foreground') process.exit(code);
  return code;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'images':
      return runImagesCommand(rest);
    case 'boot':
      return boot();
    case 'host':
      return host(rest);
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
