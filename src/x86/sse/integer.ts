/**
 * MMX/SSE2/SSSE3 integer arithmetic on mm and xmm registers: PADD/PSUB (wrapping and
 * saturating), multiplies (PMULLW PMULHW PMULHUW PMULUDQ PMADDWD PMADDUBSW PMULHRSW), PSADBW,
 * PAVG, PMIN/PMAX, logic, compares, shifts (by register and by immediate, PSRLDQ/PSLLDQ),
 * horizontal adds (PHADD/PHSUB), PSIGN and PABS.
 *
 * Every operation reads the destination from A and the source from B and writes R, over `n`
 * bytes (8 for MMX, 16 for XMM).
 */
import { Fault, Vector } from '../fault.js';
import type { Handler } from '../insn.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
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

/** An operation over n bytes: A (destination) and B (source) into R. */
export type VecOp = (n: number) => void;

/** The MMX (mm, mm/m64) and XMM (xmm, xmm/m128) handlers of an operation. */
export function mmxAndXmm(op: VecOp): [Handler, Handler] {
  const mmx: Handler = (cpu, i) => {
    checkMmx(cpu);
    loadMmReg(cpu, i.reg, A);
    loadMmRm(cpu, i, B);
    op(8);
    storeMmReg(cpu, i.reg, R);
  };
  const xmm: Handler = (cpu, i) => {
    checkSse(cpu);
    loadXmmReg(cpu, i.reg, A);
    loadXmmRm(cpu, i, B);
    op(16);
    storeXmmReg(cpu, i.reg, R);
  };
  return [mmx, xmm];
}

/** Defines opcode's none (MMX) and 66 (XMM) forms. */
export function defineBoth(t: OpcodeTable, opcode: number, name: string, op: VecOp): void {
  const [mmx, xmm] = mmxAndXmm(op);
  t.definePrefixed(opcode, 'none', { name, exec: mmx, flags: OpFlag.ModRM });
  t.definePrefixed(opcode, 'p66', { name, exec: xmm, flags: OpFlag.ModRM });
}

const sat8 = (v: number): number => (v < -128 ? -128 : v > 127 ? 127 : v);
const satU8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);
const sat16 = (v: number): number => (v < -32768 ? -32768 : v > 32767 ? 32767 : v);
const satU16 = (v: number): number => (v < 0 ? 0 : v > 65535 ? 65535 : v);

// ---- Add and subtract ----

const paddb: VecOp = (n) => {
  const a = A.u8;
  const b = B.u8;
  const r = R.u8;
  for (let k = 0; k < n; k++) r[k] = a[k]! + b[k]!;
};
const paddw: VecOp = (n) => {
  const a = A.u16;
  const b = B.u16;
  const r = R.u16;
  for (let k = 0; k < n >> 1; k++) r[k] = a[k]! + b[k]!;
};
const paddd: VecOp = (n) => {
  const a = A.i32;
  const b = B.i32;
  const r = R.i32;
  for (let k = 0; k < n >> 2; k++) r[k] = (a[k]! + b[k]!) | 0;
};
const paddq: VecOp = (n) => {
  const a = A.i32;
  const b = B.i32;
  const r = R.i32;
  for (let k = 0; k < n >> 2; k += 2) {
    const lo = (a[k]! + b[k]!) | 0;
    r[k + 1] = (a[k + 1]! + b[k + 1]! + (lo >>> 0 < a[k]! >>> 0 ? 1 : 0)) | 0;
    r[k] = lo;
  }
};
const psubb: VecOp = (n) => {
  const a = A.u8;
  const b = B.u8;
  const r = R.u8;
  for (let k = 0; k < n; k++) r[k] = a[k]! - b[k]!;
};
const psubw: VecOp = (n) => {
  const a = A.u16;
  const b = B.u16;
  const r = R.u16;
  for (let k = 0; k < n >> 1; k++) r[k] = a[k]! - b[k]!;
};
const psubd: VecOp = (n) => {
  const a = A.i32;
  const b = B.i32;
  const r = R.i32;
  for (let k = 0; k < n >> 2; k++) r[k] = (a[k]! - b[k]!) | 0;
};
const psubq: VecOp = (n) => {
  const a = A.i32;
  const b = B.i32;
  const r = R.i32;
  for (let k = 0; k < n >> 2; k += 2) {
    const lo = (a[k]! - b[k]!) | 0;
    r[k + 1] = (a[k + 1]! - b[k + 1]! - (a[k]! >>> 0 < b[k]! >>> 0 ? 1 : 0)) | 0;
    r[k] = lo;
  }
};
const paddsb: VecOp = (n) => {
  for (let k = 0; k < n; k++) R.i8[k] = sat8(A.i8[k]! + B.i8[k]!);
};
const paddsw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.i16[k] = sat16(A.i16[k]! + B.i16[k]!);
};
const paddusb: VecOp = (n) => {
  for (let k = 0; k < n; k++) R.u8[k] = satU8(A.u8[k]! + B.u8[k]!);
};
const paddusw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.u16[k] = satU16(A.u16[k]! + B.u16[k]!);
};
const psubsb: VecOp = (n) => {
  for (let k = 0; k < n; k++) R.i8[k] = sat8(A.i8[k]! - B.i8[k]!);
};
const psubsw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.i16[k] = sat16(A.i16[k]! - B.i16[k]!);
};
const psubusb: VecOp = (n) => {
  for (let k = 0; k < n; k++) R.u8[k] = satU8(A.u8[k]! - B.u8[k]!);
};
const psubusw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.u16[k] = satU16(A.u16[k]! - B.u16[k]!);
};

