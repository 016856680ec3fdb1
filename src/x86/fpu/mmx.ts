/**
 * MMX registers alias the significands of the x87 physical registers R0-R7 (MMn is Rn,
 * whatever TOP is). Every MMX instruction puts the x87 unit in MMX mode: TOP = 0 and all
 * registers tagged non-empty; a write also sets the sign/exponent bits (79-64) to all ones.
 * EMMS tags them all empty again. The SSE module's MMX handlers call `mmxEnter` first.
 */
import { type Cpu, Cr0 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { checkPending, loadTagWord } from './x87.js';

/** The checks an MMX instruction makes before it runs: #UD when CR0.EM, #NM when CR0.TS,
 * #MF for a pending unmasked x87 exception. */
export function mmxEnter(cpu: Cpu): void {
  if (cpu.cr0 & Cr0.EM) throw new Fault(Vector.UD);
  if (cpu.cr0 & Cr0.TS) throw new Fault(Vector.NM);
  checkPending(cpu);
}

/** The MMX-mode transition: TOP = 0, every register non-empty (tags from contents). */
function enterMmxMode(cpu: Cpu): void {
  const fpu = cpu.fpu;
  fpu.top = 0;
  const tags = fpu.ftw;
  if ((tags & (tags >> 1) & 0x5555) !== 0) loadTagWord(fpu, 0); // some register was empty
}

/** Reads MMn: returns the low half, leaves the high half in `cpu.hi`. */
export function readMmx(cpu: Cpu, n: number): number {
  enterMmxMode(cpu);
  const st = cpu.fpu.st;
  cpu.hi = st[(n & 7) * 3 + 1]!;
  return st[(n & 7) * 3]!;
}

/** Writes MMn (and sets its exponent bits to all ones). */
export function writeMmx(cpu: Cpu, n: number, lo: number, hi: number): void {
  const fpu = cpu.fpu;
  enterMmxMode(cpu);
  const r = n & 7;
  fpu.st[r * 3] = lo;
  fpu.st[r * 3 + 1] = hi;
  fpu.st[r * 3 + 2] = 0xffff;
  fpu.ftw = (fpu.ftw & ~(3 << (r * 2))) | (2 << (r * 2)); // exponent all ones: special
}

/** EMMS: all x87 registers empty. */
export function emms(cpu: Cpu): void {
  cpu.fpu.ftw = 0xffff;
}
