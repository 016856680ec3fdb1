// boot.pvh.seconds: the default guest (examples/debian-pvh.cfg: 512 MiB, two vCPUs) from
// `xl create` to its shell prompt, through the same toolstack xl drives; and the same vmlinux
// and initramfs under QEMU TCG to the same prompt, in the same run.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startDom0 } from '../src/dom0/index.js';
import { parseDomainConfig } from '../src/dom0/toolstack/config/domain-config.js';
import { createLibxl } from '../src/dom0/toolstack/libxl.js';
import { Machine } from '../src/host/machine.js';
import { CHECKOUT_IMAGES } from '../src/images/cli.js';
import { atShellPrompt } from '../src/images/initramfs/build.js';
import { ensureImages, linkDefaultImages } from '../src/images/store.js';
import { bootQemuToShell } from './boot-qemu.js';

const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = 'examples/debian-pvh.cfg';
const DOM0_FRAMES = 4096;
const TIMEOUT_MS = 30 * 60_000;

type Report = (name: string, value: number, unit: string) => void;

/** Seconds from create to the prompt, and the guest instructions run on the way. */
async function bootXenotype(): Promise<{ seconds: number; instructions: number }> {
  const parsed = parseDomainConfig(
    { source: CONFIG, data: await readFile(`${CHECKOUT}/${CONFIG}`), cwd: CHECKOUT },
    (line) => console.error(line),
  );
  if (!parsed.ok) throw new Error(`${CONFIG} does not parse`);
  const machine = await Machine.start({
    memoryBytes: 1024 * 1024 * 1024,
    dom0Frames: DOM0_FRAMES,
    commandLine: '',
  });
  try {
    const dom0 = await startDom0(machine, { ramFrames: DOM0_FRAMES, log: () => {} });
    const toolstack = createLibxl(dom0, { log: () => {} });
    const start = process.hrtime.bigint();
    const domid = await toolstack.createDomain(parsed.config);
    const guestConsole = await toolstack.openConsole(domid, { type: null, num: 0 });
    await toolstack.unpause(domid);
    let output = '';
    const deadline = setTimeout(() => guestConsole.close(), TIMEOUT_MS);
    for await (const bytes of guestConsole.output) {
      output += Buffer.from(bytes).toString('latin1');
      if (atShellPrompt(output)) break;
    }
    clearTimeout(deadline);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const instructions = machine.instructionsRetired();
    if (!atShellPrompt(output)) throw new Error(`no shell prompt:\n${output.slice(-2000)}`);
    guestConsole.close();
    await toolstack.close();
    return { seconds, instructions };
  } finally {
    await machine.stop();
  }
}

export async function benchBoot(report: Report): Promise<void> {
  const images = await ensureImages({ log: (line) => console.error(line) });
  await linkDefaultImages(images, CHECKOUT_IMAGES);
  const ours = await bootXenotype();
  report('boot.pvh.seconds', ours.seconds, 's');
  report('boot.pvh.instructions', ours.instructions / 1e6, 'M');
  report('boot.pvh.MIPS', ours.instructions / 1e6 / ours.seconds, 'MIPS');
  const qemu = await bootQemuToShell(images, { memoryMiB: 512, vcpus: 2, timeoutMs: TIMEOUT_MS });
  report('boot.pvh.qemu_tcg.seconds', qemu.seconds, 's');
  report('boot.pvh.ratio_to_qemu_tcg', ours.seconds / qemu.seconds, 'x');
}
