// A guest under qemu-system-x86_64 (TCG) kept running so that a benchmark can type commands into
// its shell on the serial console: QEMU's stdio is the console (-nographic), which the GuestShell
// reads and types into.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { buildInitramfs } from '../src/images/initramfs/build.js';
import type { GuestImages } from '../src/images/store.js';
import { GuestShell } from './guest-shell.js';

/** How long QEMU has to exit after SIGTERM before it gets SIGKILL. */
const TERM_GRACE_MS = 5000;

export class QemuGuest {
  readonly shell: GuestShell;
  /** What QEMU printed on stderr. */
  stderr = '';
  private readonly exited: Promise<void>;
  private hasExited = false;
  private readonly child: ChildProcessWithoutNullStreams;

  /** Spawns `command` (QEMU and its arguments, as qemuBootCommand gives them). */
  constructor(name: string, command: readonly string[]) {
    const [file, ...args] = command as [string, ...string[]];
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.shell = new GuestShell(name, (text) => child.stdin.write(text));
    child.stdout.setEncoding('latin1');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.shell.receive(text));
    child.stderr.on('data', (text: string) => {
      this.stderr += text;
    });
    // A write after QEMU has gone fails with EPIPE; the shell's end() reports that instead.
    child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => {
        // Without a pid QEMU never started; otherwise this is a failed kill, and 'close' follows.
        if (child.pid !== undefined) return;
        this.hasExited = true;
        const why =
          error.code === 'ENOENT'
            ? `${file} was not found (install qemu-system-x86)`
            : `${file} could not run (${error.message})`;
        this.shell.end(why);
        resolve();
      });
      child.on('close', (code, signal) => {
        this.hasExited = true;
        const stderr = this.stderr.trim() === '' ? '' : `; stderr: ${this.stderr.trim()}`;
        this.shell.end(`QEMU exited (${signal ?? `status ${code}`}${stderr})`);
        resolve();
      });
    });
  }

  /** Stops QEMU (SIGTERM, a clean shutdown for QEMU; SIGKILL if it lingers) and waits for it. */
  async stop(): Promise<void> {
    if (this.hasExited) return;
    this.child.kill('SIGTERM');
    const kill = setTimeout(() => this.child.kill('SIGKILL'), TERM_GRACE_MS);
    await this.exited;
    clearTimeout(kill);
  }
}

/**
 * An initramfs like the default one but with the virtio modules QEMU's devices need (the default
 * has the Xen frontends); /init loads them at boot.
 */
export async function buildVirtioInitramfs(images: GuestImages, path: string): Promise<void> {
  const archive = await buildInitramfs({
    busybox: images.busybox,
    modulesDir: images.modulesDir,
    kernelRelease: images.kernelRelease,
    modules: ['virtio_pci', 'virtio_blk', 'virtio_net'],
  });
  await writeFile(path, archive);
}
