/**
 * ADD OR ADC SBB AND SUB XOR CMP, TEST, INC DEC NEG NOT (alu.ts) against the host CPU: every
 * size, register/immediate/memory forms, edge values; the compiled-block templates
 * (jit/templates.ts) are checked by running the same suites with XENOTYPE_JIT_THRESHOLD=1.
 */
import {
  add,
  inRegister,
  memoryOperand,
  pick,
  reg,
  SIZES,
  SUFFIX,
  toSigned,
  value,
} from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';

const OPS = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

function genAlu(): void {
  for (const op of OPS) {
    for (const size of SIZES) {
      const s = SUFFIX[size]!;
      for (let k = 0; k < 6; k++) {
        const a = value(size);
        const b = value(size);
        add('alu', `${op}${s} ${reg('b', size)}, ${reg('a', size)}`, {
          set: { rax: inRegister(a, size), rbx: inRegister(b, size) },
        });
        add('alu', `${op}${s} ${reg('a', size)}, ${reg('b', size)}`, {
          set: { rax: inRegister(a, size), rbx: inRegister(b, size) },
        });
        const imm = size === 8 ? Number(value(8)) : Number(toSigned(value(32), 32));
        add('alu', `${op}${s} $${imm}, ${reg('b', size)}`, { set: { rbx: inRegister(a, size) } });
        add('alu', `${op}${s} $${imm}, ${reg('a', size)}`, { set: { rax: inRegister(a, size) } });
        if (size > 8)
          add('alu', `${op}${s} $${Number(toSigned(value(8), 8))}, ${reg('r9', size)}`, {
            set: { r9: inRegister(a, size) },
          });
        const m = memoryOperand(a, size);
        add('alu', `${op}${s} ${reg('b', size)}, (%rsi)`, {
          set: { rsi: m.rsi, rbx: inRegister(b, size) },
          data: m.data,
          memory: true,
        });
        add('alu', `${op}${s} (%rsi), ${reg('b', size)}`, {
          set: { rsi: m.rsi, rbx: inRegister(b, size) },
          data: m.data,
          memory: true,
        });
        add('alu', `${op}${s} $${imm}, (%rsi)`, {
          set: { rsi: m.rsi },
          data: m.data,
          memory: true,
        });
      }
    }
    // High-byte registers.
    add('alu', `${op}b %ah, %bh`, {});
    add('alu', `${op}b %ch, %dl`, {});
  }
  for (const size of SIZES) {
    const s = SUFFIX[size]!;
    for (let k = 0; k < 8; k++) {
      const a = value(size);
      const b = value(size);
      add('alu', `test${s} ${reg('b', size)}, ${reg('a', size)}`, {
        set: { rax: inRegister(a, size), rbx: inRegister(b, size) },
      });
      add(
        'alu',
        `test${s} $${size === 8 ? Number(b) : Number(toSigned(value(32), 32))}, ${reg('a', size)}`,
        { set: { rax: inRegister(a, size) } },
      );
      for (const op of ['inc', 'dec', 'neg', 'not']) {
        add('alu', `${op}${s} ${reg(pick(['a', 'b', 'r9']), size)}`, {
          set: { rax: inRegister(a, size), rbx: inRegister(a, size), r9: inRegister(a, size) },
        });
        const m = memoryOperand(a, size);
        add('alu', `${op}${s} (%rsi)`, { set: { rsi: m.rsi }, data: m.data, memory: true });
      }
    }
  }
}

differentialSuite('ALU operations: differential against the host CPU', 0x2545f491, {
  random: genAlu,
});
