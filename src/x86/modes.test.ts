// Mode transitions, written as a small boot program in assembly (GNU as, built at test time):
// real mode → 32-bit protected mode → PAE paging and EFER.LME → 64-bit mode → SYSRET to CPL 3
// and SYSCALL back → INT n through the 64-bit IDT and IRETQ → #GP and #PF from user mode
// with their frames → IRETQ into compatibility mode, INT from there, SYSCALL through CSTAR →
// a double fault on the IST stack → a triple fault, which shuts the vCPU down.
// Every VMCALL is a checkpoint where the test looks at the registers (EBP holds its number).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Cpu, Cr0, Efer, Reg } from './cpu.js';
import { ExitReason } from './exit.js';
import { Flag } from './flags.js';
import { Seg } from './segments.js';
import { TestMachine } from './testing/machine.js';
import { assemble } from './testing/native/assemble.js';

const ORIGIN = 0x1000;
const USER64 = 0x2800;
const USER32 = 0x2c00;
const IDT = 0x4000;
const TSS = 0x5000;
const RSP0 = 0x8f000;
const IST1 = 0x8e000;
const USER_STACK = 0x80000;

const PROGRAM = `
start16:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $0x9000, %sp
  mov $0x1234, %bx
  mov $1, %bp
  vmcall
  lgdtl gdt_ptr
  mov %cr0, %eax
  or $1, %al
  mov %eax, %cr0
  ljmpl $0x08, $start32

.code32
start32:
  mov $0x10, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov %ax, %fs
  mov %ax, %gs
  mov $0x90000, %esp
  mov $2, %ebp
  vmcall
  // Page tables at 0x70000: the first GiB identity-mapped with 2 MiB user pages; in the
  // second, one supervisor-only page at 0x40000000 and nothing else.
  mov $0x70000, %edi
  xor %eax, %eax
  mov $0x1000, %ecx
  cld
  rep stosl
  movl $0x71007, 0x70000
  movl $0x72007, 0x71000
  movl $0x73007, 0x71008
  mov $0x72000, %edi
  mov $0x87, %eax
  mov $512, %ecx
1:
  mov %eax, (%edi)
  add $0x200000, %eax
  add $8, %edi
  loop 1b
  movl $0x40000083, 0x73000
  mov $0x70000, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $0x20, %eax
  mov %eax, %cr4
  mov $0xc0000080, %ecx
  rdmsr
  or $0x101, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80000000, %eax
  mov %eax, %cr0
  mov $3, %ebp
  vmcall
  ljmp $0x18, $start64

.code64
start64:
  mov $0x20, %ax
  mov %ax, %ss
  mov $0x90000, %esp
  movabs $0x1122334455667788, %rax
  mov $4, %ebp
  vmcall
  movq $${RSP0}, ${TSS + 4}
  movq $${IST1}, ${TSS + 0x24}
  mov $0x40, %ax
  ltr %ax
  mov $${IDT + 13 * 16}, %edi
  lea gp_handler(%rip), %esi
  mov $0x8e00, %edx
  call set_gate
  mov $${IDT + 14 * 16}, %edi
  lea pf_handler(%rip), %esi
  call set_gate
  mov $${IDT + 8 * 16}, %edi
  lea df_handler(%rip), %esi
  mov $0x8e01, %edx
  call set_gate
  mov $${IDT + 0x80 * 16}, %edi
  lea int80_handler(%rip), %esi
  mov $0xee00, %edx
  call set_gate
  mov $${IDT + 0x81 * 16}, %edi
  lea int81_handler(%rip), %esi
  mov $0x8e00, %edx
  call set_gate
  lidt idt_ptr(%rip)
  mov $0xc0000081, %ecx
  xor %eax, %eax
  mov $0x00280018, %edx
  wrmsr
  mov $0xc0000082, %ecx
  lea syscall_entry(%rip), %eax
  xor %edx, %edx
  wrmsr
  mov $0xc0000083, %ecx
  wrmsr
  mov $0xc0000084, %ecx
  mov $0x700, %eax
  wrmsr
  mov $0x5555, %ebx
  int $0x81
  mov $5, %ebp
  vmcall
  mov $${USER64}, %ecx
  mov $0x602, %r11d
  sysretq

set_gate:
  mov %esi, %eax
  or $0x180000, %eax
  mov %eax, (%rdi)
  mov %edx, 4(%rdi)
  movq $0, 8(%rdi)
  ret

int81_handler:
  mov $0x81, %ebx
  iretq

syscall_entry:
  mov $6, %ebp
  vmcall
  cmp $2, %edi
  je kernel_tests
  cmp $3, %edi
  je to_compat
  sysretq
to_compat:
  mov $0x90000, %esp
  pushq $0x33
  pushq $${USER_STACK}
  pushq $0x202
  pushq $0x2b
  pushq $${USER32}
  iretq

kernel_tests:
  mov $0x90000, %esp
  andb $0x7f, ${IDT + 13 * 16 + 5}
  mov $0x1234, %ax
  mov %ax, %ds
  hlt

df_handler:
  mov $9, %ebp
  vmcall
  andb $0x7f, ${IDT + 8 * 16 + 5}
  mov $0x1234, %ax
  mov %ax, %ds
  hlt

gp_handler:
  mov $7, %ebp
  vmcall
  add %r15, 8(%rsp)
  add $8, %rsp
  iretq

pf_handler:
  mov $8, %ebp
  vmcall
  add %r15, 8(%rsp)
  add $8, %rsp
  iretq

int80_handler:
  mov $10, %ebp
  vmcall
  iretq

.align 8
gdt:
  .quad 0
  .quad 0x00cf9a000000ffff
  .quad 0x00cf92000000ffff
  .quad 0x00af9a000000ffff
  .quad 0x00cf92000000ffff
  .quad 0x00cffa000000ffff
  .quad 0x00cff2000000ffff
  .quad 0x00affa000000ffff
  .long ${(((TSS & 0xffff) << 16) | 0x67) >>> 0}, ${((TSS >>> 16) & 0xff) | 0x8900 | (TSS & 0xff000000)}
  .quad 0
gdt_end:
gdt_ptr:
  .word gdt_end - gdt - 1
  .long gdt
idt_ptr:
  .word 0xfff
  .quad ${IDT}

.org ${USER64 - ORIGIN}
user64:
  mov $${USER_STACK}, %esp
  mov $11, %ebp
  vmcall
  mov $1, %edi
  lea 1f(%rip), %r12
  syscall
1:
  mov $12, %ebp
  vmcall
  lea 2f(%rip), %r12
  int $0x80
2:
  mov $13, %ebp
  vmcall
  mov $0x1234, %ax
  mov $2, %r15d
  mov %ax, %ds
  mov $0x40000000, %ebx
  mov $2, %r15d
  mov (%rbx), %eax
  mov $0x40200000, %ebx
  mov $6, %r15d
  movl $1, (%rbx)
  mov $14, %ebp
  vmcall
  mov $3, %edi
  syscall

.org ${USER32 - ORIGIN}
.code32
user32:
  mov $15, %ebp
  vmcall
  int $0x80
  mov $16, %ebp
  vmcall
  mov $2, %edi
  syscall
`;

