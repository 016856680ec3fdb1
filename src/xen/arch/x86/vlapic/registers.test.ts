// Register semantics of the vlapic: reset values, what every register keeps of a write,
// xAPIC MMIO access rules, IA32_APIC_BASE mode switching, x2APIC MSR rules and #GP cases.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApicReg, Esr } from './regs.js';
import { FakeDomain } from './testing.js';
import { isVlapicMsr } from './vlapic.js';

const MSR_APIC_BASE = 0x1b;
const msr = (reg: number): number => 0x800 + (reg >> 4);

/** Software-enables an xAPIC through SVR. */
function enabled(vcpus = 1, options = {}): FakeDomain {
  const d = new FakeDomain(vcpus, options);
  for (const lapic of d.lapics) lapic.mmioWrite(ApicReg.SVR, 4, 0x1ff);
  return d;
}

describe('reset state', () => {
  test('registers after power-on', () => {
    const d = new FakeDomain(2);
    const a = d.lapic(1);
    const expected: [number, number][] = [
      [ApicReg.ID, 1 << 24],
      [ApicReg.LVR, 0x00050014],
      [ApicReg.TPR, 0],
      [ApicReg.APR, 0],
      [ApicReg.PPR, 0],
      [ApicReg.EOI, 0],
      [ApicReg.RRD, 0],
      [ApicReg.LDR, 0],
      [ApicReg.DFR, 0xffffffff],
      [ApicReg.SVR, 0xff],
      [ApicReg.ESR, 0],
      [ApicReg.ICR, 0],
      [ApicReg.ICR2, 0],
      [ApicReg.LVTT, 0x10000],
      [ApicReg.LVTTHMR, 0x10000],
      [ApicReg.LVTPC, 0x10000],
      [ApicReg.LVT0, 0x10000],
      [ApicReg.LVT1, 0x10000],
      [ApicReg.LVTERR, 0x10000],
      [ApicReg.TMICT, 0],
      [ApicReg.TMCCT, 0],
      [ApicReg.TDCR, 0],
    ];
    for (const [reg, value] of expected) {
      assert.equal(a.mmioRead(reg, 4), value, `register ${reg.toString(16)}`);
    }
    for (let reg = ApicReg.ISR; reg < ApicReg.ESR; reg += 0x10) assert.equal(a.mmioRead(reg, 4), 0);
    assert.deepEqual(d.lapic(0).readApicBase(), [0xfee00900, 0], 'vCPU 0 is the BSP');
    assert.deepEqual(a.readApicBase(), [0xfee00800, 0]);
    assert.equal(a.softwareDisabled, true);
    assert.equal(a.xapicMode, true);
    assert.equal(a.claimsMmio(0xfee00000 | 0, 0), true);
    assert.equal(a.claimsMmio(0xfee00ffc, 0), true);
    assert.equal(a.claimsMmio(0xfee01000, 0), false);
    assert.equal(a.claimsMmio(0xfee00000, 1), false);
    assert.equal(a.mmioBase, 0xfee00000);
  });

  test('the APIC ID comes from the options (Xen numbers them 2n)', () => {
    const d = new FakeDomain(3, { apicId: (vcpu) => vcpu * 2 });
    assert.equal(d.lapic(2).mmioRead(ApicReg.ID, 4), 4 << 24);
    assert.equal(d.lapic(2).destinationId, 4);
  });
});

