/**
 * System-level differential tests: each case runs in a KVM virtual machine and on the
 * emulator from the same long-mode image (image.ts), and the exits, registers, control and
 * segment registers, MSRs and memory dumps (handler reports, stacks, page tables) must agree.
 *
 * Each case also states what the architecture requires (`expect`), checked on both sides: it
 * keeps a test meaningful where both could be wrong the same way, and it tells a broken
 * reference apart from a broken emulator. Where the host's KVM is known to get a case wrong
 * (`kvmDeviation`: this happens with software-virtualizing KVMs such as PVM, which emulate
 * privileged instructions instead of running them on VT-x/SVM), and KVM's result does not
 * meet the expectation, the emulator is checked against the expectation alone and the test
 * says so; a KVM that fails an expectation without such a note fails the test.
 *
 * Without /dev/kvm the tests skip, saying why (the user-mode differential tests in
 * ../native still run).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CR0,
  type DiffOptions,
  diffResults,
  EFER,
  IMAGE,
  type KvmCase,
  type KvmResult,
  kvmUnavailableReason,
  type LongModeImageOptions,
  longModeImages,
  PTE,
  REPORT,
  readU64,
  runEmulated,
  runKvm,
  SELECTOR,
  TABLE_DUMPS,
} from './kvm.js';

interface Spec {
  group: 'paging' | 'exceptions' | 'interrupts' | 'mode switches';
  name: string;
  image: LongModeImageOptions;
  /** What the architecture requires of the result (assertions). */
  expect: (r: KvmResult) => void;
  diff?: DiffOptions;
  /** Why the host's KVM may get this case wrong (see the file comment). */
  kvmDeviation?: string;
}

// ---- reading results ----

const GPR = [
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
];
const RF = 0x10000;
const IF = 0x200;

interface Report {
  vector: bigint;
  errorCode: bigint;
  cr2: bigint;
  frameAddress: bigint;
  rip: bigint;
  cs: bigint;
  rflags: bigint;
  rsp: bigint;
  ss: bigint;
  count: bigint;
}

/** What the default handler recorded (dump 0 is the REPORT page). */
function report(r: KvmResult): Report {
  const page = r.dumps[0]!;
  const at = (offset: number) => readU64(page, offset);
  return {
    vector: at(REPORT.vector),
    errorCode: at(REPORT.errorCode),
    cr2: at(REPORT.cr2),
    frameAddress: at(REPORT.frameAddress),
    rip: at(REPORT.rip),
    cs: at(REPORT.cs),
    rflags: at(REPORT.rflags),
    rsp: at(REPORT.rsp),
    ss: at(REPORT.ss),
    count: at(REPORT.count),
  };
}

/** The test's own records at REPORT.free + 8 i. */
function free(r: KvmResult, i: number): bigint {
  return readU64(r.dumps[0]!, REPORT.free + 8 * i);
}

function reg(r: KvmResult, name: string): bigint {
  return r.state.gpr[GPR.indexOf(name)]!;
}

