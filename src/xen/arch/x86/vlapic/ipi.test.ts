// IPIs: destination shorthands, physical and logical (flat, cluster, x2APIC) destinations,
// broadcasts, delivery modes, lowest priority, and send errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApicReg, DeliveryMode, Esr } from './regs.js';
import { FakeDomain } from './testing.js';

const SELF = 1 << 18;
const ALL = 2 << 18;
const ALL_BUT_SELF = 3 << 18;
const LOGICAL = 1 << 11;
const ASSERT = 1 << 14;
const LEVEL = 1 << 15;

function domain(vcpus: number, options = {}): FakeDomain {
  const d = new FakeDomain(vcpus, options);
  for (const lapic of d.lapics) lapic.mmioWrite(ApicReg.SVR, 4, 0x1ff);
  return d;
}

/** Sends an IPI from an xAPIC with ICR2 then ICR. */
function send(d: FakeDomain, from: number, icr: number, dest = 0): void {
  const a = d.lapic(from);
  a.mmioWrite(ApicReg.ICR2, 4, dest << 24);
  a.mmioWrite(ApicReg.ICR, 4, icr);
}

const targets = (d: FakeDomain): number[] => d.ipis.map((ipi) => ipi.target);

describe('shorthands', () => {
  test('self, all including self, all excluding self', () => {
    const d = domain(4);
    send(d, 2, SELF | 0x40);
    assert.deepEqual(targets(d), [2]);
    assert.equal(d.lapic(2).isPending(0x40), true);
    d.ipis.length = 0;
    send(d, 2, ALL | 0x41);
    assert.deepEqual(targets(d), [0, 1, 2, 3]);
    d.ipis.length = 0;
    send(d, 2, ALL_BUT_SELF | 0x42);
    assert.deepEqual(targets(d), [0, 1, 3]);
    assert.equal(d.lapic(2).isPending(0x42), false);
    for (const v of [0, 1, 3]) assert.equal(d.lapic(v).isPending(0x42), true);
  });

  test('the destination field is ignored with a shorthand', () => {
    const d = domain(3);
    send(d, 0, SELF | 0x40, 2);
    assert.deepEqual(targets(d), [0]);
  });
});

describe('physical destinations', () => {
  test('by APIC ID, and 0xff to everyone', () => {
    const d = domain(4, { apicId: (v: number) => v * 2 });
    send(d, 0, 0x50, 4);
    assert.deepEqual(targets(d), [2]);
    d.ipis.length = 0;
    send(d, 0, 0x50, 3);
    assert.deepEqual(targets(d), [], 'no APIC has ID 3');
    send(d, 0, 0x51, 0xff);
    assert.deepEqual(targets(d), [0, 1, 2, 3]);
  });

  test('a hardware-disabled APIC takes no IPIs', () => {
    const d = domain(3);
    d.lapic(1).writeApicBase(0xfee00000, 0);
    send(d, 0, 0x51, 0xff);
    assert.deepEqual(targets(d), [0, 2]);
  });

  test('x2APIC: 32-bit destinations and 0xffffffff broadcast', () => {
    const d = domain(3, { apicId: (v: number) => 0x100 + v });
    for (let v = 0; v < 3; v++) d.enterX2apic(v);
    const a = d.lapic(0);
    assert.equal(a.msrWrite(0x830, 0x60, 0x102), true);
    assert.deepEqual(targets(d), [2]);
    d.ipis.length = 0;
    a.msrWrite(0x830, 0x60, 0xffffffff);
    assert.deepEqual(targets(d), [0, 1, 2]);
    d.ipis.length = 0;
    a.msrWrite(0x830, 0x60, 0x02);
    assert.deepEqual(targets(d), [], 'the low byte alone does not match a 0x102 ID');
  });

  test('x2APIC self IPI register', () => {
    const d = domain(2);
    d.enterX2apic(1);
    assert.equal(d.lapic(1).msrWrite(0x83f, 0x77, 0), true);
    assert.deepEqual(d.ipis, [{ from: 1, target: 1, vector: 0x77, mode: DeliveryMode.Fixed }]);
    assert.deepEqual(d.lapic(1).msrRead(0x830), [0, 0], 'the ICR is untouched');
  });
});

