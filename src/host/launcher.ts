/**
 * The client's side of reaching the host: connect to the control socket, and start the host
 * in the background when none is running — detached, its stdout and stderr in the log file —
 * then wait until its socket accepts. Several clients may do this at once: the pid file lets
 * one host win, and the others' hosts exit at once, "already running".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import {
  encodeMessage,
  FrameDecoder,
  type HostStatus,
  PROTOCOL_VERSION,
} from './control-protocol.js';
import { errorCode, isAlive, readPidFile } from './pid-file.js';
import { makeRunDir, type RunPaths } from './run-dir.js';

export class HostUnavailable extends Error {
  override name = 'HostUnavailable';
}

/** A connection to the running host, or undefined if none runs (no socket, or a stale one). */
export function connectToHost(socketPath: string): Promise<Socket | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.off('error', failed);
      resolve(socket);
    });
    const failed = (e: Error): void => {
      const code = errorCode(e);
      if (code === 'ENOENT' || code === 'ECONNREFUSED') resolve(undefined);
      else reject(new HostUnavailable(`cannot connect to ${socketPath}: ${e.message}`));
    };
    socket.once('error', failed);
  });
}

/** Whether a live host holds the run directory (it may be starting or stopping). */
export function hostIsAlive(paths: RunPaths): boolean {
  const holder = readPidFile(paths.pidFile);
  return holder !== undefined && isAlive(holder);
}

export interface LaunchOptions {
  readonly paths: RunPaths;
  readonly uid: number;
  /** Runs a host in the foreground: [program, ...arguments]. */
  readonly hostCommand: readonly [string, ...string[]];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** How long to wait for a host to accept (default 60 s). */
  readonly timeoutMs?: number;
}

const POLL_MS = 50;
const DEFAULT_TIMEOUT_MS = 60_000;

/** Connects to the host, starting one if none runs. */
export async function connectOrStartHost(options: LaunchOptions): Promise<Socket> {
  const { paths } = options;
  const giveUp = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let child: { process: ChildProcess; exit: number | null | undefined } | undefined;
  for (;;) {
    const socket = await connectToHost(paths.socket);
    if (socket !== undefined) return socket;
    if (child?.exit !== undefined && child.exit !== 0) {
      const how = child.exit === null ? 'was killed' : `exited with status ${child.exit}`;
      throw new HostUnavailable(
        `the Xenotype host failed to start (it ${how}); see ${paths.logFile}`,
      );
    }
    if (Date.now() > giveUp) {
      throw new HostUnavailable(`the Xenotype host did not start in time; see ${paths.logFile}`);
    }
    // Our host exited 0 ("already running") or was never started: start one unless a live
    // host holds the run directory (still starting, or stopping before a new one can).
    if ((child === undefined || child.exit !== undefined) && !hostIsAlive(paths)) {
      const started = { process: spawnHost(options), exit: undefined as number | null | undefined };
      started.process.once('exit', (code) => {
        started.exit = code;
      });
      // Could not run at all (spawn's 'error' comes instead of 'exit'): as a shell says 127.
      started.process.once('error', () => {
        started.exit = 127;
      });
      child = started;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Starts a host in the background, detached from this process and its terminal. */
export function spawnHost(options: LaunchOptions): ChildProcess {
  const { paths } = options;
  makeRunDir(paths, options.uid);
  const log = openSync(paths.logFile, 'a', 0o644);
  try {
    const [program, ...args] = options.hostCommand;
    const child = spawn(program, args, {
      detached: true,
      stdio: ['ignore', log, log],
      // The same run directory however the host would resolve it; cwd "/" holds no mount.
      env: { ...options.env, XENOTYPE_RUN_DIR: paths.dir },
      cwd: '/',
    });
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

/** Sends an admin request and waits for the host's status. */
export function adminRequest(socket: Socket, request: 'status' | 'stop'): Promise<HostStatus> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const message of decoder.push(chunk)) {
          if (message.kind === 'status') resolve(message.status);
          // A host stopping as we asked: it says why on stderr and hangs up.
          if (message.kind === 'exit') reject(new HostUnavailable('the host is stopping'));
        }
      } catch (e) {
        reject(e);
      }
    });
    socket.once('close', () => reject(new HostUnavailable('the host hung up')));
    socket.once('error', reject);
    socket.write(encodeMessage({ kind: 'admin', admin: { version: PROTOCOL_VERSION, request } }));
  });
}
