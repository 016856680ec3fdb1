// `xl top`: Xen 4.17's xl runs xentop (tools/xentop/xentop.c), and so does this, taking
// xentop's options (xl itself passes none): -d SECONDS between updates, -b batch output (no
// summary, no keys), -i N iterations, -n networks, -x VBDs, -v vCPUs, -r repeated headers,
// -f full names, -V version. On a terminal it is curses-like: redrawn every delay or key, q quits.
import { atoi } from '../toolstack/config/strtol.js';
import { ToolstackError } from '../toolstack/types.js';
import type { XlContext } from './io.js';
import { flag, switchForeachOpt, withArg } from './options.js';
import { NUM_FIELDS } from './top-fields.js';
import {
  collectNode,
  drawSummary,
  drawTable,
  type TopNode,
  type TopPrinter,
  type TopView,
} from './top-render.js';
import { TopScreen } from './top-screen.js';

const VERSION_TEXT =
  'xentop 1.0\nWritten by Judy Fischbach, David Hendricks, Josh Triplett\n\n' +
  'Copyright (C) 2005  International Business Machines  Corp\n' +
  'This is free software; see the source for copying conditions.There is NO\n' +
  'warranty; not even for MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.\n';

const LONGOPTS = [
  flag('version', 'V'),
  flag('networks', 'n'),
  flag('vbds', 'x'),
  flag('repeat-header', 'r'),
  flag('vcpus', 'v'),
  withArg('delay', 'd'),
  flag('batch', 'b'),
  withArg('iterations', 'i'),
  flag('full-name', 'f'),
];

interface TopOptions {
  delay: number;
  batch: boolean;
  /** null: run until told to stop (xentop's `loop`). */
  iterations: number | null;
}

export async function mainTop(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const opts: TopOptions = { delay: 3, batch: false, iterations: null };
  let version = false;
  const view: TopView = {
    sortField: 0,
    firstDomainIndex: 0,
    showVcpus: false,
    showNetworks: false,
    showVbds: false,
    repeatHeader: false,
    showFullName: false,
  };
  let fullName = false;
  switchForeachOpt(ctx, argv, 'Vnxrvd:bi:f', LONGOPTS, 'top', 0, (opt, arg) => {
    if (opt === 'V') version = true;
    else if (opt === 'n') view.showNetworks = true;
    else if (opt === 'x') view.showVbds = true;
    else if (opt === 'r') view.repeatHeader = true;
    else if (opt === 'v') view.showVcpus = true;
    else if (opt === 'd') opts.delay = atoi(arg ?? '');
    else if (opt === 'b') opts.batch = true;
    else if (opt === 'i') opts.iterations = atoi(arg ?? '') >>> 0;
    else if (opt === 'f') fullName = true;
  });
  if (version) {
    ctx.out(VERSION_TEXT);
    return 0;
  }
  const v: TopView = { ...view, showFullName: fullName };
  // Without a terminal there is no curses screen; xentop would fail, this falls back to batch.
  try {
    if (opts.batch || !ctx.io.stdoutIsTty) await batchLoop(ctx, opts, v);
    else await screenLoop(ctx, opts, v);
  } catch (e) {
    if (!(e instanceof ToolstackError)) throw e;
    ctx.err('Failed to retrieve statistics from libxenstat\n');
  }
  // xl returns system("xentop")'s wait status from main(): xentop's exit(1) is 256, which the
  // shell sees as 0. So `xl top` always ends with status 0.
  return 0;
}

/** `!--iterations` with xentop's unsigned counter: -i 0 wraps round and runs (nearly) forever. */
function lastIteration(opts: TopOptions): boolean {
  if (opts.iterations === null) return false;
  opts.iterations = (opts.iterations - 1) >>> 0;
  return opts.iterations === 0;
}

async function batchLoop(ctx: XlContext, opts: TopOptions, view: TopView): Promise<void> {
  let prev: TopNode | null = null;
  const printer: TopPrinter = { print: (t) => ctx.out(t), attron: () => {}, attroff: () => {} };
  for (;;) {
    const cur = await collectNode(ctx, view.showVcpus);
    drawTable(printer, cur, prev, view, () => true);
    prev = cur;
    if (lastIteration(opts)) return;
    await ctx.sleep(Math.max(0, opts.delay) * 1000);
  }
}

/** Keys as curses' getch() returns them (keypad mode decodes the arrows). */
type Key = string | 'up' | 'down' | 'escape' | 'timeout' | 'eof';

