/**
 * String instructions: MOVS CMPS STOS LODS SCAS (A4-AF) and INS OUTS (6C-6F), at every
 * operand size and address size, with REP / REPE / REPNE.
 *
 * The source is seg:rSI (DS unless overridden), the destination ES:rDI (never overridden);
 * rSI, rDI and rCX are used at the address size, so 16- and 32-bit forms wrap around.
 *
 * REP forms run in chunks: each chunk stays inside one page of the source and one page of
 * the destination, is translated once (a fault is raised before anything in the chunk is
 * done, so the registers always describe the elements completed) and then moved, filled or
 * compared directly in machine memory. MMIO, and elements that straddle a page or an
 * address-size wrap, go one element at a time through access.ts. After a bounded amount of
 * work a REP instruction that is not finished leaves RIP on itself with the registers
 * updated and ends the block (`cpu.stop`), so the run loop can take interrupts and the
 * instruction then continues where it stopped — as hardware does.
 *
 * Every string instruction is flagged Branch: a REP instruction may have to stay at its own
 * address, so all of them set RIP themselves (`stepOver` when done).
 */

import { readAddress, writeAddress } from '../access.js';
import type { Cpu } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { RESTART } from '../fault.js';
import { Flag } from '../flags.js';
import type { Handler, Insn } from '../insn.js';
import { Seg } from '../segments.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { AluOp, alu } from './alu.js';
import { stepOver } from './control.js';
import { getRegSized, readSized, segmentAddress, setRegSized, writeSized } from './operands.js';
import { sized } from './sized.js';
import { checkIoPermission } from './system.js';

const enum Kind {
  Movs = 0,
  Cmps = 1,
  Stos = 2,
  Lods = 3,
  Scas = 4,
}

/** Bytes a REP instruction may process before it yields to the run loop. */
const REP_BUDGET_BYTES = 32768;
const RSI = 6;
const RDI = 7;

/** The offset register `reg` at the address size: returns lo, leaves hi in `cpu.eaHi`. */
function offsetOf(cpu: Cpu, reg: number, adsize: number): number {
  const gpr = cpu.gpr;
  if (adsize === 64) {
    cpu.eaHi = gpr[reg * 2 + 1]!;
    return gpr[reg * 2]!;
  }
  cpu.eaHi = 0;
  return adsize === 32 ? gpr[reg * 2]! : gpr[reg * 2]! & 0xffff;
}

/** Adds `delta` (a small signed number) to register `reg` at the address size. */
function advance(cpu: Cpu, reg: number, adsize: number, delta: number): void {
  const gpr = cpu.gpr;
  const at = reg * 2;
  const lo = gpr[at]!;
  if (adsize === 64) {
    const next = (lo + delta) | 0;
    if (delta > 0 && next >>> 0 < lo >>> 0) gpr[at + 1] = (gpr[at + 1]! + 1) | 0;
    else if (delta < 0 && next >>> 0 > lo >>> 0) gpr[at + 1] = (gpr[at + 1]! - 1) | 0;
    gpr[at] = next;
  } else if (adsize === 32) {
    gpr[at] = (lo + delta) | 0;
    if (cpu.codeSize === 64) gpr[at + 1] = 0;
  } else {
    gpr[at] = (lo & ~0xffff) | ((lo + delta) & 0xffff);
  }
}

/** rCX at the address size, capped at `max`. */
function countUpTo(cpu: Cpu, adsize: number, max: number): number {
  const lo = cpu.gpr[2]!;
  let count: number;
  if (adsize === 64) count = cpu.gpr[3] !== 0 ? max : lo >>> 0;
  else count = adsize === 32 ? lo >>> 0 : lo & 0xffff;
  return count < max ? count : max;
}

function countIsZero(cpu: Cpu, adsize: number): boolean {
  const lo = cpu.gpr[2]!;
  if (adsize === 64) return (lo | cpu.gpr[3]!) === 0;
  return (adsize === 32 ? lo : lo & 0xffff) === 0;
}

