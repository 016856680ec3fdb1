// The hypercall fuzzer: a guest that makes hypercalls as fast as it can with random numbers
// and random arguments (small numbers, pointers into a buffer of random words it keeps
// rewriting, unpopulated and kernel-looking addresses, huge values), from a PRNG in its own
// registers seeded by the test (XENOTYPE_SEED picks other seeds, XENOTYPE_FUZZ makes more
// calls). Whatever it does, the process and the other domain must carry on: at worst the
// fuzzing domain dies, and a fresh one takes over. A handler that throws is a bug: the test
// fails with the hypercall and its arguments. At the end every frame must be back.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { inspect } from 'node:util';
import { XEN_DOMCTL_INTERFACE_VERSION } from '../abi/domctl.js';
import { HYPERCALL_NAMES } from '../abi/hypercall.js';
import { fuzzScale, fuzzSeed, fuzzSeeded } from '../x86/testing/fuzz.js';
import { assemble } from '../x86/testing/native/assemble.js';
import { type Domain, DomainState, type Vcpu } from './common/domain.js';
import type { HypercallEntry } from './hypercall/table.js';
import { Hypervisor } from './hypervisor.js';
import type { SchedulerOps } from './sched/ops.js';
import { RoundRobinScheduler } from './sched/round-robin.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest, writeGuest } from './testing/guest.js';

/** Hypercalls per run at XENOTYPE_FUZZ=1; `npm run fuzz` (200) makes a million and more. */
const HYPERCALLS = 5_000;

/** The fuzzer's data page: its seed, constants and the hypercall numbers it favours. */
const DATA = GUEST_DATA;
const SEED = DATA;
const VERSIONQ = DATA + 0x30;
const INTERESTING = DATA + 0x40;
const OPS = DATA + 0x100;
/** The buffer of random words its pointers point into. */
const BUF = DATA + 0x1000;
const BUF_BYTES = 0x4000;
/** Guest-physical memory nobody populated (identity-mapped by the test page tables). */
const UNPOPULATED = 0x20000000;
/** Words of the buffer rewritten before each hypercall. */
const FILL_PER_CALL = 2;
/** The fuzzer's IDT and its two handlers (for interrupts and for exceptions). */
const IDT = 0x5000;
const INTERRUPT_STUB = GUEST_CODE + 0x10;
const EXCEPTION_STUB = GUEST_CODE + 0x20;
/** The control guest's counter. */
const COUNTER = GUEST_DATA;

/**
 * r15: xorshift64 state; r14: hypercalls made; r13: the buffer. The subroutines clobber
 * only rax and r9, so the argument registers can be filled one by one.
 */
