// Where slices end: at a timer the guest armed during the slice, and at an event for a vCPU
// that is not running. Both bound how late a guest takes its tick, which is what its clock
// loses in Linux's early boot (the periodic tick there is rearmed from the handler).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Domain, Vcpu } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { results, startGuest } from '../testing/vcpu-guest.js';
import type { SchedulerOps } from './ops.js';
import { RoundRobinScheduler } from './round-robin.js';

// Arms a singleshot timer `delayNs` ahead, spins with interrupts on until its handler runs, and
// records the deadline (slot 0) and when the handler saw the time (slot 1).
const spinUntilTick = (delayNs: number): string => `
      GATE 0xf3, handler
      LOAD_IDT
      CALLBACK_VECTOR 0xf3
      GET_TIME
      add $${delayNs}, %rax
      mov %rax, DATA + 0x120
      SAVE 0
      movl $0, DATA + 0x128
      # VCPUOP_set_singleshot_timer(vcpu 0, now + delay), then spin with interrupts on
      mov $8, %edi
      xor %esi, %esi
      mov $(DATA + 0x120), %edx
      HCALL 24
      sti
    spin:
      cmpq $0, DATA + 0x800
      je spin
      POWEROFF
    handler:
      GET_TIME
      SAVE 1
      movq $1, DATA + 0x800
      andq $~0x200, 16(%rsp)
      iretq
    `;

/** Runs a `spinUntilTick` guest for `instructions`: how late (ns) it took its tick. */
function lateTick(hv: Hypervisor, domain: Domain, instructions: number): number {
  assert.equal(domain.evtchn.bindVirq({ virq: 0, vcpu: 0, port: 0 }), 0);
  hv.unpause(domain);
  hv.run(instructions);
  const [deadline, taken] = results(hv, domain, 2);
  assert.notEqual(taken, 0, 'the tick was taken within the run');
  return taken! - deadline!;
}

/**
 * On the host clock, with a speed estimate a thousand times too high: slices sized from it
 * run far past any timer unless the clock is looked at as they run.
 */
function overestimating(scheduler: SchedulerOps): Hypervisor {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, scheduler });
  (hv as unknown as { instructionsPerNs: number }).instructionsPerNs = 1000;
  return hv;
}

