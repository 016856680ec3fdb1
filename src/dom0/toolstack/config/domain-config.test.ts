// From xl.cfg to DomainConfig: Xen's example configurations, xl's defaults and messages, the
// kernel command line, command-line overrides, and what Xenotype refuses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DomainConfig, parseDomainConfig } from './domain-config.js';
import { domainConfigToJson } from './json.js';

const UUID = '5d5f2b8e-1c1a-4d6e-9a55-0123456789ab';

function parse(
  text: string,
  extra: readonly string[] = [],
): { config: DomainConfig | null; report: string[] } {
  const report: string[] = [];
  const r = parseDomainConfig(
    {
      source: 'guest.cfg',
      data: text,
      extra,
      cwd: '/srv/guests',
      generateUuid: () => UUID,
      randomBytes: () => new Uint8Array([0x80, 0x01, 0x02]),
    },
    (l) => report.push(l),
  );
  return { config: r.ok ? r.config : null, report };
}

// The settings of tools/examples/xlexample.pvhlinux (Xen 4.17).
const PVHLINUX = `
# This configures a PVH rather than PV guest
type = "pvh"
name = "example.pvhlinux"
#uuid = "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
kernel = "/boot/vmlinuz"
#ramdisk = "/boot/initrd.gz"
extra = "root=/dev/xvda1"
memory = 512
vcpus = 4
vif = [ '' ]
disk = [ '/dev/zvol/tank/guest-volume,raw,xvda,rw' ]
`;

describe("Xen's examples", () => {
  test('xlexample.pvhlinux', () => {
    const { config, report } = parse(PVHLINUX);
    assert.deepEqual(config, {
      name: 'example.pvhlinux',
      type: 'pvh',
      uuid: UUID,
      kernel: '/boot/vmlinuz',
      ramdisk: null,
      cmdline: 'root=/dev/xvda1',
      targetMemkb: 512 * 1024,
      maxMemkb: 512 * 1024,
      vcpus: 4,
      maxVcpus: 4,
      onPoweroff: 'destroy',
      onReboot: 'restart',
      onWatchdog: 'destroy',
      onCrash: 'destroy',
      onSoftReset: 'soft-reset',
      disks: [
        {
          target: '/dev/zvol/tank/guest-volume',
          format: 'raw',
          vdev: 'xvda',
          devid: 51712,
          access: 'rw',
          devtype: 'disk',
          discard: undefined,
        },
      ],
      // vif = [ '' ]: libxl's defaults, and a random MAC in Xen's OUI.
      nics: [
        {
          devid: 0,
          mac: '00:16:3e:00:01:02',
          bridge: 'xenbr0',
          ip: undefined,
          vifname: undefined,
          gatewaydev: undefined,
          rate: undefined,
          mtu: 1500,
          script: '/etc/xen/scripts/vif-bridge',
          trusted: undefined,
          colo: undefined,
        },
      ],
    });
    assert.deepEqual(report, []);
  });

  test('xlexample.pvlinux has no type: xl makes it pv, which Xenotype cannot run', () => {
    const { config, report } = parse(
      'name = "example.pvlinux"\nkernel = "/boot/vmlinuz"\nextra = "root=/dev/xvda1"\nmemory = 128\nvcpus = 2\n',
    );
    assert.equal(config, null);
    assert.deepEqual(report, [
      'No domain type given: xl then builds a pv guest, which Xenotype cannot run yet. Set type = "pvh".',
    ]);
  });

  test('xlexample.hvm names its type', () => {
    const { report } = parse(
      'type = "hvm"\nname = "example.hvm"\nmemory = 128\nvcpus = 2\nsdl = 1\n',
    );
    assert.deepEqual(report, [
      'Domain type hvm is not supported by Xenotype yet: only pvh guests run.',
    ]);
  });
});

