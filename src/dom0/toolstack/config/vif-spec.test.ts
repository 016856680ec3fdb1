// The xl vif spec. Messages are xl 4.17's (parse_nic_config); the rate results and error texts are
// what libxlu's xlu_vif_parse_rate, built unmodified, gives for the same strings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatMac,
  parseMac,
  parseVifArgs,
  parseVifRate,
  parseVifSpec,
  randomXenMac,
  type VifSpec,
} from './vif-spec.js';

const fixedRandom = () => new Uint8Array([0xff, 0x12, 0x34]);

function vif(spec: string): VifSpec {
  const r = parseVifSpec(spec, fixedRandom);
  if (!r.ok) assert.fail(`${JSON.stringify(spec)}: ${r.error}`);
  return r.vif;
}

function warnings(spec: string): readonly string[] {
  const r = parseVifSpec(spec, fixedRandom);
  if (!r.ok) assert.fail(`${JSON.stringify(spec)}: ${r.error}`);
  return r.warnings;
}

describe('vif specs from xl-network-configuration(5)', () => {
  test('mac, model and bridge', () => {
    const v = vif('mac=00:16:3E:74:3d:76,model=rtl8139,bridge=xenbr0');
    assert.equal(v.mac, '00:16:3e:74:3d:76');
    assert.equal(v.model, 'rtl8139');
    assert.equal(v.bridge, 'xenbr0');
    assert.equal(vif('mac=00:16:3e:5f:48:e4,bridge=xenbr1').bridge, 'xenbr1');
  });

  test("the empty string gets libxl's defaults and a random Xen MAC", () => {
    assert.deepEqual(vif(''), {
      mac: '00:16:3e:7f:12:34',
      bridge: 'xenbr0',
      ip: undefined,
      vifname: undefined,
      script: '/etc/xen/scripts/vif-bridge',
      model: 'rtl8139',
      type: undefined,
      backend: undefined,
      gatewaydev: undefined,
      rate: undefined,
      mtu: 1500,
      devid: undefined,
      trusted: undefined,
      colo: {},
    });
    assert.deepEqual(warnings(''), []);
    assert.ok(Object.isFrozen(vif('')));
  });

  test('the random MAC differs from call to call without an injected source', () => {
    const macs = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = parseVifSpec('');
      assert.ok(r.ok);
      assert.match(r.vif.mac, /^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
      macs.add(r.vif.mac);
    }
    assert.ok(macs.size > 1);
  });

  test('rates', () => {
    assert.deepEqual(vif('rate=10Mb/s').rate, { bytesPerInterval: 62500, intervalUsecs: 50000 });
    assert.deepEqual(vif('rate=250KB/s').rate, { bytesPerInterval: 12500, intervalUsecs: 50000 });
    assert.deepEqual(vif('rate=1MB/s@20ms').rate, {
      bytesPerInterval: 20000,
      intervalUsecs: 20000,
    });
  });

  test('the other settings', () => {
    const v = vif(
      'ip=10.0.0.2 10.0.0.3, vifname=web0,script=vif-route,type=ioemu,backend=netdom,gatewaydev=eth1,mtu=9000,devid=3,untrusted',
    );
    assert.equal(v.ip, '10.0.0.2 10.0.0.3');
    assert.equal(v.vifname, 'web0');
    assert.equal(v.script, 'vif-route');
    assert.equal(v.type, 'ioemu');
    assert.equal(v.backend, 'netdom');
    assert.equal(v.gatewaydev, 'eth1');
    assert.equal(v.mtu, 9000);
    assert.equal(v.devid, 3);
    assert.equal(v.trusted, false);
    assert.equal(vif('trusted').trusted, true);
    assert.equal(vif('type=vif').type, 'vif');
  });

  test('COLO settings are kept by key', () => {
    assert.deepEqual(vif('forwarddev=eth0,colo_sock_mirror_port=9003').colo, {
      forwarddev: 'eth0',
      colo_sock_mirror_port: '9003',
    });
  });
});

