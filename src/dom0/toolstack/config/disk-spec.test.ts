// The xl disk spec language. The expected results and error texts are what Xen's libxlu disk
// lexer (libxlu_disk_l.l as of 4.17, built unmodified) gives for the same strings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DiskSpec, parseDiskSpec, parseDiskSpecs } from './disk-spec.js';

function disk(spec: string | readonly string[]): DiskSpec {
  const r = typeof spec === 'string' ? parseDiskSpec(spec) : parseDiskSpecs(spec);
  if (!r.ok) assert.fail(`${JSON.stringify(spec)}: ${r.error}`);
  return r.disk;
}

function error(spec: string | readonly string[]): string {
  const r = typeof spec === 'string' ? parseDiskSpec(spec) : parseDiskSpecs(spec);
  assert.equal(r.ok, false, `expected ${JSON.stringify(spec)} to fail`);
  return r.ok ? '' : r.error;
}

/** The fields most specs are about. */
const core = (d: DiskSpec) => ({
  target: d.target,
  format: d.format,
  vdev: d.vdev,
  access: d.access,
  devtype: d.devtype,
});

const ERR = 'config parsing error in disk specification:';

describe('disk specs from xl-disk-configuration(5)', () => {
  test('the equivalent forms of a read-write disk', () => {
    const expected = {
      target: '/dev/vg/guest-volume',
      format: 'raw',
      vdev: 'hda',
      access: 'rw',
      devtype: 'disk',
    };
    for (const spec of [
      '/dev/vg/guest-volume,,hda',
      '/dev/vg/guest-volume,raw,hda,rw',
      'format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume',
      'raw:/dev/vg/guest-volume,hda,w',
    ]) {
      assert.deepEqual(core(disk(spec)), expected, spec);
    }
    assert.equal(disk('/dev/vg/guest-volume,,hda').devid, 768);
  });

  test('the equivalent forms of a cdrom', () => {
    const expected = {
      target: '/root/image.iso',
      format: 'raw',
      vdev: 'hdc',
      access: 'r',
      devtype: 'cdrom',
    };
    for (const spec of [
      '/root/image.iso,,hdc,cdrom',
      '/root/image.iso,,hdc,,cdrom',
      '/root/image.iso,raw,hdc,devtype=cdrom',
      'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso',
      'raw:/root/image.iso,hdc:cdrom,ro',
    ]) {
      assert.deepEqual(core(disk(spec)), expected, spec);
    }
  });

  test('an empty cdrom drive, in the new and the xend form', () => {
    const expected = { target: '', format: 'empty', vdev: 'hdc', access: 'r', devtype: 'cdrom' };
    assert.deepEqual(core(disk(',hdc:cdrom,r')), expected);
    assert.deepEqual(core(disk('vdev=hdc,devtype=cdrom')), expected);
    assert.deepEqual(core(disk('vdev=hdc,access=r,devtype=cdrom,target=')), expected);
  });

  test('a cdrom is read-only whatever access says', () => {
    assert.equal(disk('/x,,hdc:cdrom,w').access, 'r');
    assert.equal(disk('/x,,xvda,rw,cdrom').access, 'r');
  });

  test('defaults', () => {
    assert.deepEqual(disk('/img,,xvda'), {
      target: '/img',
      format: 'raw',
      vdev: 'xvda',
      devid: 51712,
      access: 'rw',
      devtype: 'disk',
      backendtype: undefined,
      backend: undefined,
      script: undefined,
      discard: undefined,
      directIoSafe: false,
      trusted: undefined,
      specification: undefined,
      colo: undefined,
      coloHost: undefined,
      coloPort: undefined,
      coloExport: undefined,
      activeDisk: undefined,
      hiddenDisk: undefined,
    });
    assert.ok(Object.isFrozen(disk('/img,,xvda')));
  });
});