describe("xl's parsing rules", () => {
  const base = 'type="pvh"\nname="g"\nkernel="vmlinuz"\n';

  test('libxl defaults: 32 MiB, one vCPU; maxmem follows memory, maxvcpus follows vcpus', () => {
    const c = parse(base).config!;
    assert.deepEqual([c.targetMemkb, c.maxMemkb, c.vcpus, c.maxVcpus], [32768, 32768, 1, 1]);
    const d = parse(`${base}memory=64\nmaxmem=128\nvcpus=2\nmaxvcpus=4\n`).config!;
    assert.deepEqual([d.targetMemkb, d.maxMemkb, d.vcpus, d.maxVcpus], [65536, 131072, 2, 4]);
    const e = parse(`${base}maxmem=256\nmaxvcpus=3\n`).config!;
    assert.deepEqual([e.targetMemkb, e.maxMemkb, e.vcpus, e.maxVcpus], [262144, 262144, 1, 3]);
  });

  test('relative kernel and ramdisk paths are taken from the client directory', () => {
    const c = parse(`${base}ramdisk="../initrd.img"\n`).config!;
    assert.equal(c.kernel, '/srv/guests/vmlinuz');
    assert.equal(c.ramdisk, '/srv/initrd.img');
  });

  test('the kernel command line: root= then extra=, and cmdline= overriding both', () => {
    assert.equal(
      parse(`${base}root="/dev/xvda1 ro"\nextra="quiet"\n`).config!.cmdline,
      'root=/dev/xvda1 ro quiet',
    );
    assert.equal(parse(`${base}root="/dev/xvda1"\n`).config!.cmdline, 'root=/dev/xvda1');
    assert.equal(parse(`${base}extra="console=hvc0"\n`).config!.cmdline, 'console=hvc0');
    assert.equal(parse(base).config!.cmdline, null);
    const { config, report } = parse(`${base}cmdline="init=/bin/sh"\nroot="/dev/xvda"\n`);
    assert.equal(config!.cmdline, 'init=/bin/sh');
    assert.deepEqual(report, ['Warning: ignoring root= and extra= in favour of cmdline=']);
  });

  test('type and builder match by prefix, as strncmp over the value does', () => {
    assert.equal(parse('type="pvh"\nname="g"\nkernel="k"\n').config?.type, 'pvh');
    assert.deepEqual(parse('type="pvx"\nname="g"\n').report, ['Invalid domain type pvx.']);
    assert.deepEqual(parse('type="p"\nname="g"\n').report, [
      'Domain type pv is not supported by Xenotype yet: only pvh guests run.',
    ]);
    assert.deepEqual(parse('builder="generic"\ntype="hvm"\nname="g"\n').report, [
      'Contradicting "builder" and "type" options specified.',
    ]);
    assert.deepEqual(parse('builder="bios"\n').report, ['Invalid domain type bios.']);
  });

  test("xl's own errors", () => {
    assert.deepEqual(parse('type="pvh"\n').report, ['Domain name must be specified.']);
    assert.deepEqual(parse('type="pvh"\nname=["a"]\n').report, [
      "guest.cfg:2: warning: parameter `name' is a list but should be a single value",
      'Domain name must be specified.',
    ]);
    assert.deepEqual(parse(`${base}uuid="not-a-uuid"\n`).report, [
      'Failed to parse UUID: not-a-uuid',
    ]);
    assert.deepEqual(parse(`${base}vcpus=4\nmaxvcpus=2\n`).report, ['xl: maxvcpus < vcpus']);
    assert.deepEqual(parse(`${base}on_crash="explode"\n`).report, [
      'Unknown on_crash action "explode" specified',
    ]);
  });

  test('a uuid is parsed as libuuid does and kept in lower case', () => {
    const c = parse(`${base}uuid="5D5F2B8E-1C1A-4D6E-9A55-0123456789AB"\n`).config!;
    assert.equal(c.uuid, UUID);
    assert.deepEqual(parse(`${base}uuid="5d5f2b8e1c1a4d6e9a550123456789ab"\n`).report, [
      'Failed to parse UUID: 5d5f2b8e1c1a4d6e9a550123456789ab',
    ]);
  });

  test('a memory that is not a number is a warning, and the default applies (as in xl)', () => {
    const { config, report } = parse(`${base}memory="lots"\n`);
    assert.equal(config!.targetMemkb, 32768);
    assert.deepEqual(report, ["guest.cfg:4: warning: parameter `memory' is not a valid number"]);
  });

  test('shutdown actions', () => {
    const c = parse(
      `${base}on_poweroff="preserve"\non_reboot="rename-restart"\non_crash="restart"\n`,
    ).config!;
    assert.deepEqual(
      [c.onPoweroff, c.onReboot, c.onCrash],
      ['preserve', 'rename-restart', 'restart'],
    );
    assert.deepEqual(parse(`${base}on_crash="coredump-restart"\n`).report, [
      'on_crash action "coredump-restart" is not supported by Xenotype: it cannot dump cores yet.',
    ]);
    assert.deepEqual(parse(`${base}on_reboot="soft-reset"\n`).report, [
      'on_reboot action "soft-reset" is not supported by Xenotype.',
    ]);
  });

  test("Xenotype's own checks", () => {
    assert.deepEqual(parse('type="pvh"\nname="g"\n').report, [
      'A pvh guest needs "kernel": Xenotype has no firmware or bootloader to start it.',
    ]);
    assert.deepEqual(parse(`${base}memory=256\nmaxmem=128\n`).report, [
      'maxmem (128 MiB) is less than memory (256 MiB).',
    ]);
    assert.deepEqual(parse(`${base}memory=0\n`).report, [
      '"memory" must be a positive number of MiB (got 0).',
    ]);
    assert.deepEqual(parse(`${base}vcpus=0\n`).report, ['"vcpus" must be at least 1 (got 0).']);
    assert.deepEqual(parse(`${base}vcpus=129\n`).report, [
      'maxvcpus (129) is more than the 128 vCPUs a pvh guest can have.',
    ]);
    assert.deepEqual(parse(`${base}vif=['bridge=br1','type=ioemu']\n`).report, [
      "Vif 1: type=ioemu is an emulated card, which only HVM guests have; a pvh guest's vif is type=vif.",
    ]);
  });

  test('key=value arguments of xl create come after the file and win', () => {
    const { config } = parse(`${base}memory=128\n`, ['memory=512', 'name="other"']);
    assert.equal(config!.targetMemkb, 512 * 1024);
    assert.equal(config!.name, 'other');
    // Their lines are numbered after the file's: a blank line, then one per argument.
    assert.deepEqual(parse(base, ['memory=zz']).report, [
      "guest.cfg:5: config parsing error near `zz': syntax error, unexpected IDENT, expecting STRING or NUMBER or '['",
      'Failed to parse config: Invalid argument',
    ]);
  });
});

test("libxl's JSON for a configuration", () => {
  const json = domainConfigToJson(
    parse(`type="pvh"\nname="g"\nkernel="/k"\nvcpus=2\non_poweroff="preserve"\n`).config!,
  );
  assert.equal(
    json,
    `{
    "c_info": {
        "type": "pvh",
        "name": "g",
        "uuid": "${UUID}",
        "run_hotplug_scripts": "True"
    },
    "b_info": {
        "max_vcpus": 2,
        "avail_vcpus": [
            0,
            1
        ],
        "max_memkb": 32768,
        "target_memkb": 32768,
        "sched_params": {

        },
        "claim_mode": "True",
        "kernel": "/k",
        "type.pvh": {

        },
        "arch_arm": {

        },
        "arch_x86": {

        }
    },
    "on_poweroff": "preserve",
    "on_reboot": "restart",
    "on_soft_reset": "soft_reset"
}
`,
  );
});
