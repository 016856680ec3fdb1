/**
 * FXSAVE/FXRSTOR, LDMXCSR/STMXCSR and EMMS against the host processor, and the exception
 * conditions the host cannot show (CR0.TS/EM, CR4.OSFXSR/OSXMMEXCPT, a pending x87
 * exception) on the emulator alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cr0, Cr4 } from '../cpu.js';
import { LAYOUT } from '../testing/native/native.js';
import { Random, randomMxcsr, runCases, runEmulated, type SimdCase } from './differential.js';

const DATA = BigInt(LAYOUT.data);

function registers(): bigint[] {
  const gpr = new Array<bigint>(16).fill(0n);
  gpr[1] = DATA;
  gpr[4] = LAYOUT.defaultRsp;
  return gpr;
}

/** A loadable FXSAVE image: random XMM, MXCSR, x87 registers, TOP and tags; no FIP/FDP/FOP. */
function randomImage(r: Random): Uint8Array {
  const image = new Uint8Array(512);
  const view = new DataView(image.buffer);
  view.setUint16(0, 0x037f | (r.below(4) << 10) | (r.below(4) << 8), true);
  view.setUint16(2, (r.below(8) << 11) | ((r.below(16) << 8) & 0x4700), true);
  image[4] = r.below(256);
  view.setUint32(24, randomMxcsr(r), true);
  for (let n = 0; n < 8; n++) {
    const at = 32 + n * 16;
    const kind = r.below(4);
    view.setInt32(at, kind === 0 ? 0 : r.int32(), true);
    view.setInt32(at + 4, kind === 0 ? 0 : r.int32() | (kind === 1 ? 0 : 0x80000000), true);
    view.setUint16(at + 8, kind === 0 ? r.below(2) << 15 : r.int32() & 0xffff, true);
  }
  for (let k = 160; k < 416; k += 4) view.setInt32(k, r.int32(), true);
  return image;
}

function check(all: SimdCase[]): void {
  const { failures, count } = runCases(all);
  assert.deepEqual(
    failures,
    [],
    `${failures.length} of ${count} cases differ:\n${failures.join('\n')}`,
  );
}

test('FXRSTOR loads and FXSAVE stores the image, in both forms', () => {
  const r = new Random(1);
  const all: SimdCase[] = [];
  const snippets = [
    'fxrstor64 (%rcx)',
    'fxrstor (%rcx)',
    // Round trip; the host's MXCSR_MASK (AMD: 0x2ffff) is not ours, so it is cleared.
    'fxrstor64 (%rcx); fxsave64 0x200(%rcx); movl $0, 0x21c(%rcx)',
    'fxrstor (%rcx); fxsave 0x200(%rcx); movl $0, 0x21c(%rcx)',
    'fxrstor64 (%rcx); movq %mm3, %mm1; fxsave64 0x200(%rcx); movl $0, 0x21c(%rcx)',
    'fxrstor64 (%rcx); emms; fxsave64 0x200(%rcx); movl $0, 0x21c(%rcx)',
  ];
  for (const asm of snippets) {
    for (let n = 0; n < 40; n++) {
      const data = new Uint8Array(0x400);
      data.set(randomImage(r));
      all.push({ name: asm.split(' ')[0]!, asm, gpr: registers(), data, compareData: true });
    }
  }
  check(all);
});

test('FXSAVE/FXRSTOR: #GP for a misaligned operand or a reserved MXCSR bit', () => {
  const r = new Random(2);
  const all: SimdCase[] = [];
  for (const asm of [
    'fxsave64 8(%rcx)',
    'fxrstor64 4(%rcx)',
    'fxrstor64 (%rcx)',
    'ldmxcsr 0x18(%rcx)',
  ]) {
    for (let n = 0; n < 10; n++) {
      const data = new Uint8Array(0x400);
      data.set(randomImage(r));
      // A reserved bit (not 17, which AMD implements as MXCSR.MM).
      new DataView(data.buffer).setUint32(24, 0x1f80 | (1 << (18 + r.below(14))), true);
      all.push({ name: asm.split(' ')[0]!, asm, gpr: registers(), data, compareData: true });
    }
  }
  check(all);
});

