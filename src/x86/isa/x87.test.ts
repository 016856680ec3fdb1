/**
 * Differential tests of the x87 FPU (isa/x87.ts, fpu/) against this machine's processor:
 * each case runs natively (testing/native, state in and out as FXSAVE images) and in the
 * emulator (testing/user-mode.ts), and FCW, FSW, the tags, ST0-ST7, the general registers,
 * RFLAGS, faults and the data region must agree bit for bit. FOP/FIP/FDP are not compared:
 * this AMD processor's FXSAVE stores them only while an exception is pending.
 *
 * Arithmetic (add, sub, mul, div, sqrt, remainders, scale, rounding, conversions) is exact
 * in the emulator, so random 80-bit operands are compared exactly under every precision and
 * rounding control. Transcendental results are computed in double precision and compared
 * within a relative tolerance (TOLERANCE), ignoring PE and C1.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExitReason } from '../exit.js';
import { Flag, Lazy, LazyOp } from '../flags.js';
import { x87FromFxsave, x87ToFxsave } from '../fpu/fxsave-x87.js';
import { P2m } from '../memory.js';
import { Seg } from '../segments.js';
import { fuzzScale, fuzzSeeded } from '../testing/fuzz.js';
import { GDT, TestMachine } from '../testing/machine.js';
import { assembleMany } from '../testing/native/assemble.js';
import {
  defaultFxsave,
  LAYOUT,
  type NativeCase,
  type NativeResult,
  runNative,
} from '../testing/native/native.js';
import { GPR_NAMES } from '../testing/registers.js';

const TOLERANCE = 2e-15;
const D = LAYOUT.data;

// ---- random values ------------------------------------------------------------------

/** XENOTYPE_FUZZ multiplies the random case counts, XENOTYPE_SEED changes them (testing/fuzz.ts). */
const SCALE = fuzzScale();
let seed = fuzzSeeded(0x9e3779b9);
function rand32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
/** Uniform in [0, 1). */
function uniform(): number {
  return rand32() / 2 ** 32;
}
function randInt(n: number): number {
  return rand32() % n;
}
function rand64(): bigint {
  return (BigInt(rand32()) << 32n) | BigInt(rand32());
}
function pick<T>(list: readonly T[]): T {
  return list[randInt(list.length)]!;
}

/** An 80-bit value: sign/exponent and 64-bit significand. */
interface F80v {
  se: number;
  m: bigint;
}

const J = 1n << 63n;
const v80 = (se: number, m: bigint): F80v => ({ se, m });

/** Edge values: zeros, infinities, NaNs, denormals, pseudo-denormals, unnormals, extremes. */
function edgeValue(): F80v {
  const sign = randInt(2) << 15;
  switch (randInt(16)) {
    case 0:
      return v80(sign, 0n);
    case 1:
      return v80(sign | 0x7fff, J);
    case 2:
      return v80(sign | 0x7fff, J | (1n << 62n) | (rand64() >> BigInt(2 + randInt(62)))); // QNaN
    case 3:
      return v80(sign | 0x7fff, J | ((rand64() >> 2n) | 1n)); // SNaN
    case 4:
      return v80(0xffff, 0xc000000000000000n); // indefinite
    case 5:
      return v80(sign, rand64() >> BigInt(1 + randInt(63))); // denormal
    case 6:
      return v80(sign, J | (rand64() >> 1n)); // pseudo-denormal
    case 7:
      return v80(sign | (1 + randInt(0x7ffe)), rand64() >> 1n); // unnormal
    case 8:
      return v80(sign | 0x7ffe, (1n << 64n) - 1n); // largest finite
    case 9:
      return v80(sign | 1, J); // smallest normal
    case 10:
      return v80(sign | (1 + randInt(70)), J | (rand64() >> 1n)); // near the bottom
    case 11:
      return v80(sign | (0x7ffe - randInt(70)), J | (rand64() >> 1n)); // near the top
    case 12:
      return v80(sign | (0x3fff + randInt(64)), J); // powers of two
    case 13:
      return v80(sign | 0x7fff, rand64() >> 1n); // pseudo-NaN / pseudo-infinity
    default:
      return fromDouble(pick([1, -1, 0.5, 3, 10, 0.1, 1e300, 1e-300, 2 ** -1074, 1.5]));
  }
}

function fromDouble(d: number): F80v {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, d, true);
  const bits = view.getBigUint64(0, true);
  const sign = Number(bits >> 63n) << 15;
  const e = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  if (e === 0x7ff) return v80(sign | 0x7fff, J | (frac << 11n));
  if (e === 0) {
    if (frac === 0n) return v80(sign, 0n);
    let m = frac << 11n;
    let exp = 1 - 1023;
    while (!(m & J)) {
      m <<= 1n;
      exp--;
    }
    return v80(sign | (exp + 16383), m);
  }
  return v80(sign | (e - 1023 + 16383), J | (frac << 11n));
}

/** A random finite normal value with exponent within `spread` of 2^0. */
function normal(spread = 40): F80v {
  return v80(
    (randInt(2) << 15) | (0x3fff - spread + randInt(2 * spread + 1)),
    J | (rand64() >> 1n),
  );
}

/** A random double (as an 80-bit value). */
function doubleValue(spread = 30): F80v {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, rand64(), true);
  const e = 1023 - spread + randInt(2 * spread + 1);
  view.setUint16(6, (view.getUint16(6, true) & 0x800f) | (e << 4), true);
  return fromDouble(view.getFloat64(0, true));
}

function operand(): F80v {
  const r = randInt(10);
  if (r < 5) return normal();
  if (r < 7) return doubleValue();
  return edgeValue();
}

