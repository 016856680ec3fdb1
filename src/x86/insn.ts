/** A decoded instruction: its handler and pre-resolved operands. */
import type { Cpu } from './cpu.js';

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

/** Bit positions in `Insn.meta`; the offset, signed, takes the top bits. */
const enum Meta {
  Len = 0,
  Opsize = 4,
  Adsize = 6,
  Branch = 8,
  RegisterOnly = 9,
  Offset = 18,
}

/** An operand or address size in bits (16, 32, 64; 8 in tests) as a 2-bit code. */
function sizeCode(bits: number): number {
  const code = 28 - Math.clz32(bits);
  if (code < 0 || code > 3 || 8 << code !== bits) throw new RangeError(`bad size: ${bits}`);
  return code;
}

/** Size codes for 32-bit operands and 64-bit addresses. */
const DEFAULT_META = (2 << Meta.Opsize) | (3 << Meta.Adsize);

/** Words per stored instruction: handler id, opcode, meta, fields, displacement lo/hi,
 * immediate lo/hi. */
export const INSN_WORDS = 8;

const enum Word {
  Handler = 0,
  Op = 1,
  Meta = 2,
  Fields = 3,
  DispLo = 4,
  DispHi = 5,
  ImmLo = 6,
  ImmHi = 7,
}

/**
 * Handlers by id: a stored instruction names its handler by index here. The handlers are the
 * opcode table's own functions, interned as forms are first decoded: a few hundred.
 */
const handlers: Handler[] = [];
const handlerIds = new Map<Handler, number>();

function handlerId(handler: Handler): number {
  let id = handlerIds.get(handler);
  if (id === undefined) {
    id = handlers.length;
    handlers.push(handler);
    handlerIds.set(handler, id);
  }
  return id;
}

/** The handler of the instruction stored at word `at` of `words`. */
export function handlerAt(words: Int32Array, at: number): Handler {
  return handlers[words[at + Word.Handler]!]!;
}

/** The block offset of the instruction stored at word `at` of `words`. */
export function offsetAt(words: Int32Array, at: number): number {
  return words[at + Word.Meta]! >> Meta.Offset;
}

export class Insn {
  exec: Handler;
  /** The opcode: 0x00-0xff one-byte, 0x0f00-0x0fff two-byte, 0x0f3800.., 0x0f3a00.. */
  op = 0;
  /**
   * Offset, length, sizes and the branch and register-only bits packed into one integer, and
   * the ModRM/SIB operands, segment and prefixes into another (see the accessors below): the
   * two words an instruction has when stored (`store`).
   */
  private meta = DEFAULT_META;
  private fields = DEFAULT_FIELDS;
  /** Sign-extended displacement as lo/hi. ENTER and far pointers, which have none, keep
   * their second immediate in `dispLo` (`imm2`). */
  dispLo = 0;
  dispHi = 0;
  /** Immediate (sign- or zero-extended per the instruction) as lo/hi. */
  immLo = 0;
  immHi = 0;

  constructor(exec: Handler) {
    this.exec = exec;
  }

  /** Byte offset from the start of its block (negative after a jump back within the page). */
  get offset(): number {
    return this.meta >> Meta.Offset;
  }
  set offset(value: number) {
    if (value < -(1 << 13) || value >= 1 << 13)
      throw new RangeError(`offset out of range: ${value}`);
    this.meta = (this.meta & ((1 << Meta.Offset) - 1)) | (value << Meta.Offset);
  }
  /** Length in bytes. */
  get len(): number {
    return this.meta & 15;
  }
  set len(value: number) {
    this.setMeta(Meta.Len, 15, value);
  }
  /** Effective operand and address sizes in bits. */
  get opsize(): number {
    return 8 << ((this.meta >> Meta.Opsize) & 3);
  }
  set opsize(value: number) {
    this.setMeta(Meta.Opsize, 3, sizeCode(value));
  }
  get adsize(): number {
    return 8 << ((this.meta >> Meta.Adsize) & 3);
  }
  set adsize(value: number) {
    this.setMeta(Meta.Adsize, 3, sizeCode(value));
  }
  /** The handler sets RIP (OpFlag.Branch). */
  get branch(): boolean {
    return (this.meta & (1 << Meta.Branch)) !== 0;
  }
  set branch(value: boolean) {
    this.setMeta(Meta.Branch, 1, value ? 1 : 0);
  }
  /** Register operands only (ModRM with mod = 3) and not block-ending: it touches no memory,
   * so it cannot write code, reach MMIO or exit, and a compiled block need not look at
   * `cpu.stop` after it. */
  get registerOnly(): boolean {
    return (this.meta & (1 << Meta.RegisterOnly)) !== 0;
  }
  set registerOnly(value: boolean) {
    this.setMeta(Meta.RegisterOnly, 1, value ? 1 : 0);
  }
  /** A second immediate: ENTER's level, a far pointer's selector. */
  get imm2(): number {
    return this.dispLo;
  }
  set imm2(value: number) {
    this.dispLo = value;
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

  /**
   * Stores the instruction as INSN_WORDS integers at word `at` of `words`. The block cache
   * keeps a block's instructions so, side by side: as objects each cost a cache miss of its
   * own when cold kernel code runs, where stored two share a line and the next are prefetched.
   */
  store(words: Int32Array, at: number): void {
    words[at + Word.Handler] = handlerId(this.exec);
    words[at + Word.Op] = this.op;
    words[at + Word.Meta] = this.meta;
    words[at + Word.Fields] = this.fields;
    words[at + Word.DispLo] = this.dispLo;
    words[at + Word.DispHi] = this.dispHi;
    words[at + Word.ImmLo] = this.immLo;
    words[at + Word.ImmHi] = this.immHi;
  }

  /** Becomes the instruction stored at word `at` of `words`, all but its handler (the
   * interpreter calls `handlerAt` and moves one Insn along a block). */
  load(words: Int32Array, at: number): void {
    this.op = words[at + Word.Op]!;
    this.meta = words[at + Word.Meta]!;
    this.fields = words[at + Word.Fields]!;
    this.dispLo = words[at + Word.DispLo]!;
    this.dispHi = words[at + Word.DispHi]!;
    this.immLo = words[at + Word.ImmLo]!;
    this.immHi = words[at + Word.ImmHi]!;
  }

  /** The instruction stored at word `at` of `words`, as an object of its own. */
  static stored(words: Int32Array, at: number): Insn {
    const insn = new Insn(handlerAt(words, at));
    insn.load(words, at);
    return insn;
  }

  private setMeta(shift: Meta, mask: number, value: number): void {
    if ((value & mask) !== value) throw new RangeError(`instruction field out of range: ${value}`);
    this.meta = (this.meta & ~(mask << shift)) | (value << shift);
  }

  private setField(shift: Field, mask: number, value: number): void {
    if ((value & mask) !== value) throw new RangeError(`instruction field out of range: ${value}`);
    this.fields = (this.fields & ~(mask << shift)) | (value << shift);
  }
}

/**
 * The instruction the interpreter is at: an Insn loaded from each stored instruction in turn.
 * A class of its own, so that its fields, rewritten at every instruction, do not make V8 treat
 * the fields of every Insn as changing: those a compiled block holds are constants it folds.
 */
export class InsnCursor extends Insn {}
