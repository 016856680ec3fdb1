/** The instructions that move RFLAGS as a whole or in part: LAHF, SAHF, PUSHF, POPF. */
import { Cr0, Cr4 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag, materializeFlags, readFlags, updateFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { setReg8 } from './operands.js';
import { sized } from './sized.js';
import { discard, peek, push } from './stack.js';

const CF = Flag.CF;
const PF = Flag.PF;
const AF = Flag.AF;
const ZF = Flag.ZF;
const SF = Flag.SF;

/** SF ZF AF PF CF: the flags LAHF/SAHF move. */
const LOW_FLAGS = SF | ZF | AF | PF | CF;

const lahf: Handler = (cpu) => setReg8(cpu, 16, (readFlags(cpu) & LOW_FLAGS) | Flag.Fixed);

const sahf: Handler = (cpu) => updateFlags(cpu, LOW_FLAGS, (cpu.gpr[0]! >> 8) & LOW_FLAGS);

/** The flags POPF can write at CPL 0 (RF, VM, VIF, VIP and reserved bits excluded). */
const POPF_BITS =
  Flag.Arith | Flag.TF | Flag.IF | Flag.DF | Flag.IOPL | Flag.NT | Flag.AC | Flag.ID;

const pushf =
  (size: number): Handler =>
  (cpu) => {
    const flags = readFlags(cpu);
    if (flags & Flag.VM && (flags & Flag.IOPL) !== Flag.IOPL) {
      // VM86 with IOPL < 3: only the 16-bit form under CR4.VME, which shows VIF as IF.
      if (size !== 16 || !(cpu.cr4 & Cr4.VME)) throw new Fault(Vector.GP, 0);
      push(
        cpu,
        16,
        ((flags & ~Flag.IF) | (flags & Flag.VIF ? Flag.IF : 0) | Flag.IOPL) & 0xffff,
        0,
      );
      return;
    }
    push(cpu, size, size === 16 ? flags & 0xffff : flags & ~(Flag.VM | Flag.RF), 0);
  };

const popf =
  (size: number): Handler =>
  (cpu) => {
    const value = peek(cpu, size, 0);
    const old = materializeFlags(cpu); // and the lazy flags are eager from here on
    const iopl = (old & Flag.IOPL) >> 12;
    let writable = POPF_BITS;
    let flags = old;
    if (old & Flag.VM) {
      if (iopl === 3) {
        writable &= ~Flag.IOPL;
      } else {
        if (size !== 16 || !(cpu.cr4 & Cr4.VME)) throw new Fault(Vector.GP, 0);
        // CR4.VME: IF goes to VIF; a set TF, or IF with VIP pending, faults.
        if (value & Flag.TF || (value & Flag.IF && old & Flag.VIP)) throw new Fault(Vector.GP, 0);
        writable &= ~(Flag.IF | Flag.IOPL);
        flags = (flags & ~Flag.VIF) | (value & Flag.IF ? Flag.VIF : 0);
      }
    } else if (cpu.cpl !== 0 && cpu.cr0 & Cr0.PE) {
      writable &= ~Flag.IOPL;
      if (cpu.cpl > iopl) writable &= ~Flag.IF;
    }
    if (size === 16) writable &= 0xffff;
    else flags &= ~Flag.RF;
    discard(cpu, size >> 3);
    cpu.flags = (flags & ~writable) | (value & writable);
    cpu.stop = true;
  };

export function install(t: OpcodeTable): void {
  t.define(0x9f, { name: 'lahf', exec: lahf });
  t.define(0x9e, { name: 'sahf', exec: sahf });
  t.define(0x9c, { name: 'pushf', exec: sized(pushf), flags: OpFlag.Default64 });
  t.define(0x9d, { name: 'popf', exec: sized(popf), flags: OpFlag.Default64 | OpFlag.EndsBlock });
}
