import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireTool } from '../../testing/host-tools.js';
import { findSection, parseElf, sectionData } from '../elf/index.js';
import { ImageFormatError } from '../errors.js';
import { readModinfo, resolveModuleSet, resolveModules } from './modinfo.js';
import { makeElf, makeKo, writeFakeModulesTree } from './testing.js';

const RELEASE = '6.1.0-99-test-amd64';
let work: string;
let modulesDir: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xenotype-kmod-'));
  modulesDir = join(work, 'lib', 'modules', RELEASE);
  await writeFakeModulesTree(
    modulesDir,
    RELEASE,
    [
      { path: 'kernel/lib/core_lib.ko' },
      { path: 'kernel/drivers/b/beta.ko', depends: ['core-lib'] },
      { path: 'kernel/drivers/a/alpha-one.ko', depends: ['beta', 'core_lib'] },
      { path: 'kernel/drivers/c/uses-builtin.ko', depends: ['xenbus', 'core_lib'] },
      { path: 'kernel/drivers/d/cyc-one.ko', depends: ['cyc_two'] },
      { path: 'kernel/drivers/d/cyc_two.ko', depends: ['cyc-one'] },
      { path: 'kernel/drivers/e/needs-ghost.ko', depends: ['ghost'] },
    ],
    ['kernel/drivers/xen/xenbus/xenbus.ko', 'kernel/fs/ext4/ext4.ko'],
  );
  await writeFile(
    join(modulesDir, 'kernel/drivers/e/broken.ko'),
    'not an ELF file at all, just text',
  );
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const paths = (list: string[]) => list.map((path) => path.slice(modulesDir.length + 1));

describe('readModinfo', () => {
  test('reads the key=value strings of a gcc-built relocatable', async () => {
    const source = join(work, 'mod.c');
    const object = join(work, 'mod.o');
    await writeFile(
      source,
      [
        'int init_module(void) { return 0; }',
        ...[
          'alias=xenblk',
          'alias=xen:vbd',
          'license=GPL',
          'depends=foo,bar-baz',
          'name=xen_blkfront',
        ]
          .concat(['vermagic=6.1.0-56-cloud-amd64 SMP preempt mod_unload modversions '])
          .map(
            (field, i) =>
              `static const char f${i}[] __attribute__((section(".modinfo"), used, aligned(1))) = "${field}";`,
          ),
        '',
      ].join('\n'),
    );
    requireTool('gcc', 'gcc');
    execFileSync('gcc', ['-c', '-O2', '-o', object, source], { stdio: 'pipe' });
    const info = readModinfo(await readFile(object));
    assert.equal(info.name, 'xen_blkfront');
    assert.deepEqual(info.depends, ['foo', 'bar-baz']);
    assert.equal(info.vermagic, '6.1.0-56-cloud-amd64 SMP preempt mod_unload modversions ');
    assert.deepEqual(info.aliases.sort(), ['xen:vbd', 'xenblk']);
    assert.equal(info.fields.length, 6);
  });

  test('an empty depends= means no dependencies; repeated keys are all kept', () => {
    const info = readModinfo(makeKo(['depends=', 'alias=a', 'alias=b', 'parm=x:int', 'name=m']));
    assert.deepEqual(info.depends, []);
    assert.deepEqual(info.aliases, ['a', 'b']);
    assert.deepEqual(info.fields[3], ['parm', 'x:int']);
    assert.equal(info.vermagic, undefined);
  });

  test('finds sections by exact name', () => {
    const elf = makeElf([
      { name: '.modinfo.extra', data: new Uint8Array([1]) },
      { name: '.modinfo', data: new Uint8Array([2, 3]) },
    ]);
    const parsed = parseElf(elf);
    assert.deepEqual([...sectionData(parsed, findSection(parsed, '.modinfo')!)], [2, 3]);
    assert.equal(findSection(parsed, '.modin'), undefined);
    assert.throws(
      () => readModinfo(makeElf([{ name: '.text', data: new Uint8Array(4) }])),
      /no \.modinfo/,
    );
  });

  test('rejects malformed ELF input with ImageFormatError', () => {
    const good = makeKo(['name=m']);
    const cases: Array<[string, Uint8Array]> = [
      ['short', good.slice(0, 40)],
      ['bad magic', Uint8Array.from(good, (b, i) => (i === 1 ? 0 : b))],
      ['ELF32', Uint8Array.from(good, (b, i) => (i === 4 ? 1 : b))],
      ['big-endian', Uint8Array.from(good, (b, i) => (i === 5 ? 2 : b))],
      ['section headers cut off', good.slice(0, good.length - 10)],
    ];
    const withField = (offset: number, value: number, size: 2 | 4) => {
      const copy = good.slice();
      const view = new DataView(copy.buffer);
      if (size === 2) view.setUint16(offset, value, true);
      else view.setUint32(offset, value, true);
      return copy;
    };
    const shoff = new DataView(good.buffer).getUint32(0x28, true);
    cases.push(['e_shentsize', withField(0x3a, 40, 2)]);
    cases.push(['e_shstrndx out of range', withField(0x3e, 50, 2)]);
    cases.push(['e_shoff past the end', withField(0x28, good.length, 4)]);
    cases.push(['e_shoff huge', withField(0x2c, 0xffffffff, 4)]);
    cases.push(['section body past the end', withField(shoff + 2 * 64 + 32, 0x7fffffff, 4)]);
    cases.push(['shstrtab past the end', withField(shoff + 3 * 64 + 24, good.length, 4)]);
    for (const [what, bytes] of cases) {
      assert.throws(() => readModinfo(bytes), ImageFormatError, what);
    }
  });
});

