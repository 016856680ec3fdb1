// Interrupt acceptance and priority: IRR → ISR, TPR/PPR/ISR interplay, EOI order, level
// EOIs, the spurious vector, and the event-channel upcall vector.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XEN_EINVAL } from '../../../../abi/errno.js';
import { ApicReg } from './regs.js';
import { FakeDomain } from './testing.js';

function enabledLapic(options = {}) {
  const d = new FakeDomain(1, options);
  d.lapic().mmioWrite(ApicReg.SVR, 4, 0x1ff);
  return { d, a: d.lapic() };
}

/** Takes the interrupt the APIC offers, as the CPU would; -1 if none. */
function take(a: ReturnType<typeof enabledLapic>['a']): number {
  const vector = a.highestPending();
  return vector < 0 ? -1 : a.ackInterrupt(vector);
}

describe('priority', () => {
  test('the highest pending vector is offered; taking it moves it to ISR', () => {
    const { a } = enabledLapic();
    a.acceptInterrupt(0x31);
    a.acceptInterrupt(0x85);
    a.acceptInterrupt(0x42);
    assert.equal(a.highestPending(), 0x85);
    assert.equal(a.ackInterrupt(0x85), 0x85);
    assert.equal(a.isPending(0x85), false);
    assert.equal(a.isInService(0x85), true);
    assert.equal(a.mmioRead(ApicReg.ISR + 0x40, 4), 1 << 5, 'vector 0x85 is bit 5 of ISR word 4');
    assert.equal(a.mmioRead(ApicReg.IRR + 0x10, 4), 1 << 17, 'vector 0x31');
    assert.equal(a.mmioRead(ApicReg.IRR + 0x20, 4), 1 << 2, 'vector 0x42');
    assert.equal(a.mmioRead(ApicReg.PPR, 4), 0x80);
    assert.equal(a.highestPending(), -1, 'lower classes wait for the EOI');
  });

  test('PPR is TPR or the in-service class, whichever is higher', () => {
    const { a } = enabledLapic();
    a.mmioWrite(ApicReg.TPR, 4, 0x47);
    assert.equal(a.mmioRead(ApicReg.PPR, 4), 0x47);
    a.acceptInterrupt(0x63);
    take(a);
    assert.equal(a.mmioRead(ApicReg.PPR, 4), 0x60);
    a.mmioWrite(ApicReg.TPR, 4, 0x6a);
    assert.equal(a.mmioRead(ApicReg.PPR, 4), 0x6a, 'equal classes: TPR with its low bits');
    a.mmioWrite(ApicReg.TPR, 4, 0x7a);
    assert.equal(a.mmioRead(ApicReg.PPR, 4), 0x7a);
  });

  test('TPR masks vectors of its class and below', () => {
    const { a } = enabledLapic();
    a.mmioWrite(ApicReg.TPR, 4, 0x50);
    a.acceptInterrupt(0x5f);
    assert.equal(a.highestPending(), -1, 'same class as TPR');
    a.acceptInterrupt(0x60);
    assert.equal(a.highestPending(), 0x60);
    a.mmioWrite(ApicReg.TPR, 4, 0xf0);
    assert.equal(a.highestPending(), -1);
    a.mmioWrite(ApicReg.TPR, 4, 0x00);
    assert.equal(take(a), 0x60);
  });

  test('a higher class nests; EOI retires the highest in-service vector first', () => {
    const { a } = enabledLapic();
    a.acceptInterrupt(0x40);
    assert.equal(take(a), 0x40);
    a.acceptInterrupt(0x41);
    assert.equal(take(a), -1, 'same class does not nest');
    a.acceptInterrupt(0x90);
    assert.equal(take(a), 0x90);
    a.acceptInterrupt(0xa0);
    assert.equal(take(a), 0xa0);
    a.mmioWrite(ApicReg.EOI, 4, 0);
    assert.equal(a.isInService(0xa0), false);
    assert.equal(a.isInService(0x90), true);
    a.mmioWrite(ApicReg.EOI, 4, 0);
    assert.equal(a.isInService(0x90), false);
    assert.equal(a.mmioRead(ApicReg.PPR, 4), 0x40);
    a.mmioWrite(ApicReg.EOI, 4, 0);
    assert.equal(take(a), 0x41, 'the pending same-class vector comes after the EOI');
    a.mmioWrite(ApicReg.EOI, 4, 0);
    a.mmioWrite(ApicReg.EOI, 4, 0); // nothing in service: no effect
    assert.equal(a.mmioRead(ApicReg.PPR, 4), 0);
    assert.equal(take(a), -1);
  });

  test('an interrupt arriving again while in service is taken again after the EOI', () => {
    const { a } = enabledLapic();
    a.acceptInterrupt(0x70);
    take(a);
    a.acceptInterrupt(0x70);
    assert.equal(a.highestPending(), -1);
    a.eoi();
    assert.equal(take(a), 0x70);
  });

  test('level-triggered vectors set TMR and their EOI is reported', () => {
    const { d, a } = enabledLapic();
    a.acceptInterrupt(0x51, true);
    assert.equal(a.mmioRead(ApicReg.TMR + 0x20, 4), 1 << 17);
    take(a);
    a.eoi();
    assert.deepEqual(d.levelEois, [{ vcpu: 0, vector: 0x51 }]);
    a.acceptInterrupt(0x51, false);
    assert.equal(a.mmioRead(ApicReg.TMR + 0x20, 4), 0, 'an edge acceptance clears it');
    take(a);
    a.eoi();
    assert.equal(d.levelEois.length, 1);
  });

  test('the spurious vector: an interrupt masked between offer and acknowledge', () => {
    const { a } = enabledLapic();
    a.mmioWrite(ApicReg.SVR, 4, 0x1ef);
    a.acceptInterrupt(0x66);
    const offered = a.highestPending();
    a.mmioWrite(ApicReg.TPR, 4, 0x80);
    assert.equal(a.ackInterrupt(offered), 0xef);
    assert.equal(a.isPending(0x66), true, 'still pending');
    assert.equal(a.isInService(0x66), false, 'a spurious interrupt is not in service');
    assert.equal(a.ackInterrupt(0x99), 0xef, 'a vector that was never requested');
  });

  test('a software-disabled APIC offers nothing and drops fixed interrupts', () => {
    const { a } = enabledLapic();
    a.acceptInterrupt(0x80);
    a.mmioWrite(ApicReg.SVR, 4, 0xff);
    assert.equal(a.highestPending(), -1);
    assert.equal(a.acceptInterrupt(0x90), false);
    assert.equal(a.isPending(0x90), false);
    a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    assert.equal(take(a), 0x80, 'held while disabled');
  });

  test('kick is called when a vector newly becomes pending', () => {
    const { d, a } = enabledLapic();
    a.acceptInterrupt(0x40);
    a.acceptInterrupt(0x40);
    a.acceptInterrupt(0x41);
    assert.deepEqual(d.kicks, [0, 0]);
  });
});

