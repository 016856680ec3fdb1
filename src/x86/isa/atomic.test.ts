/** XADD, CMPXCHG, CMPXCHG8B/16B (atomic.ts) against the host CPU, with and without LOCK. */
import {
  add,
  addInvalid,
  bytesAt,
  DATA,
  inRegister,
  memoryOperand,
  rand64,
  reg,
  SIZES,
  value,
} from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';

function genExchanges(): void {
  for (const size of SIZES) {
    const a = reg('a', size);
    const b = reg('b', size);
    const c = reg('c', size);
    for (let k = 0; k < 12; k++) {
      add('xadd/cmpxchg', `xadd ${c}, ${b}`, {
        set: { rcx: inRegister(value(size), size), rbx: inRegister(value(size), size) },
      });
      add('xadd/cmpxchg', `xadd ${b}, ${b}`, {});
      const m = memoryOperand(value(size), size);
      add('xadd/cmpxchg', `${k & 1 ? 'lock ' : ''}xadd ${c}, (%rsi)`, {
        set: { rsi: m.rsi, rcx: inRegister(value(size), size) },
        data: m.data,
        memory: true,
      });
    }
    for (let k = 0; k < 16; k++) {
      const dest = value(size);
      const acc = k & 1 ? inRegister(dest, size) : inRegister(value(size), size);
      add('xadd/cmpxchg', `cmpxchg ${c}, ${b}`, { set: { rax: acc, rbx: inRegister(dest, size) } });
      add('xadd/cmpxchg', `cmpxchg ${a}, ${a}`, {});
      const m = memoryOperand(dest, size);
      add('xadd/cmpxchg', `${k & 2 ? 'lock ' : ''}cmpxchg ${c}, (%rsi)`, {
        set: { rax: acc, rsi: m.rsi },
        data: m.data,
        memory: true,
      });
    }
  }
  for (let k = 0; k < 16; k++) {
    const lo = rand64();
    const hi = rand64();
    const equal = k & 1;
    const data = new Uint8Array(0x120);
    data.set(bytesAt(16, 0, lo, 64), 0x100);
    data.set(bytesAt(8, 0, hi, 64), 0x108);
    const rax = equal ? (rand64() & ~0xffffffffn) | (lo & 0xffffffffn) : rand64();
    const rdx = equal ? (rand64() & ~0xffffffffn) | (lo >> 32n) : rand64();
    add('cmpxchg8b/16b', `${k & 2 ? 'lock ' : ''}cmpxchg8b (%rsi)`, {
      set: { rax, rdx, rsi: DATA + 0x100n },
      data,
      memory: true,
    });
    add('cmpxchg8b/16b', `${k & 2 ? 'lock ' : ''}cmpxchg16b (%rsi)`, {
      set: { rax: equal ? lo : rand64(), rdx: equal || k & 4 ? hi : rand64(), rsi: DATA + 0x100n },
      data,
      memory: true,
    });
  }
  add('cmpxchg8b/16b', 'cmpxchg16b (%rsi)', {
    set: { rsi: DATA + 0x108n },
    data: new Uint8Array(0x200),
    memory: true,
  });
  add('cmpxchg8b/16b', 'cmpxchg8b (%rsi)', {
    set: { rsi: DATA + 0xffcn },
    data: new Uint8Array(0x1010),
    memory: true,
  });
}

differentialSuite('XADD and CMPXCHG: differential against the host CPU', 0x7f4a7c15, {
  random: genExchanges,
  fixed: () =>
    addInvalid([
      '.byte 0xf0, 0x0f, 0xc1, 0xcb', // LOCK XADD, register
      '.byte 0x0f, 0xc7, 0xc8', // CMPXCHG8B with a register operand
    ]),
});
