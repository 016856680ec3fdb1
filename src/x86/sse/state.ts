/**
 * Saving and loading the SIMD state: FXSAVE/FXRSTOR (0F AE /0 /1, and the REX.W forms with
 * 64-bit FIP/FDP), LDMXCSR/STMXCSR (0F AE /2 /3) and EMMS (0F 77). The x87 part of the
 * FXSAVE image is fpu/fxsave-x87.ts's.
 *
 * Image layout (SDM Vol. 1 §10.5.1): x87 state in bytes 0-23 and 32-159, MXCSR at 24,
 * MXCSR_MASK at 28, XMM0-7 (XMM0-15 in 64-bit mode) from 160. Bytes past the XMM registers
 * are neither written nor read.
 */
import { read32, read64, write32, write64 } from '../access.js';
import { type Cpu, Cr0 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { x87FromFxsave, x87ToFxsave } from '../fpu/fxsave-x87.js';
import { emms, mmxEnter } from '../fpu/mmx.js';
import type { Handler } from '../insn.js';
import { linear } from '../isa/operands.js';
import { type OpcodeTable, OpFlag, type SizedHandlers } from '../table.js';
import { MXCSR_MASK } from './fp.js';
import { checkSse } from './regs.js';

export const FXSAVE_SIZE = 512;
const XMM_OFFSET = 160;

const image = new Uint8Array(FXSAVE_SIZE);
const imageView = new DataView(image.buffer);

/** The bytes of the image FXSAVE writes: through XMM7, or XMM15 in 64-bit mode. */
function imageLength(cpu: Cpu): number {
  return XMM_OFFSET + (cpu.codeSize === 64 ? 16 : 8) * 16;
}

/** Fills `view` (from `offset`) with the FXSAVE image of the current state. */
export function saveImage(
  cpu: Cpu,
  view: DataView,
  offset: number,
  wide: boolean,
  registers = 16,
): void {
  x87ToFxsave(cpu, view, offset, wide);
  view.setInt32(offset + 24, cpu.fpu.mxcsr, true);
  view.setInt32(offset + 28, MXCSR_MASK, true);
  const xmm = cpu.fpu.xmm;
  for (let k = 0; k < registers * 4; k++) view.setInt32(offset + XMM_OFFSET + k * 4, xmm[k]!, true);
}

/** Loads the state from an FXSAVE image; #GP(0) if its MXCSR sets a reserved bit. */
export function loadImage(
  cpu: Cpu,
  view: DataView,
  offset: number,
  wide: boolean,
  registers = 16,
): void {
  const mxcsr = view.getInt32(offset + 24, true);
  if (mxcsr & ~MXCSR_MASK) throw new Fault(Vector.GP, 0);
  x87FromFxsave(cpu, view, offset, wide);
  cpu.fpu.mxcsr = mxcsr;
  const xmm = cpu.fpu.xmm;
  for (let k = 0; k < registers * 4; k++) xmm[k] = view.getInt32(offset + XMM_OFFSET + k * 4, true);
}

/** FXSAVE/FXRSTOR: #NM if CR0.TS or CR0.EM; the operand must be 16-byte aligned. */
function checkFxsr(cpu: Cpu): void {
  if (cpu.cr0 & (Cr0.TS | Cr0.EM)) throw new Fault(Vector.NM);
}

function fxsave(wide: boolean): Handler {
  return (cpu, i) => {
    checkFxsr(cpu);
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    if (lo & 15) throw new Fault(Vector.GP, 0);
    const length = imageLength(cpu);
    saveImage(cpu, imageView, 0, wide, (length - XMM_OFFSET) / 16);
    for (let at = 0; at < length; at += 8) {
      const a = (lo + at) | 0;
      write64(
        cpu,
        a,
        a >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi,
        imageView.getInt32(at, true),
        imageView.getInt32(at + 4, true),
      );
    }
  };
}

function fxrstor(wide: boolean): Handler {
  return (cpu, i) => {
    checkFxsr(cpu);
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    if (lo & 15) throw new Fault(Vector.GP, 0);
    const length = imageLength(cpu);
    for (let at = 0; at < length; at += 8) {
      const a = (lo + at) | 0;
      imageView.setInt32(at, read64(cpu, a, a >>> 0 < lo >>> 0 ? (hi + 1) | 0 : hi), true);
      imageView.setInt32(at + 4, cpu.hi, true);
    }
    loadImage(cpu, imageView, 0, wide, (length - XMM_OFFSET) / 16);
  };
}

const ldmxcsr: Handler = (cpu, i) => {
  checkSse(cpu);
  const value = read32(cpu, linear(cpu, i), cpu.eaHi);
  if (value & ~MXCSR_MASK) throw new Fault(Vector.GP, 0);
  cpu.fpu.mxcsr = value;
};

const stmxcsr: Handler = (cpu, i) => {
  checkSse(cpu);
  write32(cpu, linear(cpu, i), cpu.eaHi, cpu.fpu.mxcsr);
};

/** EMMS: every tag empty, and (as for any MMX instruction) TOP = 0 (SDM Vol. 1 Table 9-3). */
const emmsHandler: Handler = (cpu) => {
  mmxEnter(cpu);
  cpu.fpu.top = 0;
  emms(cpu);
};

export function install(t: OpcodeTable): void {
  const mem = OpFlag.ModRM | OpFlag.MemOnly;
  const save = fxsave(false);
  const restore = fxrstor(false);
  const saves: SizedHandlers = [save, save, fxsave(true)];
  const restores: SizedHandlers = [restore, restore, fxrstor(true)];
  t.defineGroup(0x0fae, 0, { name: 'fxsave', exec: saves, flags: mem });
  t.defineGroup(0x0fae, 1, { name: 'fxrstor', exec: restores, flags: mem });
  t.defineGroup(0x0fae, 2, { name: 'ldmxcsr', exec: ldmxcsr, flags: mem });
  t.defineGroup(0x0fae, 3, { name: 'stmxcsr', exec: stmxcsr, flags: mem });
  t.define(0x0f77, { name: 'emms', exec: emmsHandler });
}
