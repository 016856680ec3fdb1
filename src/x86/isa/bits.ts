/**
 * Bit instructions: BT BTS BTR BTC (0F A3 AB B3 BB; 0F BA /4-/7); BSF BSR TZCNT LZCNT POPCNT;
 * BSWAP. 64-bit values are lo/hi int32 halves.
 *
 * Where the SDM leaves flags (or results) undefined, they get the values an AMD Zen 3
 * produces, which bits.test.ts checks against the host: BT* keep OF SF AF PF; BSF/BSR change
 * only ZF (and leave the destination alone on a zero source); TZCNT/LZCNT keep OF and clear
 * SF AF PF; BSWAP r16 clears the register.
 */
import type { Cpu } from '../cpu.js';
import { Flag, setArithFlags, updateFlags } from '../flags.js';
import type { Handler, Insn } from '../insn.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import {
  effectiveAddress,
  getRegSized,
  linear,
  readRmSized,
  readSized,
  segmentAddress,
  setReg16,
  setReg32,
  setRegSized,
  writeSized,
} from './operands.js';
import { sized } from './sized.js';

const CF = Flag.CF;
const PF = Flag.PF;
const AF = Flag.AF;
const ZF = Flag.ZF;
const SF = Flag.SF;

/** The high half of scanSource's result. */
let outHi = 0;

// ---------------------------------------------------------------------------------------
// BT BTS BTR BTC (0F A3 AB B3 BB; 0F BA /4-/7).

const enum BitOp {
  Test = 4,
  Set = 5,
  Reset = 6,
  Complement = 7,
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
    const cf = (bit < 32 ? v >>> bit : vHi >>> (bit - 32)) & 1;
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
// BSWAP.

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

// ---------------------------------------------------------------------------------------

const BIT_NAMES = ['bt', 'bts', 'btr', 'btc'];

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const lock = OpFlag.Lockable;

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
}
