/** The conditional moves and sets: CMOVcc (0F 40-4F) and SETcc (0F 90-9F). */
import { condition } from '../flags.js';
import type { Handler } from '../insn.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { readRmSized, setRegSized, writeRm8 } from './operands.js';
import { sized } from './sized.js';

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

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  for (let cc = 0; cc < 16; cc++) {
    t.define(0x0f40 + cc, { name: 'cmovcc', exec: sized(cmov), flags: rm });
    t.define(0x0f90 + cc, { name: 'setcc', exec: setcc, flags: rm | OpFlag.ByteRm });
  }
}
