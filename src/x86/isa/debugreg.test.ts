/** MOV to and from the debug registers (debugreg.ts) in the emulator. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reg } from '../cpu.js';
import { assemble } from '../testing/native/assemble.js';
import { longMode, next, reg } from '../testing/system-machines.js';
import { UserModeMachine } from '../testing/user-mode.js';

describe('debug registers', () => {
  test('debug registers: storage, DR6/DR7 fixed bits, DR4/DR5 aliases, #GP at CPL 3', () => {
    const { cpu } = longMode(`
      movabs $0x123456789a, %rax
      mov %rax, %dr0
      mov %dr0, %rbx
      xor %eax, %eax
      mov %rax, %dr6
      mov %dr6, %rcx
      mov $0xffffffff, %eax
      mov %rax, %dr7
      mov %dr7, %rdx
      mov %dr5, %rsi
    `);
    assert.equal(next(cpu), -1);
    assert.equal(cpu.gpr[Reg.RBX * 2 + 1], 0x12);
    assert.equal(reg(cpu, Reg.RBX), 0x3456789a);
    assert.equal(reg(cpu, Reg.RCX), 0xffff0ff0);
    assert.equal(reg(cpu, Reg.RDX), 0xffff27ff);
    assert.equal(reg(cpu, Reg.RSI), 0xffff27ff);
    const user = new UserModeMachine();
    const result = user.run({ code: assemble('mov %dr7, %rax') });
    assert.equal(result.fault?.vector, 13);
  });
});
