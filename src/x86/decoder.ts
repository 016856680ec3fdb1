/**
 * The x86 decoder: prefixes, REX, opcode maps, ModRM/SIB/displacement and immediates, into
 * an `Insn` whose handler the table chose by operand size.
 */
import { Fault, Vector } from './fault.js';
import { Insn, NO_REG, RIP_BASE } from './insn.js';
import type { JitTemplate } from './jit/templates.js';
import { Seg } from './segments.js';
import { Imm, type OpcodeTable, type OpEntry, OpFlag, type Slot } from './table.js';

/** Where the decoder reads bytes from: `bytes[pos]` up to `limit`, then `more()`. */
export interface ByteSource {
  bytes: Uint8Array;
  pos: number;
  limit: number;
  /** Called when `pos` reaches `limit`: makes more bytes readable or throws #PF/#GP. */
  more(): void;
}

const MAX_LENGTH = 15;

const invalid: OpEntry = {
  name: '(bad)',
  exec: () => {
    throw new Fault(Vector.UD);
  },
};

/** Registers of the 16-bit ModRM forms: [base, index] for rm 0-7 (BX=3 BP=5 SI=6 DI=7). */
const MODRM16: readonly (readonly [number, number])[] = [
  [3, 6],
  [3, 7],
  [5, 6],
  [5, 7],
  [6, NO_REG],
  [7, NO_REG],
  [5, NO_REG],
  [3, NO_REG],
];

export class Decoder {
  /** The table flags of the last decoded instruction (for block building). */
  lastFlags = 0;
  /** The last instruction's compiled-block template, if its entry has one (jit/templates.ts). */
  lastJit: JitTemplate | undefined = undefined;

  constructor(private readonly table: OpcodeTable) {}