const FUZZER = `
  jmp start
# Interrupts return at once (the guest takes events once SCHEDOP_block enabled them). An
# exception means its code or page tables were overwritten: it triple-faults on purpose
# (no IDT, then #UD), and a fresh one starts.
.org ${INTERRUPT_STUB - GUEST_CODE}
  iretq
.org ${EXCEPTION_STUB - GUEST_CODE}
  lidt no_idt(%rip)
  ud2
no_idt:
  .quad 0, 0
.org 0x40
start:
  mov ${SEED}, %r15
  mov $${BUF}, %r13
  xor %r14d, %r14d
next:
  mov $${FILL_PER_CALL}, %r12d
fill:
  call rand
  mov %rax, %rcx
  shr $${64 - Math.log2(BUF_BYTES / 8)}, %rcx
  call bufword
  mov %rax, (%r13,%rcx,8)
  dec %r12d
  jnz fill
  call randarg
  mov %rax, %rdi
  call randarg
  mov %rax, %rsi
  call randarg
  mov %rax, %r10
  call randarg
  mov %rax, %r8
  call randarg
  mov %rax, %rdx
  call pickop
  # A multicall mostly gets a short list: a long one walks all of memory, 128 entries a go,
  # writing results over everything (the guest's end, mostly), so 1 in 64 only.
  cmp $13, %rax
  jne 1f
  test $0x3f, %r15b
  jz 1f
  and $0x3f, %esi
1:
  inc %r14
  vmcall
  jmp next

rand:
  mov %r15, %rax
  shl $13, %rax
  xor %rax, %r15
  mov %r15, %rax
  shr $7, %rax
  xor %rax, %r15
  mov %r15, %rax
  shl $17, %rax
  xor %rax, %r15
  mov %r15, %rax
  ret

# A hypercall argument: small 1/4, buffer pointer 1/4, kernel-looking, huge, unpopulated,
# interesting 1/8 each.
randarg:
  call rand
  mov %rax, %r9
  shr $61, %r9
  call rand
  cmp $1, %r9d
  jbe small
  cmp $3, %r9d
  jbe bufptr
  cmp $4, %r9d
  je kernel
  cmp $5, %r9d
  je done
  cmp $6, %r9d
  je unpopulated
interesting:
  and $7, %eax
  mov ${INTERESTING}(,%rax,8), %rax
  ret
small:
  and $0x3f, %eax
  ret
bufptr:
  test $0x100000, %eax
  jz 1f
  and $-8, %eax
1:
  and $${BUF_BYTES - 1}, %eax
  add %r13, %rax
  ret
kernel:
  movabs $0xffffffff80000000, %r9
  and $0x0ffffff8, %eax
  or %r9, %rax
  ret
unpopulated:
  and $0xfffff8, %eax
  add $${UNPOPULATED}, %rax
done:
  ret

# A word for the buffer: random 1/4; small, buffer pointer, a domctl/sysctl header (small
# cmd, interface version), zero, interesting, small 16-bit lanes 1/8 each.
bufword:
  call rand
  mov %rax, %r9
  shr $61, %r9
  call rand
  cmp $1, %r9d
  jbe done
  cmp $2, %r9d
  je small
  cmp $3, %r9d
  je alignedptr
  cmp $4, %r9d
  je header
  cmp $5, %r9d
  je zero
  cmp $6, %r9d
  je interesting
  movabs $0x0003000300030003, %r9
  and %r9, %rax
  ret
alignedptr:
  and $${BUF_BYTES - 8}, %eax
  add %r13, %rax
  ret
header:
  and $0x3f, %eax
  or ${VERSIONQ}, %rax
  ret
zero:
  xor %eax, %eax
  ret

# The hypercall number: one the table has 3/4, any of 0-63 1/8, 0-65535 or any 64 bits 1/16.
pickop:
  call rand
  mov %rax, %r9
  shr $61, %r9
  cmp $5, %r9d
  ja 1f
  and $63, %eax
  movzbl ${OPS}(%rax), %eax
  ret
1:
  cmp $6, %r9d
  jne 2f
  and $63, %eax
  ret
2:
  test $1, %eax
  jz done
  and $0xffff, %eax
  ret
`;

/** The control guest: counts, forever. */
const CONTROL = `1: incq ${COUNTER}\n jmp 1b`;

/** 256 interrupt gates (64-bit, DPL 0, code selector 0x08): exceptions, then interrupts. */
function idt(): Uint8Array {
  const out = new Uint8Array(256 * 16);
  const view = new DataView(out.buffer);
  for (let vector = 0; vector < 256; vector++) {
    const handler = vector < 32 ? EXCEPTION_STUB : INTERRUPT_STUB;
    view.setUint32(vector * 16, (0x08 << 16) | (handler & 0xffff), true);
    view.setUint32(vector * 16 + 4, (handler & 0xffff0000) | 0x8e00, true);
  }
  return out;
}

interface Failure {
  where: string;
  error: string;
  reproducer: string;
}

