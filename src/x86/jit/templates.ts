/**
 * Source templates for the compiled-block tier (block.ts): for the commonest register-only
 * forms, straight-line JavaScript with the register numbers and immediates as literals, so
 * V8 compiles them to a few machine instructions. Every other form runs its handler.
 *
 * A template returns undefined when it does not cover the decoded form; a form it covers
 * touches no memory and cannot fault. In the source, `g` is `cpu.gpr` and `lz` is `cpu.lazy`.
 */
import { Lazy, LazyOp } from '../flags.js';
import type { Insn } from '../insn.js';

export type JitTemplate = (insn: Insn) => string | undefined;

/** The ALU operations a template covers (ADC/SBB need the carry: they use their handler). */
export const enum JitAlu {
  Add = 0,
  Or = 1,
  And = 4,
  Sub = 5,
  Xor = 6,
  Cmp = 7,
}

const sizeOf = (insn: Insn): number => insn.opsize;

/** Records the lazy flags as alu() does. */
function lazy(
  op: LazyOp,
  size: number,
  res: string,
  resHi: string,
  a: string,
  aHi: string,
  b: string,
  bHi: string,
): string {
  return (
    `lz[${Lazy.Op}] = ${op}; lz[${Lazy.Size}] = ${size}; lz[${Lazy.Res}] = ${res}; lz[${Lazy.ResHi}] = ${resHi}; ` +
    `lz[${Lazy.A}] = ${a}; lz[${Lazy.AHi}] = ${aHi}; lz[${Lazy.B}] = ${b}; lz[${Lazy.BHi}] = ${bHi};`
  );
}

/**
 * `dst op= src` on 32- or 64-bit registers (src a register or an immediate), writing the
 * result unless the op is CMP.
 */
function aluSource(
  op: JitAlu,
  size: number,
  dst: number,
  src: { reg: number } | { lo: number; hi: number },
): string | undefined {
  if (size !== 32 && size !== 64) return undefined;
  const bLo = 'reg' in src ? `g[${src.reg * 2}]` : `${src.lo | 0}`;
  const bHi = 'reg' in src ? `g[${src.reg * 2 + 1}]` : `${src.hi | 0}`;
  const wide = size === 64;
  const lines = [`const a = g[${dst * 2}], b = ${bLo};`];
  if (wide) lines.push(`const aH = g[${dst * 2 + 1}], bH = ${bHi};`);
  let lazyOp: LazyOp;
  switch (op) {
    case JitAlu.Add:
      lines.push('const r = (a + b) | 0;');
      if (wide) lines.push('const rH = (aH + bH + ((r >>> 0) < (a >>> 0) ? 1 : 0)) | 0;');
      lazyOp = LazyOp.Add;
      break;
    case JitAlu.Sub:
    case JitAlu.Cmp:
      lines.push('const r = (a - b) | 0;');
      if (wide) lines.push('const rH = (aH - bH - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;');
      lazyOp = LazyOp.Sub;
      break;
    case JitAlu.Or:
      lines.push('const r = a | b;');
      if (wide) lines.push('const rH = aH | bH;');
      lazyOp = LazyOp.Logic;
      break;
    case JitAlu.And:
      lines.push('const r = a & b;');
      if (wide) lines.push('const rH = aH & bH;');
      lazyOp = LazyOp.Logic;
      break;
    default:
      lines.push('const r = a ^ b;');
      if (wide) lines.push('const rH = aH ^ bH;');
      lazyOp = LazyOp.Logic;
  }
  if (op !== JitAlu.Cmp) lines.push(`g[${dst * 2}] = r; g[${dst * 2 + 1}] = ${wide ? 'rH' : '0'};`);
  lines.push(
    wide
      ? lazy(lazyOp, 64, 'r', 'rH', 'a', 'aH', 'b', 'bH')
      : lazy(lazyOp, 32, 'r', '0', 'a', '0', 'b', '0'),
  );
  return `{ ${lines.join(' ')} }`;
}

/** E ← E op G (01 09 21 29 31 39), register form. */
export const aluEG =
  (op: JitAlu): JitTemplate =>
  (i) =>
    i.mod === 3 ? aluSource(op, sizeOf(i), i.rm, { reg: i.reg }) : undefined;

/** G ← G op E (03 0B 23 2B 33 3B), register form. */
export const aluGE =
  (op: JitAlu): JitTemplate =>
  (i) =>
    i.mod === 3 ? aluSource(op, sizeOf(i), i.reg, { reg: i.rm }) : undefined;

