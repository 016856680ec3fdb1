// The FIFO ABI (Xen's event_fifo.c) against a model of Linux's events_fifo.c.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  XEN_EACCES,
  XEN_EINVAL,
  XEN_ENOENT,
  XEN_ENOSPC,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
} from '../../abi/errno.js';
import {
  EVTCHN_FIFO_LINK_BITS,
  EVTCHN_FIFO_LINK_MASK,
  EVTCHN_FIFO_LINKED,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_PENDING,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
} from '../../abi/event_channel.js';
import { DOMID_SELF } from '../../abi/xen.js';
import type { EventChannels } from './channels.js';
import { setLink } from './fifo.js';
import { FifoGuest, linux2lUpcall, World } from './testing.js';
import type { InitControlArg, StatusArg } from './types.js';

const P = 1 << EVTCHN_FIFO_PENDING;
const M = 1 << EVTCHN_FIFO_MASKED;
const L = 1 << EVTCHN_FIFO_LINKED;

/** Control blocks at gfn 0 (vCPU 0) and 1 (vCPU 1); event array page at gfn 4. */
function fifoDomain(options: { vcpus?: number; ramFrames?: number } = {}) {
  const w = new World();
  const [d, ec] = w.add(1, { vcpus: options.vcpus ?? 3, ramFrames: options.ramFrames ?? 16 });
  const g = new FifoGuest(d, ec);
  assert.equal(g.initControl(0, 0), 0);
  assert.equal(g.initControl(1, 1), 0);
  assert.equal(g.expand(4), 0);
  return { w, d, ec, g };
}

/** Binds an IPI on `vcpu` and unmasks it as Linux does; returns the port. */
function ipi(ec: EventChannels, g: FifoGuest, vcpu = 0): number {
  const arg = { vcpu, port: 0 };
  assert.equal(ec.bindIpi(arg), 0);
  g.unmask(arg.port);
  return arg.port;
}

const send = (ec: EventChannels, port: number) => assert.equal(ec.send({ port }), 0);

describe('EVTCHNOP_init_control', () => {
  test('argument errors; link_bits is always reported', () => {
    const w = new World();
    const [, ec] = w.add(1, { vcpus: 2 });
    const arg = (over: Partial<InitControlArg>): InitControlArg => ({
      control_gfn: 0n,
      offset: 0,
      vcpu: 0,
      link_bits: 0,
      ...over,
    });
    const a = arg({ vcpu: 2 });
    assert.equal(ec.initControl(a), -XEN_ENOENT);
    assert.equal(a.link_bits, EVTCHN_FIFO_LINK_BITS);
    assert.equal(ec.initControl(arg({ offset: 4 })), -XEN_EINVAL, 'not 8-byte aligned');
    assert.equal(ec.initControl(arg({ offset: 4096 - 72 + 8 })), -XEN_EINVAL, 'crosses the page');
    assert.equal(ec.initControl(arg({ offset: 0xffffffff })), -XEN_EINVAL);
    assert.equal(ec.initControl(arg({ control_gfn: 999n })), -XEN_EINVAL, 'not RAM');
    assert.equal(ec.initControl(arg({ control_gfn: 0xffffffffffffffffn })), -XEN_EINVAL);
    assert.equal(ec.initControl(arg({ control_gfn: 1.5 })), -XEN_EINVAL);
    assert.equal(ec.abi, '2l', 'failed attempts leave the 2-level ABI in place');
    assert.equal(ec.initControl(arg({ offset: 4096 - 72 })), 0, 'the last offset that fits');
    assert.equal(ec.abi, 'fifo');
    assert.equal(ec.initControl(arg({ control_gfn: 1n })), -XEN_EINVAL, 'vCPU 0 already has one');
    assert.equal(ec.initControl(arg({ control_gfn: 1n, vcpu: 1 })), 0);
  });

  test('the control block may sit at an offset inside its page', () => {
    const w = new World();
    const [d, ec] = w.add(1, { vcpus: 1 });
    assert.equal(ec.initControl({ control_gfn: 2n, offset: 512, vcpu: 0, link_bits: 0 }), 0);
    assert.equal(ec.expandArray({ array_gfn: 3n }), 0);
    const arg = { vcpu: 0, port: 0 };
    ec.bindIpi(arg);
    send(ec, arg.port);
    const cb = d.frame(2);
    assert.equal(cb.getUint32(512, true), 1 << 7, 'READY bit of the default priority');
    assert.equal(cb.getUint32(512 + 8 + 4 * 7, true), arg.port, 'HEAD[7]');
    assert.equal(cb.getUint32(0, true), 0);
  });
});

