/**
 * Segment-register loads and stores through the stack and far pointers: PUSH/POP Sreg,
 * LDS/LES/LSS/LFS/LGS. (MOV Sreg is in system.ts.)
 */
import { read16 } from '../access.js';
import type { Handler } from '../insn.js';
import { loadDataSegment, Seg } from '../segments.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { linear, readSized, setRegSized } from './operands.js';
import { sized } from './sized.js';
import { discard, keepingStack, peek, push } from './stack.js';

/** PUSH Sreg: the selector zero-extended to the operand size (as AMD and older Intel do). */
const pushSegment =
  (seg: Seg) =>
  (size: number): Handler =>
  (cpu) => {
    push(cpu, size, cpu.segSel[seg]!, 0);
  };

const popSegment =
  (seg: Seg) =>
  (size: number): Handler =>
  (cpu) => {
    const selector = peek(cpu, size, 0) & 0xffff;
    keepingStack(cpu, () => {
      discard(cpu, size >> 3);
      loadDataSegment(cpu, seg, selector);
    });
    if (seg === Seg.SS) cpu.interruptShadow = true;
  };

/** LDS LES LSS LFS LGS: a far pointer from memory into Sreg:reg. */
const loadFarPointer =
  (seg: Seg) =>
  (size: number): Handler =>
  (cpu, i) => {
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    const offset = readSized(cpu, lo, hi, size);
    const offsetHi = size === 64 ? cpu.hi : 0;
    const at = (lo + (size >> 3)) | 0;
    const selector = read16(
      cpu,
      at,
      at >>> 0 < lo >>> 0 && cpu.codeSize === 64 ? (hi + 1) | 0 : hi,
    );
    loadDataSegment(cpu, seg, selector);
    setRegSized(cpu, i.reg, size, offset, offsetHi);
  };

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const ends = OpFlag.EndsBlock;
  const legacy = OpFlag.Invalid64;
  t.define(0x06, { name: 'push', exec: sized(pushSegment(Seg.ES)), flags: legacy });
  t.define(0x0e, { name: 'push', exec: sized(pushSegment(Seg.CS)), flags: legacy });
  t.define(0x16, { name: 'push', exec: sized(pushSegment(Seg.SS)), flags: legacy });
  t.define(0x1e, { name: 'push', exec: sized(pushSegment(Seg.DS)), flags: legacy });
  t.define(0x07, { name: 'pop', exec: sized(popSegment(Seg.ES)), flags: legacy });
  t.define(0x17, { name: 'pop', exec: sized(popSegment(Seg.SS)), flags: legacy | ends });
  t.define(0x1f, { name: 'pop', exec: sized(popSegment(Seg.DS)), flags: legacy });
  t.define(0x0fa0, { name: 'push', exec: sized(pushSegment(Seg.FS)), flags: OpFlag.Default64 });
  t.define(0x0fa8, { name: 'push', exec: sized(pushSegment(Seg.GS)), flags: OpFlag.Default64 });
  t.define(0x0fa1, { name: 'pop', exec: sized(popSegment(Seg.FS)), flags: OpFlag.Default64 });
  t.define(0x0fa9, { name: 'pop', exec: sized(popSegment(Seg.GS)), flags: OpFlag.Default64 });

  // C4/C5 with mod = 3, and always in 64-bit mode, are VEX prefixes: #UD without AVX.
  const memory = rm | OpFlag.MemOnly;
  t.define(0xc4, { name: 'les', exec: sized(loadFarPointer(Seg.ES)), flags: memory | legacy });
  t.define(0xc5, { name: 'lds', exec: sized(loadFarPointer(Seg.DS)), flags: memory | legacy });
  t.define(0x0fb2, { name: 'lss', exec: sized(loadFarPointer(Seg.SS)), flags: memory });
  t.define(0x0fb4, { name: 'lfs', exec: sized(loadFarPointer(Seg.FS)), flags: memory });
  t.define(0x0fb5, { name: 'lgs', exec: sized(loadFarPointer(Seg.GS)), flags: memory });
}
