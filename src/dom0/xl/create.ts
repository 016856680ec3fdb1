// `xl create` (main_create and create_domain in tools/xl/xl_vmcontrol.c, Xen 4.17): read and
// parse the config, print it for -N/-d, build the domain paused, attach the console (-c), unpause
// (unless -p), then watch the domain as xl's daemonized child does (see monitor.ts).
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type DomainConfig, parseDomainConfig } from '../toolstack/config/domain-config.js';
import { domainConfigToJson } from '../toolstack/config/json.js';
import { LibxlError } from '../toolstack/types.js';
import { runConsole } from './console.js';
import { type XlContext, XlExit } from './io.js';
import { monitorDomain } from './monitor.js';
import { flag, switchForeachOpt, withArg } from './options.js';
import { ignoringFailure, libxlFailure, strerror } from './util.js';

interface DomainCreate {
  configFile: string | null;
  consoleAutoconnect: boolean;
  debug: boolean;
  /** Without -F or -e, xl leaves a daemon watching the domain. */
  daemonize: boolean;
  /** Without -e, something watches the domain (on_poweroff, on_reboot, …). */
  monitor: boolean;
  paused: boolean;
  quiet: boolean;
  vnc: boolean;
  dryRun: boolean;
  extra: string[];
}

const LONGOPTS = [
  withArg('defconfig', 'f'),
  flag('dryrun', 'n'),
  flag('ignore-global-affinity-masks', 'i'),
  flag('quiet', 'q'),
  flag('vncviewer', 'V'),
  flag('vncviewer-autopass', 'A'),
];

export async function mainCreate(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const dom: DomainCreate = {
    configFile: null,
    consoleAutoconnect: false,
    debug: false,
    daemonize: true,
    monitor: true,
    paused: false,
    quiet: false,
    vnc: false,
    dryRun: ctx.globals.dryRun,
    extra: [],
  };
  let args = argv;
  // A first argument that is neither an option nor key=value is the config file.
  const first = argv[1];
  if (first !== undefined && first[0] !== '-' && !first.includes('=')) {
    dom.configFile = first;
    args = argv.slice(1);
  }
  const operands = switchForeachOpt(
    ctx,
    args,
    'AFVcdef:inpq',
    LONGOPTS,
    'create',
    0,
    (opt, arg) => {
      if (opt === 'A' || opt === 'V') dom.vnc = true;
      else if (opt === 'F') dom.daemonize = false;
      else if (opt === 'c') dom.consoleAutoconnect = true;
      else if (opt === 'd') dom.debug = true;
      else if (opt === 'e') {
        dom.daemonize = false;
        dom.monitor = false;
      } else if (opt === 'f') dom.configFile = arg;
      else if (opt === 'n') dom.dryRun = true;
      else if (opt === 'p') dom.paused = true;
      else if (opt === 'q') dom.quiet = true;
    },
  );
  for (const op of operands) {
    if (op.includes('=')) dom.extra.push(op);
    else if (dom.configFile === null) dom.configFile = op;
    else {
      ctx.help('create');
      return 2;
    }
  }
  const rc = await createDomain(ctx, dom);
  return rc < 0 ? -rc : 0;
}

/** create_domain: a libxl error code (negative) or 0. */
async function createDomain(ctx: XlContext, dom: DomainCreate): Promise<number> {
  if (dom.configFile === null) {
    ctx.err('Config file not specified and none in save file\n');
    return LibxlError.INVAL;
  }
  let data: Uint8Array = new Uint8Array(0);
  // /dev/null means "everything is on the command line".
  if (dom.configFile !== '/dev/null') {
    try {
      data = await readFile(resolve(ctx.io.cwd, dom.configFile));
    } catch (e) {
      ctx.err(`Failed to read config file: ${dom.configFile}: ${strerror(e)}\n`);
      return LibxlError.FAIL;
    }
  }
  if (!dom.quiet) ctx.err(`Parsing config from ${dom.configFile}\n`);
  const parsed = parseDomainConfig(
    { source: dom.configFile, data, extra: dom.extra, cwd: ctx.io.cwd },
    (line) => ctx.err(`${line}\n`),
  );
  if (!parsed.ok) throw new XlExit(1);
  const config = parsed.config;

  if (dom.debug || dom.dryRun) {
    const json = domainConfigToJson(config);
    if (dom.debug && !dom.dryRun) ctx.err(json);
    else ctx.out(json);
  }
  if (dom.dryRun) return 0;

  let domid: number;
  try {
    domid = await ctx.ts.createDomain(config);
  } catch (e) {
    return libxlFailure(ctx, e);
  }
  // xl attaches the console once the domain exists and before unpausing it, so no output is lost.
  const console = dom.consoleAutoconnect ? runConsole(ctx, domid, null, 0) : null;
  if (!dom.paused) await ignoringFailure(ctx, () => ctx.ts.unpause(domid));
  if (!dom.daemonize && !dom.monitor) {
    if (console) await console;
    return 0;
  }
  // The vncviewer child finds no viewer to run: Xenotype has no VNC display.
  if (dom.vnc) ctx.err('Unable to execute vncviewer\n');
  if (dom.daemonize) return daemonized(ctx, domid, config, console);
  const rc = await monitorDomain(ctx, domid, config, (text) => ctx.err(text));
  if (console) await console;
  return rc;
}

/** The parent returns once its console child is done; the daemon watches on, logging. */
async function daemonized(
  ctx: XlContext,
  domid: number,
  config: DomainConfig,
  console: Promise<number> | null,
): Promise<number> {
  const logName = `xl-${config.name}`;
  const monitor = monitorDomain(ctx, domid, config, (text) => ctx.io.log(logName, text));
  if (console) await console;
  ctx.io.detach(0);
  await monitor;
  return 0;
}
