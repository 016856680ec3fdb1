/**
 * The integer differential tests against this machine's own processor: every case (built with
 * integer-cases.ts) runs natively (native/) and in the emulator, and the registers, RIP, fault,
 * the compared flags and the touched memory must agree. Each round's native cases run in one
 * batch; XENOTYPE_FUZZ (fuzz.ts) sets how many rounds of random cases a suite runs.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ExitReason } from '../exit.js';
import { Flag, Lazy, LazyOp } from '../flags.js';
import { P2m } from '../memory.js';
import { Seg } from '../segments.js';
import { fuzzScale, fuzzSeeded } from './fuzz.js';
import {
  AMD_HOST,
  type Case,
  REGS,
  randomState,
  seedRandom,
  takeCases,
  ZEN3_HOST,
} from './integer-cases.js';
import { TestMachine } from './machine.js';
import { assembleMany } from './native/assemble.js';
import { LAYOUT, type NativeResult, runNative } from './native/native.js';

/** A compatibility-mode snippet: the native side far-jumps to the 32-bit body and back. */
function compat(body: string): string {
  // DS and ES are null in 64-bit mode; compatibility mode needs them (SS holds __USER_DS).
  return [
    'movw %ss, -8(%rsp)',
    'mov -8(%rsp), %ds',
    'mov -8(%rsp), %es',
    'ljmpl *1f(%rip)',
    '1: .long 2f',
    '.word 0x23',
    '.code32',
    '2:',
    body,
    'ljmp $0x33, $3f',
    '.code64',
    '3:',
  ].join('\n');
}
/** Bytes of the compat wrapper before the body (measured) and after it. */
let COMPAT_HEAD = 0;
const COMPAT_TAIL = 7;

// ---------------------------------------------------------------------------------------
// The emulator side.

interface Outcome {
  gpr: bigint[];
  rip: bigint;
  rflags: number;
  /** The fault's vector, or -1. */
  vector: number;
}

const VMCALL = [0x0f, 0x01, 0xc1];

class Emulator {
  readonly machine = new TestMachine(1024);
  readonly cpu;
  private vector = -1;
  private lastCode: Uint8Array | undefined;
  private readonly codeBase: number;
  readonly dataBase: number;
  readonly stackBase: number;
  private readonly cs: [number, number, number];

  constructor() {
    const m = this.machine;
    for (const region of [LAYOUT.code, LAYOUT.data, LAYOUT.stack]) m.map(region, LAYOUT.regionSize);
    this.cpu = m.enterLongMode(3);
    this.cs = [this.cpu.segSel[Seg.CS]!, this.cpu.segAttr[Seg.CS]!, this.cpu.segLimit[Seg.CS]!];
    this.codeBase = this.contiguous(LAYOUT.code);
    this.dataBase = this.contiguous(LAYOUT.data);
    this.stackBase = this.contiguous(LAYOUT.stack);
    this.cpu.raise = (vector: number) => {
      this.vector = vector;
      this.cpu.exit.reason = ExitReason.Shutdown;
      return false;
    };
  }

  /** The machine address of a region, which must be backed by consecutive frames. */
  private contiguous(gpa: number): number {
    const first = this.machine.p2m[gpa / 4096]! & P2m.FrameMask;
    for (let k = 0; k < LAYOUT.regionSize / 4096; k++) {
      assert.equal(this.machine.p2m[gpa / 4096 + k]! & P2m.FrameMask, first + k);
    }
    return first * 4096;
  }

