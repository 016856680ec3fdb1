// blk.seq_write.MBps and blk.seq_read.MBps: sequential 1 MiB direct I/O on a raw disk, from
// inside the default guest. Ours is a 300 MiB raw file given to the guest as xvdb
// (disk=['…,raw,xvdb,rw']), served by Dom0's blkback to the guest's xen-blkfront; the peer is
// the same vmlinux under QEMU TCG with the same kind of file as a virtio disk (/dev/vda), in the
// same run. Both guests have 512 MiB and two vCPUs, as examples/debian-pvh.cfg.
//
// busybox dd has oflag=direct and iflag=direct (O_DIRECT), so the guest's page cache takes no
// part; the caches are dropped before every run all the same. Debian's busybox dd prints no
// "bytes copied, seconds" line (it is built without FEATURE_DD_THIRD_STATUS_LINE), so each dd
// is timed on the host, from typing the command on the guest's console to its end marker
// arriving (guest-shell.ts); the round trip of an empty command, and the guest's own view
// (busybox `time`), are logged beside it.
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureImages, type GuestImages, linkDefaultImages } from '../src/images/store.js';
import { qemuBootCommand } from './boot-qemu.js';
import type { GuestShell } from './guest-shell.js';
import { buildVirtioInitramfs, QemuGuest } from './qemu-guest.js';
import { isMain, type Report, report } from './report.js';
import { CHECKOUT, guestConfig, XenotypeHost } from './xenotype-guest.js';

const DISK_BYTES = 300 * 1024 * 1024;
const TRANSFER_MIB = 256;
const MEMORY_MIB = 512;
const VCPUS = 2;
/** Each dd runs this many times on the same boot; the best run is the figure. */
const RUNS = 3;
/**
 * The kernel's crypto self-tests take half of the boot's instructions and nothing from the
 * disk's path; both guests skip them.
 */
const EXTRA_KERNEL_OPTIONS = 'cryptomgr.notests';
const BOOT_TIMEOUT_MS = 30 * 60_000;
const COMMAND_TIMEOUT_MS = 30 * 60_000;
/** Machine memory for our guest and Dom0. */
const MACHINE_MIB = 1024;

export interface DdFigures {
  /** MB/s (10^6 bytes per second) of the best run, by the host's clock. */
  writeMBps: number;
  readMBps: number;
}

/** Seconds of busybox time's "real" line ("real\t0m 1.23s"), if it printed one. */
export function parseTimeReal(output: string): number | undefined {
  const match = /real\s+(?:(\d+)h\s*)?(\d+)m\s*([\d.]+)s/.exec(output);
  if (match === null) return undefined;
  return Number(match[1] ?? 0) * 3600 + Number(match[2]) * 60 + Number(match[3]);
}

/**
 * Runs `command`, a dd of TRANSFER_MIB, and returns its MB/s (10^6 bytes per second) by the
 * host's clock, checking it copied it all.
 */
async function timedDd(shell: GuestShell, label: string, command: string): Promise<number> {
  await shell.check('sync; echo 3 > /proc/sys/vm/drop_caches', COMMAND_TIMEOUT_MS);
  const result = await shell.check(`time ${command}`, COMMAND_TIMEOUT_MS);
  const records = `${TRANSFER_MIB}+0 records out`;
  if (!result.output.includes(records)) {
    throw new Error(`${shell.name}: ${label} did not copy ${records}:\n${result.output}`);
  }
  const MBps = (TRANSFER_MIB * 1024 * 1024) / 1e6 / result.seconds;
  const guestSeconds = parseTimeReal(result.output);
  console.error(
    `${shell.name}: ${label}: ${result.seconds.toFixed(2)} s on the host (${MBps.toFixed(1)} MB/s), ` +
      `${guestSeconds?.toFixed(2) ?? '?'} s by the guest's clock`,
  );
  return MBps;
}

