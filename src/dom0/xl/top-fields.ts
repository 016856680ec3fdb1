// xentop's domain fields (the `fields` table of tools/xentop/xentop.c, Xen 4.17): header,
// default width, sort order and print format of each column, widths grown to fit large counters.
import type { DomInfo } from '../toolstack/types.js';
import { MEMKB_NO_LIMIT } from '../toolstack/types.js';
import type { TopDomain, TopNode, TopView } from './top-render.js';
import { fixedWidth, right } from './util.js';

export const totMem = (n: TopNode): number => n.physinfo.total_pages * n.pagesize;
const curMem = (d: TopDomain): number => d.info.current_memkb * 1024;
const noLimit = (d: TopDomain): boolean => d.info.max_memkb >= MEMKB_NO_LIMIT;
export const crashed = (i: DomInfo): boolean => i.shutdown && i.shutdown_reason === 3;
export const netBytes = (d: TopDomain, rx: boolean): number =>
  d.stats.networks.reduce((t, n) => t + (rx ? n.rbytes : n.tbytes), 0);

type VbdField = 'oo_reqs' | 'rd_reqs' | 'wr_reqs' | 'rd_sects' | 'wr_sects';
/** tot_vbd_reqs: the sum over VBDs without errors, or null ("-") if all have errors. */
export function vbdTotal(d: TopDomain, field: VbdField): number | null {
  const ok = d.stats.vbds.filter((v) => !v.error);
  if (d.stats.vbds.length > 0 && ok.length === 0) return null;
  return ok.reduce((t, v) => t + v[field], 0);
}

/** xentop's state letters: dying, shutdown, blocked, crashed, paused, running. */
const STATES: readonly [string, (i: DomInfo) => boolean][] = [
  ['d', (i) => i.dying],
  ['s', (i) => i.shutdown && !crashed(i)],
  ['b', (i) => i.blocked],
  ['c', crashed],
  ['p', (i) => i.paused],
  ['r', (i) => i.running],
];

export interface Field {
  readonly header: string;
  width: number;
  readonly compare: (a: TopDomain, b: TopDomain, f: Frame) => number;
  readonly print: (d: TopDomain, f: Frame) => string;
}

/** What a frame needs besides the domain: the node, the previous sample, the field widths. */
export interface Frame {
  readonly cur: TopNode;
  readonly prev: TopNode | null;
  readonly fields: readonly Field[];
  readonly view: TopView;
}

const cmp = <T extends number | string>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);
const desc = (get: (d: TopDomain, f: Frame) => number) => (a: TopDomain, b: TopDomain, f: Frame) =>
  -cmp(get(a, f), get(b, f));

/** get_cpu_pct: CPU time since the previous sample over the wall time between them. */
function cpuPct(d: TopDomain, f: Frame): number {
  const old = f.prev?.domains.find((o) => o.info.domid === d.info.domid);
  if (!f.prev || !old) return 0;
  const usElapsed = (f.cur.timeMs - f.prev.timeMs) * 1000;
  return (d.info.cpu_time - old.info.cpu_time) / 10 / usElapsed;
}

function vbdField(header: string, width: number, field: VbdField): Field {
  return {
    header,
    width,
    compare: desc((d) => vbdTotal(d, field) ?? 0),
    print: (d, f) => right(vbdTotal(d, field) ?? '-', widthOf(f, header)),
  };
}

const widthOf = (f: Frame, header: string): number =>
  f.fields.find((x) => x.header === header)!.width;

