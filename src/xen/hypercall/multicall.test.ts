// Multicall and hypercall continuations, driven by assembled guests: batches with failing
// entries, -EFAULT on the list, nested multicalls, preemption between entries (budget,
// shutdown, block) and handlers that continue themselves, from VMCALL and from a batch.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM } from '../../abi/errno.js';
import { multicall_entry } from '../../abi/xen.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import { type Domain, DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest, writeGuest } from '../testing/guest.js';
import { HYPERCALL_PREEMPT_WORK, hypercallCreateContinuation } from './continuation.js';
import { dispatchHypercall } from './dispatch.js';
import { argPointer, argU64 } from './guest-args.js';
import type { HypercallEntry, HypercallHandler } from './table.js';

const VERSION = (4 << 16) | 17;
/** Where the guests keep things: results, the multicall list, counters and strings. */
const RESULTS = GUEST_DATA;
const COUNTERS = GUEST_DATA + 0x1000;
const TEXT = GUEST_DATA + 0x2000;
const REASON = GUEST_DATA + 0x3000;
const LIST = GUEST_DATA + 0x10000;
/** The test-only hypercalls (arch_6, arch_7: numbers nothing else uses). */
const COUNTDOWN = 54;
const PRIVILEGED_ONLY = 55;
/** A guest virtual address the test guests' page tables do not map. */
const UNMAPPED = 0x7fff00000000;
/** What an entry's result holds before the batch touches it. */
const UNTOUCHED = 0x5a5a5a5an;

/** Ends a guest program: sched_op(SCHEDOP_shutdown, poweroff). */
const POWEROFF = `
  movl $0, ${REASON}
  mov $29, %eax
  mov $2, %edi
  mov $${REASON}, %esi
  vmcall
  ud2
`;

interface Machine {
  hv: Hypervisor;
  domain: Domain;
  /** How many times each test hypercall ran. */
  calls: Map<number, number>;
}

/**
 * A hypervisor with one domain running `body` (64-bit, at GUEST_CODE), and COUNTDOWN: adds
 * arg1 to the u64 at arg2, at most 10 per go, continuing itself until done; returns 7.
 */
function machine(body: string, setup?: (m: Machine) => void): Machine {
  const hv = new Hypervisor({ memoryBytes: 32 << 20, clock: 'virtual' });
  const domain = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
  const calls = new Map<number, number>();
  const table = hv.hypercalls as Map<number, HypercallEntry>;
  const counted = (op: number, handler: HypercallHandler): HypercallHandler => {
    return (call) => {
      calls.set(op, (calls.get(op) ?? 0) + 1);
      return handler(call);
    };
  };
  // The test guests map their memory 1:1: a guest pointer is a guest-physical address.
  const countdown: HypercallHandler = (call) => {
    const remaining = argU64(call, 1);
    const at = argPointer(call, 2);
    const view = new DataView(readGuest(hv, domain, at.lo, 8).buffer);
    const step = Math.min(remaining, 10);
    view.setUint32(0, view.getUint32(0, true) + step, true);
    writeGuest(hv, domain, at.lo, new Uint8Array(view.buffer));
    if (remaining > step) return hypercallCreateContinuation(call, { 1: remaining - step });
    return 7;
  };
  table.set(COUNTDOWN, { name: 'countdown', handler: counted(COUNTDOWN, countdown) });
  table.set(PRIVILEGED_ONLY, { name: 'privileged', privileged: true, handler: () => 1 });
  for (const op of [13, 17]) {
    const entry = table.get(op)!;
    table.set(op, { ...entry, handler: counted(op, entry.handler) });
  }
  prepareGuest(hv, domain, assemble(`${body}\n${POWEROFF}`, 64, { origin: GUEST_CODE }));
  const m = { hv, domain, calls };
  setup?.(m);
  hv.unpause(domain);
  return m;
}

interface EntryInput {
  op: number | bigint;
  args?: (number | bigint)[];
}

