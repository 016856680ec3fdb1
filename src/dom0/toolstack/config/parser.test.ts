// libxlu's language: settings, values, lists, `+=`, escapes, and the exact error reports of Xen
// 4.17's libxlu. The expected messages were taken from the real libxlu (libxlu_cfg*.c built
// unmodified) run on the same input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cfgText, readConfigData } from './cfg.js';
import type { CfgValue } from './parser.js';

function parse(text: string): { ok: boolean; report: string[]; settings: Record<string, unknown> } {
  const report: string[] = [];
  const r = readConfigData('t.cfg', text, (l) => report.push(l));
  if (!r.ok) return { ok: false, report: [...report, r.summary], settings: {} };
  const settings: Record<string, unknown> = {};
  for (const s of r.config.settings) settings[s.name] = plain(s.value);
  return { ok: true, report, settings };
}

const plain = (v: CfgValue): unknown =>
  v.kind === 'string' ? cfgText(v.value) : v.values.map(plain);

/** The report of a failed parse. */
function errors(text: string): string[] {
  const r = parse(text);
  assert.equal(r.ok, false, `expected ${JSON.stringify(text)} to fail`);
  return r.report;
}

const FAILED = 'Failed to parse config: Invalid argument';

describe('xl.cfg values', () => {
  test('strings, numbers, lists, comments and ; separators', () => {
    const r = parse(
      [
        '# comment line',
        'name = "guest" # trailing comment',
        "kernel='/boot/vmlinuz'; memory = 512",
        'vif = [ "bridge=xenbr0", ',
        '        "mac=00:16:3e:00:00:01", ]',
        'nested = [1, [2, 0x3], []]',
        'empty = []',
        '',
      ].join('\n'),
    );
    assert.equal(r.ok, true);
    assert.deepEqual(r.settings, {
      name: 'guest',
      kernel: '/boot/vmlinuz',
      memory: '512',
      vif: ['bridge=xenbr0', 'mac=00:16:3e:00:00:01'],
      nested: ['1', ['2', '0x3'], []],
      empty: [],
    });
  });

  test('the last setting of a key wins', () => {
    const r = parse('memory = 128\nmemory = 256\n');
    assert.equal(r.settings.memory, '256');
  });

  test('+= appends to a string or a list of the same key', () => {
    const r = parse('extra = "a"\nextra += " b"\ndisk = ["x"]\ndisk += ["y", "z"]\nnew += "n"\n');
    assert.deepEqual(r.settings, { extra: 'a b', disk: ['x', 'y', 'z'], new: 'n' });
  });

  test('escapes inside quotes, with libxlu quirks', () => {
    assert.equal(parse('x = "a\\"b\\\\c\\n\\t"\n').settings.x, 'a"b\\c\n\t');
    assert.equal(parse("x = 'it\\'s'\n").settings.x, "it's");
    // An octal escape swallows the digits and stores nothing.
    assert.equal(parse('x = "a\\101b"\n').settings.x, 'ab');
  });

  test('the last line may lack its newline; a lone bad character at the end is ignored', () => {
    assert.deepEqual(parse('x = 1').settings, { x: '1' });
    assert.deepEqual(parse('x=1\n#').settings, { x: '1' });
  });

  test('UTF-8 survives in values', () => {
    assert.equal(parse('name = "gäst"\n').settings.name, 'gäst');
  });
});