/** The fields table, fresh for each frame (reset_field_widths). */
export function makeFields(): Field[] {
  return [
    {
      header: 'NAME',
      width: 10,
      compare: (a, b) => strcasecmp(a.info.name ?? '', b.info.name ?? ''),
      print: (d, f) =>
        f.view.showFullName
          ? right(d.info.name ?? '', widthOf(f, 'NAME'))
          : right((d.info.name ?? '').slice(0, 10), 10),
    },
    {
      header: 'STATE',
      width: 6,
      compare: (a, b) => {
        for (const [, get] of STATES) {
          if (get(a.info) && !get(b.info)) return -1;
          if (get(b.info) && !get(a.info)) return 1;
        }
        return 0;
      },
      print: (d) => STATES.map(([ch, get]) => (get(d.info) ? ch : '-')).join(''),
    },
    {
      header: 'CPU(sec)',
      width: 10,
      compare: desc((d) => d.info.cpu_time),
      print: (d) => right(Math.floor(d.info.cpu_time / 1e9), 10),
    },
    {
      header: 'CPU(%)',
      width: 6,
      compare: desc(cpuPct),
      print: (d, f) => fixedWidth(cpuPct(d, f), 6, 1),
    },
    {
      header: 'MEM(k)',
      width: 10,
      compare: desc(curMem),
      print: (d) => right(d.info.current_memkb, 10),
    },
    {
      header: 'MEM(%)',
      width: 6,
      compare: desc(curMem),
      print: (d, f) => fixedWidth((curMem(d) / totMem(f.cur)) * 100, 6, 1),
    },
    {
      header: 'MAXMEM(k)',
      width: 10,
      compare: desc((d) => d.info.max_memkb),
      print: (d) => right(noLimit(d) ? 'no limit' : d.info.max_memkb, 10),
    },
    {
      header: 'MAXMEM(%)',
      width: 9,
      compare: desc((d) => d.info.max_memkb),
      print: (d, f) =>
        noLimit(d)
          ? right('n/a', 9)
          : fixedWidth(((d.info.max_memkb * 1024) / totMem(f.cur)) * 100, 9, 1),
    },
    {
      header: 'VCPUS',
      width: 5,
      compare: desc((d) => d.info.vcpu_max_id + 1),
      print: (d) => right(d.info.vcpu_max_id + 1, 5),
    },
    {
      header: 'NETS',
      width: 4,
      compare: desc((d) => d.stats.networks.length),
      print: (d) => right(d.stats.networks.length, 4),
    },
    {
      header: 'NETTX(k)',
      width: 8,
      compare: desc((d) => netBytes(d, false)),
      print: (d, f) => right(Math.floor(netBytes(d, false) / 1024), widthOf(f, 'NETTX(k)')),
    },
    {
      header: 'NETRX(k)',
      width: 8,
      compare: desc((d) => netBytes(d, true)),
      print: (d, f) => right(Math.floor(netBytes(d, true) / 1024), widthOf(f, 'NETRX(k)')),
    },
    {
      header: 'VBDS',
      width: 4,
      compare: desc((d) => d.stats.vbds.length),
      print: (d) => right(d.stats.vbds.length, 4),
    },
    {
      header: 'VBD_OO',
      width: 8,
      compare: desc((d) => vbdTotal(d, 'oo_reqs') ?? 0),
      print: (d) => right(vbdTotal(d, 'oo_reqs') ?? '-', 8),
    },
    vbdField('VBD_RD', 8, 'rd_reqs'),
    vbdField('VBD_WR', 8, 'wr_reqs'),
    vbdField('VBD_RSECT', 10, 'rd_sects'),
    vbdField('VBD_WSECT', 10, 'wr_sects'),
    {
      header: 'SSID',
      width: 4,
      compare: (a, b) => cmp(a.info.ssidref, b.info.ssidref),
      print: (d) => right(d.info.ssidref, 4),
    },
  ];
}

export const NUM_FIELDS = 19;

function strcasecmp(a: string, b: string): number {
  return cmp(a.toLowerCase(), b.toLowerCase());
}

/** INT_FIELD_WIDTH(n + 1): the digits a value needs. */
const digits = (n: number): number => Math.floor(Math.log10(n + 1) + 1);

/** adjust_field_widths for one domain. */
export function adjustWidths(fields: Field[], d: TopDomain, view: TopView): void {
  const grow = (header: string, w: number): void => {
    const f = fields.find((x) => x.header === header)!;
    if (w > f.width) f.width = w;
  };
  if (view.showFullName) grow('NAME', (d.info.name ?? '').length);
  grow('NETTX(k)', digits(Math.floor(netBytes(d, false) / 1024)));
  grow('NETRX(k)', digits(Math.floor(netBytes(d, true) / 1024)));
  grow('VBD_RD', digits(vbdTotal(d, 'rd_reqs') ?? 0));
  grow('VBD_WR', digits(vbdTotal(d, 'wr_reqs') ?? 0));
  grow('VBD_RSECT', digits(vbdTotal(d, 'rd_sects') ?? 0));
  grow('VBD_WSECT', digits(vbdTotal(d, 'wr_sects') ?? 0));
}
