// `xl`, run inside the host daemon: the xl client forwards its arguments and terminal, and this
// runs the command as Xen 4.17's xl would (tools/xl/xl.c: global options, the command table,
// `xl help`, exit codes), against the toolstack.
import { type Toolstack, ToolstackError } from '../toolstack/types.js';
import { mainBlockAttach, mainBlockDetach, mainBlockList } from './block.js';
import { type CmdImpl, CommandTable } from './cmdtable.js';
import { mainConsole } from './console.js';
import { mainCreate } from './create.js';
import { getoptLong } from './getopt.js';
import { mainClaims, mainDmesg, mainDomid, mainDomname, mainList, mainVmList } from './info.js';
import { mainInfo } from './info-host.js';
import {
  EXIT_FAILURE,
  EXIT_SUCCESS,
  makeContext,
  XlExit,
  type XlGlobals,
  type XlIo,
} from './io.js';
import { mainNetworkAttach, mainNetworkDetach, mainNetworkList } from './network.js';
import { mainTop } from './top.js';
import { mainUptime } from './uptime.js';
import { mainVcpuList } from './vcpu.js';
import {
  mainDestroy,
  mainPause,
  mainReboot,
  mainRename,
  mainShutdown,
  mainUnpause,
} from './vmcontrol.js';

export type { XlIo } from './io.js';

const IMPLEMENTED: Readonly<Record<string, CmdImpl>> = {
  create: mainCreate,
  list: mainList,
  destroy: mainDestroy,
  shutdown: mainShutdown,
  reboot: mainReboot,
  pause: mainPause,
  unpause: mainUnpause,
  console: mainConsole,
  'vcpu-list': mainVcpuList,
  'vm-list': mainVmList,
  info: mainInfo,
  domid: mainDomid,
  domname: mainDomname,
  rename: mainRename,
  dmesg: mainDmesg,
  top: mainTop,
  uptime: mainUptime,
  claims: mainClaims,
  'block-attach': mainBlockAttach,
  'block-list': mainBlockList,
  'block-detach': mainBlockDetach,
  'network-attach': mainNetworkAttach,
  'network-list': mainNetworkList,
  'network-detach': mainNetworkDetach,
};

const TABLE = new CommandTable(IMPLEMENTED);

/**
 * Runs `xl ARGS…`; `argv` is what follows "xl" on the command line. Resolves to the exit status
 * (after `io.detach`, the status the client already got).
 */
export async function runXl(
  argv: readonly string[],
  io: XlIo,
  toolstack: Toolstack,
): Promise<number> {
  const code = await run(argv, io, toolstack);
  // exit() keeps the low 8 bits.
  return code & 0xff;
}

async function run(argv: readonly string[], io: XlIo, toolstack: Toolstack): Promise<number> {
  // "+vftTN": global options stop at the command; glibc reports a bad one (opterr is still on).
  const { items, operands } = getoptLong('xl', argv, '+vftTN');
  const globals = {
    verbosity: 0,
    dryRun: false,
    force: false,
    progressUseCr: false,
    timestamps: false,
  };
  for (const item of items) {
    if (item.kind === 'error') {
      io.stderr(`${item.message}\nunknown global option\n`);
      return EXIT_FAILURE;
    }
    if (item.opt === 'v') globals.verbosity++;
    else if (item.opt === 'N') globals.dryRun = true;
    else if (item.opt === 'f') globals.force = true;
    else if (item.opt === 't') globals.progressUseCr = true;
    else if (item.opt === 'T') globals.timestamps = true;
  }
  const ctx = makeContext(io, toolstack, globals as XlGlobals, (c) => TABLE.help(c));
  const cmd = operands[0];
  if (cmd === undefined) {
    ctx.help(null);
    return EXIT_FAILURE;
  }
  const spec = TABLE.lookup(cmd);
  if (!spec) {
    if (cmd === 'help') {
      ctx.help(operands[1] ?? null);
      return EXIT_SUCCESS;
    }
    ctx.err('command not implemented\n');
    return EXIT_FAILURE;
  }
  if (globals.dryRun && !spec.canDryrun) {
    ctx.err('command does not implement -N (dryrun) option\n');
    return EXIT_FAILURE;
  }
  if (!spec.impl) {
    ctx.err(`xl: "${spec.name}" is not available in Xenotype yet.\n`);
    return EXIT_FAILURE;
  }
  try {
    return await spec.impl(ctx, operands);
  } catch (e) {
    if (e instanceof XlExit) return e.code;
    // A libxl call failed where xl would have checked: libxl's log line, then failure.
    if (e instanceof ToolstackError) {
      ctx.err(`libxl: error: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    throw e;
  }
}