describe('EVTCHNOP_expand_array and set_priority', () => {
  test('expand_array: -EOPNOTSUPP under 2L, -EINVAL for non-RAM, -ENOSPC past 128 pages', () => {
    const w = new World();
    const [, ec] = w.add(1, { vcpus: 1, ramFrames: 140 });
    assert.equal(ec.expandArray({ array_gfn: 1n }), -XEN_EOPNOTSUPP);
    assert.equal(ec.initControl({ control_gfn: 0n, offset: 0, vcpu: 0, link_bits: 0 }), 0);
    assert.equal(ec.expandArray({ array_gfn: 5000n }), -XEN_EINVAL);
    for (let i = 0; i < 128; i++) assert.equal(ec.expandArray({ array_gfn: BigInt(1 + i) }), 0);
    assert.equal(ec.fifo?.numEvtchns, 1 << EVTCHN_FIFO_LINK_BITS);
    assert.equal(ec.expandArray({ array_gfn: 130n }), -XEN_ENOSPC);
    assert.equal(ec.expandArray({ array_gfn: 5000n }), -XEN_ENOSPC, 'the slot check comes first');
  });

  test('set_priority: -EINVAL bad port, -ENOSYS under 2L, -EACCES unbound port, -EINVAL > 15', () => {
    const w = new World();
    const [, ec] = w.add(1, { vcpus: 1 });
    const arg = { vcpu: 0, port: 0 };
    ec.bindIpi(arg);
    assert.equal(ec.setPriority({ port: 999, priority: 0 }), -XEN_EINVAL);
    assert.equal(ec.setPriority({ port: arg.port, priority: 0 }), -XEN_ENOSYS);
    ec.initControl({ control_gfn: 0n, offset: 0, vcpu: 0, link_bits: 0 });
    assert.equal(ec.setPriority({ port: 5, priority: 0 }), -XEN_EACCES, 'free port');
    assert.equal(ec.setPriority({ port: 0, priority: 0 }), -XEN_EACCES, 'reserved port');
    assert.equal(ec.setPriority({ port: arg.port, priority: 16 }), -XEN_EINVAL);
    assert.equal(ec.setPriority({ port: arg.port, priority: 15 }), 0);
  });
});

