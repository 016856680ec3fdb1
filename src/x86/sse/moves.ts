/**
 * MMX/SSE data movement: MOVAPS/UPS/APD/UPD/DQA/DQU, MOVSS/SD, MOVLPS/HPS/LPD/HPD,
 * MOVHLPS/LHPS, MOVD/MOVQ in all their forms, MOVQ2DQ/MOVDQ2Q, MOVSLDUP/SHDUP/DDUP, LDDQU,
 * the non-temporal stores (MOVNTPS/PD/DQ/NTI/NTQ, MASKMOVQ/MASKMOVDQU), MOVMSKPS/PD and
 * PMOVMSKB.
 */
import { read32, read64, write8, write32, write64 } from '../access.js';
import type { Cpu } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { readMmx, writeMmx } from '../fpu/mmx.js';
import type { Handler, Insn } from '../insn.js';
import { getRegSized, linear, readRmSized, setReg32, writeRmSized } from '../isa/operands.js';
import { Seg } from '../segments.js';
import { type OpcodeTable, OpFlag, type SizedHandlers } from '../table.js';
import {
  A,
  checkMmx,
  checkSse,
  checkSseMmx,
  loadMmRm,
  loadXmmReg,
  loadXmmRm,
  loadXmmRm64,
  R,
  readMem128,
  writeMem128,
} from './regs.js';

const M = OpFlag.ModRM;
const MEM = OpFlag.ModRM | OpFlag.MemOnly;

function ud(): never {
  throw new Fault(Vector.UD);
}

/** xmm ← xmm/m128 (MOVAPS, MOVUPS, MOVDQA, MOVDQU, LDDQU …). */
const load128 =
  (aligned: boolean): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    loadXmmRm(cpu, i, R, aligned);
    cpu.fpu.xmm.set(R.i32, i.reg * 4);
  };

/** xmm/m128 ← xmm. */
const store128 =
  (aligned: boolean): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    const x = cpu.fpu.xmm;
    const at = i.reg * 4;
    if (i.mod === 3) {
      x.copyWithin(i.rm * 4, at, at + 4);
      return;
    }
    loadXmmReg(cpu, i.reg, R);
    writeMem128(cpu, linear(cpu, i), cpu.eaHi, R, aligned);
  };

/** MOVSS xmm, xmm/m32: a register source moves the low dword; memory zeroes the rest. */
const movssLoad: Handler = (cpu, i) => {
  checkSse(cpu);
  const x = cpu.fpu.xmm;
  const d = i.reg * 4;
  if (i.mod === 3) {
    x[d] = x[i.rm * 4]!;
    return;
  }
  x[d] = read32(cpu, linear(cpu, i), cpu.eaHi);
  x[d + 1] = 0;
  x[d + 2] = 0;
  x[d + 3] = 0;
};

const movssStore: Handler = (cpu, i) => {
  checkSse(cpu);
  const x = cpu.fpu.xmm;
  if (i.mod === 3) x[i.rm * 4] = x[i.reg * 4]!;
  else write32(cpu, linear(cpu, i), cpu.eaHi, x[i.reg * 4]!);
};

const movsdLoad: Handler = (cpu, i) => {
  checkSse(cpu);
  const x = cpu.fpu.xmm;
  const d = i.reg * 4;
  if (i.mod === 3) {
    x[d] = x[i.rm * 4]!;
    x[d + 1] = x[i.rm * 4 + 1]!;
    return;
  }
  x[d] = read64(cpu, linear(cpu, i), cpu.eaHi);
  x[d + 1] = cpu.hi;
  x[d + 2] = 0;
  x[d + 3] = 0;
};

/** Stores the low (high: offset 2) qword of xmm reg to xmm/m64 (register: that qword only). */
const storeQword =
  (half: number): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    const x = cpu.fpu.xmm;
    const s = i.reg * 4 + half;
    if (i.mod === 3) {
      x[i.rm * 4] = x[s]!;
      x[i.rm * 4 + 1] = x[s + 1]!;
      return;
    }
    write64(cpu, linear(cpu, i), cpu.eaHi, x[s]!, x[s + 1]!);
  };