describe('logical destinations', () => {
  test('flat model: LDR bits ANDed with the destination mask', () => {
    const d = domain(4);
    d.lapics.forEach((a, v) => {
      a.mmioWrite(ApicReg.LDR, 4, (1 << v) << 24);
    });
    send(d, 0, LOGICAL | 0x60, 0b1010);
    assert.deepEqual(targets(d), [1, 3]);
    d.ipis.length = 0;
    send(d, 0, LOGICAL | 0x60, 0xff);
    assert.deepEqual(targets(d), [0, 1, 2, 3]);
  });

  test('cluster model: cluster in bits 7:4, members in bits 3:0', () => {
    const d = domain(4);
    const ldrs = [0x11, 0x12, 0x21, 0x22];
    d.lapics.forEach((a, v) => {
      a.mmioWrite(ApicReg.DFR, 4, 0x0fffffff);
      a.mmioWrite(ApicReg.LDR, 4, ldrs[v]! << 24);
    });
    send(d, 0, LOGICAL | 0x60, 0x23);
    assert.deepEqual(targets(d), [2, 3]);
    d.ipis.length = 0;
    send(d, 0, LOGICAL | 0x60, 0x12);
    assert.deepEqual(targets(d), [1]);
    d.ipis.length = 0;
    d.lapic(1).mmioWrite(ApicReg.DFR, 4, 0x5fffffff); // neither model
    send(d, 0, LOGICAL | 0x60, 0x12);
    assert.deepEqual(targets(d), []);
  });

  test('x2APIC: cluster in 31:16 and a 16-bit member mask', () => {
    const d = domain(20);
    for (let v = 0; v < 20; v++) d.enterX2apic(v);
    const a = d.lapic(0);
    a.msrWrite(0x830, LOGICAL | 0x60, (1 << 16) | 0b11); // cluster 1: IDs 16, 17
    assert.deepEqual(targets(d), [16, 17]);
    d.ipis.length = 0;
    a.msrWrite(0x830, LOGICAL | 0x60, 0x8001); // cluster 0: IDs 0, 15
    assert.deepEqual(targets(d), [0, 15]);
    d.ipis.length = 0;
    a.msrWrite(0x830, LOGICAL | 0x60, 0xffffffff);
    assert.equal(targets(d).length, 20, 'the all-ones logical destination reaches every cluster');
  });
});

describe('delivery modes', () => {
  test('NMI, INIT and SIPI are reported to the hypervisor', () => {
    const d = domain(2);
    send(d, 0, ALL_BUT_SELF | (4 << 8));
    send(d, 0, ALL_BUT_SELF | (5 << 8) | ASSERT | LEVEL);
    send(d, 0, ALL_BUT_SELF | (5 << 8) | LEVEL); // INIT de-assert: nothing
    send(d, 0, (6 << 8) | 0x9a, 1);
    assert.deepEqual(
      d.ipis.map(({ target, vector, mode }) => ({ target, vector, mode })),
      [
        { target: 1, vector: 0, mode: DeliveryMode.Nmi },
        { target: 1, vector: 0, mode: DeliveryMode.Init },
        { target: 1, vector: 0x9a, mode: DeliveryMode.StartUp },
      ],
    );
    assert.equal(d.lapic(1).highestPending(), -1, 'none of them touches IRR');
  });

  test('SMI, remote read and ExtINT IPIs are ignored', () => {
    const d = domain(2);
    for (const mode of [2, 3, 7]) send(d, 0, ALL | (mode << 8) | 0x40);
    assert.deepEqual(d.ipis, []);
  });

  test('lowest priority goes to the lowest PPR, ties in turn', () => {
    const d = domain(3);
    d.lapic(0).mmioWrite(ApicReg.TPR, 4, 0x30);
    d.lapic(1).mmioWrite(ApicReg.TPR, 4, 0x10);
    d.lapic(2).mmioWrite(ApicReg.TPR, 4, 0x20);
    send(d, 0, ALL | (1 << 8) | 0x70);
    assert.deepEqual(d.ipis, [{ from: 0, target: 1, vector: 0x70, mode: DeliveryMode.Fixed }]);
    d.ipis.length = 0;
    for (const a of d.lapics) a.mmioWrite(ApicReg.TPR, 4, 0);
    for (let i = 0; i < 6; i++) send(d, 0, ALL | (1 << 8) | 0x71);
    assert.deepEqual(targets(d), [2, 0, 1, 2, 0, 1], 'round robin after the last choice');
    d.ipis.length = 0;
    d.lapic(1).mmioWrite(ApicReg.SVR, 4, 0xff);
    d.lapic(2).mmioWrite(ApicReg.SVR, 4, 0xff);
    send(d, 0, (1 << 8) | 0x72, 1); // only a disabled APIC matches
    assert.deepEqual(targets(d), []);
  });

  test('illegal vectors are a send error and go nowhere', () => {
    const d = domain(2);
    send(d, 0, ALL | 0x0f);
    send(d, 0, ALL | (1 << 8) | 0x03);
    assert.deepEqual(d.ipis, []);
    const a = d.lapic(0);
    a.mmioWrite(ApicReg.ESR, 4, 0);
    assert.equal(a.mmioRead(ApicReg.ESR, 4), Esr.SendIllegalVector);
    send(d, 0, ALL | (4 << 8) | 0x03);
    assert.equal(d.ipis.length, 2, 'an NMI carries no vector');
  });

  test('a software-disabled APIC still sends, and receives NMI/INIT/SIPI but not fixed', () => {
    const d = domain(2);
    d.lapic(0).mmioWrite(ApicReg.SVR, 4, 0xff);
    d.lapic(1).mmioWrite(ApicReg.SVR, 4, 0xff);
    send(d, 0, ALL_BUT_SELF | 0x40);
    send(d, 0, ALL_BUT_SELF | (5 << 8) | ASSERT);
    assert.deepEqual(targets(d), [1, 1]);
    assert.equal(d.lapic(1).isPending(0x40), false, 'the fixed one was dropped by its target');
  });
});
