// vdev names and their xenstore numbers. The expected numbers are those that Xen 4.17's
// libxl__device_disk_dev_number and libxl__devid_to_vdev give for the same names.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diskLetters, diskNameFor, invalidVdevMessage, parseVdev } from './vdev.js';

const devid = (vdev: string): number | undefined => parseVdev(vdev)?.devid;

describe('parseVdev', () => {
  test('xvd disks 0..15 use major 202, later ones the extended encoding', () => {
    assert.equal(devid('xvda'), 51712);
    assert.equal(devid('xvdb'), 51728);
    assert.equal(devid('xvdp'), 51952);
    assert.equal(devid('xvdq'), 268439552);
    assert.equal(devid('xvdz'), 268441856);
    assert.equal(devid('xvdaa'), 268442112);
    assert.equal(devid('xvdzz'), 268614912);
    assert.equal(devid('xvdtq37'), 268572709);
  });

  test('xvd partitions: up to 15 in the short form, 16..255 extended', () => {
    assert.equal(devid('xvda15'), 51727);
    assert.equal(devid('xvda16'), 268435472);
    assert.equal(devid('xvda255'), 268435711);
    assert.equal(devid('xvda256'), undefined);
    assert.equal(devid('xvda0'), undefined, 'partition 0 is written by leaving it out');
    assert.equal(devid('xvda01'), undefined, 'no leading zeroes');
  });

  test('disk and partition are reported', () => {
    assert.deepEqual(parseVdev('xvdb2'), { kind: 'xvd', devid: 51730, disk: 1, partition: 2 });
    assert.deepEqual(parseVdev('hdc2'), { kind: 'hd', devid: 5634, disk: 2, partition: 2 });
    assert.deepEqual(parseVdev('sdb3'), { kind: 'sd', devid: 2067, disk: 1, partition: 3 });
  });

  test('d<N>p<M> names an xvd disk, with C integer syntax for each number', () => {
    assert.deepEqual(parseVdev('d536p37'), parseVdev('xvdtq37'));
    assert.equal(devid('d0p0'), 51712);
    assert.equal(devid('d1p2'), 51730);
    assert.equal(devid('d16p0'), 268439552);
    assert.equal(devid('d0x10p1'), 268439553);
    assert.equal(devid('d010p1'), 51841);
    assert.equal(devid('d 1p2'), 51730);
    assert.equal(devid('d1048575p255'), (1 << 28) | (1048575 << 8) | 255);
    assert.equal(devid('d1048576p0'), undefined);
    assert.equal(devid('d0p256'), undefined);
    assert.equal(devid('d0'), undefined, 'the p part is required');
    assert.equal(devid('d1p2x'), undefined);
  });

  test('IDE: hda/hdb on major 3, hdc/hdd on major 22, partitions up to 63', () => {
    assert.equal(devid('hda'), 768);
    assert.equal(devid('hdb'), 832);
    assert.equal(devid('hdc'), 5632);
    assert.equal(devid('hdd'), 5696);
    assert.equal(devid('hda63'), 831);
    assert.equal(devid('hda64'), undefined);
    assert.equal(devid('hde'), undefined);
  });

  test('SCSI: major 8, disks and partitions up to 15', () => {
    assert.equal(devid('sda'), 2048);
    assert.equal(devid('sdp'), 2288);
    assert.equal(devid('sda15'), 2063);
    assert.equal(devid('sdq'), undefined);
    assert.equal(devid('sda16'), undefined);
  });

  test('a bare number is the devid itself (decimal, 0x hex or 0 octal), up to INT_MAX', () => {
    assert.deepEqual(parseVdev('51712'), { kind: 'number', devid: 51712 });
    assert.equal(devid('0x10'), 16);
    assert.equal(devid('010'), 8);
    assert.equal(devid('0'), 0);
    assert.equal(devid('2147483647'), 2147483647);
    assert.equal(devid('2147483648'), undefined);
    assert.equal(devid('-5'), undefined);
  });

  test("libxl's strtoul lets blanks and a sign through before a partition", () => {
    assert.equal(devid('xvda+1'), 51713);
    assert.equal(devid('xvda 1'), 51713);
    assert.equal(devid('xvda-1'), undefined);
  });

  test('names libxl would turn into negative devids are refused', () => {
    for (const vdev of ['', 'xvd', 'xvd1', 'hd', 'd-1p0', 'd0p-1']) {
      assert.equal(devid(vdev), undefined, JSON.stringify(vdev));
    }
  });

  test('other names are refused', () => {
    for (const vdev of ['XVDA', 'xvdA', 'vda', 'abc', 'xvda ', 'sdaa']) {
      assert.equal(devid(vdev), undefined, vdev);
    }
    assert.equal(invalidVdevMessage('vda'), 'Invalid or unsupported virtual disk identifier vda');
  });
});

describe('diskNameFor', () => {
  test('names as Linux blkfront does, always xvd', () => {
    assert.equal(diskNameFor(51712), 'xvda');
    assert.equal(diskNameFor(51730), 'xvdb2');
    assert.equal(diskNameFor(268439552), 'xvdq');
    assert.equal(diskNameFor(268572709), 'xvdtq37');
    assert.equal(diskNameFor(268435472), 'xvda16');
    // Only the low byte of a non-extended devid counts: hdb is minor 64, four disks of 16 on.
    assert.equal(diskNameFor(768), 'xvda');
    assert.equal(diskNameFor(832), 'xvde');
    assert.equal(diskNameFor(5632), 'xvda');
    assert.equal(diskNameFor(2067), 'xvdb3');
  });

  test('round-trips every xvd name', () => {
    for (let disk = 0; disk < 800; disk++) {
      for (const partition of [0, 1, 15, 16, 255]) {
        const name = `xvd${diskLetters(disk)}${partition === 0 ? '' : partition}`;
        const parsed = parseVdev(name);
        assert.ok(parsed?.kind === 'xvd', name);
        assert.equal(parsed.disk, disk);
        assert.equal(diskNameFor(parsed.devid), name);
      }
    }
  });

  test('disk letters count in bijective base 26', () => {
    assert.deepEqual([0, 25, 26, 27, 51, 52, 701, 702].map(diskLetters), [
      'a',
      'z',
      'aa',
      'ab',
      'az',
      'ba',
      'zz',
      'aaa',
    ]);
  });
});