/** Subtracts `n` from rCX at the address size. */
function decrementCount(cpu: Cpu, adsize: number, n: number): void {
  const gpr = cpu.gpr;
  const lo = gpr[2]!;
  if (adsize === 64) {
    const next = (lo - n) | 0;
    if (next >>> 0 > lo >>> 0) gpr[3] = (gpr[3]! - 1) | 0;
    gpr[2] = next;
  } else if (adsize === 32) {
    gpr[2] = (lo - n) | 0;
    if (cpu.codeSize === 64) gpr[3] = 0;
  } else {
    gpr[2] = (lo & ~0xffff) | ((lo - n) & 0xffff);
  }
}

/**
 * How many elements of `bytes` starting at linear `lo` (offset `offset` at `adsize`) lie in
 * the current page and before the offset wraps, going forward or backward. 0 when the first
 * element itself straddles a page or the wrap.
 */
function elementsInPage(
  lo: number,
  offset: number,
  adsize: number,
  bytes: number,
  forward: boolean,
): number {
  const inPage = lo & 0xfff;
  const mask = adsize === 16 ? 0xffff : 0xffffffff;
  const off = offset >>> 0;
  if (forward) {
    let n = ((4096 - inPage) / bytes) | 0;
    if (adsize !== 64) {
      const room = Math.floor((mask - off + 1) / bytes);
      if (room < n) n = room;
    }
    return n;
  }
  if (inPage + bytes > 4096) return 0;
  let n = ((inPage / bytes) | 0) + 1;
  if (adsize !== 64) {
    if (off + bytes - 1 > mask) return 0;
    const room = Math.floor(off / bytes) + 1;
    if (room < n) n = room;
  }
  return n;
}

/** The machine address of linear lo/hi for a read or write within one page; -1 for MMIO. */
function machineAddress(cpu: Cpu, lo: number, hi: number, write: boolean): number {
  return write ? writeAddress(cpu, lo, hi) : readAddress(cpu, lo, hi);
}

/**
 * Copies `length` bytes of elements of `bytes` from `src` to `dst` in machine memory with the
 * result of moving them one element at a time, upwards or downwards (`src`/`dst` are the
 * lowest addresses of the ranges). Overlap where the sequential copy re-reads what it wrote
 * repeats the pattern, as the instruction does.
 */
function copySequential(
  mem: Uint8Array,
  dst: number,
  src: number,
  length: number,
  bytes: number,
  up: boolean,
): void {
  if (dst === src) return;
  const distance = up ? dst - src : src - dst;
  if (distance <= 0 || distance >= length) {
    mem.copyWithin(dst, src, src + length);
    return;
  }
  const piece = distance >= bytes ? distance - (distance % bytes) : bytes;
  if (up) {
    for (let at = 0; at < length; at += piece) {
      const end = at + piece < length ? at + piece : length;
      mem.copyWithin(dst + at, src + at, src + end);
    }
  } else {
    for (let end = length; end > 0; end -= piece) {
      const at = end > piece ? end - piece : 0;
      mem.copyWithin(dst + at, src + at, src + end);
    }
  }
}

/** Fills `count` elements of `bytes` at machine address `at` with the value lo/hi. */
function fill(cpu: Cpu, at: number, count: number, bytes: number, lo: number, hi: number): void {
  const mem = cpu.mem;
  const length = count * bytes;
  const b = lo & 0xff;
  const uniform =
    bytes === 1 ||
    (bytes === 2 && (lo & 0xffff) === b * 0x101) ||
    (bytes >= 4 && lo === ((b * 0x01010101) | 0) && (bytes === 4 || hi === lo));
  if (uniform) {
    mem.fill(b, at, at + length);
    return;
  }
  const view = cpu.view;
  if (bytes === 2) view.setUint16(at, lo, true);
  else view.setInt32(at, lo, true);
  if (bytes === 8) view.setInt32(at + 4, hi, true);
  for (let done = bytes; done < length; done *= 2) {
    mem.copyWithin(at + done, at, at + (done * 2 < length ? done : length - done));
  }
}

let elementHi = 0;