async function screenLoop(ctx: XlContext, opts: TopOptions, view: TopView): Promise<void> {
  const screen = new TopScreen(ctx.io.rows ?? 24, ctx.io.columns ?? 80);
  const keys = new KeyReader(ctx);
  ctx.io.setRawMode?.(true);
  ctx.out(TopScreen.ENTER);
  let prev: TopNode | null = null;
  let oldSeconds = 0;
  let key: Key = 'timeout';
  let prompt: { text: string; value: string } | null = null;
  try {
    for (;;) {
      const nowSeconds = Math.floor(ctx.now() / 1000);
      if (key !== 'timeout' || nowSeconds - oldSeconds >= opts.delay) {
        const cur = await collectNode(ctx, view.showVcpus);
        screen.erase();
        drawSummary(screen, cur, timeOfDay(cur.timeMs));
        drawTable(screen, cur, prev, view, () => screen.row() < screen.lines - 1);
        screen.bottomLine(prompt, view);
        ctx.out(screen.render());
        prev = cur;
        oldSeconds = nowSeconds;
        if (lastIteration(opts)) return;
      }
      key = await keys.getch(500);
      if (key === 'eof') return;
      if (prompt) {
        prompt = editPrompt(prompt, key, (value) => {
          const d = atoi(value);
          if (d > 0) opts.delay = d;
        });
      } else if (key !== 'timeout') {
        const action = handleKey(key, view);
        if (action === 'quit') return;
        if (action === 'delay') prompt = { text: 'Delay(sec)', value: '' };
      }
    }
  } finally {
    keys.stop();
    ctx.out(TopScreen.LEAVE);
    ctx.io.setRawMode?.(false);
  }
}

/** handle_key, outside a prompt. */
function handleKey(key: Key, view: TopView): 'quit' | 'delay' | null {
  switch (key) {
    case 'n':
    case 'N':
      view.showNetworks = !view.showNetworks;
      return null;
    case 'b':
    case 'B':
      view.showVbds = !view.showVbds;
      return null;
    case 'r':
    case 'R':
      view.repeatHeader = !view.repeatHeader;
      return null;
    case 's':
    case 'S':
      view.sortField = (view.sortField + 1) % NUM_FIELDS;
      return null;
    case 'v':
    case 'V':
      view.showVcpus = !view.showVcpus;
      return null;
    case 'down':
      view.firstDomainIndex++;
      return null;
    case 'up':
      if (view.firstDomainIndex > 0) view.firstDomainIndex--;
      return null;
    case 'd':
    case 'D':
      return 'delay';
    case 'q':
    case 'Q':
    case 'escape':
      return 'quit';
    default:
      return null;
  }
}

/** The "Delay(sec)" prompt's line editing: Enter applies, Escape cancels. */
function editPrompt(
  prompt: { text: string; value: string },
  key: Key,
  apply: (value: string) => void,
): { text: string; value: string } | null {
  if (key === '\r') {
    apply(prompt.value);
    return null;
  }
  if (key === 'escape') return null;
  if (key === '\x7f' || key === '\b') return { ...prompt, value: prompt.value.slice(0, -1) };
  if (key.length === 1 && key >= ' ' && key <= '~' && prompt.value.length + 1 < 80) {
    return { ...prompt, value: prompt.value + key };
  }
  return prompt;
}

function timeOfDay(ms: number): string {
  const t = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(t.getHours())}:${p2(t.getMinutes())}:${p2(t.getSeconds())}`;
}

/** Reads keys from stdin in the background; getch waits up to `ms` (curses' halfdelay). */
class KeyReader {
  private readonly queue: Key[] = [];
  private wake: (() => void) | null = null;
  private readonly it: AsyncIterator<Uint8Array>;
  private stopped = false;

  constructor(private readonly ctx: XlContext) {
    this.it = ctx.io.stdin[Symbol.asyncIterator]();
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const r = await this.it.next();
        if (this.stopped) return;
        if (r.done) break;
        this.queue.push(...decodeKeys(Buffer.from(r.value).toString('latin1')));
        this.wake?.();
      }
    } catch {
      // A broken stdin is the end of input.
    }
    this.queue.push('eof');
    this.wake?.();
  }

  async getch(ms: number): Promise<Key> {
    const k = this.queue.shift();
    if (k !== undefined) return k;
    const arrived = new Promise<void>((r) => {
      this.wake = r;
    });
    await Promise.race([arrived, this.ctx.sleep(ms)]);
    this.wake = null;
    return this.queue.shift() ?? 'timeout';
  }

  stop(): void {
    this.stopped = true;
    this.it.return?.()?.catch(() => {});
  }
}

function decodeKeys(s: string): Key[] {
  const keys: Key[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const seq = s.slice(i, i + 3);
      if (seq === '\x1b[A' || seq === '\x1bOA') keys.push('up');
      else if (seq === '\x1b[B' || seq === '\x1bOB') keys.push('down');
      else {
        keys.push('escape');
        continue;
      }
      i += 2;
    } else {
      keys.push(s[i]!);
    }
  }
  return keys;
}