describe('resolveModules', () => {
  test('puts dependencies first, each once, comparing - and _ alike', async () => {
    assert.deepEqual(paths(await resolveModules(modulesDir, ['alpha_one'])), [
      'kernel/lib/core_lib.ko',
      'kernel/drivers/b/beta.ko',
      'kernel/drivers/a/alpha-one.ko',
    ]);
    assert.deepEqual(paths(await resolveModules(modulesDir, ['beta', 'alpha-one', 'core-lib'])), [
      'kernel/lib/core_lib.ko',
      'kernel/drivers/b/beta.ko',
      'kernel/drivers/a/alpha-one.ko',
    ]);
  });

  test('reports names, paths and direct dependencies', async () => {
    const set = await resolveModuleSet(modulesDir, ['alpha-one']);
    assert.deepEqual(
      set.map(({ name, path, depends }) => ({ name, path, depends })),
      [
        { name: 'core_lib', path: 'kernel/lib/core_lib.ko', depends: [] },
        { name: 'beta', path: 'kernel/drivers/b/beta.ko', depends: ['core_lib'] },
        { name: 'alpha_one', path: 'kernel/drivers/a/alpha-one.ko', depends: ['beta', 'core_lib'] },
      ],
    );
    assert.equal(set[0]?.modinfo.vermagic?.split(' ')[0], RELEASE);
  });

  test('built-in modules need no file', async () => {
    assert.deepEqual(await resolveModules(modulesDir, ['xenbus', 'ext4']), []);
    const set = await resolveModuleSet(modulesDir, ['uses-builtin']);
    assert.deepEqual(
      set.map((module) => [module.name, module.depends]),
      [
        ['core_lib', []],
        ['uses_builtin', ['core_lib']],
      ],
    );
  });

  test('a dependency cycle is an error naming it', async () => {
    await assert.rejects(
      resolveModules(modulesDir, ['cyc_one']),
      (error: unknown) =>
        error instanceof ImageFormatError &&
        /cycle: cyc_one -> cyc_two -> cyc_one/.test(error.message),
    );
  });

  test('a missing module is an error naming it', async () => {
    await assert.rejects(
      resolveModules(modulesDir, ['no-such-module']),
      (error: unknown) => error instanceof ImageFormatError && /no_such_module/.test(error.message),
    );
    await assert.rejects(
      resolveModules(modulesDir, ['needs-ghost']),
      (error: unknown) =>
        error instanceof ImageFormatError && /ghost \(needed by needs_ghost\)/.test(error.message),
    );
    await assert.rejects(resolveModules(modulesDir, ['../beta']), ImageFormatError);
  });

  test('a module that is not ELF is an error naming its file', async () => {
    await assert.rejects(
      resolveModules(modulesDir, ['broken']),
      (error: unknown) =>
        error instanceof ImageFormatError && /kernel\/drivers\/e\/broken\.ko/.test(error.message),
    );
  });

  test('a missing modules.builtin and modules.order are treated as empty', async () => {
    const bare = join(work, 'bare');
    await writeFakeModulesTree(bare, RELEASE, [{ path: 'extra/solo.ko' }]);
    await rm(join(bare, 'modules.builtin'));
    await rm(join(bare, 'modules.order'));
    assert.deepEqual(await resolveModules(bare, ['solo']), [join(bare, 'extra/solo.ko')]);
    await assert.rejects(resolveModules(bare, ['xenbus']), ImageFormatError);
  });
});
