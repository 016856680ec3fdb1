// getopt_long as glibc does it: permutation, clusters, arguments, long-option prefixes, errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getoptLong, type LongOption } from './getopt.js';

const LONG: readonly LongOption[] = [
  { name: 'long', hasArg: 'none', val: 'l' },
  { name: 'defconfig', hasArg: 'required', val: 'f' },
  { name: 'dryrun', hasArg: 'none', val: 'n' },
  { name: 'help', hasArg: 'none', val: 'h' },
];

const opts = (args: string[], optstring = 'hlf:n') => {
  const r = getoptLong('xl', args, optstring, LONG);
  return {
    items: r.items.map((i) =>
      i.kind === 'option' ? `${i.opt}${i.arg === null ? '' : `=${i.arg}`}` : `?${i.optopt}`,
    ),
    operands: r.operands,
  };
};

test('options and operands mix; operands keep their order', () => {
  assert.deepEqual(opts(['a', '-l', 'b', '-n']), { items: ['l', 'n'], operands: ['a', 'b'] });
});

test('"+" stops at the first operand, as xl\'s global options do', () => {
  assert.deepEqual(opts(['-v', 'list', '-l'], '+v'), { items: ['v'], operands: ['list', '-l'] });
});

test('"--" ends the options; "-" is an operand', () => {
  assert.deepEqual(opts(['-l', '--', '-n', 'x']), { items: ['l'], operands: ['-n', 'x'] });
  assert.deepEqual(opts(['-', '-l']), { items: ['l'], operands: ['-'] });
});

test('clusters and option arguments', () => {
  assert.deepEqual(opts(['-lnfcfg']).items, ['l', 'n', 'f=cfg']);
  assert.deepEqual(opts(['-f', 'cfg', 'x']), { items: ['f=cfg'], operands: ['x'] });
  assert.deepEqual(opts(['-f']).items, ['?f']);
});

test('long options: =value, a separate value, unique prefixes', () => {
  assert.deepEqual(opts(['--defconfig=a.cfg', '--def', 'b.cfg', '--lo', '--dry']).items, [
    'f=a.cfg',
    'f=b.cfg',
    'l',
    'n',
  ]);
});

test('bad options report what xl shows: the character, or NUL for a long one', () => {
  assert.deepEqual(opts(['-z', '--nope', '--long=1', '--d']).items, ['?z', '?\0', '?l', '?\0']);
  const r = getoptLong('xl', ['-z', '--d'], 'h', LONG);
  assert.deepEqual(
    r.items.map((i) => (i.kind === 'error' ? i.message : '')),
    [
      "xl: invalid option -- 'z'",
      "xl: option '--d' is ambiguous; possibilities: '--defconfig' '--dryrun'",
    ],
  );
});
