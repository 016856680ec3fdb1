// Disk hot-plug (tools/xl/xl_block.c in Xen 4.17): block-attach, block-list, block-detach.

import { parseDiskSpecs } from '../toolstack/config/disk-spec.js';
import { toDiskDevice } from '../toolstack/config/disks.js';
import { parseVdev } from '../toolstack/config/vdev.js';
import { EXIT_FAILURE, EXIT_SUCCESS, type XlContext } from './io.js';
import { flag, switchForeachOpt } from './options.js';
import { findDomain, libxlFailure, qualifierToDomid } from './util.js';

/** main_blockattach: `xl block-attach <Domain> <disk-spec-component(s)>...`. */
export async function mainBlockAttach(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const [dom, ...spec] = switchForeachOpt(ctx, argv, '', null, 'block-attach', 2);
  const domid = await qualifierToDomid(ctx, dom!);
  if (domid === null) {
    ctx.err(`${dom} is an invalid domain identifier\n`);
    return EXIT_FAILURE;
  }
  const parsed = parseDiskSpecs(spec);
  if (!parsed.ok) {
    ctx.err(`command line: ${parsed.error}\n`);
    return EXIT_FAILURE;
  }
  const disk = toDiskDevice(parsed.disk, ctx.io.cwd);
  if (!disk.ok) {
    ctx.err(`libxl: error: ${disk.error}\nlibxl_device_disk_add failed.\n`);
    return EXIT_FAILURE;
  }
  if (ctx.globals.dryRun) return EXIT_SUCCESS;
  try {
    await ctx.ts.addDisk(domid, disk.disk);
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('libxl_device_disk_add failed.\n');
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}

/** main_blocklist: `xl block-list <Domain(s)>`. */
export async function mainBlockList(ctx: XlContext, argv: readonly string[]): Promise<number> {
  const doms = switchForeachOpt(ctx, argv, '', null, 'block-list', 1);
  ctx.out(row('Vdev', 'BE', 'handle', 'state', 'evt-ch', 'ring-ref', 'BE-path'));
  for (const dom of doms) {
    const domid = await qualifierToDomid(ctx, dom);
    if (domid === null) {
      ctx.err(`${dom} is an invalid domain identifier\n`);
      continue;
    }
    // xl skips a domain whose disks libxl cannot list.
    const disks = await ctx.ts.listDisks(domid).catch(() => []);
    for (const d of disks) {
      ctx.out(row(d.devid, d.backendId, d.frontendId, d.state, d.evtch, d.rref, d.backend));
    }
  }
  return EXIT_SUCCESS;
}

/** main_blockdetach: `xl block-detach [-f] <Domain> <VirtualDevice>`. */
export async function mainBlockDetach(ctx: XlContext, argv: readonly string[]): Promise<number> {
  let force = false;
  const [dom, vdev] = switchForeachOpt(
    ctx,
    argv,
    'f',
    [flag('force', 'f')],
    'block-detach',
    2,
    () => {
      force = true;
    },
  );
  const domid = await findDomain(ctx, dom!);
  // libxl_vdev_to_device_disk: the vdev's number, among the domain's disks.
  const devid = parseVdev(vdev!)?.devid;
  const disks = devid === undefined ? [] : await ctx.ts.listDisks(domid).catch(() => []);
  if (devid === undefined || !disks.some((d) => d.devid === devid)) {
    ctx.err(`Error: Device ${vdev} not connected.\n`);
    return EXIT_FAILURE;
  }
  try {
    await ctx.ts.removeDisk(domid, devid, { force });
  } catch (e) {
    libxlFailure(ctx, e);
    ctx.err('libxl_device_disk_remove failed.\n');
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}

/** printf("%-5s %-3s %-6s %-5s %-6s %-8s %-30s\n", …) and its %d twin. */
function row(...cells: readonly (string | number)[]): string {
  const widths = [5, 3, 6, 5, 6, 8, 30];
  return `${cells.map((c, i) => String(c).padEnd(widths[i]!)).join(' ')}\n`;
}
