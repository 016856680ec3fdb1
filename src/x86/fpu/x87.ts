/**
 * x87 machine state helpers: the register stack and its tags, exception recording with the
 * masked/unmasked responses, the #NM/#MF checks every x87 instruction starts with, and the
 * FNSTENV/FLDENV/FNSAVE/FRSTOR memory images.
 *
 * Tags: `FpuState.ftw` keeps two bits per physical register; only "empty" (3) is
 * authoritative. As on current processors (which keep an abridged tag internally), the
 * valid/zero/special tags reported by FNSTENV/FNSAVE are recomputed from the contents.
 *
 * Unmasked exceptions: an unmasked IE, DE or ZE (and OE/UE for stores to memory) leaves the
 * destination and the stack unchanged (compares still report their condition codes or
 * EFLAGS; FLD of a denormal single/double still loads); unmasked OE/UE on a register result
 * deliver it with its exponent biased by ∓24576. FSW.ES and B are then set, and the next
 * waiting x87 instruction (or FWAIT, FLDCW, FLDENV, FRSTOR) raises #MF before it executes.
 * When CR0.NE is clear the FERR#/IRQ13 route is not modelled: no #MF is raised at all.
 * All of this was checked against an AMD Zen 3 host (isa/x87.test.ts).
 */
import { read16, read32, read64, write16, write32, write64 } from '../access.js';
import { type Cpu, Cr0 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag } from '../flags.js';
import { Seg } from '../segments.js';
import { Ex, type F80, indefinite, tagOf } from './float80.js';
import type { FpuState } from './state.js';

export const enum Sw {
  ES = 0x80,
  B = 0x8000,
  /** Condition codes. */
  CC = 0x4700,
  TopShift = 11,
}

/** The physical register number of ST(i). */
export function phys(fpu: FpuState, i: number): number {
  return (fpu.top + i) & 7;
}

export function isEmpty(fpu: FpuState, i: number): boolean {
  return ((fpu.ftw >> (phys(fpu, i) * 2)) & 3) === 3;
}

/** Reads ST(i) into `out` (its stale contents when empty). */
export function readST(fpu: FpuState, i: number, out: F80): F80 {
  const p = phys(fpu, i) * 3;
  const st = fpu.st;
  return out.set(st[p + 2]!, st[p + 1]!, st[p]!);
}

/** Writes ST(i) and tags it from its contents. */
export function writeST(fpu: FpuState, i: number, v: F80): void {
  const r = phys(fpu, i);
  const p = r * 3;
  fpu.st[p] = v.lo;
  fpu.st[p + 1] = v.hi;
  fpu.st[p + 2] = v.se;
  fpu.ftw = (fpu.ftw & ~(3 << (r * 2))) | (tagOf(v.se, v.hi, v.lo) << (r * 2));
}

export function push(fpu: FpuState, v: F80): void {
  fpu.top = (fpu.top - 1) & 7;
  writeST(fpu, 0, v);
}

export function pop(fpu: FpuState): void {
  fpu.ftw |= 3 << (fpu.top * 2);
  fpu.top = (fpu.top + 1) & 7;
}

export function free(fpu: FpuState, i: number): void {
  fpu.ftw |= 3 << (phys(fpu, i) * 2);
}

/**
 * Reads ST(i) for use as a source: when it is empty, `out` becomes the QNaN indefinite and
 * the stack-underflow flags (IE, SF, C1 = 0) are returned.
 */
export function source(fpu: FpuState, i: number, out: F80): number {
  if (isEmpty(fpu, i)) {
    indefinite(out);
    return Ex.IE | Ex.SF;
  }
  readST(fpu, i, out);
  return 0;
}

/** Stack-overflow flags for a push: IE, SF and C1 when ST(7) is not empty. */
export function pushFault(fpu: FpuState): number {
  return isEmpty(fpu, 7) ? 0 : Ex.IE | Ex.SF | Ex.C1;
}

/** Recomputes the exception summary (ES) and busy (B) bits from the flags and masks. */
export function updateSummary(fpu: FpuState): void {
  if (fpu.fsw & ~fpu.fcw & Ex.Exceptions) fpu.fsw |= Sw.ES | Sw.B;
  else fpu.fsw &= ~(Sw.ES | Sw.B);
}

