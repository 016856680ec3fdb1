/**
 * MUL IMUL DIV IDIV: F6/F7 /4-/7, IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B).
 *
 * 64-bit values are lo/hi int32 halves; 128-bit products and dividends are four 32-bit words
 * computed with 16-bit limbs in plain numbers (no BigInt, no allocation per instruction).
 *
 * Where the SDM leaves flags undefined, they get the values an AMD Zen 3 produces, which
 * muldiv.test.ts checks against the host: MUL/IMUL keep SF ZF AF PF; DIV/IDIV clear SF ZF PF,
 * set AF and keep CF OF.
 */
import type { Cpu } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag, updateFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { readRmSized, setReg16, setReg32, setReg64 } from './operands.js';
import { sized } from './sized.js';

const CF = Flag.CF;
const PF = Flag.PF;
const AF = Flag.AF;
const ZF = Flag.ZF;
const SF = Flag.SF;
const OF = Flag.OF;

/** The high half of the last 64-bit result of the helpers below. */
let outHi = 0;

// ---------------------------------------------------------------------------------------
// Multiplication: 32×32 → 64 and 64×64 → 128 with 16-bit limbs.

/** Unsigned 32×32: returns the low half, the high half in `outHi`. */
function mulU32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const mid = a1 * b0 + a0 * b1 + (p00 >>> 16); // < 2^34: exact
  outHi = (a1 * b1 + Math.floor(mid / 65536)) | 0;
  return (p00 & 0xffff) | ((mid & 0xffff) << 16);
}

/** Signed 32×32: returns the low half, the high half in `outHi`. */
function mulS32(a: number, b: number): number {
  const lo = mulU32(a, b);
  let hi = outHi;
  if (a < 0) hi = (hi - b) | 0;
  if (b < 0) hi = (hi - a) | 0;
  outHi = hi;
  return lo;
}

/** The 128-bit result of mul64 (words 0-3, least significant first). */
const wide = new Int32Array(4);

