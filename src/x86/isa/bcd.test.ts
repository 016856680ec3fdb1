/**
 * The BCD adjustments and XLAT (bcd.ts) against the host CPU: DAA DAS AAA AAS AAM AAD over
 * every AL with each input-flag combination (in compatibility mode, where they exist), and
 * XLAT with 64- and 32-bit addresses.
 */
import {
  AF,
  add,
  addInvalid,
  CF,
  DATA,
  OF,
  PF,
  rand64,
  randomBytes,
  SF,
  ZF,
} from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';
import { LAYOUT } from '../testing/native/native.js';

/** Flags the SDM leaves undefined. */
const UNDEFINED = {
  daa: OF,
  aaa: OF | SF | ZF | PF,
  aam: OF | AF | CF,
};

function genXlat(): void {
  const table = randomBytes(0x400);
  for (let k = 0; k < 12; k++) {
    add('xlat', 'xlatb', { set: { rbx: DATA + 0x100n }, data: table });
    add('xlat', 'addr32 xlatb', {
      set: { rbx: (rand64() & ~0xffffffffn) | (DATA + 0x100n) },
      data: table,
    });
  }
}

/**
 * A 32-bit loop running `insn` for i = 0 … count-1 with AX = i × axStep and the input flags
 * from bits of i (CF 12, AF 13, OF 11, SF 10, ZF 9, PF 8); AX and FLAGS afterwards go to
 * DATA + 4i.
 */
function bcdLoop(insn: string, count: number, axStep: number): string {
  return `
    xor %ecx, %ecx
    mov $${LAYOUT.data}, %edi
  4:
    imul $${axStep}, %ecx, %eax
    mov %ecx, %edx
    shr $12, %edx
    and $1, %edx
    mov %ecx, %ebx
    shr $9, %ebx
    and $0x10, %ebx
    or %ebx, %edx
    mov %ecx, %ebx
    and $0x800, %ebx
    or %ebx, %edx
    mov %ecx, %ebx
    shr $3, %ebx
    and $0xc0, %ebx
    or %ebx, %edx
    mov %ecx, %ebx
    shr $6, %ebx
    and $4, %ebx
    or %ebx, %edx
    push %edx
    popf
    ${insn}
    pushf
    pop %edx
    mov %ax, (%edi)
    mov %dx, 2(%edi)
    add $4, %edi
    inc %ecx
    cmp $${count}, %ecx
    jne 4b`;
}

function genBcd(): void {
  // Every AL with each CF/AF combination, AH and the other input flags varied.
  for (const insn of ['daa', 'das', 'aaa', 'aas']) {
    const undefinedFlags = insn.startsWith('d') ? UNDEFINED.daa : UNDEFINED.aaa;
    add('bcd', bcdLoop(insn, 0x4000, 0x0101), { compat: true, memory: true, undefinedFlags });
  }
  const undefinedFlags = UNDEFINED.aam;
  for (const base of [10, 16, 7, 1, 255]) {
    add('bcd', bcdLoop(`aam $${base}`, 0x100, 1), { compat: true, memory: true, undefinedFlags });
    add('bcd', bcdLoop(`aad $${base}`, 0x4000, 0x11), {
      compat: true,
      memory: true,
      undefinedFlags,
    });
  }
  add('bcd', 'aam $0', { compat: true });
  add('bcd', 'mov $0x1234, %eax\n xlatb', {
    compat: true,
    set: { rbx: DATA },
    data: randomBytes(0x2000),
  });
}

differentialSuite('BCD adjustments and XLAT: differential against the host CPU', 0x6a09e667, {
  random: genXlat,
  fixed: () => {
    genBcd();
    addInvalid([
      '.byte 0x27', // DAA in 64-bit mode
      '.byte 0xd4, 0x0a', // AAM
      '.byte 0x37',
    ]);
  },
});