describe('xl.cfg errors, as libxlu reports them', () => {
  const cases: readonly (readonly [string, string[]])[] = [
    ['name = "a\n', ['t.cfg:1: config parsing error near `"a\': lexical error']],
    [
      'name = a\n',
      [
        "t.cfg:1: config parsing error near `a': syntax error, unexpected IDENT, expecting STRING or NUMBER or '['",
      ],
    ],
    ['Name = "a"\n', ["t.cfg:1: config parsing error near `Name': lexical error"]],
    ['x = 1 # c', ["t.cfg:1: config parsing error near `#': lexical error"]],
    [
      'x = "a\\x41b"\n',
      [
        't.cfg:1: config parsing error near `"a\\x41b"\': invalid digit after backslash hexnumerical character escape in quoted string',
      ],
    ],
    [
      'x=[1]\nx+="b"\n',
      ['t.cfg:2: config parsing error near `"b"\': can\'t add [list] to "string" or vice versa'],
    ],
    [
      'x = 1 y = 2\n',
      ["t.cfg:1: config parsing error near `y': syntax error, unexpected IDENT, expecting $end"],
    ],
    [
      'x=\n',
      [
        "t.cfg:0: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['",
      ],
    ],
    [
      'import os\n',
      [
        "t.cfg:1: config parsing error near `os': syntax error, unexpected IDENT, expecting += or '='",
      ],
    ],
    [
      'x = 1\n\n  = 3\n',
      [
        "t.cfg:3: config parsing error near `=': syntax error, unexpected '=', expecting $end or IDENT or NEWLINE or ';'",
      ],
    ],
    [
      'x=[1,,2]\n',
      ["t.cfg:1: config parsing error near `,': syntax error, unexpected ',', expecting ']'"],
    ],
    [
      'x = [1',
      ["t.cfg:1: config parsing error near `': syntax error, unexpected $end, expecting ']'"],
    ],
    [
      'x=\ny=\n',
      [
        "t.cfg:0: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['",
        "t.cfg:1: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['",
      ],
    ],
    [
      'x = @\n\ny=\n',
      [
        "t.cfg:1: config parsing error near `@': lexical error",
        "t.cfg:2: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['",
      ],
    ],
    [
      'x= -1\n',
      [
        "t.cfg:1: config parsing error near `-1': lexical error",
        'warning: Config file looks like it contains Python code.',
        'warning:  Arbitrary Python is no longer supported.',
        'warning:  See https://wiki.xen.org/wiki/PythonInXlConfig',
      ],
    ],
    [
      'x = "\\q"\n',
      [
        't.cfg:1: config parsing error near `"\\q"\': invalid character after backlash in quoted string',
      ],
    ],
  ];
  for (const [input, expected] of cases) {
    test(JSON.stringify(input), () => {
      assert.deepEqual(errors(input), [...expected, FAILED]);
    });
  }

  test('nesting deeper than bison stack allows: memory exhausted', () => {
    const ok = `x = ${'['.repeat(4996)}${']'.repeat(4996)}\n`;
    assert.equal(readConfigData('t.cfg', ok, () => {}).ok, true);
    const deep = `x = ${'['.repeat(4997)}${']'.repeat(4997)}\n`;
    assert.deepEqual(errors(deep), [
      "t.cfg:1: config parsing error near `]': memory exhausted",
      FAILED,
    ]);
    assert.deepEqual(errors(`x = ${'['.repeat(100000)}\n`), [
      "t.cfg:1: config parsing error near `[': memory exhausted",
      FAILED,
    ]);
  });
});

describe('xlu_cfg_get_long', () => {
  const get = (text: string): { value: bigint | null; report: string[] } => {
    const report: string[] = [];
    const r = readConfigData('t.cfg', text, (l) => report.push(l));
    assert.ok(r.ok);
    const g = r.config.getLong('memory');
    return { value: g.ok ? g.value : null, report };
  };

  test('decimal, hex, octal and signed strings, as strtol(…, 0)', () => {
    assert.equal(get('memory = 512\n').value, 512n);
    assert.equal(get('memory = 0x200\n').value, 512n);
    assert.equal(get('memory = 010\n').value, 8n);
    assert.equal(get('memory = " -5"\n').value, -5n);
  });

  test('warnings for what is not a number', () => {
    assert.deepEqual(get('memory = "12abc"\n'), {
      value: null,
      report: ["t.cfg:1: warning: parameter `memory' is not a valid number"],
    });
    assert.deepEqual(get('memory = 99999999999999999999\n'), {
      value: null,
      report: [
        "t.cfg:1: warning: parameter `memory' could not be parsed as a number: Numerical result out of range",
      ],
    });
    assert.deepEqual(get('memory = [1]\n'), {
      value: null,
      report: ["t.cfg:1: warning: parameter `memory' is a list but should be a single value"],
    });
    assert.deepEqual(get('memory = 1\nmemory += 2\n'), {
      value: null,
      report: ["t.cfg:2: warning: can't use += with numbers for parameter `memory'"],
    });
  });
});
