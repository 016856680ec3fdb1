import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AssembleError, assemble, assembleMany } from './assemble.js';
import {
  defaultFxsave,
  LAYOUT,
  type NativeCase,
  type NativeResult,
  NativeRunnerError,
  runNative,
} from './native.js';

const CODE = BigInt(LAYOUT.code);
const RAX = 0;
const RCX = 1;
const RDX = 2;
const RBX = 3;
const RSP = 4;

// Flags as the CPU reports them at CPL 3: IF and the reserved bit 1 are always set.
const CF = 0x1;
const PF = 0x4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const DF = 0x400;
const OF = 0x800;
const AC = 0x40000;
const ID = 0x200000;
const ALWAYS = 0x202;

function gprs(values: Partial<Record<number, bigint>>): bigint[] {
  const list = Array.from({ length: 16 }, (_, i): bigint => (i === RSP ? LAYOUT.defaultRsp : 0n));
  for (const [i, v] of Object.entries(values)) if (v !== undefined) list[Number(i)] = v;
  return list;
}

function one(c: NativeCase): NativeResult {
  const [result] = runNative([c]);
  assert.ok(result);
  return result;
}

function u64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true);
}

describe('native runner', () => {
  test('add %rbx,%rax: sum and CF ZF SF OF PF AF', () => {
    const code = assemble('add %rbx, %rax');
    const [overflow, wrap, plain] = runNative([
      { code, gpr: gprs({ [RAX]: 0x7fffffffffffffffn, [RBX]: 1n }) },
      { code, gpr: gprs({ [RAX]: 0xffffffffffffffffn, [RBX]: 1n }) },
      { code, gpr: gprs({ [RAX]: 0x10n, [RBX]: 0x21n }), rflags: CF | ZF },
    ]);
    assert.equal(overflow?.gpr[RAX], 0x8000000000000000n);
    assert.equal(overflow?.rflags, ALWAYS | OF | SF | AF | PF);
    assert.equal(wrap?.gpr[RAX], 0n);
    assert.equal(wrap?.rflags, ALWAYS | CF | ZF | AF | PF);
    assert.equal(plain?.gpr[RAX], 0x31n);
    assert.equal(plain?.rflags, ALWAYS); // 0x31 has odd parity; CF and ZF cleared
    for (const r of [overflow, wrap, plain]) {
      assert.equal(r?.rip, CODE + BigInt(code.length));
      assert.equal(r?.fault, undefined);
    }
  });

  test('every GPR and the settable flags pass through untouched', () => {
    const gpr = Array.from({ length: 16 }, (_, i) => 0x0101010101010101n * BigInt(i + 1));
    gpr[RSP] = 0x30001238n;
    const rflags = CF | PF | AF | ZF | SF | DF | OF | AC | ID;
    // One byte, so that the exit stub's jump is misaligned: it must not raise #AC.
    const r = one({ code: new Uint8Array([0x90]), gpr, rflags });
    assert.deepEqual(r.gpr, gpr);
    assert.equal(r.rflags, rflags | ALWAYS);
    assert.equal(r.rip, CODE + 1n);
    assert.deepEqual(r.fxsave.subarray(0, 28), defaultFxsave().subarray(0, 28)); // to MXCSR_MASK
    assert.throws(() => runNative([{ code: new Uint8Array(0), rflags: 0x100 }]), /rflags 0x100/);
  });

  test('div by zero: SIGFPE, #DE, RIP at the div', () => {
    const r = one({ code: assemble('xor %ecx, %ecx\n div %rcx'), gpr: gprs({ [RAX]: 5n }) });
    assert.equal(r.fault?.signal, 'SIGFPE');
    assert.equal(r.fault?.vector, 0);
    assert.equal(r.rip, CODE + 2n);
    assert.equal(r.gpr[RAX], 5n);
    assert.equal(r.gpr[RCX], 0n);
  });

  test('load from an unmapped address: SIGSEGV, #PF, CR2', () => {
    const r = one({ code: assemble('mov 0x40000000, %rax') });
    assert.equal(r.fault?.signal, 'SIGSEGV');
    assert.equal(r.fault?.vector, 14);
    assert.equal(r.fault?.address, 0x40000000n);
    assert.equal(r.fault?.errorCode, 0b100); // user, read, not present
    assert.equal(r.rip, CODE);
  });

  test('write to the code region is allowed; to a non-canonical address is #GP', () => {
    const [selfModify, gp] = runNative([
      { code: assemble('movw $0x9090, 1f(%rip)\n 1: ud2') },
      { code: assemble('movabs $0x8000000000000000, %rax\n mov (%rax), %rbx') },
    ]);
    assert.equal(selfModify?.fault, undefined); // the ud2 became two nops before it ran
    assert.equal(selfModify?.rip, CODE + 11n);
    assert.equal(gp?.fault?.signal, 'SIGSEGV');
    assert.equal(gp?.fault?.vector, 13);
  });

  test('ud2: SIGILL, #UD; int3: SIGTRAP, #BP, RIP after it', () => {
    const [ud, bp] = runNative([{ code: assemble('nop\n ud2') }, { code: assemble('int3') }]);
    assert.equal(ud?.fault?.signal, 'SIGILL');
    assert.equal(ud?.fault?.vector, 6);
    assert.equal(ud?.rip, CODE + 1n);
    assert.equal(bp?.fault?.signal, 'SIGTRAP');
    assert.equal(bp?.fault?.vector, 3);
    assert.equal(bp?.rip, CODE + 1n); // a trap: RIP is past the instruction
  });

  test('a misaligned load with AC set: SIGBUS, #AC', () => {
    const r = one({ code: assemble('mov 0x20000001, %eax'), rflags: AC });
    assert.equal(r.fault?.signal, 'SIGBUS');
    assert.equal(r.fault?.vector, 17);
  });

  test('system calls are refused with SIGSYS', () => {
    const r = one({ code: assemble('mov $39, %eax\n syscall'), gpr: gprs({ [RDX]: 7n }) });
    assert.equal(r.fault?.signal, 'SIGSYS');
    assert.equal(r.fault?.vector, -1);
    assert.equal(r.rip, CODE + 7n);
    assert.equal(r.gpr[RDX], 7n);
  });

  test('TF set by the snippet traps after the next instruction: SIGTRAP, #DB', () => {
    const code = assemble('pushfq\n orq $0x100, (%rsp)\n popfq\n nop\n nop');
    const r = one({ code });
    assert.equal(r.fault?.signal, 'SIGTRAP');
    assert.equal(r.fault?.vector, 1);
    assert.equal(r.rip, CODE + BigInt(code.length) - 1n); // after the first nop
    assert.equal(r.rflags & 0x100, 0x100);
  });

  test('a case cannot leak state into the next one', () => {
    const probe = assemble('rdfsbase %rax\n rdgsbase %rcx\n mov %es, %edx\n lea (%rip), %rbx');
    const results = runNative([
      // Leaves 64-bit mode through a far jump to the 32-bit user code segment, then faults.
      {
        code: assemble(`
          lea 1f(%rip), %eax
          movl %eax, 0x20000000
          movw $0x23, 0x20000004
          ljmp *0x20000000
          1: .code32
          ud2`),
      },
      { code: assemble('mov $0x1234, %eax\n wrfsbase %rax\n wrgsbase %rax\n mov %ax, %es') },
      { code: probe },
      { code: assemble('vpcmpeqd %ymm0, %ymm0, %ymm0') },
      { code: assemble('vmovdqu %ymm0, 0x20000000') },
    ]);
    assert.equal(results[0]?.fault?.signal, 'SIGILL');
    assert.equal(results[1]?.fault?.signal, 'SIGSEGV'); // 0x1234 is no selector: #GP
    assert.equal(results[1]?.fault?.vector, 13);
    const [fsBase, gsBase, es, rbx] = [RAX, RCX, RDX, RBX].map((i) => results[2]?.gpr[i]);
    assert.deepEqual([fsBase, gsBase, es], [0n, 0n, 0n]);
    assert.equal(rbx, CODE + BigInt(probe.length)); // decoded as 64-bit code
    if (results[3]?.fault?.signal !== 'SIGILL') {
      // With AVX: the upper half of YMM0 does not survive into the next case.
      assert.deepEqual(results[4]?.data.subarray(0, 32), new Uint8Array(32));
    }
  });

  test('an infinite loop times out and the batch goes on', () => {
    const started = performance.now();
    const [loop, after] = runNative(
      [{ code: assemble('jmp .') }, { code: assemble('mov $1, %eax') }],
      { timeoutMs: 200 },
    );
    const elapsed = performance.now() - started;
    assert.equal(loop?.fault?.signal, 'timeout');
    assert.equal(loop?.rip, CODE);
    assert.equal(after?.fault, undefined);
    assert.equal(after?.gpr[RAX], 1n);
    console.log(`native runner: a 200 ms timeout took ${Math.round(elapsed)} ms`);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`); // CPU time is counted; a busy host is slower
  });

  test('writes to the data region and pushes to the stack come back', () => {
    const data = new Uint8Array(64).fill(0xaa);
    const r = one({
      code: assemble(`
        movabs $0x1122334455667788, %rax
        mov %rax, 0x20000010
        movb $0x5a, 0x2000fff0
        push %rax
        pushq $-2
        mov 0x20000000, %rcx`),
      data,
    });
    assert.equal(r.fault, undefined);
    assert.equal(r.gpr[RCX], 0xaaaaaaaaaaaaaaaan);
    assert.equal(u64(r.data, 0x10), 0x1122334455667788n);
    assert.equal(u64(r.data, 0x18), 0xaaaaaaaaaaaaaaaan);
    assert.equal(r.data[0xfff0], 0x5a);
    assert.equal(r.data[0x40], 0);
    assert.equal(r.gpr[RSP], LAYOUT.defaultRsp - 16n);
    assert.equal(u64(r.stack, 0x8000 - 8), 0x1122334455667788n);
    assert.equal(u64(r.stack, 0x8000 - 16), 0xfffffffffffffffen);
    assert.equal(r.stack.length, LAYOUT.regionSize);
    assert.equal(r.stack.filter((b) => b !== 0).length, 16);
    assert.deepEqual(
      r.changes.data.map((c) => c.offset),
      [0, 0xffe0],
    );
  });

  test('every case starts from its own data and a zero stack', () => {
    const write = assemble('movl $-1, 0x20008000\n movl $-1, 0x20000050\n push %rax');
    const nop = assemble('nop');
    const fill = (length: number, value: number) => new Uint8Array(length).fill(value);
    const cases: NativeCase[] = [
      { code: write, data: fill(100, 0x11), gpr: gprs({ [RAX]: -1n }) },
      { code: nop },
      { code: write, data: fill(10, 0x33), gpr: gprs({ [RAX]: -1n, [RSP]: 0x30000100n }) },
      { code: nop, data: fill(200, 0x44) },
      { code: assemble('ud2'), data: fill(3, 0x55) },
      { code: nop, data: fill(LAYOUT.regionSize, 0x66) },
      { code: nop },
    ];
    const results = runNative(cases);
    results.forEach((r, i) => {
      const c = cases[i]!;
      const data = new Uint8Array(LAYOUT.regionSize);
      const stack = new Uint8Array(LAYOUT.regionSize);
      if (c.data) data.set(c.data);
      if (c.code === write) {
        data.fill(0xff, 0x8000, 0x8004);
        data.fill(0xff, 0x50, 0x54);
        const rsp = Number(c.gpr![RSP]! - BigInt(LAYOUT.stack));
        stack.fill(0xff, rsp - 8, rsp);
      }
      assert.deepEqual(r.data, data, `data of case ${i}`);
      assert.deepEqual(r.stack, stack, `stack of case ${i}`);
    });
  });

  test('memory written before a fault is returned with the fault', () => {
    const r = one({
      code: assemble('push %rbx\n movl $7, 0x20000100\n ud2'),
      gpr: gprs({ [RBX]: 9n }),
    });
    assert.equal(r.fault?.signal, 'SIGILL');
    assert.equal(u64(r.stack, 0x8000 - 8), 9n);
    assert.equal(r.data[0x100], 7);
  });

  test('FXRSTOR-loaded XMM values round-trip through paddq', () => {
    const fxsave = defaultFxsave();
    const view = new DataView(fxsave.buffer);
    const xmm = (i: number) => 160 + 16 * i;
    view.setBigUint64(xmm(0), 1n, true);
    view.setBigUint64(xmm(0) + 8, 0xffffffffffffffffn, true);
    view.setBigUint64(xmm(1), 10n, true);
    view.setBigUint64(xmm(1) + 8, 2n, true);
    view.setUint32(24, 0x9f80, true); // MXCSR with FTZ: loaded and saved as given
    const r = one({ code: assemble('paddq %xmm1, %xmm0'), fxsave });
    assert.equal(u64(r.fxsave, xmm(0)), 11n);
    assert.equal(u64(r.fxsave, xmm(0) + 8), 1n);
    assert.equal(u64(r.fxsave, xmm(1)), 10n);
    assert.equal(new DataView(r.fxsave.buffer, r.fxsave.byteOffset).getUint32(24, true), 0x9f80);

    // The next case starts from its own image, not from what the last one left.
    const next = one({ code: assemble('nop') });
    assert.equal(u64(next.fxsave, xmm(0)), 0n);

    const bad = defaultFxsave();
    new DataView(bad.buffer).setUint32(24, 0xffffffff, true);
    assert.throws(() => runNative([{ code: assemble('nop'), fxsave: bad }]), /MXCSR/);
  });

  test('10,000 trivial cases in one batch', () => {
    const code = assemble('add %rbx, %rax\n push %rax');
    const cases: NativeCase[] = Array.from({ length: 10_000 }, (_, i) => ({
      code,
      gpr: gprs({ [RAX]: BigInt(i), [RBX]: 1n }),
    }));
    const started = performance.now();
    const results = runNative(cases);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `native runner: ${cases.length} cases in ${seconds.toFixed(3)} s (${Math.round(cases.length / seconds)} cases/s)`,
    );
    assert.equal(results.length, cases.length);
    results.forEach((r, i) => {
      assert.equal(r.gpr[RAX], BigInt(i + 1));
      assert.equal(r.changes.stack.length, 1);
    });
    assert.equal(u64(results[9999]!.stack, 0x7ff8), 10_000n);
  });

  test('a crash of the runner is reported with the case it was on', () => {
    const cases = Array.from({ length: 5 }, () => ({ code: assemble('nop') }));
    assert.throws(
      () => runNative(cases, { testOnlyCrashAtCase: 3 }),
      (error: unknown) => {
        assert.ok(error instanceof NativeRunnerError);
        assert.match(error.message, /killed by SIGSEGV running batch of cases 0\.\.4/);
        assert.match(error.message, /fault outside a snippet: signal 11 .* case 3/);
        return true;
      },
    );
  });

  test('a missing gcc is reported as such', () => {
    const bin = mkdtempSync(join(tmpdir(), 'xenotype-nogcc-'));
    const path = process.env.PATH;
    try {
      symlinkSync('/bin/sh', join(bin, 'sh'));
      process.env.PATH = bin;
      assert.throws(
        () => runNative([{ code: new Uint8Array(0) }], { cacheDir: join(bin, 'cache') }),
        /"gcc" is not installed.*apt-get install gcc/,
      );
    } finally {
      process.env.PATH = path;
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe('assemble', () => {
  test('links at the code address', () => {
    const code = assemble('1: lea 1b(%rip), %rax\n mov $1b, %ebx\n movabs $2f, %rcx\n 2:');
    const r = one({ code });
    assert.equal(r.gpr[RAX], CODE);
    assert.equal(r.gpr[RBX], CODE);
    assert.equal(r.gpr[RCX], CODE + BigInt(code.length));
  });

  test('many snippets at once: own labels, Intel syntax, 32-bit', () => {
    const [a, b, c, d] = assembleMany([
      'loop: dec %rcx\n jnz loop\n mov $loop, %eax # loop back',
      '.intel_syntax noprefix\nloop: loop loop\n lea rdx, [rip + loop]',
      'nop',
      '',
    ]);
    assert.deepEqual([...(c ?? [])], [0x90]);
    assert.equal(d?.length, 0);
    const [ra, rb] = runNative([
      { code: a!, gpr: gprs({ [RCX]: 3n }) },
      { code: b!, gpr: gprs({ [RCX]: 3n }) },
    ]);
    assert.equal(ra?.gpr[RAX], CODE);
    assert.equal(ra?.gpr[RCX], 0n);
    assert.equal(rb?.gpr[RCX], 0n);
    assert.equal(rb?.gpr[RDX], CODE);
    assert.deepEqual([...assemble('inc %eax', 32)], [0x40]);
    assert.deepEqual([...assemble('inc %ax', 16)], [0x40]);
  });

  test('errors name the snippet and line', () => {
    assert.throws(
      () => assembleMany(['nop', 'nop\n frobnicate %rax']),
      (error: unknown) => error instanceof AssembleError && /snippet 1 line 2:/.test(error.message),
    );
  });
});
