/**
 * MMX/SSE2/SSSE3 integer instructions and shuffles against the host processor, in their MMX
 * and XMM forms, with register and memory sources and saturation-edge lane values; the MMX
 * cases also check the x87 side effects (TOP, tags, exponent bits).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzScale, fuzzSeed } from '../testing/fuzz.js';
import { LAYOUT } from '../testing/native/native.js';
import { Random, runCases, type SimdCase } from './differential.js';

/** XENOTYPE_FUZZ multiplies the case counts, XENOTYPE_SEED changes the seeds (../testing/fuzz.ts). */
const SCALE = fuzzScale();
const SEED = fuzzSeed();

const EDGES = [
  0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x00ff00ff,
  0x80008000,
];

/** A dword biased towards saturation edges. */
function lane(r: Random): number {
  switch (r.below(4)) {
    case 0:
      return r.pick(EDGES) | 0;
    case 1: {
      // Bytes from the edges.
      let v = 0;
      for (let k = 0; k < 4; k++) v |= r.pick([0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x81]) << (k * 8);
      return v;
    }
    case 2:
      return r.int32() >> r.below(32);
    default:
      return r.int32();
  }
}

function state(r: Random): { xmm: Int32Array; mm: Int32Array; data: Uint8Array } {
  const xmm = new Int32Array(64);
  for (let k = 0; k < 64; k++) xmm[k] = lane(r);
  const mm = new Int32Array(16);
  for (let k = 0; k < 16; k++) mm[k] = lane(r);
  // Shift counts: sometimes small, in range.
  if (r.chance(0.7)) {
    xmm[4] = r.below(r.chance(0.5) ? 17 : 70);
    xmm[5] = r.chance(0.9) ? 0 : lane(r);
    mm[2] = xmm[4]!;
    mm[3] = xmm[5]!;
  }
  const data = new Uint8Array(64);
  const words = new Int32Array(data.buffer);
  for (let k = 0; k < 16; k++) words[k] = lane(r);
  if (r.chance(0.5)) {
    words[4] = r.below(40);
    words[5] = 0;
  }
  return { xmm, mm, data };
}

function gprs(r: Random): bigint[] {
  const gpr = new Array<bigint>(16).fill(0n);
  gpr[0] = BigInt(r.int32() >>> 0) | (BigInt(r.int32() >>> 0) << 32n);
  gpr[1] = BigInt(LAYOUT.data);
  gpr[4] = LAYOUT.defaultRsp;
  return gpr;
}

/** Register and memory forms of a two-operand instruction, MMX and/or XMM. */
function forms(mnemonic: string, mmx: boolean, xmm: boolean, imm = false): string[] {
  const i = imm ? '$IMM, ' : '';
  const out: string[] = [];
  if (mmx)
    out.push(
      `${mnemonic} ${i}%mm1, %mm0`,
      `${mnemonic} ${i}0x10(%rcx), %mm6`,
      `${mnemonic} ${i}%mm3, %mm3`,
    );
  if (xmm)
    out.push(
      `${mnemonic} ${i}%xmm1, %xmm0`,
      `${mnemonic} ${i}0x10(%rcx), %xmm2`,
      `${mnemonic} ${i}%xmm12, %xmm9`,
    );
  return out;
}

