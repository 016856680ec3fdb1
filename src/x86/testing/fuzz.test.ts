import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fuzzScale, fuzzSeed, fuzzSeeded } from './fuzz.js';

describe('fuzz settings', () => {
  test('defaults: scale 1, seed 0, generator seeds unchanged', () => {
    assert.equal(fuzzScale({}), 1);
    assert.equal(fuzzSeed({}), 0);
    assert.equal(fuzzSeeded(0x2545f491, {}), 0x2545f491);
    assert.equal(fuzzSeeded(0, {}), 1, 'never 0: xorshift would stay at 0');
  });

  test('XENOTYPE_FUZZ and XENOTYPE_SEED are read, and another seed moves every generator', () => {
    assert.equal(fuzzScale({ XENOTYPE_FUZZ: '200' }), 200);
    assert.equal(fuzzSeed({ XENOTYPE_SEED: '0x10' }), 16);
    assert.notEqual(fuzzSeeded(0x2545f491, { XENOTYPE_SEED: '1' }), 0x2545f491);
    assert.notEqual(fuzzSeeded(1, { XENOTYPE_SEED: '7' }), fuzzSeeded(1, { XENOTYPE_SEED: '8' }));
  });

  test('a malformed value is an error, not a silent default', () => {
    for (const value of ['0', '-3', '1.5', 'lots']) {
      assert.throws(() => fuzzScale({ XENOTYPE_FUZZ: value }), /XENOTYPE_FUZZ/);
    }
    for (const value of ['-1', '0x100000000', 'x']) {
      assert.throws(() => fuzzSeed({ XENOTYPE_SEED: value }), /XENOTYPE_SEED/);
    }
  });
});
