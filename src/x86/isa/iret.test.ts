/** IRET (iret.ts) in the emulator: task returns, back to VM86 mode, IRETQ in long mode. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reg } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Flag } from '../flags.js';
import { Seg } from '../segments.js';
import { assemble } from '../testing/native/assemble.js';
import {
  CODE,
  dwords,
  ESP0,
  longMode,
  next,
  protectedMode,
  reg,
} from '../testing/system-machines.js';

describe('IRET in protected mode', () => {
  test('IRET with NT set is #GP(0): task returns are not implemented', () => {
    const { machine, cpu } = protectedMode('push $0x4002\n popf\n iret');
    assert.equal(next(cpu), 13);
    assert.deepEqual(dwords(machine, reg(cpu, Reg.RSP), 2), [0, CODE + 6]);
  });

  test('IRETD to VM86 mode, INT back to the protected-mode handler with the VM86 segments', () => {
    const { machine, cpu } = protectedMode(`
      push $0x5000   # GS
      push $0x4000   # FS
      push $0x3000   # DS
      push $0x2800   # ES
      push $0x2000   # SS
      push $0x0100   # ESP
      push $0x23202  # EFLAGS: VM, IOPL 3, IF
      push $0x1800   # CS
      push $0x0000   # EIP
      iret
    `);
    machine.write(
      0x18000,
      assemble('mov $0x42, %al\n mov %ds, %bx\n int $0x30', 16, { origin: 0 }),
    );
    assert.equal(next(cpu), 0x30);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.flags & Flag.VM, 0);
    assert.equal(reg(cpu, Reg.RSP), ESP0 - 36);
    const frame = dwords(machine, ESP0 - 36, 9);
    assert.deepEqual(frame, [6, 0x1800, frame[2], 0x100, 0x2000, 0x2800, 0x3000, 0x4000, 0x5000]);
    assert.ok(frame[2]! & Flag.VM);
    assert.equal(reg(cpu, Reg.RAX) & 0xff, 0x42);
    assert.equal(reg(cpu, Reg.RBX) & 0xffff, 0x3000);
    assert.equal(cpu.segSel[Seg.DS], 0, 'data segments are nulled on entry from VM86');
    // The stub's IRET goes back to VM86 mode, after the INT.
    const exit = cpu.run(1);
    assert.equal(exit.reason, ExitReason.Budget);
    assert.ok(cpu.flags & Flag.VM);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.segSel[Seg.DS], 0x3000);
    assert.equal(cpu.segBaseLo[Seg.DS], 0x30000);
    assert.equal(cpu.ripLo, 6);
  });
});

describe('IRET in long mode', () => {
  test('IRETQ at CPL 0 with a null SS; non-canonical RIP is #GP(0)', () => {
    const { machine, cpu } = longMode(`
      mov %rsp, %rbx
      push $0
      push %rbx
      pushfq
      push $0x08
      lea 1f(%rip), %rax
      push %rax
      iretq
    1:
      mov %ss, %ecx
      push $0x10
      push %rbx
      pushfq
      push $0x08
      movabs $0x0000800000000000, %rax
      push %rax
      iretq
    `);
    assert.equal(next(cpu), 13);
    assert.equal(reg(cpu, Reg.RCX), 0, 'SS is the null selector');
    assert.equal(cpu.segSel[Seg.SS], 0);
    assert.equal(dwords(machine, reg(cpu, Reg.RSP), 1)[0], 0);
  });
});