describe('how xl splits and matches', () => {
  test('empty pieces are skipped and leading spaces dropped; trailing ones stay', () => {
    assert.equal(vif(',, bridge=br1 ,').bridge, 'br1 ');
  });

  test('the key ends at the first =, the value keeps any later one', () => {
    assert.equal(vif('bridge=a=b').bridge, 'a=b');
  });

  test('later settings win', () => {
    assert.equal(vif('bridge=a,bridge=b').bridge, 'b');
    assert.equal(vif('mac=00:16:3e:00:00:01,mac=00:16:3e:00:00:02').mac, '00:16:3e:00:00:02');
  });

  test('mtu=0 and an all-zero MAC mean "not given"', () => {
    assert.equal(vif('mtu=0').mtu, 1500);
    assert.equal(vif('mac=00:00:00:00:00:00').mac, '00:16:3e:7f:12:34');
  });
});

describe('what xl complains about', () => {
  test('in a config file a bad setting is reported and skipped', () => {
    const r = parseVifSpec(
      'bridge=br1,type=tap,mac=00:16:3e:zz:00:01,colour=red,Bridge=x',
      fixedRandom,
    );
    assert.ok(r.ok);
    assert.equal(r.vif.bridge, 'br1');
    assert.equal(r.vif.type, undefined);
    assert.equal(r.vif.mac, '00:16:3e:7f:12:34');
    assert.deepEqual(r.warnings, [
      "Invalid parameter `type'.",
      "Invalid parameter `mac'.",
      "unrecognized argument `colour=red'",
      "unrecognized argument `Bridge=x'",
    ]);
  });

  test('deprecated and unsupported settings warn', () => {
    const r = parseVifSpec('netdev=eth0,accel=x', fixedRandom);
    assert.ok(r.ok);
    assert.equal(r.vif.gatewaydev, 'eth0');
    assert.deepEqual(r.warnings, [
      'the netdev parameter is deprecated, please use gatewaydev instead',
      'the accel parameter for vifs is currently not supported',
    ]);
  });

  test('on the network-attach command line the first bad setting fails', () => {
    assert.deepEqual(parseVifArgs(['bridge=br1', 'colour=red', 'type=tap']), {
      ok: false,
      error: "unrecognized argument `colour=red'",
      prefix: 'none',
    });
    const r = parseVifArgs(['bridge=br1,mac=00:16:3e:00:00:01', 'netdev=eth0'], fixedRandom);
    assert.ok(r.ok);
    assert.equal(r.vif.bridge, 'br1,mac=00:16:3e:00:00:01', 'each argument is one whole setting');
    assert.equal(r.warnings.length, 1);
  });

  test('a bad number or rate fails even in a config file', () => {
    assert.deepEqual(parseVifSpec('mtu=abc'), {
      ok: false,
      error: 'failed to convert "abc" to number',
      prefix: 'xl',
    });
    assert.deepEqual(parseVifSpec('devid=-1'), {
      ok: false,
      error: 'failed to convert "-1" to number',
      prefix: 'xl',
    });
    assert.equal(vif('mtu=9000abc').mtu, 9000, 'trailing junk is ignored, as strtoul does');
    assert.deepEqual(parseVifSpec('rate=10mb/s'), {
      ok: false,
      error: "config parsing error in vif: invalid rate in `10mb/s'",
      prefix: 'config-source',
    });
  });
});