test('LDMXCSR and STMXCSR', () => {
  const r = new Random(3);
  const all: SimdCase[] = [];
  for (let n = 0; n < 100; n++) {
    const data = new Uint8Array(64);
    new DataView(data.buffer).setUint32(
      0x10,
      n % 10 === 0 ? 0x1f80 | ((1 << (16 + r.below(16))) & ~0x20000) : r.int32() & 0xffff,
      true,
    );
    const asm = 'ldmxcsr 0x10(%rcx); stmxcsr 0x24(%rcx); stmxcsr 0x29(%rcx)';
    all.push({
      name: 'ldmxcsr',
      asm,
      gpr: registers(),
      data,
      compareData: true,
      mxcsr: randomMxcsr(r),
    });
  }
  check(all);
});

test('EMMS empties the x87 tags after MMX use', () => {
  const r = new Random(4);
  const all: SimdCase[] = [];
  for (const asm of [
    'emms',
    'movq %rax, %mm2; emms',
    'paddb %mm1, %mm0; emms; fxsave64 (%rcx); movl $0, 28(%rcx)',
  ]) {
    for (let n = 0; n < 10; n++) {
      const mm = new Int32Array(16);
      for (let k = 0; k < 16; k++) mm[k] = r.int32();
      const c: SimdCase = {
        name: 'emms',
        asm,
        gpr: registers(),
        data: new Uint8Array(512),
        compareData: true,
      };
      if (n % 2 === 0) c.mm = mm;
      all.push(c);
    }
  }
  check(all);
});

test('#NM with CR0.TS; #UD with CR0.EM or without CR4.OSFXSR; #XM or #UD for unmasked exceptions', () => {
  const run = (asm: string, setup: SimdCase['setup'], mxcsr = 0x1f80): number => {
    const xmm = new Int32Array(64);
    xmm[0] = 0x3f800000; // 1.0 / 0 in xmm0 / xmm1
    const c: SimdCase = { name: asm, asm, gpr: registers(), data: new Uint8Array(512), mxcsr, xmm };
    if (setup) c.setup = setup;
    return runEmulated(c).vector;
  };
  const ts = (cpu: { cr0: number }): void => {
    cpu.cr0 |= Cr0.TS;
  };
  const em = (cpu: { cr0: number }): void => {
    cpu.cr0 |= Cr0.EM;
  };
  const noFxsr = (cpu: { cr4: number }): void => {
    cpu.cr4 &= ~Cr4.OSFXSR;
  };
  for (const asm of [
    'addps %xmm1, %xmm0',
    'paddb %mm1, %mm0',
    'fxsave64 (%rcx)',
    'ldmxcsr (%rcx)',
    'emms',
    'movd %eax, %xmm3',
  ]) {
    assert.equal(run(asm, ts), 7, `${asm} with CR0.TS`);
  }
  for (const asm of [
    'addps %xmm1, %xmm0',
    'paddb %mm1, %mm0',
    'stmxcsr (%rcx)',
    'emms',
    'cvtpi2ps %mm1, %xmm0',
  ]) {
    assert.equal(run(asm, em), 6, `${asm} with CR0.EM`);
  }
  assert.equal(run('fxsave64 (%rcx)', em), 7, 'FXSAVE with CR0.EM is #NM');
  for (const asm of [
    'addps %xmm1, %xmm0',
    'movdqa %xmm1, %xmm2',
    'ldmxcsr (%rcx)',
    'pshufb %xmm1, %xmm0',
  ]) {
    assert.equal(run(asm, noFxsr), 6, `${asm} without CR4.OSFXSR`);
  }
  for (const asm of ['paddb %mm1, %mm0', 'pshufb %mm1, %mm0', 'fxsave64 (%rcx)']) {
    assert.equal(run(asm, noFxsr), -1, `${asm} without CR4.OSFXSR`);
  }
  // 1.0 / 0 with ZE unmasked: #XM, or #UD when the OS does not handle #XM.
  assert.equal(run('divss %xmm1, %xmm0', undefined, 0x1d80), 19);
  assert.equal(
    run(
      'divss %xmm1, %xmm0',
      (cpu) => {
        cpu.cr4 &= ~Cr4.OSXMMEXCPT;
      },
      0x1d80,
    ),
    6,
  );
  // A pending x87 exception (FSW.ES) is #MF for MMX instructions, not for SSE ones.
  const pending = (cpu: { fpu: { fsw: number } }): void => {
    cpu.fpu.fsw |= 0x81;
  };
  assert.equal(run('paddb %mm1, %mm0', pending), 16);
  assert.equal(run('emms', pending), 16);
  assert.equal(run('addps %xmm1, %xmm0', pending), -1);
});