describe('event channel upcall vector', () => {
  test('HVMOP_set_evtchn_upcall_vector checks the vector and raises it once', () => {
    const { a } = enabledLapic();
    assert.equal(a.setUpcallVector(0x0f), -XEN_EINVAL);
    assert.equal(a.upcallVector, 0);
    assert.equal(a.assertUpcall(), false);
    assert.equal(a.setUpcallVector(0xf3), 0);
    assert.equal(a.upcallVector, 0xf3);
    assert.equal(take(a), 0xf3);
    a.eoi();
    assert.equal(a.assertUpcall(), true);
    assert.equal(take(a), 0xf3, 'an edge interrupt, EOIed like any other');
  });

  test('raiseVector is an edge interrupt while enabled', () => {
    const { a } = enabledLapic();
    assert.equal(a.raiseVector(0xe0), true);
    assert.equal(a.mmioRead(ApicReg.TMR + 0x70, 4), 0);
    assert.equal(take(a), 0xe0);
    a.mmioWrite(ApicReg.SVR, 4, 0xff);
    assert.equal(a.raiseVector(0xe0), false);
  });

  test('software-enabling the APIC raises the upcall vector if events are pending', () => {
    let pending = true;
    const d = new FakeDomain(1, { upcallPending: () => pending });
    const a = d.lapic();
    a.setUpcallVector(0xf3);
    assert.equal(a.highestPending(), -1, 'disabled at first');
    a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    assert.equal(take(a), 0xf3);
    a.eoi();
    pending = false;
    a.mmioWrite(ApicReg.SVR, 4, 0xff);
    a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    assert.equal(take(a), -1);
  });
});

describe('LINT pins', () => {
  test('fixed, NMI and ExtINT delivery, masked pins', () => {
    const { d, a } = enabledLapic();
    assert.equal(a.assertLint(0), false, 'masked after reset');
    assert.equal(a.acceptsPicInterrupts(), false);
    a.mmioWrite(ApicReg.LVT0, 4, 0x700);
    assert.equal(a.acceptsPicInterrupts(), true);
    assert.equal(a.assertLint(0), true, 'ExtINT: ask the PIC');
    a.mmioWrite(ApicReg.LVT1, 4, 0x400);
    a.assertLint(1);
    assert.deepEqual(d.ipis, [{ from: 0, target: 0, vector: 0, mode: 4 }]);
    a.mmioWrite(ApicReg.LVT1, 4, 0x8055);
    a.assertLint(1);
    assert.equal(a.isPending(0x55), true);
    assert.equal(a.mmioRead(ApicReg.TMR + 0x20, 4), 1 << 21, 'level-triggered per LVT');
  });
});
