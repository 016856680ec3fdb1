// `xl info` (print_info and friends in tools/xl/xl_info.c, Xen 4.17): the host's uname, physinfo,
// optionally its topology (-n), then the hypervisor's version information. An operand picks one
// field: `xl info free_memory` prints only that value (any field starting with the operand).
import type { PhysInfo } from '../toolstack/types.js';
import type { XlContext } from './io.js';
import { flag, switchForeachOpt } from './options.js';
import { libxlFailure } from './util.js';

export async function mainInfo(ctx: XlContext, argv: readonly string[]): Promise<number> {
  let numa = false;
  const operands = switchForeachOpt(ctx, argv, 'n', [flag('numa', 'n')], 'info', 0, () => {
    numa = true;
  });
  const infoName = !numa && operands.length > 0 ? operands[0]! : null;
  let out = '';
  // maybe_printf: with a name, only "name…: value" lines, and only their value.
  const maybe = (line: string): void => {
    if (infoName === null) {
      out += line;
      return;
    }
    const colon = line.indexOf(':');
    if (line.startsWith(infoName) && colon >= 0 && line[colon + 1] === ' ') {
      out += line.slice(colon + 2);
    }
  };
  const field = (name: string, value: string | number): void =>
    maybe(`${name.padEnd(23)}: ${value}\n`);

  const uts = await ctx.ts.uname();
  field('host', uts.nodename);
  field('release', uts.release);
  field('version', uts.version);
  field('machine', uts.machine);

  let physinfo: PhysInfo | null = null;
  try {
    physinfo = await ctx.ts.physinfo();
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('libxl_physinfo failed.\n');
  }
  const version = await ctx.ts.versionInfo().catch((e: unknown) => {
    libxlFailure(ctx, e);
    return null;
  });
  if (physinfo) {
    const p = physinfo;
    field('nr_cpus', p.nr_cpus);
    field('max_cpu_id', p.max_cpu_id);
    field('nr_nodes', p.nr_nodes);
    field('cores_per_socket', p.cores_per_socket);
    field('threads_per_core', p.threads_per_core);
    field(
      'cpu_mhz',
      `${Math.floor(p.cpu_khz / 1000)}.${String(p.cpu_khz % 1000).padStart(3, '0')}`,
    );
    const caps = Array.from({ length: 8 }, (_, i) => hex8(p.hw_cap[i] ?? 0));
    field('hw_caps', caps.join(':'));
    maybe(`${'virt_caps'.padEnd(23)}:${virtCaps(p)}\n`);
    if (version) {
      const perMiB = (1 << 20) / version.pagesize;
      const mib = (pages: number): number => Math.floor(pages / perMiB);
      field('total_memory', mib(p.total_pages));
      field('free_memory', mib(p.free_pages - p.outstanding_pages));
      field('sharing_freed_memory', mib(p.sharing_freed_pages));
      field('sharing_used_memory', mib(p.sharing_used_frames));
      field('outstanding_claims', mib(p.outstanding_pages));
    }
    const free = await ctx.ts.freeCpus().catch(() => null);
    if (free) field('free_cpus', free.length);
  }
  if (numa && physinfo) out += topology(physinfo, version?.pagesize ?? 4096);

  // output_xeninfo prints nothing unless both calls work.
  const scheduler = version ? await ctx.ts.scheduler().catch(() => null) : null;
  if (!version) {
    ctx.err('libxl_get_version_info failed.\n');
  } else if (scheduler === null) {
    ctx.err('get_scheduler sysctl failed.\n');
  } else {
    const v = version;
    field('xen_major', v.xen_version_major);
    field('xen_minor', v.xen_version_minor);
    field('xen_extra', v.xen_version_extra);
    field('xen_version', `${v.xen_version_major}.${v.xen_version_minor}${v.xen_version_extra}`);
    field('xen_caps', v.capabilities);
    field('xen_scheduler', scheduler);
    field('xen_pagesize', v.pagesize);
    field('platform_params', `virt_start=0x${v.virt_start.toString(16)}`);
    field('xen_changeset', v.changeset);
    field('xen_commandline', v.commandline);
    field('cc_compiler', v.compiler);
    field('cc_compile_by', v.compile_by);
    field('cc_compile_domain', v.compile_domain);
    field('cc_compile_date', v.compile_date);
    field('build_id', v.build_id);
  }
  field('xend_config_format', 4);
  ctx.out(out);
  return 0;
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

function virtCaps(p: PhysInfo): string {
  return [
    p.cap_pv ? ' pv' : '',
    p.cap_hvm ? ' hvm' : '',
    p.cap_hvm && p.cap_hvm_directio ? ' hvm_directio' : '',
    p.cap_pv && p.cap_hvm_directio ? ' pv_directio' : '',
    p.cap_hap ? ' hap' : '',
    p.cap_shadow ? ' shadow' : '',
    p.cap_iommu_hap_pt_share ? ' iommu_hap_pt_share' : '',
    p.cap_vmtrace ? ' vmtrace' : '',
    p.cap_vpmu ? ' vpmu' : '',
    p.cap_gnttab_v1 ? ' gnttab-v1' : '',
    p.cap_gnttab_v2 ? ' gnttab-v2' : '',
  ].join('');
}

/**
 * output_topologyinfo and output_numainfo. The toolstack has no topology call: CPUs are laid out
 * from physinfo (threads, then cores, then sockets) on one node holding all memory.
 */
function topology(p: PhysInfo, pagesize: number): string {
  let out = 'cpu_topology           :\ncpu:    core    socket     node\n';
  const threads = Math.max(1, p.threads_per_core);
  const cores = Math.max(1, p.cores_per_socket);
  for (let cpu = 0; cpu < p.nr_cpus; cpu++) {
    const core = Math.floor(cpu / threads) % cores;
    const socket = Math.floor(cpu / (threads * cores));
    out += `${String(cpu).padStart(3)}:    ${String(core).padStart(4)}     ${String(socket).padStart(4)}     ${String(0).padStart(4)}\n`;
  }
  out += 'device topology        :\ndevice           node\nNo device topology data available\n';
  out += 'numa_info              :\nnode:    memsize    memfree    distances\n';
  const size = Math.floor((p.total_pages * pagesize) / 2 ** 20);
  const free = Math.floor((p.free_pages * pagesize) / 2 ** 20);
  out += `${'0'.padStart(4)}:    ${String(size).padStart(6)}     ${String(free).padStart(6)}      10\n`;
  return out;
}