  run(c: Case, bytes: Uint8Array): Outcome {
    const { cpu, machine } = this;
    const mem = machine.memory.bytes;
    let start = LAYOUT.code;
    let code = bytes;
    if (c.compat) {
      start += COMPAT_HEAD;
      code = bytes.slice(0, bytes.length - COMPAT_TAIL);
    }
    if (this.lastCode !== code) {
      mem.fill(0, this.codeBase, this.codeBase + 0x1000);
      mem.set(code, this.codeBase);
      mem.set(VMCALL, this.codeBase + code.length);
      cpu.blocks.invalidateFrame(this.codeBase / 4096, cpu);
      this.lastCode = code;
    }
    mem.fill(0, this.dataBase, this.dataBase + LAYOUT.regionSize);
    if (c.data) mem.set(c.data, this.dataBase);
    mem.fill(0, this.stackBase, this.stackBase + LAYOUT.regionSize);
    for (let r = 0; r < 16; r++) {
      const v = c.gpr[r]!;
      cpu.gpr[2 * r] = Number(v & 0xffffffffn) | 0;
      cpu.gpr[2 * r + 1] = Number(v >> 32n) | 0;
    }
    cpu.flags = c.rflags | Flag.IF | Flag.Fixed;
    cpu.lazy[Lazy.Op] = LazyOp.Eager;
    cpu.segSel[Seg.CS] = c.compat ? 0x23 : this.cs[0];
    cpu.segAttr[Seg.CS] = c.compat ? 0xc0fb : this.cs[1];
    cpu.updateMode();
    cpu.ripLo = start;
    cpu.ripHi = 0;
    cpu.exit.reason = ExitReason.Budget;
    this.vector = -1;
    const exit = cpu.run(c.compat ? 10_000_000 : 1000);
    if (this.vector < 0 && exit.reason !== ExitReason.Hypercall) {
      throw new Error(`emulator stopped with exit ${exit.reason}`);
    }
    const gpr: bigint[] = [];
    for (let r = 0; r < 16; r++) {
      gpr.push((BigInt(cpu.gpr[2 * r + 1]! >>> 0) << 32n) | BigInt(cpu.gpr[2 * r]! >>> 0));
    }
    let rip = BigInt(cpu.ripLo >>> 0);
    if (this.vector < 0) rip -= 3n; // past the VMCALL
    if (c.compat && this.vector < 0) rip += BigInt(COMPAT_TAIL);
    return { gpr, rip, rflags: cpu.readFlags(), vector: this.vector };
  }

  data(): Uint8Array {
    return this.machine.memory.bytes.subarray(this.dataBase, this.dataBase + LAYOUT.regionSize);
  }

  stack(): Uint8Array {
    return this.machine.memory.bytes.subarray(this.stackBase, this.stackBase + LAYOUT.regionSize);
  }
}

// ---------------------------------------------------------------------------------------
// Comparison.

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** Differences between the native and emulated outcome of a case, as text. */
function compare(c: Case, native: NativeResult, emu: Outcome, emulator: Emulator): string[] {
  const problems: string[] = [];
  const vector = native.fault ? native.fault.vector : -1;
  if (native.fault && native.fault.vector < 0) return [`native ${native.fault.signal}`];
  if (vector !== emu.vector) problems.push(`fault ${vector} vs ${emu.vector}`);
  const regMask = c.compat ? 0xffffffffn : 0xffffffffffffffffn;
  for (let r = 0; r < 16; r++) {
    if ((native.gpr[r]! & regMask) !== (emu.gpr[r]! & regMask)) {
      problems.push(`${REGS[r]} ${hex(native.gpr[r]!)} vs ${hex(emu.gpr[r]!)}`);
    }
  }
  if (native.rip !== emu.rip) problems.push(`rip ${hex(native.rip)} vs ${hex(emu.rip)}`);
  // A fault sets RF in the flags the signal handler sees.
  const undefinedFlags = AMD_HOST ? (ZEN3_HOST ? 0 : c.zen3Flags) : c.undefinedFlags;
  const mask = ~undefinedFlags & 0x3fffff & ~(native.fault ? Flag.RF : 0);
  if ((native.rflags & mask) !== (emu.rflags & mask)) {
    problems.push(
      `rflags ${native.rflags.toString(16)} vs ${emu.rflags.toString(16)}` +
        ` (differ ${((native.rflags ^ emu.rflags) & mask).toString(16)})`,
    );
  }
  if (c.memory && c.compat) {
    const entry = firstLoopDifference(native.data, emulator.data(), ~undefinedFlags);
    if (entry >= 0) {
      // A BCD loop: AX and FLAGS per input.
      const show = (b: Uint8Array) => {
        const view = new DataView(b.buffer, b.byteOffset + entry * 4, 4);
        return `${view.getUint16(0, true).toString(16)}/${view.getUint16(2, true).toString(16)}`;
      };
      problems.push(
        `loop entry ${hex(BigInt(entry))}: ax/flags ${show(native.data)} vs ${show(emulator.data())}`,
      );
    }
  } else if (c.memory && Buffer.compare(native.data, emulator.data()) !== 0) {
    const e = emulator.data();
    problems.push(`data differs at ${hex(BigInt(native.data.findIndex((b, k) => b !== e[k])))}`);
  }
  if (c.stack && Buffer.compare(native.stack, emulator.stack()) !== 0)
    problems.push('stack differs');
  return problems;
}

/** The first entry (AX, FLAGS) of a BCD loop's output that differs, or -1. */
function firstLoopDifference(a: Uint8Array, b: Uint8Array, flagMask: number): number {
  const va = new DataView(a.buffer, a.byteOffset, a.length);
  const vb = new DataView(b.buffer, b.byteOffset, b.length);
  for (let at = 0; at < a.length; at += 4) {
    if (va.getUint16(at, true) !== vb.getUint16(at, true)) return at >> 2;
    if ((va.getUint16(at + 2, true) ^ vb.getUint16(at + 2, true)) & flagMask) return at >> 2;
  }
  return -1;
}

