/**
 * Conversions: CVTSI2SS/SD, CVT(T)SS2SI/SD2SI (32- and 64-bit integers), CVTSS2SD/CVTSD2SS,
 * CVTPS2PD/CVTPD2PS, CVTDQ2PS/CVT(T)PS2DQ, CVTDQ2PD/CVT(T)PD2DQ and the MMX forms
 * CVTPI2PS/CVTPI2PD/CVT(T)PS2PI/CVT(T)PD2PI. Rounding follows MXCSR.RC except for the
 * truncating forms; NaN and out-of-range values give the integer indefinite.
 */
import { read32 } from '../access.js';
import type { Cpu } from '../cpu.js';
import { writeMmx } from '../fpu/mmx.js';
import type { Handler, Insn } from '../insn.js';
import { linear, readRmSized, setRegSized } from '../isa/operands.js';
import { type OpcodeTable, OpFlag, type SizedHandlers } from '../table.js';
import {
  doubleToInt,
  doubleToSingle,
  env,
  intToD,
  intToS,
  singleToDouble,
  singleToInt,
} from './fp.js';
import {
  B,
  checkSse,
  checkSseMmx,
  fpBegin,
  fpEnd,
  loadMmRm,
  loadXmmRm,
  loadXmmRm64,
  R,
  storeXmmReg,
} from './regs.js';

const M = OpFlag.ModRM;

function sizedBy(make: (size: number) => Handler): SizedHandlers {
  const h32 = make(32);
  return [h32, h32, make(64)];
}

/** CVTSI2SS / CVTSI2SD xmm, r/m32/64. */
const intToScalar =
  (double: boolean) =>
  (size: number): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    const lo = readRmSized(cpu, i, size);
    const hi = cpu.hi;
    fpBegin(cpu);
    const x = cpu.fpu.xmm;
    const d = i.reg * 4;
    if (double) {
      const rLo = intToD(lo, hi, size === 64);
      const rHi = env.hi;
      fpEnd(cpu);
      x[d] = rLo;
      x[d + 1] = rHi;
    } else {
      const r = intToS(lo, hi, size === 64);
      fpEnd(cpu);
      x[d] = r;
    }
  };

/** CVT(T)SS2SI / CVT(T)SD2SI r32/64, xmm/m32 (m64). */
const scalarToInt =
  (double: boolean, truncate: boolean) =>
  (size: number): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    if (double) loadXmmRm64(cpu, i, B);
    else B.i32[0] = i.mod === 3 ? cpu.fpu.xmm[i.rm * 4]! : read32(cpu, linear(cpu, i), cpu.eaHi);
    fpBegin(cpu);
    const lo = double
      ? doubleToInt(B.i32[0]!, B.i32[1]!, truncate, size)
      : singleToInt(B.i32[0]!, truncate, size);
    const hi = env.hi;
    fpEnd(cpu);
    setRegSized(cpu, i.reg, size, lo, hi);
  };

/** Loads an MMX source (mm/m64): a register operand makes the x87→MMX transition. */
function loadMmSource(cpu: Cpu, i: Insn): void {
  if (i.mod === 3) checkSseMmx(cpu);
  else checkSse(cpu);
  loadMmRm(cpu, i, B);
}

/** CVTPI2PS xmm, mm/m64: the low two lanes; the high two are kept. */
const cvtpi2ps: Handler = (cpu, i) => {
  loadMmSource(cpu, i);
  fpBegin(cpu);
  const r0 = intToS(B.i32[0]!, 0, false);
  const r1 = intToS(B.i32[1]!, 0, false);
  fpEnd(cpu);
  const x = cpu.fpu.xmm;
  x[i.reg * 4] = r0;
  x[i.reg * 4 + 1] = r1;
};

