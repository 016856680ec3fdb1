/**
 * KVM differential tests of exceptions: #PF error codes and CR2, #GP/#NP/#SS with selector
 * error codes, privileged instructions at CPL 3, #UD #DE #BP, frame alignment, IST stacks,
 * double and triple faults, and the TSS and descriptor bits the processor writes.
 */
import assert from 'node:assert/strict';
import { IMAGE, PTE, SELECTOR } from './kvm.js';
import {
  fault,
  fromUser,
  halted,
  hex,
  inFrame,
  KERNEL_FAULT_RIP,
  KVM_DOUBLE_FAULT_CR2,
  KVM_INT_AT_CPL0,
  KVM_INT3_GATE_DPL,
  kvmSuite,
  RF,
  report,
  type Spec,
  u64bytes,
} from './spec.js';

const specs: Spec[] = [
  {
    name: '#PF on a read of a not-present page: error 0, CR2',
    image: { code: 'mov IMAGE_data + 0x123, %rax', pte: { [IMAGE.data]: 0n } },
    expect: (r) =>
      fault(r, { vector: 14, errorCode: 0, cr2: IMAGE.data + 0x123, rip: KERNEL_FAULT_RIP }),
  },
  {
    name: '#PF on a write of a not-present page: error W',
    image: { code: 'movl $1, IMAGE_data + 0x124', pte: { [IMAGE.data]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 2, cr2: IMAGE.data + 0x124 }),
  },
  {
    name: '#PF on a fetch from a not-present page: error I',
    image: { code: 'mov $IMAGE_data, %eax; jmp *%rax', pte: { [IMAGE.data]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 0x10, cr2: IMAGE.data, rip: IMAGE.data }),
  },
  {
    name: '#PF on a user read of a not-present page: error U',
    image: { cpl: 3, user: 'mov IMAGE_userData + 0x40, %rax', pte: { [IMAGE.userData]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 4, cr2: IMAGE.userData + 0x40 }),
  },
  {
    name: '#PF on a reserved physical-address bit (51) in a PTE: P|RSVD|W',
    image: {
      code: 'movq $1, IMAGE_data',
      pte: { [IMAGE.data]: BigInt(IMAGE.data) | 3n | (1n << 51n) },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 0xb, cr2: IMAGE.data }),
  },
  {
    name: '#PF on PS set in a PML4 entry (reserved): P|RSVD',
    image: { code: 'movabs 0x8000300000, %rax', pml4e: { 1: BigInt(IMAGE.pdpt) | PTE.PS | 7n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 9, cr2: 0x8000300000n }),
  },
  {
    name: '#PF from a page crossing: CR2 is the first byte of the missing page',
    image: { code: 'mov IMAGE_data + 0xffc, %rax', pte: { [IMAGE.data + 0x1000]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 0, cr2: IMAGE.data + 0x1000 }),
  },
  {
    name: '#GP(selector) loading DS beyond the GDT limit',
    image: { code: 'mov $0x58, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x58, rflags: 2 | RF }),
  },
  {
    name: '#GP(selector) loading DS with the TSS descriptor',
    image: { code: 'mov $SEL_tss, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.tss }),
  },
  {
    name: '#GP(selector) loading SS with RPL ≠ CPL',
    image: { code: 'mov $SEL_userData, %eax; mov %eax, %ss' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.userData & ~3 }),
  },
  {
    name: '#GP(selector) loading SS with a code segment',
    image: { code: 'mov $SEL_kernelCode, %eax; mov %eax, %ss' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.kernelCode }),
  },
  {
    name: '#GP(selector) loading DS with an LDT selector and no LDT',
    image: { code: 'mov $0x0c, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x0c }),
  },
  {
    name: '#NP(selector) loading DS with a not-present segment',
    image: { code: 'mov $SEL_notPresentData, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 11, errorCode: SELECTOR.notPresentData }),
  },
  {
    name: '#SS(selector) loading SS with a not-present segment',
    image: { code: 'mov $SEL_notPresentData, %eax; mov %eax, %ss' },
    expect: (r) => fault(r, { vector: 12, errorCode: SELECTOR.notPresentData }),
  },
  {
    name: '#GP(selector) on a far return to a selector beyond the GDT',
    image: { code: 'pushq $0x58; pushq $1f; lretq; 1: hlt' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x58 }),
  },
  {
    name: '#GP(0) on a non-canonical address',
    image: { code: 'movabs $0x0000800000000000, %rax; mov (%rax), %rbx' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0 }),
  },
  {
    name: '#SS(0) on a non-canonical stack, delivered on IST1',
    image: { code: 'movabs $0x0000800000000010, %rsp; push %rax', gates: { 12: { ist: 1 } } },
    expect: (r) =>
      fault(r, { vector: 12, errorCode: 0, frameAddress: IMAGE.ist1 - 40, rsp: 0x800000000010n }),
  },
  {
    name: '#GP(0) for HLT at CPL 3',
    image: { cpl: 3, user: 'hlt' },
    expect: (r) => {
      fault(r, { vector: 13, errorCode: 0, rip: IMAGE.userCode });
      fromUser(r);
    },
  },
  {
    name: '#GP(0) for CLI at CPL 3 with IOPL 0',
    image: { cpl: 3, user: 'cli' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0, rip: IMAGE.userCode }),
  },
  {
    name: '#GP(0) for OUT at CPL 3 with IOPL 0 and no I/O bitmap',
    image: { cpl: 3, user: 'out %al, $0x80' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0, rip: IMAGE.userCode }),
  },
  {
    name: '#UD for UD2: RIP of the instruction, RF in the pushed RFLAGS',
    image: { code: 'ud2' },
    expect: (r) =>
      fault(r, {
        vector: 6,
        rip: KERNEL_FAULT_RIP,
        cs: SELECTOR.kernelCode,
        rflags: 2 | RF,
        ss: SELECTOR.kernelData,
      }),
  },
  {
    name: '#DE for a division by zero',
    image: { code: 'xor %ecx, %ecx; mov $1, %eax; div %ecx' },
    expect: (r) => fault(r, { vector: 0, rip: IMAGE.code + 7 }),
  },
  {
    name: '#BP for INT3 at CPL 3: RIP after the instruction, no RF',
    image: { cpl: 3, user: 'int3', gates: { 3: { dpl: 3 } } },
    expect: (r) => {
      fault(r, { vector: 3, rip: IMAGE.userCode + 1, rflags: 2 });
      fromUser(r);
    },
  },
  {
    name: '#BP for INT3 at CPL 0',
    image: { code: 'int3' },
    expect: (r) => fault(r, { vector: 3, rip: IMAGE.code + 1, rsp: IMAGE.kernelStackTop }),
    kvmDeviation: KVM_INT_AT_CPL0,
  },
  {
    name: '#GP(vector·8+2) for INT3 at CPL 3 through a DPL 0 gate',
    image: { cpl: 3, user: 'int3' },
    expect: (r) => fault(r, { vector: 13, errorCode: 3 * 8 + 2, rip: IMAGE.userCode }),
    kvmDeviation: KVM_INT3_GATE_DPL,
  },
  {
    name: 'exception frames are 16-byte aligned',
    image: { code: 'ud2', gpr: { rsp: BigInt(IMAGE.kernelStackTop - 8) } },
    expect: (r) =>
      fault(r, {
        vector: 6,
        frameAddress: IMAGE.kernelStackTop - 16 - 40,
        rsp: IMAGE.kernelStackTop - 8,
      }),
  },
  {
    name: 'IST: #UD through a gate with IST 2',
    image: { code: 'ud2', gates: { 6: { ist: 2 } } },
    expect: (r) =>
      fault(r, { vector: 6, frameAddress: IMAGE.ist2 - 40, rsp: IMAGE.kernelStackTop }),
  },
  {
    name: 'IST: a misaligned IST pointer is aligned down',
    image: {
      code: 'ud2',
      gates: { 6: { ist: 1 } },
      memory: [{ gpa: IMAGE.tss + 36, bytes: u64bytes(BigInt(IMAGE.ist1 - 8)) }],
    },
    expect: (r) => fault(r, { vector: 6, frameAddress: IMAGE.ist1 - 16 - 40 }),
  },
  {
    name: '#DF when the #PF cannot be pushed (kernel stack unmapped), on IST1; CR2 is the stack',
    image: {
      code: 'mov IMAGE_data, %rax',
      pte: { [IMAGE.data]: 0n, [IMAGE.kernelStackTop - 0x1000]: 0n },
      gates: { 8: { ist: 1 } },
    },
    expect: (r) => {
      fault(r, { vector: 8, errorCode: 0, frameAddress: IMAGE.ist1 - 40 });
      inFrame(report(r).cr2, IMAGE.kernelStackTop);
    },
    kvmDeviation: KVM_DOUBLE_FAULT_CR2,
  },
  {
    name: '#DF when a user #PF cannot be pushed on the RSP0 stack; CR2 is the stack',
    image: {
      cpl: 3,
      user: 'mov IMAGE_userData, %rax',
      pte: { [IMAGE.userData]: 0n, [IMAGE.rsp0 - 0x1000]: 0n },
      gates: { 8: { ist: 1 } },
    },
    expect: (r) => {
      fault(r, { vector: 8, errorCode: 0 });
      inFrame(report(r).cr2, IMAGE.rsp0);
    },
    kvmDeviation: KVM_DOUBLE_FAULT_CR2,
  },
  {
    name: '#DF when a user #UD cannot be pushed on the RSP0 stack',
    image: { cpl: 3, user: 'ud2', pte: { [IMAGE.rsp0 - 0x1000]: 0n }, gates: { 8: { ist: 1 } } },
    expect: (r) => {
      fault(r, { vector: 8, errorCode: 0 });
      inFrame(report(r).cr2, IMAGE.rsp0);
    },
    kvmDeviation: KVM_DOUBLE_FAULT_CR2,
  },
  {
    name: 'LTR of a busy TSS: #GP(selector)',
    image: { code: 'mov $SEL_tss, %eax; ltr %ax' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.tss }),
  },
  {
    name: 'LTR of an available TSS loads TR and marks the descriptor busy',
    image: {
      code: 'mov $0x50, %eax; ltr %ax; hlt',
      memory: [
        {
          gpa: IMAGE.gdt + 0x50,
          bytes: u64bytes(0x67n | (BigInt(IMAGE.tss) << 16n) | (0x89n << 40n)),
        },
      ],
      state: (s) => {
        s.gdt.limit = 0x5f;
      },
      dumps: [{ gpa: IMAGE.gdt, length: 0x60 }],
    },
    expect: (r) => {
      halted(r);
      assert.equal(r.state.segments[7]!.selector, 0x50);
      assert.equal(hex(r.state.segments[7]!.base), hex(IMAGE.tss));
      assert.equal(r.dumps[8]![0x55], 0x8b, 'busy type in the GDT');
    },
  },
  {
    name: 'loading DS sets the accessed bit of its descriptor',
    image: {
      code: 'mov $SEL_kernelData, %eax; mov %eax, %ds; hlt',
      memory: [{ gpa: IMAGE.gdt + SELECTOR.kernelData, bytes: u64bytes(0x00cf92000000ffffn) }],
      dumps: [{ gpa: IMAGE.gdt, length: 0x50 }],
    },
    expect: (r) => {
      halted(r);
      assert.equal(r.dumps[8]![SELECTOR.kernelData + 5], 0x93);
      assert.equal(r.state.segments[3]!.attr, 0xc093);
    },
  },
  {
    name: 'triple fault: an exception with an empty IDT',
    image: { code: 'pushq $0; pushw $0; lidt (%rsp); ud2' },
    expect: (r) => assert.equal(r.exit, 'shutdown'),
  },
  {
    name: 'triple fault: #PF with the stack unmapped and no #DF gate',
    image: {
      code: 'mov 0x0, %rax',
      pte: { [IMAGE.kernelStackTop - 0x1000]: 0n },
      gates: { 8: { present: false } },
    },
    expect: (r) => assert.equal(r.exit, 'shutdown'),
  },
];

kvmSuite('exceptions', specs);
