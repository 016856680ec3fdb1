// The 2-level ABI's bits in shared_info/vcpu_info, as Linux's events_2l.c reads them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { shared_info, vcpu_info } from '../../abi/xen.js';
import type { EventChannels } from './channels.js';
import { linux2lUpcall, World } from './testing.js';

/** A domU (dom 1, 3 vCPUs) with IPI ports bound until `port` exists, all on `vcpu`. */
function domainWithPorts(upTo: number, vcpu = 0) {
  const w = new World();
  const [d, ec] = w.add(1, { vcpus: 3 });
  for (let p = 1; p <= upTo; p++) {
    const arg = { vcpu, port: 0 };
    assert.equal(ec.bindIpi(arg), 0);
    assert.equal(arg.port, p);
  }
  return { w, d, ec };
}

const send = (ec: EventChannels, port: number) => assert.equal(ec.send({ port }), 0);

describe('2-level bit layout', () => {
  test('port 70 sets evtchn_pending word 1 bit 6, selector bit 1, upcall_pending, one kick', () => {
    const { d, ec } = domainWithPorts(70);
    send(ec, 70);
    const si = d.shared;
    // evtchn_pending is an array of 64-bit words: word 1 holds ports 64..127.
    const word1lo = si.getUint32(shared_info.offsets.evtchn_pending + 8, true);
    assert.equal(word1lo, 1 << 6);
    assert.equal(si.getUint8(shared_info.offsets.evtchn_pending + 8), 0x40, 'byte 8 bit 6');
    const sel = vcpu_info.offsets.evtchn_pending_sel;
    assert.equal(si.getUint32(sel, true), 1 << 1, 'evtchn_pending_sel word 1 selected');
    assert.equal(si.getUint8(vcpu_info.offsets.evtchn_upcall_pending), 1);
    assert.deepEqual(d.kicks, [0]);
  });

  test('a port in the top word (4095) sets the selector high bit', () => {
    const { d, ec } = domainWithPorts(4095);
    send(ec, 4095);
    assert.deepEqual(d.selector(0), [63]);
    const sel = vcpu_info.offsets.evtchn_pending_sel;
    assert.equal(d.shared.getUint32(sel + 4, true), 0x80000000);
    assert.equal(
      d.shared.getUint32(shared_info.offsets.evtchn_pending + 63 * 8 + 4, true),
      0x80000000,
    );
  });

  test('the selector and upcall go to the notified vCPU’s vcpu_info', () => {
    const { d, ec } = domainWithPorts(3, 2);
    send(ec, 3);
    assert.deepEqual(d.selector(0), []);
    assert.deepEqual(d.selector(2), [0]);
    assert.ok(d.upcallPending(2) && !d.upcallPending(0));
    assert.deepEqual(d.kicks, [2]);
    assert.equal(d.shared.getUint8(2 * 64 + vcpu_info.offsets.evtchn_upcall_pending), 1);
  });

  test('a registered vcpu_info outside shared_info is used', () => {
    const { d, ec } = domainWithPorts(5, 1);
    const page = new DataView(new SharedArrayBuffer(4096));
    d.registeredVcpuInfo.set(1, { view: page, offset: 128 });
    send(ec, 5);
    assert.equal(page.getUint8(128), 1, 'upcall_pending');
    assert.equal(page.getUint32(128 + 8, true), 1, 'selector word 0');
    assert.deepEqual(d.kicks, [1]);
  });
});

