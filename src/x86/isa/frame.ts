/** ENTER and LEAVE: the procedure stack frame (C8, C9). */
import type { Cpu } from '../cpu.js';
import type { Handler } from '../insn.js';
import { Seg } from '../segments.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { getRegSized, readSized, setRegSized } from './operands.js';
import { sized } from './sized.js';
import { keepingStack, pop, push } from './stack.js';

const RSP = 8;
const RBP = 10;

/** The stack pointer minus `bytes` at the stack-address size. */
function lowerStack(cpu: Cpu, bytes: number): void {
  const gpr = cpu.gpr;
  const sp = gpr[RSP]!;
  if (cpu.stackSize === 64) {
    const lo = (sp - bytes) | 0;
    if (lo >>> 0 > sp >>> 0) gpr[RSP + 1] = (gpr[RSP + 1]! - 1) | 0;
    gpr[RSP] = lo;
  } else if (cpu.stackSize === 32) {
    gpr[RSP] = (sp - bytes) | 0;
  } else {
    gpr[RSP] = (sp & ~0xffff) | ((sp - bytes) & 0xffff);
  }
}

const enter =
  (size: number): Handler =>
  (cpu, i) => {
    const allocate = i.immLo & 0xffff;
    const level = i.imm2 & 31;
    const bytes = size >> 3;
    keepingStack(cpu, () => {
      const gpr = cpu.gpr;
      const bp = getRegSized(cpu, 5, size);
      push(cpu, size, bp, size === 64 ? cpu.hi : 0);
      const frameLo = gpr[RSP]!;
      const frameHi = gpr[RSP + 1]!;
      if (level > 0) {
        // Copies the enclosing frames' pointers, walking rBP down at the stack-address size.
        let lo = gpr[RBP]!;
        let hi = gpr[RBP + 1]!;
        for (let k = 1; k < level; k++) {
          let address: number;
          let addressHi = 0;
          if (cpu.stackSize === 64) {
            const next = (lo - bytes) | 0;
            if (next >>> 0 > lo >>> 0) hi = (hi - 1) | 0;
            lo = next;
            address = lo;
            addressHi = hi;
          } else if (cpu.stackSize === 32) {
            lo = (lo - bytes) | 0;
            address = (cpu.segBaseLo[Seg.SS]! + lo) | 0;
          } else {
            lo = (lo - bytes) & 0xffff;
            address = (cpu.segBaseLo[Seg.SS]! + lo) | 0;
          }
          const value = readSized(cpu, address, addressHi, size);
          push(cpu, size, value, size === 64 ? cpu.hi : 0);
        }
        push(cpu, size, size === 16 ? frameLo & 0xffff : frameLo, frameHi);
      }
      setRegSized(cpu, 5, size, size === 16 ? frameLo & 0xffff : frameLo, frameHi);
      lowerStack(cpu, allocate);
    });
  };

const leave =
  (size: number): Handler =>
  (cpu) => {
    keepingStack(cpu, () => {
      const gpr = cpu.gpr;
      if (cpu.stackSize === 64) {
        gpr[RSP] = gpr[RBP]!;
        gpr[RSP + 1] = gpr[RBP + 1]!;
      } else if (cpu.stackSize === 32) {
        gpr[RSP] = gpr[RBP]!;
      } else {
        gpr[RSP] = (gpr[RSP]! & ~0xffff) | (gpr[RBP]! & 0xffff);
      }
      const value = pop(cpu, size);
      setRegSized(cpu, 5, size, value, size === 64 ? cpu.hi : 0);
    });
  };

export function install(t: OpcodeTable): void {
  t.define(0xc8, { name: 'enter', exec: sized(enter), flags: OpFlag.Default64, imm: Imm.IwIb });
  t.define(0xc9, { name: 'leave', exec: sized(leave), flags: OpFlag.Default64 });
}
