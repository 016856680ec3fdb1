/**
 * Rearranging lanes: PACKSS/PACKUS, PUNPCK* (and UNPCKL/H PS/PD, the same operation),
 * PSHUFW/PSHUFD/PSHUFHW/PSHUFLW, SHUFPS/SHUFPD, PSHUFB, PALIGNR, PINSRW and PEXTRW.
 */
import { Fault, Vector } from '../fault.js';
import { readMmx } from '../fpu/mmx.js';
import type { Handler } from '../insn.js';
import { readRm16, setReg32 } from '../isa/operands.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { defineBoth, mmxAndXmm, type VecOp } from './integer.js';
import {
  A,
  B,
  checkMmx,
  checkSse,
  loadMmReg,
  loadMmRm,
  loadXmmReg,
  loadXmmRm,
  R,
  storeMmReg,
  storeXmmReg,
} from './regs.js';

const sat8 = (v: number): number => (v < -128 ? -128 : v > 127 ? 127 : v);
const satU8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);
const sat16 = (v: number): number => (v < -32768 ? -32768 : v > 32767 ? 32767 : v);

const packsswb: VecOp = (n) => {
  const half = n >> 1;
  for (let k = 0; k < half; k++) {
    R.i8[k] = sat8(A.i16[k]!);
    R.i8[half + k] = sat8(B.i16[k]!);
  }
};
const packuswb: VecOp = (n) => {
  const half = n >> 1;
  for (let k = 0; k < half; k++) {
    R.u8[k] = satU8(A.i16[k]!);
    R.u8[half + k] = satU8(B.i16[k]!);
  }
};
const packssdw: VecOp = (n) => {
  const quarter = n >> 2;
  for (let k = 0; k < quarter; k++) {
    R.i16[k] = sat16(A.i32[k]!);
    R.i16[quarter + k] = sat16(B.i32[k]!);
  }
};

/** PUNPCKL/H with elements of `size` bytes: interleaves the low (high) halves of A and B. */
function unpack(size: number, high: boolean): VecOp {
  return (n) => {
    const base = high ? n >> 1 : 0;
    const a = A.u8;
    const b = B.u8;
    const r = R.u8;
    for (let k = 0; k < n >> 1; k += size) {
      for (let j = 0; j < size; j++) {
        r[2 * k + j] = a[base + k + j]!;
        r[2 * k + size + j] = b[base + k + j]!;
      }
    }
  };
}

const pshufb: VecOp = (n) => {
  const mask = n - 1;
  for (let k = 0; k < n; k++) {
    const index = B.u8[k]!;
    R.u8[k] = index & 0x80 ? 0 : A.u8[index & mask]!;
  }
};

/** An operation taking an immediate: A, B, imm8 into R over n bytes. */
type ImmOp = (n: number, imm: number) => void;

function withImmediate(op: ImmOp): [Handler, Handler] {
  const mmx: Handler = (cpu, i) => {
    checkMmx(cpu);
    loadMmReg(cpu, i.reg, A);
    loadMmRm(cpu, i, B);
    op(8, i.immLo & 0xff);
    storeMmReg(cpu, i.reg, R);
  };
  const xmm: Handler = (cpu, i) => {
    checkSse(cpu);
    loadXmmReg(cpu, i.reg, A);
    loadXmmRm(cpu, i, B);
    op(16, i.immLo & 0xff);
    storeXmmReg(cpu, i.reg, R);
  };
  return [mmx, xmm];
}

const M = OpFlag.ModRM;

/** PALIGNR: the bytes of B:A (A high) shifted right by imm bytes. */
const palignr: ImmOp = (n, imm) => {
  for (let k = 0; k < n; k++) {
    const at = k + imm;
    R.u8[k] = at < n ? B.u8[at]! : at < 2 * n ? A.u8[at - n]! : 0;
  }
};

const pshufw: ImmOp = (_n, imm) => {
  for (let k = 0; k < 4; k++) R.u16[k] = B.u16[(imm >> (2 * k)) & 3]!;
};
const pshufd: ImmOp = (_n, imm) => {
  for (let k = 0; k < 4; k++) R.i32[k] = B.i32[(imm >> (2 * k)) & 3]!;
};
const pshuflw: ImmOp = (_n, imm) => {
  for (let k = 0; k < 4; k++) R.u16[k] = B.u16[(imm >> (2 * k)) & 3]!;
  R.i32[2] = B.i32[2]!;
  R.i32[3] = B.i32[3]!;
};
const pshufhw: ImmOp = (_n, imm) => {
  R.i32[0] = B.i32[0]!;
  R.i32[1] = B.i32[1]!;
  for (let k = 0; k < 4; k++) R.u16[4 + k] = B.u16[4 + ((imm >> (2 * k)) & 3)]!;
};
const shufps: ImmOp = (_n, imm) => {
  R.i32[0] = A.i32[imm & 3]!;
  R.i32[1] = A.i32[(imm >> 2) & 3]!;
  R.i32[2] = B.i32[(imm >> 4) & 3]!;
  R.i32[3] = B.i32[(imm >> 6) & 3]!;
};
const shufpd: ImmOp = (_n, imm) => {
  const a = (imm & 1) * 2;
  const b = ((imm >> 1) & 1) * 2;
  R.i32[0] = A.i32[a]!;
  R.i32[1] = A.i32[a + 1]!;
  R.i32[2] = B.i32[b]!;
  R.i32[3] = B.i32[b + 1]!;
};