describe('FIFO queueing', () => {
  test('first event: PENDING|LINKED, HEAD, READY, upcall and one kick; next ones LINK after the tail', () => {
    const { d, ec, g } = fifoDomain();
    const a = ipi(ec, g);
    const b = ipi(ec, g);
    const c = ipi(ec, g);
    send(ec, a);
    assert.equal(g.wordValue(a), (P | L) >>> 0);
    assert.equal(g.head(0, 7), a);
    assert.equal(g.ready(0), 1 << 7);
    assert.ok(d.upcallPending(0));
    send(ec, b);
    send(ec, c);
    assert.equal(g.wordValue(a) & EVTCHN_FIFO_LINK_MASK, b, 'a → b');
    assert.equal(g.wordValue(b) & EVTCHN_FIFO_LINK_MASK, c, 'b → c');
    assert.equal(g.wordValue(c) & EVTCHN_FIFO_LINK_MASK, 0, 'c is the tail');
    assert.equal(ec.fifo?.queueTail(0, 7), c);
    assert.equal(g.head(0, 7), a, 'HEAD is only written for an empty queue');
    assert.deepEqual(d.kicks, [0]);
    assert.deepEqual(d.polled, [a, b, c]);
    assert.deepEqual(g.handleEvents(0), [a, b, c]);
    assert.equal(g.wordValue(a), 0, 'consumed: unlinked and acked');
  });

  test('queues are served by priority, FIFO within one', () => {
    const { ec, g } = fifoDomain();
    const ports = [ipi(ec, g), ipi(ec, g), ipi(ec, g), ipi(ec, g), ipi(ec, g)];
    const prio = [7, 2, 7, 0, 15];
    ports.forEach((port, i) => {
      assert.equal(ec.setPriority({ port, priority: prio[i]! }), 0);
    });
    for (const p of ports) send(ec, p);
    assert.equal(g.ready(0), (1 << 0) | (1 << 2) | (1 << 7) | (1 << 15));
    const [p1, p2, p3, p4, p5] = ports;
    assert.deepEqual(g.handleEvents(0), [p4, p2, p1, p3, p5]);
  });

  test('an event whose predecessor was consumed becomes the new HEAD and raises READY again', () => {
    const { d, ec, g } = fifoDomain();
    const a = ipi(ec, g);
    const b = ipi(ec, g);
    send(ec, a);
    assert.deepEqual(g.handleEvents(0), [a]);
    send(ec, b);
    assert.equal(g.head(0, 7), b);
    assert.equal(
      g.wordValue(a) & EVTCHN_FIFO_LINK_MASK,
      0,
      'nothing linked after the consumed tail',
    );
    assert.deepEqual(d.kicks, [0, 0]);
    assert.deepEqual(g.handleEvents(0), [b]);
    // The same port again after it was consumed.
    send(ec, b);
    assert.deepEqual(g.handleEvents(0), [b]);
  });

  test('a linked, unconsumed event is not linked twice', () => {
    const { d, ec, g } = fifoDomain();
    const a = ipi(ec, g);
    const b = ipi(ec, g);
    send(ec, a);
    send(ec, b);
    send(ec, a);
    assert.equal(g.wordValue(b) & EVTCHN_FIFO_LINK_MASK, 0, 'no cycle b → a');
    assert.deepEqual(d.kicks, [0]);
    assert.deepEqual(g.handleEvents(0), [a, b]);
  });

  test('masked events stay pending and unlinked until EVTCHNOP_unmask links them', () => {
    const { d, ec, g } = fifoDomain();
    const arg = { vcpu: 0, port: 0 };
    ec.bindIpi(arg);
    const p = arg.port;
    send(ec, p);
    assert.equal(g.wordValue(p), (P | M) >>> 0);
    assert.equal(g.ready(0), 0);
    assert.deepEqual(d.kicks, []);
    assert.equal(ec.isPending(p) && ec.isMasked(p), true);
    g.unmask(p); // clears MASKED, sees PENDING, calls EVTCHNOP_unmask
    assert.equal(g.wordValue(p), (P | L) >>> 0);
    assert.deepEqual(d.kicks, [0]);
    assert.deepEqual(g.handleEvents(0), [p]);
  });

  test('events for a vCPU without a control block are dropped', () => {
    const { d, ec, g } = fifoDomain();
    const p = ipi(ec, g, 2);
    send(ec, p);
    assert.equal(g.wordValue(p), 0);
    assert.deepEqual(d.kicks, []);
    assert.equal(ec.fifo?.hasControlBlock(2), false);
  });

  test('set_priority affects only future events', () => {
    const { ec, g } = fifoDomain();
    const p = ipi(ec, g);
    const q = ipi(ec, g);
    send(ec, p);
    assert.equal(ec.setPriority({ port: p, priority: 1 }), 0);
    send(ec, q);
    assert.equal(g.ready(0), 1 << 7, 'p stays on the queue it was linked on');
    assert.deepEqual(g.handleEvents(0), [p, q]);
    send(ec, q);
    send(ec, p);
    assert.equal(g.ready(0), (1 << 1) | (1 << 7));
    assert.deepEqual(g.handleEvents(0), [p, q]);
  });

  test('bind_vcpu moves a port to another vCPU’s queue; the old tail is forgotten', () => {
    const { w, d, ec, g } = fifoDomain();
    // An interdomain port (movable) from dom 2.
    const [, ec2] = w.add(2);
    const alloc = { dom: DOMID_SELF, remote_dom: 2, port: 0 };
    assert.equal(ec.allocUnbound(alloc), 0);
    const p = alloc.port;
    g.unmask(p);
    const bind = { remote_dom: 1, remote_port: p, local_port: 0 };
    assert.equal(ec2.bindInterdomain(bind), 0);
    const other = ipi(ec, g);
    send(ec2, bind.local_port);
    assert.equal(ec.fifo?.queueTail(0, 7), p);
    assert.deepEqual(g.handleEvents(0), [p]);
    assert.equal(ec.bindVcpu({ port: p, vcpu: 1 }), 0);
    send(ec2, bind.local_port);
    assert.equal(g.head(1, 7), p);
    assert.equal(ec.fifo?.queueTail(0, 7), 0, 'vCPU 0’s queue no longer ends at p');
    send(ec, other);
    assert.equal(g.head(0, 7), other);
    assert.equal(g.wordValue(p) & EVTCHN_FIFO_LINK_MASK, 0, 'not linked across queues');
    assert.deepEqual(g.handleEvents(1), [p]);
    assert.deepEqual(g.handleEvents(0), [other]);
    assert.deepEqual(d.kicks, [0, 1, 0]);
  });

  test('a closed port still LINKED is busy: not handed out again until consumed', () => {
    const { ec, g } = fifoDomain();
    const p = ipi(ec, g);
    send(ec, p);
    assert.equal(ec.close({ port: p }), 0);
    assert.equal(g.wordValue(p), L >>> 0, 'close clears PENDING only');
    const next = { vcpu: 0, port: 0 };
    ec.bindIpi(next);
    assert.notEqual(next.port, p);
    assert.deepEqual(g.handleEvents(0), [], 'the guest unlinks it, ignoring the non-pending event');
    const again = { vcpu: 0, port: 0 };
    ec.bindIpi(again);
    assert.equal(again.port, p);
  });
});

