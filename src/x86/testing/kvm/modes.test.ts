/**
 * KVM differential tests of mode switches: compatibility mode and back, SYSCALL and SYSRET,
 * the RSP0 stack switch, entering and leaving long mode, and the exits: port I/O, MMIO, a
 * guest that never exits.
 */
import assert from 'node:assert/strict';
import { CR0, EFER, IMAGE, PTE, SELECTOR } from './kvm.js';
import {
  fault,
  free,
  fromUser,
  halted,
  KVM_SYSCALL_FROM_CPL3,
  kvmSuite,
  protectedMode32,
  RF,
  reg,
  regs,
  type Spec,
  u64bytes,
} from './spec.js';

const specs: Spec[] = [
  {
    name: 'far return to a 32-bit code segment (compatibility mode)',
    image: {
      code: 'pushq $SEL_kernelCode32; pushq $compat_entry; lretq',
      code32: 'push $0x12345678; pop %eax; mov %esp, %ebx; hlt',
    },
    expect: (r) => {
      halted(r);
      assert.equal(r.state.segments[1]!.selector, SELECTOR.kernelCode32);
      regs(r, { rax: 0x12345678n, rbx: BigInt(IMAGE.kernelStackTop) });
      assert.equal(r.state.rip, BigInt(IMAGE.code32 + 9));
    },
  },
  {
    name: 'compatibility mode and back: far jump to a 64-bit segment',
    image: {
      code: `
        pushq $SEL_kernelCode32
        pushq $compat_entry
        lretq
      back64:
        movabs $0x1122334455667788, %rbx
        hlt`,
      code32: 'mov $9, %eax; ljmp $SEL_kernelCode, $back64',
    },
    expect: (r) => {
      halted(r);
      regs(r, { rax: 9n, rbx: 0x1122334455667788n });
      assert.equal(r.state.segments[1]!.selector, SELECTOR.kernelCode);
    },
  },
  {
    name: 'compatibility mode and back: 32-bit far return',
    image: {
      code: `
        sub $8, %rsp
        movl $back64, (%rsp)
        movl $SEL_kernelCode, 4(%rsp)
        pushq $SEL_kernelCode32
        pushq $compat_entry
        lretq
      back64:
        mov $3, %ebx
        hlt`,
      code32: 'mov $9, %eax; lret',
    },
    expect: (r) => {
      halted(r);
      regs(r, { rax: 9n, rbx: 3n, rsp: BigInt(IMAGE.kernelStackTop) });
    },
  },
  {
    name: 'an exception in compatibility mode goes to the 64-bit handler',
    image: { code: 'pushq $SEL_kernelCode32; pushq $compat_entry; lretq', code32: 'nop; ud2' },
    expect: (r) =>
      fault(r, {
        vector: 6,
        rip: IMAGE.code32 + 1,
        cs: SELECTOR.kernelCode32,
        ss: SELECTOR.kernelData,
      }),
  },
  {
    name: 'SYSCALL from CPL 3 to the kernel (halts there)',
    image: {
      cpl: 3,
      rflags: 0x246,
      gpr: { rcx: 0x55n, r11: 0x66n },
      user: 'syscall',
      syscall: 'hlt',
    },
    expect: (r) => {
      halted(r);
      regs(r, { rcx: BigInt(IMAGE.userCode + 2), r11: 0x246n, rsp: BigInt(IMAGE.userStackTop) });
      assert.equal(r.state.rip, BigInt(IMAGE.syscall + 1));
      assert.equal(r.state.segments[1]!.selector, SELECTOR.kernelCode);
      assert.equal(r.state.segments[2]!.selector, SELECTOR.kernelData);
      assert.equal(r.state.rflags, 0x46, 'RFLAGS masked by SFMASK');
    },
    kvmDeviation: KVM_SYSCALL_FROM_CPL3,
  },
  {
    name: 'SYSCALL and SYSRET round trip',
    image: {
      cpl: 3,
      rflags: 0x202,
      user: 'mov $1, %eax; syscall; mov $2, %ebx; ud2',
      syscall: `
        mov %rcx, REPORT_free
        mov %r11, REPORT_free + 8
        mov %cs, %eax
        mov %rax, REPORT_free + 16
        mov %ss, %eax
        mov %rax, REPORT_free + 24
        mov $4, %edx
        sysretq`,
    },
    expect: (r) => {
      fault(r, { vector: 6, cs: SELECTOR.userCode, ss: SELECTOR.userData, rflags: 0x202 | RF });
      regs(r, { rbx: 2n, rdx: 4n });
      assert.equal(free(r, 0), BigInt(IMAGE.userCode + 7));
      assert.equal(free(r, 1), 0x202n);
      assert.equal(free(r, 2), BigInt(SELECTOR.kernelCode));
      assert.equal(free(r, 3), BigInt(SELECTOR.kernelData));
    },
    kvmDeviation: KVM_SYSCALL_FROM_CPL3,
  },
  {
    name: 'SYSCALL at CPL 0',
    image: { code: 'syscall', syscall: 'hlt' },
    expect: (r) => {
      halted(r);
      regs(r, { rcx: BigInt(IMAGE.code + 2), r11: 2n });
    },
  },
  {
    name: 'SYSRET from CPL 0 enters CPL 3',
    image: {
      code: 'mov $user_entry, %ecx; mov $0x202, %r11d; mov $IMAGE_userStackTop, %esp; sysretq',
      user: 'mov $6, %ebx; ud2',
    },
    expect: (r) => {
      fault(r, {
        vector: 6,
        rip: IMAGE.userCode + 5,
        cs: SELECTOR.userCode,
        ss: SELECTOR.userData,
        rflags: 0x202 | RF,
      });
      fromUser(r);
      regs(r, { rbx: 6n });
    },
  },
  {
    name: 'CPL 3 → 0 switches to TSS.RSP0, aligned down to 16',
    image: {
      cpl: 3,
      user: 'ud2',
      memory: [{ gpa: IMAGE.tss + 4, bytes: u64bytes(BigInt(IMAGE.rsp0 - 8)) }],
    },
    expect: (r) =>
      fault(r, {
        vector: 6,
        frameAddress: IMAGE.rsp0 - 16 - 40,
        rsp: IMAGE.userStackTop,
        ss: SELECTOR.userData,
      }),
  },
  {
    name: 'entering long mode from 32-bit protected mode',
    image: {
      code: 'long_entry: mov %cr0, %rbx; hlt',
      code32: `
        mov %cr4, %eax
        or $0xa0, %eax
        mov %eax, %cr4
        mov $IMAGE_pml4, %eax
        mov %eax, %cr3
        mov $0xc0000080, %ecx
        rdmsr
        or $0x901, %eax
        wrmsr
        mov %cr0, %eax
        or $0x80010000, %eax
        mov %eax, %cr0
        ljmp $SEL_kernelCode, $long_entry`,
      state: (s) => protectedMode32(s),
    },
    expect: (r) => {
      halted(r);
      assert.equal(r.state.efer, EFER.LME | EFER.LMA | EFER.NXE | EFER.SCE);
      assert.equal(r.state.segments[1]!.selector, SELECTOR.kernelCode);
      assert.ok(reg(r, 'rbx') & BigInt(CR0.PG));
    },
  },
  {
    name: 'leaving long mode: compatibility mode, paging off, EFER.LME clear',
    image: {
      code: 'pushq $SEL_kernelCode32; pushq $compat_entry; lretq',
      code32: `
        mov %cr0, %eax
        and $0x7fffffff, %eax
        mov %eax, %cr0
        mov $0xc0000080, %ecx
        rdmsr
        and $~0x100, %eax
        wrmsr
        mov $0x77, %ebx
        hlt`,
    },
    expect: (r) => {
      halted(r);
      assert.equal(r.state.efer & (EFER.LME | EFER.LMA), 0);
      assert.equal(r.state.cr0 & CR0.PG, 0);
      regs(r, { rbx: 0x77n });
    },
  },
  {
    name: 'a guest that never exits times out on both sides',
    image: { code: '1: jmp 1b', timeoutMs: 100, budget: 100_000 },
    expect: (r) => assert.equal(r.exit, 'timeout'),
  },
  {
    name: 'port I/O exits: OUT, then IN gets the value',
    image: { code: 'mov $0x42, %al; out %al, $0x80; hlt' },
    expect: (r) => {
      assert.equal(r.exit, 'io');
      assert.deepEqual(r.access, { address: 0x80n, size: 1, write: true, value: 0x42n });
      assert.equal(r.state.rip, BigInt(IMAGE.code + 4));
    },
  },
  {
    name: 'port I/O exits: IN completes with the read value',
    image: { code: 'mov $0x3f8, %edx; in (%dx), %eax; hlt' },
    expect: (r) => {
      assert.equal(r.exit, 'io');
      assert.equal(r.access?.write, false);
      assert.equal(r.access?.address, 0x3f8n);
      regs(r, { rax: 0xcafe1234n });
      assert.equal(r.state.rip, BigInt(IMAGE.code + 6));
    },
  },
  {
    name: 'an MMIO write above guest memory exits with the address and value',
    image: { code: 'movl $0x1234, 0x400010; hlt', pde: { 4194304: 0x8000000n | PTE.PS | 3n } },
    expect: (r) => {
      assert.equal(r.exit, 'mmio');
      assert.deepEqual(r.access, { address: 0x8000010n, size: 4, write: true, value: 0x1234n });
    },
  },
];

kvmSuite('mode switches', specs);
