// The APIC timer with a fake clock: one-shot, periodic reload, TSC-deadline, divide values,
// and changes while it runs. The bus cycle is 10 ns (Xen's 100 MHz).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TimeSource } from '../time/source.js';
import { ApicReg } from './regs.js';
import { FakeDomain } from './testing.js';
import { timerDivisor } from './timer.js';
import { Vlapic } from './vlapic.js';

const TSC_DEADLINE = 0x6e0;

function setup(options = {}) {
  const d = new FakeDomain(1, options);
  const a = d.lapic();
  a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
  return { d, a, deadline: () => d.deadlines[0] };
}

describe('one-shot', () => {
  test('counts down at bus/divisor, fires once, then reads 0', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    a.mmioWrite(ApicReg.TMICT, 4, 1000); // divide by 2 after reset: 20 ns per count
    assert.equal(deadline(), 20_000);
    assert.equal(a.mmioRead(ApicReg.TMICT, 4), 1000);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 1000);
    d.now = 5_000;
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 750);
    d.now = 5_019;
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 750);
    assert.deepEqual(d.advanceTo(19_999), []);
    assert.deepEqual(d.advanceTo(20_000), [0]);
    assert.equal(a.highestPending(), 0x30);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 0);
    assert.equal(a.mmioRead(ApicReg.TMICT, 4), 1000, 'the initial count stays');
    assert.equal(deadline(), undefined);
    assert.deepEqual(d.advanceTo(1e9), []);
  });

  test('a masked timer runs out without an interrupt', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x10030);
    a.mmioWrite(ApicReg.TMICT, 4, 10);
    assert.equal(deadline(), 200);
    assert.deepEqual(d.advanceTo(200), []);
    assert.equal(a.highestPending(), -1);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 0);
  });

  test('writing the initial count restarts it; 0 stops it', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    a.mmioWrite(ApicReg.TMICT, 4, 100);
    d.now = 1_000;
    a.mmioWrite(ApicReg.TMICT, 4, 100);
    assert.equal(deadline(), 3_000);
    a.mmioWrite(ApicReg.TMICT, 4, 0);
    assert.equal(deadline(), undefined);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 0);
  });

  test('an early call re-arms instead of firing', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    a.mmioWrite(ApicReg.TMICT, 4, 100);
    d.deadlines[0] = undefined;
    d.now = 1_999;
    assert.equal(a.fireTimer(), false);
    assert.equal(deadline(), 2_000);
    assert.equal(a.highestPending(), -1);
  });
});

describe('periodic', () => {
  test('reloads every period; the count wraps; late polls do not replay ticks', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x20031);
    a.mmioWrite(ApicReg.TDCR, 4, 0xb); // divide by 1
    a.mmioWrite(ApicReg.TMICT, 4, 100); // 1000 ns period
    assert.equal(deadline(), 1_000);
    assert.deepEqual(d.advanceTo(1_000), [0]);
    assert.equal(deadline(), 2_000);
    a.ackInterrupt(0x31);
    a.eoi();
    d.now = 1_500;
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 50);
    d.now = 2_990;
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 1, 'counting through the unpolled expiry');
    assert.deepEqual(d.advanceTo(4_500), [0], 'one interrupt for the missed ticks');
    assert.equal(deadline(), 5_000);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 50);
    for (let t = 5_000; t <= 10_000; t += 1_000) assert.deepEqual(d.advanceTo(t), [0]);
    assert.equal(deadline(), 11_000);
  });

  test('one-shot ↔ periodic while running keeps the count going', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x31);
    a.mmioWrite(ApicReg.TDCR, 4, 0xb);
    a.mmioWrite(ApicReg.TMICT, 4, 100);
    d.now = 400;
    a.mmioWrite(ApicReg.LVTT, 4, 0x20031);
    assert.equal(deadline(), 1_000);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 60);
    d.advanceTo(1_000);
    assert.equal(deadline(), 2_000);
    d.now = 2_300;
    a.mmioWrite(ApicReg.LVTT, 4, 0x31);
    assert.equal(deadline(), 3_000, 'the rest of the current period, then stop');
    d.advanceTo(3_000);
    assert.equal(deadline(), undefined);
    // An expired one-shot switched to periodic does not come back.
    a.mmioWrite(ApicReg.LVTT, 4, 0x20031);
    assert.equal(deadline(), undefined);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 0);
  });

  test('masking and unmasking do not disturb a running timer', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x20031);
    a.mmioWrite(ApicReg.TMICT, 4, 50); // 1000 ns at divide 2
    d.now = 300;
    a.mmioWrite(ApicReg.LVTT, 4, 0x30031);
    assert.equal(deadline(), 1_000);
    assert.deepEqual(d.advanceTo(1_000), []);
    a.mmioWrite(ApicReg.LVTT, 4, 0x20031);
    assert.deepEqual(d.advanceTo(2_000), [0]);
  });
});

