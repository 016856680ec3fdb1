// The read-only commands, against a FakeToolstack: xl list, info, domid, domname, dmesg,
// uptime, vcpu-list, vm-list, claims. Column layouts are those of tools/xl/xl_info.c.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeToolstack, testDomainConfig } from '../toolstack/testing.js';
import { ShutdownReason } from '../toolstack/types.js';
import { xl } from './testing.js';

const HEADER = 'Name                                        ID   Mem VCPUs\tState\tTime(s)\n';
const DOM0 = 'Domain-0                                     0   512     2     r-----      12.3\n';

async function withGuest(): Promise<FakeToolstack> {
  const ts = new FakeToolstack();
  await ts.createDomain(
    testDomainConfig({
      name: 'guest',
      targetMemkb: 262144,
      maxMemkb: 262144,
      vcpus: 2,
      maxVcpus: 2,
    }),
  );
  ts.update(1, { paused: false, blocked: true, cpu_time: 2_250_000_000, outstanding_memkb: 1024 });
  return ts;
}

test('xl list: the header and one row per domain, Domain-0 first', async () => {
  const r = await xl(await withGuest(), ['list']);
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    `${HEADER}${DOM0}guest                                        1   257     2     -b----       2.2\n`,
  );
});

test('xl list: state letters, including the shutdown reason', async () => {
  const ts = await withGuest();
  ts.guestShutdown(1, ShutdownReason.crash);
  ts.update(1, { dying: true, paused: true });
  const r = await xl(ts, ['list', 'guest']);
  assert.equal(
    r.stdout,
    `${HEADER}guest                                        1   257     2     --pscd       2.2\n`,
  );
});

test('xl list -v, -Z, -c and -n add their columns', async () => {
  const ts = await withGuest();
  const v = await xl(ts, ['list', '-v', '1']);
  assert.equal(
    v.stdout,
    'Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID                            Reason-Code\tSecurity Label\n' +
      'guest                                        1   257     2     -b----       2.2 5d5f2b8e-1c1a-4d6e-9a55-0123456789ab        -                -\n',
  );
  const z = await xl(ts, ['list', '-Z', 'guest']);
  assert.match(z.stdout, /Time\(s\) {3}Security Label\n.* 2\.2 {16}-\n$/);
  const c = await xl(ts, ['list', '-c', 'guest']);
  assert.match(c.stdout, /Time\(s\) {9}Cpupool\n.* 2\.2 {10}Pool-0\n$/);
  const n = await xl(ts, ['list', '-n', 'guest']);
  assert.match(n.stdout, /Time\(s\) NODE Affinity\n.* 2\.2 all\n$/);
});

test('xl list: errors', async () => {
  const ts = await withGuest();
  assert.deepEqual(await xl(ts, ['list', 'nosuch']).then((r) => [r.code, r.stderr]), [
    1,
    'nosuch is an invalid domain identifier (rc=-6)\n',
  ]);
  assert.deepEqual(await xl(ts, ['list', '7']).then((r) => [r.code, r.stderr]), [
    1,
    "Error: Domain '7' does not exist.\n",
  ]);
  const two = await xl(ts, ['list', 'a', 'b']);
  assert.equal(two.code, 1);
  assert.match(two.stdout, /^Usage: xl \[-vtT\] list/);
});

test('xl list -l: libxl JSON of each configuration, Domain-0 left out when it has none', async () => {
  const r = await xl(await withGuest(), ['list', '-l']);
  assert.equal(r.code, 0);
  assert.ok(
    r.stdout.startsWith(
      '[\n    {\n        "domid": 1,\n        "config": {\n            "c_info": {\n',
    ),
  );
  assert.ok(
    r.stdout.endsWith('            "on_soft_reset": "soft_reset"\n        }\n    }\n]\n\n'),
  );
  const parsed = JSON.parse(r.stdout) as { domid: number; config: { c_info: { name: string } } }[];
  assert.equal(parsed[0]?.config.c_info.name, 'guest');
});

test('xl info: every field, and one field by name', async () => {
  const r = await xl(new FakeToolstack(), ['info']);
  assert.equal(r.code, 0);
  const lines = r.stdout.split('\n');
  assert.deepEqual(
    lines.map((l) => l.slice(0, 23).trimEnd()),
    [
      'host',
      'release',
      'version',
      'machine',
      'nr_cpus',
      'max_cpu_id',
      'nr_nodes',
      'cores_per_socket',
      'threads_per_core',
      'cpu_mhz',
      'hw_caps',
      'virt_caps',
      'total_memory',
      'free_memory',
      'sharing_freed_memory',
      'sharing_used_memory',
      'outstanding_claims',
      'free_cpus',
      'xen_major',
      'xen_minor',
      'xen_extra',
      'xen_version',
      'xen_caps',
      'xen_scheduler',
      'xen_pagesize',
      'platform_params',
      'xen_changeset',
      'xen_commandline',
      'cc_compiler',
      'cc_compile_by',
      'cc_compile_domain',
      'cc_compile_date',
      'build_id',
      'xend_config_format',
      '',
    ],
  );
  assert.ok(lines.includes('cpu_mhz                : 2494.222'));
  assert.ok(lines.includes('virt_caps              : hvm hap gnttab-v1 gnttab-v2'));
  assert.ok(lines.includes('total_memory           : 1024'));
  assert.ok(lines.includes('platform_params        : virt_start=0xffff800000000000'));
  assert.equal((await xl(new FakeToolstack(), ['info', 'free_memory'])).stdout, '512\n');
  assert.equal((await xl(new FakeToolstack(), ['info', 'xen_m'])).stdout, '4\n17\n');
});

