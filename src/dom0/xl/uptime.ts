// `xl uptime` (print_uptime in tools/xl/xl_info.c, Xen 4.17): how long each domain has run,
// Domain-0 first; -s gives uptime(1)'s one-line form with the time of day.
import { type XlContext, XlExit } from './io.js';
import { switchForeachOpt } from './options.js';
import { cstr, domidToName, findDomain, left, right } from './util.js';

/** uptime_to_string. */
export function uptimeToString(uptime: number, short: boolean): string {
  let rest = uptime;
  const day = Math.floor(rest / 86400);
  rest -= day * 86400;
  const hour = Math.floor(rest / 3600);
  rest -= hour * 3600;
  const min = Math.floor(rest / 60);
  const sec = rest - min * 60;
  const hm = `${right(hour, 2)}:${String(min).padStart(2, '0')}`;
  const clock = short ? hm : `${hm}:${String(sec).padStart(2, '0')}`;
  if (day > 1) return `${day} days, ${clock}`;
  if (day === 1) return `${day} day, ${clock}`;
  return clock;
}

/** current_time_to_string: the host's local time as %H:%M:%S. */
function timeOfDay(nowSeconds: number): string {
  const t = new Date(nowSeconds * 1000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(t.getHours())}:${p2(t.getMinutes())}:${p2(t.getSeconds())}`;
}

async function printUptime(
  ctx: XlContext,
  domid: number,
  short: boolean,
  now: number,
): Promise<void> {
  const start = await ctx.ts.domainStartTime(domid).catch(() => null);
  if (start === null) {
    // Domain-0's comes from /proc/uptime, and xl gives up without it; a guest is just skipped.
    if (domid !== 0) return;
    ctx.err('Can not get Dom0 uptime.\n');
    throw new XlExit(255);
  }
  // uint32_t arithmetic, as xl does it.
  const uptime = (now - Math.floor(start)) >>> 0;
  const name = cstr(await domidToName(ctx, domid));
  if (short) {
    ctx.out(` ${timeOfDay(now)} up ${uptimeToString(uptime, true)}, ${name} (${domid})\n`);
  } else {
    ctx.out(`${left(name, 33)} ${right(domid, 4)} ${uptimeToString(uptime, false)}\n`);
  }
}

export async function mainUptime(ctx: XlContext, argv: readonly string[]): Promise<number> {
  let short = false;
  const operands = switchForeachOpt(ctx, argv, 's', null, 'uptime', 0, () => {
    short = true;
  });
  const domids: number[] = [];
  for (const dom of operands) domids.push(await findDomain(ctx, dom));
  const now = Math.floor(ctx.now() / 1000);
  if (!short) ctx.out(`${left('Name', 33)} ${right('ID', 4)} Uptime\n`);
  if (domids.length === 0) {
    await printUptime(ctx, 0, short, now);
    let domains: Awaited<ReturnType<typeof ctx.ts.listDomains>>;
    try {
      domains = await ctx.ts.listDomains();
    } catch {
      ctx.err('Could not list vms.\n');
      return 0;
    }
    for (const d of domains) if (d.domid !== 0) await printUptime(ctx, d.domid, short, now);
  } else {
    for (const domid of domids) await printUptime(ctx, domid, short, now);
  }
  return 0;
}