  /**
   * Decodes one instruction for code of `codeSize` bits. Throws #UD for undefined opcodes
   * only when executed (the handler throws), #GP for instructions over 15 bytes.
   */
  decode(source: ByteSource, codeSize: number): Insn {
    let length = 0;
    const next = (): number => {
      if (source.pos >= source.limit) source.more();
      if (++length > MAX_LENGTH) throw new Fault(Vector.GP, 0);
      return source.bytes[source.pos++]!;
    };
    const long = codeSize === 64;
    let opsizeOverride = false;
    let adsizeOverride = false;
    let segment = -1;
    let rep = 0;
    let lock = false;
    let rex = 0;
    let lastSsePrefix = 0;
    let byte: number;
    for (;;) {
      byte = next();
      if (long && (byte & 0xf0) === 0x40) {
        rex = byte;
        continue;
      }
      let prefix = true;
      switch (byte) {
        case 0x26:
          segment = Seg.ES;
          break;
        case 0x2e:
          segment = Seg.CS;
          break;
        case 0x36:
          segment = Seg.SS;
          break;
        case 0x3e:
          segment = Seg.DS;
          break;
        case 0x64:
          segment = Seg.FS;
          break;
        case 0x65:
          segment = Seg.GS;
          break;
        case 0x66:
          opsizeOverride = true;
          if (lastSsePrefix === 0) lastSsePrefix = 0x66;
          break;
        case 0x67:
          adsizeOverride = true;
          break;
        case 0xf0:
          lock = true;
          break;
        case 0xf2:
          rep = 2;
          lastSsePrefix = 0xf2;
          break;
        case 0xf3:
          rep = 1;
          lastSsePrefix = 0xf3;
          break;
        default:
          prefix = false;
      }
      if (!prefix) break;
      rex = 0; // a REX prefix counts only directly before the opcode
    }
    let opcode = byte;
    let map = this.table.oneByte;
    if (byte === 0x0f) {
      const second = next();
      opcode = 0x0f00 | second;
      map = this.table.twoByte;
      if (second === 0x38 || second === 0x3a) {
        const third = next();
        map = second === 0x38 ? this.table.map38 : this.table.map3a;
        opcode = (0x0f0000 | (second << 8) | third) >>> 0;
      }
    }
    let slot: Slot | undefined = map[opcode & 0xff];
    let ssePrefix = 0;
    if (slot !== undefined && 'prefixed' in slot) {
      ssePrefix = mandatoryPrefix(slot.prefixed, lastSsePrefix, opsizeOverride);
      slot = prefixedSlot(slot.prefixed, ssePrefix);
    }
    // Groups need the ModRM byte to pick the entry.
    let modrm = -1;
    if (slot !== undefined && 'group' in slot) {
      modrm = next();
      const reg = (modrm >> 3) & 7;
      const forms = slot.registerForms?.[reg];
      slot =
        modrm >> 6 === 3 && forms?.[modrm & 7] !== undefined ? forms[modrm & 7] : slot.group[reg];
      if (slot !== undefined && 'prefixed' in slot) {
        ssePrefix = mandatoryPrefix(slot.prefixed, lastSsePrefix, opsizeOverride);
        slot = prefixedSlot(slot.prefixed, ssePrefix);
      }
    }
    const entry: OpEntry = slot !== undefined && 'exec' in slot ? slot : invalid;
    const flags = entry.flags ?? 0;

    const insn = new Insn(invalid.exec as Insn['exec']);
    insn.op = opcode;
    insn.rep = rep;
    insn.lock = lock;
    if (ssePrefix === 0x66) opsizeOverride = false;
    // Operand size.
    let opsize: number;
    if (long) {
      if (flags & OpFlag.Force64 || flags & OpFlag.Size64InLongMode) opsize = 64;
      else if (rex & 8) opsize = 64;
      else if (opsizeOverride) opsize = 16;
      else opsize = flags & OpFlag.Default64 ? 64 : 32;
    } else {
      opsize = (codeSize === 32) !== opsizeOverride ? 32 : 16;
      if (flags & OpFlag.Size64InLongMode) opsize = 32;
    }
    const adsize = long
      ? adsizeOverride
        ? 32
        : 64
      : (codeSize === 32) !== adsizeOverride
        ? 32
        : 16;
    insn.opsize = opsize;
    insn.adsize = adsize;

    const rexR = (rex & 4) << 1;
    const rexX = (rex & 2) << 2;
    const rexB = (rex & 1) << 3;
    const byteRegister = (n: number, extension: number): number =>
      rex !== 0 || n < 4 ? n | extension : 16 + n - 4;

    if (flags & OpFlag.RegInOpcode) {
      const n = opcode & 7;
      insn.reg = flags & OpFlag.ByteRm ? byteRegister(n, rexB) : n | rexB;
    }
    let defaultSegment = Seg.DS;
    if (flags & OpFlag.ModRM || modrm >= 0) {
      if (modrm < 0) modrm = next();
      const mod = modrm >> 6;
      const reg = (modrm >> 3) & 7;
      const rm = modrm & 7;
      insn.mod = mod;
      insn.reg = flags & OpFlag.ByteReg ? byteRegister(reg, rexR) : reg | rexR;
      if (mod === 3) {
        insn.rm = flags & OpFlag.ByteRm ? byteRegister(rm, rexB) : rm | rexB;
      } else if (adsize === 16) {
        const [base, index] = MODRM16[rm]!;
        if (mod === 0 && rm === 6) {
          insn.base = NO_REG;
          insn.dispLo = next() | (next() << 8);
        } else {
          insn.base = base;
          insn.index = index;
          if (base === 5) defaultSegment = Seg.SS;
          if (mod === 1) insn.dispLo = (next() << 24) >> 24;
          else if (mod === 2) insn.dispLo = ((next() | (next() << 8)) << 16) >> 16;
        }
        insn.dispHi = 0;
      } else {
        let base = rm;
        if (rm === 4) {
          const sib = next();
          insn.scale = sib >> 6;
          const index = ((sib >> 3) & 7) | rexX;
          insn.index = index === 4 ? NO_REG : index;
          base = sib & 7;
          if (base === 5 && mod === 0) {
            insn.base = NO_REG;
          } else {
            insn.base = base | rexB;
            if (base === 4 || base === 5) defaultSegment = Seg.SS;
          }
        } else if (rm === 5 && mod === 0) {
          insn.base = long ? RIP_BASE : NO_REG;
        } else {
          insn.base = rm | rexB;
          if (rm === 5) defaultSegment = Seg.SS;
        }
        let disp = 0;
        if (mod === 1) disp = (next() << 24) >> 24;
        else if (mod === 2 || (mod === 0 && insn.base < 0))
          disp = next() | (next() << 8) | (next() << 16) | (next() << 24);
        insn.dispLo = disp;
        insn.dispHi = disp >> 31;
      }
    }
    insn.seg = segment >= 0 && !(long && segment < Seg.FS) ? segment : defaultSegment;

    // Immediates.
    switch (entry.imm ?? Imm.None) {
      case Imm.Ib:
      case Imm.Jb: {
        const value = (next() << 24) >> 24;
        insn.immLo = value;
        insn.immHi = value >> 31;
        break;
      }
      case Imm.Ub:
        insn.immLo = next();
        break;
      case Imm.Iw:
        insn.immLo = next() | (next() << 8);
        break;
      case Imm.Iz:
      case Imm.Jz: {
        if (opsize === 16) {
          const value = next() | (next() << 8);
          insn.immLo = entry.imm === Imm.Jz ? (value << 16) >> 16 : value;
        } else {
          insn.immLo = next() | (next() << 8) | (next() << 16) | (next() << 24);
        }
        insn.immHi = opsize === 16 ? insn.immLo >> 31 : insn.immLo >> 31;
        break;
      }
      case Imm.Iv: {
        if (opsize === 16) insn.immLo = next() | (next() << 8);
        else insn.immLo = next() | (next() << 8) | (next() << 16) | (next() << 24);
        if (opsize === 64) insn.immHi = next() | (next() << 8) | (next() << 16) | (next() << 24);
        break;
      }
      case Imm.IwIb:
        insn.immLo = next() | (next() << 8);
        insn.imm2 = next();
        break;
      case Imm.Ap:
        insn.immLo =
          opsize === 16
            ? next() | (next() << 8)
            : next() | (next() << 8) | (next() << 16) | (next() << 24);
        insn.imm2 = next() | (next() << 8);
        break;
      case Imm.Ob: {
        insn.base = NO_REG;
        if (adsize === 16) insn.dispLo = next() | (next() << 8);
        else insn.dispLo = next() | (next() << 8) | (next() << 16) | (next() << 24);
        if (adsize === 64) insn.dispHi = next() | (next() << 8) | (next() << 16) | (next() << 24);
        break;
      }
    }
    insn.len = length;
    const undefinedForm =
      entry === invalid ||
      (flags & OpFlag.MemOnly && insn.mod === 3) ||
      (long && flags & OpFlag.Invalid64) ||
      (lock && !(flags & OpFlag.Lockable && insn.mod !== 3));
    insn.exec = undefinedForm ? (invalid.exec as Insn['exec']) : pickHandler(entry, opsize);
    this.lastFlags = undefinedForm ? OpFlag.EndsBlock : flags;
    insn.branch = !undefinedForm && (flags & OpFlag.Branch) !== 0;
    this.lastJit = undefinedForm ? undefined : entry.jit;
    insn.registerOnly =
      !undefinedForm &&
      modrm >= 0 &&
      insn.mod === 3 &&
      !(flags & (OpFlag.EndsBlock | OpFlag.Branch));
    return insn;
  }
}

type Prefixed = { none?: Slot; p66?: Slot; pf3?: Slot; pf2?: Slot };

/** Which mandatory prefix selects the entry: F2/F3 (the last one given) before 66. */
function mandatoryPrefix(p: Prefixed, lastSsePrefix: number, opsizeOverride: boolean): number {
  if (lastSsePrefix === 0xf2 && p.pf2) return 0xf2;
  if (lastSsePrefix === 0xf3 && p.pf3) return 0xf3;
  if (opsizeOverride && p.p66) return 0x66;
  return 0;
}

function prefixedSlot(p: Prefixed, prefix: number): Slot | undefined {
  switch (prefix) {
    case 0xf2:
      return p.pf2;
    case 0xf3:
      return p.pf3;
    case 0x66:
      return p.p66;
    default:
      return p.none;
  }
}

function pickHandler(entry: OpEntry, opsize: number): Insn['exec'] {
  const exec = entry.exec;
  if (typeof exec === 'function') return exec;
  return exec[opsize === 16 ? 0 : opsize === 32 ? 1 : 2];
}