/** E ← E op imm (81 83 /op), register form. */
export const aluEI =
  (op: JitAlu): JitTemplate =>
  (i) =>
    i.mod === 3 ? aluSource(op, sizeOf(i), i.rm, { lo: i.immLo, hi: i.immHi }) : undefined;

/** rAX ← rAX op imm (05 0D 25 2D 35 3D). */
export const aluAccI =
  (op: JitAlu): JitTemplate =>
  (i) =>
    aluSource(op, sizeOf(i), 0, { lo: i.immLo, hi: i.immHi });

/** TEST E, G (85), register form. */
export const testEG: JitTemplate = (i) => {
  if (i.mod !== 3) return undefined;
  const size = sizeOf(i);
  if (size === 64) {
    return `{ const a = g[${i.rm * 2}], aH = g[${i.rm * 2 + 1}], b = g[${i.reg * 2}], bH = g[${i.reg * 2 + 1}]; ${lazy(LazyOp.Logic, 64, 'a & b', 'aH & bH', 'a', 'aH', 'b', 'bH')} }`;
  }
  if (size === 32)
    return `{ const a = g[${i.rm * 2}], b = g[${i.reg * 2}]; ${lazy(LazyOp.Logic, 32, 'a & b', '0', 'a', '0', 'b', '0')} }`;
  return undefined;
};

/** MOV between registers (89 / 8B), 32 or 64 bits. */
function movRegister(dst: number, src: number, size: number): string | undefined {
  if (size === 64) return `g[${dst * 2}] = g[${src * 2}]; g[${dst * 2 + 1}] = g[${src * 2 + 1}];`;
  if (size === 32) return `g[${dst * 2}] = g[${src * 2}]; g[${dst * 2 + 1}] = 0;`;
  return undefined;
}
export const movEG: JitTemplate = (i) =>
  i.mod === 3 ? movRegister(i.rm, i.reg, sizeOf(i)) : undefined;
export const movGE: JitTemplate = (i) =>
  i.mod === 3 ? movRegister(i.reg, i.rm, sizeOf(i)) : undefined;

/** MOV r, imm (B8+r), 32 or 64 bits. */
export const movImm: JitTemplate = (i) => {
  const size = sizeOf(i);
  if (size === 64) return `g[${i.reg * 2}] = ${i.immLo | 0}; g[${i.reg * 2 + 1}] = ${i.immHi | 0};`;
  if (size === 32) return `g[${i.reg * 2}] = ${i.immLo | 0}; g[${i.reg * 2 + 1}] = 0;`;
  return undefined;
};

/** MOVZX r32/r64, r8 (0F B6), register form. */
export const movzxByte: JitTemplate = (i) => {
  if (i.mod !== 3 || sizeOf(i) === 16) return undefined;
  const byte = i.rm < 16 ? `g[${i.rm * 2}] & 0xff` : `(g[${(i.rm - 16) * 2}] >> 8) & 0xff`;
  return `g[${i.reg * 2}] = ${byte}; g[${i.reg * 2 + 1}] = 0;`;
};

/** LEA with 64- or 32-bit addressing into a 32- or 64-bit register (no RIP-relative). */
export const lea: JitTemplate = (i) => {
  const size = sizeOf(i);
  if ((size !== 32 && size !== 64) || (i.adsize !== 64 && i.adsize !== 32) || i.base === -2)
    return undefined;
  const lines = [`let lo = ${i.dispLo | 0}, hi = ${i.dispHi | 0}, s;`];
  const add = (lo: string, hi: string): void => {
    lines.push(
      `s = (lo + ${lo}) | 0; hi = (hi + ${hi} + ((s >>> 0) < (lo >>> 0) ? 1 : 0)) | 0; lo = s;`,
    );
  };
  if (i.base >= 0) add(`g[${i.base * 2}]`, `g[${i.base * 2 + 1}]`);
  if (i.index >= 0) {
    const k = i.scale;
    if (k === 0) add(`g[${i.index * 2}]`, `g[${i.index * 2 + 1}]`);
    else
      add(
        `(g[${i.index * 2}] << ${k})`,
        `((g[${i.index * 2 + 1}] << ${k}) | (g[${i.index * 2}] >>> ${32 - k}))`,
      );
  }
  const keepHi = size === 64 && i.adsize === 64;
  lines.push(`g[${i.reg * 2}] = lo; g[${i.reg * 2 + 1}] = ${keepHi ? 'hi' : '0'};`);
  return `{ ${lines.join(' ')} }`;
};
