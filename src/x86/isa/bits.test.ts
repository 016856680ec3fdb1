/**
 * The bit instructions (bits.ts) against the host CPU: BT BTS BTR BTC with register and
 * immediate offsets (signed offsets reaching far beyond a memory operand), BSF BSR TZCNT LZCNT
 * POPCNT and their prefix orders, and BSWAP.
 */
import {
  AF,
  AMD_HOST,
  add,
  addInvalid,
  CF,
  DATA,
  inRegister,
  memoryOperand,
  OF,
  PF,
  rand64,
  randInt,
  randomBytes,
  reg,
  SF,
  SUFFIX,
  value,
} from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';

/** Flags the SDM leaves undefined. */
const UNDEFINED = {
  bt: OF | SF | AF | PF,
  bsf: CF | OF | SF | AF | PF,
  tzcnt: OF | SF | AF | PF,
};

/** The bit-test memory cases: random bytes, RSI pointing into the middle. */
function genBitTests(): void {
  const bytes = randomBytes(0x2000);
  for (const size of [16, 32, 64]) {
    for (const op of ['bt', 'bts', 'btr', 'btc']) {
      const undefinedFlags = UNDEFINED.bt;
      // Register offset, register operand.
      for (let k = 0; k < 12; k++) {
        add('bt', `${op} ${reg('c', size)}, ${reg('b', size)}`, {
          set: { rcx: rand64(), rbx: rand64() },
          undefinedFlags,
        });
      }
      // Register offset into memory: signed, reaching beyond the operand.
      const lock = op === 'bt' ? '' : 'lock ';
      for (let k = 0; k < 16; k++) {
        const offset = BigInt(randInt(0x10000) - 0x8000);
        const rcx =
          size === 64
            ? offset
            : size === 32
              ? (rand64() & ~0xffffffffn) | BigInt.asUintN(32, offset)
              : inRegister(BigInt.asUintN(16, offset), 16);
        add('bt', `${k & 1 ? lock : ''}${op} ${reg('c', size)}, (%rsi)`, {
          set: { rcx, rsi: DATA + 0x1000n },
          data: bytes,
          memory: true,
          undefinedFlags,
        });
      }
      for (const imm of [0, 1, 7, 15, 16, 31, 32, 63, 64, 100, 255]) {
        add('bt', `${op}${SUFFIX[size]} $${imm}, ${reg('b', size)}`, {
          set: { rbx: rand64() },
          undefinedFlags,
        });
        add('bt', `${op}${SUFFIX[size]} $${imm}, (%rsi)`, {
          set: { rsi: DATA + 0x1000n },
          data: bytes,
          memory: true,
          undefinedFlags,
        });
      }
    }
  }
}

function genScans(): void {
  for (const size of [16, 32, 64]) {
    for (const op of ['bsf', 'bsr', 'tzcnt', 'lzcnt', 'popcnt']) {
      const undefinedFlags = op.startsWith('bs')
        ? UNDEFINED.bsf
        : op === 'popcnt'
          ? 0
          : UNDEFINED.tzcnt;
      const zen3Flags = op.startsWith('bs') ? UNDEFINED.bsf : 0;
      for (const memory of [false, true]) {
        const source = memory
          ? `${op} (%rsi), ${reg('a', size)}`
          : `${op} ${reg('b', size)}, ${reg('a', size)}`;
        for (let k = 0; k < (memory ? 6 : 24); k++) {
          const v = k < 3 ? 0n : randInt(3) ? value(size) : 1n << BigInt(randInt(size));
          if (memory) {
            const m = memoryOperand(v, size);
            add('bsf/popcnt', source, {
              set: { rsi: m.rsi },
              data: m.data,
              memory: true,
              undefinedFlags,
              zen3Flags,
            });
          } else {
            add('bsf/popcnt', source, {
              set: { rbx: inRegister(v, size) },
              undefinedFlags,
              zen3Flags,
            });
          }
        }
      }
    }
  }
  // Prefix order: 66 F3 and F3 66 are both 16-bit TZCNT; F2 F3 is TZCNT, F3 F2 is BSF.
  for (const bytes of ['0x66, 0xf3', '0xf3, 0x66', '0xf2, 0xf3', '0xf3, 0xf2', '0x66', '0xf2']) {
    for (const v of [0n, 0x8000n, 0x10n, 0x12340000n]) {
      add('bsf/popcnt', `.byte ${bytes}, 0x0f, 0xbc, 0xc3`, {
        set: { rbx: inRegister(v, 32) },
        undefinedFlags: UNDEFINED.bsf | UNDEFINED.tzcnt,
        zen3Flags: UNDEFINED.bsf,
      });
    }
  }
}

function genBswap(): void {
  // BSWAP; the 16-bit form is undefined (AMD clears the register).
  const bswaps = ['bswap %ebx', 'bswap %rbx', 'bswap %r9', 'bswap %r9d'];
  if (AMD_HOST) bswaps.push('.byte 0x66, 0x0f, 0xcb');
  for (const source of bswaps) {
    for (let k = 0; k < 6; k++) add('bswap', source, {});
  }
}

differentialSuite(
  'bit tests, scans and counts, BSWAP: differential against the host CPU',
  0x3c6ef372,
  {
    random: () => {
      genBitTests();
      genScans();
      genBswap();
    },
    fixed: () =>
      addInvalid([
        '.byte 0xf0, 0x0f, 0xa3, 0x0e', // LOCK BT
        '.byte 0xf0, 0x0f, 0xab, 0xcb', // LOCK BTS with a register operand
        '.byte 0x0f, 0xb8, 0xc3', // 0F B8 without F3
      ]),
  },
);
