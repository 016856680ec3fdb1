/**
 * SSE floating-point arithmetic against the host processor: every PS/PD/SS/SD operation with
 * random and edge operands (NaNs, infinities, zeros, denormals, extremes, near-cancellation)
 * under random rounding modes, DAZ and FTZ, comparing XMM, MXCSR and flags bit for bit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzScale, fuzzSeed } from '../testing/fuzz.js';
import { LAYOUT } from '../testing/native/native.js';
import {
  nearSingle,
  Random,
  randomDouble,
  randomMxcsr,
  randomSingle,
  runCases,
  type SimdCase,
} from './differential.js';

const DATA = BigInt(LAYOUT.data);
/** XENOTYPE_FUZZ multiplies the case counts, XENOTYPE_SEED changes the seeds (../testing/fuzz.ts). */
const SCALE = fuzzScale();
const SEED = fuzzSeed();

/** XMM state with single lanes; xmm1's lanes often relate to xmm0's (equal, negated, near). */
function singles(r: Random): Int32Array {
  const x = new Int32Array(64);
  for (let k = 0; k < 64; k++) x[k] = randomSingle(r);
  for (let k = 0; k < 4; k++) {
    const a = x[k]!;
    const choice = r.below(6);
    if (choice === 0) x[4 + k] = a;
    else if (choice === 1) x[4 + k] = a ^ (0x80000000 | 0);
    else if (choice === 2) x[4 + k] = nearSingle(r, a ^ (r.chance(0.5) ? 0x80000000 | 0 : 0));
  }
  return x;
}

function doubles(r: Random): Int32Array {
  const x = new Int32Array(64);
  for (let k = 0; k < 64; k += 2) [x[k], x[k + 1]] = randomDouble(r);
  for (let k = 0; k < 4; k += 2) {
    const choice = r.below(6);
    if (choice === 0) {
      x[4 + k] = x[k]!;
      x[5 + k] = x[k + 1]!;
    } else if (choice === 1) {
      x[4 + k] = x[k]!;
      x[5 + k] = x[k + 1]! ^ (0x80000000 | 0);
    } else if (choice === 2) {
      x[4 + k] = (x[k]! + r.below(7) - 3) | 0;
      x[5 + k] = x[k + 1]! ^ (r.chance(0.5) ? 0x80000000 | 0 : 0);
    }
  }
  return x;
}

/** The source operand: xmm1 (or another register pair), or a 16-byte memory operand. */
function operands(
  r: Random,
  x: Int32Array,
): { src: string; dst: string; data?: Uint8Array; gpr?: bigint[] } {
  const form = r.below(8);
  if (form === 0) {
    // Memory source: xmm1's value at data+0x10.
    const data = new Uint8Array(64);
    new Int32Array(data.buffer).set(x.subarray(4, 8), 4);
    const gpr = new Array<bigint>(16).fill(0n);
    gpr[0] = DATA;
    gpr[4] = LAYOUT.defaultRsp;
    return { src: '0x10(%rax)', dst: '%xmm0', data, gpr };
  }
  if (form === 1) return { src: '%xmm0', dst: '%xmm0' };
  if (form === 2) {
    // High registers: copy xmm0/xmm1 to xmm9/xmm12.
    x.copyWithin(9 * 4, 0, 4);
    x.copyWithin(12 * 4, 4, 8);
    return { src: '%xmm12', dst: '%xmm9' };
  }
  return { src: '%xmm1', dst: '%xmm0' };
}

