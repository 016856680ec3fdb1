/** SYSCALL/SYSRET and SYSENTER/SYSEXIT (syscall.ts) in the emulator. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reg } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Seg } from '../segments.js';
import { CODE64, longMode, next, protectedMode, reg } from '../testing/system-machines.js';

describe('SYSENTER and SYSEXIT in protected mode', () => {
  test('SYSENTER and SYSEXIT in protected mode', () => {
    const { cpu } = protectedMode(`
      mov $0x174, %ecx
      mov $0x08, %eax
      xor %edx, %edx
      wrmsr
      mov $0x175, %ecx
      mov $0x90000, %eax
      wrmsr
      mov $0x176, %ecx
      mov $entry, %eax
      wrmsr
      mov $user, %edx
      mov $0x70000, %ecx
      sysexit
    user:
      vmcall
      sysenter
    entry:
      mov %esp, %ebx
    `);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.segSel[Seg.CS], 0x1b);
    assert.equal(cpu.segSel[Seg.SS], 0x23);
    assert.equal(reg(cpu, Reg.RSP), 0x70000);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.segSel[Seg.CS], 0x08);
    assert.equal(cpu.segSel[Seg.SS], 0x10);
    assert.equal(reg(cpu, Reg.RBX), 0x90000);
  });
});

describe('SYSCALL, SYSRET, SYSENTER and SYSEXIT in long mode', () => {
  test('SYSCALL exits to the hypervisor when syscallExits is set, RIP past it', () => {
    const { cpu } = longMode('syscall\n nop');
    cpu.syscallExits = true;
    const exit = cpu.run(100);
    assert.equal(exit.reason, ExitReason.Syscall);
    assert.equal(cpu.ripLo, CODE64 + 2);
    assert.equal(cpu.cpl, 0);
  });

  test('SYSRET at CPL 3 is #GP(0), SYSRET to a non-canonical RCX is #GP(0) at CPL 0; SYSCALL without SCE is #UD', () => {
    const { cpu } = longMode('movabs $0x0000800000000000, %rcx\n sysretq');
    assert.equal(next(cpu), 13);
    assert.equal(cpu.cpl, 0);
    const second = longMode('syscall');
    second.cpu.efer &= ~1;
    assert.equal(next(second.cpu), 6);
  });

  test('SYSENTER and SYSEXITQ in 64-bit mode', () => {
    const { cpu } = longMode(`
      mov $0x174, %ecx
      mov $0x08, %eax
      xor %edx, %edx
      wrmsr
      mov $0x175, %ecx
      mov $0x9000, %eax
      wrmsr
      mov $0x176, %ecx
      lea entry(%rip), %eax
      wrmsr
      lea user(%rip), %rdx
      mov $0x70000, %ecx
      sysexitq
    user:
      vmcall
      sysenter
    entry:
      mov %rsp, %rbx
    `);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.codeSize, 64);
    assert.equal(cpu.segSel[Seg.CS], 0x2b);
    assert.equal(cpu.segSel[Seg.SS], 0x33);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.segSel[Seg.CS], 0x08);
    assert.equal(reg(cpu, Reg.RBX), 0x9000);
  });
});