/** A second operand, often close to the first (cancellation, ties, equal values). */
function near(a: F80v): F80v {
  switch (randInt(8)) {
    case 0:
      return v80(a.se ^ 0x8000, a.m);
    case 1:
      return a;
    case 2:
      return v80(a.se, a.m ^ BigInt(1 + randInt(255)));
    case 3:
      return v80(a.se - 1 + randInt(3), J | (rand64() >> 1n));
    default:
      return operand();
  }
}

// ---- assembling -------------------------------------------------------------------------

const bytes = (...list: number[]): string =>
  `.byte ${list.map((b) => `0x${(b & 0xff).toString(16)}`).join(',')}\n`;

/** An x87 instruction with the absolute memory operand D + offset (ModRM rm=100, SIB 25). */
function mem(op: number, reg: number, offset: number): string {
  const a = D + offset;
  return bytes(op, (reg << 3) | 4, 0x25, a, a >> 8, a >> 16, a >> 24);
}

/** A register-form x87 instruction: opcode, ModRM. */
const reg = (op: number, modrm: number): string => bytes(op, modrm);

/** fldcw [0]; fld m80 [0x20] (B → ST1); fld m80 [0x10] (A → ST0). */
const LOAD_AB = `${mem(0xd9, 5, 0)}${mem(0xdb, 5, 0x20)}${mem(0xdb, 5, 0x10)}`;
const LOAD_A = `${mem(0xd9, 5, 0)}${mem(0xdb, 5, 0x10)}`;

function fcw(pc: number, rc: number, masks = 0x3f): number {
  return masks | 0x40 | (pc << 8) | (rc << 10);
}

/** All exceptions masked three times in four, otherwise random masks. */
function randomMasks(): number {
  return randInt(4) ? 0x3f : rand32() & 0x3f;
}

/** The data region: FCW at 0, A at 0x10, B at 0x20, `extra` at 0x30. */
function data(control: number, a?: F80v, b?: F80v, extra?: Uint8Array): Uint8Array {
  const out = new Uint8Array(0x200);
  const view = new DataView(out.buffer);
  view.setUint16(0, control, true);
  const put = (at: number, v: F80v) => {
    view.setBigUint64(at, v.m, true);
    view.setUint16(at + 8, v.se, true);
  };
  if (a) put(0x10, a);
  if (b) put(0x20, b);
  if (extra) out.set(extra, 0x30);
  return out;
}

// ---- running ----------------------------------------------------------------------------

