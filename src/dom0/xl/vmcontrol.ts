// Domain life-cycle commands (tools/xl/xl_vmcontrol.c in Xen 4.17): pause, unpause, destroy,
// shutdown, reboot, and rename (xl_misc.c). `create` is in create.ts.
import {
  type DomainEvent,
  type DomainWatch,
  LibxlError,
  ToolstackError,
} from '../toolstack/types.js';
import { EXIT_FAILURE, EXIT_SUCCESS, type XlContext, XlExit } from './io.js';
import { flag, switchForeachOpt } from './options.js';
import { findDomain, ignoringFailure, libxlFailure } from './util.js';

export async function mainPause(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [dom] = switchForeachOpt(ctx, argv, '', null, 'pause', 1);
  const domid = await findDomain(ctx, dom!);
  await ignoringFailure(ctx, () => ctx.ts.pause(domid));
  return EXIT_SUCCESS;
}

export async function mainUnpause(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [dom] = switchForeachOpt(ctx, argv, '', null, 'unpause', 1);
  const domid = await findDomain(ctx, dom!);
  await ignoringFailure(ctx, () => ctx.ts.unpause(domid));
  return EXIT_SUCCESS;
}

export async function mainDestroy(ctx: XlContext, argv: readonly string[]): Promise<number> {
  let force = false;
  const [dom] = switchForeachOpt(ctx, argv, 'f', null, 'destroy', 1, () => {
    force = true;
  });
  const domid = await findDomain(ctx, dom!);
  if (domid === 0 && !force) {
    ctx.err(
      'Not destroying domain 0; use -f to force.\n' +
        'This can only be done when using a disaggregated hardware domain and toolstack.\n\n',
    );
    return EXIT_FAILURE;
  }
  try {
    await ctx.ts.destroy(domid);
  } catch (e) {
    ctx.err(`destroy failed (rc=${libxlFailure(ctx, e)})\n`);
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}

export const mainShutdown = (ctx: XlContext, argv: readonly string[]): Promise<number> =>
  shutdownOrReboot(ctx, argv, false);

export const mainReboot = (ctx: XlContext, argv: readonly string[]): Promise<number> =>
  shutdownOrReboot(ctx, argv, true);

/** main_shutdown_or_reboot. */
async function shutdownOrReboot(
  ctx: XlContext,
  argv: readonly string[],
  reboot: boolean,
): Promise<number> {
  const what = reboot ? 'reboot' : 'shutdown';
  let wait = 0;
  let all = false;
  let fallback = false;
  const longopts = [flag('all', 'a'), flag('wait', 'w')];
  const operands = switchForeachOpt(ctx, argv, 'awF', longopts, what, 0, (opt) => {
    if (opt === 'a') all = true;
    else if (opt === 'w') wait++;
    else if (opt === 'F') fallback = true;
  });
  if (operands[0] === undefined && !all) {
    ctx.err('You must specify -a or a domain id.\n\n');
    return EXIT_FAILURE;
  }
  const watches: DomainWatch[] = [];
  if (all) {
    let domains: Awaited<ReturnType<typeof ctx.ts.listDomains>>;
    try {
      domains = await ctx.ts.listDomains();
    } catch (e) {
      libxlFailure(ctx, e);
      ctx.err('libxl_list_domain failed.\n');
      return EXIT_FAILURE;
    }
    for (const d of domains) {
      if (d.domid === 0 || d.never_stop) continue;
      const w = await signalDomain(ctx, d.domid, reboot, fallback, wait > 0);
      if (w) watches.push(w);
    }
  } else {
    const domid = await findDomain(ctx, operands[0]!);
    const w = await signalDomain(ctx, domid, reboot, fallback, wait > 0);
    if (w) watches.push(w);
  }
  if (wait > 0) await waitForDomainDeaths(ctx, watches, wait === 1);
  return EXIT_SUCCESS;
}

/** shutdown_domain / reboot_domain; with `watch`, then libxl_evenable_domain_death. */
async function signalDomain(
  ctx: XlContext,
  domid: number,
  reboot: boolean,
  fallback: boolean,
  watch: boolean,
): Promise<DomainWatch | null> {
  const what = reboot ? 'reboot' : 'shutdown';
  ctx.err(`${reboot ? 'Rebooting' : 'Shutting down'} domain ${domid}\n`);
  let rc = 0;
  try {
    await (reboot ? ctx.ts.reboot(domid) : ctx.ts.shutdown(domid));
  } catch (e) {
    rc =
      e instanceof ToolstackError && e.code === LibxlError.NOPARAVIRT
        ? e.code
        : libxlFailure(ctx, e);
  }
  if (rc === LibxlError.NOPARAVIRT) {
    const event = reboot ? 'reset' : 'power';
    if (fallback) {
      ctx.err(`PV control interface not available: sending ACPI ${event} button event.\n`);
      try {
        await ctx.ts.sendTrigger(domid, reboot ? 'reset' : 'power', 0);
        rc = 0;
      } catch (e) {
        rc = libxlFailure(ctx, e);
      }
    } else {
      ctx.err(`PV control interface not available: external graceful ${what} not possible.\n`);
      ctx.err(`Use "-F" to fallback to ACPI ${event} event.\n`);
    }
  }
  if (rc) {
    ctx.err(`${what} failed (rc=${rc})\n`);
    throw new XlExit(EXIT_FAILURE);
  }
  if (!watch) return null;
  try {
    return await ctx.ts.watchDomain(domid);
  } catch (e) {
    ctx.err(`wait for death failed (evgen, rc=${libxlFailure(ctx, e)})\n`);
    throw new XlExit(EXIT_FAILURE);
  }
}

/** wait_for_domain_deaths: its LOG lines go to stderr, xl's log file when not daemonized. */
async function waitForDomainDeaths(
  ctx: XlContext,
  watches: readonly DomainWatch[],
  shutdownIsEnough: boolean,
): Promise<void> {
  ctx.err(`Waiting for ${watches.length} domains\n`);
  type Got = { w: DomainWatch; ev: DomainEvent };
  const pending = new Map<DomainWatch, Promise<Got>>();
  const arm = (w: DomainWatch): Promise<Got> => {
    const p = w.next().then((ev) => ({ w, ev }));
    // A watch abandoned on the way out may still fail: that is not an unhandled rejection.
    p.catch(() => {});
    return p;
  };
  for (const w of watches) pending.set(w, arm(w));
  let count = 0;
  while (count < watches.length) {
    let got: Got;
    try {
      got = await Promise.race(pending.values());
    } catch (e) {
      ctx.err(`Failed to get event, quitting (rc=${e instanceof ToolstackError ? e.code : -3})\n`);
      for (const w of pending.keys()) w.close();
      throw new XlExit(EXIT_FAILURE);
    }
    const { w, ev } = got;
    pending.delete(w);
    let done = false;
    if (ev.type === 'death') {
      ctx.err(`Domain ${ev.domid} has been destroyed\n`);
      done = true;
    } else {
      ctx.err(`Domain ${ev.domid} has been shut down, reason code ${ev.shutdown_reason}\n`);
      if (shutdownIsEnough) done = true;
      else ctx.err(`Domain ${ev.domid} continue waiting for death\n`);
    }
    if (done) {
      w.close();
      count++;
    } else {
      pending.set(w, arm(w));
    }
  }
}

/** main_rename (xl_misc.c). */
export async function mainRename(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [dom, newName] = switchForeachOpt(ctx, argv, '', null, 'rename', 2);
  const domid = await findDomain(ctx, dom!);
  try {
    await ctx.ts.rename(domid, newName!);
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err(`Can't rename domain '${dom}'.\n`);
    return 1;
  }
  return 0;
}