function hex(lo: number, hi: number): string {
  if (hi === 0) return `0x${(lo >>> 0).toString(16)}`;
  return `0x${(hi >>> 0).toString(16)}${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return inspect(error);
  const frame = error.stack?.split('\n')[1]?.trim() ?? '';
  return `${error.name}: ${error.message} ${frame}`;
}

/**
 * Round robin, where the control guest's slices are short: every hypercall exit of the
 * fuzzing guest hands over, and the control guest then runs a little. The fuzzing guest's
 * slices are short enough that the control guest runs in every stretch of `fuzz`.
 */
class FuzzScheduler implements SchedulerOps {
  readonly name = 'fuzz';
  control: Domain | undefined;
  private readonly inner = new RoundRobinScheduler();
  private picked: Vcpu | undefined;

  get sliceInstructions(): number {
    return this.picked?.domain === this.control ? 100 : 20_000;
  }

  insert(vcpu: Vcpu): void {
    this.inner.insert(vcpu);
  }

  remove(vcpu: Vcpu): void {
    this.inner.remove(vcpu);
  }

  pick(pcpu: number): Vcpu | undefined {
    this.picked = this.inner.pick(pcpu);
    return this.picked;
  }

  wake(vcpu: Vcpu): void {
    this.inner.wake(vcpu);
  }

  yield(vcpu: Vcpu): void {
    this.inner.yield(vcpu);
  }

  othersWaiting(picked: Vcpu): boolean {
    return this.inner.othersWaiting(picked);
  }
}

class Campaign {
  readonly scheduler = new FuzzScheduler();
  readonly hv = new Hypervisor({
    memoryBytes: 96 << 20,
    clock: 'virtual',
    scheduler: this.scheduler,
    consoleEcho: (text) => this.noteEnd(text),
  });
  readonly freeAtStart = this.hv.frames.free;
  readonly failures: Failure[] = [];
  private readonly noted = new WeakSet<object>();
  /** Handler invocations per hypercall number (sub-calls of multicalls included). */
  readonly handled = new Map<number, number>();
  /** Why fuzzing domains ended (crash messages, shutdown reasons, the call before), counted. */
  readonly endings = new Map<string, number>();
  private lastCall = '';
  private lastCrashed = '';
  readonly control: Domain;
  fuzzer!: Domain;
  generation = 0;
  /** Hypercalls made by fuzzing domains that are gone. */
  made = 0;
  restarts = 0;
  private readonly program = assemble(FUZZER, 64, { origin: GUEST_CODE });

  constructor(readonly privileged: boolean) {
    this.instrument();
    this.control = this.hv.createDomain({ maxVcpus: 1, maxPages: 1024 });
    this.scheduler.control = this.control;
    prepareGuest(this.hv, this.control, assemble(CONTROL, 64, { origin: GUEST_CODE }), 4);
    this.hv.unpause(this.control);
    this.startFuzzer();
  }

  /** Wraps every handler: counts it, and turns a throw into a reproducer. */
  private instrument(): void {
    const table = this.hv.hypercalls as Map<number, HypercallEntry>;
    for (const [op, entry] of table) {
      const handler = entry.handler;
      table.set(op, {
        ...entry,
        handler: (call) => {
          this.handled.set(op, (this.handled.get(op) ?? 0) + 1);
          this.lastCall = `${entry.name}(${call.argLo[1]}, …)`;
          const argLo = call.argLo.slice();
          const argHi = call.argHi.slice();
          const memory = this.snapshot(argLo, argHi);
          try {
            return handler(call);
          } catch (error) {
            // A throw out of a multicall's entry is noted once, for the entry.
            if (error instanceof Object && this.noted.has(error)) throw error;
            if (error instanceof Object) this.noted.add(error);
            const args = [1, 2, 3, 4, 5].map((n) => hex(argLo[n]!, argHi[n]!)).join(', ');
            this.failures.push({
              where: `${entry.name} (${op})`,
              error: describeError(error),
              reproducer:
                `${entry.name}(${args})${call.inMulticall ? ' in a multicall' : ''}` +
                ` from d${call.vcpu.domain.id}${call.vcpu.domain.privileged ? ' (privileged)' : ''}` +
                `, XENOTYPE_SEED=${fuzzSeed()} generation ${this.generation - 1}` +
                ` hypercall #${this.current()}${memory}`,
            });
            throw error;
          }
        },
      });
    }
  }

  /** The buffer bytes that pointer arguments point at, before the call. */
  private snapshot(argLo: Int32Array, argHi: Int32Array): string {
    let out = '';
    for (let n = 1; n <= 5; n++) {
      const at = argLo[n]! >>> 0;
      if (argHi[n] !== 0 || at < BUF || at >= BUF + BUF_BYTES) continue;
      const length = Math.min(64, BUF + BUF_BYTES - at);
      const bytes = Buffer.from(readGuest(this.hv, this.fuzzer, at, length)).toString('hex');
      out += `; arg${n} -> ${bytes}`;
    }
    return out;
  }

  private startFuzzer(): void {
    const hv = this.hv;
    const generation = this.generation++;
    const domain = hv.createDomain({ maxVcpus: 2, maxPages: 4096, privileged: this.privileged });
    prepareGuest(hv, domain, this.program, 8);
    const data = new DataView(new ArrayBuffer(0x100 + 64));
    data.setUint32(SEED - DATA, fuzzSeeded(0x2545f491 + generation), true);
    data.setUint32(SEED - DATA + 4, fuzzSeeded(0x9e3779b9 + generation), true);
    data.setUint32(VERSIONQ - DATA + 4, XEN_DOMCTL_INTERFACE_VERSION, true);
    const interesting = [0n, 1n, -1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x7ff0n, 0x301n];
    interesting.forEach((v, i) => {
      data.setBigInt64(INTERESTING - DATA + i * 8, v, true);
    });
    const ops = [...hv.hypercalls.keys()];
    for (let i = 0; i < 64; i++) data.setUint8(OPS - DATA + i, ops[i % ops.length]!);
    writeGuest(hv, domain, DATA, new Uint8Array(data.buffer));
    writeGuest(hv, domain, IDT, idt());
    const cpu = domain.vcpus[0]!.cpu;
    cpu.idtBaseLo = IDT;
    cpu.idtLimit = 0xfff;
    hv.unpause(domain);
    this.fuzzer = domain;
  }

  /** Counts the hypervisor's lines about domains that crashed or shut down. */
  private noteEnd(text: string): void {
    const match = /^\(XEN\) Domain (\d+) (crashed: d\d+v\d+ |crashed: |shutdown: )(.{0,60})/.exec(
      text,
    );
    if (match === null) return;
    const kind = match[2]!.startsWith('shutdown') ? 'shutdown' : 'crashed';
    // A crash is followed by its shutdown line: counted once.
    if (kind === 'shutdown' && match[1] === this.lastCrashed) return;
    if (kind === 'crashed') this.lastCrashed = match[1]!;
    const key = `${kind}: ${match[3]!.trim()} after ${this.lastCall}`;
    this.endings.set(key, (this.endings.get(key) ?? 0) + 1);
  }

  /** Progress: hypercalls made and handlers run (a long multicall makes few of the first). */
  progress(): number {
    let handled = 0;
    for (const n of this.handled.values()) handled += n;
    return this.current() + handled;
  }

  /** Hypercalls the current fuzzing domain has made (its r14). */
  current(): number {
    const gpr = this.fuzzer.vcpus[0]!.cpu.gpr;
    return gpr[28]! >>> 0;
  }

  total(): number {
    return this.made + this.current();
  }

  /** The fuzzing domain is gone or stuck: a fresh one takes over. */
  restart(): void {
    this.made += this.current();
    this.restarts++;
    this.destroy(this.fuzzer);
    this.startFuzzer();
  }

  /** Domains the fuzzer made (a privileged one can): destroyed, they would pile up. */
  reapOthers(): void {
    for (const domain of [...this.hv.domains.values()]) {
      if (domain !== this.fuzzer && domain !== this.control) this.destroy(domain);
    }
  }

  destroyAll(): void {
    for (const domain of [...this.hv.domains.values()]) this.destroy(domain);
  }

  private destroy(domain: Domain): void {
    if (domain.state !== DomainState.Dying) this.hv.destroyDomain(domain);
  }
}