// ---- Multiplies ----

const pmullw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.i16[k] = Math.imul(A.i16[k]!, B.i16[k]!);
};
const pmulhw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.i16[k] = (A.i16[k]! * B.i16[k]!) >> 16;
};
const pmulhuw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.u16[k] = (A.u16[k]! * B.u16[k]!) >>> 16;
};
/** Unsigned 32×32 → 64: the low dword of each qword. */
const pmuludq: VecOp = (n) => {
  const a = A.i32;
  const b = B.i32;
  const r = R.i32;
  for (let k = 0; k < n >> 2; k += 2) {
    const x = a[k]!;
    const y = b[k]!;
    const xl = x & 0xffff;
    const xh = x >>> 16;
    const yl = y & 0xffff;
    const yh = y >>> 16;
    const m1 = xh * yl;
    const m2 = xl * yh;
    const mid = ((xl * yl) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
    r[k + 1] = (xh * yh + (m1 >>> 16) + (m2 >>> 16) + (mid >>> 16)) | 0;
    r[k] = Math.imul(x, y);
  }
};
const pmaddwd: VecOp = (n) => {
  const a = A.i16;
  const b = B.i16;
  for (let k = 0; k < n >> 2; k++) {
    R.i32[k] = (a[2 * k]! * b[2 * k]! + a[2 * k + 1]! * b[2 * k + 1]!) | 0;
  }
};
const pmaddubsw: VecOp = (n) => {
  const a = A.u8;
  const b = B.i8;
  for (let k = 0; k < n >> 1; k++)
    R.i16[k] = sat16(a[2 * k]! * b[2 * k]! + a[2 * k + 1]! * b[2 * k + 1]!);
};
const pmulhrsw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.i16[k] = (((A.i16[k]! * B.i16[k]!) >> 14) + 1) >> 1;
};
const psadbw: VecOp = (n) => {
  for (let g = 0; g < n; g += 8) {
    let sum = 0;
    for (let k = g; k < g + 8; k++) {
      const d = A.u8[k]! - B.u8[k]!;
      sum += d < 0 ? -d : d;
    }
    R.i32[g >> 2] = sum;
    R.i32[(g >> 2) + 1] = 0;
  }
};

// ---- Average, min, max ----

const pavgb: VecOp = (n) => {
  for (let k = 0; k < n; k++) R.u8[k] = (A.u8[k]! + B.u8[k]! + 1) >> 1;
};
const pavgw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.u16[k] = (A.u16[k]! + B.u16[k]! + 1) >> 1;
};
const pminub: VecOp = (n) => {
  const a = A.u8;
  const b = B.u8;
  const r = R.u8;
  for (let k = 0; k < n; k++) r[k] = a[k]! < b[k]! ? a[k]! : b[k]!;
};
const pmaxub: VecOp = (n) => {
  const a = A.u8;
  const b = B.u8;
  const r = R.u8;
  for (let k = 0; k < n; k++) r[k] = a[k]! > b[k]! ? a[k]! : b[k]!;
};
const pminsw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.i16[k] = A.i16[k]! < B.i16[k]! ? A.i16[k]! : B.i16[k]!;
};
const pmaxsw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.i16[k] = A.i16[k]! > B.i16[k]! ? A.i16[k]! : B.i16[k]!;
};

// ---- Logic ----

const pand: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) R.i32[k] = A.i32[k]! & B.i32[k]!;
};
const pandn: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) R.i32[k] = ~A.i32[k]! & B.i32[k]!;
};
const por: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) R.i32[k] = A.i32[k]! | B.i32[k]!;
};
const pxor: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) R.i32[k] = A.i32[k]! ^ B.i32[k]!;
};

