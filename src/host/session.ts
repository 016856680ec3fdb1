/**
 * One connection on the control socket: an `xl` command run for a client (its arguments,
 * terminal and streams forwarded), or an admin request from `xenotype host`.
 *
 * A client that goes away before its command ends is treated as xl killed by SIGPIPE: the
 * command's next output or sleep ends it. A command that detached (`xl create`'s monitor) runs
 * on without a client, its output dropped.
 */
import type { Socket } from 'node:net';
import type { Toolstack } from '../dom0/toolstack/types.js';
import { runXl, type XlIo } from '../dom0/xl/index.js';
import { XlExit } from '../dom0/xl/io.js';
import { ByteQueue } from './byte-queue.js';
import {
  type AdminRequest,
  type ClientMessage,
  encodeMessage,
  FrameDecoder,
  type HostMessage,
  type HostStatus,
  PROTOCOL_VERSION,
  type StartRequest,
} from './control-protocol.js';

/** What a session needs from its host. */
export interface SessionHost {
  readonly toolstack: Toolstack;
  log(line: string): void;
  /** A line for a daemonized xl's log (xl-NAME.log). */
  xlLog(name: string, text: string): void;
  status(asking: ClientSession): Promise<HostStatus>;
  requestStop(reason: string): void;
  /** A command started or ended (commands keep the host from stopping when idle). */
  commandsChanged(delta: 1 | -1): void;
  closed(session: ClientSession): void;
}

/** The exit status of a process killed by SIGPIPE, as a shell reports it. */
const EXIT_SIGPIPE = 141;

