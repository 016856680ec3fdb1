/**
 * `xenotype host start [--foreground] | stop | status`: the host daemon by hand (xl starts it
 * on demand, and it stops by itself when idle; docs/host.md).
 */
import type { HostStatus } from './control-protocol.js';
import { startHost } from './host.js';
import {
  adminRequest,
  connectOrStartHost,
  connectToHost,
  HostUnavailable,
  hostIsAlive,
} from './launcher.js';
import { startMachineServices } from './machine-services.js';
import { HostAlreadyRunning } from './pid-file.js';
import { type RunPaths, resolveRunDir, runPaths } from './run-dir.js';
import { hostSettings } from './settings.js';

export interface HostCommandContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly uid: number;
  readonly home: string;
  /** How to run a host in the foreground (the background start spawns it). */
  readonly hostCommand: readonly [string, ...string[]];
  stdout(text: string): void;
  stderr(text: string): void;
  /** A host in the foreground on a terminal also shows its log there. */
  readonly stderrIsTty: boolean;
}

export const HOST_USAGE = `Usage: xenotype host start [--foreground] | stop | status
`;

/** LSB's "program is not running" status. */
const EXIT_NOT_RUNNING = 3;
const STOP_WAIT_MS = 60_000;

export async function runHostCommand(
  argv: readonly string[],
  context: HostCommandContext,
): Promise<number> {
  const paths = runPaths(resolveRunDir(context));
  const [command, ...rest] = argv;
  if (command === 'start' && rest.length === 1 && rest[0] === '--foreground') {
    return runForeground(paths, context);
  }
  if (rest.length > 0 || (command !== 'start' && command !== 'stop' && command !== 'status')) {
    context.stderr(HOST_USAGE);
    return 1;
  }
  if (command === 'start') return startInBackground(paths, context);
  const socket = await connectToHost(paths.socket);
  if (socket === undefined) {
    context.stdout(`xenotype: no host is running (run directory ${paths.dir})\n`);
    return command === 'status' ? EXIT_NOT_RUNNING : 0;
  }
  const status = await adminRequest(socket, command);
  socket.destroy();
  if (command === 'status') {
    context.stdout(formatStatus(status, paths));
    return 0;
  }
  const guests = status.guests > 0 ? `; its ${status.guests} guest(s) are destroyed` : '';
  context.stdout(`xenotype: stopping the host (pid ${status.pid})${guests}\n`);
  await waitUntilGone(paths);
  context.stdout('xenotype: the host has stopped\n');
  return 0;
}

/** Runs the host in this process until it stops: 1 if the machine failed. */
async function runForeground(paths: RunPaths, context: HostCommandContext): Promise<number> {
  const settings = hostSettings(context.env);
  let host: Awaited<ReturnType<typeof startHost>>;
  try {
    host = await startHost({
      runDir: paths.dir,
      uid: context.uid,
      idleTimeoutMs: settings.idleTimeoutMs,
      createServices: async (services) => {
        if (!settings.fakeToolstack) {
          return startMachineServices(services, {
            memoryMiB: settings.memoryMiB,
            uplink: settings.uplink,
          });
        }
        // The test hook's toolstack is test code: loaded only when asked for.
        const { startFakeServices } = await import('./fake-services.js');
        return startFakeServices(services);
      },
      ...(context.stderrIsTty ? { echo: (text: string) => context.stderr(text) } : {}),
    });
  } catch (e) {
    // Another client's host won the race: nothing to do.
    if (e instanceof HostAlreadyRunning) {
      context.stderr(`xenotype: ${e.message}\n`);
      return 0;
    }
    throw e;
  }
  let signalled = false;
  // Started in the background it has no terminal; on one, hanging up means stop.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // A second signal: the stop is stuck, so go now.
      if (signalled) process.exit(1);
      signalled = true;
      void host.stop(`${signal} received`);
    });
  }
  const outcome = await host.stopped;
  return outcome.failed ? 1 : 0;
}

async function startInBackground(paths: RunPaths, context: HostCommandContext): Promise<number> {
  const running = await connectToHost(paths.socket);
  const socket =
    running ??
    (await connectOrStartHost({
      paths,
      uid: context.uid,
      hostCommand: context.hostCommand,
      env: context.env,
    }));
  const status = await adminRequest(socket, 'status');
  socket.destroy();
  const what = running === undefined ? 'started' : 'is already running';
  context.stdout(`xenotype: the host ${what} (pid ${status.pid}); log ${paths.logFile}\n`);
  return 0;
}

async function waitUntilGone(paths: RunPaths): Promise<void> {
  const giveUp = Date.now() + STOP_WAIT_MS;
  while (hostIsAlive(paths)) {
    if (Date.now() > giveUp) {
      throw new HostUnavailable(`the host did not stop; see ${paths.logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function formatStatus(status: HostStatus, paths: RunPaths): string {
  const idle = status.idleTimeoutSeconds === 0 ? 'never' : `${status.idleTimeoutSeconds} s`;
  const rows: [string, string | number][] = [
    ['pid', status.pid],
    ['run directory', status.runDir],
    ['log', paths.logFile],
    ['uptime', `${status.uptimeSeconds} s`],
    ['guests', status.guests < 0 ? 'unknown' : status.guests],
    ['other clients', status.connections],
    ['running commands', status.runningCommands],
    ['idle timeout', idle],
  ];
  if (status.stopping) rows.push(['state', 'stopping']);
  return rows.map(([k, v]) => `${k.padEnd(18)}${v}\n`).join('');
}