/** MOVLPS/MOVLPD (half 0) and MOVHPS/MOVHPD (half 2): one qword of xmm ← m64. */
const loadQwordMem =
  (half: number): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    const lo = read64(cpu, linear(cpu, i), cpu.eaHi);
    const x = cpu.fpu.xmm;
    x[i.reg * 4 + half] = lo;
    x[i.reg * 4 + half + 1] = cpu.hi;
  };

const loadLowQword = loadQwordMem(0);
const loadHighQword = loadQwordMem(2);

/** 0F 12: MOVLPS xmm, m64, or with a register MOVHLPS (low qword ← source's high qword). */
const movlpsOrHlps: Handler = (cpu, i) => {
  if (i.mod !== 3) return loadLowQword(cpu, i);
  checkSse(cpu);
  const x = cpu.fpu.xmm;
  const s = i.rm * 4;
  const d = i.reg * 4;
  const lo = x[s + 2]!;
  const hi = x[s + 3]!;
  x[d] = lo;
  x[d + 1] = hi;
};

/** 0F 16: MOVHPS xmm, m64, or with a register MOVLHPS (high qword ← source's low qword). */
const movhpsOrLhps: Handler = (cpu, i) => {
  if (i.mod !== 3) return loadHighQword(cpu, i);
  checkSse(cpu);
  const x = cpu.fpu.xmm;
  const s = i.rm * 4;
  const d = i.reg * 4;
  const lo = x[s]!;
  const hi = x[s + 1]!;
  x[d + 2] = lo;
  x[d + 3] = hi;
};

/** MOVSLDUP (odd 0) / MOVSHDUP (odd 1): dwords 0,0,2,2 or 1,1,3,3 of the source. */
const movsdup =
  (odd: number): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    loadXmmRm(cpu, i, A);
    const s = A.i32;
    const x = cpu.fpu.xmm;
    const d = i.reg * 4;
    x[d] = s[odd]!;
    x[d + 1] = s[odd]!;
    x[d + 2] = s[2 + odd]!;
    x[d + 3] = s[2 + odd]!;
  };

const movddup: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmRm64(cpu, i, A);
  const x = cpu.fpu.xmm;
  const d = i.reg * 4;
  x[d] = x[d + 2] = A.i32[0]!;
  x[d + 1] = x[d + 3] = A.i32[1]!;
};

// ---- MOVD / MOVQ ----

function sizedBy(make: (size: number) => Handler): SizedHandlers {
  const h32 = make(32);
  return [h32, h32, make(64)];
}

/** 0F 6E: MOVD/MOVQ mm, r/m32/64. */
const movdToMm =
  (size: number): Handler =>
  (cpu, i) => {
    checkMmx(cpu);
    const lo = readRmSized(cpu, i, size);
    writeMmx(cpu, i.reg, lo, size === 64 ? cpu.hi : 0);
  };

/** 0F 7E: MOVD/MOVQ r/m32/64, mm. */
const movdFromMm =
  (size: number): Handler =>
  (cpu, i) => {
    checkMmx(cpu);
    const lo = readMmx(cpu, i.reg);
    writeRmSized(cpu, i, size, lo, cpu.hi);
  };

/** 66 0F 6E: MOVD/MOVQ xmm, r/m32/64, zero-extended. */
const movdToXmm =
  (size: number): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    const lo = readRmSized(cpu, i, size);
    const x = cpu.fpu.xmm;
    const d = i.reg * 4;
    x[d] = lo;
    x[d + 1] = size === 64 ? cpu.hi : 0;
    x[d + 2] = 0;
    x[d + 3] = 0;
  };

/** 66 0F 7E: MOVD/MOVQ r/m32/64, xmm. */
const movdFromXmm =
  (size: number): Handler =>
  (cpu, i) => {
    checkSse(cpu);
    const x = cpu.fpu.xmm;
    writeRmSized(cpu, i, size, x[i.reg * 4]!, x[i.reg * 4 + 1]!);
  };

/** F3 0F 7E: MOVQ xmm, xmm/m64 (upper qword zeroed). */
const movqToXmm: Handler = (cpu, i) => {
  checkSse(cpu);
  loadXmmRm64(cpu, i, A);
  const x = cpu.fpu.xmm;
  const d = i.reg * 4;
  x[d] = A.i32[0]!;
  x[d + 1] = A.i32[1]!;
  x[d + 2] = 0;
  x[d + 3] = 0;
};

