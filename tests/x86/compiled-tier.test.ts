// The compiled-block tier (block.ts, jit/templates.ts) runs the same differential suites as
// the interpreter: here they run with every block compiled before its first execution.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SUITES = [
  'isa/alu.test.js',
  'isa/data.test.js',
  'isa/cond.test.js',
  'isa/shift.test.js',
  'isa/bits.test.js',
  'isa/string.test.js',
  'cpu.test.js',
];

test('the differential suites pass with every block compiled (XENOTYPE_JIT_THRESHOLD=1)', () => {
  const files = SUITES.map((suite) =>
    fileURLToPath(new URL(`../../src/x86/${suite}`, import.meta.url)),
  );
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...files], {
    // NODE_TEST_CONTEXT would make the inner runner report to this one instead of to stdout.
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, XENOTYPE_JIT_THRESHOLD: '1' },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const failures = run.stdout.split('\n').filter((line) => /^\s*not ok /.test(line));
  assert.deepEqual(failures, [], run.stdout.slice(-4000));
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^# pass [1-9]/m);
});
