// What xentop (tools/xentop/xentop.c in Xen 4.17) draws: the summary, the domain table with its
// field widths and sort order, and the optional vCPU, network and VBD lines. `xl top` runs xentop.
import type { DeviceStats, DomInfo, PhysInfo, VcpuInfo } from '../toolstack/types.js';
import type { XlContext } from './io.js';
import { adjustWidths, crashed, type Frame, makeFields, totMem } from './top-fields.js';
import { right } from './util.js';

export const enum Attr {
  Normal = 0,
  Reverse = 1,
  Bold = 2,
}

/** Where xentop prints: stdout in batch mode, the (emulated) curses screen otherwise. */
export interface TopPrinter {
  /** xentop's print(): on screen, only while the cursor is above the last line. */
  print(text: string): void;
  attron(a: Attr): void;
  attroff(a: Attr): void;
}

export interface TopDomain {
  readonly info: DomInfo;
  readonly stats: DeviceStats;
  readonly vcpus: readonly VcpuInfo[] | null;
}

/** A xenstat_node: one sample of the host. */
export interface TopNode {
  readonly timeMs: number;
  readonly physinfo: PhysInfo;
  readonly pagesize: number;
  readonly xenVersion: string;
  readonly domains: readonly TopDomain[];
}

export interface TopView {
  sortField: number;
  firstDomainIndex: number;
  showVcpus: boolean;
  showNetworks: boolean;
  showVbds: boolean;
  repeatHeader: boolean;
  readonly showFullName: boolean;
}

const NO_STATS: DeviceStats = { networks: [], vbds: [] };

/** xenstat_get_node. */
export async function collectNode(ctx: XlContext, showVcpus: boolean): Promise<TopNode> {
  const [physinfo, version, infos] = await Promise.all([
    ctx.ts.physinfo(),
    ctx.ts.versionInfo(),
    ctx.ts.listDomains(),
  ]);
  const domains: TopDomain[] = [];
  for (const info of infos) {
    // A domain without a name is being destroyed: xenstat leaves it out.
    if (info.name === null) continue;
    const stats = ctx.ts.deviceStats
      ? await ctx.ts.deviceStats(info.domid).catch(() => NO_STATS)
      : NO_STATS;
    const vcpus = showVcpus ? await ctx.ts.vcpuList(info.domid).catch(() => null) : null;
    domains.push({ info, stats, vcpus });
  }
  return {
    timeMs: ctx.now(),
    physinfo,
    pagesize: version.pagesize,
    xenVersion: `${version.xen_version_major}.${version.xen_version_minor}${version.xen_version_extra}`,
    domains,
  };
}

/** do_summary: the three lines above the table (not in batch mode). */
export function drawSummary(p: TopPrinter, cur: TopNode, timeOfDay: string): void {
  p.print(`xentop - ${timeOfDay}   Xen ${cur.xenVersion}\n`);
  const n = { run: 0, block: 0, pause: 0, crash: 0, dying: 0, shutdown: 0 };
  for (const { info: i } of cur.domains) {
    if (i.running) n.run++;
    else if (i.blocked) n.block++;
    else if (i.paused) n.pause++;
    else if (i.shutdown && !crashed(i)) n.shutdown++;
    else if (crashed(i)) n.crash++;
    else if (i.dying) n.dying++;
  }
  p.print(
    `${cur.domains.length} domains: ${n.run} running, ${n.block} blocked, ${n.pause} paused, ` +
      `${n.crash} crashed, ${n.dying} dying, ${n.shutdown} shutdown \n`,
  );
  const total = totMem(cur);
  const free = cur.physinfo.free_pages * cur.pagesize;
  p.print(
    `Mem: ${Math.floor(total / 1024)}k total, ${Math.floor((total - free) / 1024)}k used, ${Math.floor(free / 1024)}k free    `,
  );
  p.print(`CPUs: ${cur.physinfo.nr_cpus} @ ${Math.floor(cur.physinfo.cpu_khz / 1000)}MHz\n`);
}

/** top() without the summary and the bottom line: the sorted table. */
export function drawTable(
  p: TopPrinter,
  cur: TopNode,
  prev: TopNode | null,
  view: TopView,
  roomLeft: () => boolean,
): void {
  const fields = makeFields();
  const frame: Frame = { cur, prev, fields, view };
  const sort = fields[view.sortField]!;
  const domains = [...cur.domains].sort((a, b) => sort.compare(a, b, frame));
  if (view.firstDomainIndex >= domains.length)
    view.firstDomainIndex = Math.max(0, domains.length - 1);
  const shown = domains.slice(view.firstDomainIndex);
  for (const d of shown) adjustWidths(fields, d, view);
  shown.forEach((d, i) => {
    if (!roomLeft()) return;
    if (i === 0 || view.repeatHeader) {
      p.attron(Attr.Reverse);
      fields.forEach((f, k) => {
        if (k !== 0) p.print(' ');
        if (k === view.sortField) p.attron(Attr.Bold);
        p.print(right(f.header, f.width));
        if (k === view.sortField) p.attroff(Attr.Bold);
      });
      p.attroff(Attr.Reverse);
      p.print('\n');
    }
    fields.forEach((f, k) => {
      if (k !== 0) p.print(' ');
      if (k === view.sortField) p.attron(Attr.Bold);
      p.print(f.print(d, frame));
      if (k === view.sortField) p.attroff(Attr.Bold);
    });
    p.print('\n');
    if (view.showVcpus) drawVcpus(p, d);
    if (view.showNetworks) drawNetworks(p, d);
    if (view.showVbds) drawVbds(p, d);
  });
}

function drawVcpus(p: TopPrinter, d: TopDomain): void {
  p.print('VCPUs(sec): ');
  (d.vcpus ?? []).forEach((v, i) => {
    if (!v.online) return;
    if (i !== 0 && i % 5 === 0) p.print('\n        ');
    p.print(` ${right(i, 2)}: ${right(Math.floor(v.vcpu_time / 1e9), 10)}s`);
  });
  p.print('\n');
}

function drawNetworks(p: TopPrinter, d: TopDomain): void {
  d.stats.networks.forEach((n, i) => {
    p.print(
      `Net${i} RX: ${right(n.rbytes, 8)}bytes ${right(n.rpackets, 8)}pkts ${right(n.rerrs, 8)}err ${right(n.rdrop, 8)}drop  `,
    );
    p.print(
      `TX: ${right(n.tbytes, 8)}bytes ${right(n.tpackets, 8)}pkts ${right(n.terrs, 8)}err ${right(n.tdrop, 8)}drop\n`,
    );
  });
}

function drawVbds(p: TopPrinter, d: TopDomain): void {
  for (const v of d.stats.vbds) {
    const dev = `[${(v.dev >> 8).toString(16).padStart(2)}:${(v.dev & 0xff).toString(16).padStart(2)}] `;
    const n = (x: number, w: number): string => (v.error ? right('-', w) : right(x, w));
    p.print(
      `VBD BlkBack ${right(v.dev, 4)} ${dev} OO: ${n(v.oo_reqs, 8)}   RD: ${n(v.rd_reqs, 8)}   WR: ${n(v.wr_reqs, 8)}   RSECT: ${n(v.rd_sects, 10)}   WSECT: ${n(v.wr_sects, 10)}\n`,
    );
  }
}
