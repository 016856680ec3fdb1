// vif=[...] to NicDevices: xl's reading of each spec and its messages, libxl's defaults and
// devids, and what a PVH guest on Xenotype cannot have.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfigData } from './cfg.js';
import { type NicsResult, parseConfigNics } from './nics.js';

const fixedRandom = () => new Uint8Array([0xff, 0x12, 0x34]);
const RANDOM_MAC = '00:16:3e:7f:12:34';

function nics(text: string): { result: NicsResult; report: string[] } {
  const report: string[] = [];
  const read = readConfigData('guest.cfg', text, (l) => report.push(l));
  assert.ok(read.ok);
  const result = parseConfigNics(read.config, 'guest.cfg', (l) => report.push(l), fixedRandom);
  return { result, report };
}

const DEFAULTS = {
  mac: RANDOM_MAC,
  bridge: 'xenbr0',
  ip: undefined,
  vifname: undefined,
  gatewaydev: undefined,
  rate: undefined,
  mtu: 1500,
  script: '/etc/xen/scripts/vif-bridge',
  trusted: undefined,
  colo: undefined,
};

test("no vif key: no NICs; vif=[''] (as in Xen's examples): one with libxl's defaults", () => {
  assert.deepEqual(nics('name="g"\n').result, { ok: true, nics: [] });
  assert.deepEqual(nics("vif = [ '' ]\n"), {
    result: { ok: true, nics: [{ ...DEFAULTS, devid: 0 }] },
    report: [],
  });
});

test('every setting a PVH guest can use', () => {
  const { result, report } = nics(
    "vif = [ 'mac=00:16:3E:AA:bb:0c, bridge=br-lan,ip=10.0.0.2,vifname=web0,gatewaydev=eth1,rate=10Mb/s@20ms,mtu=9000,script=vif-route,untrusted,backend=Domain-0,forwarddev=eth9' ]\n",
  );
  assert.deepEqual(report, []);
  assert.deepEqual(result, {
    ok: true,
    nics: [
      {
        devid: 0,
        mac: '00:16:3e:aa:bb:0c',
        bridge: 'br-lan',
        ip: '10.0.0.2',
        vifname: 'web0',
        gatewaydev: 'eth1',
        rate: { bytesPerInterval: 25000, intervalUsecs: 20000 },
        mtu: 9000,
        script: 'vif-route',
        trusted: false,
        colo: { forwarddev: 'eth9' },
      },
    ],
  });
});

test('devids: the given ones kept, the others the lowest free, in order', () => {
  const { result } = nics("vif = [ 'devid=1', '', 'devid=3', '', '' ]\n");
  assert.ok(result.ok);
  assert.deepEqual(
    result.nics.map((n) => n.devid),
    [1, 0, 3, 2, 4],
  );
  assert.deepEqual(nics("vif = [ 'devid=2', 'bridge=b,devid=2' ]\n").result, {
    ok: false,
    error: 'Vif devid=2 is given twice',
  });
});

test("xl's warnings: the setting is skipped and the NIC kept", () => {
  const { result, report } = nics("vif = [ 'netdev=eth0,accel=x', 'colour=red,bridge=br1' ]\n");
  assert.deepEqual(report, [
    'the netdev parameter is deprecated, please use gatewaydev instead',
    'the accel parameter for vifs is currently not supported',
    "unrecognized argument `colour=red'",
  ]);
  assert.ok(result.ok);
  assert.deepEqual(
    result.nics.map((n) => [n.devid, n.bridge, n.gatewaydev]),
    [
      [0, 'xenbr0', 'eth0'],
      [1, 'br1', undefined],
    ],
  );
});

test('a bad rate or number ends the parse, after the warnings before it', () => {
  assert.deepEqual(nics("vif = [ 'netdev=eth0,rate=10mb/s,accel=x' ]\n"), {
    result: {
      ok: false,
      error: "guest.cfg: config parsing error in vif: invalid rate in `10mb/s'",
    },
    report: ['the netdev parameter is deprecated, please use gatewaydev instead'],
  });
  assert.deepEqual(nics("vif = [ '', 'mtu=big' ]\n").result, {
    ok: false,
    error: 'xl: failed to convert "big" to number',
  });
});

test('what a PVH guest on Xenotype cannot have: an emulated card, another backend domain', () => {
  assert.deepEqual(nics("vif = [ 'type=ioemu,model=e1000' ]\n").result, {
    ok: false,
    error:
      "Vif 0: type=ioemu is an emulated card, which only HVM guests have; a pvh guest's vif is type=vif.",
  });
  assert.deepEqual(nics("vif = [ '', 'backend=netdom' ]\n").result, {
    ok: false,
    error:
      'Vif 1: backend=netdom: Xenotype serves network interfaces from Domain-0 only (driver domains are not supported yet).',
  });
  const ok = nics("vif = [ 'type=vif,backend=0', 'backend=Domain-0' ]\n").result;
  assert.ok(ok.ok);
  assert.equal(ok.nics.length, 2);
});

test('vif as a single value, a list item that is not a string, and vif2', () => {
  assert.deepEqual(nics('vif = "bridge=br0"\n'), {
    result: { ok: true, nics: [] },
    report: ["guest.cfg:1: warning: parameter `vif' is a single value but should be a list"],
  });
  // xlu_cfg_get_listitem gives NULL for the nested list, and xl's loop stops there.
  const nested = nics("vif = [ 'bridge=a', [ 'x' ], 'bridge=b' ]\n").result;
  assert.ok(nested.ok);
  assert.deepEqual(
    nested.nics.map((n) => n.bridge),
    ['a'],
  );
  assert.deepEqual(nics("vif2 = [ 'bridge=br0' ]\n").report, [
    'WARNING: vif2: netchannel2 is deprecated and not supported by xl',
  ]);
});
