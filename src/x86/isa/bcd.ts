/**
 * The BCD adjustments (DAA DAS AAA AAS AAM AAD, #UD in 64-bit mode) and XLAT.
 *
 * Where the SDM leaves flags undefined, they get the values an AMD Zen 3 produces, which
 * bcd.test.ts checks against the host: DAA/DAS set OF when bit 7 flipped by the adjustment;
 * AAA/AAS flag the 16-bit AX ± 106h; AAM clears CF OF AF; AAD flags the 8-bit addition.
 */
import type { Cpu } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag, readFlags, setArithFlags, szpFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { AluOp, alu } from './alu.js';
import { readSized, segmentAddress, setReg16 } from './operands.js';

const CF = Flag.CF;
const AF = Flag.AF;
const OF = Flag.OF;

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
    setArithFlags(cpu, szpFlags(8, al, 0) | cf | af | (of ? OF : 0));
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
    setArithFlags(cpu, szpFlags(16, ax, 0) | adjusted);
  };

/** AAM imm8 (D4): AH ← AL / imm, AL ← AL mod imm; #DE on zero. */
const aam: Handler = (cpu, i) => {
  const base = i.immLo & 0xff;
  if (base === 0) throw new Fault(Vector.DE);
  const al = cpu.gpr[0]! & 0xff;
  const q = Math.floor(al / base);
  const r = al - q * base;
  setReg16(cpu, 0, (q << 8) | r);
  setArithFlags(cpu, szpFlags(8, r, 0));
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

export function install(t: OpcodeTable): void {
  const legacy = OpFlag.Invalid64;
  t.define(0x27, { name: 'daa', exec: decimalAdjust(false), flags: legacy });
  t.define(0x2f, { name: 'das', exec: decimalAdjust(true), flags: legacy });
  t.define(0x37, { name: 'aaa', exec: asciiAdjust(false), flags: legacy });
  t.define(0x3f, { name: 'aas', exec: asciiAdjust(true), flags: legacy });
  t.define(0xd4, { name: 'aam', exec: aam, flags: legacy, imm: Imm.Ub });
  t.define(0xd5, { name: 'aad', exec: aad, flags: legacy, imm: Imm.Ub });
  t.define(0xd7, { name: 'xlat', exec: xlat });
}