/** The dd runs in a booted guest whose test disk is `device`; the best of RUNS each. */
async function runDd(shell: GuestShell, device: string): Promise<DdFigures> {
  const size = await shell.check(`cat /sys/block/${device}/size`, COMMAND_TIMEOUT_MS);
  if (Number(size.output.trim()) * 512 !== DISK_BYTES) {
    throw new Error(`${shell.name}: /dev/${device} is ${size.output.trim()} sectors`);
  }
  const noop = await shell.check('true', COMMAND_TIMEOUT_MS);
  console.error(`${shell.name}: an empty command's round trip: ${noop.seconds.toFixed(3)} s`);
  let writeMBps = 0;
  let readMBps = 0;
  for (let run = 0; run < RUNS; run++) {
    const write = `dd if=/dev/zero of=/dev/${device} bs=1M count=${TRANSFER_MIB} oflag=direct`;
    writeMBps = Math.max(writeMBps, await timedDd(shell, 'write', `${write} && sync`));
    const read = `dd if=/dev/${device} of=/dev/null bs=1M count=${TRANSFER_MIB} iflag=direct`;
    readMBps = Math.max(readMBps, await timedDd(shell, 'read', read));
  }
  return { writeMBps, readMBps };
}

/** A sparse raw file of DISK_BYTES. */
export async function makeDisk(path: string): Promise<void> {
  await writeFile(path, '');
  await truncate(path, DISK_BYTES);
}

export async function ddXenotype(disk: string): Promise<DdFigures> {
  const config = await guestConfig([
    `cmdline = "console=hvc0 ${EXTRA_KERNEL_OPTIONS}"`,
    `memory = ${MEMORY_MIB}`,
    `vcpus = ${VCPUS}`,
    `disk = [ '${disk},raw,xvdb,rw' ]`,
  ]);
  const host = await XenotypeHost.start(MACHINE_MIB);
  try {
    const guest = await host.createGuest(config);
    await guest.shell.waitForShell(BOOT_TIMEOUT_MS);
    return await runDd(guest.shell, 'xvdb');
  } finally {
    await host.stop();
  }
}

export async function ddQemu(
  images: GuestImages,
  initramfs: string,
  disk: string,
): Promise<DdFigures> {
  const command = qemuBootCommand(
    { vmlinux: images.vmlinux, initramfs },
    {
      memoryMiB: MEMORY_MIB,
      vcpus: VCPUS,
      timeoutMs: BOOT_TIMEOUT_MS,
      append: EXTRA_KERNEL_OPTIONS,
      extraArgs: ['-nic', 'none', '-drive', `file=${disk},format=raw,if=virtio`],
    },
  );
  const guest = new QemuGuest('qemu', command);
  try {
    await guest.shell.waitForShell(BOOT_TIMEOUT_MS);
    return await runDd(guest.shell, 'vda');
  } finally {
    await guest.stop();
  }
}

export async function benchBlk(report: Report): Promise<void> {
  const images = await ensureImages({ log: (line) => console.error(line) });
  await linkDefaultImages(images, join(CHECKOUT, 'images'));
  const work = await mkdtemp(join(tmpdir(), 'xenotype-bench-blk-'));
  try {
    const ourDisk = join(work, 'xvdb.img');
    await makeDisk(ourDisk);
    const ours = await ddXenotype(ourDisk);
    report('blk.seq_write.MBps', ours.writeMBps, 'MB/s');
    report('blk.seq_read.MBps', ours.readMBps, 'MB/s');

    const initramfs = join(work, 'initramfs-virtio.cpio.gz');
    await buildVirtioInitramfs(images, initramfs);
    const qemuDisk = join(work, 'vda.img');
    await makeDisk(qemuDisk);
    const qemu = await ddQemu(images, initramfs, qemuDisk);
    report('blk.seq_write.qemu.MBps', qemu.writeMBps, 'MB/s');
    report('blk.seq_read.qemu.MBps', qemu.readMBps, 'MB/s');
    report('blk.seq_write.ratio_to_qemu_tcg', qemu.writeMBps / ours.writeMBps, 'x');
    report('blk.seq_read.ratio_to_qemu_tcg', qemu.readMBps / ours.readMBps, 'x');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await benchBlk(report);