/** An element of machine memory: returns lo (zero-extended below 32 bits), hi in `elementHi`. */
function loadElement(cpu: Cpu, at: number, bytes: number): number {
  switch (bytes) {
    case 1:
      elementHi = 0;
      return cpu.mem[at]!;
    case 2:
      elementHi = 0;
      return cpu.view.getUint16(at, true);
    case 4:
      elementHi = 0;
      return cpu.view.getInt32(at, true);
    default:
      elementHi = cpu.view.getInt32(at + 4, true);
      return cpu.view.getInt32(at, true);
  }
}

/** One element through access.ts (any address, MMIO included). */
function oneElement(cpu: Cpu, i: Insn, kind: Kind, size: number): void {
  switch (kind) {
    case Kind.Movs: {
      const src = segmentAddress(cpu, i.seg, offsetOf(cpu, RSI, i.adsize), cpu.eaHi);
      const value = readSized(cpu, src, cpu.eaHi, size);
      const valueHi = cpu.hi;
      const dst = segmentAddress(cpu, Seg.ES, offsetOf(cpu, RDI, i.adsize), cpu.eaHi);
      writeSized(cpu, dst, cpu.eaHi, size, value, valueHi);
      return;
    }
    case Kind.Stos: {
      const value = getRegSized(cpu, 0, size);
      const valueHi = size === 64 ? cpu.hi : 0;
      const dst = segmentAddress(cpu, Seg.ES, offsetOf(cpu, RDI, i.adsize), cpu.eaHi);
      writeSized(cpu, dst, cpu.eaHi, size, value, valueHi);
      return;
    }
    case Kind.Lods: {
      const src = segmentAddress(cpu, i.seg, offsetOf(cpu, RSI, i.adsize), cpu.eaHi);
      const value = readSized(cpu, src, cpu.eaHi, size);
      setRegSized(cpu, 0, size, value, size === 64 ? cpu.hi : 0);
      return;
    }
    case Kind.Cmps: {
      const src = segmentAddress(cpu, i.seg, offsetOf(cpu, RSI, i.adsize), cpu.eaHi);
      const a = readSized(cpu, src, cpu.eaHi, size);
      const aHi = size === 64 ? cpu.hi : 0;
      const dst = segmentAddress(cpu, Seg.ES, offsetOf(cpu, RDI, i.adsize), cpu.eaHi);
      const b = readSized(cpu, dst, cpu.eaHi, size);
      alu(cpu, AluOp.Cmp, size, a, aHi, b, size === 64 ? cpu.hi : 0);
      return;
    }
    default: {
      const dst = segmentAddress(cpu, Seg.ES, offsetOf(cpu, RDI, i.adsize), cpu.eaHi);
      const b = readSized(cpu, dst, cpu.eaHi, size);
      const bHi = size === 64 ? cpu.hi : 0;
      const a = getRegSized(cpu, 0, size);
      alu(cpu, AluOp.Cmp, size, a, size === 64 ? cpu.hi : 0, b, bHi);
    }
  }
}

const USES_SOURCE = [true, true, false, true, false] as const;
const USES_DESTINATION = [true, true, true, false, true] as const;

/** Set by `chunk` for CMPS/SCAS when the REPE/REPNE condition ended the repetition. */
let conditionMet = false;

/**
 * Up to `limit` elements in one page of each operand, in machine memory. Returns how many
 * were done, or 0 when this chunk must go through `oneElement` (MMIO).
 */
