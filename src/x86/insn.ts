/** A decoded instruction: its handler and pre-resolved operands. */
import type { Cpu } from './cpu.js';
import type { JitTemplate } from './jit/templates.js';

export type Handler = (cpu: Cpu, insn: Insn) => void;

/** No base or index register. */
export const NO_REG = -1;
/** `Insn.base` value for RIP-relative addressing. */
export const RIP_BASE = -2;

export class Insn {
  exec: Handler;
  /** Byte offset from the start of its block. */
  offset = 0;
  /** Length in bytes. */
  len = 0;
  /** The opcode: 0x00-0xff one-byte, 0x0f00-0x0fff two-byte, 0x0f3800.., 0x0f3a00.. */
  op = 0;
  /** Effective operand and address sizes in bits. */
  opsize = 32;
  adsize = 64;
  /** ModRM.reg with REX.R (or the register in the opcode's low bits, with REX.B). For byte
   * operands, 16-19 mean AH CH DH BH. */
  reg = 0;
  /** ModRM.mod; 3 means the r/m operand is the register `rm`. */
  mod = 0;
  /** ModRM.rm with REX.B (byte operands as for `reg`). */
  rm = 0;
  /** Memory operand: base register (NO_REG, RIP_BASE or 0-15), index register, scale shift,
   * sign-extended displacement as lo/hi, and segment. */
  base = NO_REG;
  index = NO_REG;
  scale = 0;
  dispLo = 0;
  dispHi = 0;
  seg = 3;
  /** Immediate (sign- or zero-extended per the instruction) as lo/hi, and a second immediate
   * (ENTER's level, a far pointer's selector). */
  immLo = 0;
  immHi = 0;
  imm2 = 0;
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  rep = 0;
  lock = false;
  /** The handler sets RIP (OpFlag.Branch). */
  branch = false;
  /** Register operands only (ModRM with mod = 3) and not block-ending: it touches no memory,
   * so it cannot write code, reach MMIO or exit, and a compiled block need not look at
   * `cpu.stop` after it. */
  registerOnly = false;
  /** The entry's compiled-block template, if it has one (jit/templates.ts). */
  jit: JitTemplate | undefined = undefined;
  /** The instruction's mandatory-prefix-free SSE prefix: 0 none, 0x66, 0xf3, 0xf2. */
  prefix = 0;

  constructor(exec: Handler) {
    this.exec = exec;
  }
}
