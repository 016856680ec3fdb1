// Far transfers, IRET, SYSCALL/SYSENTER, segment loads, descriptor-table instructions, debug
// registers and the NOP/UD forms: in the emulator for what needs privilege, and against the
// host CPU for what user mode can run (ENTER/LEAVE, LAR/LSL/VERR/VERW, hint NOPs, fences).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Cpu, Cr0, Reg } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Flag } from '../flags.js';
import { Seg } from '../segments.js';
import { TestMachine } from '../testing/machine.js';
import { assemble, assembleMany } from '../testing/native/assemble.js';
import { LAYOUT, runNative } from '../testing/native/native.js';
import { differences, UserModeMachine } from '../testing/user-mode.js';

const CODE = 0x10000;
const GDT = 0x7000;
const IDT = 0x8000;
const STUBS = 0x9000;
const TSS = 0x6000;
const ESP0 = 0x9f000;

const reg = (cpu: Cpu, n: number): number => cpu.gpr[n * 2]! >>> 0;

/** GDT for the protected-mode tests, by selector. */
const DESCRIPTORS: [number, number, number][] = [
  [0x08, 0x0000ffff, 0x00cf9b00], // code32 DPL 0
  [0x10, 0x0000ffff, 0x00cf9300], // data DPL 0
  [0x18, 0x0000ffff, 0x00cffb00], // code32 DPL 3
  [0x20, 0x0000ffff, 0x00cff300], // data DPL 3
  [0x28, (TSS << 16) | 0x67, 0x00008900], // 32-bit TSS
  [0x30, 0x0000ffff, 0x00009b00], // code16 DPL 0, base 0, 64 KiB
  [0x38, 0x0000ffff, 0x00cf1b00], // code32, not present
  [0x40, 0x0000ffff, 0x00cf9f00], // conforming code32 DPL 0
  [0x50, 0x0000ffff, 0x00cf9100], // data DPL 0, read-only
  [0x58, 0x0000ffff, 0x00cf1300], // data, not present
];

/**
 * A machine in 32-bit protected mode at CPL 0, flat segments, a TSS whose ring-0 stack is
 * ESP0, and an IDT sending vector v to a stub at STUBS + 8v (VMCALL; IRET); `source` runs at
 * CODE.
 */
function protectedMode(source: string): { machine: TestMachine; cpu: Cpu } {
  const machine = new TestMachine();
  machine.map(0, 0x100000);
  machine.write(CODE, assemble(`${source}\nvmcall`, 32, { origin: CODE }));
  for (const [selector, lo, hi] of DESCRIPTORS) {
    machine.write32(GDT + selector, lo);
    machine.write32(GDT + selector + 4, hi);
  }
  machine.write32(TSS + 4, ESP0);
  machine.write32(TSS + 8, 0x10);
  machine.write32(TSS + 0x64, 0x68 << 16); // no I/O bitmap
  for (let vector = 0; vector < 256; vector++) {
    const stub = STUBS + vector * 8;
    machine.write(stub, new Uint8Array([0x0f, 0x01, 0xc1, 0xcf]));
    machine.write32(IDT + vector * 8, (0x08 << 16) | (stub & 0xffff));
    machine.write32(
      IDT + vector * 8 + 4,
      (stub & 0xffff0000) | (vector === 0x80 || vector === 0x30 ? 0xee00 : 0x8e00),
    );
  }
  const cpu = machine.cpu;
  cpu.reset();
  cpu.cr0 |= Cr0.PE;
  cpu.gdtBaseLo = GDT;
  cpu.gdtLimit = 0x5f;
  cpu.idtBaseLo = IDT;
  cpu.idtLimit = 0x7ff;
  const flat = (seg: Seg, selector: number, attr: number): void => {
    cpu.segSel[seg] = selector;
    cpu.segBaseLo[seg] = 0;
    cpu.segLimit[seg] = -1;
    cpu.segAttr[seg] = attr;
  };
  flat(Seg.CS, 0x08, 0xc09b);
  for (const seg of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) flat(seg, 0x10, 0xc093);
  cpu.segSel[Seg.TR] = 0x28;
  cpu.segBaseLo[Seg.TR] = TSS;
  cpu.segLimit[Seg.TR] = 0x67;
  cpu.segAttr[Seg.TR] = 0x8b;
  cpu.updateMode();
  cpu.gpr[Reg.RSP * 2] = 0x80000;
  cpu.ripLo = CODE;
  return { machine, cpu };
}

