/** MOV to and from the debug registers (0F 21, 0F 23). Breakpoints are not implemented. */
import { type Cpu, Cr4 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import type { Handler, Insn } from '../insn.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { getRegSized, setRegSized } from './operands.js';

/** DR6: B0-B3, BD, BS, BT are writable; the rest reads as 1 (bits 4-11, 16-31) or 0 (bit 12). */
const DR6_WRITABLE = 0xe00f;
const DR6_FIXED = 0xffff0ff0 | 0;
/** DR7: bits 11, 12, 14, 15 read as 0, bit 10 as 1. */
const DR7_WRITABLE = 0xffff23ff | 0;
const DR7_FIXED = 0x400;

/** The debug register a MOV DR names: DR4/DR5 alias DR6/DR7 unless CR4.DE; DR8+ is #UD. */
function debugRegister(cpu: Cpu, i: Insn): number {
  if (cpu.cpl !== 0) throw new Fault(Vector.GP, 0);
  const n = i.reg;
  if (n >= 8) throw new Fault(Vector.UD);
  if (n === 4 || n === 5) {
    if (cpu.cr4 & Cr4.DE) throw new Fault(Vector.UD);
    return n + 2;
  }
  return n;
}

/** Reads DRn as lo (hi in cpu.hi). DR6/DR7 storage holds only their writable bits. */
export function readDebugRegister(cpu: Cpu, n: number): number {
  cpu.hi = n < 4 ? cpu.dr[n * 2 + 1]! : 0;
  if (n === 6) return (cpu.dr[12]! & DR6_WRITABLE) | DR6_FIXED;
  if (n === 7) return (cpu.dr[14]! & DR7_WRITABLE) | DR7_FIXED;
  return cpu.dr[n * 2]!;
}

const movFromDr: Handler = (cpu, i) => {
  const value = readDebugRegister(cpu, debugRegister(cpu, i));
  setRegSized(cpu, i.rm, i.opsize, value, i.opsize === 64 ? cpu.hi : 0);
};

const movToDr: Handler = (cpu, i) => {
  const n = debugRegister(cpu, i);
  const lo = getRegSized(cpu, i.rm, i.opsize);
  const hi = i.opsize === 64 ? cpu.hi : 0;
  if (n >= 6) {
    if (hi !== 0) throw new Fault(Vector.GP, 0);
    cpu.dr[n * 2] = n === 6 ? lo & DR6_WRITABLE : lo & DR7_WRITABLE;
    cpu.dr[n * 2 + 1] = 0;
    return;
  }
  cpu.dr[n * 2] = lo;
  cpu.dr[n * 2 + 1] = hi;
};

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const ends = OpFlag.EndsBlock;
  t.define(0x0f21, { name: 'mov', exec: movFromDr, flags: rm | OpFlag.Size64InLongMode });
  t.define(0x0f23, { name: 'mov', exec: movToDr, flags: rm | OpFlag.Size64InLongMode | ends });
}
