/**
 * The host's run directory: where `xl` finds the control socket, where the host keeps its pid
 * file and logs, and where Debian's xenstore-utils find xenstored (docs/host.md).
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** What the run directory depends on (the process's, passed in so tests can vary them). */
export interface RunDirSource {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly uid: number;
  readonly home: string;
}

/**
 * $XENOTYPE_RUN_DIR; else /run/xenotype for root; else $XDG_RUNTIME_DIR/xenotype; else
 * ~/.xenotype/run.
 */
export function resolveRunDir({ env, uid, home }: RunDirSource): string {
  const explicit = env.XENOTYPE_RUN_DIR;
  if (explicit !== undefined && explicit !== '') return explicit;
  if (uid === 0) return '/run/xenotype';
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== '') return join(runtime, 'xenotype');
  return join(home, '.xenotype', 'run');
}

export interface RunPaths {
  readonly dir: string;
  /** The control socket `xl` talks to. */
  readonly socket: string;
  /** The running host's pid; created exclusively, so it is also the single-host lock. */
  readonly pidFile: string;
  /** The host's log (and the stdout/stderr of a host started in the background). */
  readonly logFile: string;
  /** xl-NAME.log files of daemonized `xl create` monitors (Xen: /var/log/xen). */
  readonly xlLogDir: string;
  /** guest-NAME.log files of the console daemon (Xen: /var/log/xen/console). */
  readonly consoleLogDir: string;
  /** xenstored's socket (Xen: /run/xenstored/socket), for XENSTORED_PATH. */
  readonly xenstoredSocket: string;
}

export function runPaths(dir: string): RunPaths {
  return {
    dir,
    socket: join(dir, 'host.sock'),
    pidFile: join(dir, 'host.pid'),
    logFile: join(dir, 'xenotype.log'),
    xlLogDir: join(dir, 'log'),
    consoleLogDir: join(dir, 'log', 'console'),
    xenstoredSocket: join(dir, 'xenstored', 'socket'),
  };
}

/** sun_path holds 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export class RunDirError extends Error {
  override name = 'RunDirError';
}

/**
 * Makes the run directory and its subdirectories. Its sockets are privileged (every xenstored
 * socket client is Dom0), so for a non-root user it is private (0700) and must be the user's.
 */
export function makeRunDir(paths: RunPaths, uid: number): void {
  for (const socket of [paths.socket, paths.xenstoredSocket]) {
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES) {
      throw new RunDirError(
        `${socket}: too long for a Unix socket; choose a shorter run directory`,
      );
    }
  }
  const mode = uid === 0 ? 0o755 : 0o700;
  mkdirSync(paths.dir, { recursive: true, mode });
  const stat = lstatSync(paths.dir);
  if (!stat.isDirectory()) throw new RunDirError(`${paths.dir} is not a directory`);
  if (stat.uid !== uid) {
    throw new RunDirError(`${paths.dir} belongs to uid ${stat.uid}, not to this user (${uid})`);
  }
  for (const sub of [paths.xlLogDir, paths.consoleLogDir, join(paths.dir, 'xenstored')]) {
    mkdirSync(sub, { recursive: true, mode });
  }
}
