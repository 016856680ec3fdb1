// HYPERVISOR_sched_op from inside guests: SCHEDOP_poll with its timeout and wake-ups, the
// domain watchdogs, shutdown codes, remote shutdown and the smaller commands.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  SHUTDOWN_crash,
  SHUTDOWN_poweroff,
  SHUTDOWN_reboot,
  SHUTDOWN_watchdog,
} from '../../abi/sched.js';
import { DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_DATA, writeGuest } from '../testing/guest.js';
import { results, startGuest, u64Bytes } from '../testing/vcpu-guest.js';

const EPERM = -1;
const ESRCH = -3;
const EFAULT = -14;
const EINVAL = -22;
const ENOSPC = -28;
const ENOSYS = -38;

describe('sched_op', () => {
  test('SCHEDOP_poll: checks, timeouts, a wake-up by the event, a port already pending', () => {
    const { hv, domain } = startGuest(`
      # poll(\\ports, \\nr) with the timeout in r9
      .macro POLL ports, nr
        movq $\\ports, DATA + 0x100
        movl $\\nr, DATA + 0x108
        mov %r9, DATA + 0x110
        mov $3, %edi
        mov $(DATA + 0x100), %esi
        HCALL 29
      .endm
      mov DATA + 0xf00, %eax
      mov %eax, DATA + 0x180
      mov %eax, DATA + 0x1a0
      movl $9999, DATA + 0x190
      movl $9999, DATA + 0x1a4
      xor %r9, %r9
      POLL DATA + 0x180, 129
      SAVE 0
      POLL DATA + 0x190, 1
      SAVE 1
      POLL DATA + 0x1a0, 2
      SAVE 2
      # a timeout 2 ms ahead
      GET_TIME
      mov %rax, %r12
      lea 2000000(%rax), %r9
      POLL DATA + 0x180, 1
      SAVE 3
      GET_TIME
      sub %r12, %rax
      SAVE 4
      # no ports: just the timeout
      GET_TIME
      mov %rax, %r12
      lea 1000000(%rax), %r9
      POLL 0, 0
      SAVE 5
      GET_TIME
      sub %r12, %rax
      SAVE 6
      # the port's event (VIRQ_TIMER in 1 ms) ends a poll with a 1 s timeout
      GET_TIME
      mov %rax, %r12
      add $1000000, %rax
      mov %rax, DATA + 0x120
      movl $0, DATA + 0x128
      mov $8, %edi
      xor %esi, %esi
      mov $(DATA + 0x120), %edx
      HCALL 24
      lea 1000000000(%r12), %r9
      POLL DATA + 0x180, 1
      SAVE 7
      GET_TIME
      sub %r12, %rax
      SAVE 8
      # now pending: a poll without a timeout returns at once
      xor %r9, %r9
      GET_TIME
      mov %rax, %r12
      POLL DATA + 0x180, 1
      SAVE 9
      GET_TIME
      sub %r12, %rax
      SAVE 10
      movabs $0x00007fff00000000, %rax
      mov %rax, DATA + 0x100
      movl $1, DATA + 0x108
      mov $3, %edi
      mov $(DATA + 0x100), %esi
      HCALL 29
      SAVE 11
      POWEROFF
    `);
    const bind = { virq: 0, vcpu: 0, port: 0 };
    assert.equal(domain.evtchn.bindVirq(bind), 0);
    writeGuest(hv, domain, GUEST_DATA + 0xf00, u64Bytes(bind.port));
    hv.unpause(domain);
    hv.run(5_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    const r = results(hv, domain, 12);
    assert.equal(r[0], EINVAL, 'more than 128 ports');
    assert.equal(r[1], EINVAL, 'an invalid port');
    assert.equal(r[2], EINVAL, 'an invalid port after a valid one');
    assert.equal(r[3], 0);
    assert.ok(r[4]! >= 2_000_000 && r[4]! < 2_100_000, `timed out after ${r[4]} ns`);
    assert.equal(r[5], 0);
    assert.ok(r[6]! >= 1_000_000 && r[6]! < 1_100_000, `timed out after ${r[6]} ns`);
    assert.equal(r[7], 0);
    assert.ok(r[8]! >= 1_000_000 && r[8]! < 1_100_000, `woken by the event after ${r[8]} ns`);
    assert.equal(r[9], 0);
    assert.ok(r[10]! < 10_000, `a pending port returns at once (${r[10]} ns)`);
    assert.equal(r[11], EFAULT);
    const vcpu = domain.vcpus[0]!;
    assert.equal(vcpu.pollPorts, undefined);
    assert.equal(domain.timers.queue.deadline(0, 'poll'), undefined, 'the 1 s timeout went');
  });

  test('SCHEDOP_watchdog: allocation, re-arming, and a shutdown when it fires', () => {
    const { hv, domain } = startGuest(`
      .macro WD id, timeout
        movl $\\id, DATA + 0x100
        movl $\\timeout, DATA + 0x104
        mov $6, %edi
        mov $(DATA + 0x100), %esi
        HCALL 29
      .endm
      WD 0, 1
      SAVE 0
      WD 0, 1
      SAVE 1
      WD 0, 1
      SAVE 2
      WD 3, 1
      SAVE 3
      WD 2, 0
      SAVE 4
      WD 2, 5
      SAVE 5
      WD 1, 2
      SAVE 6
      WD 0, 3
      SAVE 7
      WD 2, 0
      SAVE 8
      # block with nothing to wake it: only the watchdog ends this
      BLOCK
      ud2
    `);
    hv.unpause(domain);
    hv.run(1_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    assert.equal(domain.shutdownReason, SHUTDOWN_watchdog);
    assert.deepEqual(results(hv, domain, 9), [1, 2, ENOSPC, EINVAL, 0, EINVAL, 0, 2, 0]);
    const now = hv.time.now();
    assert.ok(now >= 2e9 && now < 2.001e9, `fired at ${now} ns`);
    assert.match(hv.console.contents(), /Watchdog timer fired for domain 1\n/);
    assert.match(hv.console.contents(), /Domain 1 shutdown: watchdog/);
    assert.equal(domain.watchdogs.size, 1, 'a fired watchdog stays allocated');
    hv.destroyDomain(domain);
    assert.equal(domain.watchdogs.size, 0);
  });

  test('shutdown codes, remote shutdown and the other commands', () => {
    const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
    const { domain: dom0 } = startGuest(
      `
      # remote_shutdown(domain 2, SHUTDOWN_crash)
      movl $2, DATA + 0x100
      movl $3, DATA + 0x104
      mov $4, %edi
      mov $(DATA + 0x100), %esi
      HCALL 29
      SAVE 0
      # pin_override: pCPU 0 exists, pCPU 5 does not
      movl $0, DATA + 0x120
      mov $7, %edi
      mov $(DATA + 0x120), %esi
      HCALL 29
      SAVE 1
      movl $5, DATA + 0x120
      mov $7, %edi
      mov $(DATA + 0x120), %esi
      HCALL 29
      SAVE 2
      POWEROFF
      `,
      { hv, privileged: true },
    );
    const { domain: domU } = startGuest(
      `
      movl $0x1234, DATA + 0x100
      movl $0, DATA + 0x104
      mov $4, %edi
      mov $(DATA + 0x100), %esi
      HCALL 29
      SAVE 0
      movl $2, DATA + 0x100
      mov $4, %edi
      mov $(DATA + 0x100), %esi
      HCALL 29
      SAVE 1
      mov $7, %edi
      mov $(DATA + 0x120), %esi
      HCALL 29
      SAVE 2
      xor %edi, %edi
      HCALL 29
      SAVE 3
      mov $99, %edi
      HCALL 29
      SAVE 4
      # shutdown_code: the first code stays; a later shutdown reports it
      movl $1, DATA + 0x140
      mov $5, %edi
      mov $(DATA + 0x140), %esi
      HCALL 29
      SAVE 5
      movl $3, DATA + 0x140
      mov $5, %edi
      mov $(DATA + 0x140), %esi
      HCALL 29
      SAVE 6
      POWEROFF
      `,
      { hv },
    );
    const { domain: victim } = startGuest('1: jmp 1b', { hv });
    assert.deepEqual([dom0.id, domU.id, victim.id], [0, 1, 2]);
    for (const d of [domU, victim, dom0]) hv.unpause(d);
    hv.run(3_000_000);
    assert.deepEqual(results(hv, domU, 7), [ESRCH, EPERM, EPERM, 0, ENOSYS, 0, 0]);
    assert.equal(domU.shutdownReason, SHUTDOWN_reboot, 'the recorded code wins');
    assert.deepEqual(results(hv, dom0, 3), [0, 0, EINVAL]);
    assert.equal(victim.state, DomainState.Shutdown);
    assert.equal(victim.shutdownReason, SHUTDOWN_crash);
    assert.equal(dom0.shutdownReason, SHUTDOWN_poweroff);
  });
});
