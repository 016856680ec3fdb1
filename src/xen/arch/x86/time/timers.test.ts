// The timer queue and Xen's single-shot/periodic timer hypercall semantics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XEN_EINVAL, XEN_ETIME } from '../../../../abi/errno.js';
import { VCPU_SSHOTTMR_future } from '../../../../abi/vcpu.js';
import { s64, TimerQueue, u64, VcpuTimers } from './timers.js';

function random(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

describe('timer queue', () => {
  test('expires in deadline order, ties in arming order', () => {
    const q = new TimerQueue<'a' | 'b'>();
    q.set(1, 'a', 300);
    q.set(2, 'a', 100);
    q.set(3, 'a', 200);
    q.set(1, 'b', 200);
    assert.equal(q.nextDeadline(), 100);
    assert.deepEqual(q.expire(99), []);
    assert.deepEqual(q.expire(250), [
      { vcpu: 2, kind: 'a', deadline: 100 },
      { vcpu: 3, kind: 'a', deadline: 200 },
      { vcpu: 1, kind: 'b', deadline: 200 },
    ]);
    assert.equal(q.nextDeadline(), 300);
    assert.deepEqual(q.expire(300), [{ vcpu: 1, kind: 'a', deadline: 300 }]);
    assert.equal(q.nextDeadline(), undefined);
    assert.equal(q.size, 0);
  });

  test('one timer per vCPU and kind: re-arming moves it, cancelling removes it', () => {
    const q = new TimerQueue<'a' | 'b'>();
    q.set(1, 'a', 100);
    q.set(1, 'a', 500);
    assert.equal(q.size, 1);
    assert.equal(q.deadline(1, 'a'), 500);
    q.set(1, 'b', 50);
    q.set(2, 'a', 70);
    assert.equal(q.cancel(1, 'b'), true);
    assert.equal(q.cancel(1, 'b'), false);
    assert.equal(q.nextDeadline(), 70);
    q.cancelAll(2);
    assert.equal(q.nextDeadline(), 500);
    assert.throws(() => q.set(3, 'a', Number.NaN), RangeError);
  });

  test('random operations agree with a sorted list', () => {
    const next = random(42);
    const q = new TimerQueue<'a' | 'b' | 'c'>();
    const kinds = ['a', 'b', 'c'] as const;
    const model = new Map<
      string,
      { vcpu: number; kind: 'a' | 'b' | 'c'; deadline: number; seq: number }
    >();
    let seq = 0;
    let now = 0;
    for (let i = 0; i < 20000; i++) {
      const vcpu = Math.floor(next() * 20);
      const kind = kinds[Math.floor(next() * 3)]!;
      const op = next();
      if (op < 0.55) {
        const deadline = now + Math.floor(next() * 1000);
        q.set(vcpu, kind, deadline);
        model.set(`${vcpu}/${kind}`, { vcpu, kind, deadline, seq: seq++ });
      } else if (op < 0.75) {
        assert.equal(q.cancel(vcpu, kind), model.delete(`${vcpu}/${kind}`));
      } else {
        now += Math.floor(next() * 300);
        const due = [...model.values()]
          .filter((t) => t.deadline <= now)
          .sort((x, y) => x.deadline - y.deadline || x.seq - y.seq);
        for (const t of due) model.delete(`${t.vcpu}/${t.kind}`);
        assert.deepEqual(
          q.expire(now),
          due.map(({ vcpu, kind, deadline }) => ({ vcpu, kind, deadline })),
        );
      }
      const earliest = Math.min(...[...model.values()].map((t) => t.deadline));
      assert.equal(q.nextDeadline(), model.size === 0 ? undefined : earliest);
      assert.equal(q.size, model.size);
    }
  });
});

describe('VCPUOP single-shot timers and set_timer_op', () => {
  test('a future timeout arms; the queue hands it back when due', () => {
    const t = new VcpuTimers();
    assert.equal(t.setSingleshot(0, 5_000, 0, 1_000), 0);
    assert.equal(t.setSingleshot(1, 3_000, VCPU_SSHOTTMR_future, 1_000), 0);
    assert.equal(t.nextDeadline(), 3_000);
    assert.deepEqual(t.expire(4_000), [{ vcpu: 1, kind: 'singleshot', deadline: 3_000 }]);
    assert.deepEqual(t.expire(5_000), [{ vcpu: 0, kind: 'singleshot', deadline: 5_000 }]);
    assert.deepEqual(t.expire(1e12), [], 'single-shot timers do not come back');
  });

  test('a past timeout is -ETIME with VCPU_SSHOTTMR_future, else it fires at once', () => {
    const t = new VcpuTimers();
    t.setSingleshot(0, 9_000, 0, 1_000);
    assert.equal(t.setSingleshot(0, 999, VCPU_SSHOTTMR_future, 1_000), -XEN_ETIME);
    assert.equal(t.queue.deadline(0, 'singleshot'), 9_000, 'a refused timeout leaves the old one');
    assert.equal(t.setSingleshot(0, 999, 0, 1_000), 0);
    assert.deepEqual(t.expire(1_000), [{ vcpu: 0, kind: 'singleshot', deadline: 1_000 }]);
    assert.equal(t.setSingleshot(0, 1_000, VCPU_SSHOTTMR_future, 1_000), 0, 'now is not past');
  });

  test('re-arming replaces, stopping disarms', () => {
    const t = new VcpuTimers();
    t.setSingleshot(0, 5_000, 0, 0);
    t.setSingleshot(0, 7_000, 0, 0);
    assert.deepEqual(t.expire(6_000), []);
    assert.equal(t.stopSingleshot(0), 0);
    assert.deepEqual(t.expire(8_000), []);
  });

  test('set_timer_op: 0 stops, negative or over 2^50 ns ahead becomes 100 ms', () => {
    const t = new VcpuTimers();
    const now = 10_000_000_000;
    t.setTimerOp(2, now + 5, now);
    assert.equal(t.queue.deadline(2, 'singleshot'), now + 5);
    t.setTimerOp(2, 0, now);
    assert.equal(t.queue.deadline(2, 'singleshot'), undefined);
    t.setTimerOp(2, s64(0, 0x80000000), now);
    assert.equal(t.queue.deadline(2, 'singleshot'), now + 100_000_000);
    t.setTimerOp(2, now + 2 ** 50, now);
    assert.equal(t.queue.deadline(2, 'singleshot'), now + 100_000_000);
    t.setTimerOp(2, now + 2 ** 50 - 1, now);
    assert.equal(t.queue.deadline(2, 'singleshot'), now + 2 ** 50 - 1);
    t.setTimerOp(2, now - 50, now);
    assert.deepEqual(t.expire(now), [{ vcpu: 2, kind: 'singleshot', deadline: now - 50 }]);
  });

  test('64-bit guest arguments', () => {
    assert.equal(s64(0xffffffff, 0xffffffff), -1);
    assert.equal(u64(0xffffffff, 0), 0xffffffff);
    assert.equal(u64(5, 1), 2 ** 32 + 5);
    assert.equal(s64(-1, 0), 0xffffffff);
  });
});

describe('VCPUOP periodic timers', () => {
  test('periods under 1 ms or beyond STIME_DELTA_MAX are -EINVAL', () => {
    const t = new VcpuTimers();
    assert.equal(t.setPeriodic(0, 999_999, 0), -XEN_EINVAL);
    assert.equal(t.setPeriodic(0, 2 ** 62, 0), -XEN_EINVAL);
    assert.equal(t.setPeriodic(0, u64(0, 0xffffffff), 0), -XEN_EINVAL);
    assert.equal(t.nextDeadline(), undefined);
    assert.equal(t.setPeriodic(0, 1_000_000, 0), 0);
  });

  test('the first tick is at once, then one period after each tick', () => {
    const t = new VcpuTimers();
    const ms = 1_000_000;
    assert.equal(t.setPeriodic(3, 10 * ms, 50 * ms), 0);
    assert.deepEqual(t.expire(50 * ms), [{ vcpu: 3, kind: 'periodic', deadline: 50 * ms }]);
    assert.equal(t.nextDeadline(), 60 * ms);
    assert.deepEqual(t.expire(59 * ms), []);
    assert.equal(t.expire(60 * ms).length, 1);
    // Polled late: the next tick is a period after the late one; missed ticks are not replayed.
    assert.equal(t.expire(95 * ms).length, 1);
    assert.equal(t.nextDeadline(), 105 * ms);
    assert.equal(t.period(3), 10 * ms);
  });

  test('setting a period again soon after a tick waits for the period from that tick', () => {
    const t = new VcpuTimers();
    const ms = 1_000_000;
    t.setPeriodic(0, 10 * ms, 100 * ms);
    t.expire(100 * ms);
    t.setPeriodic(0, 20 * ms, 105 * ms);
    assert.equal(t.nextDeadline(), 120 * ms);
    t.setPeriodic(0, 4 * ms, 106 * ms);
    assert.equal(t.nextDeadline(), 106 * ms, 'a period has already passed: tick at once');
  });

  test('stop, and timers of other kinds share the queue', () => {
    const t = new VcpuTimers();
    const ms = 1_000_000;
    t.setPeriodic(0, 10 * ms, 0);
    t.setSingleshot(0, 3 * ms, 0, 0);
    t.arm(0, 'lapic', 2 * ms);
    t.arm(1, 'poll', 1 * ms);
    assert.deepEqual(
      t.expire(3 * ms).map((e) => `${e.vcpu}:${e.kind}`),
      ['1:poll', '0:lapic', '0:singleshot'],
    );
    assert.equal(t.nextDeadline(), 10 * ms, 'no tick yet: a period from the (zero) last tick');
    assert.equal(t.stopPeriodic(0), 0);
    assert.equal(t.period(0), 0);
    assert.equal(t.nextDeadline(), undefined);
    t.arm(0, 'lapic', 5);
    t.disarm(0, 'lapic');
    t.setPeriodic(0, 10 * ms, 0);
    t.remove(0);
    assert.equal(t.nextDeadline(), undefined);
  });
});
