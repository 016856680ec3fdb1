// Network interface hot-plug (tools/xl/xl_nic.c in Xen 4.17): network-attach, network-list,
// network-detach.

import { failureLine, toNicDevice } from '../toolstack/config/nics.js';
import { atoi, strtol } from '../toolstack/config/strtol.js';
import { formatMac, parseVifArgs } from '../toolstack/config/vif-spec.js';
import { EXIT_FAILURE, EXIT_SUCCESS, type XlContext } from './io.js';
import { switchForeachOpt } from './options.js';
import { findDomain, libxlFailure } from './util.js';

/** main_networkattach: `xl network-attach <Domain> [setting]...`. */
export async function mainNetworkAttach(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [dom, ...settings] = switchForeachOpt(ctx, argv, '', null, 'network-attach', 1);
  const domid = await findDomain(ctx, dom!);
  // parse_nic_config reports each setting as it reads it and stops at the first it refuses; a
  // setting's outcome depends on it alone, so reading them one by one gives the same lines.
  for (const setting of settings) {
    const one = parseVifArgs([setting], () => new Uint8Array(3));
    if (!one.ok) {
      ctx.err(`${failureLine(one, 'command line')}\n`);
      return EXIT_FAILURE;
    }
    for (const warning of one.warnings) ctx.err(`${warning}\n`);
  }
  const parsed = parseVifArgs(settings);
  if (!parsed.ok) {
    ctx.err(`${failureLine(parsed, 'command line')}\n`);
    return EXIT_FAILURE;
  }
  if (ctx.globals.dryRun) return EXIT_SUCCESS;
  // libxl__device_nic_setdefault's checks, inside libxl_device_nic_add.
  const nic = toNicDevice(parsed.vif);
  if (!nic.ok) {
    ctx.err(`libxl: error: Domain ${domid}:${nic.error}\nlibxl_device_nic_add failed.\n`);
    return EXIT_FAILURE;
  }
  try {
    await ctx.ts.addNic(domid, nic.nic);
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('libxl_device_nic_add failed.\n');
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}

/** main_networklist: `xl network-list <Domain(s)>`. */
export async function mainNetworkList(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const doms = switchForeachOpt(ctx, argv, '', null, 'network-list', 1);
  // printf("%-3s %-2s %-17s %-6s %-5s %-6s %5s/%-5s %-30s\n", …)
  ctx.out(
    `${'Idx'.padEnd(3)} ${'BE'.padEnd(2)} ${'Mac Addr.'.padEnd(17)} ${'handle'.padEnd(6)} ` +
      `${'state'.padEnd(5)} ${'evt-ch'.padEnd(6)} ${'tx-'.padStart(5)}/${'rx-ring-ref'.padEnd(5)} ` +
      `${'BE-path'.padEnd(30)}\n`,
  );
  for (const dom of doms) {
    const domid = await findDomain(ctx, dom);
    // xl skips a domain whose NICs libxl cannot list.
    const nics = await ctx.ts.listNics(domid).catch(() => []);
    for (const n of nics) {
      // "%-3d %-2d ", the MAC, then "%6d %5d %6d %5d/%-11d %-30s\n".
      ctx.out(
        `${String(n.devid).padEnd(3)} ${String(n.backendId).padEnd(2)} ${n.mac}` +
          `${String(n.devid).padStart(6)} ${String(n.state).padStart(5)} ` +
          `${String(n.evtch).padStart(6)} ${String(n.rrefTx).padStart(5)}/` +
          `${String(n.rrefRx).padEnd(11)} ${n.backend.padEnd(30)}\n`,
      );
    }
  }
  return EXIT_SUCCESS;
}

/** main_networkdetach: `xl network-detach <Domain> <DevId|mac>`. */
export async function mainNetworkDetach(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [dom, which] = switchForeachOpt(ctx, argv, '', null, 'network-detach', 2);
  const domid = await findDomain(ctx, dom!);
  const nics = await ctx.ts.listNics(domid).catch(() => []);
  // Without a ':' it is a devid, read by atoi (so junk means 0); with one, a MAC.
  let nic: (typeof nics)[number] | undefined;
  if (!which!.includes(':')) {
    const devid = atoi(which!);
    nic = nics.find((n) => n.devid === devid);
  } else {
    const mac = libxlParseMac(which!);
    nic = mac === undefined ? undefined : nics.find((n) => n.mac === mac);
  }
  if (nic === undefined) {
    ctx.err(`Unknown device ${which}.\n`);
    return EXIT_FAILURE;
  }
  try {
    await ctx.ts.removeNic(domid, nic.devid, { force: false });
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('libxl_device_nic_del failed.\n');
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}

/**
 * libxl__parse_mac: up to six numbers, each strtol base 16 over exactly two characters and
 * followed by ':' or the end; the formatted MAC, or undefined.
 */
function libxlParseMac(text: string): string | undefined {
  const octets: number[] = [];
  let pos = 0;
  while (pos < text.length && octets.length < 6) {
    const octet = strtol(text.slice(pos), 16);
    const end = pos + octet.end;
    if (octet.end !== 2 || (end < text.length && text[end] !== ':')) return undefined;
    octets.push(Number(BigInt.asUintN(8, octet.value)));
    pos = text[end] === ':' ? end + 1 : end;
  }
  return octets.length === 6 ? formatMac(octets) : undefined;
}
