import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireTool } from '../../testing/host-tools.js';
import { ExitReason } from '../exit.js';
import { TestMachine } from './machine.js';

function assemble(source: string): Uint8Array {
  requireTool('as', 'binutils');
  const dir = mkdtempSync(join(tmpdir(), 'xenotype-as-'));
  try {
    writeFileSync(join(dir, 'a.s'), `.text\n${source}\n`);
    execFileSync('as', ['--64', '-o', join(dir, 'a.o'), join(dir, 'a.s')]);
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a 64-bit loop runs to VMCALL with the right registers', () => {
  const machine = new TestMachine();
  machine.map(0x100000, 0x2000);
  machine.write(
    0x100000,
    assemble(`
      mov $10, %ecx
      xor %eax, %eax
    1: add %rcx, %rax
      dec %ecx
      jnz 1b
      movabs $0x123456789abcdef0, %rdx
      push %rdx
      pop %rbx
      lea 8(%rbx,%rax,2), %rsi
      vmcall
    `),
  );
  const cpu = machine.enterLongMode();
  cpu.gpr[8] = 0x101ff0; // rsp
  cpu.ripLo = 0x100000;
  const exit = cpu.run(1000);
  assert.equal(exit.reason, ExitReason.Hypercall);
  assert.equal(cpu.gpr[0], 55);
  assert.equal(cpu.gpr[3 * 2]! >>> 0, 0x9abcdef0);
  assert.equal(cpu.gpr[3 * 2 + 1]! >>> 0, 0x12345678);
  assert.equal(cpu.gpr[6 * 2]! >>> 0, 0x9abcdef0 + 8 + 110);
});