export class ClientSession {
  private readonly decoder = new FrameDecoder();
  private readonly stdin = new ByteQueue(() => {
    if (!this.answered) this.send({ kind: 'read-stdin' });
  });
  private started = false;
  /** The client has its answer (exit, detach or status): nothing more goes to it. */
  private answered = false;
  private gone = false;
  /** How the log names this client. */
  private who: string;
  private columns: number | undefined;
  private rows: number | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly host: SessionHost,
    readonly id: number,
  ) {
    this.who = `client ${id}`;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (e) => host.log(`${this.who}: ${e.message}`));
    socket.on('close', () => {
      this.gone = true;
      this.stdin.end();
      host.closed(this);
    });
  }

  /**
   * The host stops. A client still waiting for its command is told why, and let go; one that
   * has not asked anything yet gets the stopping status instead, so it can start a new host.
   */
  hostStopping(why: string, status: HostStatus): void {
    if (!this.started) {
      this.started = true;
      this.finish({ kind: 'status', status });
    } else if (!this.answered) {
      this.stderr(`xenotype: ${why}\n`);
      this.finish({ kind: 'exit', code: 1 });
    }
    this.socket.destroySoon();
  }

  private receive(chunk: Buffer): void {
    let messages: ClientMessage[];
    try {
      messages = this.decoder.push(chunk) as ClientMessage[];
    } catch (e) {
      this.host.log(`${this.who}: ${(e as Error).message}; hanging up`);
      this.socket.destroy();
      return;
    }
    for (const message of messages) this.handle(message);
  }

  private handle(message: ClientMessage): void {
    if (this.answered && (message.kind === 'start' || message.kind === 'admin')) return;
    switch (message.kind) {
      case 'start':
        if (this.started) return this.protocolError('a second start');
        this.started = true;
        void this.run(message.start);
        break;
      case 'admin':
        if (this.started) return this.protocolError('an admin request after start');
        this.started = true;
        void this.admin(message.admin);
        break;
      case 'stdin':
        this.stdin.push(message.data);
        break;
      case 'stdin-end':
        // Only the input ends: a console keeps sending the guest's output.
        this.stdin.end();
        break;
      case 'resize':
        this.columns = message.columns;
        this.rows = message.rows;
        break;
    }
  }

  private protocolError(what: string): void {
    this.host.log(`${this.who}: protocol error: ${what}; hanging up`);
    this.socket.destroy();
  }

  private async run(start: StartRequest): Promise<void> {
    this.who = `client ${this.id} (pid ${start.pid})`;
    const who = this.who;
    if (start.version !== PROTOCOL_VERSION) {
      this.host.log(`${who}: protocol version ${start.version}, not ${PROTOCOL_VERSION}`);
      this.stderr(
        `xl: this host speaks control protocol ${PROTOCOL_VERSION}, this xl ${start.version}: stop the host (xenotype host stop) and try again\n`,
      );
      this.finish({ kind: 'exit', code: 1 });
      return;
    }
    this.columns = start.columns;
    this.rows = start.rows;
    const command = ['xl', ...start.argv].map(quoteForLog).join(' ');
    this.host.log(`${who}: ${command} (in ${start.cwd})`);
    this.host.commandsChanged(1);
    let code: number;
    try {
      code = await runXl(start.argv, this.makeIo(start), this.host.toolstack);
    } catch (e) {
      if (e instanceof XlExit) {
        code = e.code; // thrown by an output after the client went
      } else {
        this.host.log(`${who}: ${command} failed: ${(e as Error).stack ?? String(e)}`);
        if (!this.answered && !this.gone) {
          this.stderr(`xl: internal error: ${(e as Error).message}\n`);
        }
        code = 1;
      }
    } finally {
      this.host.commandsChanged(-1);
    }
    this.host.log(`${who}: ${command} exited with ${code}`);
    this.finish({ kind: 'exit', code });
  }

  private makeIo(start: StartRequest): XlIo {
    const io: XlIo = {
      stdout: (data) => this.output('stdout', data),
      stderr: (text) => this.output('stderr', text),
      cwd: start.cwd,
      stdinIsTty: start.stdinIsTty,
      stdoutIsTty: start.stdoutIsTty,
      stdin: this.stdin,
      setRawMode: (raw) => {
        if (!this.answered && !this.gone) this.send({ kind: 'raw-mode', raw });
      },
      detach: (code) => {
        this.host.log(`${this.who}: detached with ${code}; the command goes on`);
        this.finish({ kind: 'detach', code });
      },
      log: (name, text) => this.host.xlLog(name, text),
      sleep: async (ms) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        this.checkClient();
      },
    };
    // Getters: the terminal may be resized while the command runs.
    if (start.columns === undefined || start.rows === undefined) return io;
    return Object.defineProperties(io, {
      columns: { get: () => this.columns, enumerable: true },
      rows: { get: () => this.rows, enumerable: true },
    });
  }

  private output(stream: 'stdout' | 'stderr', data: string | Uint8Array): void {
    this.checkClient();
    if (this.answered) return;
    this.send({
      kind: stream,
      data: typeof data === 'string' ? new TextEncoder().encode(data) : data,
    });
  }

  private stderr(text: string): void {
    this.send({ kind: 'stderr', data: new TextEncoder().encode(text) });
  }

  /** xl would have died of SIGPIPE writing to a client that is gone (unless it detached). */
  private checkClient(): void {
    if (this.gone && !this.answered) throw new XlExit(EXIT_SIGPIPE);
  }

  private async admin(request: AdminRequest): Promise<void> {
    if (request.version !== PROTOCOL_VERSION) {
      this.host.log(`client ${this.id}: admin protocol version ${request.version}`);
      this.socket.destroy();
      return;
    }
    const status = await this.host.status(this);
    if (request.request !== 'stop') {
      this.finish({ kind: 'status', status });
      return;
    }
    // Answered first: the stop hangs up on every client still waiting.
    this.finish({ kind: 'status', status: { ...status, stopping: true } });
    this.host.requestStop(`stop requested (client ${this.id})`);
  }

  /** The client's last message: after it, the connection closes from our side. */
  private finish(message: HostMessage): void {
    if (this.answered) return;
    this.answered = true;
    if (this.gone) return;
    this.send(message);
    this.socket.end();
  }

  private send(message: HostMessage): void {
    if (!this.gone && this.socket.writable) this.socket.write(encodeMessage(message));
  }
}

function quoteForLog(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