function regs(r: KvmResult, expected: Record<string, bigint>): void {
  for (const [name, value] of Object.entries(expected)) {
    assert.equal(hex(reg(r, name)), hex(value), `${name}`);
  }
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** The run ended in the default handler after exactly one event with these fields. */
function fault(r: KvmResult, expected: Partial<Record<keyof Report, bigint | number>>): void {
  assert.equal(r.exit, 'hlt', `exit (${r.detail})`);
  const got = report(r);
  assert.equal(got.count, 1n, `events recorded (last vector ${got.vector})`);
  for (const [field, value] of Object.entries(expected)) {
    assert.equal(hex(got[field as keyof Report]), hex(BigInt(value)), `report.${field}`);
  }
}

/** Halted without any event. */
function halted(r: KvmResult): void {
  assert.equal(r.exit, 'hlt', `exit (${r.detail})`);
  const got = report(r);
  assert.equal(
    got.count,
    0n,
    `no event expected, got vector ${got.vector} (error ${hex(got.errorCode)}) at ${hex(got.rip)}`,
  );
}

/** CPL 3 → 0 through an exception: the frame holds the user state, SS is null. */
function fromUser(r: KvmResult, rsp = BigInt(IMAGE.userStackTop)): void {
  const got = report(r);
  assert.equal(hex(got.cs), hex(SELECTOR.userCode), 'frame CS');
  assert.equal(hex(got.ss), hex(SELECTOR.userData), 'frame SS');
  assert.equal(hex(got.rsp), hex(rsp), 'frame RSP');
  assert.equal(hex(got.frameAddress), hex(IMAGE.rsp0 - 40), 'frame on the RSP0 stack');
  assert.equal(r.state.segments[2]!.selector, 0, 'SS is the null selector');
}

/** Entry `index` of a table page (the case must dump TABLE_DUMPS); PT0 runs on into PT1. */
/** A failed push of an exception frame below `top`: CR2 is one of its words (the order is the CPU's). */
function inFrame(cr2: bigint, top: number): void {
  assert.ok(
    cr2 >= BigInt(top - 48) && cr2 < BigInt(top),
    `CR2 ${hex(cr2)} is in the frame below ${hex(top)}`,
  );
}

function ptEntry(r: KvmResult, table: number, index: number): bigint {
  const at = table + index * 8;
  const i = TABLE_DUMPS.findIndex((d) => at >= d.gpa && at < d.gpa + d.length);
  return readU64(r.dumps[8 + i]!, at - TABLE_DUMPS[i]!.gpa);
}

const KERNEL_FAULT_RIP = BigInt(IMAGE.code);
const pte = (linear: number) => `0x${(IMAGE.pt0 + (linear >>> 12) * 8).toString(16)}`;

// ---- the host KVM's known deviations ----

const KVM_INT_AT_CPL0 =
  'the host KVM cannot deliver a software interrupt raised at CPL 0 (PVM emulates INT n with ' +
  "KVM's instruction emulator, which only handles real-mode INT: KVM_EXIT_INTERNAL_ERROR)";
const KVM_INT_AT_CPL3 = 'the host KVM (PVM) turns INT n with n ≠ 3 at CPL 3 into #UD';
const KVM_IRET_DATA_SEGMENTS =
  'the host KVM (PVM) keeps DS/ES/FS/GS on an IRETQ to CPL 3 although their DPL is below the ' +
  "new CPL; the SDM's IRET loads them with the null selector";
const KVM_INT3_GATE_DPL =
  'the host KVM (PVM) delivers INT3 at CPL 3 through a DPL 0 gate instead of raising #GP';
const KVM_NO_1G_PAGES =
  "the host KVM offers its guests no 1 GiB pages (KVM_GET_SUPPORTED_CPUID lacks PDPE1GB), so a PDPTE's PS bit is reserved there";
const KVM_DOUBLE_FAULT_CR2 =
  "the host KVM (PVM) delivers exceptions in software, and KVM drops the second #PF's address when it turns it " +
  'into #DF; the SDM (#PF, CR2) says CR2 is updated even when the page fault results in a double fault';
const KVM_SYSCALL_FROM_CPL3 =
  'the host KVM (PVM) runs SYSCALL from CPL 3 to LSTAR still at CPL 3 (a #PF on the supervisor page)';

// ---- the cases ----

const specs: Spec[] = [
  // ---------------- paging ----------------
  {
    group: 'paging',
    name: 'remap a 4 KiB page with INVLPG, then unmap it: #PF not-present',
    image: {
      code: `
        movq $0x1111, IMAGE_data
        movq $0x2222, IMAGE_data + 0x1000
        mov IMAGE_data, %rax
        movq $(IMAGE_data + 0x1000 + 3), ${pte(IMAGE.data)}
        invlpg IMAGE_data
        mov IMAGE_data, %rbx
        movq $0, ${pte(IMAGE.data)}
        invlpg IMAGE_data
        mov IMAGE_data + 8, %rcx`,
    },
    expect: (r) => {
      fault(r, { vector: 14, errorCode: 0, cr2: IMAGE.data + 8, cs: SELECTOR.kernelCode });
      regs(r, { rax: 0x1111n, rbx: 0x2222n });
    },
  },
  {
    group: 'paging',
    name: 'a supervisor write to a read-only page with CR0.WP=1: #PF P|W',
    image: {
      code: 'movq $1, IMAGE_data + 0x10',
      pte: { [IMAGE.data]: BigInt(IMAGE.data) | PTE.P },
    },
    expect: (r) =>
      fault(r, {
        vector: 14,
        errorCode: 3,
        cr2: IMAGE.data + 0x10,
        rip: KERNEL_FAULT_RIP,
        rflags: 2 | RF,
      }),
  },
  {
    group: 'paging',
    name: 'CR0.WP=0 lets the kernel write a read-only page; WP=1 again faults',
    image: {
      code: `
        mov %cr0, %rax
        and $~0x10000, %eax
        mov %rax, %cr0
        movq $0x77, IMAGE_data + 0x10
        mov IMAGE_data + 0x10, %rbx
        or $0x10000, %eax
        mov %rax, %cr0
        movq $1, IMAGE_data + 0x1018`,
      pte: {
        [IMAGE.data]: BigInt(IMAGE.data) | PTE.P,
        [IMAGE.data + 0x1000]: BigInt(IMAGE.data + 0x1000) | PTE.P,
      },
    },
    expect: (r) => {
      fault(r, { vector: 14, errorCode: 3, cr2: IMAGE.data + 0x1018 });
      regs(r, { rbx: 0x77n });
      assert.ok(r.state.cr0 & CR0.WP);
    },
  },
  {
    group: 'paging',
    name: 'NX with EFER.NXE=1: a fetch from a no-execute page faults P|I',
    image: {
      code: 'movb $0xc3, IMAGE_data; mov $IMAGE_data, %eax; call *%rax',
      pte: { [IMAGE.data]: BigInt(IMAGE.data) | 3n | PTE.NX },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 0x11, cr2: IMAGE.data, rip: IMAGE.data }),
  },
  {
    group: 'paging',
    name: 'NX clear: the same fetch runs',
    image: { code: 'movb $0xc3, IMAGE_data; mov $IMAGE_data, %eax; call *%rax; mov $5, %ebx; hlt' },
    expect: (r) => {
      halted(r);
      regs(r, { rbx: 5n });
    },
  },
  {
    group: 'paging',
    name: 'bit 63 with EFER.NXE=0 is reserved: #PF P|RSVD on a read',
    image: {
      code: 'mov IMAGE_data, %rax',
      efer: EFER.LME | EFER.LMA | EFER.SCE,
      pte: { [IMAGE.data]: BigInt(IMAGE.data) | 3n | PTE.NX },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 9, cr2: IMAGE.data }),
  },
  {
    group: 'paging',
    name: 'bit 63 with EFER.NXE=0 on a fetch: #PF P|RSVD without I',
    image: {
      code: 'mov $IMAGE_data, %eax; jmp *%rax',
      efer: EFER.LME | EFER.LMA | EFER.SCE,
      pte: { [IMAGE.data]: BigInt(IMAGE.data) | 3n | PTE.NX },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 9, cr2: IMAGE.data, rip: IMAGE.data }),
  },
  {
    group: 'paging',
    name: 'CPL 3 reads a supervisor page: #PF P|U, RSP0 stack switch',
    image: { cpl: 3, user: 'mov IMAGE_data, %rax' },
    expect: (r) => {
      fault(r, { vector: 14, errorCode: 5, cr2: IMAGE.data, rip: IMAGE.userCode, rflags: 2 | RF });
      fromUser(r);
    },
  },
  {
    group: 'paging',
    name: 'CPL 3 writes a supervisor page: #PF P|W|U',
    image: { cpl: 3, user: 'movq $1, IMAGE_data + 8' },
    expect: (r) => {
      fault(r, { vector: 14, errorCode: 7, cr2: IMAGE.data + 8 });
      fromUser(r);
    },
  },
  {
    group: 'paging',
    name: 'CPL 3 writes a read-only user page: #PF P|W|U',
    image: {
      cpl: 3,
      user: 'movq $1, IMAGE_userData',
      pte: { [IMAGE.userData]: BigInt(IMAGE.userData) | PTE.P | PTE.U },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 7, cr2: IMAGE.userData }),
  },
  {
    group: 'paging',
    name: 'CPL 3 fetches from a supervisor page: #PF P|U|I',
    image: { cpl: 3, user: 'mov $IMAGE_data, %eax; jmp *%rax' },
    expect: (r) => fault(r, { vector: 14, errorCode: 0x15, cr2: IMAGE.data, rip: IMAGE.data }),
  },
  {
    group: 'paging',
    name: 'CPL 3 entered through IRETQ reads a supervisor page',
    image: {
      code: `
        pushq $SEL_userData
        pushq $IMAGE_userStackTop
        pushq $0x202
        pushq $SEL_userCode
        pushq $user_entry
        iretq`,
      user: 'mov IMAGE_userData, %rbx; mov IMAGE_data, %rax',
    },
    expect: (r) => {
      fault(r, {
        vector: 14,
        errorCode: 5,
        cr2: IMAGE.data,
        rip: IMAGE.userCode + 8,
        rflags: 0x202 | RF,
      });
      fromUser(r);
      for (const i of [0, 3, 4, 5])
        assert.equal(r.state.segments[i]!.selector, 0, `segment ${i} nulled by IRETQ`);
    },
    kvmDeviation: KVM_IRET_DATA_SEGMENTS,
  },
  {
    group: 'paging',
    name: 'permissions accumulate: a read-only PDE makes its 4 KiB pages read-only',
    image: { code: 'movq $1, IMAGE_data', pde: { 2097152: BigInt(IMAGE.pt1) | PTE.P | PTE.U } },
    expect: (r) => fault(r, { vector: 14, errorCode: 3, cr2: IMAGE.data }),
  },
  {
    group: 'paging',
    name: 'a supervisor PDE hides its user PTEs from CPL 3',
    image: {
      cpl: 3,
      user: 'mov IMAGE_userData, %rax',
      pde: { 2097152: BigInt(IMAGE.pt1) | PTE.P | PTE.W },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 5, cr2: IMAGE.userData }),
  },
  {
    group: 'paging',
    name: 'NX in a PDE covers its 4 KiB pages',
    image: {
      code: 'movb $0xc3, IMAGE_data; mov $IMAGE_data, %eax; call *%rax',
      pde: { 2097152: BigInt(IMAGE.pt1) | 7n | PTE.NX },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 0x11, cr2: IMAGE.data }),
  },
  {
    group: 'paging',
    name: 'CR0.WP=0 does not let CPL 3 write a read-only page',
    image: {
      cpl: 3,
      user: 'movq $1, IMAGE_userData',
      cr0: (CR0.PG | CR0.NE | CR0.ET | CR0.MP | CR0.PE) >>> 0,
      pte: { [IMAGE.userData]: BigInt(IMAGE.userData) | PTE.P | PTE.U },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 7, cr2: IMAGE.userData }),
  },
  {
    group: 'paging',
    name: '2 MiB pages: an alias PDE maps the same frame',
    image: {
      code: `
        movq $0x4242, 0x400010
        mov 0x600010, %rax
        movq $0x4343, 0x600018
        mov 0x400018, %rbx
        hlt`,
      pde: { 6291456: 0x400000n | PTE.PS | 3n },
      dumps: [...TABLE_DUMPS],
    },
    expect: (r) => {
      halted(r);
      regs(r, { rax: 0x4242n, rbx: 0x4343n });
      assert.equal(hex(ptEntry(r, IMAGE.pd, 3)), hex(0x400000n | PTE.PS | 3n | PTE.A | PTE.D));
    },
  },
  {
    group: 'paging',
    name: '2 MiB page with a reserved address bit (13): #PF P|RSVD',
    image: { code: 'mov 0x800000, %rax', pde: { 8388608: 0x802000n | PTE.PS | 3n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 9, cr2: 0x800000 }),
  },
  {
    group: 'paging',
    name: '1 GiB pages: PDPT entry 1 maps the first GiB again',
    image: {
      code: `
        movq $0x5151, IMAGE_data + 0x20
        mov 0x40000000 + IMAGE_data + 0x20, %rax
        movq $0x5252, 0x40000000 + IMAGE_data + 0x28
        mov IMAGE_data + 0x28, %rbx
        hlt`,
      pdpte: { 1: PTE.PS | 3n },
      dumps: [...TABLE_DUMPS],
    },
    expect: (r) => {
      halted(r);
      regs(r, { rax: 0x5151n, rbx: 0x5252n });
      assert.equal(hex(ptEntry(r, IMAGE.pdpt, 1)), hex(PTE.PS | 3n | PTE.A | PTE.D));
    },
    kvmDeviation: KVM_NO_1G_PAGES,
  },
  {
    group: 'paging',
    name: '1 GiB page with a reserved address bit (13): #PF P|RSVD',
    image: { code: 'mov 0x80000000, %rax', pdpte: { 2: 0x2000n | PTE.PS | 3n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 9, cr2: 0x80000000 }),
  },
  {
    group: 'paging',
    name: 'accessed and dirty bits are written back to every level',
    image: {
      code: `
        mov IMAGE_data, %rax
        movq $1, IMAGE_data + 0x1000
        mov 0x400000, %rbx
        movq $2, 0x600000
        hlt`,
      dumps: [...TABLE_DUMPS],
    },
    expect: (r) => {
      halted(r);
      const page = (linear: number) => ptEntry(r, IMAGE.pt0, linear >>> 12) & 0x7fn;
      assert.equal(hex(page(IMAGE.data)), hex(PTE.A | 3n), 'read: A');
      assert.equal(hex(page(IMAGE.data + 0x1000)), hex(PTE.A | PTE.D | 3n), 'write: A and D');
      assert.equal(hex(page(IMAGE.data + 0x2000)), hex(3n), 'untouched');
      assert.equal(hex(ptEntry(r, IMAGE.pd, 2) & 0xffn), hex(PTE.PS | PTE.A | 3n), '2 MiB read: A');
      assert.equal(
        hex(ptEntry(r, IMAGE.pd, 3) & 0xffn),
        hex(PTE.PS | PTE.A | PTE.D | 3n),
        '2 MiB write: A and D',
      );
      assert.equal(ptEntry(r, IMAGE.pd, 4) & PTE.A, 0n, '2 MiB untouched');
      assert.ok(ptEntry(r, IMAGE.pml4, 0) & PTE.A, 'PML4E accessed');
      assert.equal(ptEntry(r, IMAGE.pml4, 0) & PTE.D, 0n, 'no D in a PML4E');
    },
  },
  {
    group: 'paging',
    name: 'a stale translation until INVLPG',
    image: {
      code: `
        movq $0x1111, IMAGE_data
        movq $0x2222, IMAGE_data + 0x1000
        mov IMAGE_data, %rax
        movq $(IMAGE_data + 0x1000 + 3), ${pte(IMAGE.data)}
        mov IMAGE_data, %rbx
        invlpg IMAGE_data
        mov IMAGE_data, %rcx
        hlt`,
    },
    expect: (r) => {
      halted(r);
      regs(r, { rax: 0x1111n, rcx: 0x2222n });
      assert.ok(
        [0x1111n, 0x2222n].includes(reg(r, 'rbx')),
        'before INVLPG: the old or the new mapping',
      );
    },
    // Before INVLPG the TLB may or may not still hold the old translation.
    diff: { ignore: ['rbx'] },
  },
  {
    group: 'paging',
    name: 'a CR3 reload drops non-global translations; toggling CR4.PGE drops global ones',
    image: {
      code: `
        movq $0x1111, IMAGE_data
        movq $0x2222, IMAGE_data + 0x1000
        movq $0x3333, IMAGE_data + 0x2000
        movq $0x4444, IMAGE_data + 0x3000
        mov IMAGE_data, %rax
        mov IMAGE_data + 0x2000, %rax
        movq $(IMAGE_data + 0x1000 + 0x103), ${pte(IMAGE.data)}
        movq $(IMAGE_data + 0x3000 + 3), ${pte(IMAGE.data + 0x2000)}
        mov %cr3, %rdx
        mov %rdx, %cr3
        mov IMAGE_data, %rbx
        mov IMAGE_data + 0x2000, %rcx
        mov %cr4, %rdx
        and $~0x80, %edx
        mov %rdx, %cr4
        or $0x80, %edx
        mov %rdx, %cr4
        mov IMAGE_data, %rsi
        hlt`,
      pte: { [IMAGE.data]: BigInt(IMAGE.data) | PTE.G | 3n },
    },
    expect: (r) => {
      halted(r);
      regs(r, { rcx: 0x4444n, rsi: 0x2222n });
      assert.ok(
        [0x1111n, 0x2222n].includes(reg(r, 'rbx')),
        'global page after a CR3 reload: old or new',
      );
    },
    // A global translation may survive the CR3 reload, or not.
    diff: { ignore: ['rbx'] },
  },

  // ---------------- exceptions ----------------
  {
    group: 'exceptions',
    name: '#PF on a read of a not-present page: error 0, CR2',
    image: { code: 'mov IMAGE_data + 0x123, %rax', pte: { [IMAGE.data]: 0n } },
    expect: (r) =>
      fault(r, { vector: 14, errorCode: 0, cr2: IMAGE.data + 0x123, rip: KERNEL_FAULT_RIP }),
  },
  {
    group: 'exceptions',
    name: '#PF on a write of a not-present page: error W',
    image: { code: 'movl $1, IMAGE_data + 0x124', pte: { [IMAGE.data]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 2, cr2: IMAGE.data + 0x124 }),
  },
  {
    group: 'exceptions',
    name: '#PF on a fetch from a not-present page: error I',
    image: { code: 'mov $IMAGE_data, %eax; jmp *%rax', pte: { [IMAGE.data]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 0x10, cr2: IMAGE.data, rip: IMAGE.data }),
  },
  {
    group: 'exceptions',
    name: '#PF on a user read of a not-present page: error U',
    image: { cpl: 3, user: 'mov IMAGE_userData + 0x40, %rax', pte: { [IMAGE.userData]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 4, cr2: IMAGE.userData + 0x40 }),
  },
  {
    group: 'exceptions',
    name: '#PF on a reserved physical-address bit (51) in a PTE: P|RSVD|W',
    image: {
      code: 'movq $1, IMAGE_data',
      pte: { [IMAGE.data]: BigInt(IMAGE.data) | 3n | (1n << 51n) },
    },
    expect: (r) => fault(r, { vector: 14, errorCode: 0xb, cr2: IMAGE.data }),
  },
  {
    group: 'exceptions',
    name: '#PF on PS set in a PML4 entry (reserved): P|RSVD',
    image: { code: 'movabs 0x8000300000, %rax', pml4e: { 1: BigInt(IMAGE.pdpt) | PTE.PS | 7n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 9, cr2: 0x8000300000n }),
  },
  {
    group: 'exceptions',
    name: '#PF from a page crossing: CR2 is the first byte of the missing page',
    image: { code: 'mov IMAGE_data + 0xffc, %rax', pte: { [IMAGE.data + 0x1000]: 0n } },
    expect: (r) => fault(r, { vector: 14, errorCode: 0, cr2: IMAGE.data + 0x1000 }),
  },
  {
    group: 'exceptions',
    name: '#GP(selector) loading DS beyond the GDT limit',
    image: { code: 'mov $0x58, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x58, rflags: 2 | RF }),
  },
  {
    group: 'exceptions',
    name: '#GP(selector) loading DS with the TSS descriptor',
    image: { code: 'mov $SEL_tss, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.tss }),
  },
  {
    group: 'exceptions',
    name: '#GP(selector) loading SS with RPL ≠ CPL',
    image: { code: 'mov $SEL_userData, %eax; mov %eax, %ss' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.userData & ~3 }),
  },
  {
    group: 'exceptions',
    name: '#GP(selector) loading SS with a code segment',
    image: { code: 'mov $SEL_kernelCode, %eax; mov %eax, %ss' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.kernelCode }),
  },
  {
    group: 'exceptions',
    name: '#GP(selector) loading DS with an LDT selector and no LDT',
    image: { code: 'mov $0x0c, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x0c }),
  },
  {
    group: 'exceptions',
    name: '#NP(selector) loading DS with a not-present segment',
    image: { code: 'mov $SEL_notPresentData, %eax; mov %eax, %ds' },
    expect: (r) => fault(r, { vector: 11, errorCode: SELECTOR.notPresentData }),
  },
  {
    group: 'exceptions',
    name: '#SS(selector) loading SS with a not-present segment',
    image: { code: 'mov $SEL_notPresentData, %eax; mov %eax, %ss' },
    expect: (r) => fault(r, { vector: 12, errorCode: SELECTOR.notPresentData }),
  },
  {
    group: 'exceptions',
    name: '#GP(selector) on a far return to a selector beyond the GDT',
    image: { code: 'pushq $0x58; pushq $1f; lretq; 1: hlt' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x58 }),
  },
  {
    group: 'exceptions',
    name: '#GP(0) on a non-canonical address',
    image: { code: 'movabs $0x0000800000000000, %rax; mov (%rax), %rbx' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0 }),
  },
  {
    group: 'exceptions',
    name: '#SS(0) on a non-canonical stack, delivered on IST1',
    image: { code: 'movabs $0x0000800000000010, %rsp; push %rax', gates: { 12: { ist: 1 } } },
    expect: (r) =>
      fault(r, { vector: 12, errorCode: 0, frameAddress: IMAGE.ist1 - 40, rsp: 0x800000000010n }),
  },
  {
    group: 'exceptions',
    name: '#GP(0) for HLT at CPL 3',
    image: { cpl: 3, user: 'hlt' },
    expect: (r) => {
      fault(r, { vector: 13, errorCode: 0, rip: IMAGE.userCode });
      fromUser(r);
    },
  },
  {
    group: 'exceptions',
    name: '#GP(0) for CLI at CPL 3 with IOPL 0',
    image: { cpl: 3, user: 'cli' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0, rip: IMAGE.userCode }),
  },
  {
    group: 'exceptions',
    name: '#GP(0) for OUT at CPL 3 with IOPL 0 and no I/O bitmap',
    image: { cpl: 3, user: 'out %al, $0x80' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0, rip: IMAGE.userCode }),
  },
  {
    group: 'exceptions',
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
    group: 'exceptions',
    name: '#DE for a division by zero',
    image: { code: 'xor %ecx, %ecx; mov $1, %eax; div %ecx' },
    expect: (r) => fault(r, { vector: 0, rip: IMAGE.code + 7 }),
  },
  {
    group: 'exceptions',
    name: '#BP for INT3 at CPL 3: RIP after the instruction, no RF',
    image: { cpl: 3, user: 'int3', gates: { 3: { dpl: 3 } } },
    expect: (r) => {
      fault(r, { vector: 3, rip: IMAGE.userCode + 1, rflags: 2 });
      fromUser(r);
    },
  },
  {
    group: 'exceptions',
    name: '#BP for INT3 at CPL 0',
    image: { code: 'int3' },
    expect: (r) => fault(r, { vector: 3, rip: IMAGE.code + 1, rsp: IMAGE.kernelStackTop }),
    kvmDeviation: KVM_INT_AT_CPL0,
  },
  {
    group: 'exceptions',
    name: '#GP(vector·8+2) for INT3 at CPL 3 through a DPL 0 gate',
    image: { cpl: 3, user: 'int3' },
    expect: (r) => fault(r, { vector: 13, errorCode: 3 * 8 + 2, rip: IMAGE.userCode }),
    kvmDeviation: KVM_INT3_GATE_DPL,
  },
  {
    group: 'exceptions',
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
    group: 'exceptions',
    name: 'IST: #UD through a gate with IST 2',
    image: { code: 'ud2', gates: { 6: { ist: 2 } } },
    expect: (r) =>
      fault(r, { vector: 6, frameAddress: IMAGE.ist2 - 40, rsp: IMAGE.kernelStackTop }),
  },
  {
    group: 'exceptions',
    name: 'IST: a misaligned IST pointer is aligned down',
    image: {
      code: 'ud2',
      gates: { 6: { ist: 1 } },
      memory: [{ gpa: IMAGE.tss + 36, bytes: u64bytes(BigInt(IMAGE.ist1 - 8)) }],
    },
    expect: (r) => fault(r, { vector: 6, frameAddress: IMAGE.ist1 - 16 - 40 }),
  },
  {
    group: 'exceptions',
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
    group: 'exceptions',
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
    group: 'exceptions',
    name: '#DF when a user #UD cannot be pushed on the RSP0 stack',
    image: { cpl: 3, user: 'ud2', pte: { [IMAGE.rsp0 - 0x1000]: 0n }, gates: { 8: { ist: 1 } } },
    expect: (r) => {
      fault(r, { vector: 8, errorCode: 0 });
      inFrame(report(r).cr2, IMAGE.rsp0);
    },
    kvmDeviation: KVM_DOUBLE_FAULT_CR2,
  },
  {
    group: 'exceptions',
    name: 'LTR of a busy TSS: #GP(selector)',
    image: { code: 'mov $SEL_tss, %eax; ltr %ax' },
    expect: (r) => fault(r, { vector: 13, errorCode: SELECTOR.tss }),
  },
  {
    group: 'exceptions',
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
    group: 'exceptions',
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
    group: 'exceptions',
    name: 'triple fault: an exception with an empty IDT',
    image: { code: 'pushq $0; pushw $0; lidt (%rsp); ud2' },
    expect: (r) => assert.equal(r.exit, 'shutdown'),
  },
  {
    group: 'exceptions',
    name: 'triple fault: #PF with the stack unmapped and no #DF gate',
    image: {
      code: 'mov 0x0, %rax',
      pte: { [IMAGE.kernelStackTop - 0x1000]: 0n },
      gates: { 8: { present: false } },
    },
    expect: (r) => assert.equal(r.exit, 'shutdown'),
  },

  // ---------------- interrupts ----------------
  {
    group: 'interrupts',
    name: 'INT3 at CPL 3 through an interrupt gate clears IF',
    image: { cpl: 3, rflags: 0x202, user: 'int3', gates: { 3: { dpl: 3 } } },
    expect: (r) => {
      fault(r, { vector: 3, rflags: 0x202 });
      assert.equal(r.state.rflags & IF, 0, 'IF in the handler');
    },
  },
  {
    group: 'interrupts',
    name: 'INT3 at CPL 3 through a trap gate keeps IF',
    image: { cpl: 3, rflags: 0x202, user: 'int3', gates: { 3: { dpl: 3, type: 'trap' } } },
    expect: (r) => {
      fault(r, { vector: 3, rflags: 0x202 });
      assert.equal(r.state.rflags & IF, IF, 'IF in the handler');
    },
  },
  {
    group: 'interrupts',
    name: 'INT 0x80 at CPL 0 through an interrupt gate',
    image: { code: 'sti; int $0x80' },
    expect: (r) => {
      fault(r, { vector: 0x80, rip: IMAGE.code + 3, rflags: 0x202 });
      assert.equal(r.state.rflags & IF, 0);
    },
    kvmDeviation: KVM_INT_AT_CPL0,
  },
  {
    group: 'interrupts',
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
    group: 'interrupts',
    name: 'INT 0x80 at CPL 3 through a DPL 0 gate: #GP(0x80·8+2)',
    image: { cpl: 3, user: 'int $0x80' },
    expect: (r) => fault(r, { vector: 13, errorCode: 0x80 * 8 + 2, rip: IMAGE.userCode }),
    kvmDeviation: KVM_INT_AT_CPL3,
  },
  {
    group: 'interrupts',
    name: 'INT 0x80 through a not-present gate: #NP(0x80·8+2)',
    image: { cpl: 3, user: 'int $0x80', gates: { 128: { dpl: 3, present: false } } },
    expect: (r) => fault(r, { vector: 11, errorCode: 0x80 * 8 + 2 }),
    kvmDeviation: KVM_INT_AT_CPL3,
  },
  {
    group: 'interrupts',
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
    group: 'interrupts',
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
    group: 'interrupts',
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
    group: 'interrupts',
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
    group: 'interrupts',
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

  // ---------------- mode switches ----------------
  {
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
    name: 'SYSCALL at CPL 0',
    image: { code: 'syscall', syscall: 'hlt' },
    expect: (r) => {
      halted(r);
      regs(r, { rcx: BigInt(IMAGE.code + 2), r11: 2n });
    },
  },
  {
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
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
    group: 'mode switches',
    name: 'a guest that never exits times out on both sides',
    image: { code: '1: jmp 1b', timeoutMs: 100, budget: 100_000 },
    expect: (r) => assert.equal(r.exit, 'timeout'),
  },
  {
    group: 'mode switches',
    name: 'port I/O exits: OUT, then IN gets the value',
    image: { code: 'mov $0x42, %al; out %al, $0x80; hlt' },
    expect: (r) => {
      assert.equal(r.exit, 'io');
      assert.deepEqual(r.access, { address: 0x80n, size: 1, write: true, value: 0x42n });
      assert.equal(r.state.rip, BigInt(IMAGE.code + 4));
    },
  },
  {
    group: 'mode switches',
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
    group: 'mode switches',
    name: 'an MMIO write above guest memory exits with the address and value',
    image: { code: 'movl $0x1234, 0x400010; hlt', pde: { 4194304: 0x8000000n | PTE.PS | 3n } },
    expect: (r) => {
      assert.equal(r.exit, 'mmio');
      assert.deepEqual(r.access, { address: 0x8000010n, size: 4, write: true, value: 0x1234n });
    },
  },
];