describe('divide configuration', () => {
  test('every divide value', () => {
    const table: [number, number][] = [
      [0x0, 2],
      [0x1, 4],
      [0x2, 8],
      [0x3, 16],
      [0x8, 32],
      [0x9, 64],
      [0xa, 128],
      [0xb, 1],
      [0x4, 2], // bit 2 is reserved
      [0xf, 1],
    ];
    for (const [config, divisor] of table) {
      assert.equal(timerDivisor(config & 0xb), divisor);
      const { a, deadline } = setup();
      a.mmioWrite(ApicReg.LVTT, 4, 0x30);
      a.mmioWrite(ApicReg.TDCR, 4, config);
      assert.equal(a.mmioRead(ApicReg.TDCR, 4), config & 0xb);
      a.mmioWrite(ApicReg.TMICT, 4, 7);
      assert.equal(deadline(), 7 * 10 * divisor, `TDCR ${config}`);
    }
  });

  test('a new divisor mid-count keeps the count and runs the rest at the new rate', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    a.mmioWrite(ApicReg.TMICT, 4, 1000); // 20 ns per count
    d.now = 5_000;
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 750);
    a.mmioWrite(ApicReg.TDCR, 4, 0xb); // 10 ns per count
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 750);
    assert.equal(deadline(), 12_500);
    d.now = 8_000;
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 450);
    assert.deepEqual(d.advanceTo(12_500), [0]);
  });

  test('the bus cycle is configurable', () => {
    let deadline: number | undefined;
    const a: Vlapic = new Vlapic({
      vcpuId: 0,
      now: () => 0,
      setTimer: (t) => {
        deadline = t;
      },
      deliverIpi: () => {},
      peers: () => [a],
      busCycleNs: 1,
    });
    a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    a.mmioWrite(ApicReg.TMICT, 4, 500);
    assert.equal(deadline, 1_000);
  });
});

