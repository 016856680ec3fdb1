// The world an `xl` command sees: the client's streams and terminal, forwarded by the host
// daemon, and the exit() that xl's helpers call from deep inside a command.
import type { Toolstack } from '../toolstack/types.js';

/** The `xl` client's side of a call, as the host daemon forwards it. */
export interface XlIo {
  /** The client's standard output (console output is bytes). */
  stdout(data: string | Uint8Array): void;
  stderr(text: string): void;
  /** The client's working directory: config files and kernel paths are relative to it. */
  readonly cwd: string;
  readonly stdinIsTty: boolean;
  readonly stdoutIsTty: boolean;
  /** The terminal size, when stdout is a terminal. */
  readonly columns?: number;
  readonly rows?: number;
  /** The client's standard input (read by `console` and `top`). */
  readonly stdin: AsyncIterable<Uint8Array>;
  /** Puts the client's terminal in raw mode (as xenconsole and curses do) or back. */
  setRawMode?(raw: boolean): void;
  /**
   * xl's daemonizing (do_daemonize): the client may exit now with `code` while this call keeps
   * running in the host, as `xl create`'s domain monitor does. Nothing more goes to the client.
   */
  detach(code: number): void;
  /** A line for the log a daemonized xl writes (/var/log/xen/<name>.log); `text` ends in "\n". */
  log(name: string, text: string): void;
  /** Wall-clock milliseconds since the epoch (default Date.now). */
  now?(): number;
  /** Waits (default setTimeout); tests make time pass at once. */
  sleep?(ms: number): Promise<void>;
  /** The process id xl's messages show (default the host's). */
  readonly pid?: number;
}

/** The global options of xl (xl.c's main): -v, -N, -f, -t, -T. */
export interface XlGlobals {
  readonly verbosity: number;
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly progressUseCr: boolean;
  readonly timestamps: boolean;
}

export interface XlContext {
  readonly io: XlIo;
  readonly ts: Toolstack;
  readonly globals: XlGlobals;
  /** printf to stdout. */
  out(text: string | Uint8Array): void;
  /** fprintf to stderr. */
  err(text: string): void;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** xl's help(command): the usage text on stdout. */
  help(command: string | null): void;
}

/** exit(code) from inside a command, caught by runXl. */
export class XlExit extends Error {
  override name = 'XlExit';
  readonly code: number;

  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

export const EXIT_SUCCESS = 0;
export const EXIT_FAILURE = 1;

export function makeContext(
  io: XlIo,
  ts: Toolstack,
  globals: XlGlobals,
  helpText: (command: string | null) => string,
): XlContext {
  return {
    help: (command) => io.stdout(helpText(command)),
    io,
    ts,
    globals,
    out: (text) => io.stdout(text),
    err: (text) => io.stderr(text),
    now: () => (io.now ? io.now() : Date.now()),
    sleep: (ms) => (io.sleep ? io.sleep(ms) : new Promise((r) => setTimeout(r, ms))),
  };
}
