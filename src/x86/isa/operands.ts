/**
 * Operand access for instruction handlers: registers by size, the memory operand's linear
 * address, and r/m operands that are either. 64-bit values travel as a lo return value with
 * the high half in `cpu.hi`.
 */
import { read8, read16, read32, read64, write8, write16, write32, write64 } from '../access.js';
import type { Cpu } from '../cpu.js';
import { type Insn, NO_REG, RIP_BASE } from '../insn.js';
import { Seg } from '../segments.js';

/**
 * The effective address (offset) of the memory operand, truncated to the address size:
 * returns lo, leaves hi in `cpu.eaHi`.
 */
export function effectiveAddress(cpu: Cpu, i: Insn): number {
  let lo = i.dispLo;
  let hi = i.dispHi;
  const gpr = cpu.gpr;
  const base = i.base;
  if (base >= 0) {
    const sum = (lo + gpr[base * 2]!) | 0;
    hi = (hi + gpr[base * 2 + 1]! + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
    lo = sum;
  } else if (base === RIP_BASE) {
    const next = (cpu.ripLo + i.len) | 0;
    const ripHi = next >>> 0 < cpu.ripLo >>> 0 ? (cpu.ripHi + 1) | 0 : cpu.ripHi;
    const sum = (lo + next) | 0;
    hi = (hi + ripHi + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
    lo = sum;
  }
  const index = i.index;
  if (index !== NO_REG) {
    const scale = i.scale;
    let xLo = gpr[index * 2]!;
    let xHi = gpr[index * 2 + 1]!;
    if (scale !== 0) {
      xHi = (xHi << scale) | (xLo >>> (32 - scale));
      xLo <<= scale;
    }
    const sum = (lo + xLo) | 0;
    hi = (hi + xHi + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
    lo = sum;
  }
  const adsize = i.adsize;
  if (adsize === 64) {
    cpu.eaHi = hi;
    return lo;
  }
  cpu.eaHi = 0;
  return adsize === 16 ? lo & 0xffff : lo;
}

/** The linear address of the memory operand: returns lo, leaves hi in `cpu.eaHi`. */
export function linear(cpu: Cpu, i: Insn): number {
  const lo = effectiveAddress(cpu, i);
  const seg = i.seg;
  if (cpu.codeSize === 64) {
    // Only FS and GS have bases in 64-bit mode.
    if (seg < Seg.FS) return lo;
    const sum = (lo + cpu.segBaseLo[seg]!) | 0;
    cpu.eaHi = (cpu.eaHi + cpu.segBaseHi[seg]! + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
    return sum;
  }
  return (lo + cpu.segBaseLo[seg]!) | 0;
}

/**
 * The linear address of seg:offset for an offset (effective address) already computed as
 * lo/hi: returns lo, leaves hi in `cpu.eaHi`.
 */
export function segmentAddress(cpu: Cpu, seg: number, lo: number, hi: number): number {
  if (cpu.codeSize === 64) {
    // Only FS and GS have bases in 64-bit mode.
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

/** A byte register: 0-15 the low byte of a GPR, 16-19 AH CH DH BH. */
export function getReg8(cpu: Cpu, n: number): number {
  return n < 16 ? cpu.gpr[n * 2]! & 0xff : (cpu.gpr[(n - 16) * 2]! >> 8) & 0xff;
}

export function setReg8(cpu: Cpu, n: number, value: number): void {
  if (n < 16) {
    cpu.gpr[n * 2] = (cpu.gpr[n * 2]! & ~0xff) | (value & 0xff);
  } else {
    const at = (n - 16) * 2;
    cpu.gpr[at] = (cpu.gpr[at]! & ~0xff00) | ((value & 0xff) << 8);
  }
}

export function getReg16(cpu: Cpu, n: number): number {
  return cpu.gpr[n * 2]! & 0xffff;
}

export function setReg16(cpu: Cpu, n: number, value: number): void {
  cpu.gpr[n * 2] = (cpu.gpr[n * 2]! & ~0xffff) | (value & 0xffff);
}

/** A 32-bit write clears the upper half, as in 64-bit mode. */
export function setReg32(cpu: Cpu, n: number, value: number): void {
  cpu.gpr[n * 2] = value;
  cpu.gpr[n * 2 + 1] = 0;
}

export function setReg64(cpu: Cpu, n: number, lo: number, hi: number): void {
  cpu.gpr[n * 2] = lo;
  cpu.gpr[n * 2 + 1] = hi;
}

/** Writes a register of `size` bits with the architectural merging rules. */
export function setRegSized(cpu: Cpu, n: number, size: number, lo: number, hi: number): void {
  if (size === 64) setReg64(cpu, n, lo, hi);
  else if (size === 32) setReg32(cpu, n, lo);
  else if (size === 16) setReg16(cpu, n, lo);
  else setReg8(cpu, n, lo);
}

export function readRm8(cpu: Cpu, i: Insn): number {
  if (i.mod === 3) return getReg8(cpu, i.rm);
  return read8(cpu, linear(cpu, i), cpu.eaHi);
}

export function readRm16(cpu: Cpu, i: Insn): number {
  if (i.mod === 3) return cpu.gpr[i.rm * 2]! & 0xffff;
  return read16(cpu, linear(cpu, i), cpu.eaHi);
}

export function readRm32(cpu: Cpu, i: Insn): number {
  if (i.mod === 3) return cpu.gpr[i.rm * 2]!;
  return read32(cpu, linear(cpu, i), cpu.eaHi);
}

export function readRm64(cpu: Cpu, i: Insn): number {
  if (i.mod === 3) {
    cpu.hi = cpu.gpr[i.rm * 2 + 1]!;
    return cpu.gpr[i.rm * 2]!;
  }
  return read64(cpu, linear(cpu, i), cpu.eaHi);
}

/** Reads the r/m operand at the instruction's operand size (lo; hi in cpu.hi for 64). */
export function readRmSized(cpu: Cpu, i: Insn, size: number): number {
  switch (size) {
    case 8:
      return readRm8(cpu, i);
    case 16:
      return readRm16(cpu, i);
    case 32:
      return readRm32(cpu, i);
    default:
      return readRm64(cpu, i);
  }
}

export function writeRm8(cpu: Cpu, i: Insn, value: number): void {
  if (i.mod === 3) setReg8(cpu, i.rm, value);
  else write8(cpu, linear(cpu, i), cpu.eaHi, value);
}

export function writeRm16(cpu: Cpu, i: Insn, value: number): void {
  if (i.mod === 3) setReg16(cpu, i.rm, value);
  else write16(cpu, linear(cpu, i), cpu.eaHi, value);
}

export function writeRm32(cpu: Cpu, i: Insn, value: number): void {
  if (i.mod === 3) setReg32(cpu, i.rm, value);
  else write32(cpu, linear(cpu, i), cpu.eaHi, value);
}

export function writeRm64(cpu: Cpu, i: Insn, lo: number, hi: number): void {
  if (i.mod === 3) setReg64(cpu, i.rm, lo, hi);
  else write64(cpu, linear(cpu, i), cpu.eaHi, lo, hi);
}

export function writeRmSized(cpu: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  switch (size) {
    case 8:
      return writeRm8(cpu, i, lo);
    case 16:
      return writeRm16(cpu, i, lo);
    case 32:
      return writeRm32(cpu, i, lo);
    default:
      return writeRm64(cpu, i, lo, hi);
  }
}

/** Reads memory of `size` bits at a linear address (lo; hi in cpu.hi for 64). */
export function readSized(cpu: Cpu, lo: number, hi: number, size: number): number {
  switch (size) {
    case 8:
      return read8(cpu, lo, hi);
    case 16:
      return read16(cpu, lo, hi);
    case 32:
      return read32(cpu, lo, hi);
    default:
      return read64(cpu, lo, hi);
  }
}

export function writeSized(
  cpu: Cpu,
  lo: number,
  hi: number,
  size: number,
  valueLo: number,
  valueHi: number,
): void {
  switch (size) {
    case 8:
      return write8(cpu, lo, hi, valueLo);
    case 16:
      return write16(cpu, lo, hi, valueLo);
    case 32:
      return write32(cpu, lo, hi, valueLo);
    default:
      return write64(cpu, lo, hi, valueLo, valueHi);
  }
}

/** The general register `n` at `size` bits (8-bit numbering as getReg8); hi in cpu.hi. */
export function getRegSized(cpu: Cpu, n: number, size: number): number {
  switch (size) {
    case 8:
      return getReg8(cpu, n);
    case 16:
      return cpu.gpr[n * 2]! & 0xffff;
    case 32:
      return cpu.gpr[n * 2]!;
    default:
      cpu.hi = cpu.gpr[n * 2 + 1]!;
      return cpu.gpr[n * 2]!;
  }
}
