/**
 * The remaining general-purpose integer instructions: MUL IMUL DIV IDIV; the shifts and
 * rotates (group 2, SHLD, SHRD); BT BTS BTR BTC; BSF BSR TZCNT LZCNT POPCNT; BSWAP; CMOVcc
 * and SETcc; XADD, CMPXCHG, CMPXCHG8B/16B; LAHF SAHF PUSHF POPF; the BCD adjustments (DAA DAS
 * AAA AAS AAM AAD) and XLAT.
 *
 * 64-bit values are lo/hi int32 halves; 128-bit products and dividends are four 32-bit words
 * computed with 16-bit limbs in plain numbers (no BigInt, no allocation per instruction).
 *
 * Where the SDM leaves flags (or results) undefined, they get the values an AMD Zen 3 produces,
 * which arith.test.ts checks against the host: MUL/IMUL keep SF ZF AF PF; DIV/IDIV clear SF ZF
 * PF, set AF and keep CF OF; shifts set AF and give OF by the count-1 rule for any count (0 for
 * SHR/SAR); rotates likewise for OF; SHLD's OF is MSB(result) ^ CF and SHRD's the top two result
 * bits XORed, and 16-bit SHLD/SHRD by 17-31 rotate the source with CF = 0; BT* keep OF SF AF
 * PF; BSF/BSR change only ZF (and leave the destination alone on a zero source); TZCNT/LZCNT
 * keep OF and clear SF AF PF; DAA/DAS set OF when bit 7 flipped by the adjustment; AAA/AAS
 * flag the 16-bit AX ± 106h; AAM clears CF OF AF; AAD flags the 8-bit addition; BSWAP r16
 * clears the register.
 */
