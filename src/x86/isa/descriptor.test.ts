/**
 * LLDT LTR SLDT STR LAR LSL VERR VERW (descriptor.ts): in the emulator at CPL 0, and against
 * the host CPU for the user selectors.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reg } from '../cpu.js';
import { Seg } from '../segments.js';
import { dwords, GDT, longMode, next, protectedMode, reg } from '../testing/system-machines.js';
import { type HostCase, hostDifferences } from '../testing/user-mode.js';

describe('descriptor tables in protected mode', () => {
  test('LTR marks the TSS busy, LLDT loads an LDT that segment loads then use; STR and SLDT read them', () => {
    const { machine, cpu } = protectedMode(`
      mov $0x28, %eax
      ltr %ax
      mov $0x60, %eax
      lldt %ax
      mov $0x0c, %eax
      mov %eax, %es
      str %ebx
      sldt %ecx
    `);
    // An LDT at 0x58000 with one data segment (selector 0x0c: index 1, TI, RPL 0), base 0x1000.
    machine.write32(GDT + 0x60, (0x8000 << 16) | 0x0f);
    machine.write32(GDT + 0x64, 0x00008205);
    machine.write32(0x58008, 0x1000ffff);
    machine.write32(0x5800c, 0x00cf9300);
    cpu.gdtLimit = 0x67;
    cpu.segAttr[Seg.TR] = 0;
    assert.equal(next(cpu), -1);
    assert.equal(cpu.segAttr[Seg.TR]! & 0xf, 0xb);
    assert.equal((dwords(machine, GDT + 0x2c, 1)[0]! >> 8) & 0xf, 0xb, 'the descriptor is busy');
    assert.equal(cpu.segBaseLo[Seg.LDTR], 0x58000);
    assert.equal(cpu.segBaseLo[Seg.ES], 0x1000);
    assert.equal(reg(cpu, Reg.RBX), 0x28);
    assert.equal(reg(cpu, Reg.RCX), 0x60);
  });

  test('LTR of a busy TSS is #GP(sel); LLDT of a non-LDT is #GP(sel); both need CPL 0', () => {
    for (const [source, code] of [
      ['mov $0x28, %eax\n ltr %ax\n ltr %ax', 0x28],
      ['mov $0x10, %eax\n lldt %ax', 0x10],
    ] as const) {
      const { machine, cpu } = protectedMode(source);
      assert.equal(next(cpu), 13);
      assert.equal(dwords(machine, reg(cpu, Reg.RSP), 1)[0], code);
    }
  });
});

describe('descriptor tables in long mode', () => {
  test('LAR/LSL/VERR/VERW on the LDT and TSS descriptors; SLDT of a null LDTR', () => {
    const { machine, cpu } = longMode(`
      mov $0x30, %eax
      ltr %ax
      mov $0x40, %eax
      lldt %ax
      lar %eax, %ebx
      lsl %eax, %ecx
      mov $0x30, %eax
      lar %eax, %edx
      verr %ax
      setz %sil
      mov $0x10, %eax
      verw %ax
      setz %dil
    `);
    // 64-bit TSS at 0x9800 (limit 0x67) and LDT at 0x9900 (limit 0x17), 16-byte descriptors.
    machine.write32(0x7030, (0x9800 << 16) | 0x67);
    machine.write32(0x7034, 0x00008900);
    machine.write32(0x7038, 0);
    machine.write32(0x703c, 0);
    machine.write32(0x7040, (0x9900 << 16) | 0x17);
    machine.write32(0x7044, 0x00008200);
    machine.write32(0x7048, 0);
    machine.write32(0x704c, 0);
    cpu.gdtLimit = 0x4f;
    assert.equal(next(cpu), -1);
    assert.equal(reg(cpu, Reg.RBX), 0x8200);
    assert.equal(reg(cpu, Reg.RCX), 0x17);
    assert.equal(reg(cpu, Reg.RDX), 0x8b00, 'the TSS is busy after LTR');
    assert.equal(reg(cpu, Reg.RSI) & 0xff, 0, 'VERR of a TSS: not a segment');
    assert.equal(reg(cpu, Reg.RDI) & 0xff, 1, 'VERW of writable data');
    assert.equal(cpu.segBaseLo[Seg.TR], 0x9800);
  });
});

describe('descriptor probes against the host CPU', () => {
  test('LAR/LSL/VERR/VERW of the user selectors and of null, kernel and bad ones', () => {
    const cases: HostCase[] = [];
    for (const selector of ['%cs', '%ss']) {
      cases.push({
        name: `lar/lsl/verr/verw ${selector}`,
        source: `mov ${selector}, %eax\n lar %eax, %ebx\n lsl %eax, %ecx\n lar %ax, %dx\n verr %ax\n setz %sil\n verw %ax\n setz %dil\n lsl %rax, %r8\n xor %eax, %eax`,
      });
    }
    for (const selector of [0, 3, 0x8, 0x10, 0x4, 0xfff8, 0x7]) {
      cases.push({
        name: `lar/lsl/verr of selector ${selector}`,
        source: `mov $-1, %ebx\n mov $-1, %ecx\n mov $${selector}, %eax\n lar %eax, %ebx\n setz %dl\n lsl %eax, %ecx\n setz %dh\n verr %ax\n setz %sil\n verw %ax\n setz %dil`,
      });
    }
    assert.deepEqual(hostDifferences(cases), []);
  });
});
