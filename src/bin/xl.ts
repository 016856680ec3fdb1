#!/usr/bin/env node
// The `xl` client. The command runs inside the host daemon (src/dom0/xl/); this forwards it the
// arguments, the working directory and the terminal, and carries the streams both ways. It
// starts the host when none runs (docs/host.md).
import type { Socket } from 'node:net';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  type ClientMessage,
  encodeMessage,
  FrameDecoder,
  type HostMessage,
  PROTOCOL_VERSION,
} from '../host/control-protocol.js';
import { connectOrStartHost } from '../host/launcher.js';
import { type RunPaths, resolveRunDir, runPaths } from '../host/run-dir.js';

/** The host was stopping when asked: ask the next one. */
const RETRY = 'retry';
const MAX_ATTEMPTS = 3;

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/** The terminal as xl left it: raw mode is undone however the client ends. */
class Terminal {
  private raw = false;

  setRawMode(raw: boolean): void {
    if (!process.stdin.isTTY || raw === this.raw) return;
    process.stdin.setRawMode(raw);
    this.raw = raw;
  }

  restore(): void {
    this.setRawMode(false);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const paths = runPaths(resolveRunDir({ env: process.env, uid, home: homedir() }));
  const hostScript = fileURLToPath(new URL('./xenotype.js', import.meta.url));
  const terminal = new Terminal();
  process.on('exit', () => terminal.restore());
  for (const [signal, number] of Object.entries(SIGNAL_NUMBERS)) {
    process.on(signal, () => {
      terminal.restore();
      process.exit(128 + number);
    });
  }
  for (let attempt = 1; ; attempt++) {
    const socket = await connectOrStartHost({
      paths,
      uid,
      hostCommand: [process.execPath, hostScript, 'host', 'start', '--foreground'],
      env: process.env,
    });
    const outcome = await runCommand(socket, argv, terminal, paths);
    if (outcome !== RETRY) return outcome;
    if (attempt === MAX_ATTEMPTS) {
      process.stderr.write('xl: the Xenotype host keeps stopping; try again\n');
      return 1;
    }
  }
}

/** Runs one command over `socket`: its exit status, or RETRY if the host was stopping. */
function runCommand(
  socket: Socket,
  argv: readonly string[],
  terminal: Terminal,
  paths: RunPaths,
): Promise<number | typeof RETRY> {
  const send = (message: ClientMessage): void => {
    if (socket.writable) socket.write(encodeMessage(message));
  };
  const stdoutIsTty = process.stdout.isTTY === true;
  const size = (): { columns: number; rows: number } => ({
    columns: process.stdout.columns,
    rows: process.stdout.rows,
  });
  send({
    kind: 'start',
    start: {
      version: PROTOCOL_VERSION,
      argv,
      cwd: process.cwd(),
      stdinIsTty: process.stdin.isTTY === true,
      stdoutIsTty,
      ...(stdoutIsTty ? size() : {}),
      pid: process.pid,
    },
  });
  if (stdoutIsTty) process.stdout.on('resize', () => send({ kind: 'resize', ...size() }));

  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: number | typeof RETRY): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(outcome);
    };
    const decoder = new FrameDecoder();
    let forwarding = false;
    const handle = (message: HostMessage): void => {
      switch (message.kind) {
        case 'stdout':
          // A slow reader of our stdout slows the host down rather than filling memory.
          if (!process.stdout.write(message.data)) {
            socket.pause();
            process.stdout.once('drain', () => socket.resume());
          }
          break;
        case 'stderr':
          process.stderr.write(message.data);
          break;
        case 'raw-mode':
          terminal.setRawMode(message.raw);
          break;
        case 'read-stdin':
          if (!forwarding) forwardStdin(send);
          forwarding = true;
          break;
        case 'exit':
        case 'detach':
          finish(message.code);
          break;
        case 'status':
          finish(RETRY);
          break;
      }
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const message of decoder.push(chunk)) handle(message as HostMessage);
      } catch (e) {
        process.stderr.write(
          `xl: garbled answer from the Xenotype host: ${(e as Error).message}\n`,
        );
        finish(1);
      }
    });
    socket.on('error', () => {}); // 'close' follows and says it
    socket.on('close', () => {
      if (done) return;
      process.stderr.write(
        `xl: lost the connection to the Xenotype host (it stopped or crashed; see ${paths.logFile})\n`,
      );
      finish(1);
    });
  });
}

/** Our stdin to the command, from when it first reads; its end is only the input's end. */
function forwardStdin(send: (message: ClientMessage) => void): void {
  process.stdin.on('data', (data: Buffer) => send({ kind: 'stdin', data }));
  process.stdin.once('end', () => send({ kind: 'stdin-end' }));
  process.stdin.once('error', () => send({ kind: 'stdin-end' }));
}

/** Exits once what we printed has gone out (stdout may be a pipe, written asynchronously). */
function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

// xl killed by SIGPIPE: whoever read our output stopped reading.
process.stdout.on('error', () => process.exit(141));

main(process.argv.slice(2)).then(exitAfterFlush, (error: unknown) => {
  process.stderr.write(`xl: ${error instanceof Error ? error.message : String(error)}\n`);
  exitAfterFlush(1);
});
