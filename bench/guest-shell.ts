// Drives the busybox shell of the default initramfs over a guest's console, for the benchmarks
// that run commands in a guest: type a command, wait until it has finished, take what it
// printed and its exit status.
//
// A command is typed as one line, `echo "@@<n>""<@@"; COMMAND; echo "@@<n>:$?@@"`. The shell's
// echo of that line (which its line editor may wrap at 80 columns) shows `""` and `$?`
// literally, so only the commands themselves print "@@<n><@@" and "@@<n>:" with digits: what
// lies between is the command's output. Kernel messages that land on the console meanwhile end
// up in it too.
import { atShellPrompt, SHELL_PROMPT } from '../src/images/initramfs/build.js';

/** XENOTYPE_BENCH_CONSOLE=1 copies every guest's console to stderr, to watch a bench run. */
const ECHO_CONSOLE = process.env.XENOTYPE_BENCH_CONSOLE === '1';

export class GuestShellError extends Error {
  override name = 'GuestShellError';
}

export interface CommandResult {
  /** What the command printed, without the echoed command line, with "\r" removed. */
  output: string;
  /** Its exit status ($? of the last command in the line). */
  status: number;
  /** Host seconds from typing the line to the end marker appearing on the console. */
  seconds: number;
}

/** The last `lines` lines of `text`, for error messages. */
export function tail(text: string, lines = 25): string {
  return text.replace(/\r/g, '').split('\n').slice(-lines).join('\n');
}

export class GuestShell {
  private text = '';
  private ended: string | undefined;
  private readonly waiters = new Set<() => void>();
  private commands = 0;
  private atLineStart = true;

  /**
   * `name` labels errors; `send` types text on the guest's console. Console output is handed
   * over with receive(), and end() says the console has gone.
   */
  constructor(
    readonly name: string,
    private readonly send: (text: string) => void,
  ) {}

  /** Everything the console has printed so far. */
  get output(): string {
    return this.text;
  }

  receive(text: string): void {
    this.text += text;
    if (ECHO_CONSOLE) this.echo(text);
    for (const wake of this.waiters) wake();
  }

  private echo(text: string): void {
    let lines = '';
    for (const char of text) {
      if (this.atLineStart) lines += `[${this.name}] `;
      lines += char;
      this.atLineStart = char === '\n';
    }
    process.stderr.write(lines);
  }

  /** The console has gone (the guest or its emulator exited): every wait fails from now on. */
  end(reason: string): void {
    this.ended ??= reason;
    for (const wake of this.waiters) wake();
  }

  /**
   * Resolves with the output from `from` on once `test` holds for it; fails after `timeoutMs`
   * or when the console ends first.
   */
  waitFor(
    test: (text: string) => boolean,
    what: string,
    timeoutMs: number,
    from = 0,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.waiters.delete(check);
        clearTimeout(timer);
      };
      const fail = (why: string) => {
        done();
        reject(
          new GuestShellError(
            `${this.name}: ${why} ${what}; the console's last lines:\n${tail(this.text)}`,
          ),
        );
      };
      const check = () => {
        const text = this.text.slice(from);
        if (test(text)) {
          done();
          resolve(text);
        } else if (this.ended !== undefined) fail(`${this.ended} before`);
      };
      const timer = setTimeout(
        () => fail(`gave up after ${timeoutMs / 1000} s waiting for`),
        timeoutMs,
      );
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for the shell's first prompt after the initramfs banner. */
  async waitForShell(timeoutMs: number): Promise<void> {
    await this.waitFor(atShellPrompt, 'the shell prompt', timeoutMs);
  }

  /**
   * Types `command` (one line; it may end with "&") and waits for it to finish and for the
   * prompt after it.
   */
  async run(command: string, timeoutMs: number): Promise<CommandResult> {
    if (command.includes('\n')) throw new GuestShellError('a command is one line');
    const id = ++this.commands;
    const begin = `@@${id}<@@`;
    const end = new RegExp(`@@${id}:(\\d+)@@`);
    const separator = /&\s*$/.test(command) ? ' ' : '; ';
    const from = this.text.length;
    const start = process.hrtime.bigint();
    this.send(`echo "@@${id}""<@@"; ${command}${separator}echo "@@${id}:$?@@"\n`);
    const upToEnd = await this.waitFor(
      (text) => end.test(text),
      `the end of \`${command}\``,
      timeoutMs,
      from,
    );
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const match = end.exec(upToEnd)!;
    await this.waitFor(
      (text) => text.includes(SHELL_PROMPT),
      `the prompt after \`${command}\``,
      timeoutMs,
      from + match.index + match[0].length,
    );
    const began = upToEnd.indexOf(begin);
    const output = upToEnd
      .slice(began < 0 ? 0 : began + begin.length, match.index)
      .replaceAll('\r', '')
      .replace(/^\n/, '');
    return { output, status: Number(match[1]), seconds };
  }

  /** run(), failing unless the command exits with status 0. */
  async check(command: string, timeoutMs: number): Promise<CommandResult> {
    const result = await this.run(command, timeoutMs);
    if (result.status !== 0) {
      throw new GuestShellError(
        `${this.name}: \`${command}\` exited with status ${result.status}:\n${tail(result.output)}`,
      );
    }
    return result;
  }
}
