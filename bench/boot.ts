// boot.pvh.seconds: the default guest (examples/debian-pvh.cfg: 512 MiB, two vCPUs) from
// `xl create` to its shell prompt, through the same toolstack xl drives; and the same vmlinux
// and initramfs under QEMU TCG to the same prompt, in the same run.
import { CHECKOUT_IMAGES } from '../src/images/cli.js';
import { ensureImages, linkDefaultImages } from '../src/images/store.js';
import { bootQemuToShell } from './boot-qemu.js';
import { guestConfig, XenotypeHost } from './xenotype-guest.js';

const TIMEOUT_MS = 30 * 60_000;

type Report = (name: string, value: number, unit: string) => void;

/** Seconds from create to the prompt, and the guest instructions run on the way. */
async function bootXenotype(): Promise<{ seconds: number; instructions: number }> {
  const config = await guestConfig([]);
  const host = await XenotypeHost.start(1024);
  try {
    const start = process.hrtime.bigint();
    const guest = await host.createGuest(config);
    await guest.shell.waitForShell(TIMEOUT_MS);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { seconds, instructions: host.machine.instructionsRetired() };
  } finally {
    await host.stop();
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