describe('xAPIC register writes', () => {
  test('each register keeps its writable bits only', () => {
    const d = enabled();
    const a = d.lapic();
    const cases: [number, number, number][] = [
      [ApicReg.ID, 0xffffffff, 0xff000000],
      [ApicReg.TPR, 0xffffffff, 0xff],
      [ApicReg.LDR, 0xffffffff, 0xff000000],
      [ApicReg.DFR, 0, 0x0fffffff],
      [ApicReg.DFR, 0xf0000000, 0xffffffff],
      [ApicReg.SVR, 0xfffffeff, 0x2ff],
      [ApicReg.SVR, 0xffffffff, 0x3ff],
      [ApicReg.ICR2, 0xffffffff, 0xff000000],
      [ApicReg.LVTT, 0xffffffff, 0x700ff],
      [ApicReg.LVTTHMR, 0xffffffff, 0x107ff],
      [ApicReg.LVTPC, 0xffffffff, 0x107ff],
      [ApicReg.LVT0, 0xffffffff, 0x1a7ff],
      [ApicReg.LVT1, 0xffffffff, 0x1a7ff],
      [ApicReg.LVTERR, 0xffffffff, 0x100ff],
      [ApicReg.LVTT, 0x000200ee, 0x200ee],
      [ApicReg.TDCR, 0xffffffff, 0xb],
    ];
    for (const [reg, value, kept] of cases) {
      a.mmioWrite(reg, 4, value);
      assert.equal(a.mmioRead(reg, 4) >>> 0, kept, `register ${reg.toString(16)} ← ${value}`);
    }
  });

  test('read-only and reserved registers ignore writes', () => {
    const d = enabled();
    const a = d.lapic();
    const readOnly = [
      ApicReg.LVR,
      ApicReg.APR,
      ApicReg.PPR,
      ApicReg.RRD,
      ApicReg.ISR,
      ApicReg.TMR + 0x70,
      ApicReg.IRR + 0x30,
      ApicReg.TMCCT,
      ApicReg.CMCI,
      0x00,
      0x10,
      0x40,
      0x3a0,
      0x3f0,
    ];
    for (const reg of readOnly) {
      const before = a.mmioRead(reg, 4);
      a.mmioWrite(reg, 4, 0x12345678);
      assert.equal(a.mmioRead(reg, 4), before, `register ${reg.toString(16)}`);
    }
    assert.equal(a.highestPending(), -1, 'IRR was not written');
  });

  test('the ICR keeps defined bits, never the delivery status bit, and sends on the low write', () => {
    const d = enabled(2);
    const a = d.lapic();
    a.mmioWrite(ApicReg.ICR2, 4, 1 << 24);
    // Reserved bits 31:20, 17:16 and 13, the status bit, all-excluding-self, fixed, vector 0x40.
    a.mmioWrite(ApicReg.ICR, 4, 0xffff3040);
    assert.equal(a.mmioRead(ApicReg.ICR, 4), 0x000c0040);
    assert.deepEqual(d.ipis, [{ from: 0, target: 1, vector: 0x40, mode: 0 }]);
    a.mmioWrite(ApicReg.ICR2, 4, 0);
    assert.equal(d.ipis.length, 1, 'writing ICR2 sends nothing');
  });

  test('sub-register accesses within the first 4 bytes of a register', () => {
    const d = enabled();
    const a = d.lapic();
    a.mmioWrite(ApicReg.LDR, 4, 0xa5000000);
    assert.equal(a.mmioRead(ApicReg.LDR + 3, 1), 0xa5);
    assert.equal(a.mmioRead(ApicReg.LDR + 2, 2), 0xa500);
    assert.equal(a.mmioRead(ApicReg.LVR, 2), 0x0014);
    assert.equal(a.mmioRead(ApicReg.LVR + 2, 1), 0x05);
    a.mmioWrite(ApicReg.LDR + 3, 1, 0x3c);
    assert.equal(a.mmioRead(ApicReg.LDR, 4), 0x3c000000);
    a.mmioWrite(ApicReg.TPR, 1, 0x1234);
    assert.equal(a.mmioRead(ApicReg.TPR, 4), 0x34);
    a.mmioWrite(ApicReg.LVTERR, 2, 0xffff);
    assert.equal(a.mmioRead(ApicReg.LVTERR, 4), 0x100ff, 'the mask bit was kept');
    // Accesses that do not fit in the register's first 32 bits read 0 and write nothing.
    assert.equal(a.mmioRead(ApicReg.LVR + 2, 4), 0);
    assert.equal(a.mmioRead(ApicReg.LVR + 4, 4), 0);
    assert.equal(a.mmioRead(ApicReg.LVR, 8), 0);
    assert.equal(a.mmioRead(0x400, 4), 0);
    assert.equal(a.mmioRead(0xffc, 4), 0);
    a.mmioWrite(ApicReg.TPR + 4, 4, 0xff);
    a.mmioWrite(ApicReg.TPR, 8, 0xff);
    assert.equal(a.mmioRead(ApicReg.TPR, 4), 0x34);
  });

  test('software disable masks every LVT and keeps them masked', () => {
    const d = enabled();
    const a = d.lapic();
    a.mmioWrite(ApicReg.LVT0, 4, 0x700);
    a.mmioWrite(ApicReg.LVTERR, 4, 0xfe);
    assert.equal(a.mmioRead(ApicReg.LVT0, 4), 0x700);
    a.mmioWrite(ApicReg.SVR, 4, 0xff);
    assert.equal(a.softwareDisabled, true);
    assert.equal(a.mmioRead(ApicReg.LVT0, 4), 0x10700);
    assert.equal(a.mmioRead(ApicReg.LVTERR, 4), 0x100fe);
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    assert.equal(a.mmioRead(ApicReg.LVTT, 4), 0x10030, 'cannot unmask while disabled');
    assert.equal(a.acceptInterrupt(0x50), false, 'no fixed interrupts are accepted');
    a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    assert.equal(a.mmioRead(ApicReg.LVT0, 4), 0x10700, 'enabling does not unmask');
    a.mmioWrite(ApicReg.LVTT, 4, 0x30);
    assert.equal(a.mmioRead(ApicReg.LVTT, 4), 0x30);
  });

  test('ESR: errors show after the next write, and a second write clears them', () => {
    const d = enabled();
    const a = d.lapic();
    a.mmioWrite(ApicReg.ICR, 4, 0x40005); // fixed, self, vector 5: send illegal vector
    assert.equal(a.mmioRead(ApicReg.ESR, 4), 0);
    a.mmioWrite(ApicReg.ESR, 4, 0);
    assert.equal(a.mmioRead(ApicReg.ESR, 4), Esr.SendIllegalVector);
    a.mmioWrite(ApicReg.ESR, 4, 0);
    assert.equal(a.mmioRead(ApicReg.ESR, 4), 0);
    assert.equal(a.acceptInterrupt(3), false);
    a.mmioWrite(ApicReg.ESR, 4, 0);
    assert.equal(a.mmioRead(ApicReg.ESR, 4), Esr.ReceiveIllegalVector);
  });

  test('an error raises the LVT error vector once; an illegal error vector folds in', () => {
    const d = enabled();
    const a = d.lapic();
    a.mmioWrite(ApicReg.LVTERR, 4, 0xfe);
    a.acceptInterrupt(1);
    a.acceptInterrupt(2);
    assert.equal(a.highestPending(), 0xfe);
    a.ackInterrupt(0xfe);
    a.mmioWrite(ApicReg.EOI, 4, 0);
    a.mmioWrite(ApicReg.ESR, 4, 0);
    a.mmioWrite(ApicReg.LVTERR, 4, 0x03);
    a.mmioWrite(ApicReg.ICR, 4, 0x40001);
    a.mmioWrite(ApicReg.ESR, 4, 0);
    assert.equal(a.mmioRead(ApicReg.ESR, 4), Esr.SendIllegalVector | Esr.ReceiveIllegalVector);
    assert.equal(a.highestPending(), -1);
  });

  test('INIT keeps the ID and APIC base and resets the rest', () => {
    const d = enabled();
    const a = d.lapic();
    a.mmioWrite(ApicReg.ID, 4, 0x07000000);
    a.mmioWrite(ApicReg.TPR, 4, 0x20);
    a.mmioWrite(ApicReg.LDR, 4, 0x01000000);
    a.acceptInterrupt(0x80);
    a.init();
    assert.equal(a.mmioRead(ApicReg.ID, 4), 0x07000000);
    assert.equal(a.mmioRead(ApicReg.TPR, 4), 0);
    assert.equal(a.mmioRead(ApicReg.LDR, 4), 0);
    assert.equal(a.mmioRead(ApicReg.SVR, 4), 0xff);
    assert.equal(a.isPending(0x80), false);
    assert.deepEqual(a.readApicBase(), [0xfee00900, 0]);
  });
});

