/**
 * Differential testing of the MMX/SSE instructions against this machine's own processor: a
 * case (a snippet and the XMM, MMX, MXCSR, register and data state it starts from) runs
 * natively through testing/native/ and on the emulator, and the results are compared —
 * XMM0-15, MXCSR, the MMX/x87 registers with FSW and the tag byte, the general registers,
 * the arithmetic flags, the fault taken and, when asked, the data region.
 *
 * Also here: seeded generators of interesting single, double and integer values (zeros,
 * infinities, NaNs with payloads, denormals, extremes, near-ties).
 */
import type { Cpu } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Flag } from '../flags.js';
import { P2m } from '../memory.js';
import { assembleMany } from '../testing/native/assemble.js';
import {
  defaultFxsave,
  LAYOUT,
  type NativeCase,
  type NativeResult,
  runNative,
} from '../testing/native/native.js';
import { UserModeMachine } from '../testing/user-mode.js';
import { loadImage, saveImage } from './state.js';

export interface SimdCase {
  /** For failure messages. */
  name: string;
  /** Assembly (AT&T) — assembled in one batch by runCases — or machine code. */
  asm?: string;
  code?: Uint8Array;
  /** XMM0-15 as 64 dwords (default zeros). */
  xmm?: Int32Array;
  /** MM0-7 as 16 dwords (lo, hi); puts the x87 unit in MMX form (all tags valid, exponents all ones). */
  mm?: Int32Array;
  mxcsr?: number;
  /** 16 values: rax rcx rdx rbx rsp rbp rsi rdi r8..r15. */
  gpr?: bigint[];
  rflags?: number;
  data?: Uint8Array;
  /** Compare the 64 KiB data region too; required for a case that stores to memory. */
  compareData?: boolean;
  /** Emulator-only tests: changes the vCPU (CR0, CR4 …) after the case's state is loaded. */
  setup?: (cpu: Cpu) => void;
  /** Replaces the bit-exact XMM comparison (approximate instructions): a message or undefined. */
  compareXmm?: (native: DataView, emulated: DataView) => string | undefined;
}

export interface EmulatedRun {
  gpr: bigint[];
  rip: bigint;
  rflags: number;
  fxsave: Uint8Array;
  vector: number;
  data: Uint8Array;
}

const VMCALL = [0x0f, 0x01, 0xc1];
const PAGE = 4096;

/** The FXSAVE64 image a case starts from. */
export function caseImage(c: SimdCase): Uint8Array {
  const image = defaultFxsave();
  const view = new DataView(image.buffer);
  view.setUint32(24, c.mxcsr ?? 0x1f80, true);
  if (c.xmm) for (let k = 0; k < 64; k++) view.setInt32(160 + k * 4, c.xmm[k]!, true);
  if (c.mm) {
    image[4] = 0xff;
    for (let n = 0; n < 8; n++) {
      view.setInt32(32 + n * 16, c.mm[n * 2]!, true);
      view.setInt32(32 + n * 16 + 4, c.mm[n * 2 + 1]!, true);
      view.setUint16(32 + n * 16 + 8, 0xffff, true);
    }
  }
  return image;
}

