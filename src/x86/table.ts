/**
 * The instruction table: one entry per opcode (and mandatory prefix, ModRM.reg group member
 * or register form), giving how to decode it and the handler that executes it. The decoder,
 * the interpreter and the tests all read this one table.
 */
import type { Handler } from './insn.js';
import type { JitTemplate } from './jit/templates.js';

export const enum Imm {
  None = 0,
  /** imm8, sign-extended to the operand size. */
  Ib = 1,
  /** imm8, zero-extended (port numbers, shift counts, INT n, ENTER level). */
  Ub = 2,
  /** imm16. */
  Iw = 3,
  /** imm16 or imm32 by operand size; sign-extended to 64 bits with a 64-bit operand. */
  Iz = 4,
  /** imm16, imm32 or imm64 by operand size (MOV r, imm). */
  Iv = 5,
  /** Relative branch displacement, 8 bits. */
  Jb = 6,
  /** Relative branch displacement, 16 or 32 bits. */
  Jz = 7,
  /** ENTER: imm16 then imm8. */
  IwIb = 8,
  /** Far pointer: offset (16 or 32 bits) then selector. */
  Ap = 9,
  /** A0-A3: an address-size offset (moffs). */
  Ob = 10,
}

export const enum OpFlag {
  /** The instruction has a ModRM byte. */
  ModRM = 1 << 0,
  /** The ModRM reg operand is a byte register. */
  ByteReg = 1 << 1,
  /** The ModRM r/m operand (or the opcode's register) is a byte register. */
  ByteRm = 1 << 2,
  Byte = (1 << 1) | (1 << 2),
  /** In 64-bit mode the operand size defaults to 64 (PUSH, POP, near branches …). */
  Default64 = 1 << 3,
  /** In 64-bit mode the operand size is always 64 (near JMP/CALL/RET, Jcc, LOOP). */
  Force64 = 1 << 4,
  /** #UD in 64-bit mode. */
  Invalid64 = 1 << 5,
  /** Ends a decoded block: branches, mode changes, exits, anything that changes how the
   * following bytes decode or whether interrupts are taken. */
  EndsBlock = 1 << 6,
  /** LOCK is allowed (with a memory destination). */
  Lockable = 1 << 7,
  /** The register operand is in the opcode's low three bits (50+r, B8+r …). */
  RegInOpcode = 1 << 8,
  /** Only the memory form exists; the register form is #UD. */
  MemOnly = 1 << 9,
  /** Operand size is fixed at 32 bits in 16/32-bit code and 64 in 64-bit code (MOV CR/DR). */
  Size64InLongMode = 1 << 10,
  /** The handler sets RIP itself (jumps, calls, returns, INT, IRET, SYSCALL …); ends the block.
   * Every other handler leaves RIP alone and the run loop steps past it. */
  Branch = 1 << 11,
  /** A conditional branch (Jcc): a decoded block may go on past it, on the not-taken path. */
  Conditional = 1 << 12,
  /** A direct jump or call (JMP rel, CALL rel): a decoded block may go on at its target when
   * that is in the same page. */
  DirectJump = 1 << 13,
}

/** Handlers by operand size: [16, 32, 64]. */
export type SizedHandlers = readonly [Handler, Handler, Handler];

export interface OpEntry {
  name: string;
  exec: Handler | SizedHandlers;
  flags?: number;
  imm?: Imm;
  /** Inline source for compiled blocks, for the forms it covers (jit/templates.ts). */
  jit?: JitTemplate;
}

/** What a table slot holds: an entry, a ModRM.reg group, or entries by mandatory prefix. */
export type Slot =
  | OpEntry
  | {
      group: readonly (Slot | undefined)[];
      registerForms?: readonly (readonly (Slot | undefined)[] | undefined)[];
    }
  | { prefixed: { none?: Slot; p66?: Slot; pf3?: Slot; pf2?: Slot } };

export class OpcodeTable {
  readonly oneByte: (Slot | undefined)[] = new Array(256);
  readonly twoByte: (Slot | undefined)[] = new Array(256);
  readonly map38: (Slot | undefined)[] = new Array(256);
  readonly map3a: (Slot | undefined)[] = new Array(256);

  private mapOf(opcode: number): { map: (Slot | undefined)[]; index: number } {
    if (opcode < 0x100) return { map: this.oneByte, index: opcode };
    if (opcode < 0x1000) return { map: this.twoByte, index: opcode & 0xff };
    if (opcode >> 8 === 0x0f38) return { map: this.map38, index: opcode & 0xff };
    return { map: this.map3a, index: opcode & 0xff };
  }

  /** Defines an opcode; a second definition of the same slot is a programming error. */
  define(opcode: number, slot: Slot): void {
    const { map, index } = this.mapOf(opcode);
    if (map[index] !== undefined) throw new Error(`opcode ${opcode.toString(16)} defined twice`);
    map[index] = slot;
  }

  /** Defines member `reg` (ModRM.reg) of group opcode `opcode`. */
  defineGroup(opcode: number, reg: number, entry: Slot): void {
    const { map, index } = this.mapOf(opcode);
    let slot = map[index];
    if (slot === undefined) {
      slot = { group: new Array<Slot | undefined>(8) };
      map[index] = slot;
    }
    if (!('group' in slot)) throw new Error(`opcode ${opcode.toString(16)} is not a group`);
    const group = slot.group as (Slot | undefined)[];
    if (group[reg] !== undefined)
      throw new Error(`opcode ${opcode.toString(16)} /${reg} defined twice`);
    group[reg] = entry;
  }

  /** Defines the register form (mod = 3) `rm` of group member `reg`, e.g. 0F 01 C1 VMCALL. */
  defineRegisterForm(opcode: number, reg: number, rm: number, entry: OpEntry): void {
    const { map, index } = this.mapOf(opcode);
    let slot = map[index];
    if (slot === undefined) {
      slot = { group: new Array<Slot | undefined>(8) };
      map[index] = slot;
    }
    if (!('group' in slot)) throw new Error(`opcode ${opcode.toString(16)} is not a group`);
    const forms = (slot.registerForms ?? new Array(8)) as (Slot | undefined)[][];
    (slot as { registerForms?: unknown }).registerForms = forms;
    const row = forms[reg] ?? new Array<Slot | undefined>(8);
    forms[reg] = row;
    row[rm] = entry;
  }

  /** Defines an SSE-style opcode whose meaning depends on the 66/F3/F2 prefix. */
  definePrefixed(opcode: number, prefix: 'none' | 'p66' | 'pf3' | 'pf2', entry: Slot): void {
    const { map, index } = this.mapOf(opcode);
    let slot = map[index];
    if (slot === undefined) {
      slot = { prefixed: {} };
      map[index] = slot;
    }
    if (!('prefixed' in slot)) throw new Error(`opcode ${opcode.toString(16)} is not prefixed`);
    if (slot.prefixed[prefix] !== undefined)
      throw new Error(`opcode ${opcode.toString(16)} ${prefix} defined twice`);
    slot.prefixed[prefix] = entry;
  }
}
