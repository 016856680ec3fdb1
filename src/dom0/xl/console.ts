// `xl console` (tools/xl/xl_console.c) and the xenconsole client it runs
// (tools/console/client/main.c in Xen 4.17): the guest's output flows to stdout until the console
// goes away; when stdin and stdout are both terminals, keystrokes go to the guest in raw mode and
// Ctrl-] (0x1d) detaches. Otherwise stdin is not read at all, as xenconsole does.

import { atoi } from '../toolstack/config/strtol.js';
import type { ConsoleType } from '../toolstack/types.js';
import { EXIT_FAILURE, type XlContext, XlExit } from './io.js';
import { switchForeachOpt } from './options.js';
import { findDomain, libxlFailure } from './util.js';

const ESCAPE_CHARACTER = 0x1d;
/** xenconsole exits with EINVAL when asked for Domain-0's console. */
const EINVAL = 22;

export async function mainConsole(ctx: XlContext, argv: readonly string[]): Promise<number> {
  let type: ConsoleType | null = null;
  let num = 0;
  const [dom] = switchForeachOpt(ctx, argv, 'n:t:', null, 'console', 1, (opt, arg) => {
    if (opt === 't') {
      if (arg === 'pv' || arg === 'serial' || arg === 'vuart') type = arg;
      else {
        // xl returns from inside its option switch: later options are never looked at.
        ctx.err('console type supported are: pv, serial, vuart\n');
        throw new XlExit(EXIT_FAILURE);
      }
    } else if (opt === 'n') {
      num = atoi(arg ?? '');
    }
  });
  const domid = await findDomain(ctx, dom!);
  return runConsole(ctx, domid, type, num);
}

/** libxl_console_exec: what xenconsole does, returning its exit status. */
export async function runConsole(
  ctx: XlContext,
  domid: number,
  type: ConsoleType | null,
  num: number,
): Promise<number> {
  if (domid === 0) {
    ctx.err("Can't specify Domain-0\n");
    return EINVAL;
  }
  let conn: Awaited<ReturnType<typeof ctx.ts.openConsole>>;
  try {
    conn = await ctx.ts.openConsole(domid, { type, num });
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('Unable to attach console\n');
    return EXIT_FAILURE;
  }
  const interactive = ctx.io.stdinIsTty && ctx.io.stdoutIsTty;
  if (interactive) ctx.io.setRawMode?.(true);
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  let stopped = false;
  void (async () => {
    for await (const chunk of conn.output) {
      if (stopped) break;
      ctx.out(chunk);
    }
  })()
    .catch(() => {})
    .finally(() => finish());
  const stdin = interactive ? ctx.io.stdin[Symbol.asyncIterator]() : null;
  if (stdin) {
    pumpInput(stdin, finished, (data) => conn.write(data), finish).catch(() => {});
  }
  try {
    await finished;
  } finally {
    stopped = true;
    conn.close();
    stdin?.return?.()?.catch(() => {});
    if (interactive) ctx.io.setRawMode?.(false);
  }
  return 0;
}

/** Keystrokes to the guest until Ctrl-], the end of the console, or the end of stdin. */
async function pumpInput(
  stdin: AsyncIterator<Uint8Array>,
  finished: Promise<void>,
  write: (data: Uint8Array) => void,
  detach: () => void,
): Promise<void> {
  const stop = finished.then(() => null);
  for (;;) {
    const r = await Promise.race([stdin.next(), stop]);
    // At the end of stdin the output keeps flowing until the domain goes.
    if (r === null || r.done) return;
    const chunk = r.value;
    const esc = chunk.indexOf(ESCAPE_CHARACTER);
    if (esc >= 0) {
      if (esc > 0) write(chunk.subarray(0, esc));
      detach();
      return;
    }
    write(chunk);
  }
}