describe('TSC-deadline mode', () => {
  test('arms at the deadline, fires once, and clears the MSR', () => {
    const { d, a, deadline } = setup();
    d.now = 1_000;
    a.mmioWrite(ApicReg.LVTT, 4, 0x40032);
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [0, 0]);
    const target = d.tsc() + 5_000; // 2 ticks per ns: 2500 ns ahead
    assert.equal(a.msrWrite(TSC_DEADLINE, target, 0), true);
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [target, 0]);
    assert.equal(deadline(), 3_500);
    assert.deepEqual(d.advanceTo(3_499), []);
    assert.deepEqual(d.advanceTo(3_500), [0]);
    assert.equal(a.highestPending(), 0x32);
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [0, 0]);
    assert.equal(deadline(), undefined);
  });

  test('a deadline already passed fires at once; 0 disarms', () => {
    const { d, a, deadline } = setup();
    d.now = 10_000;
    a.mmioWrite(ApicReg.LVTT, 4, 0x40032);
    a.msrWrite(TSC_DEADLINE, 5, 0);
    assert.equal(deadline(), 10_000);
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [0, 0]);
    assert.deepEqual(d.advanceTo(10_000), [0]);
    a.msrWrite(TSC_DEADLINE, d.tsc() + 100, 0);
    assert.notEqual(deadline(), undefined);
    a.msrWrite(TSC_DEADLINE, 0, 0);
    assert.equal(deadline(), undefined);
  });

  test('the initial count is ignored and reads 0; leaving the mode disarms', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    a.mmioWrite(ApicReg.TMICT, 4, 1000);
    a.mmioWrite(ApicReg.LVTT, 4, 0x40030);
    assert.equal(deadline(), undefined, 'entering TSC-deadline mode stops the count');
    assert.equal(a.mmioRead(ApicReg.TMICT, 4), 0);
    a.mmioWrite(ApicReg.TMICT, 4, 1000);
    assert.equal(a.mmioRead(ApicReg.TMICT, 4), 0);
    assert.equal(a.mmioRead(ApicReg.TMCCT, 4), 0);
    assert.equal(deadline(), undefined);
    a.msrWrite(TSC_DEADLINE, d.tsc() + 1_000_000, 0);
    a.mmioWrite(ApicReg.LVTT, 4, 0x50030);
    assert.notEqual(deadline(), undefined, 'masking keeps the deadline armed');
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    assert.equal(deadline(), undefined);
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [0, 0]);
    a.mmioWrite(ApicReg.LVTT, 4, 0x40030);
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [0, 0], 'the old deadline is gone');
  });

  test('outside the mode the MSR reads 0 and writes are ignored', () => {
    const { d, a, deadline } = setup();
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    assert.equal(a.msrWrite(TSC_DEADLINE, d.tsc() + 100, 0), true);
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [0, 0]);
    assert.equal(deadline(), undefined);
  });

  test('a deadline reached early by rounding re-arms until the TSC gets there', () => {
    const { d, a, deadline } = setup({ ticksPerNs: 3 });
    a.mmioWrite(ApicReg.LVTT, 4, 0x40032);
    const target = d.tsc() + 1_000; // 333⅓ ns
    a.msrWrite(TSC_DEADLINE, target, 0);
    assert.equal(deadline(), 333);
    assert.deepEqual(d.advanceTo(333), []);
    assert.equal(deadline(), 334);
    assert.deepEqual(d.advanceTo(334), [0]);
    assert.ok(d.tsc() >= target);
  });

  test('64-bit deadlines, and the MSR through x2APIC mode too', () => {
    const { d, a } = setup();
    d.tscOffset = 2 ** 40;
    d.enterX2apic();
    a.msrWrite(0x832, 0x40032, 0);
    const target = d.tsc() + 20;
    a.msrWrite(TSC_DEADLINE, target % 2 ** 32, Math.floor(target / 2 ** 32));
    assert.deepEqual(a.msrRead(TSC_DEADLINE), [target % 2 ** 32, 2 ** 8]);
    assert.deepEqual(d.advanceTo(10), [0]);
  });

  test('with the machine clock: fires once the guest TSC reaches the deadline', () => {
    for (const hz of [2_000_000_000, 2_400_000_000, 3_700_000_000]) {
      let host = 0;
      const source = new TimeSource({ hostNs: () => host, tscHz: hz });
      host = 3_000_000_007;
      const offset = source.zeroTscOffset() + 12_345;
      let deadline: number | undefined;
      const a: Vlapic = new Vlapic({
        vcpuId: 0,
        now: () => source.now(),
        setTimer: (t) => {
          deadline = t;
        },
        deliverIpi: () => {},
        peers: () => [a],
        tsc: { now: () => source.tsc() + offset, ticksToNs: (t) => source.ticksToNs(t) },
      });
      a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
      a.mmioWrite(ApicReg.LVTT, 4, 0x400ec);
      const target = source.tsc() + offset + Math.floor(hz / 1000) + 7; // a millisecond ahead
      a.msrWrite(TSC_DEADLINE, target, 0);
      let polls = 0;
      while (!a.isPending(0xec)) {
        assert.ok(deadline !== undefined && polls++ < 4);
        host += deadline - source.now(); // the scheduler sleeps until the deadline
        const guestTsc = source.tsc() + offset;
        if (a.fireTimer()) assert.ok(guestTsc >= target, `${hz}: fired at ${guestTsc} < ${target}`);
      }
      assert.ok(source.tsc() + offset - target < hz / 1e9 + 2, 'and not late by more than 1 ns');
    }
  });
});
