/**
 * The stack: PUSH and POP of 16, 32 and 64 bits at the current stack-address size, and the
 * stack-pointer bookkeeping of the instructions that push or pop several values.
 */
import { read16, read32, read64, write16, write32, write64 } from '../access.js';
import type { Cpu } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Seg } from '../segments.js';

const RSP = 8;
const RBP = 10;

/** A stack reference to a non-canonical address is #SS(0), not #GP. */
export function checkCanonicalStack(hi: number): void {
  if ((hi << 16) >> 16 !== hi) throw new Fault(Vector.SS, 0);
}

/** Pushes a value of `size` bits (hi used for 64). The stack pointer moves only on success. */
export function push(cpu: Cpu, size: number, lo: number, hi: number): void {
  const bytes = size >> 3;
  const gpr = cpu.gpr;
  if (cpu.stackSize === 64) {
    const rspLo = gpr[8]!;
    const newLo = (rspLo - bytes) | 0;
    const newHi = newLo >>> 0 > rspLo >>> 0 ? (gpr[9]! - 1) | 0 : gpr[9]!;
    checkCanonicalStack(newHi);
    if (size === 64) write64(cpu, newLo, newHi, lo, hi);
    else if (size === 32) write32(cpu, newLo, newHi, lo);
    else write16(cpu, newLo, newHi, lo);
    gpr[8] = newLo;
    gpr[9] = newHi;
    return;
  }
  const esp = gpr[8]!;
  const newSp = cpu.stackSize === 32 ? (esp - bytes) | 0 : (esp - bytes) & 0xffff;
  const address = (cpu.segBaseLo[Seg.SS]! + newSp) | 0;
  if (size === 32) write32(cpu, address, 0, lo);
  else if (size === 16) write16(cpu, address, 0, lo);
  else write64(cpu, address, 0, lo, hi);
  gpr[8] = cpu.stackSize === 32 ? newSp : (esp & ~0xffff) | newSp;
}

/** Pops a value of `size` bits: returns lo, hi in cpu.hi for 64. */
export function pop(cpu: Cpu, size: number): number {
  const value = peek(cpu, size, 0);
  discard(cpu, size >> 3);
  return value;
}

/** Reads the stack `offset` bytes above the stack pointer without moving it. */
export function peek(cpu: Cpu, size: number, offset: number): number {
  const gpr = cpu.gpr;
  let lo: number;
  let hi = 0;
  if (cpu.stackSize === 64) {
    lo = (gpr[8]! + offset) | 0;
    hi = lo >>> 0 < gpr[8]! >>> 0 ? (gpr[9]! + 1) | 0 : gpr[9]!;
    checkCanonicalStack(hi);
  } else {
    const sp = cpu.stackSize === 32 ? (gpr[8]! + offset) | 0 : (gpr[8]! + offset) & 0xffff;
    lo = (cpu.segBaseLo[Seg.SS]! + sp) | 0;
  }
  if (size === 64) return read64(cpu, lo, hi);
  return size === 32 ? read32(cpu, lo, hi) : read16(cpu, lo, hi);
}

/** Moves the stack pointer up by `bytes`. */
export function discard(cpu: Cpu, bytes: number): void {
  const gpr = cpu.gpr;
  const sp = gpr[8]!;
  if (cpu.stackSize === 64) {
    const lo = (sp + bytes) | 0;
    if (lo >>> 0 < sp >>> 0) gpr[9] = (gpr[9]! + 1) | 0;
    gpr[8] = lo;
  } else if (cpu.stackSize === 32) {
    gpr[8] = (sp + bytes) | 0;
  } else {
    gpr[8] = (sp & ~0xffff) | ((sp + bytes) & 0xffff);
  }
}

/** Runs `body`; if it faults, puts RSP and RBP back as they were. */
export function keepingStack(cpu: Cpu, body: () => void): void {
  const rsp = cpu.gpr[RSP]!;
  const rspHi = cpu.gpr[RSP + 1]!;
  const rbp = cpu.gpr[RBP]!;
  const rbpHi = cpu.gpr[RBP + 1]!;
  try {
    body();
  } catch (error) {
    cpu.gpr[RSP] = rsp;
    cpu.gpr[RSP + 1] = rspHi;
    cpu.gpr[RBP] = rbp;
    cpu.gpr[RBP + 1] = rbpHi;
    throw error;
  }
}

/** Sets RSP to a value popped at `size` bits, as the new stack's size sees it. */
export function setStackPointer(cpu: Cpu, size: number, lo: number, hi: number): void {
  if (size === 64) {
    cpu.gpr[RSP] = lo;
    cpu.gpr[RSP + 1] = hi;
  } else if (size === 32) {
    cpu.gpr[RSP] = lo;
    cpu.gpr[RSP + 1] = 0;
  } else if (cpu.stackSize === 16) {
    cpu.gpr[RSP] = (cpu.gpr[RSP]! & ~0xffff) | (lo & 0xffff);
  } else {
    cpu.gpr[RSP] = lo & 0xffff;
    cpu.gpr[RSP + 1] = 0;
  }
}