function writeList(m: Machine, entries: EntryInput[], at = LIST): void {
  const bytes = new Uint8Array(entries.length * multicall_entry.size);
  entries.forEach((e, i) => {
    const one = multicall_entry.encode({ op: e.op, result: UNTOUCHED, args: e.args ?? [] });
    bytes.set(one, i * multicall_entry.size);
  });
  writeGuest(m.hv, m.domain, at, bytes);
}

/** Entry i of the list: its result and arguments, as signed 64-bit values. */
function readEntry(m: Machine, i: number, at = LIST): { result: bigint; args: bigint[] } {
  const bytes = readGuest(m.hv, m.domain, at + i * multicall_entry.size, multicall_entry.size);
  const view = new DataView(bytes.buffer);
  const args = Array.from({ length: 6 }, (_, n) => view.getBigInt64(16 + n * 8, true));
  return { result: view.getBigInt64(8, true), args };
}

function results(m: Machine, count: number): bigint[] {
  const view = new DataView(readGuest(m.hv, m.domain, RESULTS, count * 8).buffer);
  return Array.from({ length: count }, (_, i) => view.getBigInt64(i * 8, true));
}

function u64At(m: Machine, at: number): bigint {
  return new DataView(readGuest(m.hv, m.domain, at, 8).buffer).getBigUint64(0, true);
}

/** Guest code: multicall(LIST + offset, count), RAX stored at RESULTS + slot * 8. */
function multicallCode(count: number, slot = 0, offset = 0): string {
  return `
    mov $13, %eax
    mov $${LIST + offset}, %rdi
    mov $${count}, %esi
    vmcall
    mov %rax, ${RESULTS + slot * 8}
  `;
}

const TEXT_BYTES = new TextEncoder().encode('after\n');

