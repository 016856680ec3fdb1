// disk=[...] of an xl.cfg, or the disk of `xl block-attach`: each spec parsed as libxlu does,
// then checked as libxl checks a disk when it adds it (its vdev, its backend), and with
// Xenotype's own limit: the block backend serves raw and qcow2 images.
import { resolve } from 'node:path';
import type { DiskDevice } from '../disk-store.js';
import type { XluConfig } from './cfg.js';
import { type DiskSpec, parseDiskSpec } from './disk-spec.js';
import { invalidVdevMessage } from './vdev.js';

export type DisksResult = { ok: true; disks: DiskDevice[] } | { ok: false; error: string };

/** The disks of `disk=[...]`; none when the key is absent. */
export function parseConfigDisks(cfg: XluConfig, source: string, cwd: string): DisksResult {
  const list = cfg.getList('disk');
  if (!list.ok) return { ok: true, disks: [] };
  const disks: DiskDevice[] = [];
  for (const item of list.value) {
    if (item.kind !== 'string')
      return { ok: false, error: `${source}: disk entry is not a string` };
    const parsed = parseDiskSpec(item.value);
    if (!parsed.ok) return { ok: false, error: `${source}: ${parsed.error}` };
    const checked = toDiskDevice(parsed.disk, cwd);
    if (!checked.ok) return checked;
    if (disks.some((d) => d.devid === checked.disk.devid)) {
      return { ok: false, error: `Disk vdev=${checked.disk.vdev} is given twice` };
    }
    disks.push(checked.disk);
  }
  return { ok: true, disks };
}

/** libxl's checks of one disk (libxl__device_disk_setdefault and the backend choice). */
export function toDiskDevice(
  spec: DiskSpec,
  cwd: string,
): { ok: true; disk: DiskDevice } | { ok: false; error: string } {
  if (spec.devid === undefined) return { ok: false, error: invalidVdevMessage(spec.vdev) };
  if (spec.format !== 'raw' && spec.format !== 'qcow2') {
    return {
      ok: false,
      error: `Disk vdev=${spec.vdev}: format ${spec.format} is not supported by Xenotype (raw and qcow2 are).`,
    };
  }
  if (spec.backendtype === 'phy' && spec.format !== 'raw') {
    return {
      ok: false,
      error: `Disk vdev=${spec.vdev}, backend phy unsuitable due to format ${spec.format}`,
    };
  }
  if (spec.target === '') {
    return {
      ok: false,
      error: `Disk vdev=${spec.vdev}: an empty drive is not supported by Xenotype.`,
    };
  }
  return {
    ok: true,
    disk: {
      target: resolve(cwd, spec.target),
      format: spec.format,
      vdev: spec.vdev,
      devid: spec.devid,
      access: spec.devtype === 'cdrom' ? 'r' : spec.access,
      devtype: spec.devtype,
      discard: spec.discard,
    },
  };
}