describe('IA32_APIC_BASE', () => {
  test('reserved bits, and a moved xAPIC page, are #GP', () => {
    const a = new FakeDomain(1).lapic();
    assert.equal(a.writeApicBase(0xfee00901, 0), false, 'bit 0');
    assert.equal(a.writeApicBase(0xfee00b00, 0), false, 'bit 9');
    assert.equal(a.writeApicBase(0xfee00900, 0x100), false, 'above MAXPHYADDR');
    assert.equal(a.writeApicBase(0xfed00900, 0), false, 'relocating the xAPIC page');
    assert.equal(a.writeApicBase(0xfee00900, 1), false, 'relocating above 4 GiB');
    assert.equal(a.msrWrite(MSR_APIC_BASE, 0xfee00800, 0), true, 'clearing BSP is allowed');
    assert.deepEqual(a.msrRead(MSR_APIC_BASE), [0xfee00800, 0]);
  });

  test('mode transitions: disabled ↔ xAPIC → x2APIC → disabled', () => {
    const d = enabled();
    const a = d.lapic();
    a.mmioWrite(ApicReg.TPR, 4, 0x30);
    // xAPIC → disabled: the page is no longer decoded and the state is gone.
    assert.equal(a.writeApicBase(0xfee00100, 0), true);
    assert.equal(a.hardwareDisabled, true);
    assert.equal(a.claimsMmio(0xfee00000 | 0), false);
    assert.equal(a.mmioRead(ApicReg.LVR, 4), 0);
    assert.equal(a.msrRead(msr(ApicReg.LVR)), undefined);
    assert.equal(a.acceptInterrupt(0x40), false);
    // disabled → x2APIC directly is illegal, and so is EN=0 with EXTD=1.
    assert.equal(a.writeApicBase(0xfee00d00, 0), false);
    assert.equal(a.writeApicBase(0xfee00500, 0), false);
    // disabled → xAPIC resets.
    assert.equal(a.writeApicBase(0xfee00900, 0), true);
    assert.equal(a.mmioRead(ApicReg.TPR, 4), 0);
    assert.equal(a.softwareDisabled, true);
    // xAPIC → x2APIC keeps the state and gives the x2APIC ID and LDR.
    a.mmioWrite(ApicReg.TPR, 4, 0x30);
    assert.equal(a.writeApicBase(0xfee00d00, 0), true);
    assert.equal(a.x2apicMode, true);
    assert.equal(a.claimsMmio(0xfee00000 | 0), false, 'no MMIO in x2APIC mode');
    assert.deepEqual(a.msrRead(msr(ApicReg.TPR)), [0x30, 0]);
    // x2APIC → xAPIC is illegal; x2APIC → disabled is fine.
    assert.equal(a.writeApicBase(0xfee00900, 0), false);
    assert.equal(a.writeApicBase(0xfee00500, 0), false, 'EN=0 with EXTD=1');
    assert.equal(a.writeApicBase(0xfee00100, 0), true);
    assert.equal(a.x2apicMode, false);
    assert.equal(a.hardwareDisabled, true);
  });

  test('without x2APIC support EXTD is a reserved bit', () => {
    const a = new FakeDomain(1, { x2apic: false }).lapic();
    assert.equal(a.writeApicBase(0xfee00d00, 0), false);
  });
});