describe('positional parameters', () => {
  test('fill target, format, vdev, access in turn; empty ones take the default', () => {
    assert.deepEqual(core(disk('/x,qcow2,xvdb,ro')), {
      target: '/x',
      format: 'qcow2',
      vdev: 'xvdb',
      access: 'r',
      devtype: 'disk',
    });
    assert.equal(disk('/x,,xvda,').access, 'rw');
    assert.equal(disk('/x,,xvda,,').access, 'rw');
    assert.equal(disk('/x,empty,xvda').format, 'empty');
  });

  test('a named parameter is skipped by the positional ones', () => {
    assert.deepEqual(core(disk('format=vhd,/x,xvda,r')), {
      target: '/x',
      format: 'vhd',
      vdev: 'xvda',
      access: 'r',
      devtype: 'disk',
    });
    // vdev= is set, so the next positional after the format is the access.
    assert.equal(
      error('vdev=xvda,/x,,xvdb'),
      `${ERR} unknown value for access: near \`xvdb' in \`vdev=xvda,/x,,xvdb'`,
    );
  });

  test('the classic mistake: a vdev where the format goes', () => {
    assert.equal(error('/img,hda'), `${ERR} unknown value for format: near \`hda' in \`/img,hda'`);
  });

  test('blanks before a parameter are skipped, blanks after it are kept', () => {
    assert.deepEqual(core(disk('\t/x,\t,xvda')), core(disk('/x,,xvda')));
    assert.equal(disk('/x,,xvda, ').access, 'rw');
    assert.equal(
      error(' /x , raw , xvda '),
      `${ERR} unknown value for format: near \`raw ' in \` /x , raw , xvda '`,
    );
  });

  test('too many', () => {
    assert.equal(
      error('/a,raw,xvda,rw,extra'),
      `${ERR} too many positional parameters: near \`extra' in \`/a,raw,xvda,rw,extra'`,
    );
  });

  test('a target that looks like a flag or a name:colon is still a target', () => {
    assert.equal(disk('cdromx,,xvda').target, 'cdromx');
    assert.equal(disk('foo:bar,,xvda').target, 'foo:bar');
    assert.equal(disk('/x:y,,xvda').target, '/x:y');
  });
});

describe('named parameters and flags', () => {
  test('target= takes the rest of the string, commas included, less one trailing comma', () => {
    assert.equal(disk('vdev=xvda,target=/a,b,c,').target, '/a,b,c');
    assert.equal(disk(',,xvda,target=/y').target, '/y', 'an empty target may be given again');
    assert.equal(
      error('/x,,xvda,target=/y'),
      `${ERR} target respecified: near \`/y' in \`/x,,xvda,target=/y'`,
    );
  });

  test('backend, backendtype, script, specification and the boolean flags', () => {
    const d = disk(
      '/x,,xvda,trusted,no-discard,direct-io-safe,backend=dd,script=s,specification=virtio,backendtype=qdisk',
    );
    assert.equal(d.trusted, true);
    assert.equal(d.discard, false);
    assert.equal(d.directIoSafe, true);
    assert.equal(d.backend, 'dd');
    assert.equal(d.script, 's');
    assert.equal(d.specification, 'virtio');
    assert.equal(d.backendtype, 'qdisk');
    assert.equal(disk('/x,,xvda,untrusted,discard').trusted, false);
    assert.equal(disk('/x,,xvda,untrusted,discard').discard, true);
    assert.equal(disk('/x,,xvda,backendtype=standalone').backendtype, 'standalone');
  });

  test('devtype=disk undoes cdrom', () => {
    assert.equal(disk('/x,,xvda,cdrom,devtype=disk').devtype, 'disk');
    assert.equal(disk('/x,raw,hdc:disk').devtype, 'disk');
  });

  test('COLO settings', () => {
    const d = disk(
      '/x,,xvda,colo,colo-host=h,colo-port=9000,colo-export=e,active-disk=a,hidden-disk=hd',
    );
    assert.deepEqual(
      [d.colo, d.coloHost, d.coloPort, d.coloExport, d.activeDisk, d.hiddenDisk],
      [true, 'h', 9000, 'e', 'a', 'hd'],
    );
    assert.equal(disk('/x,,xvda,no-colo').colo, false);
  });

  test('the same value twice is fine, a different one is not', () => {
    assert.equal(disk('/x,qcow2,xvda,ro,format=qcow2').format, 'qcow2');
    assert.equal(disk('/x,vhd,xvda,backendtype=phy,backendtype=phy').backendtype, 'phy');
    assert.equal(
      error('/x,raw,xvda,format=qcow2'),
      `${ERR} format respecified: near \`qcow2' in \`/x,raw,xvda,format=qcow2'`,
    );
    assert.equal(
      error('/x,vhd,xvda,backendtype=phy,backendtype=qdisk'),
      `${ERR} backend respecified: near \`qdisk' in \`/x,vhd,xvda,backendtype=phy,backendtype=qdisk'`,
    );
    assert.equal(
      error('vdev=xvda,vdev=xvdb,target=/x'),
      `${ERR} vdev respecified: near \`xvdb' in \`vdev=xvda,vdev=xvdb,target=/x'`,
    );
    assert.equal(
      error('/x,,xvda,script=a,script=b'),
      `${ERR} script respecified: near \`b' in \`/x,,xvda,script=a,script=b'`,
    );
    assert.equal(disk('script=,script=b,/x,,xvda').script, 'b');
  });

  test('bad values', () => {
    const cases: [string, string][] = [
      ['/x,,xvda,devtype=floppy', "unknown value for type: near `devtype=floppy'"],
      ['/x,,xvda,devtype=floppy,', "unknown value for type: near `devtype=floppy,'"],
      ['/x,,xvda,access=x', "unknown value for access: near `x'"],
      ['backendtype=foo,/x,,xvda', "unknown value for backendtype: near `foo'"],
      ['/x,,xvda,specification=kvm', "unknown value for specification: near `kvm'"],
      ['/x,,xvda,colo-port=abc', "unknown value for colo_port: near `abc'"],
      ['/x,QCOW2,xvda', "unknown value for format: near `QCOW2'"],
      ['/x,,hdc:foo', "unknown deprecated type: near `foo'"],
    ];
    for (const [spec, message] of cases)
      assert.equal(error(spec), `${ERR} ${message} in \`${spec}'`);
  });

  test('unknown parameters are reported with one character of their value', () => {
    assert.equal(
      error('foo=bar,/x,,xvda'),
      `${ERR} unknown parameter: near \`foo=b' in \`foo=bar,/x,,xvda'`,
    );
  });

  test('a stray = is bad syntax, except as the very last character', () => {
    assert.equal(error('Xvda=1'), `${ERR} bad disk syntax: near \`=1' in \`Xvda=1'`);
    assert.equal(
      error('a=,/x,,xvda'),
      `${ERR} bad disk syntax: near \`=,/x,,xvda' in \`a=,/x,,xvda'`,
    );
    assert.equal(disk('/img,raw,xvda=').vdev, 'xvda');
  });
});