describe('switching from 2-level to FIFO', () => {
  test('bindings carry over; 2L-pending ports are raised when their array page arrives', () => {
    const w = new World();
    const [d, ec] = w.add(1, { vcpus: 1 });
    const [, ec2] = w.add(2);
    const remote = ec2.allocUnboundForToolstack(1);
    const bind = { remote_dom: 2, remote_port: remote, local_port: 0 };
    assert.equal(ec.bindInterdomain(bind), 0);
    const quiet = { vcpu: 0, port: 0 };
    ec.bindIpi(quiet);
    linux2lUpcall(d, 0); // consumes the conservative raise from bind_interdomain
    d.setMask(bind.local_port, true);
    send(ec2, remote);
    assert.ok(d.pendingBit(bind.local_port));

    const g = new FifoGuest(d, ec);
    assert.equal(g.initControl(0, 0), 0);
    const s: StatusArg = { dom: DOMID_SELF, port: bind.local_port, status: 0, vcpu: 0, u: {} };
    assert.equal(ec.status(s), 0);
    assert.equal(s.status, EVTCHNSTAT_interdomain);
    const s2: StatusArg = { dom: DOMID_SELF, port: quiet.port, status: 0, vcpu: 0, u: {} };
    ec.status(s2);
    assert.equal(s2.status, EVTCHNSTAT_ipi);

    assert.equal(g.expand(4), 0);
    assert.equal(g.wordValue(bind.local_port), (P | M) >>> 0, 'pending carried over, masked');
    assert.equal(g.wordValue(quiet.port), M >>> 0);
    g.unmask(bind.local_port);
    assert.deepEqual(g.handleEvents(0), [bind.local_port]);
    // Ports beyond the 2-level limit exist now.
    assert.equal(ec.allocUnboundForToolstack(2, 5000), 5000);
    assert.equal(ec.portLimit, 1 << EVTCHN_FIFO_LINK_BITS);
  });

  test('an event for a port without an event word yet is raised on expand_array', () => {
    const w = new World();
    const [, ec] = w.add(1, { vcpus: 1 });
    const g = new FifoGuest(w.domains.get(1)!, ec);
    g.initControl(0, 0);
    const arg = { vcpu: 0, port: 0 };
    ec.bindIpi(arg);
    send(ec, arg.port);
    assert.equal(ec.isPending(arg.port), false, 'no word yet');
    g.expand(4);
    assert.equal(g.wordValue(arg.port), (P | M) >>> 0);
  });

  test('EVTCHNOP_reset returns to 2L and releases the mapped frames; FIFO can start again', () => {
    const { d, ec, g } = fifoDomain();
    ipi(ec, g);
    assert.deepEqual([...d.mapped.keys()].sort(), [0, 1, 4]);
    assert.equal(ec.reset({ dom: DOMID_SELF }), 0);
    assert.equal(ec.abi, '2l');
    assert.equal(d.mapped.size, 0);
    assert.equal(g.initControl(0, 0), 0);
    assert.equal(ec.abi, 'fifo');
    ec.destroy();
    assert.equal(d.mapped.size, 0, 'destroy releases them too');
  });
});

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe('hostile FIFO guests', () => {
  test('garbage LINK in the tail word is overwritten; garbage HEAD is ignored', () => {
    const { ec, g } = fifoDomain();
    const a = ipi(ec, g);
    const b = ipi(ec, g);
    send(ec, a);
    g.setWord(a, (g.wordValue(a) | 0x1ffff) >>> 0);
    const cb = g.control(0);
    cb.setUint32(8 + 4 * 7, 0xdeadbeef, true);
    send(ec, b);
    assert.equal(g.wordValue(a) & EVTCHN_FIFO_LINK_MASK, b);
  });

  test('a guest that marks words LINKED itself only loses its own events', () => {
    const { d, ec, g } = fifoDomain();
    const a = ipi(ec, g);
    g.setWord(a, L);
    send(ec, a);
    assert.equal(g.ready(0), 0);
    assert.deepEqual(d.kicks, []);
  });

  test('random scribbling over event words and control blocks never throws or leaks', () => {
    const w = new World();
    const [dA, ecA] = w.add(1, { vcpus: 2 });
    const [dB, ecB] = w.add(2, { vcpus: 2 });
    const gA = new FifoGuest(dA, ecA);
    const gB = new FifoGuest(dB, ecB);
    for (const g of [gA, gB]) {
      assert.equal(g.initControl(0, 0), 0);
      assert.equal(g.initControl(1, 1), 0);
      assert.equal(g.expand(4), 0);
    }
    // Ten interdomain channels A ↔ B, spread over vCPUs and priorities.
    const pairs: [number, number][] = [];
    for (let i = 0; i < 10; i++) {
      const a = { dom: DOMID_SELF, remote_dom: 2, port: 0 };
      assert.equal(ecA.allocUnbound(a), 0);
      const b = { remote_dom: 1, remote_port: a.port, local_port: 0 };
      assert.equal(ecB.bindInterdomain(b), 0);
      ecA.bindVcpu({ port: a.port, vcpu: i & 1 });
      ecA.setPriority({ port: a.port, priority: i % 4 });
      gA.unmask(a.port);
      gB.unmask(b.local_port);
      pairs.push([a.port, b.local_port]);
    }
    gB.handleEvents(0);
    const next = rng(12345);
    const pageA = new Uint32Array(dA.ram.buffer, 0, (dA.ram.byteLength / 4) | 0);
    for (let round = 0; round < 200; round++) {
      // A scribbles over its control blocks (frames 0, 1) and event array (frame 4).
      for (let k = 0; k < 64; k++) {
        const frame = [0, 1, 4][next() % 3]!;
        const word = frame * 1024 + (next() % 1024);
        pageA[word] = next();
      }
      const [pa, pb] = pairs[next() % pairs.length]!;
      assert.equal(ecB.send({ port: pb }), 0);
      ecA.unmask({ port: pa });
      ecA.setPriority({ port: pa, priority: next() % 16 });
      ecA.bindVcpu({ port: pa, vcpu: next() % 2 });
      assert.equal(ecA.send({ port: pa }), 0);
    }
    // B is unaffected: every one of its ports is delivered, in order, exactly once.
    gB.handleEvents(0);
    for (const [pa, pb] of pairs) {
      assert.equal(ecA.send({ port: pa }), 0);
      assert.deepEqual(gB.handleEvents(0), [pb]);
    }
    // A can recover by resetting and starting over.
    assert.equal(ecA.reset({ dom: DOMID_SELF }), 0);
    new Uint8Array(dA.ram.buffer).fill(0);
    assert.equal(gA.initControl(0, 0), 0);
    assert.equal(gA.expand(4), 0);
    const fresh = ecA.allocUnboundForToolstack(2);
    gA.unmask(fresh);
    const back = { remote_dom: 1, remote_port: fresh, local_port: 0 };
    assert.equal(ecB.bindInterdomain(back), 0);
    assert.equal(ecB.send({ port: back.local_port }), 0);
    assert.deepEqual(gA.handleEvents(0), [fresh]);
  });
});