describe('x2APIC MSRs', () => {
  test('the x2APIC ID is the full APIC ID and the LDR is derived from it', () => {
    const d = new FakeDomain(1, { apicId: () => 0x25 });
    d.enterX2apic();
    const a = d.lapic();
    assert.deepEqual(a.msrRead(msr(ApicReg.ID)), [0x25, 0]);
    assert.deepEqual(a.msrRead(msr(ApicReg.LDR)), [(2 << 16) | (1 << 5), 0]);
    assert.deepEqual(a.msrRead(msr(ApicReg.LVR)), [0x50014, 0]);
    a.init();
    assert.deepEqual(a.msrRead(msr(ApicReg.LDR)), [(2 << 16) | (1 << 5), 0], 'INIT keeps it');
  });

  test('in xAPIC mode every x2APIC MSR is #GP', () => {
    const a = enabled().lapic();
    for (let index = 0x800; index <= 0x8ff; index++) {
      assert.equal(a.msrRead(index), undefined);
      assert.equal(a.msrWrite(index, 0, 0), false);
    }
  });

  test('readable and unreadable registers', () => {
    const d = enabled();
    d.enterX2apic();
    const a = d.lapic();
    const readable = [
      0x802, 0x803, 0x808, 0x80a, 0x80d, 0x80f, 0x828, 0x830, 0x832, 0x833, 0x834, 0x835, 0x836,
      0x837, 0x838, 0x839, 0x83e,
    ];
    for (let i = 0x810; i < 0x828; i++) readable.push(i);
    for (let index = 0x800; index <= 0x8ff; index++) {
      const value = a.msrRead(index);
      if (readable.includes(index)) assert.notEqual(value, undefined, index.toString(16));
      else assert.equal(value, undefined, `${index.toString(16)} must be #GP`);
    }
  });

  test('writes: read-only registers and reserved bits are #GP, zero-only registers too', () => {
    const d = enabled();
    d.enterX2apic();
    const a = d.lapic();
    const gp: [number, number, number][] = [
      [0x802, 0, 0], // ID
      [0x803, 0, 0], // version
      [0x80a, 0, 0], // PPR
      [0x80d, 0, 0], // LDR
      [0x80e, 0, 0], // DFR does not exist in x2APIC mode
      [0x810, 0, 0], // ISR
      [0x818, 0, 0], // TMR
      [0x820, 0, 0], // IRR
      [0x839, 0, 0], // current count
      [0x831, 0, 0], // ICR2
      [0x82f, 0, 0], // CMCI (not among this APIC's LVTs)
      [0x840, 0, 0],
      [0x808, 0x100, 0], // TPR bit 8
      [0x808, 0, 1], // TPR high half
      [0x80f, 0x1000, 0], // SVR EOI-broadcast suppression (not offered)
      [0x80b, 1, 0], // EOI must be 0
      [0x828, 1, 0], // ESR must be 0
      [0x83e, 0x4, 0], // TDCR bit 2
      [0x832, 0x80000, 0], // LVT timer bit 19
      [0x833, 0x800, 0], // thermal bit 11
      [0x835, 0x20000, 0], // LINT0 bit 17
      [0x837, 0x700, 0], // error: no delivery mode
      [0x830, 0x2000, 0], // ICR bit 13
      [0x830, 0x10000, 0], // ICR bit 16
      [0x83f, 0x100, 0], // self IPI beyond the vector
      [0x838, 0, 1], // initial count high half
    ];
    for (const [index, lo, hi] of gp) {
      assert.equal(a.msrWrite(index, lo, hi), false, `${index.toString(16)} ← ${hi}:${lo}`);
    }
    const ok: [number, number, number][] = [
      [0x808, 0xff, 0],
      [0x80f, 0x3ff, 0],
      [0x80b, 0, 0],
      [0x828, 0, 0],
      [0x83e, 0xb, 0],
      [0x832, 0x710ff, 0],
      [0x835, 0x1f7ff, 0], // LINT0 with remote IRR and status bits: accepted, not kept
      [0x838, 0xffffffff, 0],
    ];
    for (const [index, lo, hi] of ok) {
      assert.equal(a.msrWrite(index, lo, hi), true, `${index.toString(16)} ← ${hi}:${lo}`);
    }
    assert.deepEqual(a.msrRead(0x835), [0x1a7ff, 0]);
  });

  test('the ICR is one 64-bit register', () => {
    const d = enabled(2);
    d.enterX2apic(0);
    d.enterX2apic(1);
    const a = d.lapic();
    assert.equal(a.msrWrite(0x830, 0x4000 | 0x41, 1), true);
    assert.deepEqual(a.msrRead(0x830), [0x4041, 1]);
    assert.deepEqual(d.ipis, [{ from: 0, target: 1, vector: 0x41, mode: 0 }]);
  });

  test('the TSC deadline MSR is #GP without TSC-deadline support', () => {
    const a = new FakeDomain(1, { ticksPerNs: 0 }).lapic();
    assert.equal(a.tscDeadlineSupported, false);
    assert.equal(a.msrRead(0x6e0), undefined);
    assert.equal(a.msrWrite(0x6e0, 1, 0), false);
    a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    a.mmioWrite(ApicReg.LVTT, 4, 0x40040);
    assert.equal(a.mmioRead(ApicReg.LVTT, 4), 0x40, 'bit 18 is reserved then');
  });

  test('isVlapicMsr', () => {
    for (const index of [0x1b, 0x6e0, 0x800, 0x83f, 0x8ff]) assert.equal(isVlapicMsr(index), true);
    for (const index of [0x10, 0x1a, 0x7ff, 0x900, 0xc0000080]) {
      assert.equal(isVlapicMsr(index), false);
    }
  });
});