/**
 * Whether `ex` holds an unmasked exception among `fatal` (IE DE ZE by default): if so, the
 * flags are recorded (with ES) and the caller must leave destination and stack unchanged.
 */
export function blocked(fpu: FpuState, ex: number, fatal: number = Ex.IE | Ex.DE | Ex.ZE): boolean {
  if ((ex & ~fpu.fcw & fatal) === 0) return false;
  // No result is delivered, so no precision exception; an operand exception that traps
  // comes before overflow and underflow too.
  let flags = ex & (Ex.Exceptions | Ex.SF) & ~Ex.PE;
  if (ex & ~fpu.fcw & (Ex.IE | Ex.DE | Ex.ZE)) flags &= ~(Ex.OE | Ex.UE);
  fpu.fsw = (fpu.fsw & ~Ex.C1) | flags | (ex & Ex.SF ? ex & Ex.C1 : 0);
  updateSummary(fpu);
  return true;
}

/**
 * Records the flags of a completed instruction: exception bits accumulate, the condition
 * bits in `cc` (C1 by default) are replaced.
 */
export function record(fpu: FpuState, ex: number, cc: number = Ex.C1): void {
  let flags = ex & (Ex.Exceptions | Ex.SF);
  if (ex & Ex.Tiny && !(fpu.fcw & Ex.UE)) flags |= Ex.UE;
  fpu.fsw = (fpu.fsw & ~cc) | (ex & cc) | flags;
  updateSummary(fpu);
}

/** FSW as FNSTSW shows it, with TOP. */
export function statusWord(fpu: FpuState): number {
  return (fpu.fsw & ~0x3800) | (fpu.top << Sw.TopShift);
}

export function setStatusWord(fpu: FpuState, value: number): void {
  fpu.fsw = value & 0xc7ff;
  fpu.top = (value >> Sw.TopShift) & 7;
}

/** FCW as stored: bit 6 reads as 1, bits 13-15 as 0. */
export function setControlWord(fpu: FpuState, value: number): void {
  fpu.fcw = (value & 0x1f3f) | 0x40;
}

/** The full tag word, non-empty tags recomputed from the register contents. */
export function fullTagWord(fpu: FpuState): number {
  let ftw = 0;
  const st = fpu.st;
  for (let r = 0; r < 8; r++) {
    const tag = (fpu.ftw >> (r * 2)) & 3;
    const t = tag === 3 ? 3 : tagOf(st[r * 3 + 2]!, st[r * 3 + 1]!, st[r * 3]!);
    ftw |= t << (r * 2);
  }
  return ftw;
}

/** Loads a tag word: empty where it says 3, otherwise tagged from the contents. */
export function loadTagWord(fpu: FpuState, value: number): void {
  let ftw = 0;
  const st = fpu.st;
  for (let r = 0; r < 8; r++) {
    const t = (value >> (r * 2)) & 3;
    ftw |= (t === 3 ? 3 : tagOf(st[r * 3 + 2]!, st[r * 3 + 1]!, st[r * 3]!)) << (r * 2);
  }
  fpu.ftw = ftw;
}

/** Loads an abridged (FXSAVE) tag byte: bit r set means R(r) is not empty. */
export function loadAbridgedTags(fpu: FpuState, abridged: number): void {
  let full = 0;
  for (let r = 0; r < 8; r++) if (!((abridged >> r) & 1)) full |= 3 << (r * 2);
  loadTagWord(fpu, full);
}

export function abridgedTags(fpu: FpuState): number {
  let abridged = 0;
  for (let r = 0; r < 8; r++) if (((fpu.ftw >> (r * 2)) & 3) !== 3) abridged |= 1 << r;
  return abridged;
}

// ---- instruction prologue -----------------------------------------------------------

/** How an instruction interacts with pending exceptions and the last-instruction pointers. */
export const enum Kind {
  /** Arithmetic and data movement: checks pending exceptions, updates FOP/FIP/FDP. */
  Normal = 0,
  /** FLDCW, FLDENV, FRSTOR: checks pending exceptions, leaves FOP/FIP/FDP. */
  ControlWait = 1,
  /** FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE: no checks. */
  NoWait = 2,
}