function chunk(cpu: Cpu, i: Insn, kind: Kind, size: number, limit: number, up: boolean): number {
  const bytes = size >> 3;
  const adsize = i.adsize;
  let src = 0;
  let dst = 0;
  let n = limit;
  let srcLo = 0;
  let srcHi = 0;
  let dstLo = 0;
  let dstHi = 0;
  if (USES_SOURCE[kind]) {
    const offset = offsetOf(cpu, RSI, adsize);
    srcLo = segmentAddress(cpu, i.seg, offset, cpu.eaHi);
    srcHi = cpu.eaHi;
    const fit = elementsInPage(srcLo, offset, adsize, bytes, up);
    if (fit < n) n = fit;
  }
  if (USES_DESTINATION[kind]) {
    const offset = offsetOf(cpu, RDI, adsize);
    dstLo = segmentAddress(cpu, Seg.ES, offset, cpu.eaHi);
    dstHi = cpu.eaHi;
    const fit = elementsInPage(dstLo, offset, adsize, bytes, up);
    if (fit < n) n = fit;
  }
  if (n === 0 || kind === Kind.Lods) return 0;
  // Translate before touching anything: a fault leaves the chunk undone.
  if (USES_SOURCE[kind]) {
    src = machineAddress(cpu, srcLo, srcHi, false);
    if (src < 0) return 0;
  }
  if (USES_DESTINATION[kind]) {
    dst = machineAddress(cpu, dstLo, dstHi, kind === Kind.Movs || kind === Kind.Stos);
    if (dst < 0) return 0;
  }
  const span = (n - 1) * bytes;
  switch (kind) {
    case Kind.Movs:
      copySequential(cpu.mem, up ? dst : dst - span, up ? src : src - span, n * bytes, bytes, up);
      return n;
    case Kind.Stos: {
      const value = getRegSized(cpu, 0, size);
      fill(cpu, up ? dst : dst - span, n, bytes, value, size === 64 ? cpu.hi : 0);
      return n;
    }
    default:
      return compareChunk(cpu, i, kind, size, n, up ? bytes : -bytes, src, dst);
  }
}

/** CMPS/SCAS over `n` elements in machine memory, stopping where REPE/REPNE says. */
function compareChunk(
  cpu: Cpu,
  i: Insn,
  kind: Kind,
  size: number,
  n: number,
  step: number,
  src: number,
  dst: number,
): number {
  const bytes = size >> 3;
  const whileEqual = i.rep === 1;
  const mask = size === 8 ? 0xff : size === 16 ? 0xffff : -1;
  let acc = 0;
  let accHi = 0;
  if (kind === Kind.Scas) {
    acc = getRegSized(cpu, 0, size) & mask;
    accHi = size === 64 ? cpu.hi : 0;
  }
  let a = acc;
  let aHi = accHi;
  let b = 0;
  let bHi = 0;
  let done = 0;
  conditionMet = false;
  if (bytes === 1 && kind === Kind.Scas && !whileEqual) {
    // REPNE SCASB (memchr, strlen): let the engine search the page.
    const mem = cpu.mem;
    const up = step > 0;
    const window = up ? mem.subarray(dst, dst + n) : mem.subarray(dst - n + 1, dst + 1);
    const found = up ? window.indexOf(acc) : window.lastIndexOf(acc);
    done = found < 0 ? n : up ? found + 1 : n - found;
    conditionMet = found >= 0;
    b = mem[dst + (done - 1) * step]!;
    alu(cpu, AluOp.Cmp, size, a, 0, b, 0);
    return done;
  }
  while (done < n) {
    if (kind === Kind.Cmps) {
      a = loadElement(cpu, src, bytes);
      aHi = elementHi;
      src += step;
    }
    b = loadElement(cpu, dst, bytes);
    bHi = elementHi;
    dst += step;
    done++;
    const equal = a === b && aHi === bHi;
    if (equal !== whileEqual) {
      conditionMet = true;
      break;
    }
  }
  alu(cpu, AluOp.Cmp, size, a, aHi, b, bHi);
  return done;
}

const stringOp =
  (kind: Kind, size: number): Handler =>
  (cpu, i) => {
    const bytes = size >> 3;
    const adsize = i.adsize;
    const up = (cpu.flags & Flag.DF) === 0;
    const step = up ? bytes : -bytes;
    const moveSource = USES_SOURCE[kind];
    const moveDestination = USES_DESTINATION[kind];
    if (i.rep === 0) {
      oneElement(cpu, i, kind, size);
      if (moveSource) advance(cpu, RSI, adsize, step);
      if (moveDestination) advance(cpu, RDI, adsize, step);
      stepOver(cpu, i);
      return;
    }
    const compares = kind === Kind.Cmps || kind === Kind.Scas;
    // With TF set, each iteration ends in a single-step trap.
    let left = cpu.flags & Flag.TF ? 1 : REP_BUDGET_BYTES / bytes;
    for (;;) {
      const count = countUpTo(cpu, adsize, left);
      if (count === 0) break;
      conditionMet = false;
      let done = chunk(cpu, i, kind, size, count, up);
      if (done === 0) {
        oneElement(cpu, i, kind, size);
        done = 1;
        if (compares) {
          const zero = (cpu.readFlags() & Flag.ZF) !== 0;
          conditionMet = zero !== (i.rep === 1);
        }
      }
      if (moveSource) advance(cpu, RSI, adsize, done * step);
      if (moveDestination) advance(cpu, RDI, adsize, done * step);
      decrementCount(cpu, adsize, done);
      left -= done;
      if (conditionMet) {
        stepOver(cpu, i);
        return;
      }
      if (cpu.stop || cpu.exiting) break;
    }
    if (countIsZero(cpu, adsize)) stepOver(cpu, i);
    else cpu.stop = true; // not finished: RIP stays here and the instruction continues later
  };