describe('multicall', () => {
  test('runs every entry, writes each result, carries on past failing ones', () => {
    const m = machine(multicallCode(9), (m) => {
      writeGuest(m.hv, m.domain, TEXT, TEXT_BYTES);
      writeList(m, [
        { op: 17, args: [0] },
        { op: 18, args: [0, TEXT_BYTES.length, TEXT] },
        { op: 63 },
        { op: 0x100000011n, args: [0] },
        { op: 13, args: [LIST, 1] },
        { op: 18, args: [0, 4, UNMAPPED] },
        { op: PRIVILEGED_ONLY },
        { op: COUNTDOWN, args: [3, COUNTERS] },
        { op: 17, args: [0] },
      ]);
    });
    m.hv.run(1_000_000);
    assert.equal(m.domain.state, DomainState.Shutdown);
    assert.deepEqual(results(m, 1), [0n], 'the batch itself succeeds');
    const got = Array.from({ length: 9 }, (_, i) => readEntry(m, i).result);
    assert.deepEqual(got, [
      BigInt(VERSION),
      0n,
      BigInt(-XEN_ENOSYS),
      BigInt(-XEN_ENOSYS),
      BigInt(-XEN_EINVAL),
      BigInt(-XEN_EFAULT),
      BigInt(-XEN_EPERM),
      7n,
      BigInt(VERSION),
    ]);
    assert.match(m.hv.console.contents(), /\(d1\) after\n/);
    assert.equal(u64At(m, COUNTERS), 3n);
    assert.equal(m.calls.get(13), 2, 'the nested multicall reached the handler, and was refused');
  });

  test('-EFAULT when the list runs into unmapped memory: earlier results stay written', () => {
    // The list ends at the last populated byte (8 MiB): entry 2 is beyond it.
    const end = 8 << 20;
    const at = end - 2 * multicall_entry.size;
    const m = machine(
      `${multicallCode(3, 0, at - LIST)}
       ${multicallCode(1, 1, UNMAPPED - LIST)}
       ${multicallCode(0, 2, UNMAPPED - LIST)}`,
      (m) => writeList(m, [{ op: 17 }, { op: 17 }], at),
    );
    m.hv.run(1_000_000);
    assert.deepEqual(results(m, 3), [BigInt(-XEN_EFAULT), BigInt(-XEN_EFAULT), 0n]);
    assert.equal(readEntry(m, 0, at).result, BigInt(VERSION));
    assert.equal(readEntry(m, 1, at).result, BigInt(VERSION));
  });

  test('a long batch is preempted between entries and continued where it stopped', () => {
    const count = HYPERCALL_PREEMPT_WORK * 2 + 44;
    const m = machine(
      `incq ${COUNTERS + 8}
       ${multicallCode(count)}`,
      (m) =>
        writeList(
          m,
          Array.from({ length: count }, () => ({ op: 17, args: [0] })),
        ),
    );
    m.hv.run(10_000_000);
    assert.equal(m.domain.state, DomainState.Shutdown);
    assert.deepEqual(results(m, 1), [0n]);
    for (let i = 0; i < count; i++) assert.equal(readEntry(m, i).result, BigInt(VERSION));
    assert.equal(m.calls.get(13), 3, 'three goes at the batch');
    assert.equal(m.calls.get(17), count, 'each entry ran once');
    assert.equal(u64At(m, COUNTERS + 8), 1n, 'the guest re-entered at the VMCALL, not before');
  });

  test('a shutdown in the batch preempts it: RIP back on the VMCALL, list and count advanced', () => {
    const m = machine(
      `
      mov $0x1122334455667788, %r10
      ${multicallCode(2)}
      `,
      (m) => {
        writeGuest(m.hv, m.domain, TEXT, TEXT_BYTES);
        writeGuest(m.hv, m.domain, REASON + 8, new Uint8Array(4));
        writeList(m, [
          { op: 29, args: [2, REASON + 8] },
          { op: 18, args: [0, TEXT_BYTES.length, TEXT] },
        ]);
      },
    );
    m.hv.run(1_000_000);
    assert.equal(m.domain.state, DomainState.Shutdown);
    assert.equal(readEntry(m, 0).result, 0n);
    assert.equal(readEntry(m, 1).result, BigInt.asIntN(64, UNTOUCHED), 'entry 1 never ran');
    assert.doesNotMatch(m.hv.console.contents(), /after/);
    const cpu = m.domain.vcpus[0]!.cpu;
    const vmcall = GUEST_CODE + 10 + 5 + 7 + 5; // movabs, mov eax, mov rdi, mov esi
    assert.equal(cpu.ripLo, vmcall, 'RIP is on the VMCALL');
    assert.deepEqual([...readGuest(m.hv, m.domain, vmcall, 3)], [0x0f, 0x01, 0xc1]);
    assert.equal(cpu.gpr[0], 13, 'RAX holds the hypercall number');
    assert.equal(cpu.gpr[7 * 2], LIST + multicall_entry.size, 'RDI: the next entry');
    assert.equal(cpu.gpr[6 * 2], 1, 'RSI: one entry left');
    assert.equal(cpu.gpr[10 * 2], 0x55667788, 'other registers are left alone');
  });

  test('a vCPU that blocks in a batch finishes it once woken', () => {
    const m = machine(multicallCode(3), (m) => {
      writeGuest(m.hv, m.domain, TEXT, TEXT_BYTES);
      writeList(m, [
        { op: 29, args: [1] }, // SCHEDOP_block
        { op: 18, args: [0, TEXT_BYTES.length, TEXT] },
        { op: 17, args: [0] },
      ]);
    });
    m.hv.run(1_000_000);
    const vcpu = m.domain.vcpus[0]!;
    assert.equal(vcpu.blocked, true);
    assert.equal(m.domain.state, DomainState.Running);
    assert.doesNotMatch(m.hv.console.contents(), /after/);
    m.hv.kick(vcpu);
    m.hv.run(1_000_000);
    assert.equal(m.domain.state, DomainState.Shutdown);
    assert.match(m.hv.console.contents(), /\(d1\) after\n/);
    assert.deepEqual(
      [0, 1, 2].map((i) => readEntry(m, i).result),
      [0n, 0n, BigInt(VERSION)],
    );
    assert.deepEqual(results(m, 1), [0n]);
  });

  test('an entry that continues itself is written back and resumed inside the batch', () => {
    const m = machine(multicallCode(3), (m) => {
      writeList(m, [
        { op: COUNTDOWN, args: [25, COUNTERS, 0, 0, 0, 99] },
        { op: 17, args: [0] },
        { op: COUNTDOWN, args: [12, COUNTERS + 8] },
      ]);
    });
    m.hv.run(1_000_000);
    assert.equal(m.domain.state, DomainState.Shutdown);
    assert.deepEqual(results(m, 1), [0n]);
    assert.equal(u64At(m, COUNTERS), 25n);
    assert.equal(u64At(m, COUNTERS + 8), 12n);
    const first = readEntry(m, 0);
    assert.equal(first.result, 7n);
    assert.deepEqual(first.args, [5n, BigInt(COUNTERS), 0n, 0n, 0n, 99n], 'its continuation');
    assert.equal(readEntry(m, 1).result, BigInt(VERSION));
    assert.equal(readEntry(m, 2).result, 7n);
    assert.equal(m.calls.get(COUNTDOWN), 3 + 2);
    assert.equal(m.calls.get(17), 1, 'finished entries are not run again');
    assert.equal(m.calls.get(13), 1 + 3, 'the batch went back to the guest each time');
  });

  test('a 32-bit (compat) guest uses 32-byte entries and EBX/ECX', () => {
    const CODE32 = 0x28;
    const m = machine(
      `
      pushq $${CODE32}
      lea compat(%rip), %rax
      push %rax
      lretq
      .code32
    compat:
      mov $13, %eax
      mov $${LIST}, %ebx
      mov $3, %ecx
      vmcall
      mov %eax, ${RESULTS}
      mov $${COUNTDOWN}, %eax
      mov $23, %ebx
      mov $${COUNTERS}, %ecx
      vmcall
      mov %eax, ${RESULTS + 8}
      mov %ebx, ${RESULTS + 16}
      ud2
      .code64
      `,
      (m) => {
        writeGuest(m.hv, m.domain, 0x7028, u32s([0x0000ffff, 0x00cf9b00]));
        m.domain.vcpus[0]!.cpu.gdtLimit = 0x2f;
        writeGuest(
          m.hv,
          m.domain,
          LIST,
          u32s([
            ...[17, 0x5a5a5a5a, 0, 0, 0, 0, 0, 0],
            ...[COUNTDOWN, 0x5a5a5a5a, 14, COUNTERS + 8, 0, 0, 0, 0],
            ...[63, 0x5a5a5a5a, 0, 0, 0, 0, 0, 0],
          ]),
        );
      },
    );
    m.hv.run(1_000_000);
    const words = new DataView(readGuest(m.hv, m.domain, LIST, 96).buffer);
    const word = (i: number) => words.getInt32(i * 4, true);
    assert.deepEqual([word(1), word(9), word(17)], [VERSION, 7, -XEN_ENOSYS]);
    assert.equal(word(10), 4, 'the compat entry holds its continuation');
    assert.equal(u64At(m, COUNTERS + 8), 14n);
    const view = new DataView(readGuest(m.hv, m.domain, RESULTS, 24).buffer);
    assert.equal(view.getInt32(0, true), 0);
    assert.equal(view.getInt32(8, true), 7, 'a 32-bit VMCALL continues too');
    assert.equal(view.getInt32(16, true), 3, 'EBX holds the last continuation');
    assert.equal(u64At(m, COUNTERS), 23n);
  });
});

