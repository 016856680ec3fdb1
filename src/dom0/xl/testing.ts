// A fake xl client for tests: captured streams, a scripted stdin, a clock that moves only when
// xl sleeps, and the detach/log calls a daemonized `xl create` makes.
import type { Toolstack } from '../toolstack/types.js';
import { runXl } from './index.js';
import type { XlIo } from './io.js';

export interface ClientOptions {
  readonly cwd?: string;
  readonly stdinIsTty?: boolean;
  readonly stdoutIsTty?: boolean;
  readonly columns?: number;
  readonly rows?: number;
  /** Milliseconds since the epoch when the call starts. */
  readonly clock?: number;
}

/** One `xl` invocation in progress. */
export class FakeClient {
  stdout = '';
  stderr = '';
  /** Lines written to daemon logs, prefixed with the log's name. */
  logs = '';
  detachedWith: number | null = null;
  rawMode: boolean[] = [];
  clock: number;
  readonly io: XlIo;
  private input: Uint8Array[] = [];
  private inputEnded = false;
  private wakeInput: (() => void) | null = null;
  private detachWaiters: ((code: number) => void)[] = [];

  constructor(opts: ClientOptions = {}) {
    this.clock = opts.clock ?? 1_700_003_723_000;
    this.io = {
      stdout: (d) => {
        this.stdout += typeof d === 'string' ? d : Buffer.from(d).toString('latin1');
      },
      stderr: (t) => {
        this.stderr += t;
      },
      cwd: opts.cwd ?? '/tmp',
      stdinIsTty: opts.stdinIsTty ?? false,
      stdoutIsTty: opts.stdoutIsTty ?? false,
      ...(opts.columns !== undefined ? { columns: opts.columns } : {}),
      ...(opts.rows !== undefined ? { rows: opts.rows } : {}),
      stdin: { [Symbol.asyncIterator]: () => this.inputIterator() },
      setRawMode: (raw) => {
        this.rawMode.push(raw);
      },
      detach: (code) => {
        this.detachedWith = code;
        for (const w of this.detachWaiters) w(code);
      },
      log: (name, text) => {
        this.logs += `${name}: ${text}`;
      },
      now: () => this.clock,
      sleep: async (ms) => {
        this.clock += ms;
        await new Promise((r) => setImmediate(r));
      },
      pid: 4242,
    };
  }

  /** Types into xl's stdin. */
  type(text: string | Uint8Array): void {
    this.input.push(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
    this.wakeInput?.();
  }

  endInput(): void {
    this.inputEnded = true;
    this.wakeInput?.();
  }

  /** Resolves when xl detaches (daemonizes). */
  detached(): Promise<number> {
    if (this.detachedWith !== null) return Promise.resolve(this.detachedWith);
    return new Promise((r) => this.detachWaiters.push(r));
  }

  private inputIterator(): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        for (;;) {
          const chunk = this.input.shift();
          if (chunk) return { value: chunk, done: false };
          if (this.inputEnded) return { value: undefined, done: true };
          await new Promise<void>((r) => {
            this.wakeInput = r;
          });
        }
      },
      return: async () => ({ value: undefined, done: true }),
    };
  }
}

export interface XlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly client: FakeClient;
}

/** Starts `xl ARGS…`; the promise settles when the call ends. */
export function startXl(
  ts: Toolstack,
  args: readonly string[],
  opts: ClientOptions = {},
): { client: FakeClient; done: Promise<XlResult> } {
  const client = new FakeClient(opts);
  const done = runXl(args, client.io, ts).then((code) => ({
    code,
    stdout: client.stdout,
    stderr: client.stderr,
    client,
  }));
  return { client, done };
}

/** Runs `xl ARGS…` to the end. */
export function xl(
  ts: Toolstack,
  args: readonly string[],
  opts: ClientOptions = {},
): Promise<XlResult> {
  return startXl(ts, args, opts).done;
}

/** Lets pending promise callbacks run (guests answering, watches firing). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Waits until `cond` holds (file reads and timers take more than a few turns of the loop). */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 1));
  }
}
