// Xen's TSC scaling without BigInt, checked against a BigInt transcription of the same
// arithmetic (set_time_scale/div_frac, and a guest's 64×32-bit pvclock multiply).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  divFrac,
  scaleDelta,
  stampAlignment,
  type TimeScale,
  ticksCoveringNs,
  ticksForNs,
  timeScale,
} from './scale.js';

/** A small deterministic generator (xorshift32). */
function random(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function referenceScale(hz: bigint): { mul: bigint; shift: number } {
  let tps = hz;
  let shift = 0;
  while (tps > 2_000_000_000n) {
    tps >>= 1n;
    shift--;
  }
  while (tps <= 1_000_000_000n) {
    tps <<= 1n;
    shift++;
  }
  return { mul: (1_000_000_000n << 32n) / tps, shift };
}

const MASK64 = (1n << 64n) - 1n;

/** Linux's pvclock_scale_delta: shift in 64 bits, then mul_u64_u32_shr(delta, mul, 32). */
function referenceScaleDelta(delta: bigint, scale: TimeScale): bigint {
  let d = delta;
  if (scale.shift < 0) d >>= BigInt(-scale.shift);
  else d = (d << BigInt(scale.shift)) & MASK64;
  return (d * BigInt(scale.mul)) >> 32n;
}

const FREQUENCIES = [
  2_000_000_000, 1_000_000_000, 2_400_000_000, 3_000_000_000, 1_500_000_000, 3_700_000_000,
  2_893_412_107, 4_200_000_000, 999_999_999, 100_000_000, 33_333_333, 1, 5_000_000_001,
];

describe('time scale', () => {
  test('set_time_scale: 2 GHz is exactly ns = ticks / 2, 1 GHz ns = ticks', () => {
    assert.deepEqual(timeScale(2_000_000_000), { mul: 0x80000000, shift: 0 });
    assert.deepEqual(timeScale(1_000_000_000), { mul: 0x80000000, shift: 1 });
    assert.deepEqual(timeScale(3_000_000_000), { mul: 2863311530, shift: -1 });
    assert.deepEqual(timeScale(100_000_000), { mul: 2684354560, shift: 4 });
  });

  test('set_time_scale matches a BigInt transcription of Xen for many frequencies', () => {
    const next = random(7);
    const frequencies = [...FREQUENCIES];
    for (let i = 0; i < 2000; i++) frequencies.push(1 + Math.floor(next() * 10_000_000_000));
    for (const hz of frequencies) {
      const ours = timeScale(hz);
      const ref = referenceScale(BigInt(hz));
      assert.equal(ours.shift, ref.shift, `shift for ${hz}`);
      assert.equal(BigInt(ours.mul), ref.mul, `mul for ${hz}`);
      assert.ok(ours.mul >= 2 ** 31 && ours.mul < 2 ** 32);
    }
  });

  test('div_frac is (a << 32) / b', () => {
    const next = random(3);
    for (let i = 0; i < 1000; i++) {
      const b = 1 + Math.floor(next() * 0xffffffff);
      const a = Math.floor(next() * b);
      assert.equal(BigInt(divFrac(a, b)), (BigInt(a) << 32n) / BigInt(b));
    }
  });

  test('scaleDelta is the guest multiply, exactly, for 53-bit deltas', () => {
    const next = random(11);
    for (const hz of FREQUENCIES) {
      const scale = timeScale(hz);
      for (let i = 0; i < 300; i++) {
        const bits = Math.floor(next() * 53);
        const delta = Math.floor(next() * 2 ** bits);
        const expected = referenceScaleDelta(BigInt(delta), scale);
        if (expected >= 2n ** 53n) continue;
        assert.equal(BigInt(scaleDelta(delta, scale)), expected, `${hz} Hz, ${delta} ticks`);
      }
    }
  });

  test('ticksForNs is floor(ns · 2^(32−shift) / mul) and inverts scaleDelta within one tick', () => {
    const next = random(5);
    for (const hz of FREQUENCIES) {
      const scale = timeScale(hz);
      for (let i = 0; i < 300; i++) {
        const ns = Math.floor(next() * 2 ** Math.floor(next() * 46));
        const ticks = ticksForNs(ns, scale);
        const reference = (BigInt(ns) << BigInt(32 - scale.shift)) / BigInt(scale.mul);
        assert.equal(BigInt(ticks), reference, `${hz} Hz, ${ns} ns`);
        const back = scaleDelta(ticks, scale);
        assert.ok(back <= ns, 'never ahead');
        if (hz >= 1_000_000_000) assert.ok(ns - back <= 1, `${hz} Hz: ${ns} → ${back}`);
        const covering = ticksCoveringNs(ns, scale);
        assert.ok(scaleDelta(covering, scale) >= ns);
        assert.ok(covering === 0 || scaleDelta(covering - 1, scale) < ns);
      }
    }
  });

  test('stamps at multiples of the alignment add up exactly; others may be a nanosecond off', () => {
    const next = random(9);
    for (const hz of FREQUENCIES) {
      const scale = timeScale(hz);
      const period = stampAlignment(scale);
      for (let i = 0; i < 300; i++) {
        const stamp = Math.floor(next() * 2 ** 20) * period;
        if (stamp >= 2 ** 52) continue;
        const t = stamp + Math.floor(next() * 2 ** 40);
        assert.equal(
          scaleDelta(stamp, scale) + scaleDelta(t - stamp, scale),
          scaleDelta(t, scale),
          `${hz} Hz: stamp ${stamp}, tsc ${t}`,
        );
      }
    }
    // Why the alignment matters: at 2.4 GHz an arbitrary stamp loses the fraction.
    const scale = timeScale(2_400_000_000);
    let mismatches = 0;
    for (let stamp = 1; stamp < 200; stamp++) {
      const t = stamp + 12345;
      if (scaleDelta(stamp, scale) + scaleDelta(t - stamp, scale) !== scaleDelta(t, scale)) {
        mismatches++;
      }
    }
    assert.ok(mismatches > 0);
  });

  test('bad frequencies are refused', () => {
    assert.throws(() => timeScale(0), /positive integer/);
    assert.throws(() => timeScale(1.5), /positive integer/);
  });
});