function controlCount(c: Campaign): bigint {
  const bytes = readGuest(c.hv, c.control, COUNTER, 8);
  return new DataView(bytes.buffer).getBigUint64(0, true);
}

/** Runs the campaign until `target` hypercalls, restarting the fuzzing domain as needed. */
function fuzz(t: TestContext, c: Campaign, target: number): void {
  const started = performance.now();
  let stalled = 0;
  let last = -1;
  let controlStalls = 0;
  let before = controlCount(c);
  while (c.total() < target) {
    try {
      c.hv.run(100_000);
    } catch (error) {
      // Not a handler: the CPU or the hypervisor core. Noted; a fresh guest carries on.
      c.failures.push({
        where: 'Hypervisor.run',
        error: describeError(error),
        reproducer: `running d${c.fuzzer.id}, XENOTYPE_SEED=${fuzzSeed()} generation ${c.generation - 1}`,
      });
      c.restart();
      continue;
    }
    if (c.privileged) c.reapOthers();
    else {
      assert.equal(c.control.state, DomainState.Running, 'the control guest is untouched');
      const count = controlCount(c);
      if (count <= before) controlStalls++;
      before = count;
    }
    const domain = c.fuzzer;
    const vcpu = domain.vcpus[0]!;
    const progress = c.progress();
    stalled = progress === last ? stalled + 1 : 0;
    last = progress;
    if (
      domain.state !== DomainState.Running ||
      !vcpu.online ||
      domain.pauseCount > 0 ||
      vcpu.pauseCount > 0 ||
      stalled > 1
    ) {
      c.restart();
      last = -1;
      stalled = 0;
    } else if (vcpu.blocked) {
      c.hv.kick(vcpu);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const rate = Math.round(c.total() / seconds);
  const byOp = [...c.handled]
    .sort((a, b) => b[1] - a[1])
    .map(([op, n]) => `${HYPERCALL_NAMES[op] ?? op} ${n}`)
    .join(', ');
  t.diagnostic(
    `${c.total()} hypercalls in ${seconds.toFixed(1)} s: ${rate} hypercalls/s, ` +
      `${c.restarts} fresh fuzzing domains; handled: ${byOp}`,
  );
  const endings = [...c.endings].sort((a, b) => b[1] - a[1]);
  t.diagnostic(`endings: ${endings.map(([why, n]) => `${n}× ${why}`).join('; ')}`);
  if (!c.privileged) assert.equal(controlStalls, 0, 'the control guest ran in every stretch');
}

function assertNoFailures(c: Campaign): void {
  const distinct = new Map<string, Failure>();
  for (const f of c.failures) {
    const key = `${f.where} ${f.error}`;
    if (!distinct.has(key)) distinct.set(key, f);
  }
  const report = [...distinct.values()]
    .map((f) => `${f.where}: ${f.error}\n    ${f.reproducer}`)
    .join('\n');
  assert.equal(distinct.size, 0, `handlers threw:\n${report}`);
}

/** After the campaign the hypervisor still runs a fresh guest and has every frame back. */
function assertHealthy(c: Campaign): void {
  const hv = c.hv;
  const probe = hv.createDomain({ maxVcpus: 1, maxPages: 1024 });
  prepareGuest(
    hv,
    probe,
    assemble(`mov $17, %eax\n xor %edi, %edi\n vmcall\n mov %rax, ${COUNTER}\n 1: jmp 1b`, 64, {
      origin: GUEST_CODE,
    }),
    4,
  );
  hv.unpause(probe);
  hv.run(200_000);
  const version = new DataView(readGuest(hv, probe, COUNTER, 8).buffer).getUint32(0, true);
  assert.equal(version, (4 << 16) | 17, 'a new guest still gets answers');
  c.destroyAll();
  assert.equal(hv.domains.size, 0);
  assert.equal(hv.zombies.size, 0, 'no destroyed domain is kept alive by grants');
  assert.equal(hv.frames.free, c.freeAtStart, 'every frame came back');
}

const target = HYPERCALLS * fuzzScale();

describe('hypercall fuzzer', () => {
  test(`an unprivileged guest makes ${target} random hypercalls; the other guest carries on`, (t) => {
    const c = new Campaign(false);
    const code = readGuest(c.hv, c.control, GUEST_CODE, 4096);
    fuzz(t, c, target);
    assert.equal(c.control.state, DomainState.Running);
    assert.ok(controlCount(c) > 0n);
    assert.deepEqual(readGuest(c.hv, c.control, GUEST_CODE, 4096), code, 'its code is intact');
    assertNoFailures(c);
    assertHealthy(c);
  });

  test(`a privileged guest makes ${target} random hypercalls; the hypervisor survives`, (t) => {
    const c = new Campaign(true);
    fuzz(t, c, target);
    assertNoFailures(c);
    assertHealthy(c);
  });
});