function toBigint(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The emulator side: a UserModeMachine reused across cases, with fast region copies. */
export class SimdEmulator {
  private readonly user = new UserModeMachine();
  private readonly system: {
    segSel: Int32Array;
    segBaseLo: Int32Array;
    segBaseHi: Int32Array;
    segLimit: Int32Array;
    segAttr: Int32Array;
    cr0: number;
    cr3Lo: number;
    cr4: number;
    efer: number;
  };
  private vector = -1;

  constructor() {
    const cpu = this.user.load({ code: new Uint8Array(0) });
    this.fill(LAYOUT.stack, new Uint8Array(0), LAYOUT.regionSize, false);
    this.system = {
      segSel: cpu.segSel.slice(),
      segBaseLo: cpu.segBaseLo.slice(),
      segBaseHi: cpu.segBaseHi.slice(),
      segLimit: cpu.segLimit.slice(),
      segAttr: cpu.segAttr.slice(),
      cr0: cpu.cr0,
      cr3Lo: cpu.cr3Lo,
      cr4: cpu.cr4,
      efer: cpu.efer,
    };
    // Exceptions end the run with their vector, before any delivery.
    cpu.raise = (vector: number): boolean => {
      this.vector = vector;
      cpu.exit.reason = ExitReason.Shutdown;
      return false;
    };
  }

  get cpu(): Cpu {
    return this.user.cpu;
  }

  /** The machine address of a guest-physical page in one of the regions. */
  private frame(gpa: number): number {
    return (this.user.machine.p2m[gpa >>> 12]! & P2m.FrameMask) * PAGE;
  }

  /** Whether the last case may have written the data region (it compared it). */
  private dataDirty = true;

  /** Writes `bytes` at the start of a region and zeroes the rest of its first `size` bytes. */
  private fill(gpa: number, bytes: Uint8Array, size: number, code: boolean): void {
    const memory = this.user.machine.memory.bytes;
    for (let offset = 0; offset < size; offset += PAGE) {
      const at = this.frame(gpa + offset);
      memory.fill(0, at, at + PAGE);
      if (offset < bytes.length) memory.set(bytes.subarray(offset, offset + PAGE), at);
      if (code) this.cpu.blocks.invalidateFrame(at / PAGE, this.cpu);
    }
  }

  private region(gpa: number): Uint8Array {
    const out = new Uint8Array(LAYOUT.regionSize);
    const memory = this.user.machine.memory.bytes;
    for (let offset = 0; offset < LAYOUT.regionSize; offset += PAGE) {
      const at = this.frame(gpa + offset);
      out.set(memory.subarray(at, at + PAGE), offset);
    }
    return out;
  }

  /** Runs a case; `image` is its starting FXSAVE image. */
  run(code: Uint8Array, c: SimdCase, image: Uint8Array, wantData: boolean): EmulatedRun {
    const cpu = this.cpu;
    const withExit = new Uint8Array(code.length + VMCALL.length);
    withExit.set(code);
    withExit.set(VMCALL, code.length);
    // The code: only its own pages. The data region: all of it after a case that may have
    // stored to it, else the pages the case's data covers (the rest is still zero). The
    // stack is never written: exceptions end the run before they are delivered.
    const pages = (length: number): number => Math.ceil(length / PAGE) * PAGE;
    this.fill(LAYOUT.code, withExit, pages(withExit.length), true);
    const data = c.data ?? new Uint8Array(0);
    this.fill(LAYOUT.data, data, this.dataDirty ? LAYOUT.regionSize : pages(data.length), false);
    this.dataDirty = c.compareData === true;
    const s = this.system;
    cpu.segSel.set(s.segSel);
    cpu.segBaseLo.set(s.segBaseLo);
    cpu.segBaseHi.set(s.segBaseHi);
    cpu.segLimit.set(s.segLimit);
    cpu.segAttr.set(s.segAttr);
    cpu.cr0 = s.cr0;
    cpu.cr4 = s.cr4;
    cpu.efer = s.efer;
    if (cpu.cr3Lo !== s.cr3Lo) {
      cpu.cr3Lo = s.cr3Lo;
      cpu.flushTlb();
    }
    for (let i = 0; i < 16; i++) {
      const value = BigInt.asUintN(64, c.gpr?.[i] ?? (i === 4 ? LAYOUT.defaultRsp : 0n));
      cpu.gpr[i * 2] = Number(value & 0xffffffffn) | 0;
      cpu.gpr[i * 2 + 1] = Number(value >> 32n) | 0;
    }
    cpu.flags = ((c.rflags ?? 0) & ~Flag.IF) | Flag.Fixed;
    cpu.lazy[0] = 0;
    cpu.updateMode();
    cpu.ripLo = LAYOUT.code;
    cpu.ripHi = 0;
    cpu.halted = false;
    cpu.pendingException = -1;
    cpu.interruptShadow = false;
    loadImage(cpu, new DataView(image.buffer, image.byteOffset, 512), 0, true);
    c.setup?.(cpu);
    this.vector = -1;
    const exit = cpu.run(100_000);
    const end = LAYOUT.code + code.length + VMCALL.length;
    if (this.vector < 0 && (exit.reason !== ExitReason.Hypercall || cpu.ripLo !== end)) {
      throw new Error(
        `${c.name}: the snippet ended in exit ${exit.reason} at ${cpu.ripLo.toString(16)}`,
      );
    }
    const fxsave = new Uint8Array(512);
    saveImage(cpu, new DataView(fxsave.buffer), 0, true);
    const gpr: bigint[] = [];
    for (let i = 0; i < 16; i++) gpr.push(toBigint(cpu.gpr[i * 2]!, cpu.gpr[i * 2 + 1]!));
    return {
      gpr,
      rip: this.vector < 0 ? BigInt(LAYOUT.code + code.length) : toBigint(cpu.ripLo, cpu.ripHi),
      rflags: cpu.readFlags(),
      fxsave,
      vector: this.vector,
      data: wantData ? this.region(LAYOUT.data) : new Uint8Array(0),
    };
  }
}

const hex = (v: bigint | number, width = 0): string => `0x${v.toString(16).padStart(width, '0')}`;

function dumpXmm(view: DataView, n: number): string {
  const parts: string[] = [];
  for (let k = 3; k >= 0; k--) parts.push(hex(view.getUint32(160 + n * 16 + k * 4, true), 8));
  return parts.join('_');
}

const FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;

/** The differences between the native and emulated results of a case (none: equal). */
export function compare(c: SimdCase, native: NativeResult, emulated: EmulatedRun): string[] {
  const out: string[] = [];
  const nativeVector = native.fault?.vector ?? -1;
  if (nativeVector !== emulated.vector) {
    out.push(
      `fault: native ${nativeVector} (${native.fault?.signal ?? 'none'}), emulated ${emulated.vector}`,
    );
  }
  if (native.rip !== emulated.rip)
    out.push(`rip: native ${hex(native.rip)}, emulated ${hex(emulated.rip)}`);
  native.gpr.forEach((value, i) => {
    if (value !== emulated.gpr[i])
      out.push(`gpr ${i}: native ${hex(value)}, emulated ${hex(emulated.gpr[i]!)}`);
  });
  if ((native.rflags & FLAGS) !== (emulated.rflags & FLAGS)) {
    out.push(
      `rflags: native ${hex(native.rflags & FLAGS)}, emulated ${hex(emulated.rflags & FLAGS)}`,
    );
  }
  const a = new DataView(native.fxsave.buffer, native.fxsave.byteOffset, 512);
  const b = new DataView(emulated.fxsave.buffer, 0, 512);
  const mxA = a.getUint32(24, true);
  const mxB = b.getUint32(24, true);
  if (mxA !== mxB) out.push(`mxcsr: native ${hex(mxA)}, emulated ${hex(mxB)}`);
  if (c.compareXmm) {
    const message = c.compareXmm(a, b);
    if (message) out.push(message);
  } else {
    for (let n = 0; n < 16; n++) {
      for (let k = 0; k < 16; k += 4) {
        if (a.getUint32(160 + n * 16 + k, true) !== b.getUint32(160 + n * 16 + k, true)) {
          out.push(`xmm${n}: native ${dumpXmm(a, n)}, emulated ${dumpXmm(b, n)}`);
          break;
        }
      }
    }
  }
  for (const [what, offset] of [
    ['fcw', 0],
    ['fsw', 2],
  ] as const) {
    if (a.getUint16(offset, true) !== b.getUint16(offset, true)) {
      out.push(
        `${what}: native ${hex(a.getUint16(offset, true))}, emulated ${hex(b.getUint16(offset, true))}`,
      );
    }
  }
  if (a.getUint8(4) !== b.getUint8(4))
    out.push(`ftw: native ${hex(a.getUint8(4))}, emulated ${hex(b.getUint8(4))}`);
  for (let n = 0; n < 8; n++) {
    const at = 32 + n * 16;
    const same =
      a.getUint32(at, true) === b.getUint32(at, true) &&
      a.getUint32(at + 4, true) === b.getUint32(at + 4, true) &&
      a.getUint16(at + 8, true) === b.getUint16(at + 8, true);
    if (!same) {
      const show = (v: DataView): string =>
        `${hex(v.getUint16(at + 8, true), 4)}:${hex(v.getUint32(at + 4, true), 8)}_${hex(v.getUint32(at, true), 8)}`;
      out.push(`st${n}/mm${n}: native ${show(a)}, emulated ${show(b)}`);
    }
  }
  if (c.compareData) {
    const first = native.data.findIndex((byte, k) => byte !== emulated.data[k]);
    if (first >= 0) {
      out.push(
        `data+${hex(first)}: native ${hex(native.data[first]!)}, emulated ${hex(emulated.data[first]!)}`,
      );
    }
  }
  return out;
}

let emulator: SimdEmulator | undefined;

/**
 * Runs the cases natively and on the emulator; returns one line per failing case (at most
 * `limit`), with the case's name and state, and the count of cases run.
 */
export function runCases(cases: SimdCase[], limit = 20): { failures: string[]; count: number } {
  const texts = [...new Set(cases.filter((c) => c.asm !== undefined).map((c) => c.asm!))];
  const assembled = assembleMany(texts);
  const codeOf = new Map(texts.map((t, k) => [t, assembled[k]!]));
  const codes = cases.map((c) => c.code ?? codeOf.get(c.asm!)!);
  const images = cases.map(caseImage);
  const natives = runNative(
    cases.map((c, k): NativeCase => {
      const n: NativeCase = { code: codes[k]!, fxsave: images[k]! };
      if (c.gpr) n.gpr = c.gpr;
      if (c.rflags !== undefined) n.rflags = c.rflags;
      if (c.data) n.data = c.data;
      return n;
    }),
  );
  emulator ??= new SimdEmulator();
  const failures: string[] = [];
  cases.forEach((c, k) => {
    const emulated = emulator!.run(codes[k]!, c, images[k]!, c.compareData === true);
    const diffs = compare(c, natives[k]!, emulated);
    if (diffs.length > 0 && failures.length < limit) {
      failures.push(
        `${c.name} [${c.asm ?? 'code'}] mxcsr ${hex(c.mxcsr ?? 0x1f80)}: ${diffs.join('; ')}\n    input: ${describeInput(c)}`,
      );
    }
  });
  return { failures, count: cases.length };
}

/** Runs a case on the emulator only (for what the host cannot do: CR0/CR4 settings). */
export function runEmulated(c: SimdCase): EmulatedRun {
  emulator ??= new SimdEmulator();
  const code = c.code ?? assembleMany([c.asm!])[0]!;
  return emulator.run(code, c, caseImage(c), c.compareData === true);
}

function describeInput(c: SimdCase): string {
  const parts: string[] = [];
  const asm = c.asm ?? '';
  if (c.xmm) {
    for (const n of new Set([...asm.matchAll(/%xmm(\d+)/g)].map((m) => Number(m[1])))) {
      const lanes = [3, 2, 1, 0].map((k) => hex(c.xmm![n * 4 + k]! >>> 0, 8));
      parts.push(`xmm${n}=${lanes.join('_')}`);
    }
  }
  if (c.mm) {
    for (const n of new Set([...asm.matchAll(/%mm(\d+)/g)].map((m) => Number(m[1])))) {
      parts.push(`mm${n}=${hex(c.mm[n * 2 + 1]! >>> 0, 8)}_${hex(c.mm[n * 2]! >>> 0, 8)}`);
    }
  }
  if (c.gpr) parts.push(`rax=${hex(c.gpr[0]!)} rcx=${hex(c.gpr[1]!)}`);
  if (c.data) {
    parts.push(
      `data=${[...c.data.subarray(0, 48)].map((x) => x.toString(16).padStart(2, '0')).join('')}`,
    );
  }
  return parts.join(' ');
}

// ---- Value generators ----

/** A seeded generator (mulberry32). */
export class Random {
  constructor(private state: number) {}

  /** A uniformly random uint32 as a signed int32. */
  int32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return (this.int32() >>> 0) % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  chance(p: number): boolean {
    return (this.int32() >>> 0) / 2 ** 32 < p;
  }
}

const f32 = new Float32Array(1);
const w32 = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const w64 = new Int32Array(f64.buffer);

export function singleBits(v: number): number {
  f32[0] = v;
  return w32[0]!;
}

/** An interesting single-precision value, as bits. */
export function randomSingle(r: Random): number {
  const sign = r.chance(0.5) ? 0x80000000 | 0 : 0;
  const mantissa = r.int32() & 0x7fffff;
  switch (r.below(14)) {
    case 0:
      return sign;
    case 1:
      return sign | 0x7f800000;
    case 2:
      return sign | 0x7fc00000 | (mantissa & 0x3fffff);
    case 3:
      return sign | 0x7f800000 | (mantissa & 0x3fffff) | (mantissa === 0 ? 1 : 0); // SNaN
    case 4:
      return sign | (mantissa || 1); // denormal
    case 5:
      return sign | ((1 + r.below(254)) << 23) | mantissa;
    case 6:
      return sign | ((117 + r.below(20)) << 23) | mantissa; // near 1
    case 7:
      return singleBits((sign ? -1 : 1) * r.below(1000));
    case 8:
      return sign | ((250 + r.below(4)) << 23) | mantissa; // near the largest
    case 9:
      return sign | ((1 + r.below(3)) << 23) | mantissa; // near the smallest normal
    case 10:
      return singleBits(
        (sign ? -1 : 1) *
          r.pick([1, 0.5, 2, 1.5, 3, 0.1, 1e-3, 2 ** 24, 2 ** 31, 2 ** 63, 2 ** 32, 1e10]),
      );
    case 11:
      return singleBits((sign ? -1 : 1) * (r.below(1 << 20) / 4)); // quarters: tie rounding
    case 12:
      return sign | ((127 + 20 + r.below(20)) << 23) | mantissa; // around 2^31, 2^63 for conversions
    default:
      return r.int32();
  }
}

/** An interesting double: returns lo, hi in the second element. */
export function randomDouble(r: Random): [number, number] {
  const sign = r.chance(0.5) ? 0x80000000 | 0 : 0;
  const hiMantissa = r.int32() & 0xfffff;
  const lo = r.chance(0.3) ? r.int32() & ~0xfffffff : r.int32();
  const value = (v: number): [number, number] => {
    f64[0] = v;
    return [w64[0]!, w64[1]!];
  };
  switch (r.below(15)) {
    case 0:
      return [0, sign];
    case 1:
      return [0, sign | 0x7ff00000];
    case 2:
      return [lo, sign | 0x7ff80000 | (hiMantissa & 0x7ffff)];
    case 3:
      return [lo | (hiMantissa === 0 ? 1 : 0), sign | 0x7ff00000 | (hiMantissa & 0x7ffff)]; // SNaN
    case 4:
      return [lo | 1, sign | (hiMantissa & (r.chance(0.5) ? 0xfffff : 0xff))]; // denormal
    case 5:
      return [lo, sign | ((1 + r.below(2046)) << 20) | hiMantissa];
    case 6:
      return [lo, sign | ((1013 + r.below(20)) << 20) | hiMantissa];
    case 7:
      return value((sign ? -1 : 1) * r.below(1000));
    case 8:
      return [lo, sign | ((2040 + r.below(7)) << 20) | hiMantissa];
    case 9:
      return [lo, sign | ((1 + r.below(3)) << 20) | hiMantissa];
    case 10:
      return value(
        (sign ? -1 : 1) *
          r.pick([
            1,
            0.5,
            2,
            1.5,
            3,
            0.1,
            2 ** 31,
            2 ** 31 - 0.5,
            2 ** 63,
            2 ** 32,
            1e300,
            2 ** -1022,
          ]),
      );
    case 11:
      return value((sign ? -1 : 1) * (r.below(1 << 30) / 4));
    case 12:
      return [lo, sign | ((1023 + 20 + r.below(45)) << 20) | hiMantissa];
    case 13: {
      // A single-precision value, or one near the single range's edges (CVTSD2SS).
      const e = r.pick([
        1023 - 126,
        1023 - 127,
        1023 - 149,
        1023 - 150,
        1023 + 127,
        1023 + 128,
        1023,
      ]);
      return [lo, sign | ((e + r.below(3) - 1) << 20) | hiMantissa];
    }
    default:
      return [r.int32(), r.int32()];
  }
}

/** A nearby value (same sign and exponent, a few ulps away) to provoke cancellation. */
export function nearSingle(r: Random, bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000) return bits;
  return (bits + r.below(7) - 3) | 0;
}

/** An MXCSR for a random case: any rounding mode, DAZ/FTZ sometimes, all exceptions masked
 * (unless `unmask`), some sticky flags already set. */
export function randomMxcsr(r: Random, unmask = false): number {
  let mx = 0x1f80 | (r.below(4) << 13);
  if (r.chance(0.25)) mx |= 0x40;
  if (r.chance(0.25)) mx |= 0x8000;
  if (r.chance(0.2)) mx |= r.below(64);
  if (unmask) mx &= ~(r.below(64) << 7);
  return mx;
}
