/**
 * The instructions that do nothing — hint NOPs, prefetches, fences, CLFLUSH — or nothing but
 * #UD (UD0, UD1, UD2). The plain NOPs (90, 0F 1F /0) are in data.ts.
 */
import { Fault, Vector } from '../fault.js';
import type { Handler } from '../insn.js';
import { type OpcodeTable, OpFlag } from '../table.js';

const nop: Handler = () => {};
const undefinedOpcode: Handler = () => {
  throw new Fault(Vector.UD);
};

export function install(t: OpcodeTable): void {
  const rm = OpFlag.ModRM;
  const ends = OpFlag.EndsBlock;
  const memory = rm | OpFlag.MemOnly;

  t.define(0x0f0b, { name: 'ud2', exec: undefinedOpcode, flags: ends });
  t.define(0x0fb9, { name: 'ud1', exec: undefinedOpcode, flags: rm | ends });
  t.define(0x0fff, { name: 'ud0', exec: undefinedOpcode, flags: rm | ends });

  // Hint NOPs: 0F 18 (PREFETCHh and reserved), 0F 19-1E (incl. ENDBR32/64 and the MPX
  // forms, which are NOPs without MPX), 0F 1F /1-/7 (/0 is in data.ts); 0F 0D PREFETCH(W).
  for (let op = 0x0f18; op <= 0x0f1e; op++) t.define(op, { name: 'nop', exec: nop, flags: rm });
  for (let reg = 1; reg < 8; reg++)
    t.defineGroup(0x0f1f, reg, { name: 'nop', exec: nop, flags: rm });
  t.define(0x0f0d, { name: 'prefetch', exec: nop, flags: memory });

  // Fences (0F AE /5 /6 /7 register forms) order nothing in a one-instruction-at-a-time
  // interpreter; CLFLUSH (0F AE /7 memory form) has no cache to flush.
  for (let r = 0; r < 8; r++) {
    t.defineRegisterForm(0x0fae, 5, r, { name: 'lfence', exec: nop });
    t.defineRegisterForm(0x0fae, 6, r, { name: 'mfence', exec: nop });
    t.defineRegisterForm(0x0fae, 7, r, { name: 'sfence', exec: nop });
  }
  t.defineGroup(0x0fae, 7, { name: 'clflush', exec: nop, flags: memory });
}
