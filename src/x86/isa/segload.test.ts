/** PUSH/POP Sreg and LDS/LES/LSS/LFS/LGS (segload.ts) in the emulator. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reg } from '../cpu.js';
import { Seg } from '../segments.js';
import { CODE64, dwords, longMode, next, protectedMode, reg } from '../testing/system-machines.js';

describe('segment loads in protected mode', () => {
  test('LDS/LES/LSS load a far pointer; PUSH/POP of segment registers; POP SS blocks interrupts for one instruction', () => {
    const { cpu } = protectedMode(`
      movl $0x11223344, 0x50000
      movw $0x20, 0x50004
      lds 0x50000, %ebx
      mov %ds, %ecx
      mov $0x10, %eax
      mov %eax, %ds
      les 0x50000, %esi
      push %es
      pop %fs
      mov %fs, %edx
      push %ss
      pop %ss
      push %ds
      pop %gs
    `);
    assert.equal(next(cpu), -1);
    assert.equal(reg(cpu, Reg.RBX), 0x11223344);
    assert.equal(reg(cpu, Reg.RCX) & 0xffff, 0x20);
    assert.equal(reg(cpu, Reg.RSI), 0x11223344);
    assert.equal(reg(cpu, Reg.RDX) & 0xffff, 0x20);
    assert.equal(cpu.segSel[Seg.GS], 0x10);
    assert.equal(reg(cpu, Reg.RSP), 0x80000);
  });

  test('segment loads check the descriptor: #GP for a read-only SS, #NP for a not-present data segment', () => {
    for (const [source, vector, code] of [
      ['mov $0x50, %eax\n mov %eax, %ss', 13, 0x50],
      ['mov $0x58, %eax\n mov %eax, %es', 11, 0x58],
      ['push $0x58\n pop %fs', 11, 0x58],
      ['movl $0, 0x50000\n movw $0x58, 0x50004\n lgs 0x50000, %eax', 11, 0x58],
    ] as const) {
      const { machine, cpu } = protectedMode(source);
      assert.equal(next(cpu), vector, source);
      assert.equal(dwords(machine, reg(cpu, Reg.RSP), 1)[0], code);
    }
  });
});

describe('segment loads in long mode', () => {
  test('LFS/LGS with m16:64; LDS/LES (C4/C5 are VEX: #UD without AVX), PUSH ES, UD2, UD1 are #UD in 64-bit mode', () => {
    const { cpu } = longMode(`
      movabs $0x1122334455667788, %rax
      mov %rax, 0x8000
      movw $0x10, 0x8008
      .byte 0x48, 0x0f, 0xb4, 0x1c, 0x25, 0x00, 0x80, 0x00, 0x00  # lfs 0x8000, %rbx (m16:64)
      .byte 0x48, 0x0f, 0xb5, 0x34, 0x25, 0x00, 0x80, 0x00, 0x00  # lgs 0x8000, %rsi
    `);
    assert.equal(next(cpu), -1);
    assert.equal(reg(cpu, Reg.RBX), 0x55667788);
    assert.equal(cpu.gpr[Reg.RBX * 2 + 1], 0x11223344);
    assert.equal(cpu.segSel[Seg.FS], 0x10);
    assert.equal(cpu.segSel[Seg.GS], 0x10);
    assert.equal(reg(cpu, Reg.RSI), 0x55667788);
    for (const bytes of [
      [0xc5, 0xf8, 0x77],
      [0xc4, 0xe2, 0x79, 0x18, 0x00],
      [0x06],
      [0x0f, 0x0b],
      [0x0f, 0xb9, 0xc0],
    ]) {
      const { machine, cpu: c } = longMode('nop');
      machine.write(CODE64, new Uint8Array(bytes));
      assert.equal(next(c), 6, bytes.map((b) => b.toString(16)).join(' '));
    }
  });
});
