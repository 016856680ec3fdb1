/**
 * Shifts and rotates: group 2 (C0 C1 D0 D1 D2 D3: ROL ROR RCL RCR SHL SHR SAL SAR) and
 * SHLD/SHRD (0F A4 A5 AC AD). 64-bit values are lo/hi int32 halves.
 *
 * Where the SDM leaves flags (or results) undefined, they get the values an AMD Zen 3
 * produces, which shift.test.ts checks against the host: shifts set AF and give OF by the
 * count-1 rule for any count (0 for SHR/SAR); rotates likewise for OF; SHLD's OF is
 * MSB(result) ^ CF and SHRD's the top two result bits XORed, and 16-bit SHLD/SHRD by 17-31
 * rotate the source with CF = 0.
 */
import type { Cpu } from '../cpu.js';
import { Flag, readFlags, setArithFlags, szpFlags, updateFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { getRegSized, linear, readSized, setReg32, setRegSized, writeSized } from './operands.js';
import { sized } from './sized.js';

const CF = Flag.CF;
const AF = Flag.AF;
const OF = Flag.OF;

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
      setArithFlags(cpu, szpFlags(size, r, 0) | cf | (of << 11) | AF);
      return r;
    }
    case ShiftOp.Shr: {
      const r = (u >>> c) | 0;
      const cf = c <= size ? (u >>> (c - 1)) & 1 : 0;
      const of = c === 1 ? (u >>> msb) & 1 : 0;
      setArithFlags(cpu, szpFlags(size, r, 0) | cf | (of << 11) | AF);
      return r;
    }
    default: {
      const s = size === 8 ? (v << 24) >> 24 : size === 16 ? (v << 16) >> 16 : v;
      const r = (s >> c) & mask;
      const cf = (s >> (c - 1)) & 1;
      setArithFlags(cpu, szpFlags(size, r, 0) | cf | AF);
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
      setArithFlags(cpu, szpFlags(64, rLo, rHi) | cf | ((((rHi >>> 31) ^ cf) & 1) << 11) | AF);
      outHi = rHi;
      return rLo;
    }
    case ShiftOp.Shr: {
      const rLo = shr64(lo, hi, c);
      const rHi = outHi;
      const of = c === 1 ? hi >>> 31 : 0;
      setArithFlags(cpu, szpFlags(64, rLo, rHi) | bit64(lo, hi, c - 1) | (of << 11) | AF);
      outHi = rHi;
      return rLo;
    }
    default: {
      const rLo = sar64(lo, hi, c);
      const rHi = outHi;
      setArithFlags(cpu, szpFlags(64, rLo, rHi) | bit64(lo, hi, c - 1) | AF);
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
    setArithFlags(cpu, szpFlags(size, r, rHi) | cf | (of << 11) | AF);
    if (i.mod === 3) setRegSized(cpu, i.rm, size, r, rHi);
    else writeSized(cpu, lo, hi, size, r, rHi);
  };
};

// ---------------------------------------------------------------------------------------

const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const byte = OpFlag.Byte;

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
}