function cases(
  mnemonics: string[],
  double: boolean,
  count: number,
  seed: number,
  imm?: () => number,
): SimdCase[] {
  const r = new Random(seed + SEED * 1000);
  const out: SimdCase[] = [];
  for (const mnemonic of mnemonics) {
    for (let n = 0; n < count * SCALE; n++) {
      const xmm = double ? doubles(r) : singles(r);
      const { src, dst, data, gpr } = operands(r, xmm);
      const prefix = imm ? `$${imm()}, ` : '';
      const c: SimdCase = {
        name: mnemonic,
        asm: `${mnemonic} ${prefix}${src}, ${dst}`,
        xmm,
        mxcsr: randomMxcsr(r, n % 5 === 4),
      };
      if (data) c.data = data;
      if (gpr) c.gpr = gpr;
      out.push(c);
    }
  }
  return out;
}

function check(all: SimdCase[]): void {
  const { failures, count } = runCases(all);
  assert.ok(count > 0);
  assert.deepEqual(
    failures,
    [],
    `${failures.length} of ${count} cases differ:\n${failures.join('\n')}`,
  );
}

const ARITH = ['add', 'sub', 'mul', 'div', 'min', 'max', 'sqrt'];

test('single precision: ADD SUB MUL DIV MIN MAX SQRT PS/SS', () => {
  check(cases([...ARITH.map((m) => `${m}ps`), ...ARITH.map((m) => `${m}ss`)], false, 300, 1));
});

test('double precision: ADD SUB MUL DIV MIN MAX SQRT PD/SD', () => {
  check(cases([...ARITH.map((m) => `${m}pd`), ...ARITH.map((m) => `${m}sd`)], true, 300, 2));
});

test('CMPPS/CMPSS/CMPPD/CMPSD with all predicates', () => {
  const r = new Random(3);
  const imm = (): number => r.below(8);
  check([
    ...cases(['cmpps', 'cmpss'], false, 300, 4, imm),
    ...cases(['cmppd', 'cmpsd'], true, 300, 5, imm),
  ]);
});

test('COMISS UCOMISS COMISD UCOMISD set ZF PF CF', () => {
  const all = [
    ...cases(['comiss', 'ucomiss'], false, 300, 6),
    ...cases(['comisd', 'ucomisd'], true, 300, 7),
  ];
  for (const c of all) c.rflags = 0x8d5; // every arithmetic flag set before
  check(all);
});

test('ADDSUB, HADD and HSUB PS/PD', () => {
  check([
    ...cases(['addsubps', 'haddps', 'hsubps'], false, 300, 8),
    ...cases(['addsubpd', 'haddpd', 'hsubpd'], true, 300, 9),
  ]);
});

test('ANDPS ANDNPS ORPS XORPS and the PD forms', () => {
  check(
    cases(['andps', 'andnps', 'orps', 'xorps', 'andpd', 'andnpd', 'orpd', 'xorpd'], false, 40, 10),
  );
});

test('RCPPS RCPSS RSQRTPS RSQRTSS are within 1.5·2^-12 and agree on specials', () => {
  const all = cases(['rcpps', 'rcpss', 'rsqrtps', 'rsqrtss'], false, 200, 11);
  const f = new Float32Array(1);
  const w = new Int32Array(f.buffer);
  const value = (bits: number): number => {
    w[0] = bits;
    return f[0]!;
  };
  for (const c of all) {
    c.compareXmm = (native, emulated) => {
      for (let k = 0; k < 64; k++) {
        const a = native.getInt32(160 + k * 4, true);
        const b = emulated.getInt32(160 + k * 4, true);
        if (a === b) continue;
        const x = value(a);
        const y = value(b);
        const tiny = (v: number): boolean => Math.abs(v) < 2 ** -125;
        if (
          Number.isFinite(x) &&
          Number.isFinite(y) &&
          x !== 0 &&
          Math.abs(x - y) <= Math.abs(x) * 1.5 * 2 ** -11
        )
          continue;
        if (tiny(x) && tiny(y) && Math.sign(x) === Math.sign(y)) continue; // denormal or flushed
        return `xmm${k >> 2} lane ${k & 3}: native ${(a >>> 0).toString(16)}, emulated ${(b >>> 0).toString(16)}`;
      }
      return undefined;
    };
  }
  check(all);
});