describe('parseMac', () => {
  test('six hex numbers with any one separator; the rest is ignored', () => {
    assert.deepEqual(parseMac('00:16:3e:0a:0b:0c'), [0, 0x16, 0x3e, 10, 11, 12]);
    assert.deepEqual(parseMac('0-16-3e-a-b-c'), [0, 0x16, 0x3e, 10, 11, 12]);
    assert.deepEqual(parseMac('00:16:3e:0a:0b:0cjunk'), [0, 0x16, 0x3e, 10, 11, 12]);
    assert.deepEqual(parseMac('0x1:2:3:4:5:6'), [1, 2, 3, 4, 5, 6]);
  });

  test('refuses octets over 255, non-hex and short MACs', () => {
    for (const mac of ['100:0:0:0:0:0', 'zz:0:0:0:0:0', '00:16:3e', '', '-1:0:0:0:0:0']) {
      assert.equal(parseMac(mac), undefined, mac);
    }
  });

  test('formats lower-case with two digits', () => {
    assert.equal(formatMac([0, 0x16, 0x3e, 0xa, 0xb, 0xc]), '00:16:3e:0a:0b:0c');
  });

  test("random MACs are in Xen's OUI with the fourth octet's top bit clear", () => {
    assert.deepEqual(
      randomXenMac(new Uint8Array([0xff, 0xff, 0xff])),
      [0, 0x16, 0x3e, 0x7f, 0xff, 0xff],
    );
    assert.deepEqual(randomXenMac(new Uint8Array([0x80, 0, 1])), [0, 0x16, 0x3e, 0, 0, 1]);
  });
});

describe('parseVifRate', () => {
  const ok = (rate: string) => {
    const r = parseVifRate(rate);
    if (!r.ok) assert.fail(`${rate}: ${r.error}`);
    return [r.rate.bytesPerInterval, r.rate.intervalUsecs];
  };
  const err = (rate: string) => {
    const r = parseVifRate(rate);
    assert.equal(r.ok, false, rate);
    return r.ok ? '' : r.error.replace('config parsing error in vif: ', '');
  };

  test('units: K, M, G are powers of 1000; b is bits, B bytes', () => {
    assert.deepEqual(ok('1GB/s@20ms'), [20_000_000, 20000]);
    assert.deepEqual(ok('10Mb/s@50ms'), [62500, 50000]);
    assert.deepEqual(ok('100B/s'), [5, 50000]);
    assert.deepEqual(ok('100b/s'), [0, 50000]);
  });

  test('intervals: ms, us (or m, u), s; a bare number is seconds', () => {
    assert.deepEqual(ok('10Mb/s@20'), [25_000_000, 20_000_000]);
    assert.deepEqual(ok('10Mb/s@20m'), [25000, 20000]);
    assert.deepEqual(ok('10Mb/s@20u'), [25, 20]);
    assert.deepEqual(ok('10Mb/s@20us'), [25, 20]);
  });

  test('numbers are C integers: a leading 0 is octal', () => {
    assert.deepEqual(ok('012Mb/s'), [62500, 50000]);
    assert.deepEqual(ok('019Mb/s'), [0, 50000], "reads 01, then the 9 is the 'unit'");
    assert.equal(err('08Mb/s'), "rate overflow in `08Mb/s'");
  });

  test('errors', () => {
    assert.equal(err(''), "no rate specified in `'");
    assert.equal(err('@20ms'), "no rate specified in `@20ms'");
    assert.equal(err('10mb/s'), "invalid rate in `10mb/s'");
    assert.equal(err('10 Mb/s'), "invalid rate in `10 Mb/s'");
    assert.equal(err('0Mb/s'), "rate overflow in `0Mb/s'");
    assert.equal(err('4294967296B/s'), "rate overflow in `4294967296B/s'");
    assert.equal(err('10Mb/s@'), "invalid replenishment interval in `'");
    assert.equal(err('10Mb/s@20ms@1'), "invalid replenishment interval in `20ms@1'");
    assert.equal(err('10Mb/s@0'), "replenishment interval overflow in `0'");
    assert.equal(err('10Mb/s@5000s'), "replenishment interval overflow in `5000s'");
    assert.equal(
      err('4294967295GB/s@4294s'),
      "rate overflow in `4294967295GB/s@4294s'",
      'bytes per second times the interval must fit 64 bits',
    );
  });
});
