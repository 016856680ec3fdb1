// xl's front door (tools/xl/xl.c): global options, the help texts, command lookup, usage errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeToolstack } from '../toolstack/testing.js';
import { xl } from './testing.js';

test('no command: the full help on stdout, status 1', async () => {
  const r = await xl(new FakeToolstack(), []);
  assert.equal(r.code, 1);
  assert.ok(
    r.stdout.startsWith(
      'Usage xl [-vfNtT] <subcommand> [args]\n\nxl full list of subcommands:\n\n',
    ),
  );
  assert.match(r.stdout, /\n create {14}Create a domain from config file <filename>\n/);
  // Names longer than 19 characters get a line of their own.
  assert.match(r.stdout, /\n pci-assignable-remove \n {21}Remove a device from being assignable\n/);
  assert.match(r.stdout, /\n qemu-monitor-command \n {21}Issue a qemu monitor command/);
});

test('xl help and xl help CMD exit 0; an unknown CMD is said on stdout', async () => {
  const ts = new FakeToolstack();
  const all = await xl(ts, ['help']);
  assert.equal(all.code, 0);
  assert.ok(all.stdout.startsWith('Usage xl [-vfNtT]'));
  const one = await xl(ts, ['help', 'create']);
  assert.equal(one.code, 0);
  assert.ok(
    one.stdout.startsWith(
      'Usage: xl [-vtTfN] create <ConfigFile> [options] [vars]\n\nCreate a domain from config file <filename>.\n\nOptions:\n\n-c  ',
    ),
  );
  assert.deepEqual(await xl(ts, ['help', 'frobnicate']).then((r) => [r.code, r.stdout]), [
    0,
    'command "frobnicate" not implemented\n',
  ]);
  const info = await xl(ts, ['help', 'info']);
  assert.equal(
    info.stdout,
    'Usage: xl [-vtT] info -n, --numa         List host NUMA topology information\n\nGet information about Xen host.\n\n',
  );
});

test('CMD -h and --help print the usage and exit 0', async () => {
  const ts = new FakeToolstack();
  for (const args of [
    ['list', '-h'],
    ['list', '--help'],
    ['destroy', '-h'],
  ]) {
    const r = await xl(ts, args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: xl \[-vtTf?\] (list|destroy) /);
  }
});

test('an unknown command, an ambiguous abbreviation, an exact abbreviation', async () => {
  const ts = new FakeToolstack();
  assert.deepEqual(await xl(ts, ['frobnicate']).then((r) => [r.code, r.stderr]), [
    1,
    'command not implemented\n',
  ]);
  assert.deepEqual(await xl(ts, ['c']).then((r) => [r.code, r.stderr]), [
    1,
    'command not implemented\n',
  ]);
  const r = await xl(ts, ['domn', '0']);
  assert.deepEqual([r.code, r.stdout], [0, 'Domain-0\n']);
});

test('an unknown option: exit 2 and "option `X\' not supported."', async () => {
  const ts = new FakeToolstack();
  assert.deepEqual(await xl(ts, ['list', '-z']).then((r) => [r.code, r.stderr]), [
    2,
    "option `z' not supported.\n",
  ]);
  assert.deepEqual(await xl(ts, ['list', '--zzz']).then((r) => [r.code, r.stderr]), [
    2,
    "option `\0' not supported.\n",
  ]);
  assert.deepEqual(await xl(ts, ['console', '-t']).then((r) => [r.code, r.stderr]), [
    2,
    "option `t' not supported.\n",
  ]);
});

test('too few operands: the message, the usage, exit 2', async () => {
  const r = await xl(new FakeToolstack(), ['rename', 'x']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "'xl rename' requires at least 2 arguments.\n\n");
  assert.ok(
    r.stdout.startsWith(
      'Usage: xl [-vtTf] rename <Domain> <NewDomainName>\n\nRename a domain.\n\n',
    ),
  );
});

test("global options: -N only where a command can dry-run; a bad one is glibc's message", async () => {
  const ts = new FakeToolstack();
  assert.deepEqual(await xl(ts, ['-N', 'list']).then((r) => [r.code, r.stderr]), [
    1,
    'command does not implement -N (dryrun) option\n',
  ]);
  assert.deepEqual(await xl(ts, ['-x', 'list']).then((r) => [r.code, r.stderr]), [
    1,
    "xl: invalid option -- 'x'\nunknown global option\n",
  ]);
  assert.equal((await xl(ts, ['-v', '-t', '-T', '-f', 'list'])).code, 0);
  assert.equal((await xl(ts, ['--', 'list'])).code, 0);
});

test('commands xl has but Xenotype lacks say so', async () => {
  const r = await xl(new FakeToolstack(), ['vcpu-pin', '1', '0', 'all']);
  assert.deepEqual([r.code, r.stderr], [1, 'xl: "vcpu-pin" is not available in Xenotype yet.\n']);
});
