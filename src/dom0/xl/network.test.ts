// network-attach, network-list, network-detach: xl_nic.c's arguments, table and messages,
// against a FakeToolstack.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeToolstack, testDomainConfig } from '../toolstack/testing.js';
import { xl as runXl } from './testing.js';

/** `xl ARGS…`: its exit status and what it printed. */
async function xl(ts: FakeToolstack, args: readonly string[]) {
  const { code, stdout, stderr } = await runXl(ts, args);
  return { code, stdout, stderr };
}

async function guest(): Promise<FakeToolstack> {
  const ts = new FakeToolstack();
  await ts.createDomain(testDomainConfig({ name: 'g' }));
  return ts;
}

const HEADER =
  'Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path                       \n';

test('network-attach takes settings one per argument; network-list shows them; network-detach by devid or MAC', async () => {
  const ts = await guest();
  assert.deepEqual(await xl(ts, ['network-attach', 'g']), { code: 0, stdout: '', stderr: '' });
  assert.match(
    ts.calls.at(-1)!,
    /^network-attach 1 0 00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2} xenbr0$/,
  );
  const second = await xl(ts, [
    'network-attach',
    '1',
    'mac=00:16:3E:00:00:0A',
    'bridge=br1',
    'rate=1Mb/s',
    'mtu=9000',
  ]);
  assert.equal(second.code, 0);
  assert.equal(ts.calls.at(-1), 'network-attach 1 1 00:16:3e:00:00:0a br1');
  assert.equal((await xl(ts, ['network-attach', 'g', 'devid=7', 'mac=00:16:3e:00:00:07'])).code, 0);

  const list = await xl(ts, ['network-list', 'g']);
  const mac0 = ts.nics.get(1)![0]!.mac;
  assert.equal(
    list.stdout,
    HEADER +
      `0   0  ${mac0}     0     4     20   768/769         /local/domain/0/backend/vif/1/0\n` +
      '1   0  00:16:3e:00:00:0a     1     4     21   770/771         /local/domain/0/backend/vif/1/1\n' +
      '7   0  00:16:3e:00:00:07     7     4     27   782/783         /local/domain/0/backend/vif/1/7\n',
  );
  assert.equal(list.code, 0);

  assert.equal((await xl(ts, ['network-detach', 'g', '1'])).code, 0);
  assert.equal((await xl(ts, ['network-detach', 'g', '00:16:3E:00:00:07'])).code, 0);
  assert.deepEqual(ts.calls.slice(-2), ['network-detach 1 1', 'network-detach 1 7']);
  // atoi: what is not a number is devid 0.
  assert.equal((await xl(ts, ['network-detach', 'g', 'eth0'])).code, 0);
  assert.equal(ts.calls.at(-1), 'network-detach 1 0');
  assert.equal((await xl(ts, ['network-list', 'g'])).stdout, HEADER);
});

test('the next devid follows the newest NIC; a devid in use fails in libxl', async () => {
  const ts = await guest();
  await xl(ts, ['network-attach', 'g', 'devid=4']);
  await xl(ts, ['network-attach', 'g']);
  assert.deepEqual(
    ts.nics.get(1)!.map((n) => n.devid),
    [4, 5],
  );
  assert.deepEqual(await xl(ts, ['network-attach', 'g', 'devid=4']), {
    code: 1,
    stdout: '',
    stderr:
      'libxl: error: Domain 1:device already exists in xenstore\nlibxl_device_nic_add failed.\n',
  });
});

test("xl's messages for bad settings: warnings go on, refusals end the command", async () => {
  const ts = await guest();
  assert.deepEqual(await xl(ts, ['network-attach', 'g', 'netdev=eth1', 'accel=on']), {
    code: 0,
    stdout: '',
    stderr:
      'the netdev parameter is deprecated, please use gatewaydev instead\nthe accel parameter for vifs is currently not supported\n',
  });
  const cases: [string[], string][] = [
    [
      ['netdev=eth1', 'colour=red', 'bridge=x'],
      "the netdev parameter is deprecated, please use gatewaydev instead\nunrecognized argument `colour=red'\n",
    ],
    [['type=tap'], "Invalid parameter `type'.\n"],
    [['mac=00:16:3e'], "Invalid parameter `mac'.\n"],
    [['rate=fast'], "command line: config parsing error in vif: invalid rate in `fast'\n"],
    [['mtu=big'], 'xl: failed to convert "big" to number\n'],
    [
      ['type=ioemu'],
      'libxl: error: Domain 1:trying to create PV or PVH guest with an emulated interface\nlibxl_device_nic_add failed.\n',
    ],
    [
      ['backend=netdom'],
      'libxl: error: Domain 1:backend=netdom: Xenotype serves network interfaces from Domain-0 only (driver domains are not supported yet).\nlibxl_device_nic_add failed.\n',
    ],
  ];
  for (const [settings, stderr] of cases) {
    const r = await xl(ts, ['network-attach', 'g', ...settings]);
    assert.deepEqual([r.code, r.stderr], [1, stderr], settings.join(' '));
  }
  assert.equal(ts.nics.get(1)!.length, 1);
});

test('unknown domains and devices, a dry run, and too few arguments', async () => {
  const ts = await guest();
  assert.deepEqual(await xl(ts, ['network-attach', 'nope']), {
    code: 1,
    stdout: '',
    stderr: 'nope is an invalid domain identifier (rc=-6)\n',
  });
  const dry = await xl(ts, ['-N', 'network-attach', 'g', 'type=ioemu']);
  assert.deepEqual([dry.code, ts.nics.get(1)], [0, []]);
  assert.deepEqual(await xl(ts, ['network-detach', 'g', '3']), {
    code: 1,
    stdout: '',
    stderr: 'Unknown device 3.\n',
  });
  assert.deepEqual(
    (await xl(ts, ['network-detach', 'g', '00:16:3e:0:0:1'])).stderr,
    'Unknown device 00:16:3e:0:0:1.\n',
  );
  const list = await xl(ts, ['network-list', 'g', 'nope']);
  assert.deepEqual(list, {
    code: 1,
    stdout: HEADER,
    stderr: 'nope is an invalid domain identifier (rc=-6)\n',
  });
  const short = await xl(ts, ['network-detach', 'g']);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /^'xl network-detach' requires at least 2 arguments\.\n\n/);
  assert.match(short.stdout, /^Usage: xl \[-vtTf\] network-detach <Domain> <DevId\|mac>\n/);
});

test("a guest's vif=[...] NICs are listed after create", async () => {
  const ts = new FakeToolstack();
  const nic = { mac: '00:16:3e:01:02:03', bridge: 'xenbr0', mtu: 1500, script: 'vif-bridge' };
  await ts.createDomain(
    testDomainConfig({
      name: 'web',
      nics: [
        { ...nic, devid: 0 },
        { ...nic, devid: 2, mac: '00:16:3e:01:02:04' },
      ],
    }),
  );
  const list = await xl(ts, ['network-list', 'web', '1']);
  assert.deepEqual(
    list.stdout.split('\n').map((l) => l.slice(0, 24)),
    [
      HEADER.slice(0, 24),
      '0   0  00:16:3e:01:02:03',
      '2   0  00:16:3e:01:02:04',
      '0   0  00:16:3e:01:02:03',
      '2   0  00:16:3e:01:02:04',
      '',
    ],
  );
});