// ---- Compares ----

const pcmpeqb: VecOp = (n) => {
  const a = A.u8;
  const b = B.u8;
  const r = R.u8;
  for (let k = 0; k < n; k++) r[k] = a[k] === b[k] ? 0xff : 0;
};
const pcmpeqw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.u16[k] = A.u16[k] === B.u16[k] ? 0xffff : 0;
};
const pcmpeqd: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) R.i32[k] = A.i32[k] === B.i32[k] ? -1 : 0;
};
const pcmpgtb: VecOp = (n) => {
  for (let k = 0; k < n; k++) R.u8[k] = A.i8[k]! > B.i8[k]! ? 0xff : 0;
};
const pcmpgtw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.u16[k] = A.i16[k]! > B.i16[k]! ? 0xffff : 0;
};
const pcmpgtd: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) R.i32[k] = A.i32[k]! > B.i32[k]! ? -1 : 0;
};

// ---- Horizontal add/subtract (SSSE3) ----

/** PHADDW/PHSUBW/PHADDSW/PHSUBSW: pairs of A's words, then pairs of B's. */
function horizontalW(sub: boolean, saturate: boolean): VecOp {
  return (n) => {
    const half = n >> 2;
    for (let k = 0; k < half; k++) {
      const x = A.i16[2 * k]!;
      const y = A.i16[2 * k + 1]!;
      const u = B.i16[2 * k]!;
      const v = B.i16[2 * k + 1]!;
      const first = sub ? x - y : x + y;
      const second = sub ? u - v : u + v;
      R.i16[k] = saturate ? sat16(first) : first;
      R.i16[half + k] = saturate ? sat16(second) : second;
    }
  };
}

function horizontalD(sub: boolean): VecOp {
  return (n) => {
    const half = n >> 3;
    for (let k = 0; k < half; k++) {
      const x = A.i32[2 * k]!;
      const y = A.i32[2 * k + 1]!;
      const u = B.i32[2 * k]!;
      const v = B.i32[2 * k + 1]!;
      R.i32[k] = (sub ? x - y : x + y) | 0;
      R.i32[half + k] = (sub ? u - v : u + v) | 0;
    }
  };
}

// ---- Sign and absolute value (SSSE3) ----

const psignb: VecOp = (n) => {
  for (let k = 0; k < n; k++) {
    const s = B.i8[k]!;
    R.i8[k] = s < 0 ? -A.i8[k]! : s === 0 ? 0 : A.i8[k]!;
  }
};
const psignw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) {
    const s = B.i16[k]!;
    R.i16[k] = s < 0 ? -A.i16[k]! : s === 0 ? 0 : A.i16[k]!;
  }
};
const psignd: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) {
    const s = B.i32[k]!;
    R.i32[k] = s < 0 ? -A.i32[k]! | 0 : s === 0 ? 0 : A.i32[k]!;
  }
};
const pabsb: VecOp = (n) => {
  for (let k = 0; k < n; k++) R.u8[k] = Math.abs(B.i8[k]!);
};
const pabsw: VecOp = (n) => {
  for (let k = 0; k < n >> 1; k++) R.u16[k] = Math.abs(B.i16[k]!);
};
const pabsd: VecOp = (n) => {
  for (let k = 0; k < n >> 2; k++) R.i32[k] = Math.abs(B.i32[k]!) | 0;
};

// ---- Shifts ----

const enum Shift {
  Right = 0,
  Arithmetic = 1,
  Left = 2,
}