/** INS and OUTS: one element per exit to the hypervisor, like IN and OUT. */
const portString =
  (output: boolean, size: number): Handler =>
  (cpu, i) => {
    const bytes = size >> 3;
    const adsize = i.adsize;
    const port = cpu.gpr[4]! & 0xffff;
    if (i.rep !== 0 && countIsZero(cpu, adsize)) {
      stepOver(cpu, i);
      return;
    }
    checkIoPermission(cpu, port, bytes);
    const step = cpu.flags & Flag.DF ? -bytes : bytes;
    const exit = cpu.exit;
    if (output) {
      const src = segmentAddress(cpu, i.seg, offsetOf(cpu, RSI, adsize), cpu.eaHi);
      const value = readSized(cpu, src, cpu.eaHi, size);
      exit.port = port;
      exit.size = bytes;
      exit.write = true;
      exit.value = size === 32 ? value : value & (size === 16 ? 0xffff : 0xff);
      cpu.exitAfter(ExitReason.PortIo);
      advance(cpu, RSI, adsize, step);
    } else {
      const dst = segmentAddress(cpu, Seg.ES, offsetOf(cpu, RDI, adsize), cpu.eaHi);
      const dstHi = cpu.eaHi;
      if (cpu.ioResult === undefined) {
        // Fault on the destination before the device sees the read.
        if (bytes === 1 || (dst & 0xfff) <= 4096 - bytes) machineAddress(cpu, dst, dstHi, true);
        exit.port = port;
        exit.size = bytes;
        exit.write = false;
        cpu.exitAfter(ExitReason.PortIo);
        throw RESTART;
      }
      const value = cpu.ioResult;
      cpu.ioResult = undefined;
      writeSized(cpu, dst, dstHi, size, value, 0);
      advance(cpu, RDI, adsize, step);
    }
    if (i.rep === 0) {
      stepOver(cpu, i);
      return;
    }
    decrementCount(cpu, adsize, 1);
    if (countIsZero(cpu, adsize)) stepOver(cpu, i);
  };

const NAMES = ['movs', 'cmps', 'stos', 'lods', 'scas'] as const;
const OPCODES = [0xa4, 0xa6, 0xaa, 0xac, 0xae] as const;

export function install(t: OpcodeTable): void {
  const flags = OpFlag.Branch;
  for (let kind = Kind.Movs; kind <= Kind.Scas; kind++) {
    const name = NAMES[kind]!;
    const opcode = OPCODES[kind]!;
    t.define(opcode, { name, exec: stringOp(kind, 8), flags });
    t.define(opcode + 1, {
      name,
      exec: sized((size) => stringOp(kind, size)),
      flags,
    });
  }
  const io = flags | OpFlag.EndsBlock;
  t.define(0x6c, { name: 'ins', exec: portString(false, 8), flags: io });
  t.define(0x6d, {
    name: 'ins',
    exec: [portString(false, 16), portString(false, 32), portString(false, 32)],
    flags: io,
  });
  t.define(0x6e, { name: 'outs', exec: portString(true, 8), flags: io });
  t.define(0x6f, {
    name: 'outs',
    exec: [portString(true, 16), portString(true, 32), portString(true, 32)],
    flags: io,
  });
}