describe('snapshots', () => {
  test('save and restore round-trip every register and the timer', () => {
    const d = enabled();
    const a = d.lapic();
    a.mmioWrite(ApicReg.TPR, 4, 0x20);
    a.mmioWrite(ApicReg.LDR, 4, 0x04000000);
    a.mmioWrite(ApicReg.DFR, 4, 0x0fffffff);
    a.mmioWrite(ApicReg.LVT0, 4, 0x8700);
    a.mmioWrite(ApicReg.LVTT, 4, 0x20033);
    a.mmioWrite(ApicReg.TDCR, 4, 0xb);
    a.mmioWrite(ApicReg.TMICT, 4, 1000);
    a.acceptInterrupt(0x90, true);
    a.acceptInterrupt(0x61);
    a.ackInterrupt(0x90);
    d.now = 300;
    const snapshot = a.save();
    const copy = structuredClone(snapshot);
    const e = new FakeDomain(1);
    e.now = 300;
    const b = e.lapic();
    b.restore(copy);
    assert.deepEqual(b.save(), snapshot);
    for (let reg = 0x20; reg <= 0x3e0; reg += 0x10) {
      assert.equal(b.mmioRead(reg, 4), a.mmioRead(reg, 4), `register ${reg.toString(16)}`);
    }
    assert.equal(e.deadlines[0], 10_000, 'the timer re-armed');
    assert.throws(() => b.restore({ ...copy, version: 2 as 1 }), RangeError);
  });
});
