/**
 * MMX/SSE data movement against the host processor: loads, stores (the data region is
 * compared), register forms, MOVD/MOVQ in every encoding, the alignment #GP of MOVAPS and
 * friends, a page-crossing store that faults half-way (nothing may be written), the
 * non-temporal and masked stores.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzScale, fuzzSeed } from '../testing/fuzz.js';
import { LAYOUT } from '../testing/native/native.js';
import { Random, runCases, type SimdCase } from './differential.js';

/** XENOTYPE_FUZZ multiplies the case counts, XENOTYPE_SEED changes the seeds (../testing/fuzz.ts). */
const SCALE = fuzzScale();
const SEED = fuzzSeed();

function cases(templates: string[], count: number, seed: number): SimdCase[] {
  const r = new Random(seed + SEED * 1000);
  const out: SimdCase[] = [];
  for (const asm of templates) {
    for (let n = 0; n < count * SCALE; n++) {
      const xmm = new Int32Array(64);
      for (let k = 0; k < 64; k++) xmm[k] = r.int32();
      const mm = new Int32Array(16);
      for (let k = 0; k < 16; k++) mm[k] = r.int32();
      const data = new Uint8Array(256);
      for (let k = 0; k < data.length; k++) data[k] = r.int32();
      const gpr = new Array<bigint>(16).fill(0n);
      gpr[0] = BigInt(r.int32() >>> 0) | (BigInt(r.int32() >>> 0) << 32n);
      gpr[1] = BigInt(LAYOUT.data);
      gpr[4] = LAYOUT.defaultRsp;
      gpr[7] = BigInt(LAYOUT.data + 0x40 + r.below(16));
      const c: SimdCase = { name: asm.split(' ')[0]!, asm, xmm, data, gpr, compareData: true };
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

test('128-bit loads and stores, aligned and not; #GP for misaligned MOVAPS', () => {
  const templates: string[] = [];
  for (const m of ['movaps', 'movapd', 'movdqa', 'movups', 'movupd', 'movdqu']) {
    templates.push(
      `${m} 0x10(%rcx), %xmm0`,
      `${m} 0x18(%rcx), %xmm9`,
      `${m} %xmm1, %xmm0`,
      `${m} %xmm11, %xmm3`,
    );
    templates.push(`${m} %xmm1, 0x20(%rcx)`, `${m} %xmm14, 0x24(%rcx)`);
  }
  templates.push(
    'lddqu 0x13(%rcx), %xmm2',
    'movntps %xmm1, 0x30(%rcx)',
    'movntpd %xmm1, 0x38(%rcx)',
  );
  templates.push('movntdq %xmm12, 0x40(%rcx)', 'addps 0x14(%rcx), %xmm0', 'pxor 0x1c(%rcx), %xmm0');
  // Across a page boundary, then across the end of the data region: #PF and no write at all.
  templates.push(
    'movups %xmm1, 0xff8(%rcx)',
    'movdqu %xmm1, 0xfffc(%rcx)',
    'movdqu 0xfff4(%rcx), %xmm3',
  );
  check(cases(templates, 4, 1));
});

test('scalar and half moves: MOVSS MOVSD MOVLPS MOVHPS MOVLPD MOVHPD MOVHLPS MOVLHPS', () => {
  const templates = [
    'movss 0x10(%rcx), %xmm0',
    'movss %xmm1, %xmm0',
    'movss %xmm1, 0x11(%rcx)',
    'movsd 0x10(%rcx), %xmm0',
    'movsd %xmm1, %xmm0',
    'movsd %xmm9, 0x13(%rcx)',
    '.byte 0xf3, 0x0f, 0x11, 0xc8', // movss %xmm1, %xmm0 through 0F 11
    '.byte 0xf2, 0x0f, 0x11, 0xc8',
    'movlps 0x10(%rcx), %xmm0',
    'movhps 0x14(%rcx), %xmm0',
    'movlpd 0x10(%rcx), %xmm0',
    'movhpd 0x18(%rcx), %xmm10',
    'movlps %xmm1, 0x22(%rcx)',
    'movhps %xmm1, 0x20(%rcx)',
    'movlpd %xmm1, 0x20(%rcx)',
    'movhpd %xmm15, 0x20(%rcx)',
    'movhlps %xmm1, %xmm0',
    'movlhps %xmm1, %xmm0',
    'movhlps %xmm8, %xmm7',
    'movsldup %xmm1, %xmm0',
    'movshdup 0x10(%rcx), %xmm0',
    'movddup %xmm1, %xmm0',
    'movddup 0x18(%rcx), %xmm12',
  ];
  check(cases(templates, 4, 2));
});

test('MOVD/MOVQ in every encoding; MOVQ2DQ MOVDQ2Q; MOVNTI MOVNTQ', () => {
  const templates = [
    'movd %eax, %mm0',
    'movq %rax, %mm3',
    'movd 0x10(%rcx), %mm1',
    'movd %mm1, %eax',
    'movq %mm1, %rax',
    'movd %mm1, 0x20(%rcx)',
    'movd %eax, %xmm0',
    'movq %rax, %xmm0',
    'movq %rax, %xmm13',
    'movd 0x10(%rcx), %xmm1',
    'movd %xmm1, %eax',
    'movq %xmm1, %rax',
    'movq %xmm10, %r11',
    'movd %xmm1, 0x20(%rcx)',
    'movq 0x10(%rcx), %xmm0',
    'movq %xmm1, %xmm0',
    'movq %xmm1, 0x20(%rcx)',
    '.byte 0x66, 0x0f, 0xd6, 0xc8', // movq %xmm1, %xmm0 through 66 0F D6
    'movq %mm1, %mm0',
    'movq 0x10(%rcx), %mm0',
    'movq %mm1, 0x20(%rcx)',
    '.byte 0x0f, 0x7f, 0xca', // movq %mm1, %mm2 through 0F 7F
    'movq2dq %mm1, %xmm0',
    'movdq2q %xmm1, %mm0',
    'movq2dq %mm7, %xmm15',
    'movnti %eax, 0x20(%rcx)',
    'movnti %rax, 0x28(%rcx)',
    'movntq %mm1, 0x20(%rcx)',
  ];
  check(cases(templates, 4, 3));
});

test('MASKMOVQ and MASKMOVDQU write the selected bytes at rDI', () => {
  check(
    cases(['maskmovq %mm1, %mm0', 'maskmovdqu %xmm1, %xmm0', 'maskmovdqu %xmm12, %xmm10'], 20, 4),
  );
});
