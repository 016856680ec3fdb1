/**
 * KVM differential tests of software interrupts and their returns: interrupt and trap gates,
 * gate DPL and presence, IRETQ to the same ring, to CPL 3 and to compatibility mode.
 */
import assert from 'node:assert/strict';
import { IMAGE, SELECTOR } from './kvm.js';
import {
  fault,
  free,
  fromUser,
  halted,
  IF,
  KVM_INT_AT_CPL0,
  KVM_INT_AT_CPL3,
  kvmSuite,
  RF,
  regs,
  type Spec,
} from './spec.js';

const specs: Spec[] = [
  {
    name: 'INT3 at CPL 3 through an interrupt gate clears IF',
    image: { cpl: 3, rflags: 0x202, user: 'int3', gates: { 3: { dpl: 3 } } },
    expect: (r) => {
      fault(r, { vector: 3, rflags: 0x202 });
      assert.equal(r.state.rflags & IF, 0, 'IF in the handler');
    },
  },
  {
    name: 'INT3 at CPL 3 through a trap gate keeps IF',
    image: { cpl: 3, rflags: 0x202, user: 'int3', gates: { 3: { dpl: 3, type: 'trap' } } },
    expect: (r) => {
      fault(r, { vector: 3, rflags: 0x202 });
      assert.equal(r.state.rflags & IF, IF, 'IF in the handler');
    },
  },
  {
    name: 'INT 0x80 at CPL 0 through an interrupt gate',
    image: { code: 'sti; int $0x80' },
    expect: (r) => {
      fault(r, { vector: 0x80, rip: IMAGE.code + 3, rflags: 0x202 });
      assert.equal(r.state.rflags & IF, 0);
    },
    kvmDeviation: KVM_INT_AT_CPL0,
  },
  {
    name: 'INT 0x80 at CPL 3 through a DPL 3 trap gate',
    image: { cpl: 3, rflags: 0x202, user: 'int $0x80', gates: { 128: { dpl: 3, type: 'trap' } } },
    expect: (r) => {
      fault(r, { vector: 0x80, rip: IMAGE.userCode + 2, rflags: 0x202 });
      fromUser(r);
      assert.equal(r.state.rflags & IF, IF);
    },
    kvmDeviation: KVM_INT_AT_CPL3,
  },
  {
    name: 'INT 0x80 at CPL 3 through a DPL 0 gate: #GP(0x80·8+2)',
    image: { cpl: 3, user: 'int $0x80' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x80 * 8 + 2, rip: IMAGE.userCode }),
    kvmDeviation: KVM_INT_AT_CPL3,
  },
  {
    name: 'INT 0x80 through a not-present gate: #NP(0x80·8+2)',
    image: { cpl: 3, user: 'int $0x80', gates: { 128: { dpl: 3, present: false } } },
    expect: (r) => fault(r, { vector: 11, errorCode: 0x80 * 8 + 2 }),
    kvmDeviation: KVM_INT_AT_CPL3,
  },
  {
    name: 'IRETQ from the handler back to CPL 3, twice',
    image: {
      cpl: 3,
      rflags: 0x202,
      user: 'int3; int3; mov $5, %ecx; ud2',
      gates: { 3: { dpl: 3 } },
      handlers: { 3: 'incq REPORT_free; iretq' },
    },
    expect: (r) => {
      fault(r, { vector: 6, rip: IMAGE.userCode + 7, rflags: 0x202 | RF });
      fromUser(r);
      regs(r, { rcx: 5n });
      assert.equal(free(r, 0), 2n, 'INT3 handler runs');
    },
  },
  {
    name: 'IRETQ to the same ring restores RFLAGS, CS, SS and RSP',
    image: {
      code: `
        mov %rsp, %rax
        sub $0x100, %rax
        pushq $SEL_kernelData
        push %rax
        pushq $0x602
        pushq $SEL_kernelCode
        pushq $1f
        iretq
      1: pushfq
        pop %rbx
        cld
        hlt`,
    },
    expect: (r) => {
      halted(r);
      regs(r, { rbx: 0x602n, rsp: BigInt(IMAGE.kernelStackTop - 0x100) });
    },
  },
  {
    name: 'a #UD handler skips the instruction and IRETQs at CPL 0',
    image: {
      code: 'ud2; mov $7, %ebx; hlt',
      handlers: { 6: 'addq $2, (%rsp); incq REPORT_free; iretq' },
    },
    expect: (r) => {
      halted(r);
      regs(r, { rbx: 7n, rsp: BigInt(IMAGE.kernelStackTop) });
      assert.equal(free(r, 0), 1n);
    },
  },
  {
    name: 'IRETQ from the 64-bit handler back to compatibility mode',
    image: {
      code: 'pushq $SEL_kernelCode32; pushq $compat_entry; lretq',
      code32: 'ud2; mov $5, %eax; hlt',
      handlers: { 6: 'addq $2, (%rsp); iretq' },
    },
    expect: (r) => {
      halted(r);
      regs(r, { rax: 5n });
      assert.equal(r.state.segments[1]!.selector, SELECTOR.kernelCode32);
      assert.equal(r.state.rip, BigInt(IMAGE.code32 + 8));
    },
  },
  {
    name: 'IRETQ with a CS beyond the GDT: #GP(selector)',
    image: {
      code: `
        mov %rsp, %rax
        pushq $SEL_kernelData
        push %rax
        pushq $2
        pushq $0x58
        pushq $1f
        iretq
      1: hlt`,
    },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x58 }),
  },
];

kvmSuite('interrupts', specs);
