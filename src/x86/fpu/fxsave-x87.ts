/**
 * The x87 part of the FXSAVE/FXRSTOR image (bytes 0-23 and the ST0-ST7 slots at 32-159),
 * for the SSE module's FXSAVE, FXRSTOR, XSAVE and XRSTOR. MXCSR (24-31) and the XMM
 * registers are not touched here.
 *
 * Layout (SDM Vol. 1 §10.5.1): FCW (0), FSW with TOP (2), abridged FTW (4), FOP (6), then
 * either FIP (8, 32 bits) FCS (12) FDP (16, 32 bits) FDS (20), or with REX.W (FXSAVE64)
 * FIP (8, 64 bits) and FDP (16, 64 bits). ST(i) is at 32 + 16 i: significand (8 bytes),
 * sign/exponent (2 bytes), 6 reserved bytes written as zero.
 */
import type { Cpu } from '../cpu.js';
import {
  abridgedTags,
  loadAbridgedTags,
  phys,
  setControlWord,
  setStatusWord,
  statusWord,
  updateSummary,
} from './x87.js';

export function x87ToFxsave(cpu: Cpu, out: DataView, offset: number, wide = false): void {
  const fpu = cpu.fpu;
  out.setUint16(offset, fpu.fcw, true);
  out.setUint16(offset + 2, statusWord(fpu), true);
  out.setUint8(offset + 4, abridgedTags(fpu));
  out.setUint8(offset + 5, 0);
  out.setUint16(offset + 6, fpu.fop & 0x7ff, true);
  out.setInt32(offset + 8, fpu.fipLo, true);
  out.setInt32(offset + 16, fpu.fdpLo, true);
  if (wide) {
    out.setInt32(offset + 12, fpu.fipHi, true);
    out.setInt32(offset + 20, fpu.fdpHi, true);
  } else {
    out.setUint32(offset + 12, fpu.fcs & 0xffff, true);
    out.setUint32(offset + 20, fpu.fds & 0xffff, true);
  }
  for (let i = 0; i < 8; i++) {
    const p = phys(fpu, i) * 3;
    const at = offset + 32 + i * 16;
    out.setInt32(at, fpu.st[p]!, true);
    out.setInt32(at + 4, fpu.st[p + 1]!, true);
    out.setUint16(at + 8, fpu.st[p + 2]! & 0xffff, true);
    out.setUint16(at + 10, 0, true);
    out.setUint32(at + 12, 0, true);
  }
}

export function x87FromFxsave(cpu: Cpu, view: DataView, offset: number, wide = false): void {
  const fpu = cpu.fpu;
  setControlWord(fpu, view.getUint16(offset, true));
  setStatusWord(fpu, view.getUint16(offset + 2, true));
  updateSummary(fpu);
  fpu.fop = view.getUint16(offset + 6, true) & 0x7ff;
  fpu.fipLo = view.getInt32(offset + 8, true);
  fpu.fdpLo = view.getInt32(offset + 16, true);
  if (wide) {
    fpu.fipHi = view.getInt32(offset + 12, true);
    fpu.fdpHi = view.getInt32(offset + 20, true);
    fpu.fcs = 0;
    fpu.fds = 0;
  } else {
    fpu.fipHi = 0;
    fpu.fdpHi = 0;
    fpu.fcs = view.getUint16(offset + 12, true);
    fpu.fds = view.getUint16(offset + 20, true);
  }
  for (let i = 0; i < 8; i++) {
    const p = phys(fpu, i) * 3;
    const at = offset + 32 + i * 16;
    fpu.st[p] = view.getInt32(at, true);
    fpu.st[p + 1] = view.getInt32(at + 4, true);
    fpu.st[p + 2] = view.getUint16(at + 8, true);
  }
  // Tags last: they are recomputed from the new contents.
  loadAbridgedTags(fpu, view.getUint8(offset + 4));
}
