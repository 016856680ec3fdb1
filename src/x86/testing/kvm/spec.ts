/**
 * What the KVM differential tests are made of (paging, exceptions, interrupts and mode
 * switches each have a test file): a case (`Spec`) runs in a KVM virtual machine and on the
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
import { GPR_NAMES } from '../registers.js';
import {
  CR0,
  type DiffOptions,
  diffResults,
  IMAGE,
  type KvmCase,
  type KvmResult,
  kvmUnavailableReason,
  type LongModeImageOptions,
  longModeImages,
  REPORT,
  readU64,
  runEmulated,
  runKvm,
  SELECTOR,
  TABLE_DUMPS,
} from './kvm.js';

export interface Spec {
  name: string;
  image: LongModeImageOptions;
  /** What the architecture requires of the result (assertions). */
  expect: (r: KvmResult) => void;
  diff?: DiffOptions;
  /** Why the host's KVM may get this case wrong (see the file comment). */
  kvmDeviation?: string;
}

// ---- reading results ----

const GPR: readonly string[] = GPR_NAMES;
export const RF = 0x10000;
export const IF = 0x200;

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
export function report(r: KvmResult): Report {
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
export function free(r: KvmResult, i: number): bigint {
  return readU64(r.dumps[0]!, REPORT.free + 8 * i);
}

export function reg(r: KvmResult, name: string): bigint {
  return r.state.gpr[GPR.indexOf(name)]!;
}

export function regs(r: KvmResult, expected: Record<string, bigint>): void {
  for (const [name, value] of Object.entries(expected)) {
    assert.equal(hex(reg(r, name)), hex(value), `${name}`);
  }
}

export const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** The run ended in the default handler after exactly one event with these fields. */
export function fault(
  r: KvmResult,
  expected: Partial<Record<keyof Report, bigint | number>>,
): void {
  assert.equal(r.exit, 'hlt', `exit (${r.detail})`);
  const got = report(r);
  assert.equal(got.count, 1n, `events recorded (last vector ${got.vector})`);
  for (const [field, value] of Object.entries(expected)) {
    assert.equal(hex(got[field as keyof Report]), hex(BigInt(value)), `report.${field}`);
  }
}

/** Halted without any event. */
export function halted(r: KvmResult): void {
  assert.equal(r.exit, 'hlt', `exit (${r.detail})`);
  const got = report(r);
  assert.equal(
    got.count,
    0n,
    `no event expected, got vector ${got.vector} (error ${hex(got.errorCode)}) at ${hex(got.rip)}`,
  );
}

/** CPL 3 → 0 through an exception: the frame holds the user state, SS is null. */
export function fromUser(r: KvmResult, rsp = BigInt(IMAGE.userStackTop)): void {
  const got = report(r);
  assert.equal(hex(got.cs), hex(SELECTOR.userCode), 'frame CS');
  assert.equal(hex(got.ss), hex(SELECTOR.userData), 'frame SS');
  assert.equal(hex(got.rsp), hex(rsp), 'frame RSP');
  assert.equal(hex(got.frameAddress), hex(IMAGE.rsp0 - 40), 'frame on the RSP0 stack');
  assert.equal(r.state.segments[2]!.selector, 0, 'SS is the null selector');
}

/** A failed push of an exception frame below `top`: CR2 is one of its words (the order is the CPU's). */
export function inFrame(cr2: bigint, top: number): void {
  assert.ok(
    cr2 >= BigInt(top - 48) && cr2 < BigInt(top),
    `CR2 ${hex(cr2)} is in the frame below ${hex(top)}`,
  );
}

/** Entry `index` of a table page (the case must dump TABLE_DUMPS); PT0 runs on into PT1. */
export function ptEntry(r: KvmResult, table: number, index: number): bigint {
  const at = table + index * 8;
  const i = TABLE_DUMPS.findIndex((d) => at >= d.gpa && at < d.gpa + d.length);
  return readU64(r.dumps[8 + i]!, at - TABLE_DUMPS[i]!.gpa);
}

export const KERNEL_FAULT_RIP = BigInt(IMAGE.code);
export const pte = (linear: number) => `0x${(IMAGE.pt0 + (linear >>> 12) * 8).toString(16)}`;

// ---- the host KVM's known deviations ----

export const KVM_INT_AT_CPL0 =
  'the host KVM cannot deliver a software interrupt raised at CPL 0 (PVM emulates INT n with ' +
  "KVM's instruction emulator, which only handles real-mode INT: KVM_EXIT_INTERNAL_ERROR)";
export const KVM_INT_AT_CPL3 = 'the host KVM (PVM) turns INT n with n ≠ 3 at CPL 3 into #UD';
export const KVM_IRET_DATA_SEGMENTS =
  'the host KVM (PVM) keeps DS/ES/FS/GS on an IRETQ to CPL 3 although their DPL is below the ' +
  "new CPL; the SDM's IRET loads them with the null selector";
export const KVM_INT3_GATE_DPL =
  'the host KVM (PVM) delivers INT3 at CPL 3 through a DPL 0 gate instead of raising #GP';
export const KVM_NO_1G_PAGES =
  "the host KVM offers its guests no 1 GiB pages (KVM_GET_SUPPORTED_CPUID lacks PDPE1GB), so a PDPTE's PS bit is reserved there";
export const KVM_DOUBLE_FAULT_CR2 =
  "the host KVM (PVM) delivers exceptions in software, and KVM drops the second #PF's address when it turns it " +
  'into #DF; the SDM (#PF, CR2) says CR2 is updated even when the page fault results in a double fault';
export const KVM_SYSCALL_FROM_CPL3 =
  'the host KVM (PVM) runs SYSCALL from CPL 3 to LSTAR still at CPL 3 (a #PF on the supervisor page)';

export function u64bytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
}

/** 32-bit protected mode, paging off, at compat_entry. */
export function protectedMode32(s: KvmCase['state']): void {
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

// ---- running ----

/** Why KVM cannot run here, or undefined. */
export const unavailable = kvmUnavailableReason();

function problem(spec: Spec, r: KvmResult): string | undefined {
  try {
    spec.expect(r);
    return undefined;
  } catch (error) {
    return `${(error as Error).message} [exit ${r.exit}: ${r.detail}; report: vector ${report(r).vector}, error ${hex(report(r).errorCode)}, rip ${hex(report(r).rip)}]`;
  }
}

/**
 * The tests of one group of cases, in a describe block 'KVM differential: <group>'. The cases
 * are assembled and run in KVM together (one runner process), once, when the first test needs
 * them; each test then runs its own case on the emulator.
 */
export function kvmSuite(group: string, specs: Spec[]): void {
  let batch: { cases: KvmCase[]; kvm: KvmResult[] } | Error | undefined;
  const kvmBatch = (): { cases: KvmCase[]; kvm: KvmResult[] } => {
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
  };

  describe(`KVM differential: ${group}`, () => {
    for (const spec of specs) {
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