describe('2-level delivery', () => {
  test('Linux’s upcall scan finds exactly the pending, unmasked ports', () => {
    const { d, ec } = domainWithPorts(200);
    for (const p of [1, 63, 64, 130, 200]) send(ec, p);
    d.setMask(130, true);
    assert.deepEqual(linux2lUpcall(d, 0), [1, 63, 64, 200]);
    assert.ok(!d.upcallPending(0));
    assert.deepEqual(d.selector(0), []);
    assert.ok(d.pendingBit(130), 'the masked port stays pending for later');
  });

  test('a second event while upcall_pending is set does not kick again', () => {
    const { d, ec } = domainWithPorts(100);
    send(ec, 1);
    send(ec, 100);
    assert.deepEqual(d.kicks, [0]);
    assert.deepEqual(d.selector(0), [0, 1]);
    linux2lUpcall(d, 0);
    send(ec, 100);
    assert.deepEqual(d.kicks, [0, 0]);
  });

  test('an already-pending port changes nothing', () => {
    const { d, ec } = domainWithPorts(4);
    send(ec, 4);
    // The guest takes the selector and upcall flag but has not acked the port yet.
    d.shared.setUint8(vcpu_info.offsets.evtchn_upcall_pending, 0);
    d.shared.setUint32(vcpu_info.offsets.evtchn_pending_sel, 0, true);
    send(ec, 4);
    assert.deepEqual(d.selector(0), []);
    assert.deepEqual(d.kicks, [0]);
    assert.deepEqual(d.polled, [4], 'pollers are checked only when newly pending');
  });

  test('masked: pending without selector or upcall; EVTCHNOP_unmask re-raises', () => {
    const { d, ec } = domainWithPorts(9, 1);
    d.setMask(9, true);
    send(ec, 9);
    assert.ok(d.pendingBit(9));
    assert.deepEqual(d.selector(1), []);
    assert.deepEqual(d.kicks, []);
    assert.equal(ec.isMasked(9), true);
    assert.equal(ec.isPending(9), true);
    assert.equal(ec.unmask({ port: 9 }), 0);
    assert.ok(!d.maskBit(9));
    assert.deepEqual(d.selector(1), [0]);
    assert.deepEqual(d.kicks, [1]);
    assert.deepEqual(linux2lUpcall(d, 1), [9]);
  });

  test('unmasking a port that is not pending (or not masked) raises nothing', () => {
    const { d, ec } = domainWithPorts(9);
    d.setMask(9, true);
    assert.equal(ec.unmask({ port: 9 }), 0);
    assert.ok(!d.maskBit(9));
    assert.deepEqual(d.kicks, []);
    // Pending but already unmasked (Linux cleared the mask itself): no second upcall.
    send(ec, 9);
    linux2lUpcall(d, 0);
    d.shared.setUint8(shared_info.offsets.evtchn_pending + 1, 0x02);
    assert.equal(ec.unmask({ port: 9 }), 0);
    assert.deepEqual(d.kicks, [0]);
  });

  test('a vCPU without vcpu_info loses the upcall, but the port is pending', () => {
    const w = new World();
    const [d, ec] = w.add(1, { vcpus: 40 });
    const arg = { vcpu: 35, port: 0 };
    ec.bindIpi(arg);
    send(ec, arg.port);
    assert.ok(d.pendingBit(arg.port));
    assert.deepEqual(d.kicks, []);
  });

  test('no shared_info yet: events are lost, nothing throws', () => {
    const { d, ec } = domainWithPorts(2);
    d.sharedInfoReady = false;
    send(ec, 2);
    assert.equal(ec.unmask({ port: 2 }), 0);
    assert.equal(ec.isPending(2), false);
    assert.equal(ec.isMasked(2), true);
    assert.deepEqual(d.kicks, []);
    assert.equal(ec.close({ port: 2 }), 0);
  });

  test('works over plain (unshared) ArrayBuffers too', () => {
    const w = new World();
    const [d, ec] = w.add(4, { unshared: true });
    assert.ok(d.shared.buffer instanceof ArrayBuffer);
    const arg = { vcpu: 0, port: 0 };
    ec.bindIpi(arg);
    send(ec, arg.port);
    assert.deepEqual(linux2lUpcall(d, 0), [arg.port]);
    assert.deepEqual(d.kicks, [0]);
  });
});

describe('hostile 2-level guests', () => {
  test('garbage in the bitmaps and selectors only affects the guest’s own events', () => {
    const w = new World();
    const [dA, ecA] = w.add(1);
    const [dB, ecB] = w.add(2);
    const a = { dom: 0x7ff0, remote_dom: 2, port: 0 };
    ecA.allocUnbound(a);
    const b = { remote_dom: 1, remote_port: a.port, local_port: 0 };
    assert.equal(ecB.bindInterdomain(b), 0);
    // Guest A fills its whole shared_info page with ones.
    new Uint8Array(dA.shared.buffer).fill(0xff);
    assert.equal(ecB.send({ port: b.local_port }), 0);
    assert.deepEqual(dA.kicks, [], 'A sees nothing: it claimed everything pending and masked');
    // B's own delivery is untouched.
    linux2lUpcall(dB, 0);
    assert.equal(ecA.send({ port: a.port }), 0);
    assert.deepEqual(linux2lUpcall(dB, 0), [b.local_port]);
    // A can recover by clearing its bitmaps.
    new Uint8Array(dA.shared.buffer).fill(0);
    assert.equal(ecB.send({ port: b.local_port }), 0);
    assert.deepEqual(linux2lUpcall(dA, 0), [a.port]);
  });
});