interface X87Case {
  name: string;
  source: string;
  data?: Uint8Array;
  fxsave?: Uint8Array;
  rflags?: number;
  /** Compare ST registers within TOLERANCE and ignore PE and C1. */
  approx?: boolean;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

function readST(image: Uint8Array, i: number): F80v {
  const view = new DataView(image.buffer, image.byteOffset);
  return v80(view.getUint16(32 + i * 16 + 8, true), view.getBigUint64(32 + i * 16, true));
}

function numeric(v: F80v): number {
  const e = v.se & 0x7fff;
  const sign = v.se & 0x8000 ? -1 : 1;
  if (e === 0x7fff) return v.m === J ? sign * Infinity : Number.NaN;
  return sign * Number(v.m) * 2 ** (Math.max(e, 1) - 16383 - 63);
}

function closeEnough(a: F80v, b: F80v): boolean {
  if (a.se === b.se && a.m === b.m) return true;
  const x = numeric(a);
  const y = numeric(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return false;
  return Math.abs(x - y) <= TOLERANCE * Math.max(Math.abs(x), Math.abs(y));
}

/** Differences in the x87 part of two FXSAVE images. */
function fpuDifferences(native: Uint8Array, emulated: Uint8Array, approx: boolean): string[] {
  const out: string[] = [];
  const n = new DataView(native.buffer, native.byteOffset);
  const e = new DataView(emulated.buffer, emulated.byteOffset);
  if (n.getUint16(0, true) !== e.getUint16(0, true)) {
    out.push(`fcw: native ${hex(n.getUint16(0, true))}, emulated ${hex(e.getUint16(0, true))}`);
  }
  const swMask = approx ? ~0x220 & 0xffff : 0xffff;
  if ((n.getUint16(2, true) & swMask) !== (e.getUint16(2, true) & swMask)) {
    out.push(`fsw: native ${hex(n.getUint16(2, true))}, emulated ${hex(e.getUint16(2, true))}`);
  }
  if (n.getUint8(4) !== e.getUint8(4))
    out.push(`ftw: native ${hex(n.getUint8(4))}, emulated ${hex(e.getUint8(4))}`);
  for (let i = 0; i < 8; i++) {
    const a = readST(native, i);
    const b = readST(emulated, i);
    const same = approx ? closeEnough(a, b) : a.se === b.se && a.m === b.m;
    if (!same)
      out.push(`st${i}: native ${hex(a.se)}:${hex(a.m)}, emulated ${hex(b.se)}:${hex(b.m)}`);
  }
  return out;
}

/**
 * The emulator side: a TestMachine laid out like the native runner (code, data, stack at
 * LAYOUT's addresses, CPL 3, 64-bit mode), every exception vectored to its own VMCALL stub.
 * Lighter than testing/user-mode.ts: a case rewrites only the bytes it uses (the snippets
 * touch the first DATA_BYTES of the data region and never the stack).
 */
const DATA_BYTES = 0x200;
const IDT = 0x8000;
const STUBS = 0x9000;
const TSS = 0xa000;
const KERNEL_STACK = 0xc000;
const VMCALL = [0x0f, 0x01, 0xc1];
const ERROR_CODE_VECTORS =
  (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17);

interface Emulated {
  gpr: bigint[];
  rip: bigint;
  rflags: number;
  vector: number;
  data: Uint8Array;
  fxsave: Uint8Array;
}

class Harness {
  readonly machine = new TestMachine(128);

  constructor() {
    const m = this.machine;
    m.map(IDT, KERNEL_STACK + 0x1000 - IDT);
    for (const region of [LAYOUT.code, LAYOUT.data, LAYOUT.stack]) m.map(region, LAYOUT.regionSize);
    for (let vector = 0; vector < 32; vector++) {
      const stub = STUBS + vector * 8;
      m.write(stub, new Uint8Array([...VMCALL, 0xf4]));
      m.write32(IDT + vector * 16, (0x08 << 16) | (stub & 0xffff));
      m.write32(IDT + vector * 16 + 4, (stub & 0xffff0000) | 0x8e00);
    }
    m.write32(TSS + 4, KERNEL_STACK);
  }

  run(c: NativeCase): Emulated {
    const m = this.machine;
    const code = new Uint8Array([...c.code, ...VMCALL]);
    m.write(LAYOUT.code, code);
    const cpu = m.enterLongMode(3);
    for (let page = 0; page < code.length + 0x1000; page += 0x1000) {
      cpu.blocks.invalidateFrame(m.p2m[(LAYOUT.code + page) >>> 12]! & P2m.FrameMask, cpu);
    }
    const data = new Uint8Array(DATA_BYTES);
    data.set(c.data ?? new Uint8Array(0));
    m.write(LAYOUT.data, data);
    // Linux's user selectors: CS 0x33, SS 0x2b, null data segments (FCS/FDS are stored).
    m.write32(GDT + 6 * 8, 0x0000ffff);
    m.write32(GDT + 6 * 8 + 4, 0x00affb00);
    cpu.gdtLimit = 7 * 8 - 1;
    cpu.segSel[Seg.CS] = 0x33;
    cpu.segSel[Seg.SS] = 0x2b;
    for (const seg of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) cpu.segSel[seg] = 0;
    cpu.idtBaseLo = IDT;
    cpu.idtBaseHi = 0;
    cpu.idtLimit = 32 * 16 - 1;
    cpu.segSel[Seg.TR] = 0x40;
    cpu.segBaseLo[Seg.TR] = TSS;
    cpu.segBaseHi[Seg.TR] = 0;
    cpu.segLimit[Seg.TR] = 0x67;
    cpu.segAttr[Seg.TR] = 0x8b;
    for (let i = 0; i < 16; i++) {
      const value = BigInt.asUintN(64, c.gpr?.[i] ?? (i === 4 ? LAYOUT.defaultRsp : 0n));
      cpu.gpr[i * 2] = Number(value & 0xffffffffn) | 0;
      cpu.gpr[i * 2 + 1] = Number(value >> 32n) | 0;
    }
    cpu.flags = (c.rflags ?? 0) | Flag.Fixed;
    cpu.lazy[Lazy.Op] = LazyOp.Eager;
    cpu.ripLo = LAYOUT.code;
    cpu.ripHi = 0;
    const initial = c.fxsave ?? defaultFxsave();
    x87FromFxsave(cpu, new DataView(initial.buffer, initial.byteOffset), 0, true);
    const exit = cpu.run(100_000);
    if (exit.reason !== ExitReason.Hypercall)
      throw new Error(`the snippet ended in exit ${exit.reason}`);
    const fxsave = new Uint8Array(512);
    x87ToFxsave(cpu, new DataView(fxsave.buffer), 0, true);
    const result: Emulated = {
      gpr: Array.from(
        { length: 16 },
        (_, i) => (BigInt(cpu.gpr[i * 2 + 1]! >>> 0) << 32n) | BigInt(cpu.gpr[i * 2]! >>> 0),
      ),
      rip: BigInt(LAYOUT.code + c.code.length),
      rflags: cpu.readFlags(),
      vector: -1,
      data: m.read(LAYOUT.data, DATA_BYTES),
      fxsave,
    };
    if (cpu.ripLo !== LAYOUT.code + code.length) {
      const vector = (cpu.ripLo - VMCALL.length - STUBS) / 8;
      const frame = new DataView(m.read(cpu.gpr[8]!, 48).buffer);
      const at = (ERROR_CODE_VECTORS >> vector) & 1 ? 8 : 0;
      result.vector = vector;
      result.rip = frame.getBigUint64(at, true);
      result.rflags = Number(frame.getBigUint64(at + 16, true));
      result.gpr[4] = frame.getBigUint64(at + 24, true);
    }
    return result;
  }
}

/** RFLAGS bits compared (not IF, RF, or the reserved bit). */
const COMPARED_FLAGS = 0x0cd5;

function differences(
  native: NativeResult,
  emulated: Emulated,
  initialData: Uint8Array,
  approx: boolean,
): string[] {
  const out: string[] = [];
  native.gpr.forEach((value, i) => {
    if (value !== emulated.gpr[i])
      out.push(`${GPR_NAMES[i]}: native ${hex(value)}, emulated ${hex(emulated.gpr[i]!)}`);
  });
  if (native.rip !== emulated.rip)
    out.push(`rip: native ${hex(native.rip)}, emulated ${hex(emulated.rip)}`);
  if ((native.rflags & COMPARED_FLAGS) !== (emulated.rflags & COMPARED_FLAGS)) {
    out.push(`rflags: native ${hex(native.rflags)}, emulated ${hex(emulated.rflags)}`);
  }
  const vector = native.fault?.vector ?? -1;
  if (vector !== emulated.vector) out.push(`fault: native ${vector}, emulated ${emulated.vector}`);
  // The native data region, rebuilt from its changes (not materialized: soak runs are long).
  const nativeData = new Uint8Array(DATA_BYTES);
  nativeData.set(initialData.subarray(0, DATA_BYTES));
  for (const change of native.changes.data) {
    if (change.offset + change.bytes.length > DATA_BYTES)
      out.push(`native wrote data+${hex(change.offset)}`);
    else nativeData.set(change.bytes, change.offset);
  }
  const first = emulated.data.findIndex((byte, k) => byte !== nativeData[k]);
  if (first >= 0)
    out.push(
      `data+${hex(first)}: native ${hex(nativeData[first]!)}, emulated ${hex(emulated.data[first]!)}`,
    );
  return [...out, ...fpuDifferences(native.fxsave, emulated.fxsave, approx)];
}

let harness: Harness | undefined;

/** Runs the cases natively and emulated; returns the differences, one entry per failing case. */
function compareAll(cases: X87Case[]): string[] {
  const codes = assembleMany(cases.map((c) => c.source));
  harness ??= new Harness();
  const emulator = harness;
  const failures: string[] = [];
  const empty = new Uint8Array(0);
  // In slices, so that soak runs (XENOTYPE_FUZZ) keep little of the native output at once.
  for (let start = 0; start < cases.length; start += 4000) {
    const slice = cases.slice(start, start + 4000);
    const natives: NativeCase[] = slice.map((c, k) => {
      const nc: NativeCase = { code: codes[start + k]!, rflags: c.rflags ?? 0 };
      if (c.data) nc.data = c.data;
      if (c.fxsave) nc.fxsave = c.fxsave;
      return nc;
    });
    const results = runNative(natives);
    slice.forEach((c, k) => {
      const emulated = emulator.run(natives[k]!);
      const diff = differences(results[k]!, emulated, c.data ?? empty, c.approx ?? false);
      if (diff.length > 0) failures.push(`${c.name}:\n    ${diff.join('\n    ')}`);
    });
  }
  return failures;
}

function check(cases: X87Case[]): void {
  const failures = compareAll(cases);
  assert.deepEqual(failures.slice(0, 25), [], `${failures.length} of ${cases.length} cases differ`);
}

const describeValue = (v: F80v): string => `${hex(v.se)}:${hex(v.m)}`;
const PCS = [0, 2, 3];

// ---- the cases ----------------------------------------------------------------------------

describe('x87 against the host CPU', () => {
  test('FADD FSUB FSUBR FMUL FDIV FDIVR, register forms, every PC and RC, random 80-bit operands', () => {
    const cases: X87Case[] = [];
    const NAMES = ['fadd', 'fmul', '', '', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
    for (let k = 0; k < 1500 * SCALE; k++) {
      const op = pick([0, 1, 4, 5, 6, 7]);
      const a = operand();
      const b = near(a);
      const pc = pick(PCS);
      const rc = randInt(4);
      const form = randInt(3); // D8 st0 op st1, DC st1 op st0, DE ...p
      const opcode = [0xd8, 0xdc, 0xde][form]!;
      cases.push({
        name: `${NAMES[op]} form ${hex(opcode)} pc=${pc} rc=${rc} a=${describeValue(a)} b=${describeValue(b)}`,
        source: LOAD_AB + reg(opcode, 0xc1 | (op << 3)),
        data: data(fcw(pc, rc, randomMasks()), a, b),
      });
    }
    check(cases);
  });

  test('arithmetic with m32, m64, m16int and m32int operands, and FCOM/FICOM memory forms', () => {
    const cases: X87Case[] = [];
    for (let k = 0; k < 400 * SCALE; k++) {
      const op = randInt(8);
      const [opcode, size] = pick([
        [0xd8, 4],
        [0xdc, 8],
        [0xda, 4],
        [0xde, 2],
      ] as const);
      const extra = new Uint8Array(8);
      const view = new DataView(extra.buffer);
      if (opcode === 0xd8)
        view.setFloat32(
          0,
          pick([randomDouble(), Math.fround(randomDouble()), Number.NaN, 0, -0, Infinity, 1e-40]),
          true,
        );
      else if (opcode === 0xdc)
        view.setBigUint64(
          0,
          randInt(4) === 0
            ? pick([0x7ff4000000000000n, 0x0000000000000001n, 0x8000000000000000n])
            : rand64(),
          true,
        );
      else for (let b = 0; b < size; b++) extra[b] = rand32();
      const a = randInt(4) === 0 ? edgeValue() : doubleValue();
      const pc = pick(PCS);
      const rc = randInt(4);
      cases.push({
        name: `${hex(opcode)} /${op} pc=${pc} rc=${rc} a=${describeValue(a)} m=${[...extra].map((x) => x.toString(16))}`,
        source: LOAD_A + mem(opcode, op, 0x30),
        data: data(fcw(pc, rc, randomMasks()), a, undefined, extra),
      });
    }
    check(cases);
  });

  test('FSQRT, FRNDINT, FSCALE, FPREM, FPREM1, FXTRACT, FCHS, FABS on random and edge values', () => {
    const cases: X87Case[] = [];
    const ops: [string, string, boolean][] = [
      ['fsqrt', reg(0xd9, 0xfa), false],
      ['frndint', reg(0xd9, 0xfc), false],
      ['fscale', reg(0xd9, 0xfd), true],
      ['fprem', reg(0xd9, 0xf8), true],
      ['fprem1', reg(0xd9, 0xf5), true],
      ['fxtract', reg(0xd9, 0xf4), false],
      ['fchs', reg(0xd9, 0xe0), false],
      ['fabs', reg(0xd9, 0xe1), false],
    ];
    for (let k = 0; k < 700 * SCALE; k++) {
      const [name, code, binary] = pick(ops);
      let a = operand();
      let b = near(a);
      if (name === 'fsqrt' && randInt(2)) a = v80(a.se & 0x7fff, a.m);
      if (name === 'frndint') a = v80((a.se & 0x8000) | (0x3fff + randInt(66) - 2), a.m | J);
      if (name === 'fscale')
        b = pick([
          v80(0x4003, J | (rand64() >> 1n)),
          fromDouble(randInt(200) - 100),
          fromDouble(uniform() * 4 - 2),
          b,
        ]);
      if (name.startsWith('fprem') && randInt(2)) {
        // Exponent differences around the partial-remainder threshold.
        b = v80((b.se & 0x8000) | ((a.se & 0x7fff) - randInt(130)), J | (rand64() >> 1n));
      }
      const pc = pick(PCS);
      const rc = randInt(4);
      cases.push({
        name: `${name} pc=${pc} rc=${rc} a=${describeValue(a)}${binary ? ` b=${describeValue(b)}` : ''}`,
        source: LOAD_AB + code,
        data: data(fcw(pc, rc, randomMasks()), a, b),
      });
    }
    check(cases);
  });

  test('FCOM FCOMP FCOMPP FUCOM FUCOMP FUCOMPP FCOMI FCOMIP FUCOMI FUCOMIP FTST FXAM', () => {
    const cases: X87Case[] = [];
    const ops: [string, string][] = [
      ['fcom', reg(0xd8, 0xd1)],
      ['fcomp', reg(0xd8, 0xd9)],
      ['fcompp', reg(0xde, 0xd9)],
      ['fucom', reg(0xdd, 0xe1)],
      ['fucomp', reg(0xdd, 0xe9)],
      ['fucompp', reg(0xda, 0xe9)],
      ['fcomi', reg(0xdb, 0xf1)],
      ['fcomip', reg(0xdf, 0xf1)],
      ['fucomi', reg(0xdb, 0xe9)],
      ['fucomip', reg(0xdf, 0xe9)],
      ['ftst', reg(0xd9, 0xe4)],
      ['fxam', reg(0xd9, 0xe5)],
    ];
    for (let k = 0; k < 400 * SCALE; k++) {
      const [name, code] = pick(ops);
      const a = randInt(2) ? edgeValue() : normal(3);
      const b = near(a);
      cases.push({
        name: `${name} a=${describeValue(a)} b=${describeValue(b)}`,
        source: LOAD_AB + code,
        data: data(fcw(3, 0, randomMasks()), a, b),
        rflags: randInt(2) ? 0x8d5 : 0,
      });
    }
    check(cases);
  });

  test('FST/FSTP m32 m64 m80 and FIST/FISTP/FISTTP m16 m32 m64 in every rounding mode', () => {
    const cases: X87Case[] = [];
    const stores: [string, number, number][] = [
      ['fst m32', 0xd9, 2],
      ['fstp m32', 0xd9, 3],
      ['fst m64', 0xdd, 2],
      ['fstp m64', 0xdd, 3],
      ['fstp m80', 0xdb, 7],
      ['fist m16', 0xdf, 2],
      ['fistp m16', 0xdf, 3],
      ['fist m32', 0xdb, 2],
      ['fistp m32', 0xdb, 3],
      ['fistp m64', 0xdf, 7],
      ['fisttp m16', 0xdf, 1],
      ['fisttp m32', 0xdb, 1],
      ['fisttp m64', 0xdd, 1],
    ];
    for (let k = 0; k < 700 * SCALE; k++) {
      const [name, opcode, r] = pick(stores);
      let a: F80v;
      const kind = randInt(6);
      if (name.startsWith('fi')) {
        const bits = name.endsWith('16') ? 16 : name.endsWith('32') ? 32 : 64;
        a =
          kind < 4
            ? v80((randInt(2) << 15) | (0x3fff - 2 + randInt(bits + 3)), J | (rand64() >> 1n))
            : edgeValue();
        if (kind === 0) a = fromDouble((randInt(2) ? -1 : 1) * (randInt(40) / 4));
      } else {
        a =
          kind < 2
            ? normal(40)
            : kind < 3
              ? pick([
                  normal(16383),
                  v80(
                    (randInt(2) << 15) |
                      (0x3fff +
                        pick([
                          -1022, -1023, -1030, -1074, -1075, -126, -127, -149, -150, 1023, 1024,
                          127, 128,
                        ])),
                    J | (rand64() >> 1n),
                  ),
                ])
              : kind < 4
                ? doubleValue()
                : edgeValue();
      }
      const pc = pick(PCS);
      const rc = randInt(4);
      cases.push({
        name: `${name} rc=${rc} a=${describeValue(a)}`,
        source: LOAD_A + mem(opcode, r, 0x40),
        data: data(fcw(pc, rc, randomMasks()), a),
      });
    }
    check(cases);
  });

  test('FLD m32 m64 m80, FILD m16 m32 m64, FBLD and FBSTP', () => {
    const cases: X87Case[] = [];
    for (let k = 0; k < 300 * SCALE; k++) {
      const extra = new Uint8Array(10);
      for (let b = 0; b < 10; b++) extra[b] = rand32();
      const kind = randInt(8);
      const view = new DataView(extra.buffer);
      if (kind === 0)
        view.setUint32(0, pick([0x7f800001, 0xffc00000, 0x00000001, 0x80400000, 0x7f800000]), true);
      if (kind === 1)
        view.setBigUint64(
          0,
          pick([0x7ff0000000000001n, 0x000fffffffffffffn, 0xfff0000000000000n]),
          true,
        );
      if (kind === 2) {
        // Valid BCD digits.
        for (let b = 0; b < 9; b++) extra[b] = randInt(10) | (randInt(10) << 4);
        extra[9] = randInt(2) << 7;
      }
      const [name, opcode, r] = pick([
        ['fld m32', 0xd9, 0],
        ['fld m64', 0xdd, 0],
        ['fld m80', 0xdb, 5],
        ['fild m16', 0xdf, 0],
        ['fild m32', 0xdb, 0],
        ['fild m64', 0xdf, 5],
        ['fbld', 0xdf, 4],
      ] as const);
      cases.push({
        name: `${name} ${[...extra].map((x) => x.toString(16))}`,
        source: mem(0xd9, 5, 0) + mem(opcode, r, 0x30),
        data: data(fcw(3, 0, randomMasks()), undefined, undefined, extra),
      });
    }
    for (let k = 0; k < 150 * SCALE; k++) {
      const a = randInt(3)
        ? v80((randInt(2) << 15) | (0x3fff - 2 + randInt(64)), J | (rand64() >> 1n))
        : edgeValue();
      const rc = randInt(4);
      cases.push({
        name: `fbstp rc=${rc} a=${describeValue(a)}`,
        source: LOAD_A + mem(0xdf, 6, 0x40),
        data: data(fcw(3, rc, randomMasks()), a),
      });
    }
    check(cases);
  });

  test('constants in every rounding mode; stack overflow and underflow; FXCH, FCMOVcc, FFREE', () => {
    const cases: X87Case[] = [];
    for (let rc = 0; rc < 4; rc++) {
      for (let c = 0; c < 7; c++) {
        cases.push({
          name: `constant ${c} rc=${rc}`,
          source: mem(0xd9, 5, 0) + reg(0xd9, 0xe8 + c),
          data: data(fcw(3, rc)),
        });
      }
    }
    const nine = `${reg(0xd9, 0xe8).repeat(8)}`;
    cases.push({ name: 'push a ninth value', source: nine + reg(0xd9, 0xeb) });
    cases.push({
      name: 'fild onto a full stack',
      source: nine + mem(0xdb, 0, 0x30),
      data: data(0x37f),
    });
    cases.push({ name: 'fadd on an empty stack', source: reg(0xd8, 0xc1) });
    cases.push({ name: 'faddp with ST1 empty', source: reg(0xd9, 0xe8) + reg(0xde, 0xc1) });
    cases.push({ name: 'fstp m64 from empty', source: mem(0xdd, 3, 0x40), data: data(0x37f) });
    cases.push({ name: 'fistp m32 from empty', source: mem(0xdb, 3, 0x40), data: data(0x37f) });
    cases.push({
      name: 'fcom with ST1 empty',
      source: `${reg(0xd9, 0xe8)}${reg(0xd8, 0xd1)}fnstsw %ax`,
    });
    cases.push({ name: 'fcomi with ST1 empty', source: reg(0xd9, 0xe8) + reg(0xdb, 0xf1) });
    cases.push({ name: 'fxch with ST1 empty', source: reg(0xd9, 0xe8) + reg(0xd9, 0xc9) });
    cases.push({ name: 'fxch both empty', source: reg(0xd9, 0xc9) });
    cases.push({ name: 'fchs on empty', source: reg(0xd9, 0xe0) });
    cases.push({ name: 'fsqrt on empty', source: reg(0xd9, 0xfa) });
    cases.push({
      name: 'fptan on a full stack',
      source: `${reg(0xd9, 0xe8).repeat(8)}${reg(0xd9, 0xf2)}`,
    });
    cases.push({
      name: 'fsincos on a full stack',
      source: `${reg(0xd9, 0xee).repeat(8)}${reg(0xd9, 0xfb)}`,
    });
    cases.push({
      name: 'fxtract on a full stack',
      source: `${reg(0xd9, 0xe8).repeat(8)}${reg(0xd9, 0xf4)}`,
    });
    cases.push({ name: 'fxtract on empty', source: reg(0xd9, 0xf4) });
    cases.push({ name: 'fyl2x with ST1 empty', source: reg(0xd9, 0xe8) + reg(0xd9, 0xf1) });
    cases.push({ name: 'fld st(3) from empty', source: reg(0xd9, 0xe8) + reg(0xd9, 0xc3) });
    cases.push({
      name: 'fincstp fdecstp',
      source: `${reg(0xd9, 0xe8)}${reg(0xd9, 0xf7)}${reg(0xd9, 0xf7)}${reg(0xd9, 0xf6)}`,
    });
    cases.push({
      name: 'ffree ffreep',
      source: `${reg(0xd9, 0xe8)}${reg(0xd9, 0xeb)}${reg(0xd9, 0xee)}${reg(0xdd, 0xc1)}${reg(0xdf, 0xc0)}`,
    });
    cases.push({
      name: 'fst st(3) and fstp st(2)',
      source: `${LOAD_AB}${reg(0xdd, 0xd3)}${reg(0xdd, 0xda)}`,
      data: data(0x37f, normal(), normal()),
    });
    cases.push({
      name: 'aliases fstp1 fxch4 fxch7 fstp8 fstp9 fcom2 fcomp3 fcomp5',
      source: `${reg(0xd9, 0xe8).repeat(6)}${reg(0xd9, 0xeb)}${reg(0xd9, 0xdb)}${reg(0xdd, 0xca)}${reg(0xdf, 0xcb)}${reg(0xdf, 0xd2)}${reg(0xdf, 0xda)}${reg(0xdc, 0xd1)}${reg(0xdc, 0xd9)}${reg(0xde, 0xd1)}`,
    });
    for (let k = 0; k < 64 * SCALE; k++) {
      const cc = randInt(8);
      const modrm = 0xc0 | ((cc & 3) << 3) | 1;
      const opcode = cc < 4 ? 0xda : 0xdb;
      cases.push({
        name: `fcmov ${hex(opcode)} ${hex(modrm)} flags`,
        source: LOAD_AB + reg(opcode, modrm),
        data: data(0x37f, normal(), normal()),
        rflags: rand32() & 0x45,
      });
    }
    cases.push({
      name: 'fcmov with ST1 empty, false condition',
      source: reg(0xd9, 0xe8) + reg(0xda, 0xc1),
    });
    check(cases);
  });

  test('control: FLDCW/FNSTCW, FNSTSW, FNCLEX, FNINIT, FNSTENV/FLDENV, FNSAVE/FRSTOR (16/32-bit)', () => {
    const cases: X87Case[] = [];
    for (const value of [0, 0xffff, 0x1d7f, 0x0c3f, 0x037e]) {
      const d = data(value);
      cases.push({
        name: `fldcw ${hex(value)}; fnstcw`,
        source: mem(0xd9, 5, 0) + mem(0xd9, 7, 0x40),
        data: d,
      });
    }
    const setup = `${LOAD_AB}${reg(0xd9, 0xeb)}${reg(0xd9, 0xee)}${reg(0xdd, 0xc2)}`;
    const values = data(0x27f, normal(), v80(0, 5n));
    cases.push({
      name: 'fnstsw ax and m16',
      source: `${setup}fnstsw %ax\n${mem(0xdd, 7, 0x40)}`,
      data: values,
    });
    cases.push({
      name: 'fnclex after a masked exception',
      source: `${setup}${reg(0xd8, 0xf5)}${reg(0xdb, 0xe2)}fnstsw %ax`,
      data: values,
    });
    cases.push({ name: 'fninit', source: `${setup}${reg(0xdb, 0xe3)}fnstsw %ax`, data: values });
    cases.push({ name: 'fnstenv (32-bit)', source: setup + mem(0xd9, 6, 0x100), data: values });
    cases.push({
      name: 'fnstenv (16-bit)',
      source: `${setup}.byte 0x66\n${mem(0xd9, 6, 0x100)}`,
      data: values,
    });
    cases.push({
      name: 'fnstenv, fninit, fldenv',
      source: `${setup}${mem(0xd9, 6, 0x100)}${reg(0xdb, 0xe3)}${mem(0xd9, 4, 0x100)}fnstsw %ax`,
      data: values,
    });
    for (const operand of [
      '0x18(%rbx)',
      '(%rbx,%rcx,8)',
      '-8(%rsp)',
      'c(%rip)',
      '(%rbx)',
      '0x20000010',
      '%fs:8(%rbx)',
    ]) {
      cases.push({
        name: `fnstenv after fldl ${operand} (FOP, FIP, FDP)`,
        source: `mov $${D}, %ebx\n mov $2, %ecx\n jmp 1f\n c: .quad 0x3ff0000000000000\n1: fldl ${operand}\n fnstenv 0x20000100`,
        data: data(0x37f, fromDouble(2), fromDouble(3)),
      });
    }
    cases.push({ name: 'fnsave (32-bit)', source: setup + mem(0xdd, 6, 0x100), data: values });
    cases.push({
      name: 'fnsave (16-bit)',
      source: `${setup}.byte 0x66\n${mem(0xdd, 6, 0x100)}`,
      data: values,
    });
    cases.push({
      name: 'fnsave, frstor round trip',
      source: `${setup}${mem(0xdd, 6, 0x100)}${reg(0xd9, 0xe8)}${mem(0xdd, 4, 0x100)}`,
      data: values,
    });
    cases.push({
      name: 'fnsave, frstor round trip (16-bit)',
      source: `${setup}.byte 0x66\n${mem(0xdd, 6, 0x100)}${reg(0xd9, 0xe8)}.byte 0x66\n${mem(0xdd, 4, 0x100)}`,
      data: values,
    });
    // An environment with tags that disagree with the contents, an odd TOP and pending flags.
    const env = new Uint8Array(0x200);
    const ev = new DataView(env.buffer);
    ev.setUint16(0, 0x37f, true);
    ev.setUint32(0x100, 0xffff037f, true);
    ev.setUint32(0x104, 0xffff2b21, true); // TOP=5, C1, PE, IE
    ev.setUint32(0x108, 0xffff1b4e, true);
    cases.push({
      name: 'fldenv with arbitrary tags',
      source: `${reg(0xd9, 0xe8)}${mem(0xd9, 4, 0x100)}${mem(0xd9, 6, 0x140)}`,
      data: env,
    });
    const fx = defaultFxsave();
    const fv = new DataView(fx.buffer);
    fv.setUint16(2, 0x1800, true);
    fv.setUint8(4, 0xa5);
    for (let i = 0; i < 8; i++) {
      const v = pick([normal(), edgeValue(), v80(0, 0n)]);
      fv.setBigUint64(32 + i * 16, v.m, true);
      fv.setUint16(40 + i * 16, v.se, true);
    }
    cases.push({ name: 'fxrstor state, fnsave', source: mem(0xdd, 6, 0x100), fxsave: fx });
    cases.push({ name: 'fxrstor state, fnstenv', source: mem(0xd9, 6, 0x100), fxsave: fx });
    check(cases);
  });

  test('unmasked exceptions: state unchanged, ES set, #MF on the next waiting instruction', () => {
    const cases: X87Case[] = [];
    const zeroDivide = data(0x37b, fromDouble(1), fromDouble(0));
    const invalid = data(0x37e, fromDouble(-1), fromDouble(0));
    cases.push({
      name: 'unmasked ZE',
      source: `${LOAD_AB}${reg(0xd8, 0xf1)}fnstsw %ax`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked ZE then fnop',
      source: `${LOAD_AB}${reg(0xd8, 0xf1)}${reg(0xd9, 0xd0)}`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked ZE then fwait',
      source: `${LOAD_AB}${reg(0xd8, 0xf1)}fwait`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked ZE then fnstenv',
      source: `${LOAD_AB}${reg(0xd8, 0xf1)}${mem(0xd9, 6, 0x100)}fwait`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked ZE then fnclex, fwait',
      source: `${LOAD_AB}${reg(0xd8, 0xf1)}${reg(0xdb, 0xe2)}fwait`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked ZE then fldcw',
      source: `${LOAD_AB}${reg(0xd8, 0xf1)}${mem(0xd9, 5, 0)}`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked ZE then fninit, fld1',
      source: `${LOAD_AB}${reg(0xd8, 0xf1)}${reg(0xdb, 0xe3)}${reg(0xd9, 0xe8)}`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked IE: fsqrt(-1)',
      source: `${LOAD_AB}${reg(0xd9, 0xfa)}fnstsw %ax`,
      data: invalid,
    });
    cases.push({
      name: 'unmasked IE: fistp of a NaN keeps memory',
      source: `${LOAD_AB}${reg(0xd9, 0xfa)}${reg(0xdb, 0xe2)}${mem(0xdb, 3, 0x40)}fnstsw %ax`,
      data: data(0x37f, fromDouble(-1)),
    });
    cases.push({
      name: 'unmasked IE: stack overflow',
      source: `${mem(0xd9, 5, 0)}${reg(0xd9, 0xe8).repeat(9)}fnstsw %ax`,
      data: invalid,
    });
    cases.push({
      name: 'unmasked IE: stack underflow',
      source: `${mem(0xd9, 5, 0)}${reg(0xd8, 0xc1)}fnstsw %ax`,
      data: invalid,
    });
    cases.push({
      name: 'masked then unmasked by fldcw, then fnop',
      source: `${reg(0xd9, 0xe8)}${reg(0xd9, 0xee)}${reg(0xd8, 0xf1)}${mem(0xd9, 5, 0)}fnstsw %ax\n${reg(0xd9, 0xd0)}`,
      data: zeroDivide,
    });
    cases.push({
      name: 'unmasked OE on fstp m32 keeps memory',
      source: `${LOAD_A}${mem(0xd9, 3, 0x40)}fnstsw %ax`,
      data: data(0x377, fromDouble(1e300)),
    });
    cases.push({
      name: 'unmasked PE on fadd writes the result',
      source: `${LOAD_AB}${reg(0xd8, 0xc1)}fnstsw %ax`,
      data: data(0x35f, fromDouble(1), fromDouble(1e-30)),
    });
    cases.push({
      name: 'unmasked DE',
      source: `${LOAD_AB}${reg(0xd8, 0xc1)}fnstsw %ax`,
      data: data(0x37d, v80(0, 5n), fromDouble(1)),
    });
    check(cases);
  });

  test('F2XM1 FYL2X FYL2XP1 FPTAN FPATAN FSIN FCOS FSINCOS (within tolerance)', () => {
    const cases: X87Case[] = [];
    const ops: [string, string, () => [F80v, F80v]][] = [
      ['f2xm1', reg(0xd9, 0xf0), () => [fromDouble(uniform() * 2 - 1), fromDouble(0)]],
      [
        'fyl2x',
        reg(0xd9, 0xf1),
        () => [fromDouble(Math.exp(uniform() * 40 - 20)), fromDouble(uniform() * 10 - 5)],
      ],
      [
        'fyl2x near 1',
        reg(0xd9, 0xf1),
        () => [fromDouble(1 + (uniform() - 0.5) * 1e-6), fromDouble(3)],
      ],
      [
        'fyl2xp1',
        reg(0xd9, 0xf9),
        () => [fromDouble((uniform() - 0.5) * 0.5), fromDouble(uniform() * 10 - 5)],
      ],
      ['fptan', reg(0xd9, 0xf2), () => [fromDouble((uniform() - 0.5) * 3), fromDouble(0)]],
      [
        'fpatan',
        reg(0xd9, 0xf3),
        () => [fromDouble(uniform() * 20 - 10), fromDouble(uniform() * 20 - 10)],
      ],
      ['fsin', reg(0xd9, 0xfe), () => [fromDouble((uniform() - 0.5) * 6), fromDouble(0)]],
      ['fcos', reg(0xd9, 0xff), () => [fromDouble((uniform() - 0.5) * 6), fromDouble(0)]],
      ['fsincos', reg(0xd9, 0xfb), () => [fromDouble((uniform() - 0.5) * 6), fromDouble(0)]],
    ];
    for (const [name, code, operands] of ops) {
      for (let k = 0; k < 30 * SCALE; k++) {
        const [a, b] = operands();
        cases.push({
          name: `${name} a=${describeValue(a)} b=${describeValue(b)}`,
          source: LOAD_AB + code,
          data: data(0x37f, a, b),
          approx: true,
        });
      }
      // Special operands are exact.
      for (const special of [
        v80(0, 0n),
        v80(0x8000, 0n),
        v80(0x7fff, J),
        v80(0xffff, J),
        v80(0x7fff, J | (3n << 61n)),
        fromDouble(1),
        fromDouble(-1),
        v80(0x403f, J),
        v80(0x3f00, J | 12345n),
      ]) {
        const b = pick([
          fromDouble(2),
          fromDouble(-0.5),
          v80(0x7fff, J),
          v80(0, 0n),
          v80(0x8000, 0n),
        ]);
        cases.push({
          name: `${name} special a=${describeValue(special)} b=${describeValue(b)}`,
          source: LOAD_AB + code,
          data: data(0x37f, special, b),
          approx: true,
        });
      }
    }
    check(cases);
  });
});

function randomDouble(): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, rand64(), true);
  const e = 1023 - 30 + randInt(61);
  view.setUint16(6, (view.getUint16(6, true) & 0x800f) | (e << 4), true);
  return view.getFloat64(0, true);
}