function cases(templates: string[], count: number, seed: number): SimdCase[] {
  const r = new Random(seed + SEED * 1000);
  const out: SimdCase[] = [];
  for (const template of templates) {
    for (let n = 0; n < count * SCALE; n++) {
      const imm = r.chance(0.7) ? r.below(20) : r.below(256);
      const asm = template.replace('IMM', String(imm));
      const { xmm, mm, data } = state(r);
      const c: SimdCase = { name: template.split(' ')[0]!, asm, xmm, data, gpr: gprs(r) };
      // MMX cases start in MMX mode or, half of the time, from FNINIT (empty tags).
      if (asm.includes('%mm') && r.chance(0.5)) c.mm = mm;
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

const BOTH = [
  'paddb',
  'paddw',
  'paddd',
  'paddq',
  'psubb',
  'psubw',
  'psubd',
  'psubq',
  'paddsb',
  'paddsw',
  'paddusb',
  'paddusw',
  'psubsb',
  'psubsw',
  'psubusb',
  'psubusw',
  'pmullw',
  'pmulhw',
  'pmulhuw',
  'pmuludq',
  'pmaddwd',
  'psadbw',
  'pavgb',
  'pavgw',
  'pminub',
  'pmaxub',
  'pminsw',
  'pmaxsw',
  'pand',
  'pandn',
  'por',
  'pxor',
  'pcmpeqb',
  'pcmpeqw',
  'pcmpeqd',
  'pcmpgtb',
  'pcmpgtw',
  'pcmpgtd',
];

test('MMX/SSE2 integer arithmetic, logic and compares', () => {
  check(
    cases(
      BOTH.flatMap((m) => forms(m, true, true)),
      40,
      1,
    ),
  );
});

test('shifts by register, memory and immediate; PSRLDQ PSLLDQ', () => {
  const byCount = ['psrlw', 'psrld', 'psrlq', 'psraw', 'psrad', 'psllw', 'pslld', 'psllq'];
  const templates = byCount.flatMap((m) => forms(m, true, true));
  for (const m of byCount)
    templates.push(`${m} $IMM, %mm5`, `${m} $IMM, %xmm5`, `${m} $IMM, %xmm13`);
  templates.push('psrldq $IMM, %xmm5', 'pslldq $IMM, %xmm5', 'psrldq $IMM, %xmm14');
  check(cases(templates, 40, 2));
});

test('PACK*, PUNPCK*, PSHUFW/D/HW/LW, SHUFPS/PD, UNPCKL/H PS/PD', () => {
  const templates = [
    ...[
      'packsswb',
      'packuswb',
      'packssdw',
      'punpcklbw',
      'punpcklwd',
      'punpckldq',
      'punpckhbw',
      'punpckhwd',
      'punpckhdq',
    ].flatMap((m) => forms(m, true, true)),
    ...['punpcklqdq', 'punpckhqdq', 'unpcklps', 'unpckhps', 'unpcklpd', 'unpckhpd'].flatMap((m) =>
      forms(m, false, true),
    ),
    ...forms('pshufw', true, false, true),
    ...['pshufd', 'pshufhw', 'pshuflw', 'shufps', 'shufpd'].flatMap((m) =>
      forms(m, false, true, true),
    ),
  ];
  check(cases(templates, 30, 3));
});

test('SSSE3: PSHUFB PHADD* PHSUB* PMADDUBSW PMULHRSW PSIGN* PABS* PALIGNR', () => {
  const templates = [
    ...[
      'pshufb',
      'phaddw',
      'phaddd',
      'phaddsw',
      'phsubw',
      'phsubd',
      'phsubsw',
      'pmaddubsw',
      'pmulhrsw',
      'psignb',
      'psignw',
      'psignd',
      'pabsb',
      'pabsw',
      'pabsd',
    ].flatMap((m) => forms(m, true, true)),
    ...forms('palignr', true, true, true),
  ];
  check(cases(templates, 30, 4));
});

test('PINSRW PEXTRW PMOVMSKB MOVMSKPS MOVMSKPD', () => {
  const templates = [
    'pinsrw $IMM, %eax, %mm0',
    'pinsrw $IMM, 0x10(%rcx), %mm4',
    'pinsrw $IMM, %eax, %xmm0',
    'pinsrw $IMM, %r9d, %xmm11',
    'pinsrw $IMM, 0x12(%rcx), %xmm2',
    'pextrw $IMM, %mm1, %eax',
    'pextrw $IMM, %xmm1, %eax',
    'pextrw $IMM, %xmm10, %r8d',
    'pmovmskb %mm1, %eax',
    'pmovmskb %xmm1, %eax',
    'pmovmskb %xmm15, %r11',
    'movmskps %xmm1, %eax',
    'movmskpd %xmm1, %rdx',
    'movmskps %xmm13, %r12d',
  ];
  const all = cases(templates, 30, 5);
  for (const c of all) c.gpr![9] = c.gpr![0]!;
  check(all);
});
