// Whatever bytes arrive as an xl.cfg, parsing ends in a config or in error lines: never a throw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfigData } from './cfg.js';
import { parseDomainConfig } from './domain-config.js';

function survives(data: Uint8Array | string): string[] {
  const report: string[] = [];
  parseDomainConfig({ source: 'x.cfg', data, cwd: '/' }, (l) => report.push(l));
  return report;
}

/** A small deterministic generator, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    return s;
  };
}

test('random bytes', () => {
  const next = prng(7);
  for (let i = 0; i < 300; i++) {
    const bytes = new Uint8Array(1 + (next() % 200)).map(() => next() & 0xff);
    const report = survives(bytes);
    assert.ok(Array.isArray(report));
  }
});

test('random xl.cfg-like token soup', () => {
  const next = prng(11);
  const pieces = [
    'name',
    'x',
    '=',
    '+=',
    '[',
    ']',
    ',',
    ';',
    '\n',
    '"s"',
    "'q'",
    '"\\x1"',
    '0x',
    '9',
    '#',
    '@',
    '"',
    ' ',
  ];
  for (let i = 0; i < 500; i++) {
    let s = '';
    for (let j = next() % 30; j > 0; j--) s += pieces[next() % pieces.length];
    survives(s);
  }
});

test('binary garbage with NULs, unterminated strings, a huge file of newlines', () => {
  const report = survives(new Uint8Array([0x6e, 0x3d, 0x22, 0x61, 0x00, 0x62, 0x22, 0x0a]));
  assert.match(report[0] ?? '', /NUL character in quoted string/);
  assert.deepEqual(survives('name = "never closed'), [
    'x.cfg:1: config parsing error near `"never\': lexical error',
    'Failed to parse config: Invalid argument',
  ]);
  const many = survives(`${'\n'.repeat(200000)}name = "x"\n`);
  assert.equal(
    many[0],
    'No domain type given: xl then builds a pv guest, which Xenotype cannot run yet. Set type = "pvh".',
  );
});

test('a very long flat list and very long strings', () => {
  const list = `disk = [${'"a",'.repeat(100000)}]\n`;
  const r = readConfigData('x.cfg', list, () => {});
  assert.ok(r.ok);
  const long = `name = "${'n'.repeat(1 << 20)}"\n`;
  const r2 = readConfigData('x.cfg', long, () => {});
  assert.ok(r2.ok);
  assert.equal(r2.config.getString('name').ok, true);
});

test('huge numbers are warnings, not crashes', () => {
  const report = survives(
    'type="pvh"\nname="n"\nkernel="/k"\nmemory=0xffffffffffffffffffffffff\nvcpus=99999999999999999999999\n',
  );
  assert.deepEqual(report, [
    "x.cfg:4: warning: parameter `memory' could not be parsed as a number: Numerical result out of range",
    "x.cfg:5: warning: parameter `vcpus' could not be parsed as a number: Numerical result out of range",
  ]);
  assert.deepEqual(survives('type="pvh"\nname="n"\nkernel="/k"\nmemory=9223372036854775807\n'), [
    '"memory" is too large (9223372036854775807 MiB).',
  ]);
});
