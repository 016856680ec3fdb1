/** CMOVcc and SETcc (cond.ts) against the host CPU: every condition, size and operand form. */
import { add, memoryOperand, rand64, reg } from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';

const CCS = [
  'o',
  'no',
  'b',
  'ae',
  'e',
  'ne',
  'be',
  'a',
  's',
  'ns',
  'p',
  'np',
  'l',
  'ge',
  'le',
  'g',
];

function genConditional(): void {
  for (const cc of CCS) {
    for (const size of [16, 32, 64]) {
      for (let k = 0; k < 4; k++) {
        add('cmov/setcc', `cmov${cc} ${reg('b', size)}, ${reg('a', size)}`, {});
        const m = memoryOperand(rand64(), size);
        add('cmov/setcc', `cmov${cc} (%rsi), ${reg('a', size)}`, {
          set: { rsi: m.rsi },
          data: m.data,
          memory: true,
        });
      }
    }
    for (let k = 0; k < 6; k++) {
      add('cmov/setcc', `set${cc} %bl`, {});
      add('cmov/setcc', `set${cc} %ah`, {});
      add('cmov/setcc', `set${cc} %r10b`, {});
      const m = memoryOperand(rand64(), 8);
      add('cmov/setcc', `set${cc} (%rsi)`, { set: { rsi: m.rsi }, data: m.data, memory: true });
    }
  }
}

differentialSuite('CMOVcc and SETcc: differential against the host CPU', 0x1b873593, {
  random: genConditional,
});
