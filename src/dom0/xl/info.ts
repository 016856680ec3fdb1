// Listing and naming domains (tools/xl/xl_info.c in Xen 4.17): list, vm-list, claims, domid,
// domname, dmesg. `info` is in info-host.ts, `uptime` in uptime.ts, `vcpu-list` in vcpu.ts.
import { domainConfigJson, type Json, yajlBeautify } from '../toolstack/config/json.js';
import { strtol } from '../toolstack/config/strtol.js';
import { type DomInfo, LibxlError, ToolstackError } from '../toolstack/types.js';
import { EXIT_FAILURE, EXIT_SUCCESS, type XlContext } from './io.js';
import { flag, switchForeachOpt } from './options.js';
import {
  cstr,
  domidToName,
  findDomain,
  fixedWidth,
  left,
  libxlFailure,
  nsToSeconds,
  printBitmap,
  right,
} from './util.js';

const SHUTDOWN_REASON_LETTERS = '-rscwS';

interface ListColumns {
  readonly verbose: boolean;
  readonly context: boolean;
  readonly claim: boolean;
  readonly numa: boolean;
  readonly cpupool: boolean;
}

/** list_domains: xl list's table. */
async function listDomains(
  ctx: XlContext,
  cols: ListColumns,
  domains: readonly DomInfo[],
): Promise<void> {
  let out = 'Name                                        ID   Mem VCPUs\tState\tTime(s)';
  if (cols.verbose) out += '   UUID                            Reason-Code\tSecurity Label';
  if (cols.context && !cols.verbose) out += '   Security Label';
  if (cols.claim) out += '  Claimed';
  if (cols.cpupool) out += '         Cpupool';
  let nrNodes = 0;
  if (cols.numa) {
    nrNodes = (await ctx.ts.physinfo()).nr_nodes;
    out += ' NODE Affinity';
  }
  out += '\n';
  for (const d of domains) {
    const reason = d.shutdown ? d.shutdown_reason : 0;
    const letter =
      reason >= 0 && reason < SHUTDOWN_REASON_LETTERS.length
        ? SHUTDOWN_REASON_LETTERS[reason]
        : '?';
    const memMiB = Math.floor((d.current_memkb + d.outstanding_memkb) / 1024);
    out +=
      `${left(cstr(d.name), 40)} ${right(d.domid, 5)} ${right(memMiB, 5)} ${right(d.vcpu_online, 5)}     ` +
      `${d.running ? 'r' : '-'}${d.blocked ? 'b' : '-'}${d.paused ? 'p' : '-'}` +
      `${d.shutdown ? 's' : '-'}${letter}${d.dying ? 'd' : '-'}  ${fixedWidth(nsToSeconds(d.cpu_time), 8, 1)}`;
    if (cols.verbose) {
      out += ` ${d.uuid}`;
      out += d.shutdown ? ` ${right((reason >>> 0).toString(16), 8)}` : ` ${right('-', 8)}`;
    }
    if (cols.claim) out += ` ${right(Math.floor(d.outstanding_memkb / 1024), 5)}`;
    if (cols.verbose || cols.context) out += ` ${right(d.ssid_label ?? '-', 16)}`;
    if (cols.cpupool) out += right(cstr(await ctx.ts.cpupoolName(d.cpupool)), 16);
    // Xenotype keeps no per-domain node affinity: every domain may use every node.
    if (cols.numa) out += ` ${printBitmap([...Array(nrNodes).keys()], nrNodes)}`;
    out += '\n';
  }
  ctx.out(out);
}

/** list_domains_details: `xl list -l`, libxl's JSON of each domain's configuration. */
async function listDomainsDetails(ctx: XlContext, domains: readonly DomInfo[]): Promise<void> {
  const items: Json[] = [];
  for (const d of domains) {
    try {
      const config = await ctx.ts.retrieveDomainConfig(d.domid);
      items.push({ domid: d.domid, config: domainConfigJson(config) });
    } catch (e) {
      if (!(e instanceof ToolstackError)) throw e;
    }
  }
  ctx.out(`${yajlBeautify(items)}\n`);
}

async function allDomains(ctx: XlContext): Promise<DomInfo[] | null> {
  try {
    return await ctx.ts.listDomains();
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('libxl_list_domain failed.\n');
    return null;
  }
}