// A guest vCPU on another thread toggling MASKED on a linked tail word (which it may do at
// any time) while Xen links after it: no toggle is ever lost, BUSY never sticks, and LINK
// only ever takes a value Xen wrote.
const TOGGLER = `
const { workerData, parentPort } = require('node:worker_threads');
const words = new Int32Array(workerData.buffer);
const ctl = new Int32Array(workerData.ctl);
let n = 0;
Atomics.store(ctl, 1, 1);
Atomics.notify(ctl, 1);
while (Atomics.load(ctl, 0) === 0) {
  Atomics.xor(words, workerData.index, 1 << ${EVTCHN_FIFO_MASKED});
  n++;
}
parentPort.postMessage(n);
`;

describe('FIFO atomicity against a concurrent guest', () => {
  test('set_link under a guest toggling MASKED on another thread', async () => {
    const buffer = new SharedArrayBuffer(4096);
    const ctl = new SharedArrayBuffer(8);
    const view = new DataView(buffer);
    const offset = 40;
    view.setUint32(offset, (P | L) >>> 0, true);
    const worker = new Worker(TOGGLER, {
      eval: true,
      workerData: { buffer, ctl, index: offset / 4 },
    });
    const flags = new Int32Array(ctl);
    while (Atomics.load(flags, 1) === 0) Atomics.wait(flags, 1, 0, 50);
    let current = 0;
    let linked = 0;
    const done: Promise<number> = new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    try {
      for (let i = 1; i <= 20000; i++) {
        const link = i & EVTCHN_FIFO_LINK_MASK;
        assert.equal(setLink(view, offset, link), true);
        const w = view.getUint32(offset, true);
        const got = w & EVTCHN_FIFO_LINK_MASK;
        assert.ok(got === link || got === current, `LINK ${got} after linking ${link}`);
        if (got === link) linked++;
        current = got;
        assert.equal(w & (1 << 28), 0, 'BUSY cleared');
        assert.equal((w & (P | L)) >>> 0, (P | L) >>> 0, 'PENDING and LINKED kept');
      }
    } finally {
      Atomics.store(flags, 0, 1);
    }
    const toggles = await done;
    await worker.terminate();
    const masked = (view.getUint32(offset, true) >>> EVTCHN_FIFO_MASKED) & 1;
    assert.equal(masked, toggles & 1, `MASKED reflects all ${toggles} guest toggles`);
    assert.ok(linked > 0);
  });
});