import { type Cpu, Cr0, Cr4 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { condition, Flag, materializeFlags, readFlags, setArithFlags } from '../flags.js';
import type { Handler, Insn } from '../insn.js';
import { Seg } from '../segments.js';
import { Imm, type OpcodeTable, OpFlag, type SizedHandlers } from '../table.js';
import { AluOp, alu } from './alu.js';
import {
  effectiveAddress,
  getRegSized,
  linear,
  readRmSized,
  readSized,
  setReg8,
  setReg16,
  setReg32,
  setReg64,
  setRegSized,
  writeRm8,
  writeSized,
} from './operands.js';
import { discard, peek, push } from './stack.js';

function sized(make: (size: number) => Handler): SizedHandlers {
  return [make(16), make(32), make(64)];
}

const CF = Flag.CF;
const PF = Flag.PF;
const AF = Flag.AF;
const ZF = Flag.ZF;
const SF = Flag.SF;
const OF = Flag.OF;

/** PF for a low result byte. */
const PARITY = new Uint8Array(256);
for (let n = 0; n < 256; n++) {
  let bits = 0;
  for (let b = n; b; b >>= 1) bits += b & 1;
  PARITY[n] = bits & 1 ? 0 : PF;
}

/** SF, ZF and PF of a `size`-bit result (lo/hi; narrow results need not be masked). */
function szp(size: number, lo: number, hi: number): number {
  let f = PARITY[lo & 0xff]!;
  switch (size) {
    case 8:
      if ((lo & 0xff) === 0) f |= ZF;
      if (lo & 0x80) f |= SF;
      return f;
    case 16:
      if ((lo & 0xffff) === 0) f |= ZF;
      if (lo & 0x8000) f |= SF;
      return f;
    case 32:
      if (lo === 0) f |= ZF;
      if (lo < 0) f |= SF;
      return f;
    default:
      if ((lo | hi) === 0) f |= ZF;
      if (hi < 0) f |= SF;
      return f;
  }
}

/** Replaces the flags in `mask` (arithmetic flags only) with `value`, keeping the others. */
function updateFlags(cpu: Cpu, mask: number, value: number): void {
  materializeFlags(cpu);
  cpu.flags = (cpu.flags & ~mask) | (value & mask);
}

/** The high half of the last 64-bit result of the helpers below. */
let outHi = 0;

// ---------------------------------------------------------------------------------------
// 64-bit shifts on lo/hi halves (counts 0-64 and beyond give the mathematical result).

function shl64(lo: number, hi: number, c: number): number {
  if (c === 0) {
    outHi = hi;
    return lo;
  }
  if (c < 32) {
    outHi = (hi << c) | (lo >>> (32 - c));
    return lo << c;
  }
  outHi = c < 64 ? lo << (c - 32) : 0;
  return 0;
}

function shr64(lo: number, hi: number, c: number): number {
  if (c === 0) {
    outHi = hi;
    return lo;
  }
  if (c < 32) {
    outHi = hi >>> c;
    return (lo >>> c) | (hi << (32 - c));
  }
  outHi = 0;
  return c < 64 ? (hi >>> (c - 32)) | 0 : 0;
}

function sar64(lo: number, hi: number, c: number): number {
  if (c === 0) {
    outHi = hi;
    return lo;
  }
  if (c < 32) {
    outHi = hi >> c;
    return (lo >>> c) | (hi << (32 - c));
  }
  outHi = hi >> 31;
  return hi >> (c < 64 ? c - 32 : 31);
}

/** Bit `b` (0-63) of lo/hi. */
function bit64(lo: number, hi: number, b: number): number {
  return b < 32 ? (lo >>> b) & 1 : (hi >>> (b - 32)) & 1;
}

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
// Shifts and rotates: group 2 (C0 C1 D0 D1 D2 D3) and SHLD/SHRD.

const enum ShiftOp {
  Rol = 0,
  Ror = 1,
  Rcl = 2,
  Rcr = 3,
  Shl = 4,
  Shr = 5,
  Sal = 6,
  Sar = 7,
}

const enum CountFrom {
  One = 0,
  Imm = 1,
  Cl = 2,
}

/** Sets CF and OF (rotates leave the other flags alone). */
function rotateFlags(cpu: Cpu, cf: number, of: number): void {
  updateFlags(cpu, CF | OF, cf | (of << 11));
}

/**
 * Shifts or rotates a 8/16/32-bit value (`v` masked for 8/16, int32 for 32) by a masked,
 * non-zero `c`; sets the flags; returns the result (int32 for 32 bits). RCL/RCR rotate through
 * CF modulo 9 and 17 at 8 and 16 bits; ROL/ROR and RCL/RCR change only CF and OF.
 */
function shiftNarrow(cpu: Cpu, op: ShiftOp, size: number, v: number, c: number): number {
  const mask = size === 32 ? -1 : (1 << size) - 1;
  const msb = size - 1;
  const u = size === 32 ? v >>> 0 : v;
  switch (op) {
    case ShiftOp.Rol: {
      const t = c & msb;
      const r = t === 0 ? v : ((u << t) | (u >>> (size - t))) & mask;
      const cf = r & 1;
      rotateFlags(cpu, cf, ((r >>> msb) ^ cf) & 1);
      return r;
    }
    case ShiftOp.Ror: {
      const t = c & msb;
      const r = t === 0 ? v : ((u >>> t) | (u << (size - t))) & mask;
      const cf = (r >>> msb) & 1;
      rotateFlags(cpu, cf, cf ^ ((r >>> (msb - 1)) & 1));
      return r;
    }
    case ShiftOp.Rcl: {
      const t = size === 8 ? c % 9 : size === 16 ? c % 17 : c;
      const carry = readFlags(cpu) & CF;
      if (t === 0) {
        rotateFlags(cpu, carry, ((u >>> msb) ^ carry) & 1);
        return v;
      }
      let r = (u << t) | (carry << (t - 1));
      if (t > 1) r |= u >>> (size + 1 - t);
      r &= mask;
      const cf = (u >>> (size - t)) & 1;
      rotateFlags(cpu, cf, ((r >>> msb) ^ cf) & 1);
      return r;
    }
    case ShiftOp.Rcr: {
      const t = size === 8 ? c % 9 : size === 16 ? c % 17 : c;
      const carry = readFlags(cpu) & CF;
      if (t === 0) {
        rotateFlags(cpu, carry, ((u >>> msb) ^ (u >>> (msb - 1))) & 1);
        return v;
      }
      let r = (u >>> t) | (carry << (size - t));
      if (t > 1) r |= u << (size + 1 - t);
      r &= mask;
      const cf = (u >>> (t - 1)) & 1;
      rotateFlags(cpu, cf, ((r >>> msb) ^ (r >>> (msb - 1))) & 1);
      return r;
    }
    case ShiftOp.Shl:
    case ShiftOp.Sal: {
      const r = (u << c) & mask;
      const cf = c <= size ? (u >>> (size - c)) & 1 : 0;
      const of = ((r >>> msb) ^ cf) & 1;
      setArithFlags(cpu, szp(size, r, 0) | cf | (of << 11) | AF);
      return r;
    }
    case ShiftOp.Shr: {
      const r = (u >>> c) | 0;
      const cf = c <= size ? (u >>> (c - 1)) & 1 : 0;
      const of = c === 1 ? (u >>> msb) & 1 : 0;
      setArithFlags(cpu, szp(size, r, 0) | cf | (of << 11) | AF);
      return r;
    }
    default: {
      const s = size === 8 ? (v << 24) >> 24 : size === 16 ? (v << 16) >> 16 : v;
      const r = (s >> c) & mask;
      const cf = (s >> (c - 1)) & 1;
      setArithFlags(cpu, szp(size, r, 0) | cf | AF);
      return r;
    }
  }
}

/** The 64-bit form of shiftNarrow: returns lo, hi in outHi. `c` is 1-63. */
function shift64(cpu: Cpu, op: ShiftOp, lo: number, hi: number, c: number): number {
  switch (op) {
    case ShiftOp.Rol: {
      const aLo = shl64(lo, hi, c);
      const aHi = outHi;
      const rLo = aLo | shr64(lo, hi, 64 - c);
      const rHi = aHi | outHi;
      const cf = rLo & 1;
      rotateFlags(cpu, cf, ((rHi >>> 31) ^ cf) & 1);
      outHi = rHi;
      return rLo;
    }
    case ShiftOp.Ror: {
      const aLo = shr64(lo, hi, c);
      const aHi = outHi;
      const rLo = aLo | shl64(lo, hi, 64 - c);
      const rHi = aHi | outHi;
      const cf = rHi >>> 31;
      rotateFlags(cpu, cf, cf ^ ((rHi >>> 30) & 1));
      outHi = rHi;
      return rLo;
    }
    case ShiftOp.Rcl: {
      const carry = readFlags(cpu) & CF;
      let rLo = shl64(lo, hi, c);
      let rHi = outHi;
      if (c <= 32) rLo |= carry << (c - 1);
      else rHi |= carry << (c - 33);
      rLo |= shr64(lo, hi, 65 - c);
      rHi |= outHi;
      const cf = bit64(lo, hi, 64 - c);
      rotateFlags(cpu, cf, ((rHi >>> 31) ^ cf) & 1);
      outHi = rHi;
      return rLo;
    }
    case ShiftOp.Rcr: {
      const carry = readFlags(cpu) & CF;
      let rLo = shr64(lo, hi, c);
      let rHi = outHi;
      if (c >= 33) rLo |= carry << (64 - c);
      else rHi |= carry << (32 - c);
      rLo |= shl64(lo, hi, 65 - c);
      rHi |= outHi;
      const cf = bit64(lo, hi, c - 1);
      rotateFlags(cpu, cf, ((rHi >>> 31) ^ (rHi >>> 30)) & 1);
      outHi = rHi;
      return rLo;
    }
    case ShiftOp.Shl:
    case ShiftOp.Sal: {
      const rLo = shl64(lo, hi, c);
      const rHi = outHi;
      const cf = bit64(lo, hi, 64 - c);
      setArithFlags(cpu, szp(64, rLo, rHi) | cf | ((((rHi >>> 31) ^ cf) & 1) << 11) | AF);
      outHi = rHi;
      return rLo;
    }
    case ShiftOp.Shr: {
      const rLo = shr64(lo, hi, c);
      const rHi = outHi;
      const of = c === 1 ? hi >>> 31 : 0;
      setArithFlags(cpu, szp(64, rLo, rHi) | bit64(lo, hi, c - 1) | (of << 11) | AF);
      outHi = rHi;
      return rLo;
    }
    default: {
      const rLo = sar64(lo, hi, c);
      const rHi = outHi;
      setArithFlags(cpu, szp(64, rLo, rHi) | bit64(lo, hi, c - 1) | AF);
      outHi = rHi;
      return rLo;
    }
  }
}

const group2 = (op: ShiftOp, size: number, from: CountFrom): Handler => {
  const countMask = size === 64 ? 63 : 31;
  return (cpu, i) => {
    const count =
      (from === CountFrom.One ? 1 : from === CountFrom.Imm ? i.immLo : cpu.gpr[2]!) & countMask;
    let lo = 0;
    let hi = 0;
    let v: number;
    if (i.mod === 3) {
      v = getRegSized(cpu, i.rm, size);
    } else {
      lo = linear(cpu, i);
      hi = cpu.eaHi;
      v = readSized(cpu, lo, hi, size);
    }
    const vHi = cpu.hi;
    if (count === 0) {
      // Flags and operand unchanged; a 32-bit register is still written (zero-extended).
      if (size === 32 && i.mod === 3) setReg32(cpu, i.rm, v);
      return;
    }
    const r = size === 64 ? shift64(cpu, op, v, vHi, count) : shiftNarrow(cpu, op, size, v, count);
    if (i.mod === 3) setRegSized(cpu, i.rm, size, r, outHi);
    else writeSized(cpu, lo, hi, size, r, outHi);
  };
};

/** SHLD/SHRD: shifts r/m, filling from the register operand. */
const doubleShift = (left: boolean, size: number, byCl: boolean): Handler => {
  const countMask = size === 64 ? 63 : 31;
  return (cpu, i) => {
    const c = (byCl ? cpu.gpr[2]! : i.immLo) & countMask;
    let lo = 0;
    let hi = 0;
    let d: number;
    if (i.mod === 3) {
      d = getRegSized(cpu, i.rm, size);
    } else {
      lo = linear(cpu, i);
      hi = cpu.eaHi;
      d = readSized(cpu, lo, hi, size);
    }
    const dHi = cpu.hi;
    if (c === 0) {
      if (size === 32 && i.mod === 3) setReg32(cpu, i.rm, d);
      return;
    }
    const s = getRegSized(cpu, i.reg, size);
    const sHi = cpu.hi;
    let r: number;
    let rHi = 0;
    let cf: number;
    let of: number;
    if (size === 64) {
      if (left) {
        const aLo = shl64(d, dHi, c);
        const aHi = outHi;
        r = aLo | shr64(s, sHi, 64 - c);
        rHi = aHi | outHi;
        cf = bit64(d, dHi, 64 - c);
      } else {
        const aLo = shr64(d, dHi, c);
        const aHi = outHi;
        r = aLo | shl64(s, sHi, 64 - c);
        rHi = aHi | outHi;
        cf = bit64(d, dHi, c - 1);
      }
    } else if (size === 32) {
      if (left) {
        r = (d << c) | (s >>> (32 - c));
        cf = (d >>> (32 - c)) & 1;
      } else {
        r = (d >>> c) | (s << (32 - c));
        cf = (d >>> (c - 1)) & 1;
      }
    } else {
      if (c <= 16) {
        if (left) {
          r = ((d << c) | (s >>> (16 - c))) & 0xffff;
          cf = (d >>> (16 - c)) & 1;
        } else {
          r = ((d >>> c) | (s << (16 - c))) & 0xffff;
          cf = (d >>> (c - 1)) & 1;
        }
      } else {
        // Counts 17-31 (undefined): AMD rotates the source and clears CF.
        r = left
          ? ((s << (c - 16)) | (s >>> (32 - c))) & 0xffff
          : ((s >>> (c - 16)) | (s << (32 - c))) & 0xffff;
        cf = 0;
      }
    }
    // OF: a sign change for count 1. For larger counts (undefined) AMD computes SHLD's as
    // MSB(result) ^ CF (just CF from 16 on, at 16 bits) and SHRD's as the top two result bits.
    const top = size === 64 ? rHi >>> 31 : (r >>> (size - 1)) & 1;
    if (left) of = size === 16 && c >= 16 ? cf : top ^ cf;
    else of = top ^ ((size === 64 ? rHi >>> 30 : r >>> (size - 2)) & 1);
    setArithFlags(cpu, szp(size, r, rHi) | cf | (of << 11) | AF);
    if (i.mod === 3) setRegSized(cpu, i.rm, size, r, rHi);
    else writeSized(cpu, lo, hi, size, r, rHi);
  };
};

// ---------------------------------------------------------------------------------------
// BT BTS BTR BTC (0F A3 AB B3 BB; 0F BA /4-/7).

const enum BitOp {
  Test = 4,
  Set = 5,
  Reset = 6,
  Complement = 7,
}

/** The linear address of segment `seg` offset lo/hi (an effective address): lo, hi in cpu.eaHi. */
function segmentAddress(cpu: Cpu, seg: number, lo: number, hi: number): number {
  if (cpu.codeSize === 64) {
    if (seg < Seg.FS) {
      cpu.eaHi = hi;
      return lo;
    }
    const sum = (lo + cpu.segBaseLo[seg]!) | 0;
    cpu.eaHi = (hi + cpu.segBaseHi[seg]! + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
    return sum;
  }
  cpu.eaHi = 0;
  return (lo + cpu.segBaseLo[seg]!) | 0;
}

/**
 * BT family. With a register bit offset and a memory operand, the offset is signed and selects
 * the operand-size unit at EA + (offset >> 3 rounded down to the unit).
 */
const bitOp = (op: BitOp, size: number, immediate: boolean): Handler => {
  const bits = size - 1;
  return (cpu, i) => {
    let bit: number;
    let lo = 0;
    let hi = 0;
    let v: number;
    if (immediate) {
      bit = i.immLo & bits;
    } else {
      bit = cpu.gpr[i.reg * 2]! & bits;
    }
    if (i.mod === 3) {
      v = getRegSized(cpu, i.rm, size);
    } else {
      if (immediate) {
        lo = linear(cpu, i);
        hi = cpu.eaHi;
      } else {
        // Byte displacement of the unit holding the bit, from the signed offset.
        const offLo = cpu.gpr[i.reg * 2]!;
        const offHi = cpu.gpr[i.reg * 2 + 1]!;
        let dLo: number;
        let dHi: number;
        if (size === 64) {
          dLo = ((offLo >>> 3) | (offHi << 29)) & ~7;
          dHi = offHi >> 3;
        } else if (size === 32) {
          dLo = (offLo >> 3) & ~3;
          dHi = dLo >> 31;
        } else {
          dLo = ((offLo << 16) >> 19) & ~1;
          dHi = dLo >> 31;
        }
        let eLo = effectiveAddress(cpu, i);
        let eHi = cpu.eaHi;
        const sum = (eLo + dLo) | 0;
        eHi = (eHi + dHi + (sum >>> 0 < eLo >>> 0 ? 1 : 0)) | 0;
        eLo = sum;
        if (i.adsize !== 64) eHi = 0;
        if (i.adsize === 16) eLo &= 0xffff;
        lo = segmentAddress(cpu, i.seg, eLo, eHi);
        hi = cpu.eaHi;
      }
      v = readSized(cpu, lo, hi, size);
    }
    let vHi = cpu.hi;
    const cf = size === 64 ? bit64(v, vHi, bit) : (v >>> bit) & 1;
    updateFlags(cpu, CF, cf);
    if (op === BitOp.Test) return;
    if (size === 64 && bit >= 32) {
      const m = 1 << (bit - 32);
      vHi = op === BitOp.Set ? vHi | m : op === BitOp.Reset ? vHi & ~m : vHi ^ m;
    } else {
      const m = 1 << bit;
      v = op === BitOp.Set ? v | m : op === BitOp.Reset ? v & ~m : v ^ m;
    }
    if (i.mod === 3) setRegSized(cpu, i.rm, size, v, vHi);
    else writeSized(cpu, lo, hi, size, v, vHi);
  };
};

// ---------------------------------------------------------------------------------------
// BSF BSR TZCNT LZCNT POPCNT.

/** Index of the lowest set bit of a non-zero 32-bit value. */
function lowestBit(v: number): number {
  return 31 - Math.clz32(v & -v);
}

/** Index of the highest set bit of lo/hi (for sizes < 64, hi is 0); -1 for zero. */
function highestBit(lo: number, hi: number): number {
  return hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
}

function lowestBit64(lo: number, hi: number): number {
  return lo !== 0 ? lowestBit(lo) : hi !== 0 ? 32 + lowestBit(hi) : -1;
}

/** The r/m source of BSF & co.: masked for 16 bits; hi (0 below 64 bits) in `outHi`. */
function scanSource(cpu: Cpu, i: Insn, size: number): number {
  const v = readRmSized(cpu, i, size);
  outHi = size === 64 ? cpu.hi : 0;
  return v;
}

/**
 * BSF/BSR: on a zero source ZF = 1 and the destination is left as it was. The other flags are
 * undefined; they are kept, as AMD does.
 */
const bitScan =
  (reverse: boolean, size: number): Handler =>
  (cpu, i) => {
    const lo = scanSource(cpu, i, size);
    const hi = outHi;
    if ((lo | hi) === 0) {
      updateFlags(cpu, ZF, ZF);
      return;
    }
    const index = reverse ? highestBit(lo, hi) : lowestBit64(lo, hi);
    setRegSized(cpu, i.reg, size, index, 0);
    updateFlags(cpu, ZF, 0);
  };

/**
 * TZCNT/LZCNT: the count is the size for a zero source; CF = source zero, ZF = result zero.
 * OF SF AF PF are undefined: AMD keeps OF and clears the others.
 */
const bitCount =
  (leading: boolean, size: number): Handler =>
  (cpu, i) => {
    const lo = scanSource(cpu, i, size);
    const hi = outHi;
    let n: number;
    if ((lo | hi) === 0) n = size;
    else if (leading) n = size - 1 - highestBit(lo, hi);
    else n = lowestBit64(lo, hi);
    setRegSized(cpu, i.reg, size, n, 0);
    updateFlags(cpu, CF | ZF | SF | AF | PF, (n === size ? CF : 0) | (n === 0 ? ZF : 0));
  };

function popcount32(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  v = (v + (v >>> 4)) & 0x0f0f0f0f;
  return Math.imul(v, 0x01010101) >>> 24;
}

const popcnt =
  (size: number): Handler =>
  (cpu, i) => {
    const lo = scanSource(cpu, i, size);
    const hi = outHi;
    setRegSized(cpu, i.reg, size, popcount32(lo) + popcount32(hi), 0);
    setArithFlags(cpu, (lo | hi) === 0 ? ZF : 0);
  };

// ---------------------------------------------------------------------------------------
// BSWAP, CMOVcc, SETcc.

function swap32(v: number): number {
  return (v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

const bswap = (size: number): Handler => {
  if (size === 64) {
    return (cpu, i) => {
      const n = i.reg * 2;
      const lo = cpu.gpr[n]!;
      cpu.gpr[n] = swap32(cpu.gpr[n + 1]!);
      cpu.gpr[n + 1] = swap32(lo);
    };
  }
  if (size === 32) return (cpu, i) => setReg32(cpu, i.reg, swap32(cpu.gpr[i.reg * 2]!));
  // BSWAP of a 16-bit register is undefined; processors clear it.
  return (cpu, i) => setReg16(cpu, i.reg, 0);
};

/** CMOVcc: the source is always read; a 32-bit destination is zero-extended either way. */
const cmov =
  (size: number): Handler =>
  (cpu, i) => {
    const v = readRmSized(cpu, i, size);
    const vHi = cpu.hi;
    if (condition(cpu, i.op & 0xf)) setRegSized(cpu, i.reg, size, v, vHi);
    else if (size === 32) cpu.gpr[i.reg * 2 + 1] = 0;
  };

const setcc: Handler = (cpu, i) => writeRm8(cpu, i, condition(cpu, i.op & 0xf) ? 1 : 0);

// ---------------------------------------------------------------------------------------
// XADD, CMPXCHG, CMPXCHG8B/16B.

const xadd =
  (size: number): Handler =>
  (cpu, i) => {
    const s = getRegSized(cpu, i.reg, size);
    const sHi = cpu.hi;
    let lo = 0;
    let hi = 0;
    let d: number;
    if (i.mod === 3) {
      d = getRegSized(cpu, i.rm, size);
    } else {
      lo = linear(cpu, i);
      hi = cpu.eaHi;
      d = readSized(cpu, lo, hi, size);
    }
    const dHi = cpu.hi;
    const sum = alu(cpu, AluOp.Add, size, d, dHi, s, sHi);
    const sumHi = cpu.hi;
    if (i.mod === 3) {
      setRegSized(cpu, i.reg, size, d, dHi);
      setRegSized(cpu, i.rm, size, sum, sumHi);
    } else {
      writeSized(cpu, lo, hi, size, sum, sumHi);
      setRegSized(cpu, i.reg, size, d, dHi);
    }
  };

/**
 * CMPXCHG: compares the accumulator with r/m (flags as CMP). Equal: r/m ← reg. Not equal:
 * the accumulator ← r/m, and a memory destination is written back unchanged.
 */
const cmpxchg =
  (size: number): Handler =>
  (cpu, i) => {
    const a = getRegSized(cpu, 0, size);
    const aHi = cpu.hi;
    let lo = 0;
    let hi = 0;
    let d: number;
    if (i.mod === 3) {
      d = getRegSized(cpu, i.rm, size);
    } else {
      lo = linear(cpu, i);
      hi = cpu.eaHi;
      d = readSized(cpu, lo, hi, size);
    }
    const dHi = cpu.hi;
    alu(cpu, AluOp.Cmp, size, a, aHi, d, dHi);
    const equal = a === d && (size !== 64 || aHi === dHi);
    if (equal) {
      const s = getRegSized(cpu, i.reg, size);
      if (i.mod === 3) setRegSized(cpu, i.rm, size, s, cpu.hi);
      else writeSized(cpu, lo, hi, size, s, cpu.hi);
    } else {
      if (i.mod !== 3) writeSized(cpu, lo, hi, size, d, dHi);
      setRegSized(cpu, 0, size, d, dHi);
    }
  };

const cmpxchg8b: Handler = (cpu, i) => {
  const lo = linear(cpu, i);
  const hi = cpu.eaHi;
  const mLo = readSized(cpu, lo, hi, 64);
  const mHi = cpu.hi;
  const gpr = cpu.gpr;
  if (mLo === gpr[0] && mHi === gpr[4]) {
    writeSized(cpu, lo, hi, 64, gpr[6]!, gpr[2]!);
    updateFlags(cpu, ZF, ZF);
  } else {
    writeSized(cpu, lo, hi, 64, mLo, mHi);
    setReg32(cpu, 0, mLo);
    setReg32(cpu, 2, mHi);
    updateFlags(cpu, ZF, 0);
  }
};

const cmpxchg16b: Handler = (cpu, i) => {
  const lo = linear(cpu, i);
  const hi = cpu.eaHi;
  if (lo & 15) throw new Fault(Vector.GP, 0);
  const hiLo = (lo + 8) | 0;
  const hiHi = hiLo >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi;
  const m0 = readSized(cpu, lo, hi, 64);
  const m1 = cpu.hi;
  const m2 = readSized(cpu, hiLo, hiHi, 64);
  const m3 = cpu.hi;
  const gpr = cpu.gpr;
  if (m0 === gpr[0] && m1 === gpr[1] && m2 === gpr[4] && m3 === gpr[5]) {
    writeSized(cpu, lo, hi, 64, gpr[6]!, gpr[7]!);
    writeSized(cpu, hiLo, hiHi, 64, gpr[2]!, gpr[3]!);
    updateFlags(cpu, ZF, ZF);
  } else {
    writeSized(cpu, lo, hi, 64, m0, m1);
    writeSized(cpu, hiLo, hiHi, 64, m2, m3);
    setReg64(cpu, 0, m0, m1);
    setReg64(cpu, 2, m2, m3);
    updateFlags(cpu, ZF, 0);
  }
};

// ---------------------------------------------------------------------------------------
// LAHF SAHF PUSHF POPF.

/** SF ZF AF PF CF: the flags LAHF/SAHF move. */
const LOW_FLAGS = SF | ZF | AF | PF | CF;

const lahf: Handler = (cpu) => setReg8(cpu, 16, (readFlags(cpu) & LOW_FLAGS) | Flag.Fixed);

const sahf: Handler = (cpu) => updateFlags(cpu, LOW_FLAGS, (cpu.gpr[0]! >> 8) & LOW_FLAGS);

/** The flags POPF can write at CPL 0 (RF, VM, VIF, VIP and reserved bits excluded). */
const POPF_BITS =
  Flag.Arith | Flag.TF | Flag.IF | Flag.DF | Flag.IOPL | Flag.NT | Flag.AC | Flag.ID;

const pushf =
  (size: number): Handler =>
  (cpu) => {
    const flags = readFlags(cpu);
    if (flags & Flag.VM && (flags & Flag.IOPL) !== Flag.IOPL) {
      // VM86 with IOPL < 3: only the 16-bit form under CR4.VME, which shows VIF as IF.
      if (size !== 16 || !(cpu.cr4 & Cr4.VME)) throw new Fault(Vector.GP, 0);
      push(
        cpu,
        16,
        ((flags & ~Flag.IF) | (flags & Flag.VIF ? Flag.IF : 0) | Flag.IOPL) & 0xffff,
        0,
      );
      return;
    }
    push(cpu, size, size === 16 ? flags & 0xffff : flags & ~(Flag.VM | Flag.RF), 0);
  };

const popf =
  (size: number): Handler =>
  (cpu) => {
    const value = peek(cpu, size, 0);
    const old = materializeFlags(cpu); // and the lazy flags are eager from here on
    const iopl = (old & Flag.IOPL) >> 12;
    let writable = POPF_BITS;
    let flags = old;
    if (old & Flag.VM) {
      if (iopl === 3) {
        writable &= ~Flag.IOPL;
      } else {
        if (size !== 16 || !(cpu.cr4 & Cr4.VME)) throw new Fault(Vector.GP, 0);
        // CR4.VME: IF goes to VIF; a set TF, or IF with VIP pending, faults.
        if (value & Flag.TF || (value & Flag.IF && old & Flag.VIP)) throw new Fault(Vector.GP, 0);
        writable &= ~(Flag.IF | Flag.IOPL);
        flags = (flags & ~Flag.VIF) | (value & Flag.IF ? Flag.VIF : 0);
      }
    } else if (cpu.cpl !== 0 && cpu.cr0 & Cr0.PE) {
      writable &= ~Flag.IOPL;
      if (cpu.cpl > iopl) writable &= ~Flag.IF;
    }
    if (size === 16) writable &= 0xffff;
    else flags &= ~Flag.RF;
    discard(cpu, size >> 3);
    cpu.flags = (flags & ~writable) | (value & writable);
    cpu.stop = true;
  };

// ---------------------------------------------------------------------------------------
// BCD adjustments (outside 64-bit mode) and XLAT.

/** Sets AL (keeping the rest of RAX). */
function setAl(cpu: Cpu, value: number): void {
  cpu.gpr[0] = (cpu.gpr[0]! & ~0xff) | (value & 0xff);
}

/**
 * DAA (27) / DAS (2F). OF is undefined: AMD sets it when the adjustment flipped bit 7 up (DAA)
 * or down (DAS).
 */
const decimalAdjust =
  (subtract: boolean): Handler =>
  (cpu) => {
    const flags = readFlags(cpu);
    const old = cpu.gpr[0]! & 0xff;
    let al = old;
    let cf = 0;
    let af = 0;
    if ((al & 0x0f) > 9 || flags & AF) {
      al = subtract ? al - 6 : al + 6;
      cf = flags & CF || al > 0xff || al < 0 ? CF : 0;
      al &= 0xff;
      af = AF;
    }
    if (old > 0x99 || flags & CF) {
      al = (subtract ? al - 0x60 : al + 0x60) & 0xff;
      cf = CF;
    } else if (!subtract) {
      cf = 0; // DAS keeps the borrow of the first step
    }
    const of = subtract ? (old & ~al & 0x80) !== 0 : (~old & al & 0x80) !== 0;
    setAl(cpu, al);
    setArithFlags(cpu, szp(8, al, 0) | cf | af | (of ? OF : 0));
  };

/**
 * AAA (37) / AAS (3F): AX ± 106h when the low nibble of AL is above 9 or AF is set, then AL's
 * high nibble cleared. SF ZF PF OF are undefined: AMD sets them as the 16-bit AX ± 106h
 * would (before the masking).
 */
const asciiAdjust =
  (subtract: boolean): Handler =>
  (cpu) => {
    const flags = readFlags(cpu);
    const old = cpu.gpr[0]! & 0xffff;
    let ax = old;
    let adjusted = 0;
    if ((ax & 0x0f) > 9 || flags & AF) {
      ax = (subtract ? ax - 0x106 : ax + 0x106) & 0xffff;
      const overflow = subtract ? old & ~ax & 0x8000 : ~old & ax & 0x8000;
      adjusted = CF | AF | (overflow ? OF : 0);
    }
    setReg16(cpu, 0, ax & 0xff0f);
    setArithFlags(cpu, szp(16, ax, 0) | adjusted);
  };

/** AAM imm8 (D4): AH ← AL / imm, AL ← AL mod imm; #DE on zero. */
const aam: Handler = (cpu, i) => {
  const base = i.immLo & 0xff;
  if (base === 0) throw divideError();
  const al = cpu.gpr[0]! & 0xff;
  const q = Math.floor(al / base);
  const r = al - q * base;
  setReg16(cpu, 0, (q << 8) | r);
  setArithFlags(cpu, szp(8, r, 0));
};

/** AAD imm8 (D5): AL ← AL + AH × imm, AH ← 0. CF OF AF undefined: as by that addition. */
const aad: Handler = (cpu, i) => {
  const ax = cpu.gpr[0]!;
  const product = (((ax >> 8) & 0xff) * (i.immLo & 0xff)) & 0xff;
  const r = alu(cpu, AluOp.Add, 8, ax & 0xff, 0, product, 0);
  setReg16(cpu, 0, r);
};

/** XLAT (D7): AL ← [seg: rBX + AL]. */
const xlat: Handler = (cpu, i) => {
  const gpr = cpu.gpr;
  const al = gpr[0]! & 0xff;
  let lo = (gpr[6]! + al) | 0;
  let hi = 0;
  if (i.adsize === 64) hi = lo >>> 0 < gpr[6]! >>> 0 ? (gpr[7]! + 1) | 0 : gpr[7]!;
  else if (i.adsize === 16) lo &= 0xffff;
  lo = segmentAddress(cpu, i.seg, lo, hi);
  setAl(cpu, readSized(cpu, lo, cpu.eaHi, 8));
};

// ---------------------------------------------------------------------------------------

const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
const BIT_NAMES = ['bt', 'bts', 'btr', 'btc'];

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const byte = OpFlag.Byte;
  const lock = OpFlag.Lockable;

  // MUL IMUL DIV IDIV.
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

  // Shifts and rotates.
  for (let op = 0; op < 8; op++) {
    const name = SHIFT_NAMES[op]!;
    const forms: [number, CountFrom, Imm][] = [
      [0xd0, CountFrom.One, Imm.None],
      [0xd2, CountFrom.Cl, Imm.None],
      [0xc0, CountFrom.Imm, Imm.Ub],
    ];
    for (const [opcode, from, imm] of forms) {
      t.defineGroup(opcode, op, { name, exec: group2(op, 8, from), flags: rm | byte, imm });
      t.defineGroup(opcode + 1, op, {
        name,
        exec: sized((s) => group2(op, s, from)),
        flags: rm,
        imm,
      });
    }
  }
  t.define(0x0fa4, {
    name: 'shld',
    exec: sized((s) => doubleShift(true, s, false)),
    flags: rm,
    imm: Imm.Ub,
  });
  t.define(0x0fa5, { name: 'shld', exec: sized((s) => doubleShift(true, s, true)), flags: rm });
  t.define(0x0fac, {
    name: 'shrd',
    exec: sized((s) => doubleShift(false, s, false)),
    flags: rm,
    imm: Imm.Ub,
  });
  t.define(0x0fad, { name: 'shrd', exec: sized((s) => doubleShift(false, s, true)), flags: rm });

  // Bit tests.
  const bitOpcodes = [0x0fa3, 0x0fab, 0x0fb3, 0x0fbb];
  for (let op = BitOp.Test; op <= BitOp.Complement; op++) {
    const name = BIT_NAMES[op - BitOp.Test]!;
    const flags = op === BitOp.Test ? rm : rm | lock;
    t.define(bitOpcodes[op - BitOp.Test]!, {
      name,
      exec: sized((s) => bitOp(op, s, false)),
      flags,
    });
    t.defineGroup(0x0fba, op, { name, exec: sized((s) => bitOp(op, s, true)), flags, imm: Imm.Ub });
  }

  // Bit scans and counts. 66 0F BC stays a 16-bit BSF: no p66 entry, so 66 is operand size.
  t.definePrefixed(0x0fbc, 'none', {
    name: 'bsf',
    exec: sized((s) => bitScan(false, s)),
    flags: rm,
  });
  t.definePrefixed(0x0fbd, 'none', {
    name: 'bsr',
    exec: sized((s) => bitScan(true, s)),
    flags: rm,
  });
  t.definePrefixed(0x0fbc, 'pf3', {
    name: 'tzcnt',
    exec: sized((s) => bitCount(false, s)),
    flags: rm,
  });
  t.definePrefixed(0x0fbd, 'pf3', {
    name: 'lzcnt',
    exec: sized((s) => bitCount(true, s)),
    flags: rm,
  });
  t.definePrefixed(0x0fb8, 'pf3', { name: 'popcnt', exec: sized(popcnt), flags: rm });

  for (let r = 0; r < 8; r++) {
    t.define(0x0fc8 + r, { name: 'bswap', exec: sized(bswap), flags: OpFlag.RegInOpcode });
  }
  for (let cc = 0; cc < 16; cc++) {
    t.define(0x0f40 + cc, { name: 'cmovcc', exec: sized(cmov), flags: rm });
    t.define(0x0f90 + cc, { name: 'setcc', exec: setcc, flags: rm | OpFlag.ByteRm });
  }

  // Exchanges.
  t.define(0x0fc0, { name: 'xadd', exec: xadd(8), flags: rm | byte | lock });
  t.define(0x0fc1, { name: 'xadd', exec: sized(xadd), flags: rm | lock });
  t.define(0x0fb0, { name: 'cmpxchg', exec: cmpxchg(8), flags: rm | byte | lock });
  t.define(0x0fb1, { name: 'cmpxchg', exec: sized(cmpxchg), flags: rm | lock });
  t.defineGroup(0x0fc7, 1, {
    name: 'cmpxchg8b',
    exec: [cmpxchg8b, cmpxchg8b, cmpxchg16b],
    flags: rm | OpFlag.MemOnly | lock,
  });

  // Flags.
  t.define(0x9f, { name: 'lahf', exec: lahf });
  t.define(0x9e, { name: 'sahf', exec: sahf });
  t.define(0x9c, { name: 'pushf', exec: sized(pushf), flags: OpFlag.Default64 });
  t.define(0x9d, { name: 'popf', exec: sized(popf), flags: OpFlag.Default64 | OpFlag.EndsBlock });

  // BCD and XLAT.
  const legacy = OpFlag.Invalid64;
  t.define(0x27, { name: 'daa', exec: decimalAdjust(false), flags: legacy });
  t.define(0x2f, { name: 'das', exec: decimalAdjust(true), flags: legacy });
  t.define(0x37, { name: 'aaa', exec: asciiAdjust(false), flags: legacy });
  t.define(0x3f, { name: 'aas', exec: asciiAdjust(true), flags: legacy });
  t.define(0xd4, { name: 'aam', exec: aam, flags: legacy, imm: Imm.Ub });
  t.define(0xd5, { name: 'aad', exec: aad, flags: legacy, imm: Imm.Ub });
  t.define(0xd7, { name: 'xlat', exec: xlat });
}