function u64bytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
}

/** 32-bit protected mode, paging off, at compat_entry. */
function protectedMode32(s: KvmCase['state']): void {
  const flat = (selector: number, attr: number) => ({
    selector,
    base: 0n,
    limit: 0xffffffff,
    attr,
  });
  const data = flat(SELECTOR.kernelData, 0xc093);
  s.segments = [
    data,
    flat(SELECTOR.kernelCode32, 0xc09b),
    data,
    data,
    data,
    data,
    s.segments[6]!,
    s.segments[7]!,
  ];
  s.segments[7] = { ...s.segments[7]!, attr: 0x8b };
  s.cr0 = CR0.PE | CR0.MP | CR0.ET | CR0.NE;
  s.cr4 = 0;
  s.efer = 0;
  s.rip = BigInt(IMAGE.code32);
}

// The IN case's read value.
const READ_VALUE = 0xcafe1234n;

// ---- the harness itself ----

describe('KVM runner', () => {
  test('an inconsistent state (EFER.LMA without paging) is rejected by KVM, not run', (t) => {
    if (unavailable) {
      t.skip(`skipped: ${unavailable}`);
      return;
    }
    const c = longModeImages([['inconsistent', { code: 'hlt', cr0: CR0.PE | CR0.ET }]])[0]!;
    const [result] = runKvm([c]);
    assert.equal(result?.exit, 'rejected');
    assert.match(result?.detail ?? '', /KVM_SET_SREGS failed: errno 22/);
  });

  test('no cases: no runner', () => {
    assert.deepEqual(runKvm([]), []);
  });
});

