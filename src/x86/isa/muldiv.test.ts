/**
 * MUL IMUL DIV IDIV (muldiv.ts) against the host CPU: edge and random operands in registers
 * and memory at every size, and dividends chosen to divide exactly, overflow or divide by 0.
 */
import {
  AF,
  ARITH,
  add,
  inRegister,
  maskOf,
  memoryOperand,
  PF,
  pick,
  type RegName,
  rand64,
  randInt,
  randValue,
  reg,
  SF,
  SIZES,
  SUFFIX,
  toSigned,
  value,
  ZF,
} from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';

/** Flags the SDM leaves undefined. */
const UNDEFINED = {
  mul: SF | ZF | AF | PF,
  div: ARITH,
};

function genMulDiv(): void {
  for (const size of SIZES) {
    for (const op of ['mul', 'imul', 'div', 'idiv']) {
      const divide = op.endsWith('div');
      const operands = [reg('b', size), reg('r9', size), '(%rsi)'];
      if (size === 8) operands.push('%bh');
      for (const operand of operands) {
        const memory = operand === '(%rsi)';
        const source = memory ? `${op}${SUFFIX[size]} (%rsi)` : `${op} ${operand}`;
        const count = memory ? 8 : 24;
        for (let k = 0; k < count; k++) {
          let src: bigint;
          let lo: bigint;
          let hi: bigint;
          if (!divide) {
            src = value(size);
            lo = value(size);
            hi = rand64();
          } else {
            [src, lo, hi] = dividend(size, op === 'idiv', k);
          }
          const set: Partial<Record<RegName, bigint>> = {};
          if (size === 8) {
            set.rax = inRegister(lo | (hi << 8n), 16);
          } else {
            set.rax = inRegister(lo, size);
            set.rdx = inRegister(hi, size);
          }
          const flags = { undefinedFlags: divide ? UNDEFINED.div : UNDEFINED.mul };
          if (memory) {
            const m = memoryOperand(src, size);
            add('mul/div', source, {
              set: { ...set, rsi: m.rsi },
              data: m.data,
              memory: true,
              ...flags,
            });
          } else if (operand === '%bh') {
            add('mul/div', source, { set: { ...set, rbx: inRegister(src << 8n, 16) }, ...flags });
          } else {
            const name = operand === reg('b', size) ? 'rbx' : 'r9';
            add('mul/div', source, { set: { ...set, [name]: inRegister(src, size) }, ...flags });
          }
        }
      }
    }
  }
}

/** [divisor, dividend low half, dividend high half] for DIV/IDIV: mostly valid, some #DE. */
function dividend(size: number, signed: boolean, k: number): [bigint, bigint, bigint] {
  const m = maskOf(size);
  const wideMask = maskOf(2 * size);
  const min = 1n << BigInt(size - 1);
  let d: bigint;
  let n: bigint;
  switch (k % 8) {
    case 0:
      d = 0n; // #DE
      n = randValue(2 * size);
      break;
    case 1:
      d = signed ? m : 1n; // -1 / 1
      n = signed
        ? pick([
            BigInt.asUintN(2 * size, -(min << BigInt(size))),
            BigInt.asUintN(2 * size, -min),
            min,
            5n,
          ])
        : pick([m + 1n, m, randValue(2 * size)]);
      break;
    case 2:
      d = randValue(size) | 1n; // overflow likely
      n = rand64() & wideMask;
      n |= 1n << BigInt(2 * size - 2);
      break;
    case 3:
      // Quotients at the signed limits.
      d = signed ? pick([2n, m - 1n, 3n]) : pick([2n, m]);
      n = signed
        ? BigInt.asUintN(2 * size, toSigned(d, size) * pick([-min, min - 1n, min, -min - 1n]))
        : d * m + (d - 1n);
      break;
    default: {
      d = value(size) || 7n;
      if (signed) {
        const sd = toSigned(d, size);
        const q = toSigned(value(size), size);
        let r = randValue(size) % (sd < 0n ? -sd : sd);
        const product = q * sd;
        if (product < 0n || (product === 0n && randInt(2))) r = -r;
        n = BigInt.asUintN(2 * size, product + r);
      } else {
        n = value(size) * d + (randValue(size) % d);
      }
    }
  }
  n &= wideMask;
  return [d & m, n & m, n >> BigInt(size)];
}

function genImul(): void {
  const imms = [
    0n,
    1n,
    -1n,
    2n,
    3n,
    0x7fn,
    -0x80n,
    10n,
    0x7fffn,
    -0x8000n,
    0x12345678n,
    0x7fffffffn,
    -0x80000000n,
    0x55aan,
  ];
  for (const size of [16, 32, 64]) {
    const forms: [string, boolean][] = [
      [`imul ${reg('b', size)}, ${reg('a', size)}`, false],
      [`imul (%rsi), ${reg('a', size)}`, true],
    ];
    for (const imm of imms) {
      if (size === 16 && (imm > 0x7fffn || imm < -0x8000n)) continue;
      forms.push([`imul $${imm}, ${reg('b', size)}, ${reg('a', size)}`, false]);
      forms.push([`imul $${imm}, (%rsi), ${reg('r9', size)}`, true]);
    }
    for (const [source, memory] of forms) {
      for (let k = 0; k < (source.includes('$') ? 4 : 20); k++) {
        const a = value(size);
        const b = value(size);
        const undefinedFlags = UNDEFINED.mul;
        if (memory) {
          const m = memoryOperand(b, size);
          add('imul', source, {
            set: { rax: inRegister(a, size), rsi: m.rsi },
            data: m.data,
            memory: true,
            undefinedFlags,
          });
        } else {
          add('imul', source, {
            set: { rax: inRegister(a, size), rbx: inRegister(b, size) },
            undefinedFlags,
          });
        }
      }
    }
  }
}

differentialSuite('MUL IMUL DIV IDIV: differential against the host CPU', 0x2545f491, {
  random: () => {
    genMulDiv();
    genImul();
  },
});
