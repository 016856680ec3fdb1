/**
 * Conversions against the host processor: integer ↔ single/double (32- and 64-bit, rounded
 * and truncating), single ↔ double, the packed and MMX forms, under every rounding mode with
 * DAZ/FTZ, comparing the destination, MXCSR, MMX state and general registers bit for bit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzScale, fuzzSeed } from '../testing/fuzz.js';
import { LAYOUT } from '../testing/native/native.js';
import {
  Random,
  randomDouble,
  randomMxcsr,
  randomSingle,
  runCases,
  type SimdCase,
} from './differential.js';

/** XENOTYPE_FUZZ multiplies the case counts, XENOTYPE_SEED changes the seeds (../testing/fuzz.ts). */
const SCALE = fuzzScale();
const SEED = fuzzSeed();

/** An interesting integer of `bits` bits as a bigint. */
function randomInteger(r: Random, bits: 32 | 64): bigint {
  const lo = BigInt(r.int32() >>> 0);
  const hi = BigInt(r.int32() >>> 0);
  const any = bits === 32 ? BigInt.asIntN(32, lo) : BigInt.asIntN(64, (hi << 32n) | lo);
  const small = BigInt(r.below(2000) - 1000);
  const edges = [
    0n,
    1n,
    -1n,
    2n ** 24n + 1n,
    2n ** 31n - 1n,
    -(2n ** 31n),
    2n ** 53n + 1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
  ];
  switch (r.below(6)) {
    case 0:
      return small;
    case 1:
      return BigInt.asIntN(bits, r.pick(edges));
    case 2:
      // Just above a power of two: lots of ties and near-ties for the rounding.
      return BigInt.asIntN(bits, (1n << BigInt(20 + r.below(bits - 21))) + small);
    case 3:
      return BigInt.asIntN(bits, any >> BigInt(r.below(bits)));
    default:
      return any;
  }
}

function randomXmm(r: Random, kind: 'single' | 'double' | 'int'): Int32Array {
  const x = new Int32Array(64);
  for (let k = 0; k < 64; k += kind === 'double' ? 2 : 1) {
    if (kind === 'single') x[k] = randomSingle(r);
    else if (kind === 'double') [x[k], x[k + 1]] = randomDouble(r);
    else x[k] = Number(BigInt.asIntN(32, randomInteger(r, 32)));
  }
  return x;
}

function gprs(rax: bigint): bigint[] {
  const gpr = new Array<bigint>(16).fill(0n);
  gpr[0] = rax;
  gpr[1] = BigInt(LAYOUT.data);
  gpr[4] = LAYOUT.defaultRsp;
  return gpr;
}

/** Cases for `forms` (templates with SRC/DST) whose source is of `kind`. */
function cases(
  forms: string[],
  kind: 'single' | 'double' | 'int',
  count: number,
  seed: number,
  mmx = false,
): SimdCase[] {
  const r = new Random(seed + SEED * 1000);
  const out: SimdCase[] = [];
  for (const form of forms) {
    for (let n = 0; n < count * SCALE; n++) {
      const xmm = randomXmm(r, kind);
      const data = new Uint8Array(32);
      new Int32Array(data.buffer).set(xmm.subarray(4, 8));
      const c: SimdCase = {
        name: form.split(' ')[0]!,
        asm: form,
        xmm,
        mxcsr: randomMxcsr(r, n % 8 === 7),
        data,
      };
      c.gpr = gprs(randomInteger(r, 64));
      if (mmx) {
        const mm = new Int32Array(16);
        for (let k = 0; k < 16; k++) mm[k] = kind === 'single' ? randomSingle(r) : r.int32();
        c.mm = mm;
      }
      out.push(c);
    }
  }
  return out;
}

function check(all: SimdCase[]): void {
  const { failures, count } = runCases(all);
  assert.deepEqual(
    failures,
    [],
    `${failures.length} of ${count} cases differ:\n${failures.join('\n')}`,
  );
}