/** PINSRW mm/xmm, r32/m16, imm8. */
function pinsrw(xmm: boolean): Handler {
  return (cpu, i) => {
    if (xmm) checkSse(cpu);
    else checkMmx(cpu);
    const word = readRm16(cpu, i);
    if (xmm) {
      const lane = i.immLo & 7;
      const x = cpu.fpu.xmm;
      const at = i.reg * 4 + (lane >> 1);
      const shift = (lane & 1) * 16;
      x[at] = (x[at]! & ~(0xffff << shift)) | (word << shift);
    } else {
      loadMmReg(cpu, i.reg, R);
      R.u16[i.immLo & 3] = word;
      storeMmReg(cpu, i.reg, R);
    }
  };
}

/** PEXTRW r32, mm/xmm, imm8 (register form only). */
function pextrw(xmm: boolean): Handler {
  return (cpu, i) => {
    if (i.mod !== 3) throw new Fault(Vector.UD);
    let word: number;
    if (xmm) {
      checkSse(cpu);
      const lane = i.immLo & 7;
      word = (cpu.fpu.xmm[i.rm * 4 + (lane >> 1)]! >>> ((lane & 1) * 16)) & 0xffff;
    } else {
      checkMmx(cpu);
      const lane = i.immLo & 3;
      const lo = readMmx(cpu, i.rm);
      const dword = lane < 2 ? lo : cpu.hi;
      word = (dword >>> ((lane & 1) * 16)) & 0xffff;
    }
    setReg32(cpu, i.reg, word);
  };
}

export function install(t: OpcodeTable): void {
  const ops: [number, string, VecOp][] = [
    [0x0f60, 'punpcklbw', unpack(1, false)],
    [0x0f61, 'punpcklwd', unpack(2, false)],
    [0x0f62, 'punpckldq', unpack(4, false)],
    [0x0f63, 'packsswb', packsswb],
    [0x0f67, 'packuswb', packuswb],
    [0x0f68, 'punpckhbw', unpack(1, true)],
    [0x0f69, 'punpckhwd', unpack(2, true)],
    [0x0f6a, 'punpckhdq', unpack(4, true)],
    [0x0f6b, 'packssdw', packssdw],
    [0x0f3800, 'pshufb', pshufb],
  ];
  for (const [opcode, name, op] of ops) defineBoth(t, opcode, name, op);
  const xmmOnly: [number, string, VecOp][] = [
    [0x0f6c, 'punpcklqdq', unpack(8, false)],
    [0x0f6d, 'punpckhqdq', unpack(8, true)],
  ];
  for (const [opcode, name, op] of xmmOnly) {
    t.definePrefixed(opcode, 'p66', { name, exec: mmxAndXmm(op)[1], flags: M });
  }
  // UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD interleave like PUNPCKLDQ/HDQ/LQDQ/HQDQ.
  t.definePrefixed(0x0f14, 'none', {
    name: 'unpcklps',
    exec: mmxAndXmm(unpack(4, false))[1],
    flags: M,
  });
  t.definePrefixed(0x0f14, 'p66', {
    name: 'unpcklpd',
    exec: mmxAndXmm(unpack(8, false))[1],
    flags: M,
  });
  t.definePrefixed(0x0f15, 'none', {
    name: 'unpckhps',
    exec: mmxAndXmm(unpack(4, true))[1],
    flags: M,
  });
  t.definePrefixed(0x0f15, 'p66', {
    name: 'unpckhpd',
    exec: mmxAndXmm(unpack(8, true))[1],
    flags: M,
  });

  const [palignrMmx, palignrXmm] = withImmediate(palignr);
  t.definePrefixed(0x0f3a0f, 'none', { name: 'palignr', exec: palignrMmx, flags: M, imm: Imm.Ub });
  t.definePrefixed(0x0f3a0f, 'p66', { name: 'palignr', exec: palignrXmm, flags: M, imm: Imm.Ub });
  t.definePrefixed(0x0f70, 'none', {
    name: 'pshufw',
    exec: withImmediate(pshufw)[0],
    flags: M,
    imm: Imm.Ub,
  });
  t.definePrefixed(0x0f70, 'p66', {
    name: 'pshufd',
    exec: withImmediate(pshufd)[1],
    flags: M,
    imm: Imm.Ub,
  });
  t.definePrefixed(0x0f70, 'pf3', {
    name: 'pshufhw',
    exec: withImmediate(pshufhw)[1],
    flags: M,
    imm: Imm.Ub,
  });
  t.definePrefixed(0x0f70, 'pf2', {
    name: 'pshuflw',
    exec: withImmediate(pshuflw)[1],
    flags: M,
    imm: Imm.Ub,
  });
  t.definePrefixed(0x0fc6, 'none', {
    name: 'shufps',
    exec: withImmediate(shufps)[1],
    flags: M,
    imm: Imm.Ub,
  });
  t.definePrefixed(0x0fc6, 'p66', {
    name: 'shufpd',
    exec: withImmediate(shufpd)[1],
    flags: M,
    imm: Imm.Ub,
  });
  t.definePrefixed(0x0fc4, 'none', { name: 'pinsrw', exec: pinsrw(false), flags: M, imm: Imm.Ub });
  t.definePrefixed(0x0fc4, 'p66', { name: 'pinsrw', exec: pinsrw(true), flags: M, imm: Imm.Ub });
  t.definePrefixed(0x0fc5, 'none', { name: 'pextrw', exec: pextrw(false), flags: M, imm: Imm.Ub });
  t.definePrefixed(0x0fc5, 'p66', { name: 'pextrw', exec: pextrw(true), flags: M, imm: Imm.Ub });
}