/** #NM when CR0.EM or CR0.TS is set. */
export function checkAvailable(cpu: Cpu): void {
  if (cpu.cr0 & (Cr0.EM | Cr0.TS)) throw new Fault(Vector.NM);
}

/** #MF for a pending unmasked exception (FSW.ES), when CR0.NE selects native reporting. */
export function checkPending(cpu: Cpu): void {
  if (cpu.fpu.fsw & Sw.ES && cpu.cr0 & Cr0.NE) throw new Fault(Vector.MF);
}

/** Records FOP and FIP/FCS for a non-control instruction. */
export function noteInstruction(cpu: Cpu, opcode: number, modrm: number): void {
  const fpu = cpu.fpu;
  fpu.fop = ((opcode & 7) << 8) | modrm;
  fpu.fipLo = cpu.ripLo;
  fpu.fipHi = cpu.codeSize === 64 ? cpu.ripHi : 0;
  fpu.fcs = cpu.segSel[Seg.CS]! & 0xffff;
}

/** Records FDP/FDS: the operand's offset (lo/hi) and segment. */
export function noteOperand(cpu: Cpu, offsetLo: number, offsetHi: number, seg: number): void {
  const fpu = cpu.fpu;
  fpu.fdpLo = offsetLo;
  fpu.fdpHi = offsetHi;
  fpu.fds = cpu.segSel[seg]! & 0xffff;
}

// ---- memory images ------------------------------------------------------------------

/** lo/hi + offset, high half in `carryHi`. */
let carryHi = 0;
function offset(lo: number, hi: number, add: number): number {
  const sum = (lo >>> 0) + add;
  carryHi = sum > 0xffffffff ? (hi + 1) | 0 : hi;
  return sum | 0;
}

export function read80(cpu: Cpu, lo: number, hi: number, out: F80): F80 {
  const mLo = read64(cpu, lo, hi);
  const mHi = cpu.hi;
  const at = offset(lo, hi, 8);
  return out.set(read16(cpu, at, carryHi), mHi, mLo);
}

export function write80(cpu: Cpu, lo: number, hi: number, v: F80): void {
  const at = offset(lo, hi, 8);
  write16(cpu, at, carryHi, v.se);
  write64(cpu, lo, hi, v.lo, v.hi);
}

