/** A decoded instruction: its handler and pre-resolved operands. */
import type { Cpu } from './cpu.js';
import type { JitTemplate } from './jit/templates.js';

export type Handler = (cpu: Cpu, insn: Insn) => void;

/** No base or index register. */
export const NO_REG = -1;
/** `Insn.base` value for RIP-relative addressing. */
export const RIP_BASE = -2;

/** Bit positions in `Insn.fields`. */
const enum Field {
  Reg = 0,
  Rm = 5,
  Mod = 10,
  Base = 12,
  Index = 17,
  Scale = 22,
  Seg = 24,
  Rep = 27,
  Lock = 29,
}

/** No base, no index, segment DS. */
const DEFAULT_FIELDS =
  ((NO_REG - RIP_BASE) << Field.Base) | ((NO_REG - NO_REG) << Field.Index) | (3 << Field.Seg);

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
  /**
   * The ModRM/SIB operands, segment and prefixes, packed into one integer (see the accessors
   * below): interpreting cold kernel code is bound by cache misses on these objects, and 9
   * fields fewer make each instruction 72 bytes smaller.
   */
  private fields = DEFAULT_FIELDS;
  /** Sign-extended displacement as lo/hi. */
  dispLo = 0;
  dispHi = 0;
  /** Immediate (sign- or zero-extended per the instruction) as lo/hi, and a second immediate
   * (ENTER's level, a far pointer's selector). */
  immLo = 0;
  immHi = 0;
  imm2 = 0;
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

  /** ModRM.reg with REX.R (or the register in the opcode's low bits, with REX.B). For byte
   * operands, 16-19 mean AH CH DH BH. */
  get reg(): number {
    return this.fields & 31;
  }
  set reg(value: number) {
    this.setField(Field.Reg, 31, value);
  }
  /** ModRM.mod; 3 means the r/m operand is the register `rm`. */
  get mod(): number {
    return (this.fields >> Field.Mod) & 3;
  }
  set mod(value: number) {
    this.setField(Field.Mod, 3, value);
  }
  /** ModRM.rm with REX.B (byte operands as for `reg`). */
  get rm(): number {
    return (this.fields >> Field.Rm) & 31;
  }
  set rm(value: number) {
    this.setField(Field.Rm, 31, value);
  }
  /** Memory operand: base register (NO_REG, RIP_BASE or 0-15). */
  get base(): number {
    return ((this.fields >> Field.Base) & 31) + RIP_BASE;
  }
  set base(value: number) {
    this.setField(Field.Base, 31, value - RIP_BASE);
  }
  /** Index register (NO_REG or 0-15). */
  get index(): number {
    return ((this.fields >> Field.Index) & 31) + NO_REG;
  }
  set index(value: number) {
    this.setField(Field.Index, 31, value - NO_REG);
  }
  /** Scale shift (0-3). */
  get scale(): number {
    return (this.fields >> Field.Scale) & 3;
  }
  set scale(value: number) {
    this.setField(Field.Scale, 3, value);
  }
  /** The memory operand's segment. */
  get seg(): number {
    return (this.fields >> Field.Seg) & 7;
  }
  set seg(value: number) {
    this.setField(Field.Seg, 7, value);
  }
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  get rep(): number {
    return (this.fields >> Field.Rep) & 3;
  }
  set rep(value: number) {
    this.setField(Field.Rep, 3, value);
  }
  get lock(): boolean {
    return (this.fields & (1 << Field.Lock)) !== 0;
  }
  set lock(value: boolean) {
    this.setField(Field.Lock, 1, value ? 1 : 0);
  }

  private setField(shift: Field, mask: number, value: number): void {
    if ((value & mask) !== value) throw new RangeError(`instruction field out of range: ${value}`);
    this.fields = (this.fields & ~(mask << shift)) | (value << shift);
  }
}
