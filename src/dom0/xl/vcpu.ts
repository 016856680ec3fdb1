// `xl vcpu-list` (tools/xl/xl_vcpu.c, Xen 4.17): one line per vCPU with its physical CPU,
// state, time and hard / soft affinity.
import type { VcpuInfo } from '../toolstack/types.js';
import { EXIT_SUCCESS, type XlContext } from './io.js';
import { switchForeachOpt } from './options.js';
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

function vcpuLine(name: string, domid: number, v: VcpuInfo, nrCpus: number): string {
  let out = `${left(name, 32)} ${right(domid, 5)} ${right(v.vcpuid, 5)}`;
  out += v.online
    ? `${right(v.cpu, 5)} ${right(v.running ? 'r' : '-', 3)}${v.blocked ? 'b' : '-'}- `
    : `${right('-', 5)} ${right('-', 3)}-p `;
  out += `${fixedWidth(nsToSeconds(v.vcpu_time), 9, 1)}  `;
  out += `${printBitmap(v.cpumap, nrCpus)} / ${printBitmap(v.cpumap_soft, nrCpus)}\n`;
  return out;
}

async function domainVcpus(ctx: XlContext, domid: number, nrCpus: number): Promise<void> {
  let vcpus: VcpuInfo[];
  try {
    vcpus = await ctx.ts.vcpuList(domid);
  } catch (e) {
    libxlFailure(ctx, e);
    return;
  }
  const name = cstr(await domidToName(ctx, domid));
  ctx.out(vcpus.map((v) => vcpuLine(name, domid, v, nrCpus)).join(''));
}

export async function mainVcpuList(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const operands = switchForeachOpt(ctx, argv, '', null, 'vcpu-list', 0);
  let maxCpuId: number;
  try {
    maxCpuId = (await ctx.ts.physinfo()).max_cpu_id;
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('libxl_physinfo failed.\n');
    return EXIT_SUCCESS;
  }
  ctx.out(
    `${left('Name', 32)} ${right('ID', 5)} ${right('VCPU', 5)} ${right('CPU', 5)} ${right('State', 5)} ${right('Time(s)', 9)} Affinity (Hard / Soft)\n`,
  );
  if (operands.length === 0) {
    let domains: Awaited<ReturnType<typeof ctx.ts.listDomains>>;
    try {
      domains = await ctx.ts.listDomains();
    } catch (e) {
      libxlFailure(ctx, e);
      ctx.err('libxl_list_domain failed.\n');
      return EXIT_SUCCESS;
    }
    for (const d of domains) await domainVcpus(ctx, d.domid, maxCpuId + 1);
  } else {
    for (const dom of operands) await domainVcpus(ctx, await findDomain(ctx, dom), maxCpuId + 1);
  }
  return EXIT_SUCCESS;
}