function u32s(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setUint32(i * 4, v >>> 0, true);
  });
  return out;
}

describe('hypercall continuations', () => {
  test('a handler continues itself: the guest re-executes the VMCALL with new arguments', () => {
    const m = machine(`
      incq ${COUNTERS + 8}
      mov $${COUNTDOWN}, %eax
      mov $35, %edi
      mov $${COUNTERS}, %esi
      vmcall
      mov %rax, ${RESULTS}
      mov %rdi, ${RESULTS + 8}
      # through the hypercall page: the stub's VMCALL is re-executed, RAX reloaded
      mov $0x40000000, %ecx
      mov $0x400000, %eax
      xor %edx, %edx
      wrmsr
      mov $21, %edi
      mov $${COUNTERS + 16}, %esi
      call 0x400000 + ${COUNTDOWN} * 32
      mov %rax, ${RESULTS + 16}
    `);
    m.hv.run(1_000_000);
    assert.equal(m.domain.state, DomainState.Shutdown);
    assert.deepEqual(results(m, 3), [7n, 5n, 7n]);
    assert.equal(u64At(m, COUNTERS), 35n);
    assert.equal(u64At(m, COUNTERS + 16), 21n);
    assert.equal(u64At(m, COUNTERS + 8), 1n, 'code before the VMCALL ran once');
    assert.equal(m.calls.get(COUNTDOWN), 4 + 3);
  });

  test('RIP steps back across a 4 GiB boundary (a high-half kernel)', () => {
    const m = machine('ud2');
    const vcpu = m.domain.vcpus[0]!;
    const cpu = vcpu.cpu;
    cpu.ripHi = -1;
    cpu.ripLo = 1;
    cpu.exit.instructionLength = 3;
    cpu.gpr.fill(0);
    cpu.gpr[0] = COUNTDOWN;
    cpu.gpr[7 * 2] = 11;
    cpu.gpr[6 * 2] = COUNTERS;
    dispatchHypercall(m.hv, m.hv.hypercalls, vcpu);
    assert.equal(cpu.ripLo, -2);
    assert.equal(cpu.ripHi, -2);
    assert.equal(cpu.gpr[0], COUNTDOWN);
    assert.equal(cpu.gpr[7 * 2], 1);
    assert.equal(cpu.gpr[7 * 2 + 1], 0);
  });

  test('guest user mode gets -EPERM and no handler runs', () => {
    const m = machine(
      `
      lea user(%rip), %rax
      pushq $0x1b
      pushq $0x1ff000
      pushfq
      pushq $0x23
      push %rax
      iretq
    user:
      mov $17, %eax
      xor %edi, %edi
      vmcall
      mov %rax, ${RESULTS}
      ud2
      `,
      (m) => {
        const { hv, domain } = m;
        // User-accessible page tables and ring-3 segments (data 0x18, 64-bit code 0x20).
        writeGuest(hv, domain, 0x1000, u32s([0x2007, 0]));
        writeGuest(hv, domain, 0x2000, u32s([0x3007, 0]));
        const pd: number[] = [];
        for (let i = 0; i < 512; i++) pd.push((i * 0x200000) | 0x87, 0);
        writeGuest(hv, domain, 0x3000, u32s(pd));
        writeGuest(hv, domain, 0x7018, u32s([0x0000ffff, 0x00cff300, 0x0000ffff, 0x00affb00]));
        domain.vcpus[0]!.cpu.gdtLimit = 0x27;
        domain.vcpus[0]!.cpu.flushTlb();
      },
    );
    m.hv.run(1_000_000);
    assert.deepEqual(results(m, 1), [BigInt(-XEN_EPERM)]);
    assert.equal(m.calls.get(17) ?? 0, 0);
    assert.equal(m.domain.state, DomainState.Shutdown, 'ud2 in user mode without an IDT');
  });

  test('a handler that throws crashes only the calling domain', () => {
    const m = machine(`
      mov $${PRIVILEGED_ONLY - 2}, %eax
      vmcall
    `);
    const other = m.hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    prepareGuest(m.hv, other, assemble(`1: incq ${COUNTERS}\n jmp 1b`, 64, { origin: GUEST_CODE }));
    m.hv.unpause(other);
    (m.hv.hypercalls as Map<number, HypercallEntry>).set(PRIVILEGED_ONLY - 2, {
      name: 'broken',
      handler: () => {
        throw new TypeError('a bug');
      },
    });
    m.hv.run(2_000_000);
    assert.equal(m.domain.state, DomainState.Shutdown);
    assert.match(
      m.hv.console.contents(),
      /Domain 1 crashed: hypercall broken \(53\) threw TypeError: a bug/,
    );
    assert.equal(other.state, DomainState.Running);
    assert.ok(u64At({ ...m, domain: other }, COUNTERS) > 1000n);
  });
});