/** CVTPI2PD xmm, mm/m64 (exact). */
const cvtpi2pd: Handler = (cpu, i) => {
  loadMmSource(cpu, i);
  const x = cpu.fpu.xmm;
  const d = i.reg * 4;
  const b0 = B.i32[0]!;
  const b1 = B.i32[1]!;
  x[d] = intToD(b0, 0, false);
  x[d + 1] = env.hi;
  x[d + 2] = intToD(b1, 0, false);
  x[d + 3] = env.hi;
};

/** CVT(T)PS2PI mm, xmm/m64. */
const ps2pi =
  (truncate: boolean): Handler =>
  (cpu, i) => {
    checkSseMmx(cpu);
    loadXmmRm64(cpu, i, B);
    fpBegin(cpu);
    const r0 = singleToInt(B.i32[0]!, truncate, 32);
    const r1 = singleToInt(B.i32[1]!, truncate, 32);
    fpEnd(cpu);
    writeMmx(cpu, i.reg, r0, r1);
  };

/** CVT(T)PD2PI mm, xmm/m128. */
const pd2pi =
  (truncate: boolean): Handler =>
  (cpu, i) => {
    checkSseMmx(cpu);
    loadXmmRm(cpu, i, B);
    fpBegin(cpu);
    const r0 = doubleToInt(B.i32[0]!, B.i32[1]!, truncate, 32);
    const r1 = doubleToInt(B.i32[2]!, B.i32[3]!, truncate, 32);
    fpEnd(cpu);
    writeMmx(cpu, i.reg, r0, r1);
  };

/** CVTPS2PD xmm, xmm/m64. */
const cvtps2pd: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmRm64(cpu, i, B);
  fpBegin(cpu);
  R.i32[0] = singleToDouble(B.i32[0]!);
  R.i32[1] = env.hi;
  R.i32[2] = singleToDouble(B.i32[1]!);
  R.i32[3] = env.hi;
  fpEnd(cpu);
  storeXmmReg(cpu, i.reg, R);
};

/** CVTPD2PS xmm, xmm/m128: two singles, the high qword zeroed. */
const cvtpd2ps: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmRm(cpu, i, B);
  fpBegin(cpu);
  R.i32[0] = doubleToSingle(B.i32[0]!, B.i32[1]!);
  R.i32[1] = doubleToSingle(B.i32[2]!, B.i32[3]!);
  R.i32[2] = 0;
  R.i32[3] = 0;
  fpEnd(cpu);
  storeXmmReg(cpu, i.reg, R);
};

const cvtss2sd: Handler = (cpu, i) => {
  checkSse(cpu);
  B.i32[0] = i.mod === 3 ? cpu.fpu.xmm[i.rm * 4]! : read32(cpu, linear(cpu, i), cpu.eaHi);
  fpBegin(cpu);
  const lo = singleToDouble(B.i32[0]!);
  const hi = env.hi;
  fpEnd(cpu);
  cpu.fpu.xmm[i.reg * 4] = lo;
  cpu.fpu.xmm[i.reg * 4 + 1] = hi;
};

const cvtsd2ss: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmRm64(cpu, i, B);
  fpBegin(cpu);
  const r = doubleToSingle(B.i32[0]!, B.i32[1]!);
  fpEnd(cpu);
  cpu.fpu.xmm[i.reg * 4] = r;
};

const cvtdq2ps: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmRm(cpu, i, B);
  fpBegin(cpu);
  for (let k = 0; k < 4; k++) R.i32[k] = intToS(B.i32[k]!, 0, false);
  fpEnd(cpu);
  storeXmmReg(cpu, i.reg, R);
};

const ps2dq =
  (truncate: boolean): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    loadXmmRm(cpu, i, B);
    fpBegin(cpu);
    for (let k = 0; k < 4; k++) R.i32[k] = singleToInt(B.i32[k]!, truncate, 32);
    fpEnd(cpu);
    storeXmmReg(cpu, i.reg, R);
  };

/** CVTDQ2PD xmm, xmm/m64 (exact). */
const cvtdq2pd: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmRm64(cpu, i, B);
  R.i32[0] = intToD(B.i32[0]!, 0, false);
  R.i32[1] = env.hi;
  R.i32[2] = intToD(B.i32[1]!, 0, false);
  R.i32[3] = env.hi;
  storeXmmReg(cpu, i.reg, R);
};