export async function mainList(ctx: XlContext, argv: readonly string[]): Promise<number> {
  let details = false;
  const c = { verbose: false, context: false, claim: false, numa: false, cpupool: false };
  const longopts = [
    flag('long', 'l'),
    flag('verbose', 'v'),
    flag('context', 'Z'),
    flag('cpupool', 'c'),
    flag('numa', 'n'),
  ];
  const operands = switchForeachOpt(ctx, argv, 'lvhZcn', longopts, 'list', 0, (opt) => {
    if (opt === 'l') details = true;
    else if (opt === 'v') c.verbose = true;
    else if (opt === 'Z') c.context = true;
    else if (opt === 'c') c.cpupool = true;
    else if (opt === 'n') c.numa = true;
  });
  let domains: DomInfo[];
  if (operands.length === 0) {
    const all = await allDomains(ctx);
    if (!all) return EXIT_FAILURE;
    domains = all;
  } else if (operands.length === 1) {
    const domid = await findDomain(ctx, operands[0]!);
    try {
      domains = [await ctx.ts.domainInfo(domid)];
    } catch (e) {
      if (e instanceof ToolstackError && e.code === LibxlError.DOMAIN_NOTFOUND) {
        ctx.err(`Error: Domain '${operands[0]}' does not exist.\n`);
      } else {
        ctx.err(`libxl_domain_info failed (code ${libxlFailure(ctx, e)}).\n`);
      }
      return EXIT_FAILURE;
    }
  } else {
    ctx.help('list');
    return EXIT_FAILURE;
  }
  if (details) await listDomainsDetails(ctx, domains);
  else await listDomains(ctx, c, domains);
  return EXIT_SUCCESS;
}

/** main_claims: the table with outstanding claims. */
export async function mainClaims(ctx: XlContext, argv: readonly string[]): Promise<number> {
  switchForeachOpt(ctx, argv, '', null, 'claims', 0);
  const domains = await allDomains(ctx);
  if (!domains) return 1;
  const cols = { verbose: false, context: false, claim: true, numa: false, cpupool: false };
  await listDomains(ctx, cols, domains);
  return 0;
}

/** main_vm_list: libxl_list_vm (every domain that is not a stub domain). */
export async function mainVmList(ctx: XlContext, argv: readonly string[]): Promise<number> {
  switchForeachOpt(ctx, argv, '', null, 'vm-list', 0);
  const domains = await allDomains(ctx);
  if (!domains) {
    ctx.err('libxl_list_vm failed.\n');
    return EXIT_FAILURE;
  }
  let out = 'UUID                                  ID    name\n';
  for (const d of domains) out += `${d.uuid}  ${d.domid}    ${left(cstr(d.name), 30)}\n`;
  ctx.out(out);
  return EXIT_SUCCESS;
}

/** main_domid: libxl_name_to_domid (names only: "0" is not Domain-0's name). */
export async function mainDomid(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [name] = switchForeachOpt(ctx, argv, '', null, 'domid', 1);
  const domains = await ctx.ts.listDomains();
  const found = domains.find((d) => d.name === name);
  if (!found) {
    ctx.err(`Can't get domid of domain name '${name}', maybe this domain does not exist.\n`);
    return EXIT_FAILURE;
  }
  ctx.out(`${found.domid}\n`);
  return EXIT_SUCCESS;
}

/** main_domname: the id is read with strtol and kept as a uint32. */
export async function mainDomname(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [arg] = switchForeachOpt(ctx, argv, '', null, 'domname', 1);
  const r = strtol(arg!, 10);
  const domid = Number(BigInt.asUintN(32, r.value));
  if (domid === 0 && r.end === 0) {
    ctx.err('Invalid domain id.\n\n');
    return EXIT_FAILURE;
  }
  const name = await domidToName(ctx, domid);
  if (name === null) {
    ctx.err(`Can't get domain name of domain id '${domid}', maybe this domain does not exist.\n`);
    return EXIT_FAILURE;
  }
  ctx.out(`${name}\n`);
  return EXIT_SUCCESS;
}

/** main_dmesg: the hypervisor's console ring, -c to clear it as well. */
export async function mainDmesg(ctx: XlContext, argv: readonly string[]): Promise<number> {
  let clear = false;
  switchForeachOpt(ctx, argv, 'c', [flag('clear', 'c')], 'dmesg', 0, () => {
    clear = true;
  });
  try {
    ctx.out(await ctx.ts.readHypervisorConsole({ clear }));
  } catch (e) {
    libxlFailure(ctx, e);
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