/** Shifts A's lanes of `width` bits by `count` (an unsigned count; ≥ width clears or fills). */
function shiftLanes(kind: Shift, width: number, count: number, n: number): void {
  if (width === 16) {
    const lanes = n >> 1;
    if (kind === Shift.Arithmetic) {
      const c = count > 15 ? 15 : count;
      for (let k = 0; k < lanes; k++) R.i16[k] = A.i16[k]! >> c;
    } else if (count > 15) {
      for (let k = 0; k < lanes; k++) R.u16[k] = 0;
    } else if (kind === Shift.Left) {
      for (let k = 0; k < lanes; k++) R.u16[k] = A.u16[k]! << count;
    } else {
      for (let k = 0; k < lanes; k++) R.u16[k] = A.u16[k]! >>> count;
    }
  } else if (width === 32) {
    const lanes = n >> 2;
    if (kind === Shift.Arithmetic) {
      const c = count > 31 ? 31 : count;
      for (let k = 0; k < lanes; k++) R.i32[k] = A.i32[k]! >> c;
    } else if (count > 31) {
      for (let k = 0; k < lanes; k++) R.i32[k] = 0;
    } else if (kind === Shift.Left) {
      for (let k = 0; k < lanes; k++) R.i32[k] = A.i32[k]! << count;
    } else {
      for (let k = 0; k < lanes; k++) R.i32[k] = A.i32[k]! >>> count;
    }
  } else {
    for (let k = 0; k < n >> 2; k += 2) {
      const lo = A.i32[k]!;
      const hi = A.i32[k + 1]!;
      let rl = 0;
      let rh = 0;
      if (count === 0) {
        rl = lo;
        rh = hi;
      } else if (count < 32) {
        if (kind === Shift.Left) {
          rl = lo << count;
          rh = (hi << count) | (lo >>> (32 - count));
        } else {
          rl = (lo >>> count) | (hi << (32 - count));
          rh = hi >>> count;
        }
      } else if (count < 64) {
        if (kind === Shift.Left) rh = lo << (count - 32);
        else rl = hi >>> (count - 32);
      }
      R.i32[k] = rl;
      R.i32[k + 1] = rh;
    }
  }
}

/** The shift count of a register/memory source: its low 64 bits, saturated. */
function sourceCount(): number {
  return B.i32[1] !== 0 || B.i32[0]! < 0 ? 255 : B.i32[0]! > 255 ? 255 : B.i32[0]!;
}

function shiftBySource(kind: Shift, width: number): VecOp {
  return (n) => shiftLanes(kind, width, sourceCount(), n);
}

/** 0F 71/72/73 groups: shift mm or xmm (rm) by imm8. */
function shiftByImmediate(kind: Shift, width: number): [Handler, Handler] {
  const mmx: Handler = (cpu, i) => {
    if (i.mod !== 3) throw new Fault(Vector.UD);
    checkMmx(cpu);
    loadMmReg(cpu, i.rm, A);
    shiftLanes(kind, width, i.immLo & 0xff, 8);
    storeMmReg(cpu, i.rm, R);
  };
  const xmm: Handler = (cpu, i) => {
    if (i.mod !== 3) throw new Fault(Vector.UD);
    checkSse(cpu);
    loadXmmReg(cpu, i.rm, A);
    shiftLanes(kind, width, i.immLo & 0xff, 16);
    storeXmmReg(cpu, i.rm, R);
  };
  return [mmx, xmm];
}

/** PSRLDQ / PSLLDQ xmm, imm8: a byte shift of the whole register. */
function byteShift(left: boolean): Handler {
  return (cpu, i) => {
    if (i.mod !== 3) throw new Fault(Vector.UD);
    checkSse(cpu);
    loadXmmReg(cpu, i.rm, A);
    const count = i.immLo & 0xff;
    for (let k = 0; k < 16; k++) {
      const from = left ? k - count : k + count;
      R.u8[k] = from >= 0 && from < 16 ? A.u8[from]! : 0;
    }
    storeXmmReg(cpu, i.rm, R);
  };
}