/** 66 0F D6: MOVQ xmm/m64, xmm (a register destination has its upper qword zeroed). */
const movqFromXmm: Handler = (cpu, i) => {
  checkSse(cpu);
  const x = cpu.fpu.xmm;
  const s = i.reg * 4;
  if (i.mod === 3) {
    const d = i.rm * 4;
    x[d] = x[s]!;
    x[d + 1] = x[s + 1]!;
    x[d + 2] = 0;
    x[d + 3] = 0;
    return;
  }
  write64(cpu, linear(cpu, i), cpu.eaHi, x[s]!, x[s + 1]!);
};

/** 0F 6F: MOVQ mm, mm/m64. */
const movqToMm: Handler = (cpu, i) => {
  checkMmx(cpu);
  loadMmRm(cpu, i, A);
  writeMmx(cpu, i.reg, A.i32[0]!, A.i32[1]!);
};

/** 0F 7F: MOVQ mm/m64, mm; 0F E7 MOVNTQ m64, mm. */
const movqFromMm: Handler = (cpu, i) => {
  checkMmx(cpu);
  const lo = readMmx(cpu, i.reg);
  const hi = cpu.hi;
  if (i.mod === 3) writeMmx(cpu, i.rm, lo, hi);
  else write64(cpu, linear(cpu, i), cpu.eaHi, lo, hi);
};

/** F3 0F D6: MOVQ2DQ xmm, mm. */
const movq2dq: Handler = (cpu, i) => {
  if (i.mod !== 3) ud();
  checkSseMmx(cpu);
  const x = cpu.fpu.xmm;
  const d = i.reg * 4;
  x[d] = readMmx(cpu, i.rm);
  x[d + 1] = cpu.hi;
  x[d + 2] = 0;
  x[d + 3] = 0;
};

/** F2 0F D6: MOVDQ2Q mm, xmm. */
const movdq2q: Handler = (cpu, i) => {
  if (i.mod !== 3) ud();
  checkSseMmx(cpu);
  const x = cpu.fpu.xmm;
  writeMmx(cpu, i.reg, x[i.rm * 4]!, x[i.rm * 4 + 1]!);
};

/** 0F C3: MOVNTI m32/m64, r32/r64. */
const movnti =
  (size: number): Handler =>
  (cpu, i) => {
    const lo = getRegSized(cpu, i.reg, size);
    writeRmSized(cpu, i, size, lo, cpu.hi);
  };

// ---- Masks ----

/** MOVMSKPS (lanes 4, lane dwords 1) / MOVMSKPD (lanes 2, dwords 2): sign bits to r32. */
const movmsk =
  (double: boolean): Handler =>
  (cpu, i) => {
    if (i.mod !== 3) ud();
    checkSse(cpu);
    const x = cpu.fpu.xmm;
    const s = i.rm * 4;
    const mask = double
      ? (x[s + 1]! >>> 31) | ((x[s + 3]! >>> 31) << 1)
      : (x[s]! >>> 31) |
        ((x[s + 1]! >>> 31) << 1) |
        ((x[s + 2]! >>> 31) << 2) |
        ((x[s + 3]! >>> 31) << 3);
    setReg32(cpu, i.reg, mask);
  };

/** The top bits of the bytes of `dwords` dwords of v from `at`. */
function byteSigns(v: Int32Array, at: number, dwords: number): number {
  let mask = 0;
  for (let k = 0; k < dwords; k++) {
    const d = v[at + k]!;
    const bits = ((d >>> 7) & 1) | ((d >>> 14) & 2) | ((d >>> 21) & 4) | ((d >>> 28) & 8);
    mask |= bits << (k * 4);
  }
  return mask;
}

/** PMOVMSKB r32, mm / xmm. */
const pmovmskb =
  (xmm: boolean): Handler =>
  (cpu, i) => {
    if (i.mod !== 3) ud();
    if (xmm) {
      checkSse(cpu);
      const x = cpu.fpu.xmm;
      setReg32(cpu, i.reg, byteSigns(x, i.rm * 4, 4));
    } else {
      checkMmx(cpu);
      R.i32[0] = readMmx(cpu, i.rm);
      R.i32[1] = cpu.hi;
      setReg32(cpu, i.reg, byteSigns(R.i32, 0, 2));
    }
  };