/** 64×64 → 128 into `wide`, signed or unsigned. */
function mul64(aLo: number, aHi: number, bLo: number, bHi: number, signed: boolean): void {
  const w0 = mulU32(aLo, bLo);
  const ll1 = outHi;
  const lh0 = mulU32(aLo, bHi);
  const lh1 = outHi;
  const hl0 = mulU32(aHi, bLo);
  const hl1 = outHi;
  const hh0 = mulU32(aHi, bHi);
  const hh1 = outHi;
  const s1 = (ll1 >>> 0) + (lh0 >>> 0) + (hl0 >>> 0);
  const s2 = (lh1 >>> 0) + (hl1 >>> 0) + (hh0 >>> 0) + Math.floor(s1 / 4294967296);
  let w2 = s2 | 0;
  let w3 = (hh1 + Math.floor(s2 / 4294967296)) | 0;
  if (signed) {
    // The unsigned product counts a negative operand as x + 2^64: take 2^64 × the other back.
    if (aHi < 0) {
      const lo = (w2 - bLo) | 0;
      w3 = (w3 - bHi - (w2 >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
      w2 = lo;
    }
    if (bHi < 0) {
      const lo = (w2 - aLo) | 0;
      w3 = (w3 - aHi - (w2 >>> 0 < aLo >>> 0 ? 1 : 0)) | 0;
      w2 = lo;
    }
  }
  wide[0] = w0;
  wide[1] = s1 | 0;
  wide[2] = w2;
  wide[3] = w3;
}

// ---------------------------------------------------------------------------------------
// Division.

/** Quotient and remainder of div128 (lo/hi halves). */
let quotLo = 0;
let quotHi = 0;
let remLo = 0;
let remHi = 0;

/**
 * Unsigned (nHi:nLo) / d where nHi, nLo and d are 64-bit lo/hi pairs and nHi < d (so the
 * quotient fits in 64 bits). Results in quotLo/quotHi/remLo/remHi.
 */
function div128(n3: number, n2: number, n1: number, n0: number, dLo: number, dHi: number): void {
  if (dHi === 0) {
    // d < 2^32 and n3:n2 < d: four steps of (r·2^16 + next limb) / d, all below 2^48.
    const d = dLo >>> 0;
    let r = n2 >>> 0;
    let t = r * 65536 + (n1 >>> 16);
    const q3 = Math.floor(t / d);
    r = t - q3 * d;
    t = r * 65536 + (n1 & 0xffff);
    const q2 = Math.floor(t / d);
    r = t - q2 * d;
    t = r * 65536 + (n0 >>> 16);
    const q1 = Math.floor(t / d);
    r = t - q1 * d;
    t = r * 65536 + (n0 & 0xffff);
    const q0 = Math.floor(t / d);
    r = t - q0 * d;
    quotHi = (q3 * 65536 + q2) | 0;
    quotLo = (q1 * 65536 + q0) | 0;
    remLo = r | 0;
    remHi = 0;
    return;
  }
  if ((n3 | n2) === 0 && n1 >>> 0 < 0x200000 && dHi >>> 0 < 0x200000) {
    // Dividend and divisor below 2^53: exact in doubles.
    const n = (n1 >>> 0) * 4294967296 + (n0 >>> 0);
    const d = (dHi >>> 0) * 4294967296 + (dLo >>> 0);
    const q = Math.floor(n / d);
    const r = n - q * d;
    quotLo = q | 0;
    quotHi = Math.floor(q / 4294967296) | 0;
    remLo = r | 0;
    remHi = Math.floor(r / 4294967296) | 0;
    return;
  }
  // d ≥ 2^32: restoring division, one quotient bit per step, remainder kept below d.
  let rHi = n3;
  let rLo = n2;
  let xHi = n1;
  let xLo = n0;
  let qHi = 0;
  let qLo = 0;
  for (let k = 0; k < 64; k++) {
    const top = rHi >>> 31;
    rHi = (rHi << 1) | (rLo >>> 31);
    rLo = (rLo << 1) | (xHi >>> 31);
    xHi = (xHi << 1) | (xLo >>> 31);
    xLo <<= 1;
    qHi = (qHi << 1) | (qLo >>> 31);
    qLo <<= 1;
    if (top !== 0 || rHi >>> 0 > dHi >>> 0 || (rHi === dHi && rLo >>> 0 >= dLo >>> 0)) {
      const lo = (rLo - dLo) | 0;
      rHi = (rHi - dHi - (rLo >>> 0 < dLo >>> 0 ? 1 : 0)) | 0;
      rLo = lo;
      qLo |= 1;
    }
  }
  quotLo = qLo;
  quotHi = qHi;
  remLo = rLo;
  remHi = rHi;
}

/** Unsigned aHi:aLo ≥ bHi:bLo (the quotient-overflow check). */
function aboveOrEqual(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  return aHi >>> 0 > bHi >>> 0 || (aHi === bHi && aLo >>> 0 >= bLo >>> 0);
}

const divideError = (): Fault => new Fault(Vector.DE);

/** All six flags are undefined after DIV/IDIV; AMD clears SF ZF PF, sets AF, keeps CF OF. */
function divideFlags(cpu: Cpu): void {
  updateFlags(cpu, SF | ZF | AF | PF, AF);
}

// ---------------------------------------------------------------------------------------
// MUL IMUL DIV IDIV (F6/F7 /4-/7).

/** Flags after a multiply: CF = OF = `overflow`; SF ZF AF PF are kept (as AMD does). */
function multiplyFlags(cpu: Cpu, overflow: boolean): void {
  updateFlags(cpu, CF | OF, overflow ? CF | OF : 0);
}

const mul8: Handler = (cpu, i) => {
  const p = (cpu.gpr[0]! & 0xff) * readRmSized(cpu, i, 8);
  setReg16(cpu, 0, p);
  multiplyFlags(cpu, p > 0xff);
};

const imul8: Handler = (cpu, i) => {
  const p = ((cpu.gpr[0]! << 24) >> 24) * ((readRmSized(cpu, i, 8) << 24) >> 24);
  setReg16(cpu, 0, p);
  multiplyFlags(cpu, p !== (p << 24) >> 24);
};

const mul = (size: number): Handler => {
  if (size === 16) {
    return (cpu, i) => {
      const p = (cpu.gpr[0]! & 0xffff) * readRmSized(cpu, i, 16);
      setReg16(cpu, 0, p);
      setReg16(cpu, 2, p >>> 16);
      multiplyFlags(cpu, p > 0xffff);
    };
  }
  if (size === 32) {
    return (cpu, i) => {
      const lo = mulU32(cpu.gpr[0]!, readRmSized(cpu, i, 32));
      const hi = outHi;
      setReg32(cpu, 0, lo);
      setReg32(cpu, 2, hi);
      multiplyFlags(cpu, hi !== 0);
    };
  }
  return (cpu, i) => {
    const bLo = readRmSized(cpu, i, 64);
    mul64(cpu.gpr[0]!, cpu.gpr[1]!, bLo, cpu.hi, false);
    setReg64(cpu, 0, wide[0]!, wide[1]!);
    setReg64(cpu, 2, wide[2]!, wide[3]!);
    multiplyFlags(cpu, (wide[2]! | wide[3]!) !== 0);
  };
};

const imul1 = (size: number): Handler => {
  if (size === 16) {
    return (cpu, i) => {
      const p = ((cpu.gpr[0]! << 16) >> 16) * ((readRmSized(cpu, i, 16) << 16) >> 16);
      setReg16(cpu, 0, p);
      setReg16(cpu, 2, p >> 16);
      multiplyFlags(cpu, p !== (p << 16) >> 16);
    };
  }
  if (size === 32) {
    return (cpu, i) => {
      const lo = mulS32(cpu.gpr[0]!, readRmSized(cpu, i, 32));
      const hi = outHi;
      setReg32(cpu, 0, lo);
      setReg32(cpu, 2, hi);
      multiplyFlags(cpu, hi !== lo >> 31);
    };
  }
  return (cpu, i) => {
    const bLo = readRmSized(cpu, i, 64);
    mul64(cpu.gpr[0]!, cpu.gpr[1]!, bLo, cpu.hi, true);
    setReg64(cpu, 0, wide[0]!, wide[1]!);
    setReg64(cpu, 2, wide[2]!, wide[3]!);
    const sign = wide[1]! >> 31;
    multiplyFlags(cpu, wide[2] !== sign || wide[3] !== sign);
  };
};

/** IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B): the product truncated to the size. */
const imulTruncated = (size: number, immediate: boolean): Handler => {
  if (size === 16) {
    return (cpu, i) => {
      const a = (readRmSized(cpu, i, 16) << 16) >> 16;
      const b = immediate ? (i.immLo << 16) >> 16 : (cpu.gpr[i.reg * 2]! << 16) >> 16;
      const p = a * b;
      setReg16(cpu, i.reg, p);
      multiplyFlags(cpu, p !== (p << 16) >> 16);
    };
  }
  if (size === 32) {
    return (cpu, i) => {
      const a = readRmSized(cpu, i, 32);
      const b = immediate ? i.immLo : cpu.gpr[i.reg * 2]!;
      const p = a * b; // inexact only far outside the int32 range
      const lo = Math.imul(a, b);
      setReg32(cpu, i.reg, lo);
      multiplyFlags(cpu, p > 0x7fffffff || p < -0x80000000);
    };
  }
  return (cpu, i) => {
    const aLo = readRmSized(cpu, i, 64);
    const aHi = cpu.hi;
    const bLo = immediate ? i.immLo : cpu.gpr[i.reg * 2]!;
    const bHi = immediate ? i.immHi : cpu.gpr[i.reg * 2 + 1]!;
    mul64(aLo, aHi, bLo, bHi, true);
    setReg64(cpu, i.reg, wide[0]!, wide[1]!);
    const sign = wide[1]! >> 31;
    multiplyFlags(cpu, wide[2] !== sign || wide[3] !== sign);
  };
};

const div8: Handler = (cpu, i) => {
  const d = readRmSized(cpu, i, 8);
  if (d === 0) throw divideError();
  const n = cpu.gpr[0]! & 0xffff;
  const q = Math.floor(n / d);
  if (q > 0xff) throw divideError();
  setReg16(cpu, 0, ((n - q * d) << 8) | q);
  divideFlags(cpu);
};

const idiv8: Handler = (cpu, i) => {
  const d = (readRmSized(cpu, i, 8) << 24) >> 24;
  if (d === 0) throw divideError();
  const n = (cpu.gpr[0]! << 16) >> 16;
  const q = Math.trunc(n / d);
  if (q > 0x7f || q < -0x80) throw divideError();
  setReg16(cpu, 0, (((n - q * d) & 0xff) << 8) | (q & 0xff));
  divideFlags(cpu);
};

const div = (size: number): Handler => {
  if (size === 16) {
    return (cpu, i) => {
      const d = readRmSized(cpu, i, 16);
      if (d === 0) throw divideError();
      const n = (cpu.gpr[4]! & 0xffff) * 65536 + (cpu.gpr[0]! & 0xffff);
      const q = Math.floor(n / d);
      if (q > 0xffff) throw divideError();
      setReg16(cpu, 0, q);
      setReg16(cpu, 2, n - q * d);
      divideFlags(cpu);
    };
  }
  if (size === 32) {
    return (cpu, i) => {
      const d = readRmSized(cpu, i, 32);
      if (d === 0) throw divideError();
      const nHi = cpu.gpr[4]!;
      if (nHi >>> 0 >= d >>> 0) throw divideError();
      div128(0, 0, nHi, cpu.gpr[0]!, d, 0);
      setReg32(cpu, 0, quotLo);
      setReg32(cpu, 2, remLo);
      divideFlags(cpu);
    };
  }
  return (cpu, i) => {
    const dLo = readRmSized(cpu, i, 64);
    const dHi = cpu.hi;
    if ((dLo | dHi) === 0) throw divideError();
    const gpr = cpu.gpr;
    if (aboveOrEqual(gpr[4]!, gpr[5]!, dLo, dHi)) throw divideError();
    div128(gpr[5]!, gpr[4]!, gpr[1]!, gpr[0]!, dLo, dHi);
    setReg64(cpu, 0, quotLo, quotHi);
    setReg64(cpu, 2, remLo, remHi);
    divideFlags(cpu);
  };
};

const idiv = (size: number): Handler => {
  if (size === 16) {
    return (cpu, i) => {
      const d = (readRmSized(cpu, i, 16) << 16) >> 16;
      if (d === 0) throw divideError();
      const n = (cpu.gpr[4]! << 16) | (cpu.gpr[0]! & 0xffff);
      const q = Math.trunc(n / d);
      if (q > 0x7fff || q < -0x8000) throw divideError();
      setReg16(cpu, 0, q);
      setReg16(cpu, 2, n - q * d);
      divideFlags(cpu);
    };
  }
  if (size === 32) {
    return (cpu, i) => {
      const d = readRmSized(cpu, i, 32);
      if (d === 0) throw divideError();
      let nLo = cpu.gpr[0]!;
      let nHi = cpu.gpr[4]!;
      const negative = nHi < 0;
      if (negative) {
        nLo = -nLo | 0;
        nHi = (~nHi + (nLo === 0 ? 1 : 0)) | 0;
      }
      const dAbs = d < 0 ? -d | 0 : d;
      if (nHi >>> 0 >= dAbs >>> 0) throw divideError();
      div128(0, 0, nHi, nLo, dAbs, 0);
      const quotientNegative = negative !== d < 0;
      const q = quotLo >>> 0;
      if (q > (quotientNegative ? 0x80000000 : 0x7fffffff)) throw divideError();
      setReg32(cpu, 0, quotientNegative ? -q | 0 : q | 0);
      setReg32(cpu, 2, negative ? -remLo | 0 : remLo);
      divideFlags(cpu);
    };
  }
  return (cpu, i) => {
    let dLo = readRmSized(cpu, i, 64);
    let dHi = cpu.hi;
    if ((dLo | dHi) === 0) throw divideError();
    const gpr = cpu.gpr;
    let n0 = gpr[0]!;
    let n1 = gpr[1]!;
    let n2 = gpr[4]!;
    let n3 = gpr[5]!;
    const negative = n3 < 0;
    if (negative) {
      // Two's complement of the 128-bit dividend.
      n0 = -n0 | 0;
      let carry = n0 === 0 ? 1 : 0;
      n1 = (~n1 + carry) | 0;
      carry = carry && n1 === 0 ? 1 : 0;
      n2 = (~n2 + carry) | 0;
      carry = carry && n2 === 0 ? 1 : 0;
      n3 = (~n3 + carry) | 0;
    }
    const divisorNegative = dHi < 0;
    if (divisorNegative) {
      dLo = -dLo | 0;
      dHi = (~dHi + (dLo === 0 ? 1 : 0)) | 0;
    }
    if (aboveOrEqual(n2, n3, dLo, dHi)) throw divideError();
    div128(n3, n2, n1, n0, dLo, dHi);
    const quotientNegative = negative !== divisorNegative;
    // |q| must be at most 2^63 (negative) or 2^63 - 1 (positive).
    if (quotHi < 0 && !(quotientNegative && quotHi === (0x80000000 | 0) && quotLo === 0)) {
      throw divideError();
    }
    let qLo = quotLo;
    let qHi = quotHi;
    if (quotientNegative) {
      qLo = -qLo | 0;
      qHi = (~qHi + (qLo === 0 ? 1 : 0)) | 0;
    }
    let rLo = remLo;
    let rHi = remHi;
    if (negative) {
      rLo = -rLo | 0;
      rHi = (~rHi + (rLo === 0 ? 1 : 0)) | 0;
    }
    setReg64(cpu, 0, qLo, qHi);
    setReg64(cpu, 2, rLo, rHi);
    divideFlags(cpu);
  };
};

// ---------------------------------------------------------------------------------------

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const byte = OpFlag.Byte;

  t.defineGroup(0xf6, 4, { name: 'mul', exec: mul8, flags: rm | byte });
  t.defineGroup(0xf6, 5, { name: 'imul', exec: imul8, flags: rm | byte });
  t.defineGroup(0xf6, 6, { name: 'div', exec: div8, flags: rm | byte });
  t.defineGroup(0xf6, 7, { name: 'idiv', exec: idiv8, flags: rm | byte });
  t.defineGroup(0xf7, 4, { name: 'mul', exec: sized(mul), flags: rm });
  t.defineGroup(0xf7, 5, { name: 'imul', exec: sized(imul1), flags: rm });
  t.defineGroup(0xf7, 6, { name: 'div', exec: sized(div), flags: rm });
  t.defineGroup(0xf7, 7, { name: 'idiv', exec: sized(idiv), flags: rm });
  t.define(0x0faf, { name: 'imul', exec: sized((s) => imulTruncated(s, false)), flags: rm });
  t.define(0x69, {
    name: 'imul',
    exec: sized((s) => imulTruncated(s, true)),
    flags: rm,
    imm: Imm.Iz,
  });
  t.define(0x6b, {
    name: 'imul',
    exec: sized((s) => imulTruncated(s, true)),
    flags: rm,
    imm: Imm.Ib,
  });
}