test('xl info -n adds the topology', async () => {
  const r = await xl(new FakeToolstack(), ['info', '-n']);
  assert.ok(
    r.stdout.includes(
      'free_cpus              : 0\n' +
        'cpu_topology           :\n' +
        'cpu:    core    socket     node\n' +
        '  0:       0        0        0\n' +
        '  1:       1        0        0\n' +
        'device topology        :\n' +
        'device           node\n' +
        'No device topology data available\n' +
        'numa_info              :\n' +
        'node:    memsize    memfree    distances\n' +
        '   0:      1024        512      10\n' +
        'xen_major              : 4\n',
    ),
  );
});

test('xl domid and xl domname', async () => {
  const ts = await withGuest();
  assert.deepEqual(await xl(ts, ['domid', 'guest']).then((r) => [r.code, r.stdout]), [0, '1\n']);
  assert.deepEqual(await xl(ts, ['domid', '1']).then((r) => [r.code, r.stderr]), [
    1,
    "Can't get domid of domain name '1', maybe this domain does not exist.\n",
  ]);
  assert.deepEqual(await xl(ts, ['domname', '1']).then((r) => [r.code, r.stdout]), [0, 'guest\n']);
  assert.deepEqual(await xl(ts, ['domname', 'x']).then((r) => [r.code, r.stderr]), [
    1,
    'Invalid domain id.\n\n',
  ]);
  assert.deepEqual(await xl(ts, ['domname', '--', '-1']).then((r) => [r.code, r.stderr]), [
    1,
    "Can't get domain name of domain id '4294967295', maybe this domain does not exist.\n",
  ]);
});

test('xl dmesg and dmesg -c', async () => {
  const ts = new FakeToolstack();
  ts.hypervisorConsole = '(XEN) one\n(XEN) two\n';
  assert.equal((await xl(ts, ['dmesg'])).stdout, '(XEN) one\n(XEN) two\n');
  assert.equal((await xl(ts, ['dmesg', '--clear'])).stdout, '(XEN) one\n(XEN) two\n');
  assert.deepEqual(await xl(ts, ['dmesg']).then((r) => [r.code, r.stdout]), [0, '']);
});

test('xl uptime, long and short', async () => {
  const ts = await withGuest();
  // Domain-0 booted 1:02:03 ago; the guest started 100 s later.
  const clock = (ts.bootTime + 3723) * 1000;
  const r = await xl(ts, ['uptime'], { clock });
  // "%-33s %4s %s"
  assert.equal(
    r.stdout,
    `${'Name'.padEnd(33)}   ID Uptime\n` +
      `${'Domain-0'.padEnd(33)}    0  1:02:03\n` +
      `${'guest'.padEnd(33)}    1  1:00:23\n`,
  );
  const later = await xl(ts, ['uptime', 'guest'], { clock: clock + 2 * 86400 * 1000 });
  assert.equal(later.stdout.split('\n')[1], `${'guest'.padEnd(33)}    1 2 days,  1:00:23`);
  const s = await xl(ts, ['uptime', '-s', '0'], { clock });
  const t = new Date(clock);
  const hms = [t.getHours(), t.getMinutes(), t.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
  assert.equal(s.stdout, ` ${hms} up  1:02, Domain-0 (0)\n`);
});

test('xl vcpu-list', async () => {
  const ts = await withGuest();
  await ts.pause(1);
  ts.update(1, { vcpu_max_id: 2, vcpu_online: 2 });
  const r = await xl(ts, ['vcpu-list', 'guest']);
  assert.equal(
    r.stdout,
    'Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)\n' +
      'guest                                1     0    0   ---       0.8  all / all\n' +
      'guest                                1     1    1   ---       0.8  all / all\n' +
      'guest                                1     2    -   --p       0.8  all / all\n',
  );
});

test('xl vm-list and xl claims', async () => {
  const ts = await withGuest();
  const vm = await xl(ts, ['vm-list']);
  assert.equal(
    vm.stdout,
    'UUID                                  ID    name\n' +
      `00000000-0000-0000-0000-000000000000  0    ${'Domain-0'.padEnd(30)}\n` +
      `5d5f2b8e-1c1a-4d6e-9a55-0123456789ab  1    ${'guest'.padEnd(30)}\n`,
  );
  const claims = await xl(ts, ['claims']);
  assert.equal(claims.stdout.split('\n')[0], `${HEADER.trimEnd()}  Claimed`);
  assert.equal(
    claims.stdout.split('\n')[2],
    'guest                                        1   257     2     -b----       2.2     1',
  );
});