function realMode(cpu: Cpu): boolean {
  return (cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0;
}

/** FNSTENV's image at lo/hi for operand size `opsize`; returns its length (14 or 28). */
export function storeEnvironment(cpu: Cpu, lo: number, hi: number, opsize: number): number {
  const fpu = cpu.fpu;
  const ftw = fullTagWord(fpu);
  const fsw = statusWord(fpu);
  const real = realMode(cpu);
  if (opsize === 16) {
    const w = (off: number, value: number) => write16(cpu, offset(lo, hi, off), carryHi, value);
    w(0, fpu.fcw);
    w(2, fsw);
    w(4, ftw);
    if (real) {
      const ip = ((fpu.fcs << 4) + (fpu.fipLo >>> 0)) >>> 0;
      const dp = ((fpu.fds << 4) + (fpu.fdpLo >>> 0)) >>> 0;
      w(6, ip);
      w(8, ((ip >>> 4) & 0xf000) | fpu.fop);
      w(10, dp);
      w(12, (dp >>> 4) & 0xf000);
    } else {
      w(6, fpu.fipLo);
      w(8, fpu.fcs);
      w(10, fpu.fdpLo);
      w(12, fpu.fds);
    }
    return 14;
  }
  const d = (off: number, value: number) => write32(cpu, offset(lo, hi, off), carryHi, value);
  d(0, fpu.fcw | 0xffff0000);
  d(4, fsw | 0xffff0000);
  d(8, ftw | 0xffff0000);
  if (real) {
    const ip = ((fpu.fcs << 4) + (fpu.fipLo >>> 0)) >>> 0;
    const dp = ((fpu.fds << 4) + (fpu.fdpLo >>> 0)) >>> 0;
    d(12, (ip & 0xffff) | 0xffff0000);
    d(16, ((ip >>> 4) & 0x0ffff000) | fpu.fop);
    d(20, (dp & 0xffff) | 0xffff0000);
    d(24, (dp >>> 4) & 0x0ffff000);
  } else {
    d(12, fpu.fipLo);
    d(16, fpu.fcs | (fpu.fop << 16));
    d(20, fpu.fdpLo);
    d(24, fpu.fds | 0xffff0000);
  }
  return 28;
}

/** FLDENV's image at lo/hi; returns its length. Reads everything before changing state. */
export function loadEnvironment(cpu: Cpu, lo: number, hi: number, opsize: number): number {
  const fpu = cpu.fpu;
  const real = realMode(cpu);
  let fcw: number;
  let fsw: number;
  let ftw: number;
  let fip: number;
  let fcs = 0;
  let fop = 0;
  let fdp: number;
  let fds = 0;
  let length: number;
  if (opsize === 16) {
    const w = (off: number) => read16(cpu, offset(lo, hi, off), carryHi);
    fcw = w(0);
    fsw = w(2);
    ftw = w(4);
    if (real) {
      const ipWord = w(8);
      fip = w(6) | ((ipWord & 0xf000) << 4);
      fop = ipWord & 0x7ff;
      fdp = w(10) | ((w(12) & 0xf000) << 4);
    } else {
      fip = w(6);
      fcs = w(8);
      fdp = w(10);
      fds = w(12);
    }
    length = 14;
  } else {
    const d = (off: number) => read32(cpu, offset(lo, hi, off), carryHi);
    fcw = d(0) & 0xffff;
    fsw = d(4) & 0xffff;
    ftw = d(8) & 0xffff;
    if (real) {
      const ipWord = d(16);
      fip = (d(12) & 0xffff) | ((ipWord << 4) & 0xffff0000);
      fop = ipWord & 0x7ff;
      fdp = (d(20) & 0xffff) | ((d(24) << 4) & 0xffff0000);
    } else {
      fip = d(12);
      const csWord = d(16);
      fcs = csWord & 0xffff;
      fop = (csWord >>> 16) & 0x7ff;
      fdp = d(20);
      fds = d(24) & 0xffff;
    }
    length = 28;
  }
  setControlWord(fpu, fcw);
  setStatusWord(fpu, fsw);
  updateSummary(fpu);
  loadTagWord(fpu, ftw);
  fpu.fipLo = fip;
  fpu.fipHi = 0;
  fpu.fcs = fcs;
  fpu.fop = fop;
  fpu.fdpLo = fdp;
  fpu.fdpHi = 0;
  fpu.fds = fds;
  return length;
}

/** FNSAVE: the environment, then ST0-ST7 (10 bytes each); then the FPU is reinitialized. */
export function saveState(cpu: Cpu, lo: number, hi: number, opsize: number, scratch: F80): void {
  const fpu = cpu.fpu;
  const length = storeEnvironment(cpu, lo, hi, opsize);
  for (let i = 0; i < 8; i++) {
    const at = offset(lo, hi, length + i * 10);
    write80(cpu, at, carryHi, readST(fpu, i, scratch));
  }
  fpu.resetX87();
}

/** FRSTOR: reads the registers first (faults leave the state alone), then the environment. */
export function restoreState(cpu: Cpu, lo: number, hi: number, opsize: number): void {
  const fpu = cpu.fpu;
  const length = opsize === 16 ? 14 : 28;
  const regs = new Int32Array(24);
  for (let i = 0; i < 8; i++) {
    const at = offset(lo, hi, length + i * 10);
    const atHi = carryHi;
    regs[i * 3] = read64(cpu, at, atHi);
    regs[i * 3 + 1] = cpu.hi;
    regs[i * 3 + 2] = read16(cpu, offset(at, atHi, 8), carryHi);
  }
  loadEnvironment(cpu, lo, hi, opsize);
  for (let i = 0; i < 8; i++) {
    const p = phys(fpu, i) * 3;
    fpu.st[p] = regs[i * 3]!;
    fpu.st[p + 1] = regs[i * 3 + 1]!;
    fpu.st[p + 2] = regs[i * 3 + 2]!;
  }
  // Tags of non-empty registers follow the new contents.
  loadTagWord(fpu, fpu.ftw);
}
