/**
 * The host daemon: it holds the run directory's pid file, starts the machine's services (the
 * hypervisor, Dom0 and the toolstack, injected so tests can use a fake), serves the control
 * socket, and stops when told to, when the machine fails, or when it has been idle — no guests
 * and no clients — for the idle timeout. Stopping destroys the guests: the host is the machine.
 */
import { chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { Toolstack } from '../dom0/toolstack/types.js';
import type { HostStatus } from './control-protocol.js';
import { appendXlLog, HostLog } from './host-log.js';
import { PidFile, unlinkQuietly } from './pid-file.js';
import { makeRunDir, type RunPaths, runPaths } from './run-dir.js';
import { ClientSession, type SessionHost } from './session.js';

/** What the services get from the host. */
export interface ServiceContext {
  readonly paths: RunPaths;
  log(line: string): void;
  /** The hypervisor's console output, in whatever pieces it comes: logged line by line. */
  hypervisorConsole(text: string): void;
  /** The machine failed: the host tells its clients and stops with an error. */
  fail(message: string): void;
}

/** The machine and Dom0 as the host drives them. */
export interface HostServices {
  readonly toolstack: Toolstack;
  /**
   * Stops Dom0's services and the machine (the guests left are gone with it). After a machine
   * failure nothing can be asked of the hypervisor any more.
   */
  close(machineFailed: boolean): Promise<void>;
}

export interface HostOptions {
  readonly runDir: string;
  /** Stop after this long without guests or clients; 0 never stops. */
  readonly idleTimeoutMs: number;
  createServices(context: ServiceContext): Promise<HostServices>;
  /** The owner the run directory must have (default: this process's user). */
  readonly uid?: number;
  /** Also gets every log line (a host in the foreground on a terminal). */
  readonly echo?: (text: string) => void;
}

export interface HostOutcome {
  readonly reason: string;
  /** Stopped because the machine failed (the process should exit non-zero). */
  readonly failed: boolean;
}

/** How often an idle host with guests looks again whether they are gone. */
const IDLE_POLL_MS = 10_000;
/** How long stopping waits for the guests' destruction and the services' close. */
const SHUTDOWN_DEADLINE_MS = 30_000;

export async function startHost(options: HostOptions): Promise<Host> {
  const paths = runPaths(options.runDir);
  makeRunDir(paths, options.uid ?? process.getuid?.() ?? 0);
  const log = new HostLog(paths.logFile, options.echo);
  let pidFile: PidFile;
  try {
    pidFile = PidFile.acquire(paths.pidFile);
  } catch (e) {
    log.close();
    throw e;
  }
  const idle = options.idleTimeoutMs === 0 ? 'never' : `${options.idleTimeoutMs / 1000} s`;
  log.line(`host starting: pid ${process.pid}, run dir ${paths.dir}, idle timeout ${idle}`);
  try {
    const host = new Host(paths, log, pidFile, options.idleTimeoutMs);
    await host.start(options.createServices);
    return host;
  } catch (e) {
    log.line(`host failed to start: ${(e as Error).stack ?? String(e)}`);
    pidFile.release();
    log.close();
    throw e;
  }
}

export class Host implements SessionHost {
  readonly stopped: Promise<HostOutcome>;
  private resolveStopped: (outcome: HostOutcome) => void = () => {};
  private services: HostServices | undefined;
  private server: Server | undefined;
  private readonly sessions = new Set<ClientSession>();
  private nextSession = 1;
  private runningCommands = 0;
  private readonly startedAt = Date.now();
  private idleSince: number | undefined = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping: { reason: string; failed: boolean } | undefined;

  /** Use startHost. */
  constructor(
    readonly paths: RunPaths,
    private readonly hostLog: HostLog,
    private readonly pidFile: PidFile,
    readonly idleTimeoutMs: number,
  ) {
    this.stopped = new Promise((resolve) => {
      this.resolveStopped = resolve;
    });
  }

  get toolstack(): Toolstack {
    if (this.services === undefined) throw new Error('the host has no services yet');
    return this.services.toolstack;
  }

  async start(createServices: HostOptions['createServices']): Promise<void> {
    this.services = await createServices({
      paths: this.paths,
      log: (line) => this.log(line),
      hypervisorConsole: (text) => this.hostLog.stream('xen', text, '(XEN) '),
      fail: (message) => {
        this.log(`machine failure: ${message}`);
        void this.stop('the machine failed; the host stops and its guests are lost', true);
      },
    });
    if (this.stopping) return; // failed while starting
    // We hold the pid file, so a socket left there is a dead host's.
    unlinkQuietly(this.paths.socket);
    const server = createServer((socket) => {
      const session = new ClientSession(socket, this, this.nextSession++);
      this.sessions.add(session);
      this.activityChanged();
      if (this.stopping) {
        session.hostStopping(`the host is stopping: ${this.stopping.reason}`, this.snapshot(0));
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.paths.socket, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await this.services.close(false);
      throw e;
    }
    server.on('error', (e) => this.log(`control socket: ${e.message}`));
    chmodSync(this.paths.socket, 0o600);
    this.server = server;
    this.log(`listening on ${this.paths.socket}`);
    this.activityChanged();
  }

  log(line: string): void {
    this.hostLog.line(line);
  }

  xlLog(name: string, text: string): void {
    try {
      appendXlLog(this.paths.xlLogDir, name, text);
    } catch (e) {
      this.log(`${name}.log: ${(e as Error).message}`);
    }
  }

  async status(asking?: ClientSession): Promise<HostStatus> {
    const guests = this.stopping ? 0 : await this.guestCount().catch(() => -1);
    return this.snapshot(guests, asking);
  }

  /** The status with a known guest count; `asking` is not counted as a connection. */
  private snapshot(guests: number, asking?: ClientSession): HostStatus {
    return {
      pid: process.pid,
      runDir: this.paths.dir,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      guests,
      connections: this.sessions.size - (asking && this.sessions.has(asking) ? 1 : 0),
      runningCommands: this.runningCommands,
      idleTimeoutSeconds: this.idleTimeoutMs / 1000,
      stopping: this.stopping !== undefined,
    };
  }

  requestStop(reason: string): void {
    void this.stop(reason);
  }

  commandsChanged(delta: 1 | -1): void {
    this.runningCommands += delta;
    this.activityChanged();
  }

  closed(session: ClientSession): void {
    this.sessions.delete(session);
    this.activityChanged();
  }

  /** Stops the host (once; later calls get the same outcome). */
  stop(reason: string, failed = false): Promise<HostOutcome> {
    if (this.stopping === undefined) {
      this.stopping = { reason, failed };
      clearTimeout(this.idleTimer);
      void this.shutdown(reason, failed);
    }
    return this.stopped;
  }

  private async shutdown(reason: string, failed: boolean): Promise<void> {
    this.log(`stopping: ${reason}`);
    this.server?.close();
    unlinkQuietly(this.paths.socket);
    const why = `the host is stopping: ${reason}`;
    for (const session of this.sessions) session.hostStopping(why, this.snapshot(0));
    if (this.services !== undefined) {
      if (!failed) await deadline(this.destroyGuests(), 'destroying the guests', this);
      await deadline(this.services.close(failed), 'stopping the machine', this);
    }
    this.pidFile.release();
    this.log('stopped');
    this.hostLog.close();
    this.resolveStopped({ reason, failed });
  }

  /** The machine stops with them anyway; destroying them first lets Dom0 tidy up. */
  private async destroyGuests(): Promise<void> {
    const toolstack = this.toolstack;
    const guests = (await toolstack.listDomains()).filter((d) => d.domid !== 0);
    if (guests.length === 0) return;
    const names = guests.map((d) => `${d.name ?? '(null)'} (domid ${d.domid})`).join(', ');
    this.log(`destroying ${guests.length} guest(s) with the machine: ${names}`);
    for (const d of guests) {
      await toolstack.destroy(d.domid).catch((e: unknown) => {
        this.log(`destroying domain ${d.domid}: ${(e as Error).message}`);
      });
    }
  }

  private async guestCount(): Promise<number> {
    const domains = await this.toolstack.listDomains();
    return domains.filter((d) => d.domid !== 0).length;
  }

  // Idle: no client connected, no command running (a detached `xl create` monitor counts)
  // and no guest, for idleTimeoutMs. Guests come and go without telling the host, so while
  // clients are gone it looks again every IDLE_POLL_MS at most.

  private busy(): boolean {
    return this.sessions.size > 0 || this.runningCommands > 0;
  }

  private activityChanged(): void {
    if (this.busy()) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      this.idleSince = undefined;
      return;
    }
    this.idleSince ??= Date.now();
    this.scheduleIdleCheck();
  }

  private scheduleIdleCheck(): void {
    if (this.idleTimeoutMs === 0 || this.stopping || this.server === undefined) return;
    if (this.busy() || this.idleTimer !== undefined) return;
    const due = (this.idleSince ?? Date.now()) + this.idleTimeoutMs - Date.now();
    this.idleTimer = setTimeout(() => void this.idleCheck(), clamp(due, 0, IDLE_POLL_MS));
  }

  private async idleCheck(): Promise<void> {
    this.idleTimer = undefined;
    if (this.busy() || this.stopping) return;
    let guests: number;
    try {
      guests = await this.guestCount();
    } catch (e) {
      this.log(`idle check: ${(e as Error).message}`);
      guests = 1;
    }
    if (this.busy() || this.stopping) return;
    const now = Date.now();
    if (guests > 0) this.idleSince = now;
    const since = this.idleSince ?? now;
    if (now - since >= this.idleTimeoutMs) {
      void this.stop(`idle for ${Math.round((now - since) / 1000)} s: no guests and no clients`);
      return;
    }
    this.scheduleIdleCheck();
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

async function deadline(work: Promise<void>, what: string, host: Host): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), SHUTDOWN_DEADLINE_MS);
  });
  try {
    const result = await Promise.race([work.then(() => 'done' as const), late]);
    if (result === 'late') host.log(`${what}: gave up after ${SHUTDOWN_DEADLINE_MS / 1000} s`);
  } catch (e) {
    host.log(`${what}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
