// For the host's tests: temporary run directories, the real client binaries run as child
// processes, and a protocol-level client that can claim a terminal it does not have.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ClientMessage,
  encodeMessage,
  FrameDecoder,
  type HostMessage,
  PROTOCOL_VERSION,
  type StartRequest,
} from './control-protocol.js';
import { type RunPaths, runPaths } from './run-dir.js';

export const XL = fileURLToPath(new URL('../bin/xl.js', import.meta.url));
export const XENOTYPE = fileURLToPath(new URL('../bin/xenotype.js', import.meta.url));

/** A fresh run directory (short: a socket's path has a length limit). */
export function tempRunPaths(): RunPaths {
  return runPaths(mkdtempSync(join(tmpdir(), 'xt-host-')));
}

/**
 * The environment of a client: this run directory, and should it start a host, the in-memory
 * toolstack and a short idle timeout, so a test never boots a machine or leaves a host behind.
 */
export function clientEnv(paths: RunPaths, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    XENOTYPE_RUN_DIR: paths.dir,
    XENOTYPE_FAKE_TOOLSTACK: '1',
    XENOTYPE_IDLE_TIMEOUT: '5',
    ...extra,
  };
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** A binary (XL or XENOTYPE) running; `input` undefined leaves its stdin open. */
export class Running {
  readonly child: ChildProcess;
  private readonly out: Buffer[] = [];
  private err = '';
  readonly done: Promise<Ran>;

  constructor(script: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd = '/') {
    this.child = spawn(process.execPath, [script, ...args], { env, cwd });
    this.child.stdout!.on('data', (d: Buffer) => this.out.push(d));
    this.child.stderr!.on('data', (d: Buffer) => {
      this.err += d.toString();
    });
    this.done = new Promise((resolve) => {
      this.child.once('close', (code) =>
        resolve({ code, stdout: Buffer.concat(this.out), stderr: this.err }),
      );
    });
  }

  stdout(): Buffer {
    return Buffer.concat(this.out);
  }

  /** Waits until stdout holds `text`. */
  async untilStdout(text: string): Promise<void> {
    await until(
      () => this.stdout().includes(text),
      () => `stdout ${this.stdout().toString()}`,
    );
  }
}

/** Runs a binary to its end, with `input` on its stdin (then EOF). */
export function run(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { input?: string; cwd?: string } = {},
): Promise<Ran> {
  const running = new Running(script, args, env, options.cwd);
  running.child.stdin!.end(options.input ?? '');
  return running.done;
}

/** Waits until `cond` holds; fails with `what` after a generous while (not a timing check). */
export async function until(cond: () => boolean, what: () => string = () => ''): Promise<void> {
  const giveUp = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > giveUp) throw new Error(`gave up waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function readLog(paths: RunPaths, file = paths.logFile): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A client speaking the protocol itself, in this process. */
export class ProtocolClient {
  readonly messages: HostMessage[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.messages.push(...(this.decoder.push(chunk) as HostMessage[]));
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(paths: RunPaths): Promise<ProtocolClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(paths.socket, () => resolve(new ProtocolClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Starts `xl ARGS…` as a client with the given terminal. */
  static async start(
    paths: RunPaths,
    argv: readonly string[],
    terminal: Partial<StartRequest> = {},
  ): Promise<ProtocolClient> {
    const client = await ProtocolClient.connect(paths);
    client.send({
      kind: 'start',
      start: {
        version: PROTOCOL_VERSION,
        argv,
        cwd: '/',
        stdinIsTty: false,
        stdoutIsTty: false,
        pid: process.pid,
        ...terminal,
      },
    });
    return client;
  }

  send(message: ClientMessage): void {
    this.socket.write(encodeMessage(message));
  }

  stdout(): string {
    return this.text('stdout');
  }

  stderr(): string {
    return this.text('stderr');
  }

  private text(kind: 'stdout' | 'stderr'): string {
    const parts = this.messages.flatMap((m) => (m.kind === kind ? [m.data] : []));
    return Buffer.concat(parts).toString('latin1');
  }

  /** The first message of a kind, once it has come. */
  async next<K extends HostMessage['kind']>(kind: K): Promise<Extract<HostMessage, { kind: K }>> {
    const find = () => this.messages.find((m) => m.kind === kind);
    await until(
      () => find() !== undefined,
      () => `a ${kind} message; got ${this.messages.map((m) => m.kind).join(', ')}`,
    );
    return find() as Extract<HostMessage, { kind: K }>;
  }

  /** The exit code the host sent (exit or detach). */
  async exitCode(): Promise<number> {
    await until(() => this.messages.some((m) => m.kind === 'exit' || m.kind === 'detach'));
    const last = this.messages.find((m) => m.kind === 'exit' || m.kind === 'detach');
    return last !== undefined && 'code' in last ? last.code : -1;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