export function install(t: OpcodeTable): void {
  const ops: [number, string, VecOp][] = [
    [0x0fd4, 'paddq', paddq],
    [0x0fd5, 'pmullw', pmullw],
    [0x0fd8, 'psubusb', psubusb],
    [0x0fd9, 'psubusw', psubusw],
    [0x0fda, 'pminub', pminub],
    [0x0fdb, 'pand', pand],
    [0x0fdc, 'paddusb', paddusb],
    [0x0fdd, 'paddusw', paddusw],
    [0x0fde, 'pmaxub', pmaxub],
    [0x0fdf, 'pandn', pandn],
    [0x0fe0, 'pavgb', pavgb],
    [0x0fe3, 'pavgw', pavgw],
    [0x0fe4, 'pmulhuw', pmulhuw],
    [0x0fe5, 'pmulhw', pmulhw],
    [0x0fe8, 'psubsb', psubsb],
    [0x0fe9, 'psubsw', psubsw],
    [0x0fea, 'pminsw', pminsw],
    [0x0feb, 'por', por],
    [0x0fec, 'paddsb', paddsb],
    [0x0fed, 'paddsw', paddsw],
    [0x0fee, 'pmaxsw', pmaxsw],
    [0x0fef, 'pxor', pxor],
    [0x0ff4, 'pmuludq', pmuludq],
    [0x0ff5, 'pmaddwd', pmaddwd],
    [0x0ff6, 'psadbw', psadbw],
    [0x0ff8, 'psubb', psubb],
    [0x0ff9, 'psubw', psubw],
    [0x0ffa, 'psubd', psubd],
    [0x0ffb, 'psubq', psubq],
    [0x0ffc, 'paddb', paddb],
    [0x0ffd, 'paddw', paddw],
    [0x0ffe, 'paddd', paddd],
    [0x0f64, 'pcmpgtb', pcmpgtb],
    [0x0f65, 'pcmpgtw', pcmpgtw],
    [0x0f66, 'pcmpgtd', pcmpgtd],
    [0x0f74, 'pcmpeqb', pcmpeqb],
    [0x0f75, 'pcmpeqw', pcmpeqw],
    [0x0f76, 'pcmpeqd', pcmpeqd],
    [0x0fd1, 'psrlw', shiftBySource(Shift.Right, 16)],
    [0x0fd2, 'psrld', shiftBySource(Shift.Right, 32)],
    [0x0fd3, 'psrlq', shiftBySource(Shift.Right, 64)],
    [0x0fe1, 'psraw', shiftBySource(Shift.Arithmetic, 16)],
    [0x0fe2, 'psrad', shiftBySource(Shift.Arithmetic, 32)],
    [0x0ff1, 'psllw', shiftBySource(Shift.Left, 16)],
    [0x0ff2, 'pslld', shiftBySource(Shift.Left, 32)],
    [0x0ff3, 'psllq', shiftBySource(Shift.Left, 64)],
    [0x0f3801, 'phaddw', horizontalW(false, false)],
    [0x0f3802, 'phaddd', horizontalD(false)],
    [0x0f3803, 'phaddsw', horizontalW(false, true)],
    [0x0f3804, 'pmaddubsw', pmaddubsw],
    [0x0f3805, 'phsubw', horizontalW(true, false)],
    [0x0f3806, 'phsubd', horizontalD(true)],
    [0x0f3807, 'phsubsw', horizontalW(true, true)],
    [0x0f3808, 'psignb', psignb],
    [0x0f3809, 'psignw', psignw],
    [0x0f380a, 'psignd', psignd],
    [0x0f380b, 'pmulhrsw', pmulhrsw],
    [0x0f381c, 'pabsb', pabsb],
    [0x0f381d, 'pabsw', pabsw],
    [0x0f381e, 'pabsd', pabsd],
  ];
  for (const [opcode, name, op] of ops) defineBoth(t, opcode, name, op);

  // ANDPS ANDNPS ORPS XORPS and their PD forms: the same bitwise operations on xmm.
  const logic: [number, string, VecOp][] = [
    [0x0f54, 'and', pand],
    [0x0f55, 'andn', pandn],
    [0x0f56, 'or', por],
    [0x0f57, 'xor', pxor],
  ];
  for (const [opcode, name, op] of logic) {
    const xmm = mmxAndXmm(op)[1];
    t.definePrefixed(opcode, 'none', { name: `${name}ps`, exec: xmm, flags: OpFlag.ModRM });
    t.definePrefixed(opcode, 'p66', { name: `${name}pd`, exec: xmm, flags: OpFlag.ModRM });
  }

  const groups: [number, number, string, Shift, number][] = [
    [0x0f71, 2, 'psrlw', Shift.Right, 16],
    [0x0f71, 4, 'psraw', Shift.Arithmetic, 16],
    [0x0f71, 6, 'psllw', Shift.Left, 16],
    [0x0f72, 2, 'psrld', Shift.Right, 32],
    [0x0f72, 4, 'psrad', Shift.Arithmetic, 32],
    [0x0f72, 6, 'pslld', Shift.Left, 32],
    [0x0f73, 2, 'psrlq', Shift.Right, 64],
    [0x0f73, 6, 'psllq', Shift.Left, 64],
  ];
  for (const [opcode, reg, name, kind, width] of groups) {
    const [mmx, xmm] = shiftByImmediate(kind, width);
    t.defineGroup(opcode, reg, {
      prefixed: {
        none: { name, exec: mmx, flags: OpFlag.ModRM, imm: Imm.Ub },
        p66: { name, exec: xmm, flags: OpFlag.ModRM, imm: Imm.Ub },
      },
    });
  }
  t.defineGroup(0x0f73, 3, {
    prefixed: { p66: { name: 'psrldq', exec: byteShift(false), flags: OpFlag.ModRM, imm: Imm.Ub } },
  });
  t.defineGroup(0x0f73, 7, {
    prefixed: { p66: { name: 'pslldq', exec: byteShift(true), flags: OpFlag.ModRM, imm: Imm.Ub } },
  });
}