/** CVT(T)PD2DQ xmm, xmm/m128: two dwords, the high qword zeroed. */
const pd2dq =
  (truncate: boolean): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    loadXmmRm(cpu, i, B);
    fpBegin(cpu);
    R.i32[0] = doubleToInt(B.i32[0]!, B.i32[1]!, truncate, 32);
    R.i32[1] = doubleToInt(B.i32[2]!, B.i32[3]!, truncate, 32);
    R.i32[2] = 0;
    R.i32[3] = 0;
    fpEnd(cpu);
    storeXmmReg(cpu, i.reg, R);
  };

export function install(t: OpcodeTable): void {
  t.definePrefixed(0x0f2a, 'none', { name: 'cvtpi2ps', exec: cvtpi2ps, flags: M });
  t.definePrefixed(0x0f2a, 'p66', { name: 'cvtpi2pd', exec: cvtpi2pd, flags: M });
  t.definePrefixed(0x0f2a, 'pf3', {
    name: 'cvtsi2ss',
    exec: sizedBy(intToScalar(false)),
    flags: M,
  });
  t.definePrefixed(0x0f2a, 'pf2', { name: 'cvtsi2sd', exec: sizedBy(intToScalar(true)), flags: M });
  t.definePrefixed(0x0f2c, 'none', { name: 'cvttps2pi', exec: ps2pi(true), flags: M });
  t.definePrefixed(0x0f2c, 'p66', { name: 'cvttpd2pi', exec: pd2pi(true), flags: M });
  t.definePrefixed(0x0f2c, 'pf3', {
    name: 'cvttss2si',
    exec: sizedBy(scalarToInt(false, true)),
    flags: M,
  });
  t.definePrefixed(0x0f2c, 'pf2', {
    name: 'cvttsd2si',
    exec: sizedBy(scalarToInt(true, true)),
    flags: M,
  });
  t.definePrefixed(0x0f2d, 'none', { name: 'cvtps2pi', exec: ps2pi(false), flags: M });
  t.definePrefixed(0x0f2d, 'p66', { name: 'cvtpd2pi', exec: pd2pi(false), flags: M });
  t.definePrefixed(0x0f2d, 'pf3', {
    name: 'cvtss2si',
    exec: sizedBy(scalarToInt(false, false)),
    flags: M,
  });
  t.definePrefixed(0x0f2d, 'pf2', {
    name: 'cvtsd2si',
    exec: sizedBy(scalarToInt(true, false)),
    flags: M,
  });
  t.definePrefixed(0x0f5a, 'none', { name: 'cvtps2pd', exec: cvtps2pd, flags: M });
  t.definePrefixed(0x0f5a, 'p66', { name: 'cvtpd2ps', exec: cvtpd2ps, flags: M });
  t.definePrefixed(0x0f5a, 'pf3', { name: 'cvtss2sd', exec: cvtss2sd, flags: M });
  t.definePrefixed(0x0f5a, 'pf2', { name: 'cvtsd2ss', exec: cvtsd2ss, flags: M });
  t.definePrefixed(0x0f5b, 'none', { name: 'cvtdq2ps', exec: cvtdq2ps, flags: M });
  t.definePrefixed(0x0f5b, 'p66', { name: 'cvtps2dq', exec: ps2dq(false), flags: M });
  t.definePrefixed(0x0f5b, 'pf3', { name: 'cvttps2dq', exec: ps2dq(true), flags: M });
  t.definePrefixed(0x0fe6, 'p66', { name: 'cvttpd2dq', exec: pd2dq(true), flags: M });
  t.definePrefixed(0x0fe6, 'pf3', { name: 'cvtdq2pd', exec: cvtdq2pd, flags: M });
  t.definePrefixed(0x0fe6, 'pf2', { name: 'cvtpd2dq', exec: pd2dq(false), flags: M });
}