describe('deprecated prefixes', () => {
  test('tap:, aio:, file:, phy: … are dropped', () => {
    for (const spec of [
      'tap:aio:/x,xvda,w',
      'tap2:tapdisk:aio:/x,xvda',
      'file:/x,xvda',
      'phy:/x,xvda',
      'ioemu:/x,xvda',
    ]) {
      assert.deepEqual(core(disk(spec)), {
        target: '/x',
        format: 'raw',
        vdev: 'xvda',
        access: 'rw',
        devtype: 'disk',
      });
    }
  });

  test('a prefix means the next positional is the vdev, not the format', () => {
    assert.equal(
      error('phy:/x,raw,xvda'),
      `${ERR} unknown value for access: near \`xvda' in \`phy:/x,raw,xvda'`,
    );
  });

  test('format prefixes set the format', () => {
    assert.equal(disk('tap:qcow2:/x,xvda,w').format, 'qcow2');
    assert.equal(disk('qcow:/x,xvda').format, 'qcow');
    assert.equal(disk('vhd:/x,xvda').format, 'vhd');
  });

  test('script prefixes set block-<name> as the script', () => {
    assert.deepEqual(
      [disk('iscsi:iqn.foo,xvda').script, disk('iscsi:iqn.foo,xvda').target],
      ['block-iscsi', 'iqn.foo'],
    );
    assert.equal(disk('nbd:h:1,xvda').script, 'block-nbd');
    assert.equal(disk('enbd:x,xvda').script, 'block-enbd');
    assert.equal(disk('drbd:r,xvda').script, 'block-drbd');
  });

  test('other prefixes are refused', () => {
    assert.equal(
      error('qed:/x,xvda'),
      `${ERR} unknown deprecated disk prefix: near \`qed:' in \`qed:/x,xvda'`,
    );
    assert.equal(
      error('a1:/x,,xvda'),
      `${ERR} unknown deprecated disk prefix: near \`a1:' in \`a1:/x,,xvda'`,
    );
  });
});

describe('missing pieces', () => {
  test('no vdev', () => {
    assert.equal(error('target=/a,b'), `${ERR} no vdev specified in \`target=/a,b'`);
  });

  test('no target, on a device that is not removable', () => {
    assert.equal(
      error('vdev=xvda'),
      `${ERR} no target specified (and device not removable) in \`vdev=xvda'`,
    );
  });

  test('an unknown vdev parses, with no devid (libxl refuses it later)', () => {
    const d = disk('/x,,vda');
    assert.equal(d.vdev, 'vda');
    assert.equal(d.devid, undefined);
  });
});

describe('several strings as one spec (xl block-attach)', () => {
  test('positional parameters continue across strings', () => {
    assert.deepEqual(core(disk(['phy:/dev/sda', 'xvdb', 'w'])), {
      target: '/dev/sda',
      format: 'raw',
      vdev: 'xvdb',
      access: 'rw',
      devtype: 'disk',
    });
    assert.equal(disk(['format=qcow,target=/x', 'vdev=xvda']).format, 'qcow');
  });

  test('an error names the string it is in; a missing vdev names the last one', () => {
    assert.equal(
      error(['phy:/dev/sda', 'xvdb', 'w', 'x']),
      `${ERR} too many positional parameters: near \`x' in \`x'`,
    );
    assert.equal(error(['/x', 'raw']), `${ERR} no vdev specified in \`raw'`);
    assert.equal(error([]), `${ERR} no vdev specified in \`(null)'`);
  });
});
