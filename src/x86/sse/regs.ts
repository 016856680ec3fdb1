/**
 * What the MMX and SSE instruction modules share: the exception checks of the SDM (#UD, #NM,
 * #MF, #XM), XMM and MMX source operands (MMX registers through fpu/mmx.ts),
 * 16-byte memory accesses with the alignment rule, and scratch vectors.
 */
import { read64, write16, write64 } from '../access.js';
import { type Cpu, Cr0, Cr4 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { mmxEnter, readMmx, writeMmx } from '../fpu/mmx.js';
import type { Insn } from '../insn.js';
import { linear } from '../isa/operands.js';
import { begin, env, Mxcsr, unmasked } from './fp.js';

/** A 16-byte scratch vector with views of every lane width (little-endian host). */
export class Vec {
  readonly u8 = new Uint8Array(16);
  readonly i8 = new Int8Array(this.u8.buffer);
  readonly u16 = new Uint16Array(this.u8.buffer);
  readonly i16 = new Int16Array(this.u8.buffer);
  readonly i32 = new Int32Array(this.u8.buffer);
}

/** Destination operand, source operand and result of the instruction being executed. */
export const A = new Vec();
export const B = new Vec();
export const R = new Vec();

/** SSE instructions: #UD if CR0.EM or !CR4.OSFXSR, #NM if CR0.TS. */
export function checkSse(cpu: Cpu): void {
  if (cpu.cr0 & Cr0.EM || !(cpu.cr4 & Cr4.OSFXSR)) throw new Fault(Vector.UD);
  if (cpu.cr0 & Cr0.TS) throw new Fault(Vector.NM);
}

/** MMX instructions: #UD if CR0.EM, #NM if CR0.TS, #MF if an x87 exception is pending. The
 * x87→MMX transition happens as MMX registers are read or written (fpu/mmx.ts). */
export const checkMmx = mmxEnter;

/** An SSE instruction with an MMX register operand (CVTPI2PS xmm, mm; MOVQ2DQ …): the SSE
 * checks, then #MF for a pending x87 exception. */
export function checkSseMmx(cpu: Cpu): void {
  checkSse(cpu);
  mmxEnter(cpu);
}

function carry(lo: number, hi: number, small: number): number {
  return (lo >>> 0) + small > 0xffffffff ? (hi + 1) | 0 : hi;
}

/** Reads 16 bytes at lo/hi into out.i32; #GP(0) if `aligned` and the address is not. */
export function readMem128(cpu: Cpu, lo: number, hi: number, out: Vec, aligned: boolean): void {
  if (aligned && lo & 15) throw new Fault(Vector.GP, 0);
  const i32 = out.i32;
  const first = read64(cpu, lo, hi);
  const firstHi = cpu.hi;
  const second = read64(cpu, (lo + 8) | 0, carry(lo, hi, 8));
  i32[0] = first;
  i32[1] = firstHi;
  i32[2] = second;
  i32[3] = cpu.hi;
}

/** Writes v's 16 bytes at lo/hi, all or nothing when the range crosses a page. */
export function writeMem128(cpu: Cpu, lo: number, hi: number, v: Vec, aligned: boolean): void {
  if (aligned && lo & 15) throw new Fault(Vector.GP, 0);
  const offset = lo & 0xfff;
  const i32 = v.i32;
  if (offset > 0xff0) {
    // Write the two bytes either side of the page boundary first: that write checks both
    // pages, so the rest cannot fault.
    const at = 0x1000 - offset - 1;
    write16(cpu, (lo + at) | 0, carry(lo, hi, at), v.u8[at]! | (v.u8[at + 1]! << 8));
  }
  write64(cpu, lo, hi, i32[0]!, i32[1]!);
  write64(cpu, (lo + 8) | 0, carry(lo, hi, 8), i32[2]!, i32[3]!);
}

/** The XMM r/m operand (register or m128) into v. */
export function loadXmmRm(cpu: Cpu, i: Insn, v: Vec, aligned = true): void {
  if (i.mod === 3) {
    const x = cpu.fpu.xmm;
    const at = i.rm * 4;
    const d = v.i32;
    d[0] = x[at]!;
    d[1] = x[at + 1]!;
    d[2] = x[at + 2]!;
    d[3] = x[at + 3]!;
  } else {
    readMem128(cpu, linear(cpu, i), cpu.eaHi, v, aligned);
  }
}

/** The low 64 bits of the XMM r/m operand (register or m64) into v.i32[0..1]. */
export function loadXmmRm64(cpu: Cpu, i: Insn, v: Vec): void {
  const d = v.i32;
  if (i.mod === 3) {
    const x = cpu.fpu.xmm;
    d[0] = x[i.rm * 4]!;
    d[1] = x[i.rm * 4 + 1]!;
  } else {
    d[0] = read64(cpu, linear(cpu, i), cpu.eaHi);
    d[1] = cpu.hi;
  }
}

/** The MMX r/m operand (register or m64) into v.i32[0..1]. */
export function loadMmRm(cpu: Cpu, i: Insn, v: Vec): void {
  const d = v.i32;
  if (i.mod === 3) {
    d[0] = readMmx(cpu, i.rm);
    d[1] = cpu.hi;
  } else {
    d[0] = read64(cpu, linear(cpu, i), cpu.eaHi);
    d[1] = cpu.hi;
  }
}

export function loadXmmReg(cpu: Cpu, n: number, v: Vec): void {
  const x = cpu.fpu.xmm;
  const d = v.i32;
  const at = n * 4;
  d[0] = x[at]!;
  d[1] = x[at + 1]!;
  d[2] = x[at + 2]!;
  d[3] = x[at + 3]!;
}

export function storeXmmReg(cpu: Cpu, n: number, v: Vec): void {
  const x = cpu.fpu.xmm;
  const s = v.i32;
  const at = n * 4;
  x[at] = s[0]!;
  x[at + 1] = s[1]!;
  x[at + 2] = s[2]!;
  x[at + 3] = s[3]!;
}

export function loadMmReg(cpu: Cpu, n: number, v: Vec): void {
  v.i32[0] = readMmx(cpu, n);
  v.i32[1] = cpu.hi;
}

export function storeMmReg(cpu: Cpu, n: number, v: Vec): void {
  writeMmx(cpu, n, v.i32[0]!, v.i32[1]!);
}

/** Starts a floating-point instruction: MXCSR's mode, no flags yet. */
export function fpBegin(cpu: Cpu): void {
  begin(cpu.fpu.mxcsr);
}

/**
 * Ends a floating-point instruction before it writes its result: records the flags it
 * raised in MXCSR, and raises #XM (#UD without CR4.OSXMMEXCPT) if any is unmasked, in which
 * case nothing is written.
 */
export function fpEnd(cpu: Cpu): void {
  const flags = env.flags;
  if (flags === 0) return;
  const raised = unmasked();
  if (raised === 0) {
    cpu.fpu.mxcsr |= flags;
    return;
  }
  // An unmasked invalid, denormal or divide-by-zero exception stops the instruction before
  // any lane's overflow, underflow or precision exception is reported.
  cpu.fpu.mxcsr |= raised & PRE_COMPUTATION ? flags & PRE_COMPUTATION : flags;
  throw new Fault(cpu.cr4 & Cr4.OSXMMEXCPT ? Vector.XM : Vector.UD);
}

const PRE_COMPUTATION = Mxcsr.IE | Mxcsr.DE | Mxcsr.ZE;
