// The milestone, as a user runs it: `xl create -c examples/debian-pvh.cfg` (512 MiB, two
// vCPUs), run on a terminal, boots Debian's cloud kernel as a PVH domU to a busybox shell on
// hvc0 that takes what we type. While it runs, `xl list` shows it and Debian's xenstore-utils read and
// write our store; `poweroff` inside ends the domain and `xl create -c` returns.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConsoleSession, startXlHost, type XlHost } from './xl-harness.js';

let host: XlHost;
before(async () => {
  host = await startXlHost();
});
after(async () => {
  await host.close();
});

test('xl create -c boots Debian to a shell; poweroff ends it', async (t) => {
  const created = Date.now() / 1000;
  const session = new ConsoleSession(host, ['create', '-c', 'examples/debian-pvh.cfg']);
  // Until this line Linux keeps time by counting timer ticks (jiffies), and an emulated early
  // boot, many times slower than a real one, takes fewer ticks than real time passes.
  await session.waitFor((text) => text.includes('clocksource: Switched to clocksource xen'));
  const jiffiesPhase = Date.now() / 1000 - created;
  await session.reachShell();
  const boot = session.output;
  assert.match(boot, /Parsing config from examples\/debian-pvh\.cfg/);
  assert.match(boot, /Linux version 6\.1\.\d+/, 'the first kernel message is on the console');
  assert.match(boot, /smp: Brought up 1 node, 2 CPUs/);
  // Xen's topology: the vCPUs are cores of one package, so the second one takes the first's
  // delay-loop calibration instead of timing its own against the ticks.
  assert.match(boot, /smpboot: Max logical packages: 1/);
  assert.doesNotMatch(boot, /calibrate_delay_direct\(\) failed/);
  assert.match(boot, /Run \/init as init process/);
  assert.doesNotMatch(boot, /Kernel panic|BUG:|Oops/);

  const list = await host.xl('list');
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^Name\s+ID\s+Mem VCPUs\s+State\s+Time\(s\)$/m);
  assert.match(list.stdout, /^Domain-0\s+0\s/m);
  assert.match(list.stdout, /^debian\s+1\s+512\s+2\s+[-rbpsc]{6}\s+\d+\.\d$/m);

  // The guest's own view: both vCPUs online, the host's time, xenbus and the hypervisor.
  assert.equal((await session.command('grep -c ^processor /proc/cpuinfo')).trim(), '2');
  assert.equal((await session.command('cat /sys/devices/system/cpu/online')).trim(), '0-1');
  // The guest's wall clock starts from Xen's wallclock and then follows the Xen clocksource:
  // never ahead of the host, and behind by no more than the ticks it could have missed.
  // `date` shows whole seconds; busybox's adjtimex shows the clock to the microsecond, and the
  // host's time is taken halfway through the console's round trip.
  const asked = Date.now() / 1000;
  const clock = await session.command('adjtimex');
  const answered = Date.now() / 1000;
  const seconds = /time\.tv_sec:\s+(\d+)/.exec(clock)?.[1];
  const micros = /time\.tv_usec:\s+(\d+)/.exec(clock)?.[1];
  assert.ok(seconds !== undefined && micros !== undefined, clock);
  const guestNow = Number(seconds) + Number(micros) / 1e6;
  const behind = (asked + answered) / 2 - guestNow;
  // `date` reads the same clock a moment later.
  const date = Number(await session.command('date +%s'));
  const dated = Date.now() / 1000;
  assert.ok(date >= Math.floor(guestNow) && date <= guestNow + (dated - asked), `date ${date}`);
  t.diagnostic(
    `guest clock ${behind.toFixed(2)} s behind (±${((answered - asked) / 2).toFixed(2)} s); ` +
      `${jiffiesPhase.toFixed(1)} s on jiffies`,
  );
  assert.ok(
    behind > -2 && behind < jiffiesPhase + 2,
    `${behind} s behind (${jiffiesPhase} s on jiffies)`,
  );
  assert.equal((await session.command('cat /sys/hypervisor/type')).trim(), 'xen');
  // The CPU speculates nothing and says so (IA32_ARCH_CAPABILITIES): no page-table isolation,
  // and the Spectre v2 and BHI mitigations that set SPEC_CTRL once, not retpolines and loops.
  const vulnerabilities = '/sys/devices/system/cpu/vulnerabilities';
  assert.equal((await session.command(`cat ${vulnerabilities}/meltdown`)).trim(), 'Not affected');
  assert.match(
    await session.command(`cat ${vulnerabilities}/spectre_v2`),
    /^Mitigation: Enhanced .*IBRS.*BHI: BHI_DIS_S/,
  );
  assert.match(await session.command('ls /sys/bus/xen/drivers'), /console/);

  // Debian's xenstore-utils on our store: the libxl layout, and what the guest's xenbus wrote.
  assert.equal((await host.xenstore('xenstore-read', '/local/domain/1/name')).trim(), 'debian');
  assert.equal(
    (await host.xenstore('xenstore-read', '/local/domain/1/memory/target')).trim(),
    '524288',
  );
  const vm = (await host.xenstore('xenstore-read', '/local/domain/1/vm')).trim();
  assert.match(vm, /^\/vm\/[0-9a-f-]{36}$/);
  assert.equal((await host.xenstore('xenstore-read', `${vm}/name`)).trim(), 'debian');
  assert.equal(
    (await host.xenstore('xenstore-read', '/local/domain/1/control/feature-poweroff')).trim(),
    '1',
  );
  const backend = await host.xenstore('xenstore-ls', '/local/domain/0/backend/console/1');
  assert.match(backend, /frontend = "\/local\/domain\/1\/console"/);
  await host.xenstore('xenstore-write', '/local/domain/1/data/greeting', 'hello');
  assert.equal(
    (await host.xenstore('xenstore-read', '/local/domain/1/data/greeting')).trim(),
    'hello',
  );

  // Keyboard input reaches the shell; `poweroff` ends the domain and xl create -c returns.
  assert.equal((await session.command('echo $((6 * 7))')).trim(), '42');
  session.child.stdin.write('poweroff\n');
  assert.equal(await session.exited, 0);
  assert.match(session.output, /reboot: System halted|reboot: Power down/);
  const afterList = await host.xl('list');
  assert.doesNotMatch(afterList.stdout, /^debian\s/m);
  assert.notEqual((await host.xl('domid', 'debian')).code, 0);
});
