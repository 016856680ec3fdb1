/**
 * Drives Xenotype as a user does: the `xl` binary from the checkout, a host daemon in a run
 * directory of the test's own, Debian's xenstore-utils on the host's xenstored socket.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CHECKOUT_IMAGES } from '../../src/images/cli.js';
import { atShellPrompt, SHELL_PROMPT } from '../../src/images/initramfs/build.js';
import { ensureImages, linkDefaultImages } from '../../src/images/store.js';

const run = promisify(execFile);
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));
const XL = join(CHECKOUT, 'dist/src/bin/xl.js');
const XENOTYPE = join(CHECKOUT, 'dist/src/bin/xenotype.js');

export interface XlHost {
  readonly runDir: string;
  readonly env: NodeJS.ProcessEnv;
  /** `xl ARGS…` to completion. */
  xl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** A Debian xenstore-utils command against the host's xenstored. */
  xenstore(tool: string, ...args: string[]): Promise<string>;
  /** What the console daemon has logged for a guest. */
  consoleLog(name: string): Promise<string>;
  /** What a daemonized `xl create` has logged for a guest (xl-NAME.log). */
  xlLog(name: string): Promise<string>;
  /** Stops the host (its guests go with it) and removes the run directory. */
  close(): Promise<void>;
}

export interface XlHostOptions {
  /** More of the host's environment (XENOTYPE_UPLINK …). */
  readonly env?: Readonly<Record<string, string>>;
  /** A network namespace to start the host in (its TAP uplinks appear there). */
  readonly netns?: string;
}

export async function startXlHost(options: XlHostOptions = {}): Promise<XlHost> {
  await linkDefaultImages(await ensureImages(), CHECKOUT_IMAGES);
  const runDir = await mkdtemp(join(tmpdir(), 'xenotype-run-'));
  const env = {
    ...process.env,
    XENOTYPE_RUN_DIR: runDir,
    XENOTYPE_IDLE_TIMEOUT: '0',
    ...options.env,
  };
  if (options.netns !== undefined) {
    // Started here, the host lives in the namespace; xl reaches it by its Unix socket.
    await run('ip', ['netns', 'exec', options.netns, process.execPath, XENOTYPE, 'host', 'start'], {
      env,
    });
  }
  return {
    runDir,
    env,
    async xl(...args) {
      try {
        const { stdout, stderr } = await run(process.execPath, [XL, ...args], {
          cwd: CHECKOUT,
          env,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code?: number; stdout?: string; stderr?: string };
        if (typeof e.code !== 'number') throw error;
        return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
      }
    },
    async xenstore(tool, ...args) {
      const socket = join(runDir, 'xenstored', 'socket');
      const { stdout } = await run(tool, args, { env: { ...env, XENSTORED_PATH: socket } });
      return stdout;
    },
    consoleLog: (name) =>
      readFile(join(runDir, 'log', 'console', `guest-${name}.log`), 'latin1').catch(() => ''),
    xlLog: (name) => readFile(join(runDir, 'log', `xl-${name}.log`), 'utf8').catch(() => ''),
    async close() {
      await run(process.execPath, [XENOTYPE, 'host', 'stop'], { env }).catch(() => {});
      await rm(runDir, { recursive: true, force: true });
    },
  };
}

/**
 * `xl …` on a terminal of its own (util-linux `script` gives it a pseudo-terminal), as a user
 * runs `xl create -c`: the console is interactive, in raw mode, and takes what we type.
 */
export class ConsoleSession {
  readonly child: ChildProcessWithoutNullStreams;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(host: XlHost, args: readonly string[]) {
    const command = [process.execPath, XL, ...args].map((word) => `'${word}'`).join(' ');
    this.child = spawn(
      'script',
      ['--quiet', '--flush', '--return', '--command', command, '/dev/null'],
      {
        cwd: CHECKOUT,
        env: host.env,
      },
    );
    this.child.stdout.on('data', (data: Buffer) => {
      this.output += data.toString('latin1');
    });
    this.child.stderr.on('data', (data: Buffer) => {
      this.output += data.toString('latin1');
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Resolves once `test` holds for the output from `from` on (checked as output comes). */
  waitFor(test: (text: string) => boolean, from = 0): Promise<void> {
    return waitUntil(
      () => test(this.output.slice(from)),
      () => this.output.slice(-3000),
    );
  }

  /**
   * Waits for the guest's shell, then turns the kernel's console messages down to emergencies
   * (`dmesg -n 1`): a late one ("random: crng init done") would otherwise land inside a
   * command's output. Panics and "reboot: Power down" are emergencies and still show.
   */
  async reachShell(): Promise<void> {
    await this.waitFor(atShellPrompt);
    await this.command('dmesg -n 1');
  }

  /** Types a command and resolves with what it printed, once the next prompt shows. */
  async command(line: string): Promise<string> {
    const from = this.output.length;
    this.child.stdin.write(`${line}\n`);
    await this.waitFor((text) => text.includes(`\n${SHELL_PROMPT}`), from);
    const text = this.output.slice(from);
    const start = text.indexOf('\n') + 1;
    return text.slice(start, text.lastIndexOf(`\n${SHELL_PROMPT}`)).replaceAll('\r', '');
  }
}

/** Polls `ready` until it is true; fails with `describe()` if the process running it ends. */
export async function waitUntil(
  ready: () => boolean | Promise<boolean>,
  describe: () => string,
): Promise<void> {
  const started = Date.now();
  while (!(await ready())) {
    if (Date.now() - started > 40 * 60_000) throw new Error(`gave up waiting:\n${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Writes `dir`/NAME.cfg: examples/debian-pvh.cfg as a smaller guest (256 MiB, `vcpus` vCPUs,
 * no crypto self-tests), with `extra` lines (disk=, vif=) at the end.
 */
export async function writeGuestConfig(
  dir: string,
  name: string,
  extra: string,
  vcpus?: number,
): Promise<string> {
  const example = await readFile(join(CHECKOUT, 'examples/debian-pvh.cfg'), 'utf8');
  let config = example
    .replace(/^name\s*=.*$/m, `name = "${name}"`)
    .replace(/"images\//g, `"${join(CHECKOUT, 'images')}/`)
    .replace(/^memory\s*=.*$/m, 'memory = 256')
    .replace(/^cmdline\s*=.*$/m, 'cmdline = "console=hvc0 cryptomgr.notests"');
  if (vcpus !== undefined) config = config.replace(/^vcpus\s*=.*$/m, `vcpus = ${vcpus}`);
  const path = join(dir, `${name}.cfg`);
  await writeFile(path, `${config}\n${extra}\n`);
  return path;
}
