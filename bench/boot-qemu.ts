// The QEMU TCG peer of `boot.pvh.seconds`: the same vmlinux and initramfs booted under
// qemu-system-x86_64 with the TCG accelerator, timed from spawning QEMU to the guest's first
// shell prompt.
//
// QEMU (4.0 and later) loads an ELF kernel given to -kernel through its PVH entry note
// (XEN_ELFNOTE_PHYS32_ENTRY) with the pvh.bin option ROM, so the guest enters Linux at the same
// PVH entry point as under Xenotype; only the platform differs (a PC with SeaBIOS, ACPI, a
// 16550 UART on ttyS0 instead of Xen's console on hvc0).
//
// "The shell prompt" is the first prompt the busybox shell prints after the initramfs /init's
// banner ("Xenotype initramfs: Linux <release>, busybox shell on <tty>",
// src/images/initramfs/build.ts). /init does `cd /root` and runs `sh -l` as root; busybox ash's
// default PS1 is '\w \$ ', and since the initramfs has no /etc/passwd to name root's home
// directory, \w is not shortened to "~": the prompt is "/root # " (followed on the wire by
// ESC [ 6 n, busybox asking the terminal where the cursor is).
import { spawn } from 'node:child_process';
import { SHELL_BANNER as BANNER, SHELL_PROMPT as PROMPT } from '../src/images/initramfs/build.js';
import type { GuestImages } from '../src/images/store.js';

/** The line the kernel prints as it executes /init. */
const RUN_INIT = 'Run /init as init process';
const LONGEST_MARKER = Math.max(BANNER.length, RUN_INIT.length, PROMPT.length);
/** The console option that stands in for Xenotype's `console=hvc0`. */
export const QEMU_CONSOLE = 'console=ttyS0';

export interface QemuBootOptions {
  memoryMiB: number;
  vcpus: number;
  timeoutMs: number;
  /**
   * The kernel options besides the console, the same as the Xenotype boot's (whose command
   * line is `console=hvc0` followed by these). None by default; no `quiet`, so that every
   * message prints, as in ours.
   */
  append?: string;
  /** The QEMU binary; qemu-system-x86_64 on the PATH by default. */
  qemu?: string;
  /** More arguments for QEMU (a -plugin, say); they do not change what is timed. */
  extraArgs?: readonly string[];
  /** Called with each piece of the console output as it arrives. */
  onOutput?: (text: string) => void;
}

export interface QemuBootResult {
  /** Seconds from spawning QEMU to the shell prompt. */
  seconds: number;
  /** Seconds from spawning QEMU to the kernel's "Run /init as init process". */
  initSeconds: number;
  /** Seconds from spawning QEMU to /init's banner. */
  bannerSeconds: number;
  /** The console output up to the prompt (and whatever arrived with it). */
  output: string;
  /** What QEMU printed on stderr until it exited. */
  stderr: string;
  /** The full command, for the record. */
  command: string[];
}

export class QemuBootError extends Error {
  override name = 'QemuBootError';
}

/** The last `lines` lines of `text`, for error messages. */
function tail(text: string, lines = 25): string {
  return text.replace(/\r/g, '').split('\n').slice(-lines).join('\n');
}

/** The QEMU command line for a boot of `images` to the shell. */
export function qemuBootCommand(
  images: Pick<GuestImages, 'vmlinux' | 'initramfs'>,
  options: QemuBootOptions,
): string[] {
  const append = [QEMU_CONSOLE, options.append ?? ''].filter((part) => part !== '').join(' ');
  return [
    options.qemu ?? 'qemu-system-x86_64',
    '-accel',
    'tcg',
    '-kernel',
    images.vmlinux,
    '-initrd',
    images.initramfs,
    '-append',
    append,
    '-m',
    String(options.memoryMiB),
    '-smp',
    String(options.vcpus),
    '-nographic',
    '-no-reboot',
    ...(options.extraArgs ?? []),
  ];
}

/**
 * Boots `images` under QEMU TCG until the shell's first prompt after /init's banner and
 * returns the time that took, then stops QEMU (SIGTERM, which QEMU handles as a clean
 * shutdown; SIGKILL if it lingers) and waits for it to exit.
 */
export async function bootQemuToShell(
  images: Pick<GuestImages, 'vmlinux' | 'initramfs'>,
  options: QemuBootOptions,
): Promise<QemuBootResult> {
  const command = qemuBootCommand(images, options);
  const [file, ...args] = command as [string, ...string[]];
  const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

  return new Promise<QemuBootResult>((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let stderr = '';
    let initSeconds = Number.NaN;
    let bannerAt = -1;
    let bannerSeconds = Number.NaN;
    let outcome: { ok: QemuBootResult } | { error: Error } | undefined;
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;

    const finish = (result: { ok: QemuBootResult } | { error: Error }) => {
      if (outcome !== undefined) return;
      outcome = result;
      clearTimeout(timer);
      if (exited) settle();
      else {
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
      }
    };
    const settle = () => {
      clearTimeout(killTimer);
      if (outcome === undefined) return;
      if ('ok' in outcome) resolve({ ...outcome.ok, stderr });
      else reject(outcome.error);
    };

    const timer = setTimeout(() => {
      finish({
        error: new QemuBootError(
          `QEMU did not reach the shell prompt ${JSON.stringify(PROMPT)} within ` +
            `${options.timeoutMs / 1000} s (${bannerAt < 0 ? 'no' : 'after the'} initramfs ` +
            `banner); the console's last lines:\n${tail(output)}${stderr ? `\nstderr:\n${tail(stderr)}` : ''}`,
        ),
      });
    }, options.timeoutMs);

    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr += text;
    });
    child.stdout.on('data', (text: string) => {
      if (outcome !== undefined) return;
      // Search only the text that can hold a new match: the chunk and the end of what was there.
      const from = Math.max(0, output.length - LONGEST_MARKER);
      output += text;
      options.onOutput?.(text);
      if (Number.isNaN(initSeconds) && output.includes(RUN_INIT, from)) {
        initSeconds = seconds(start);
      }
      if (bannerAt < 0) {
        bannerAt = output.indexOf(BANNER, from);
        if (bannerAt >= 0) bannerSeconds = seconds(start);
      }
      if (bannerAt >= 0 && output.indexOf(PROMPT, Math.max(bannerAt, from)) >= 0) {
        finish({
          ok: { seconds: seconds(start), initSeconds, bannerSeconds, output, stderr, command },
        });
      }
    });

    child.on('error', (error: NodeJS.ErrnoException) => {
      // Without a pid QEMU never started; otherwise this is a failed kill, and 'close' follows.
      if (child.pid !== undefined) return;
      exited = true;
      const missing = error.code === 'ENOENT';
      finish({
        error: new QemuBootError(
          missing
            ? `${file} was not found; install the qemu-system-x86 package ` +
                '(scripts/install-host-tools)'
            : `could not run ${file}: ${error.message}`,
          { cause: error },
        ),
      });
      settle();
    });
    child.on('close', (code, signal) => {
      exited = true;
      finish({
        error: new QemuBootError(
          `QEMU exited (${signal ?? `status ${code}`}) before the shell prompt; ` +
            `the console's last lines:\n${tail(output)}${stderr ? `\nstderr:\n${tail(stderr)}` : ''}`,
        ),
      });
      settle();
    });
  });
}
