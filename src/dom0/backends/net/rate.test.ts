// The credit limiter on a hand-driven clock: the first window's credit, waiting for the window's
// end, nothing passing while the credit timer runs, the burst cap, the long-run rate, and the
// `rate` key as netback parses it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CreditLimiter, MIN_CREDIT_BURST, parseRate } from './rate.js';

function clocked(bytes: number, usecs: number, start = 1000) {
  const clock = { now: start };
  const limiter = new CreditLimiter(bytes, usecs, () => clock.now);
  return { clock, limiter };
}

describe('CreditLimiter', () => {
  test('starts with one interval of credit and waits for the window end when short', () => {
    const { clock, limiter } = clocked(1000, 10_000);
    assert.equal(limiter.take(600), 0);
    assert.equal(limiter.credit, 400);
    assert.equal(limiter.take(600), 10, 'until the 10 ms window ends');
    clock.now += 4;
    assert.equal(limiter.take(600), 6);
    clock.now += 6;
    assert.equal(limiter.take(600), 0, 'the timer added an interval of credit');
    assert.equal(limiter.credit, 800);
  });

  test('while the credit timer runs even a small packet waits, so order is kept', () => {
    const { clock, limiter } = clocked(1000, 10_000);
    assert.equal(limiter.take(900), 0);
    assert.equal(limiter.take(500), 10);
    assert.equal(limiter.take(50), 10, 'would fit, but the timer is pending');
    clock.now += 10;
    assert.equal(limiter.take(50), 0);
  });

  test('a refill happens once a whole window has passed since the window start', () => {
    const { clock, limiter } = clocked(1000, 10_000);
    assert.equal(limiter.take(1000), 0);
    clock.now += 9.5;
    assert.equal(limiter.take(1), 0.5);
    clock.now += 0.5;
    assert.equal(limiter.take(1), 0);
    assert.equal(limiter.credit, 999);
  });

  test('credit after idle time is capped at the larger of 128 KiB and one interval', () => {
    const small = clocked(1000, 1000);
    small.clock.now += 10_000_000;
    assert.equal(small.limiter.take(MIN_CREDIT_BURST), 0);
    assert.equal(small.limiter.credit, 0);
    assert.ok(small.limiter.take(1000) > 0);

    const big = clocked(1_000_000, 1000);
    assert.equal(big.limiter.take(1_000_000), 0);
    big.clock.now += 10_000;
    assert.equal(big.limiter.take(1), 0);
    assert.equal(big.limiter.credit, 1_000_000 - 1);
  });

  test('the missed windows are made up when one interval of credit is not enough', () => {
    const { clock, limiter } = clocked(1000, 10_000);
    assert.equal(limiter.take(1000), 0);
    clock.now += 35; // three whole windows passed
    assert.equal(limiter.take(3000), 0);
    assert.equal(limiter.credit, 0);
    assert.equal(limiter.take(1), 10);
  });

  test('a short wait after missed windows ends on the window boundary', () => {
    const { clock, limiter } = clocked(1000, 10_000);
    assert.equal(limiter.take(1000), 0);
    clock.now += 25; // two windows passed, 5 ms into the third
    assert.equal(limiter.take(2500), 5);
    clock.now += 5;
    assert.equal(limiter.take(2500), 0);
    assert.equal(limiter.credit, 500);
  });

  test('holds the configured rate over time', () => {
    // 125000 bytes per 100 ms = 1.25 MB/s, sending 1500-byte packets as fast as allowed.
    const { clock, limiter } = clocked(125_000, 100_000, 0);
    let sent = 0;
    while (clock.now < 10_000) {
      const wait = limiter.take(1500);
      if (wait === 0) sent += 1500;
      else clock.now += wait;
    }
    // The first window's credit up front and one refill per 100 ms after: 100 windows' worth.
    const expected = 125_000 * 100;
    assert.ok(sent > expected - 1500 && sent <= expected, `sent ${sent}`);
  });

  test('a packet bigger than the burst still goes once the bucket is full', () => {
    const { clock, limiter } = clocked(1000, 1000);
    let waited = 0;
    for (;;) {
      const wait = limiter.take(MIN_CREDIT_BURST + 5000);
      if (wait === 0) break;
      clock.now += wait;
      waited += wait;
    }
    assert.ok(waited >= 130 && waited <= 132, `waited ${waited}`);
    assert.equal(limiter.credit, 0);
  });

  test('a new rate cuts credit back, or fires a pending timer at once', () => {
    const { clock, limiter } = clocked(10_000, 10_000);
    limiter.update(2000, 10_000);
    assert.equal(limiter.credit, 2000);
    assert.equal(limiter.take(2000), 0);
    assert.equal(limiter.take(500), 10);
    clock.now += 1;
    limiter.update(4000, 10_000);
    assert.equal(limiter.take(500), 0, 'the timer fired when the rate changed');
    assert.equal(limiter.credit, 3500);
  });

  test('refuses a zero rate or interval', () => {
    assert.throws(() => new CreditLimiter(0, 1000), RangeError);
    assert.throws(() => new CreditLimiter(1000, 0), RangeError);
  });
});

describe('parseRate', () => {
  test('reads "bytes,usecs"', () => {
    assert.deepEqual(parseRate('125000,20000'), { bytesPerInterval: 125000, intervalUsecs: 20000 });
    assert.deepEqual(parseRate('1,1'), { bytesPerInterval: 1, intervalUsecs: 1 });
  });

  test('absent, malformed or zero means unlimited', () => {
    for (const text of [
      undefined,
      '',
      '1000',
      '1000,',
      ',1000',
      '1000,20000,5',
      'a,b',
      '10M,50',
      '-5,100',
      '1.5,100',
      ' 1000,100',
      '1000,100\n',
      '0,20000',
      '1000,0',
      '99999999999999999999,1000',
    ]) {
      assert.equal(parseRate(text), undefined, String(text));
    }
  });
});
