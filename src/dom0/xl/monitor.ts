// What `xl create` does after the domain runs (the event loop of create_domain and
// handle_domain_death in tools/xl/xl_vmcontrol.c, Xen 4.17): wait for the domain to shut down,
// apply its on_poweroff / on_reboot / on_crash / on_watchdog / on_soft_reset action (destroy,
// restart, rename-restart, preserve), and for a restart build it again from its configuration.
// Every line goes to `log`: stderr with -F, the daemon's log file otherwise.
import type { DomainConfig, ShutdownAction } from '../toolstack/config/domain-config.js';
import { generateUuid } from '../toolstack/config/uuid.js';
import { type DomainWatch, ShutdownReason, ToolstackError } from '../toolstack/types.js';
import type { XlContext } from './io.js';

type Restart = 'none' | 'normal' | 'rename';

/** Watches `domid` until the domain is gone for good; returns 0, or a libxl error code. */
export async function monitorDomain(
  ctx: XlContext,
  firstDomid: number,
  firstConfig: DomainConfig,
  log: (text: string) => void,
): Promise<number> {
  const LOG = (line: string): void => log(`${line}\n`);
  const pid = ctx.io.pid ?? process.pid;
  let domid = firstDomid;
  let config = firstConfig;
  for (;;) {
    LOG(`Waiting for domain ${config.name} (domid ${domid}) to die [pid ${pid}]`);
    let watch: DomainWatch;
    try {
      watch = await ctx.ts.watchDomain(domid);
    } catch (e) {
      return failure(e, LOG);
    }
    let restart: Restart;
    try {
      const ev = await watch.next();
      if (ev.type === 'death') {
        LOG(`Domain ${domid} has been destroyed.`);
        return 0;
      }
      const reason = ev.shutdown_reason;
      LOG(`Domain ${domid} has shut down, reason code ${reason} 0x${(reason >>> 0).toString(16)}`);
      const handled = await handleDomainDeath(ctx, domid, reason, config, LOG);
      config = handled.config;
      restart = handled.restart;
      if (restart === 'rename' && !(await preserveDomain(ctx, domid, config, LOG))) return -1;
    } catch (e) {
      LOG(`Domain ${domid}, failed to get event, quitting (rc=${codeOf(e)})`);
      return codeOf(e);
    } finally {
      watch.close();
    }
    if (restart === 'none') {
      LOG('Done. Exiting now');
      return 0;
    }
    LOG('Done. Rebooting now');
    // xl sleeps here ("XXX FIXME: … re-creation fails sometimes").
    await ctx.sleep(2000);
    try {
      domid = await ctx.ts.createDomain(config);
      await ctx.ts.unpause(domid);
    } catch (e) {
      return failure(e, LOG);
    }
  }
}

function codeOf(e: unknown): number {
  if (e instanceof ToolstackError) return e.code;
  throw e;
}

function failure(e: unknown, LOG: (line: string) => void): number {
  const code = codeOf(e);
  LOG(`libxl: error: ${(e as Error).message}`);
  return code;
}

const ACTION_BY_REASON: Readonly<Record<number, keyof DomainConfig>> = {
  [ShutdownReason.poweroff]: 'onPoweroff',
  [ShutdownReason.reboot]: 'onReboot',
  [ShutdownReason.crash]: 'onCrash',
  [ShutdownReason.watchdog]: 'onWatchdog',
  [ShutdownReason.soft_reset]: 'onSoftReset',
};

/** handle_domain_death: carries out the action; says whether to build the domain again. */
async function handleDomainDeath(
  ctx: XlContext,
  domid: number,
  reason: number,
  config: DomainConfig,
  LOG: (line: string) => void,
): Promise<{ restart: Restart; config: DomainConfig }> {
  if (reason === ShutdownReason.suspend) {
    LOG('Domain has suspended.');
    return { restart: 'none', config };
  }
  const key = ACTION_BY_REASON[reason];
  let action: ShutdownAction;
  if (key) {
    action = config[key] as ShutdownAction;
  } else {
    LOG(`Unknown shutdown reason code ${reason}. Destroying domain.`);
    action = 'destroy';
  }
  LOG(`Action for shutdown reason code ${reason} is ${action}`);
  // The config parser refuses core dumps, so these only come from a retrieved configuration.
  if (action === 'coredump-destroy') action = 'destroy';
  if (action === 'coredump-restart') action = 'restart';
  switch (action) {
    case 'preserve':
      return { restart: 'none', config };
    case 'rename-restart':
      return { restart: 'rename', config: await reloadConfig(ctx, domid, config, LOG) };
    case 'soft-reset':
      // libxl_domain_soft_reset is not available: the domain cannot be kept, so it goes.
      LOG(`Soft reset is not supported by Xenotype: destroying domain ${domid}`);
      await destroy(ctx, domid, LOG);
      return { restart: 'none', config };
    default: {
      const next = action === 'restart' ? await reloadConfig(ctx, domid, config, LOG) : config;
      LOG(`Domain ${domid} needs to be cleaned up: destroying the domain`);
      await destroy(ctx, domid, LOG);
      return { restart: action === 'restart' ? 'normal' : 'none', config: next };
    }
  }
}

async function destroy(ctx: XlContext, domid: number, LOG: (line: string) => void): Promise<void> {
  try {
    await ctx.ts.destroy(domid);
  } catch (e) {
    failure(e, LOG);
  }
}

/** reload_domain_config: the configuration libxl kept for the domain, or the old one. */
async function reloadConfig(
  ctx: XlContext,
  domid: number,
  config: DomainConfig,
  LOG: (line: string) => void,
): Promise<DomainConfig> {
  try {
    return await ctx.ts.retrieveDomainConfig(domid);
  } catch (e) {
    LOG(`failed to retrieve guest configuration (rc=${codeOf(e)}). reusing old configuration`);
    return config;
  }
}

/** preserve_domain: keeps the old domain as NAME-YYYYMMDDTHHMMZ with a fresh UUID. */
async function preserveDomain(
  ctx: XlContext,
  domid: number,
  config: DomainConfig,
  LOG: (line: string) => void,
): Promise<boolean> {
  const t = new Date(ctx.now());
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const suffix = `-${t.getUTCFullYear()}${p2(t.getUTCMonth() + 1)}${p2(t.getUTCDate())}T${p2(t.getUTCHours())}${p2(t.getUTCMinutes())}Z`;
  LOG(`Preserving domain ${domid} ${config.name} with suffix${suffix}`);
  try {
    await ctx.ts.preserve(domid, suffix, generateUuid());
    return true;
  } catch (e) {
    failure(e, LOG);
    return false;
  }
}