/** The linear address DS:rDI (segment overridable) of MASKMOVQ/MASKMOVDQU: lo, hi in eaHi. */
function maskmovAddress(cpu: Cpu, i: Insn): number {
  let lo = cpu.gpr[7 * 2]!;
  let hi = i.adsize === 64 ? cpu.gpr[7 * 2 + 1]! : 0;
  if (i.adsize === 16) lo &= 0xffff;
  const seg = i.seg;
  if (cpu.codeSize !== 64 || seg >= Seg.FS) {
    const sum = (lo + cpu.segBaseLo[seg]!) | 0;
    if (cpu.codeSize === 64) hi = (hi + cpu.segBaseHi[seg]! + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
    lo = sum;
  }
  cpu.eaHi = hi;
  return lo;
}

/** MASKMOVQ mm, mm / MASKMOVDQU xmm, xmm: bytes of reg whose mask byte (rm) has bit 7 set. */
const maskmov =
  (xmm: boolean): Handler =>
  (cpu, i) => {
    if (i.mod !== 3) ud();
    const data = A.i32;
    const mask = R.i32;
    if (xmm) {
      checkSse(cpu);
      loadXmmReg(cpu, i.reg, A);
      loadXmmReg(cpu, i.rm, R);
    } else {
      checkMmx(cpu);
      data[0] = readMmx(cpu, i.reg);
      data[1] = cpu.hi;
      mask[0] = readMmx(cpu, i.rm);
      mask[1] = cpu.hi;
    }
    const lo = maskmovAddress(cpu, i);
    const hi = cpu.eaHi;
    const bytes = xmm ? 16 : 8;
    for (let k = 0; k < bytes; k++) {
      if (R.u8[k]! & 0x80) {
        const at = (lo + k) | 0;
        write8(cpu, at, at >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi, A.u8[k]!);
      }
    }
  };

/** F2 0F F0 LDDQU: an unaligned 16-byte load. */
const lddqu: Handler = (cpu, i) => {
  checkSse(cpu);
  readMem128(cpu, linear(cpu, i), cpu.eaHi, R, false);
  cpu.fpu.xmm.set(R.i32, i.reg * 4);
};

export function install(t: OpcodeTable): void {
  const aligned = load128(true);
  const unaligned = load128(false);
  const storeAligned = store128(true);
  const storeUnaligned = store128(false);
  t.definePrefixed(0x0f10, 'none', { name: 'movups', exec: unaligned, flags: M });
  t.definePrefixed(0x0f10, 'p66', { name: 'movupd', exec: unaligned, flags: M });
  t.definePrefixed(0x0f10, 'pf3', { name: 'movss', exec: movssLoad, flags: M });
  t.definePrefixed(0x0f10, 'pf2', { name: 'movsd', exec: movsdLoad, flags: M });
  t.definePrefixed(0x0f11, 'none', { name: 'movups', exec: storeUnaligned, flags: M });
  t.definePrefixed(0x0f11, 'p66', { name: 'movupd', exec: storeUnaligned, flags: M });
  t.definePrefixed(0x0f11, 'pf3', { name: 'movss', exec: movssStore, flags: M });
  t.definePrefixed(0x0f11, 'pf2', { name: 'movsd', exec: storeQword(0), flags: M });
  t.definePrefixed(0x0f12, 'none', { name: 'movlps', exec: movlpsOrHlps, flags: M });
  t.definePrefixed(0x0f12, 'p66', { name: 'movlpd', exec: loadLowQword, flags: MEM });
  t.definePrefixed(0x0f12, 'pf3', { name: 'movsldup', exec: movsdup(0), flags: M });
  t.definePrefixed(0x0f12, 'pf2', { name: 'movddup', exec: movddup, flags: M });
  t.definePrefixed(0x0f13, 'none', { name: 'movlps', exec: storeQword(0), flags: MEM });
  t.definePrefixed(0x0f13, 'p66', { name: 'movlpd', exec: storeQword(0), flags: MEM });
  t.definePrefixed(0x0f16, 'none', { name: 'movhps', exec: movhpsOrLhps, flags: M });
  t.definePrefixed(0x0f16, 'p66', { name: 'movhpd', exec: loadHighQword, flags: MEM });
  t.definePrefixed(0x0f16, 'pf3', { name: 'movshdup', exec: movsdup(1), flags: M });
  t.definePrefixed(0x0f17, 'none', { name: 'movhps', exec: storeQword(2), flags: MEM });
  t.definePrefixed(0x0f17, 'p66', { name: 'movhpd', exec: storeQword(2), flags: MEM });
  t.definePrefixed(0x0f28, 'none', { name: 'movaps', exec: aligned, flags: M });
  t.definePrefixed(0x0f28, 'p66', { name: 'movapd', exec: aligned, flags: M });
  t.definePrefixed(0x0f29, 'none', { name: 'movaps', exec: storeAligned, flags: M });
  t.definePrefixed(0x0f29, 'p66', { name: 'movapd', exec: storeAligned, flags: M });
  t.definePrefixed(0x0f2b, 'none', { name: 'movntps', exec: storeAligned, flags: MEM });
  t.definePrefixed(0x0f2b, 'p66', { name: 'movntpd', exec: storeAligned, flags: MEM });
  t.definePrefixed(0x0f50, 'none', { name: 'movmskps', exec: movmsk(false), flags: M });
  t.definePrefixed(0x0f50, 'p66', { name: 'movmskpd', exec: movmsk(true), flags: M });
  t.definePrefixed(0x0f6e, 'none', { name: 'movd', exec: sizedBy(movdToMm), flags: M });
  t.definePrefixed(0x0f6e, 'p66', { name: 'movd', exec: sizedBy(movdToXmm), flags: M });
  t.definePrefixed(0x0f6f, 'none', { name: 'movq', exec: movqToMm, flags: M });
  t.definePrefixed(0x0f6f, 'p66', { name: 'movdqa', exec: aligned, flags: M });
  t.definePrefixed(0x0f6f, 'pf3', { name: 'movdqu', exec: unaligned, flags: M });
  t.definePrefixed(0x0f7e, 'none', { name: 'movd', exec: sizedBy(movdFromMm), flags: M });
  t.definePrefixed(0x0f7e, 'p66', { name: 'movd', exec: sizedBy(movdFromXmm), flags: M });
  t.definePrefixed(0x0f7e, 'pf3', { name: 'movq', exec: movqToXmm, flags: M });
  t.definePrefixed(0x0f7f, 'none', { name: 'movq', exec: movqFromMm, flags: M });
  t.definePrefixed(0x0f7f, 'p66', { name: 'movdqa', exec: storeAligned, flags: M });
  t.definePrefixed(0x0f7f, 'pf3', { name: 'movdqu', exec: storeUnaligned, flags: M });
  t.definePrefixed(0x0fc3, 'none', {
    name: 'movnti',
    exec: [ud, movnti(32), movnti(64)],
    flags: MEM,
  });
  t.definePrefixed(0x0fd6, 'p66', { name: 'movq', exec: movqFromXmm, flags: M });
  t.definePrefixed(0x0fd6, 'pf3', { name: 'movq2dq', exec: movq2dq, flags: M });
  t.definePrefixed(0x0fd6, 'pf2', { name: 'movdq2q', exec: movdq2q, flags: M });
  t.definePrefixed(0x0fd7, 'none', { name: 'pmovmskb', exec: pmovmskb(false), flags: M });
  t.definePrefixed(0x0fd7, 'p66', { name: 'pmovmskb', exec: pmovmskb(true), flags: M });
  t.definePrefixed(0x0fe7, 'none', { name: 'movntq', exec: movqFromMm, flags: MEM });
  t.definePrefixed(0x0fe7, 'p66', { name: 'movntdq', exec: storeAligned, flags: MEM });
  t.definePrefixed(0x0ff0, 'pf2', { name: 'lddqu', exec: lddqu, flags: MEM });
  t.definePrefixed(0x0ff7, 'none', { name: 'maskmovq', exec: maskmov(false), flags: M });
  t.definePrefixed(0x0ff7, 'p66', { name: 'maskmovdqu', exec: maskmov(true), flags: M });
}