function describeCase(c: Case): string {
  const inputs = ['rax', 'rcx', 'rdx', 'rbx', 'rsi']
    .map((name) => `${name}=${hex(c.gpr[REGS.indexOf(name)]!)}`)
    .join(' ');
  const source = c.compat
    ? c.source
        .split('\n')
        .find((l) => /daa|das|aaa|aas|aam|aad|xlat/.test(l))
        ?.trim()
    : c.source;
  return `${source} [${inputs} flags=${c.rflags.toString(16)}]`;
}

// ---------------------------------------------------------------------------------------
// The suite.

export interface Generators {
  /** Random cases: generated again, continuing the random sequence, in every round. */
  random: () => void;
  /** Fixed cases (exhaustive loops, invalid encodings): the first round only. */
  fixed?: () => void;
}

/** Failures of one family: how many, and the first few described. */
interface Failures {
  count: number;
  lines: string[];
}

/**
 * A describe block `title` with one test per case family, named with its case count. The
 * random sequence starts at `seed` (mixed with XENOTYPE_SEED); XENOTYPE_FUZZ = n runs n rounds,
 * each generated, run and compared before the next, so memory stays that of one round.
 */
export function differentialSuite(title: string, seed: number, generators: Generators): void {
  const rounds = fuzzScale();
  const generate = (round: number): Case[] => {
    generators.random();
    if (round === 0) generators.fixed?.();
    return takeCases();
  };
  // Generated once up front to name the tests; each round's start is kept to generate it again.
  seedRandom(fuzzSeeded(seed));
  const starts: number[] = [];
  const totals = new Map<string, number>();
  let first: Case[] = [];
  for (let round = 0; round < rounds; round++) {
    starts.push(randomState());
    const cases = generate(round);
    for (const c of cases) totals.set(c.family, (totals.get(c.family) ?? 0) + 1);
    if (round === 0) first = cases;
  }

  const failures = new Map<string, Failures>();
  const counts = new Map<string, number>();

  describe(title, () => {
    before(() => {
      COMPAT_HEAD = assembleMany([compat('')])[0]!.length - COMPAT_TAIL;
      const emulator = new Emulator();
      const assembled = new Map<string, Uint8Array>();
      for (let round = 0; round < rounds; round++) {
        let cases = first;
        if (round > 0) {
          seedRandom(starts[round]!);
          cases = generate(round);
        }
        first = [];
        runRound(cases, emulator, assembled, counts, failures);
      }
    });

    for (const [family, total] of totals) {
      test(`${family} (${total} cases)`, () => {
        const failed = failures.get(family) ?? { count: 0, lines: [] };
        assert.ok((counts.get(family) ?? 0) > 0);
        assert.equal(
          failed.count,
          0,
          `${failed.count} of ${counts.get(family)} cases differ:\n${failed.lines.join('\n')}`,
        );
      });
    }
  });
}

/** Runs one round's cases natively and in the emulator, recording counts and failures. */
function runRound(
  cases: Case[],
  emulator: Emulator,
  assembled: Map<string, Uint8Array>,
  counts: Map<string, number>,
  failures: Map<string, Failures>,
): void {
  const compatOf = new Map(cases.map((c) => [c.source, c.compat]));
  const missing = [...compatOf.keys()].filter((s) => !assembled.has(s));
  const bytes = assembleMany(missing.map((s) => (compatOf.get(s) ? compat(s) : s)));
  missing.forEach((s, k) => {
    assembled.set(s, bytes[k]!);
  });
  const native = runNative(
    cases.map((c) => {
      const nc: Parameters<typeof runNative>[0][number] = {
        code: assembled.get(c.source)!,
        gpr: c.gpr,
        rflags: c.rflags,
      };
      if (c.data) nc.data = c.data;
      return nc;
    }),
    { timeoutMs: 2000 },
  );
  cases.forEach((c, k) => {
    counts.set(c.family, (counts.get(c.family) ?? 0) + 1);
    const outcome = emulator.run(c, assembled.get(c.source)!);
    const problems = compare(c, native[k]!, outcome, emulator);
    if (problems.length > 0) {
      const failed = failures.get(c.family) ?? { count: 0, lines: [] };
      failed.count++;
      if (failed.lines.length < 25) failed.lines.push(`${describeCase(c)}: ${problems.join('; ')}`);
      failures.set(c.family, failed);
    }
  });
}