function stack(machine: TestMachine, cpu: Cpu, count: number): bigint[] {
  const view = new DataView(machine.read(cpu.gpr[Reg.RSP * 2]!, count * 8).buffer);
  return Array.from({ length: count }, (_, i) => view.getBigUint64(i * 8, true));
}

const reg = (cpu: Cpu, n: number): number => cpu.gpr[n * 2]! >>> 0;
const regHi = (cpu: Cpu, n: number): number => cpu.gpr[n * 2 + 1]! >>> 0;

test('boot: real → protected → long mode, SYSCALL/SYSRET, INT/IRETQ, #GP, #PF, compatibility mode, #DF, triple fault', () => {
  const machine = new TestMachine();
  machine.map(0, 0x100000);
  machine.write(ORIGIN, assemble(PROGRAM, 16, { origin: ORIGIN }));
  const cpu = machine.cpu;
  cpu.reset();
  cpu.segSel[Seg.CS] = 0;
  cpu.segBaseLo[Seg.CS] = 0;
  cpu.ripLo = ORIGIN;
  cpu.ripHi = 0;

  const seen: number[] = [];
  const next = (): number => {
    const exit = cpu.run(1_000_000);
    assert.equal(
      exit.reason,
      ExitReason.Hypercall,
      `exit ${exit.reason} after checkpoint ${seen.at(-1)}: ${exit.message}`,
    );
    const id = reg(cpu, Reg.RBP) & 0xffff;
    seen.push(id);
    return id;
  };

  // 1: real mode.
  assert.equal(next(), 1);
  assert.equal(cpu.cr0 & Cr0.PE, 0);
  assert.equal(cpu.codeSize, 16);
  assert.equal(reg(cpu, Reg.RBX), 0x1234);

  // 2: 32-bit protected mode after LGDT, CR0.PE and a far jump.
  assert.equal(next(), 2);
  assert.equal(cpu.codeSize, 32);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.segSel[Seg.CS], 0x08);
  assert.equal(cpu.segSel[Seg.SS], 0x10);
  assert.equal(cpu.stackSize, 32);
  assert.equal(reg(cpu, Reg.RSP), 0x90000);

  // 3: paging on with EFER.LME: IA-32e mode, still running 32-bit code (compatibility mode).
  assert.equal(next(), 3);
  assert.ok(cpu.efer & Efer.LMA);
  assert.ok(cpu.cr0 & Cr0.PG);
  assert.equal(cpu.codeSize, 32);

  // 4: the far jump to a 64-bit code segment.
  assert.equal(next(), 4);
  assert.equal(cpu.codeSize, 64);
  assert.equal(cpu.segSel[Seg.CS], 0x18);
  assert.equal(reg(cpu, Reg.RAX), 0x55667788);
  assert.equal(regHi(cpu, Reg.RAX), 0x11223344);

  // 5: LTR marked the TSS busy; INT 0x81 and IRETQ at the same level restored RSP.
  assert.equal(next(), 5);
  assert.equal(reg(cpu, Reg.RBX), 0x81);
  assert.equal(reg(cpu, Reg.RSP), 0x90000);
  assert.equal(cpu.segSel[Seg.TR], 0x40);
  assert.equal(cpu.segAttr[Seg.TR]! & 0xf, 0xb);

  // 11: SYSRETQ to 64-bit user code.
  assert.equal(next(), 11);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.segSel[Seg.CS], 0x3b);
  assert.equal(cpu.segSel[Seg.SS], 0x33);
  assert.equal(cpu.codeSize, 64);
  assert.equal(cpu.readFlags() & 0x700, 0x600, 'RFLAGS from R11');

  // 6: SYSCALL: RCX = return address, R11 = RFLAGS, SFMASK cleared IF and DF.
  assert.equal(next(), 6);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.segSel[Seg.CS], 0x18);
  assert.equal(cpu.segSel[Seg.SS], 0x20);
  assert.equal(reg(cpu, Reg.RCX), reg(cpu, 12));
  assert.equal(reg(cpu, 11) & 0x602, 0x602);
  assert.equal(cpu.readFlags() & 0x700, 0);
  assert.equal(reg(cpu, Reg.RSP), USER_STACK, 'SYSCALL keeps RSP');

  // 12: SYSRETQ back.
  assert.equal(next(), 12);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.readFlags() & 0x600, 0x600);

  // 10: INT 0x80 from CPL 3: the stack comes from TSS.RSP0, the frame has SS:RSP.
  assert.equal(next(), 10);
  assert.equal(cpu.cpl, 0);
  assert.equal(reg(cpu, Reg.RSP), RSP0 - 40);
  const int80 = stack(machine, cpu, 5);
  assert.deepEqual(
    [int80[0], int80[1], int80[3], int80[4]],
    [BigInt(reg(cpu, 12)), 0x3bn, BigInt(USER_STACK), 0x33n],
  );
  assert.equal(Number(int80[2]!) & 0x702, 0x602, 'saved RFLAGS: IF and DF from user mode');
  assert.equal(cpu.readFlags() & Flag.IF, 0, 'an interrupt gate clears IF');

  // 13: IRETQ to CPL 3.
  assert.equal(next(), 13);
  assert.equal(cpu.cpl, 3);
  assert.equal(reg(cpu, Reg.RSP), USER_STACK);
  assert.equal(cpu.segSel[Seg.SS], 0x33);
  assert.equal(cpu.segSel[Seg.DS], 0, 'IRET to CPL 3 nulls DS, whose DPL is 0');

  // 7: #GP(0x1234) from loading a selector past the GDT.
  assert.equal(next(), 7);
  const gp = stack(machine, cpu, 6);
  assert.equal(gp[0], 0x1234n, 'error code: the selector');
  assert.equal(gp[2], 0x3bn);
  assert.equal(gp[4], BigInt(USER_STACK));
  assert.equal(reg(cpu, Reg.RSP), RSP0 - 48);

  // 8: #PF reading a supervisor page from user mode: present, user, read.
  assert.equal(next(), 8);
  assert.equal(stack(machine, cpu, 1)[0], 5n);
  assert.equal(cpu.cr2Lo, 0x40000000);
  // 8: #PF writing a page that is not present: user, write.
  assert.equal(next(), 8);
  assert.equal(stack(machine, cpu, 1)[0], 6n);
  assert.equal(cpu.cr2Lo, 0x40200000);
  const pfRip = Number(stack(machine, cpu, 2)[1]!);
  assert.ok(pfRip > USER64 && pfRip < USER32);

  // 14: the handlers skipped the faulting instructions.
  assert.equal(next(), 14);
  assert.equal(cpu.cpl, 3);
  assert.equal(reg(cpu, Reg.RBX), 0x40200000);

  // 6, then 15: SYSCALL asks the kernel for compatibility mode, which IRETQ enters.
  assert.equal(next(), 6);
  assert.equal(next(), 15);
  assert.equal(cpu.codeSize, 32);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.segSel[Seg.CS], 0x2b);
  assert.equal(cpu.stackSize, 32);
  assert.equal(cpu.ripLo, USER32 + 5 + 3);

  // 10: INT 0x80 from compatibility mode into the 64-bit handler: SS:ESP are pushed too.
  assert.equal(next(), 10);
  assert.equal(cpu.codeSize, 64);
  const compat = stack(machine, cpu, 5);
  assert.deepEqual(
    [compat[0], compat[1], compat[3], compat[4]],
    [BigInt(USER32 + 5 + 3 + 2), 0x2bn, BigInt(USER_STACK), 0x33n],
  );

  // 16: IRETQ back to compatibility mode.
  assert.equal(next(), 16);
  assert.equal(cpu.codeSize, 32);
  assert.equal(reg(cpu, Reg.RSP), USER_STACK);

  // 6: SYSCALL from compatibility mode enters through CSTAR; RCX holds the return EIP.
  assert.equal(next(), 6);
  assert.equal(cpu.codeSize, 64);
  assert.equal(cpu.cpl, 0);
  assert.equal(regHi(cpu, Reg.RCX), 0);
  assert.ok(reg(cpu, Reg.RCX) > USER32 && reg(cpu, Reg.RCX) < USER32 + 0x40);

  // 9: #GP with its gate not present → #NP → double fault, on the IST1 stack, error code 0.
  assert.equal(next(), 9);
  assert.equal(reg(cpu, Reg.RSP), IST1 - 48);
  const df = stack(machine, cpu, 6);
  assert.equal(df[0], 0n);
  assert.equal(df[2], 0x18n);
  assert.equal(df[4], 0x90000n);

  // The same with the #DF gate gone too: a triple fault shuts the vCPU down.
  const exit = cpu.run(1000);
  assert.equal(exit.reason, ExitReason.Shutdown);
  assert.match(exit.message, /triple fault/);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 11, 6, 12, 10, 13, 7, 8, 8, 14, 6, 15, 10, 16, 6, 9]);
});