test('CVTSI2SS/CVTSI2SD from 32- and 64-bit integers', () => {
  const forms = [
    'cvtsi2ssl %eax, %xmm0',
    'cvtsi2ssq %rax, %xmm0',
    'cvtsi2sdl %eax, %xmm0',
    'cvtsi2sdq %rax, %xmm0',
    'cvtsi2ssq %rax, %xmm9',
    'cvtsi2sdl (%rcx), %xmm1',
    'cvtsi2ssq (%rcx), %xmm1',
  ];
  const all = cases(forms, 'single', 300, 1);
  const r = new Random(100 + SEED);
  for (const c of all) {
    const value = randomInteger(r, 64);
    c.gpr![0] = value;
    new DataView(c.data!.buffer).setBigInt64(0, value, true);
  }
  check(all);
});

test('CVT(T)SS2SI and CVT(T)SD2SI to 32- and 64-bit registers', () => {
  const single = [
    'cvtss2si %xmm1, %eax',
    'cvtss2si %xmm1, %rax',
    'cvttss2si %xmm1, %eax',
    'cvttss2si %xmm1, %rax',
    'cvttss2si 0x10(%rcx), %r10',
  ];
  const double = [
    'cvtsd2si %xmm1, %eax',
    'cvtsd2si %xmm1, %rax',
    'cvttsd2si %xmm1, %eax',
    'cvttsd2si %xmm1, %rax',
    'cvtsd2si 0x10(%rcx), %r10d',
  ];
  const all = [...cases(single, 'single', 300, 2), ...cases(double, 'double', 300, 3)];
  for (const c of all) {
    // Memory operands read the second xmm1 lanes at data+0x10.
    new Uint8Array(c.data!.buffer).set(new Uint8Array(c.xmm!.buffer, 16, 16), 16);
  }
  check(all);
});

test('CVTSS2SD CVTSD2SS CVTPS2PD CVTPD2PS', () => {
  check([
    ...cases(
      ['cvtss2sd %xmm1, %xmm0', 'cvtps2pd %xmm1, %xmm0', 'cvtps2pd (%rcx), %xmm2'],
      'single',
      300,
      4,
    ),
    ...cases(
      ['cvtsd2ss %xmm1, %xmm0', 'cvtpd2ps %xmm1, %xmm0', 'cvtpd2ps (%rcx), %xmm3'],
      'double',
      300,
      5,
    ),
  ]);
});

test('CVTDQ2PS CVT(T)PS2DQ CVTDQ2PD CVT(T)PD2DQ', () => {
  check([
    ...cases(
      ['cvtdq2ps %xmm1, %xmm0', 'cvtdq2pd %xmm1, %xmm0', 'cvtdq2ps (%rcx), %xmm8'],
      'int',
      300,
      6,
    ),
    ...cases(['cvtps2dq %xmm1, %xmm0', 'cvttps2dq %xmm1, %xmm0'], 'single', 300, 7),
    ...cases(
      ['cvtpd2dq %xmm1, %xmm0', 'cvttpd2dq %xmm1, %xmm0', 'cvtpd2dq (%rcx), %xmm5'],
      'double',
      300,
      8,
    ),
  ]);
});

test('the MMX forms: CVTPI2PS CVTPI2PD CVT(T)PS2PI CVT(T)PD2PI', () => {
  const all = [
    ...cases(
      ['cvtpi2ps %mm1, %xmm0', 'cvtpi2pd %mm1, %xmm0', 'cvtpi2ps (%rcx), %xmm2'],
      'int',
      200,
      9,
      true,
    ),
    ...cases(
      ['cvtps2pi %xmm1, %mm0', 'cvttps2pi %xmm1, %mm3', 'cvtps2pi (%rcx), %mm7'],
      'single',
      200,
      10,
      true,
    ),
    ...cases(['cvtpd2pi %xmm1, %mm0', 'cvttpd2pi %xmm1, %mm2'], 'double', 200, 11, true),
  ];
  // Half the cases start with the x87 unit in its FNINIT state instead of MMX mode.
  all.forEach((c, k) => {
    if (k % 2 === 0) delete c.mm;
  });
  check(all);
});
