// Virtual disk names as xl.cfg writes them (xvda, hdc, sdb3, d536p37, or a bare number) and the
// device numbers that name the vbd in xenstore, following xen-vbd-interface(7) and the rules of
// Xen 4.17's libxl__device_disk_dev_number. libxl tries the forms in a fixed order: d<N>p<M> or
// xvd*, then a bare number, then hd*, then sd*.
import { strtol, strtoul } from './strtol.js';

/** A vdev written as a disk name or d<N>p<M>, with the disk and partition it names. */
export interface NamedVdev {
  /** Which naming scheme the name used; d<N>p<M> is an xvd name. */
  readonly kind: 'xvd' | 'hd' | 'sd';
  /** The number the vbd has in xenstore (device/vbd/<devid>). */
  readonly devid: number;
  readonly disk: number;
  /** 0 is the whole disk. */
  readonly partition: number;
}

/** A vdev written as the xenstore number itself; libxl does not decode disk or partition. */
export interface NumericVdev {
  readonly kind: 'number';
  readonly devid: number;
}

export type ParsedVdev = NamedVdev | NumericVdev;

const XVD_MAJOR = 202;
const SCSI_MAJOR = 8;
const IDE0_MAJOR = 3;
const IDE1_MAJOR = 22;
/** The "extended" encoding for xvd disks from 16 on, or partitions from 16 on. */
const EXTENDED = 1 << 28;
const INT_MAX = 0x7fffffff;

/** The devid of a vdev, or undefined where libxl would refuse it. */
export function parseVdev(vdev: string): ParsedVdev | undefined {
  // libxl takes "" as the number 0; that only ever comes from a typo, so it is refused here.
  if (vdev === '') return undefined;
  const xvd = parseDiskPartitionForm(vdev) ?? matchDiskName(vdev, 'xvd', (1 << 20) - 1, 255);
  if (xvd !== undefined) {
    const { disk, partition } = xvd;
    const devid =
      disk <= 15 && partition <= 15
        ? (XVD_MAJOR << 8) | (disk << 4) | partition
        : EXTENDED | (disk << 8) | partition;
    return { kind: 'xvd', devid, disk, partition };
  }
  const number = strtoul(vdev, 0);
  if (number.end === vdev.length && !number.range && number.value <= BigInt(INT_MAX)) {
    return { kind: 'number', devid: Number(number.value) };
  }
  const hd = matchDiskName(vdev, 'hd', 3, 63);
  if (hd !== undefined) {
    const major = hd.disk < 2 ? IDE0_MAJOR : IDE1_MAJOR;
    const devid = (major << 8) | ((hd.disk & 1) << 6) | hd.partition;
    return { kind: 'hd', devid, ...hd };
  }
  const sd = matchDiskName(vdev, 'sd', 15, 15);
  if (sd !== undefined) {
    return { kind: 'sd', devid: (SCSI_MAJOR << 8) | (sd.disk << 4) | sd.partition, ...sd };
  }
  return undefined;
}

/** What libxl logs when it meets a vdev that parseVdev refuses. */
export function invalidVdevMessage(vdev: string): string {
  return `Invalid or unsupported virtual disk identifier ${vdev}`;
}

/**
 * The xvd name Linux's blkfront gives a devid (libxl__devid_to_vdev). Every scheme comes out as
 * xvd: hda and sda are both "xvda", because only the low byte of a non-extended devid counts.
 */
export function diskNameFor(devid: number): string {
  const extended = (devid & EXTENDED) !== 0;
  const minor = extended ? devid & ~EXTENDED : devid & 0xff;
  const partitionsPerDisk = extended ? 256 : 16;
  const partition = minor % partitionsPerDisk;
  const letters = diskLetters(Math.floor(minor / partitionsPerDisk));
  return `xvd${letters}${partition === 0 ? '' : String(partition)}`;
}

/** Disk 0 is "a", 25 "z", 26 "aa": bijective base 26, as both libxl and Linux count. */
export function diskLetters(disk: number): string {
  let letters = '';
  for (let n = disk; n >= 0; n = Math.floor(n / 26) - 1) {
    letters = String.fromCharCode(97 + (n % 26)) + letters;
  }
  return letters;
}

interface DiskAndPartition {
  readonly disk: number;
  readonly partition: number;
}

/**
 * d<N>p<M>, read as sscanf("d%ip%i") does: each number may have blanks, a sign and a 0x or 0
 * prefix. libxl lets negative numbers through into nonsense devids; they are refused here.
 */
function parseDiskPartitionForm(vdev: string): DiskAndPartition | undefined {
  if (vdev[0] !== 'd') return undefined;
  const disk = strtol(vdev.slice(1), 0);
  const p = 1 + disk.end;
  if (disk.end === 0 || vdev[p] !== 'p') return undefined;
  const partition = strtol(vdev.slice(p + 1), 0);
  if (partition.end === 0 || p + 1 + partition.end !== vdev.length) return undefined;
  if (disk.value < 0n || disk.value >= 1n << 20n) return undefined;
  if (partition.value < 0n || partition.value >= 256n) return undefined;
  return { disk: Number(disk.value), partition: Number(partition.value) };
}

/**
 * <prefix><letters>[<partition>]: the letters count disks in bijective base 26, the partition
 * is decimal with no leading zero (so "xvda0" is refused; partition 0 is written by leaving it
 * out). libxl reads the partition with strtoul, so blanks or a '+' before it slip through.
 */
function matchDiskName(
  vdev: string,
  prefix: string,
  maxDisk: number,
  maxPartition: number,
): DiskAndPartition | undefined {
  if (!vdev.startsWith(prefix)) return undefined;
  let i = prefix.length;
  let disk = -1;
  while (i < vdev.length && vdev[i]! >= 'a' && vdev[i]! <= 'z') {
    disk = (disk + 1) * 26 + (vdev.charCodeAt(i) - 97);
    if (disk > maxDisk) return undefined;
    i++;
  }
  // libxl accepts a name with no letters as disk -1 and computes a negative devid from it.
  if (disk < 0) return undefined;
  if (i === vdev.length) return { disk, partition: 0 };
  if (vdev[i] === '0') return undefined;
  const rest = vdev.slice(i);
  const partition = strtoul(rest, 10);
  if (partition.end !== rest.length || partition.value > BigInt(maxPartition)) return undefined;
  return { disk, partition: Number(partition.value) };
}