describe('slices', () => {
  test('a timer armed in the middle of a slice is taken at its deadline', () => {
    const { hv, domain } = startGuest(spinUntilTick(50_000));
    // One call, one slice of up to a million instructions (a million virtual nanoseconds).
    const late = lateTick(hv, domain, 1_000_000);
    assert.ok(late >= 0 && late < 5_000, `the tick came ${late} ns after its deadline`);
  });

  test('on the host clock, a slice that overruns its estimate still ends when a timer falls due', () => {
    // Slices of up to 100 million instructions: the first would run them all, far past the
    // 20 ms timer, if the clock were not looked at as it runs.
    const hv = overestimating(new RoundRobinScheduler(100_000_000));
    const { domain } = startGuest(spinUntilTick(20_000_000), { hv });
    const late = lateTick(hv, domain, 100_000_000);
    assert.ok(late >= 0 && late < 100e6, `the tick came ${late / 1e6} ms after its deadline`);
  });

  test('on the host clock, a slice ends soon while another vCPU waits to run', () => {
    // One slice could run the whole call; a waiting vCPU cuts each to WAITED_SLICE_NS.
    class Waiting extends RoundRobinScheduler {
      picks = 0;
      override pick(pcpu: number): Vcpu | undefined {
        this.picks++;
        return super.pick(pcpu);
      }
      override othersWaiting(): boolean {
        return true;
      }
    }
    const scheduler = new Waiting(100_000_000);
    const hv = overestimating(scheduler);
    const { domain } = startGuest('spin: jmp spin', { hv });
    hv.unpause(domain);
    const started = performance.now();
    assert.ok(hv.run(5_000_000) >= 5_000_000);
    const slices = scheduler.picks;
    const ms = performance.now() - started;
    // Slices of 0.25 ms, give or take the clock checks between them.
    assert.ok(slices >= ms / 2, `${slices} slices in ${ms.toFixed(1)} ms`);
  });

  test('a woken or yielding vCPU waits to run', () => {
    const vcpu = (id: number, runnable = true) =>
      ({ id, runnable, cpu: { interruptible: true, requestStop() {} } }) as unknown as Vcpu;
    const [a, b, c] = [vcpu(0), vcpu(1), vcpu(2, false)];
    const scheduler = new RoundRobinScheduler();
    for (const each of [a, b, c]) scheduler.insert(each!);
    assert.equal(scheduler.pick(0), a);
    assert.equal(scheduler.othersWaiting(a!), false);
    scheduler.wake(b!);
    assert.equal(scheduler.othersWaiting(a!), true, 'woken');
    assert.equal(scheduler.othersWaiting(b!), false, 'not by itself');
    assert.equal(scheduler.pick(0), b);
    assert.equal(scheduler.othersWaiting(b!), false);
    scheduler.yield(b!);
    assert.equal(scheduler.pick(0), a);
    assert.equal(scheduler.othersWaiting(a!), true, 'b spins on something a may hold');
    assert.equal(scheduler.pick(0), b);
    assert.equal(scheduler.othersWaiting(b!), false, 'until b runs again');
    scheduler.wake(c!);
    assert.equal(scheduler.othersWaiting(a!), false, 'a vCPU that cannot run waits for nothing');
    scheduler.yield(b!);
    scheduler.remove(b!);
    assert.equal(scheduler.othersWaiting(a!), false, 'nor does a removed one');
  });

  test('a vCPU of the same guest stopped with interrupts off waits to run', () => {
    // Midway through an interrupt handler (vCPU 0's timer tick, whose time Linux's early
    // clock loses) or holding a lock: the vCPU that runs meanwhile gets a short slice.
    const guest = {};
    const vcpu = (id: number, interruptible: boolean, domain = guest) =>
      ({ id, domain, runnable: true, cpu: { interruptible } }) as unknown as Vcpu;
    const running = vcpu(1, true);
    for (const [other, waits] of [
      [vcpu(0, false), true],
      [vcpu(0, true), false],
      [vcpu(0, false, {}), false],
    ] as const) {
      const scheduler = new RoundRobinScheduler();
      scheduler.insert(other);
      scheduler.insert(running);
      assert.equal(scheduler.othersWaiting(running), waits);
      assert.equal(scheduler.othersWaiting(other), false, 'not the one with interrupts off');
    }
  });

  test('a woken vCPU runs next, before the rotation goes on', () => {
    const vcpu = (id: number, runnable = true) => ({ id, runnable, cpu: {} }) as unknown as Vcpu;
    const [a, b, c] = [vcpu(0), vcpu(1), vcpu(2)];
    const scheduler = new RoundRobinScheduler();
    for (const each of [a, b, c]) scheduler.insert(each!);
    assert.equal(scheduler.pick(0), a);
    scheduler.wake(c!);
    scheduler.wake(c!); // twice is once
    assert.equal(scheduler.pick(0), c);
    assert.equal(scheduler.pick(0), b, 'then the rotation where it was');
    assert.equal(scheduler.pick(0), c);
    scheduler.wake(b!);
    scheduler.remove(b!);
    assert.equal(scheduler.pick(0), a, 'a removed vCPU is not woken');
  });

  test('a vCPU woken at every turn does not keep the others waiting', () => {
    const vcpu = (id: number) => ({ id, runnable: true, cpu: {} }) as unknown as Vcpu;
    const [a, b] = [vcpu(0), vcpu(1)];
    const scheduler = new RoundRobinScheduler();
    for (const each of [a, b]) scheduler.insert(each!);
    assert.equal(scheduler.pick(0), a);
    // b's timer falls due in a's slice, and again in each of its own.
    const picks: Vcpu[] = [];
    for (let i = 0; i < 4; i++) {
      scheduler.wake(b!);
      picks.push(scheduler.pick(0)!);
    }
    assert.deepEqual(
      picks.map((each) => each.id),
      [1, 0, 1, 0],
      'the woken vCPU and the rotation take turns',
    );
    assert.equal(scheduler.pick(0), b, 'its last wake still counts');
    assert.equal(scheduler.pick(0), a, 'and its turn in the rotation was taken');
  });
});
