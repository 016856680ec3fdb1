/** Far JMP, CALL and RET (far.ts) in the emulator, in protected, real and long mode. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reg } from '../cpu.js';
import { Flag } from '../flags.js';
import { Seg } from '../segments.js';
import { TestMachine } from '../testing/machine.js';
import { assemble } from '../testing/native/assemble.js';
import {
  CODE,
  CODE64,
  dwords,
  ESP0,
  GDT,
  longMode,
  next,
  protectedMode,
  reg,
} from '../testing/system-machines.js';

describe('far transfers in protected mode', () => {
  test('far CALL and RET at the same level; far JMP; through a conforming segment', () => {
    const { machine, cpu } = protectedMode(`
      lcall $0x08, $target
      ljmp $0x40, $conforming
    target:
      mov %esp, %ebx
      mov (%esp), %ecx
      mov 4(%esp), %edx
      lret
    conforming:
      mov %cs, %eax
    `);
    assert.equal(next(cpu), -1);
    assert.equal(reg(cpu, Reg.RSP), 0x80000);
    assert.equal(reg(cpu, Reg.RBX), 0x80000 - 8);
    assert.equal(reg(cpu, Reg.RCX), CODE + 7, 'the return EIP');
    assert.equal(reg(cpu, Reg.RDX), 0x08, 'the return CS');
    assert.equal(reg(cpu, Reg.RAX) & 0xffff, 0x40, 'CS.RPL = CPL after a jump to conforming code');
    assert.equal(cpu.cpl, 0);
    assert.ok(dwords(machine, GDT + 0x44, 1)[0]! & 0x100, 'the accessed bit was set');
  });

  test('bad far JMP targets: #GP(0) for null, #GP(sel) for data, #NP(sel) for not present', () => {
    for (const [selector, vector, code] of [
      [0x00, 13, 0],
      [0x10, 13, 0x10],
      [0x38, 11, 0x38],
      [0x18, 13, 0x18], // non-conforming DPL 3 code from CPL 0
      [0x28, 13, 0x28], // a TSS: task switches are not implemented
      [0x1000, 13, 0x1000], // past the GDT limit
    ] as const) {
      const { machine, cpu } = protectedMode(`ljmp $${selector}, $0`);
      assert.equal(next(cpu), vector, `selector ${selector.toString(16)}`);
      const [error, eip] = dwords(machine, reg(cpu, Reg.RSP), 2);
      assert.equal(error, code);
      assert.equal(eip, CODE, 'the fault is reported at the far JMP');
    }
  });

  test('far RET to CPL 3 pops SS:ESP and nulls DS; INT from CPL 3 switches to the TSS stack; IRET returns', () => {
    const { machine, cpu } = protectedMode(`
      push $0x23
      push $0x70000
      push $0x1b
      push $user
      lret
    user:
      mov %ss, %eax
      mov %ds, %ebx
      mov %esp, %ecx
      vmcall
      int $0x80
      push $0x3203
      push %cs
      push $after
      iret
    after:
      setc %dl
      mov %esp, %esi
    `);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.cpl, 3);
    assert.equal(reg(cpu, Reg.RAX) & 0xffff, 0x23);
    assert.equal(reg(cpu, Reg.RBX) & 0xffff, 0, 'DS (DPL 0) became null');
    assert.equal(reg(cpu, Reg.RCX), 0x70000);
    assert.equal(next(cpu), 0x80);
    assert.equal(cpu.cpl, 0);
    assert.equal(reg(cpu, Reg.RSP), ESP0 - 20);
    const [eip, cs, eflags, esp, ss] = dwords(machine, ESP0 - 20, 5);
    assert.deepEqual([cs, esp, ss], [0x1b, 0x70000, 0x23]);
    assert.equal(eip! - CODE, 15 + 2 + 2 + 2 + 3 + 2, 'the return address after INT');
    assert.equal(eflags! & Flag.IOPL, 0);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.cpl, 3);
    assert.equal(reg(cpu, Reg.RDX) & 0xff, 1, 'IRET loaded CF');
    assert.equal(
      cpu.flags & (Flag.IF | Flag.IOPL),
      0,
      'IRET at CPL 3 cannot set IF (IOPL 0) or IOPL',
    );
    assert.equal(reg(cpu, Reg.RSI), 0x70000);
  });

  test('far RET imm16 to CPL 3 releases the parameters on both stacks', () => {
    const { machine, cpu } = protectedMode(`
      push $0x23
      push $0x70010
      push $0x2222
      push $0x1111
      push $0x1b
      push $user
      lret $8
    user:
      mov %esp, %ebx
    `);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.cpl, 3);
    assert.equal(reg(cpu, Reg.RBX), 0x70018);
    assert.equal(cpu.segSel[Seg.SS], 0x23);
    assert.deepEqual(dwords(machine, 0x80000 - 24, 2), [CODE + 27, 0x1b]);
  });

  test('far RET to CPL 3 with a DPL 0 stack segment is #GP(SS selector), nothing changed', () => {
    const { machine, cpu } = protectedMode(`
      push $0x13
      push $0x70000
      push $0x1b
      push $0
      lret
    `);
    assert.equal(next(cpu), 13);
    assert.equal(cpu.cpl, 0);
    const [error, eip, cs] = dwords(machine, reg(cpu, Reg.RSP), 3);
    assert.deepEqual([error, eip, cs], [0x10, CODE + 11, 0x08]);
  });

  test('16-bit far pointers and real-mode INT/IRET through the IVT', () => {
    const machine = new TestMachine();
    machine.map(0, 0x30000);
    machine.write(
      0x10000,
      assemble(
        `
        xor %ax, %ax
        mov %ax, %ds
        movw $0x0100, 0x84
        movw $0x2000, 0x86
        mov $0x8000, %sp
        mov %ax, %ss
        stc
        int $0x21
        lcall $0x2000, $0x200
        vmcall
        `,
        16,
        { origin: 0 },
      ),
    );
    machine.write(0x20100, assemble('mov %sp, %bx\n clc\n iret', 16, { origin: 0x100 }));
    machine.write(0x20200, assemble('mov %cs, %dx\n lret', 16, { origin: 0x200 }));
    const cpu = machine.cpu;
    cpu.reset();
    cpu.segSel[Seg.CS] = 0x1000;
    cpu.segBaseLo[Seg.CS] = 0x10000;
    cpu.ripLo = 0;
    assert.equal(next(cpu), -1);
    assert.equal(reg(cpu, Reg.RBX) & 0xffff, 0x8000 - 6);
    assert.equal(cpu.flags & Flag.CF, Flag.CF, 'IRET restored the flags INT saved');
    assert.equal(reg(cpu, Reg.RDX) & 0xffff, 0x2000);
    assert.equal(cpu.segSel[Seg.CS], 0x1000);
    assert.equal(reg(cpu, Reg.RSP) & 0xffff, 0x8000);
  });
});

describe('far transfers in long mode', () => {
  test('far JMP through m16:64 and m16:32 into 64-bit and compatibility mode; far CALL and RETQ', () => {
    const { cpu } = longMode(`
      lea 1f(%rip), %rax
      mov %rax, 0x8000
      movw $0x08, 0x8008
      rex.W ljmp *0x8000
    1:
      movl $compat, 0x8010
      movw $0x28, 0x8014
      ljmp *0x8010
    .code32
    compat:
      mov $0x77, %ebx
      ljmp $0x08, $back
    .code64
    back:
      movq $far, 0x8020
      movw $0x08, 0x8028
      rex.W lcall *0x8020
      jmp done
    far:
      mov (%rsp), %rcx
      mov 8(%rsp), %rdx
      lretq
    done:
    `);
    assert.equal(next(cpu), -1);
    assert.equal(reg(cpu, Reg.RBX), 0x77);
    assert.equal(cpu.codeSize, 64);
    assert.equal(reg(cpu, Reg.RDX), 0x08);
    assert.ok(reg(cpu, Reg.RCX) > CODE64);
    assert.equal(reg(cpu, Reg.RSP), CODE64 + 0xf000);
  });
});