// ---- running ----

const unavailable = kvmUnavailableReason();
let batch: { cases: KvmCase[]; kvm: KvmResult[] } | Error | undefined;

/** Assembles every case and runs them all in KVM (one runner process), once. */
function kvmBatch(): { cases: KvmCase[]; kvm: KvmResult[] } {
  if (!batch) {
    try {
      const cases = longModeImages(specs.map((s) => [s.name, s.image]));
      for (const c of cases) {
        c.readValue = READ_VALUE;
        c.timeoutMs ??= 500;
      }
      batch = { cases, kvm: runKvm(cases) };
    } catch (error) {
      batch = error as Error; // reported by every test, built once
    }
  }
  if (batch instanceof Error) throw batch;
  return batch;
}

function problem(spec: Spec, r: KvmResult): string | undefined {
  try {
    spec.expect(r);
    return undefined;
  } catch (error) {
    return `${(error as Error).message} [exit ${r.exit}: ${r.detail}; report: vector ${report(r).vector}, error ${hex(report(r).errorCode)}, rip ${hex(report(r).rip)}]`;
  }
}

for (const group of ['paging', 'exceptions', 'interrupts', 'mode switches'] as const) {
  describe(`KVM differential: ${group}`, () => {
    for (const spec of specs.filter((s) => s.group === group)) {
      test(spec.name, (t) => {
        if (unavailable) {
          t.skip(
            `skipped: ${unavailable}; the user-mode differential tests (testing/native) still run`,
          );
          return;
        }
        const { cases, kvm } = kvmBatch();
        const index = specs.indexOf(spec);
        const c = cases[index]!;
        const k = kvm[index]!;
        const [emu] = runEmulated([c]);
        assert.ok(emu);
        const kvmProblem = problem(spec, k);
        const emuProblem = problem(spec, emu);
        if (kvmProblem !== undefined) {
          assert.ok(
            spec.kvmDeviation,
            `KVM's result does not meet the architectural expectation, and no deviation of the host KVM is known here: ${kvmProblem}`,
          );
          t.diagnostic(`KVM is no reference here (${spec.kvmDeviation}): ${kvmProblem}`);
          t.diagnostic('the emulator is checked against the architectural expectation alone');
          assert.equal(emuProblem, undefined, `emulator: ${emuProblem}`);
          return;
        }
        const differences = diffResults(c, k, emu, spec.diff);
        const messages = [...differences.map((d) => `KVM vs emulator: ${d}`)];
        if (emuProblem !== undefined) messages.push(`emulator: ${emuProblem}`);
        assert.deepEqual(messages, []);
      });
    }
  });
}
