// xl top (xentop): the batch table, CPU% between samples, iterations, the interactive screen.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeToolstack, testDomainConfig } from '../toolstack/testing.js';
import { startXl, until, xl } from './testing.js';

const HEADER =
  '      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) MAXMEM(%) VCPUS NETS NETTX(k) NETRX(k) VBDS   VBD_OO   VBD_RD   VBD_WR  VBD_RSECT  VBD_WSECT SSID\n';
const DOM0 = (cpuSec: number, pct: string): string =>
  `  Domain-0 -----r ${String(cpuSec).padStart(10)} ${pct.padStart(6)}     524288   50.0   no limit       n/a     2    0        0        0    0        0        0        0          0          0    0\n`;

test('-b -i 1: one table, no summary', async () => {
  const r = await xl(new FakeToolstack(), ['top', '-b', '-i', '1']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, HEADER + DOM0(12, '0.0'));
});

test('-i 2 -d 1: the second sample has CPU% from the time used in between', async () => {
  const ts = new FakeToolstack();
  const list = ts.listDomains.bind(ts);
  let calls = 0;
  ts.listDomains = async () => {
    // Domain-0 uses half a CPU: 0.5 s of CPU per second of wall time.
    ts.update(0, { cpu_time: 12_000_000_000 + 500_000_000 * calls++ });
    return list();
  };
  const r = await xl(ts, ['top', '--batch', '--iterations=2', '-d', '1']);
  assert.equal(r.stdout, HEADER + DOM0(12, '0.0') + HEADER + DOM0(12, '50.0'));
  assert.equal(calls, 2);
});

test('domains sort by name, case aside; -v adds vCPU lines, -r repeats the header', async () => {
  const ts = new FakeToolstack();
  for (const name of ['zeta', 'Alpha']) {
    await ts.createDomain(testDomainConfig({ name, maxMemkb: 131072, maxVcpus: 2 }));
  }
  const r = await xl(ts, ['top', '-b', '-i', '1', '-v', '-r']);
  const lines = r.stdout.split('\n');
  assert.deepEqual(
    lines.filter((l) => !l.startsWith('      NAME')).map((l) => l.slice(0, 17)),
    [
      '     Alpha ----p-',
      'VCPUs(sec):   0: ',
      '  Domain-0 -----r',
      'VCPUs(sec):   0: ',
      '      zeta ----p-',
      'VCPUs(sec):   0: ',
      '',
    ],
  );
  assert.equal(lines.filter((l) => l === HEADER.trimEnd()).length, 3);
  // MEM(%) is 6.25 exactly: printf rounds the tie to even.
  assert.ok(
    lines.includes(
      '     Alpha ----p-          0    0.0      65536    6.2     131072      12.5     2    0        0        0    0        0        0        0          0          0    0',
    ),
  );
});

test('-V and -h', async () => {
  const v = await xl(new FakeToolstack(), ['top', '-V']);
  assert.ok(
    v.stdout.startsWith('xentop 1.0\nWritten by Judy Fischbach, David Hendricks, Josh Triplett\n'),
  );
  const h = await xl(new FakeToolstack(), ['top', '-h']);
  assert.deepEqual(
    [h.code, h.stdout],
    [0, 'Usage: xl [-vtT] top \n\nMonitor a host and the domains in real time.\n\n'],
  );
  assert.equal((await xl(new FakeToolstack(), ['top', '-z'])).code, 2);
});

test('on a terminal: a full screen redrawn until q', async () => {
  const ts = new FakeToolstack();
  const run = startXl(ts, ['top', '-d', '1'], {
    stdinIsTty: true,
    stdoutIsTty: true,
    rows: 12,
    columns: 200,
  });
  await until(() => run.client.stdout.includes('uit\x1b[K'));
  run.client.type('q');
  const r = await run.done;
  assert.equal(r.code, 0);
  assert.deepEqual(run.client.rawMode, [true, false]);
  assert.ok(r.stdout.startsWith('\x1b[?1049h\x1b[?25l\x1b[H'));
  assert.ok(r.stdout.endsWith('\x1b[?25h\x1b[?1049l'));
  assert.match(r.stdout, /xentop - \d\d:\d\d:\d\d {3}Xen 4\.17\.0-xenotype/);
  assert.ok(r.stdout.includes('Xen 4.17.0-xenotype\x1b[K\r\n1 domains'));
  assert.match(
    r.stdout,
    /1 domains: 1 running, 0 blocked, 0 paused, 0 crashed, 0 dying, 0 shutdown/,
  );
  assert.match(r.stdout, /Mem: 1048576k total, 524288k used, 524288k free {4}CPUs: 2 @ 2494MHz/);
  // The header in reverse video, the sort column (NAME) in bold as well.
  assert.ok(r.stdout.includes('\x1b[0;7;1m      NAME\x1b[0;7m  STATE'));
  assert.ok(r.stdout.includes('\x1b[0;7mD\x1b[0melay  \x1b[0;7mN\x1b[0metworks'));
});

test('on a terminal, -i ends it as well; Ctrl-L redraws', async () => {
  const run = startXl(new FakeToolstack(), ['top', '-i', '2'], {
    stdinIsTty: true,
    stdoutIsTty: true,
  });
  await until(() => run.client.stdout.includes('uit\x1b[K'));
  run.client.type('\x0c');
  const r = await run.done;
  assert.equal(r.stdout.split('xentop - ').length - 1, 2);
});