/** Runs to the next VMCALL; returns the vector whose stub it is, or -1 for the test's own. */
function next(cpu: Cpu): number {
  const exit = cpu.run(100_000);
  assert.equal(
    exit.reason,
    ExitReason.Hypercall,
    `exit ${exit.reason} at ${cpu.ripLo.toString(16)}: ${exit.message}`,
  );
  const at = cpu.ripLo - 3 - STUBS;
  return at >= 0 && at < 256 * 8 && at % 8 === 0 ? at / 8 : -1;
}

function dwords(machine: TestMachine, address: number, count: number): number[] {
  const view = new DataView(machine.read(address, count * 4).buffer);
  return Array.from({ length: count }, (_, i) => view.getUint32(i * 4, true));
}

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

  test('LTR marks the TSS busy, LLDT loads an LDT that segment loads then use; STR and SLDT read them', () => {
    const { machine, cpu } = protectedMode(`
      mov $0x28, %eax
      ltr %ax
      mov $0x60, %eax
      lldt %ax
      mov $0x0c, %eax
      mov %eax, %es
      str %ebx
      sldt %ecx
    `);
    // An LDT at 0x58000 with one data segment (selector 0x0c: index 1, TI, RPL 0), base 0x1000.
    machine.write32(GDT + 0x60, (0x8000 << 16) | 0x0f);
    machine.write32(GDT + 0x64, 0x00008205);
    machine.write32(0x58008, 0x1000ffff);
    machine.write32(0x5800c, 0x00cf9300);
    cpu.gdtLimit = 0x67;
    cpu.segAttr[Seg.TR] = 0;
    assert.equal(next(cpu), -1);
    assert.equal(cpu.segAttr[Seg.TR]! & 0xf, 0xb);
    assert.equal((dwords(machine, GDT + 0x2c, 1)[0]! >> 8) & 0xf, 0xb, 'the descriptor is busy');
    assert.equal(cpu.segBaseLo[Seg.LDTR], 0x58000);
    assert.equal(cpu.segBaseLo[Seg.ES], 0x1000);
    assert.equal(reg(cpu, Reg.RBX), 0x28);
    assert.equal(reg(cpu, Reg.RCX), 0x60);
  });

  test('LTR of a busy TSS is #GP(sel); LLDT of a non-LDT is #GP(sel); both need CPL 0', () => {
    for (const [source, code] of [
      ['mov $0x28, %eax\n ltr %ax\n ltr %ax', 0x28],
      ['mov $0x10, %eax\n lldt %ax', 0x10],
    ] as const) {
      const { machine, cpu } = protectedMode(source);
      assert.equal(next(cpu), 13);
      assert.equal(dwords(machine, reg(cpu, Reg.RSP), 1)[0], code);
    }
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

// ---------------------------------------------------------------------------------------

const CODE64 = 0x100000;

function longMode(source: string): { machine: TestMachine; cpu: Cpu } {
  const machine = new TestMachine();
  machine.map(CODE64, 0x10000);
  machine.map(0x8000, 0x8000);
  machine.write(CODE64, assemble(`${source}\n vmcall`, 64, { origin: CODE64 }));
  for (let vector = 0; vector < 32; vector++) {
    const stub = STUBS + vector * 8;
    machine.write(stub, new Uint8Array([0x0f, 0x01, 0xc1, 0xf4]));
    machine.write32(IDT + vector * 16, (0x08 << 16) | (stub & 0xffff));
    machine.write32(IDT + vector * 16 + 4, 0x8e00);
  }
  const cpu = machine.enterLongMode();
  cpu.idtBaseLo = IDT;
  cpu.idtLimit = 32 * 16 - 1;
  cpu.gpr[Reg.RSP * 2] = CODE64 + 0xf000;
  cpu.ripLo = CODE64;
  return { machine, cpu };
}

describe('far transfers and system instructions in long mode', () => {
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

  test('LAR/LSL/VERR/VERW on the LDT and TSS descriptors; SLDT of a null LDTR', () => {
    const { machine, cpu } = longMode(`
      mov $0x30, %eax
      ltr %ax
      mov $0x40, %eax
      lldt %ax
      lar %eax, %ebx
      lsl %eax, %ecx
      mov $0x30, %eax
      lar %eax, %edx
      verr %ax
      setz %sil
      mov $0x10, %eax
      verw %ax
      setz %dil
    `);
    // 64-bit TSS at 0x9800 (limit 0x67) and LDT at 0x9900 (limit 0x17), 16-byte descriptors.
    machine.write32(0x7030, (0x9800 << 16) | 0x67);
    machine.write32(0x7034, 0x00008900);
    machine.write32(0x7038, 0);
    machine.write32(0x703c, 0);
    machine.write32(0x7040, (0x9900 << 16) | 0x17);
    machine.write32(0x7044, 0x00008200);
    machine.write32(0x7048, 0);
    machine.write32(0x704c, 0);
    cpu.gdtLimit = 0x4f;
    assert.equal(next(cpu), -1);
    assert.equal(reg(cpu, Reg.RBX), 0x8200);
    assert.equal(reg(cpu, Reg.RCX), 0x17);
    assert.equal(reg(cpu, Reg.RDX), 0x8b00, 'the TSS is busy after LTR');
    assert.equal(reg(cpu, Reg.RSI) & 0xff, 0, 'VERR of a TSS: not a segment');
    assert.equal(reg(cpu, Reg.RDI) & 0xff, 1, 'VERW of writable data');
    assert.equal(cpu.segBaseLo[Seg.TR], 0x9800);
  });
});

// ---------------------------------------------------------------------------------------

describe('against the host CPU', () => {
  test('ENTER/LEAVE at every nesting level, LAR/LSL/VERR/VERW of the user selectors, hint NOPs and fences', () => {
    const cases: { name: string; source: string }[] = [];
    for (const level of [0, 1, 2, 3, 5, 31, 32, 33]) {
      for (const size of ['q', 'w']) {
        cases.push({
          name: `enter${size} $0x24, $${level}`,
          source: `mov $${LAYOUT.stack + 0x8000}, %ebp\n mov %rsp, %rbx\n movq $0x1111, -8(%rbp)\n movq $0x2222, -16(%rbp)\n enter${size} $0x24, $${level}\n mov %rsp, %rcx\n mov %rbp, %rdx\n leave${size}`,
        });
      }
    }
    for (const selector of ['%cs', '%ss']) {
      cases.push({
        name: `lar/lsl/verr/verw ${selector}`,
        source: `mov ${selector}, %eax\n lar %eax, %ebx\n lsl %eax, %ecx\n lar %ax, %dx\n verr %ax\n setz %sil\n verw %ax\n setz %dil\n lsl %rax, %r8\n xor %eax, %eax`,
      });
    }
    for (const selector of [0, 3, 0x8, 0x10, 0x4, 0xfff8, 0x7]) {
      cases.push({
        name: `lar/lsl/verr of selector ${selector}`,
        source: `mov $-1, %ebx\n mov $-1, %ecx\n mov $${selector}, %eax\n lar %eax, %ebx\n setz %dl\n lsl %eax, %ecx\n setz %dh\n verr %ax\n setz %sil\n verw %ax\n setz %dil`,
      });
    }
    cases.push({
      name: 'hint NOPs, prefetches, fences, CLFLUSH, PAUSE, ENDBR64',
      source: `mov $${LAYOUT.data}, %esi
        nopw 0x0(%rax,%rax,1)
        nopl 0x12345678(%rsi,%rdi,4)
        .byte 0x0f, 0x1f, 0xc8
        .byte 0x0f, 0x19, 0x06
        .byte 0x0f, 0x1e, 0xfa
        prefetcht0 (%rsi)
        prefetchnta 8(%rsi)
        prefetchw (%rsi)
        prefetch (%rsi)
        lfence
        mfence
        sfence
        .byte 0x0f, 0xae, 0xe9
        clflush (%rsi)
        pause
        endbr64
        mov $1, %eax`,
    });
    const codes = assembleMany(cases.map((c) => c.source));
    const natives = cases.map((c, i) => ({ code: codes[i]!, name: c.name }));
    const results = runNative(natives.map(({ code }) => ({ code })));
    const emulator = new UserModeMachine();
    const failures: string[] = [];
    natives.forEach((c, i) => {
      const diff = differences(results[i]!, emulator.run({ code: c.code }));
      if (diff.length > 0) failures.push(`${c.name}:\n    ${diff.join('\n    ')}`);
    });
    assert.deepEqual(failures, []);
  });
});
