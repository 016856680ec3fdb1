// Xenotype in-process for the benchmarks, as the host daemon runs it: the hypervisor in its
// worker thread, Dom0 and the toolstack on this thread. Guests are built from xl.cfg text through
// the toolstack's create, and their console is handed to a GuestShell.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dom0, startDom0 } from '../src/dom0/index.js';
import {
  type DomainConfig,
  parseDomainConfig,
} from '../src/dom0/toolstack/config/domain-config.js';
import { createLibxl, type Libxl } from '../src/dom0/toolstack/libxl.js';
import type { ConsoleConnection } from '../src/dom0/toolstack/types.js';
import { Machine } from '../src/host/machine.js';
import { GuestShell } from './guest-shell.js';

/** The default guest: Debian's cloud kernel, the default initramfs, 512 MiB, two vCPUs. */
export const DEFAULT_CONFIG = 'examples/debian-pvh.cfg';
/**
 * The checkout: where the build puts this file (dist/bench/ in it), or else the directory the
 * bench runs in (a build elsewhere, `tsc --outDir /tmp/…`, run from the checkout).
 */
export const CHECKOUT =
  [fileURLToPath(new URL('../../', import.meta.url)), `${process.cwd()}/`].find((dir) =>
    existsSync(join(dir, DEFAULT_CONFIG)),
  ) ?? fileURLToPath(new URL('../../', import.meta.url));
/** Dom0's RAM in frames (16 MiB), as the host daemon gives it. */
const DOM0_FRAMES = 4096;
const CLOSE_TIMEOUT_MS = 120_000;

/**
 * examples/debian-pvh.cfg with `settings` (xl.cfg lines such as `disk = [ '…' ]`) after it, as
 * `xl create FILE KEY=VALUE…` would read it; relative paths are the checkout's.
 */
export async function guestConfig(settings: readonly string[]): Promise<DomainConfig> {
  const parsed = parseDomainConfig(
    {
      source: DEFAULT_CONFIG,
      data: await readFile(`${CHECKOUT}/${DEFAULT_CONFIG}`),
      extra: settings,
      cwd: CHECKOUT,
    },
    (line) => console.error(line),
  );
  if (!parsed.ok) throw new Error(`${DEFAULT_CONFIG} with ${settings.join(' ')} does not parse`);
  return parsed.config;
}

export interface XenotypeGuest {
  readonly domid: number;
  readonly shell: GuestShell;
}

export class XenotypeHost {
  private readonly consoles: ConsoleConnection[] = [];

  private constructor(
    readonly machine: Machine,
    private readonly dom0: Dom0,
    readonly toolstack: Libxl,
  ) {}

  /** Starts the machine (`memoryMiB` shared by Dom0 and the guests), Dom0 and the toolstack. */
  static async start(memoryMiB: number): Promise<XenotypeHost> {
    const machine = await Machine.start({
      memoryBytes: memoryMiB * 1024 * 1024,
      dom0Frames: DOM0_FRAMES,
      commandLine: '',
    });
    try {
      // No TAP uplink from the network bridges: the guests talk only to each other, and the
      // bench leaves the host's interfaces alone.
      const dom0 = await startDom0(machine, {
        ramFrames: DOM0_FRAMES,
        log: () => {},
        uplink: false,
      });
      return new XenotypeHost(machine, dom0, createLibxl(dom0, { log: () => {} }));
    } catch (error) {
      await machine.stop();
      throw error;
    }
  }

  /** Creates the domain, attaches a shell to its console and unpauses it. */
  async createGuest(config: DomainConfig): Promise<XenotypeGuest> {
    const domid = await this.toolstack.createDomain(config);
    const connection = await this.toolstack.openConsole(domid, { type: null, num: 0 });
    this.consoles.push(connection);
    const shell = new GuestShell(config.name, (text) =>
      connection.write(new Uint8Array(Buffer.from(text, 'latin1'))),
    );
    void (async () => {
      try {
        for await (const bytes of connection.output) {
          shell.receive(Buffer.from(bytes).toString('latin1'));
        }
      } finally {
        shell.end('the console closed');
      }
    })().catch(() => {});
    await this.toolstack.unpause(domid);
    return { domid, shell };
  }

  /**
   * Stops everything, guests and all, in the host daemon's order (machine-services.ts). Dom0's
   * side is not waited for longer than CLOSE_TIMEOUT_MS: a hypervisor that has stopped
   * answering must not hang the bench.
   */
  async stop(): Promise<void> {
    for (const connection of this.consoles) connection.close();
    const graceful = (async () => {
      await this.toolstack.close();
      await this.dom0.netback.close();
      await this.dom0.blkback.close();
      await this.dom0.consoled.close();
      await this.dom0.xenstored.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
    });
    const outcome = await Promise.race([graceful.catch((error: unknown) => error), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      console.error(`Dom0 did not close within ${CLOSE_TIMEOUT_MS / 1000} s; stopping the machine`);
    } else if (outcome !== undefined) {
      console.error(`Dom0 failed to close: ${String(outcome)}`);
    }
    await this.machine.stop();
  }
}
