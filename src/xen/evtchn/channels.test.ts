// EVTCHNOP_* semantics and error codes (Xen's event_channel.c), across fake domains.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_EBUSY,
  XEN_EEXIST,
  XEN_EINVAL,
  XEN_ENOENT,
  XEN_ENOSPC,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  evtchn_alloc_unbound,
  evtchn_status,
} from '../../abi/event_channel.js';
import {
  DOMID_SELF,
  NR_VIRQS,
  VIRQ_ARGO,
  VIRQ_CONSOLE,
  VIRQ_DEBUG,
  VIRQ_DOM_EXC,
  VIRQ_TIMER,
} from '../../abi/xen.js';
import type { EventChannels } from './channels.js';
import { World } from './testing.js';
import type { StatusArg } from './types.js';

/** dom0 (privileged, 2 vCPUs) and two domUs (2 vCPUs each). */
function world() {
  const w = new World();
  const [d0, ec0] = w.add(0, { privileged: true });
  const [d1, ec1] = w.add(1);
  const [d2, ec2] = w.add(2);
  return { w, d0, ec0, d1, ec1, d2, ec2 };
}

function alloc(ec: EventChannels, remote: number, dom = DOMID_SELF): number {
  const arg = { dom, remote_dom: remote, port: 0 };
  const rc = ec.allocUnbound(arg);
  assert.equal(rc, 0, `alloc_unbound rc ${rc}`);
  return arg.port;
}

function bind(ec: EventChannels, remoteDom: number, remotePort: number): number {
  const arg = { remote_dom: remoteDom, remote_port: remotePort, local_port: 0 };
  const rc = ec.bindInterdomain(arg);
  assert.equal(rc, 0, `bind_interdomain rc ${rc}`);
  return arg.local_port;
}

function status(ec: EventChannels, port: number, dom = DOMID_SELF): StatusArg & { rc: number } {
  const arg: StatusArg = { dom, port, status: -1, vcpu: -1, u: {} };
  const rc = ec.status(arg);
  return { ...arg, rc };
}

describe('port table', () => {
  test('port 0 is reserved: reported closed, cannot be closed, never handed out', () => {
    const { ec1 } = world();
    const s = status(ec1, 0);
    assert.equal(s.rc, 0);
    assert.equal(s.status, EVTCHNSTAT_closed);
    assert.equal(ec1.close({ port: 0 }), -XEN_EINVAL);
    assert.equal(alloc(ec1, 0), 1);
  });

  test('ports inside an allocated bucket are closed; beyond it they are invalid', () => {
    const { ec1 } = world();
    assert.equal(status(ec1, 63).status, EVTCHNSTAT_closed);
    assert.equal(status(ec1, 64).rc, -XEN_EINVAL);
    assert.equal(ec1.unmask({ port: 63 }), 0);
    assert.equal(ec1.unmask({ port: 64 }), -XEN_EINVAL);
    assert.equal(ec1.close({ port: 64 }), -XEN_EINVAL);
    assert.equal(ec1.send({ port: 64 }), -XEN_EINVAL);
    assert.equal(ec1.send({ port: 0xffffffff }), -XEN_EINVAL);
  });

  test('the lowest free port is reused, its vCPU binding reset to 0', () => {
    const { ec1 } = world();
    const a = alloc(ec1, 0);
    const b = alloc(ec1, 0);
    assert.deepEqual([a, b], [1, 2]);
    assert.equal(ec1.bindVcpu({ port: a, vcpu: 1 }), 0);
    assert.equal(status(ec1, a).vcpu, 1);
    assert.equal(ec1.close({ port: a }), 0);
    assert.equal(alloc(ec1, 0), 1);
    assert.equal(status(ec1, 1).vcpu, 0);
  });

  test('the 2-level ABI has ports 1..4095', () => {
    const { ec1 } = world();
    let last = 0;
    for (let i = 1; i < 4096; i++) last = alloc(ec1, 0);
    assert.equal(last, 4095);
    assert.equal(ec1.allocUnbound({ dom: DOMID_SELF, remote_dom: 0, port: 0 }), -XEN_ENOSPC);
    assert.equal(ec1.bindIpi({ vcpu: 0, port: 0 }), -XEN_ENOSPC);
  });

  test('max_evtchn_port caps allocation', () => {
    const w = new World();
    const [, ec] = w.add(5, { maxEvtchnPort: 3 });
    assert.deepEqual([alloc(ec, 0), alloc(ec, 0), alloc(ec, 0)], [1, 2, 3]);
    assert.equal(ec.allocUnbound({ dom: DOMID_SELF, remote_dom: 0, port: 0 }), -XEN_ENOSPC);
    assert.equal(ec.portLimit, 4);
  });
});

describe('EVTCHNOP_alloc_unbound', () => {
  test('DOMID_SELF as remote_dom means the caller', () => {
    const { ec1 } = world();
    const port = alloc(ec1, DOMID_SELF);
    const s = status(ec1, port);
    assert.equal(s.status, EVTCHNSTAT_unbound);
    assert.deepEqual(s.u, { unbound: { dom: 1 } });
  });

  test('a privileged domain allocates in another domain; DOMID_SELF remote is the caller', () => {
    const { ec0, ec1 } = world();
    const port = alloc(ec0, DOMID_SELF, 1);
    const s = status(ec1, port);
    assert.equal(s.status, EVTCHNSTAT_unbound);
    assert.deepEqual(s.u, { unbound: { dom: 0 } });
  });

  test('an unprivileged domain cannot allocate in another: -EPERM; nor in a missing one: -ESRCH', () => {
    const { ec1, ec2 } = world();
    assert.equal(ec1.allocUnbound({ dom: 2, remote_dom: 1, port: 0 }), -XEN_EPERM);
    assert.equal(status(ec2, 1).status, EVTCHNSTAT_closed, 'nothing was allocated');
    assert.equal(ec1.allocUnbound({ dom: 77, remote_dom: 1, port: 0 }), -XEN_ESRCH);
  });

  test('remote_dom is not checked (any domid may be named)', () => {
    const { ec1 } = world();
    const port = alloc(ec1, 0x1234);
    assert.deepEqual(status(ec1, port).u, { unbound: { dom: 0x1234 } });
  });
});

describe('EVTCHNOP_bind_interdomain', () => {
  test('connects both ends and raises the local port', () => {
    const { d2, ec1, ec2 } = world();
    const p1 = alloc(ec1, 2);
    const p2 = bind(ec2, 1, p1);
    assert.deepEqual(status(ec1, p1).u, { interdomain: { dom: 2, port: p2 } });
    assert.equal(status(ec1, p1).status, EVTCHNSTAT_interdomain);
    assert.deepEqual(status(ec2, p2).u, { interdomain: { dom: 1, port: p1 } });
    assert.ok(d2.pendingBit(p2), 'conservatively pending after bind');
    assert.deepEqual(d2.kicks, [0]);
  });

  test('error cases', () => {
    const { ec1, ec2 } = world();
    const forOther = alloc(ec1, 0);
    const bindArg = (dom: number, port: number) => ({
      remote_dom: dom,
      remote_port: port,
      local_port: 0,
    });
    assert.equal(ec2.bindInterdomain(bindArg(42, 1)), -XEN_ESRCH);
    assert.equal(ec2.bindInterdomain(bindArg(1, 4000)), -XEN_EINVAL, 'port outside the table');
    assert.equal(ec2.bindInterdomain(bindArg(1, 5)), -XEN_EINVAL, 'port not in use');
    assert.equal(ec2.bindInterdomain(bindArg(1, forOther)), -XEN_EINVAL, 'unbound for dom0');
    const ok = alloc(ec1, 2);
    bind(ec2, 1, ok);
    assert.equal(ec2.bindInterdomain(bindArg(1, ok)), -XEN_EINVAL, 'already connected');
    assert.equal(status(ec2, 2).status, EVTCHNSTAT_closed, 'failed binds leave no port behind');
  });

  test('loopback within one domain', () => {
    const { d1, ec1 } = world();
    const a = alloc(ec1, DOMID_SELF);
    const b = bind(ec1, DOMID_SELF, a);
    assert.deepEqual(status(ec1, a).u, { interdomain: { dom: 1, port: b } });
    linuxAck(d1, b);
    assert.equal(ec1.send({ port: a }), 0);
    assert.ok(d1.pendingBit(b));
    assert.equal(ec1.close({ port: b }), 0);
    assert.deepEqual(status(ec1, a).u, { unbound: { dom: 1 } });
  });
});

/** Clears a pending bit the way a guest acks a 2-level event. */
function linuxAck(d: { shared: DataView }, port: number): void {
  const at = 2048 + (port >> 3);
  d.shared.setUint8(at, d.shared.getUint8(at) & ~(1 << (port & 7)));
}

describe('EVTCHNOP_send and EVTCHNOP_close', () => {
  test('send on an interdomain port raises the peer on its bound vCPU', () => {
    const { d1, ec1, ec2 } = world();
    const p1 = alloc(ec1, 2);
    assert.equal(ec1.bindVcpu({ port: p1, vcpu: 1 }), 0);
    const p2 = bind(ec2, 1, p1);
    assert.equal(ec2.send({ port: p2 }), 0);
    assert.ok(d1.pendingBit(p1));
    assert.deepEqual(d1.kicks, [1]);
  });

  test('send on an unbound port is silently dropped; on a VIRQ port it is -EINVAL', () => {
    const { d1, ec1 } = world();
    const p = alloc(ec1, 2);
    assert.equal(ec1.send({ port: p }), 0);
    assert.ok(!d1.pendingBit(p));
    const v = { virq: VIRQ_TIMER, vcpu: 0, port: 0 };
    assert.equal(ec1.bindVirq(v), 0);
    assert.equal(ec1.send({ port: v.port }), -XEN_EINVAL);
    assert.equal(ec1.send({ port: 9 }), -XEN_EINVAL, 'free port');
    assert.equal(ec1.send({ port: 0 }), -XEN_EINVAL, 'reserved port');
  });

  test('IPI ports notify the vCPU they were bound to', () => {
    const { d1, ec1 } = world();
    const arg = { vcpu: 1, port: 0 };
    assert.equal(ec1.bindIpi(arg), 0);
    assert.equal(status(ec1, arg.port).status, EVTCHNSTAT_ipi);
    assert.equal(status(ec1, arg.port).vcpu, 1);
    assert.equal(ec1.send({ port: arg.port }), 0);
    assert.deepEqual(d1.kicks, [1]);
    assert.equal(ec1.bindIpi({ vcpu: 2, port: 0 }), -XEN_ENOENT);
    assert.equal(ec1.bindVcpu({ port: arg.port, vcpu: 0 }), -XEN_EINVAL, 'IPI binding is fixed');
  });

  test('closing one end of an interdomain channel leaves the peer unbound, re-bindable', () => {
    const { d1, ec1, ec2 } = world();
    const p1 = alloc(ec1, 2);
    const p2 = bind(ec2, 1, p1);
    assert.equal(ec2.close({ port: p2 }), 0);
    assert.equal(status(ec2, p2).status, EVTCHNSTAT_closed);
    assert.equal(status(ec1, p1).status, EVTCHNSTAT_unbound);
    assert.deepEqual(status(ec1, p1).u, { unbound: { dom: 2 } });
    assert.equal(ec2.close({ port: p2 }), -XEN_EINVAL, 'closing twice');
    linuxAck(d1, p1);
    assert.equal(ec1.send({ port: p1 }), 0, 'the unbound end drops sends');
    const again = bind(ec2, 1, p1);
    assert.equal(again, p2);
    assert.equal(ec2.send({ port: again }), 0);
    assert.ok(d1.pendingBit(p1));
  });

  test('close clears the pending bit (a rebound port starts clean), not the mask', () => {
    const { d1, ec1 } = world();
    const arg = { vcpu: 0, port: 0 };
    ec1.bindIpi(arg);
    d1.setMask(arg.port, true);
    ec1.send({ port: arg.port });
    assert.ok(d1.pendingBit(arg.port));
    assert.equal(ec1.close({ port: arg.port }), 0);
    assert.ok(!d1.pendingBit(arg.port));
    assert.ok(d1.maskBit(arg.port));
  });
});

describe('EVTCHNOP_bind_virq', () => {
  test('per-vCPU VIRQs: one port per vCPU, delivered to that vCPU, binding fixed', () => {
    const { d1, ec1 } = world();
    const t0 = { virq: VIRQ_TIMER, vcpu: 0, port: 0 };
    const t1 = { virq: VIRQ_TIMER, vcpu: 1, port: 0 };
    assert.equal(ec1.bindVirq(t0), 0);
    assert.equal(ec1.bindVirq(t1), 0);
    assert.equal(ec1.bindVirq({ virq: VIRQ_TIMER, vcpu: 1, port: 0 }), -XEN_EEXIST);
    const s = status(ec1, t1.port);
    assert.equal(s.status, EVTCHNSTAT_virq);
    assert.deepEqual(s.u, { virq: VIRQ_TIMER });
    assert.equal(s.vcpu, 1);
    assert.equal(ec1.sendVirq(1, VIRQ_TIMER), true);
    assert.ok(d1.pendingBit(t1.port) && !d1.pendingBit(t0.port));
    assert.deepEqual(d1.kicks, [1]);
    assert.equal(ec1.sendVirq(0, VIRQ_DEBUG), false, 'not bound');
    assert.equal(ec1.bindVcpu({ port: t1.port, vcpu: 0 }), -XEN_EINVAL);
    assert.equal(ec1.close({ port: t1.port }), 0);
    assert.equal(ec1.virqBound(1, VIRQ_TIMER), false);
    assert.equal(ec1.sendVirq(1, VIRQ_TIMER), false);
    assert.equal(ec1.bindVirq({ virq: VIRQ_TIMER, vcpu: 1, port: 0 }), 0, 'rebindable after close');
  });

  test('argument errors', () => {
    const { ec1 } = world();
    assert.equal(ec1.bindVirq({ virq: NR_VIRQS, vcpu: 0, port: 0 }), -XEN_EINVAL);
    assert.equal(ec1.bindVirq({ virq: 0xffffffff, vcpu: 0, port: 0 }), -XEN_EINVAL);
    assert.equal(ec1.bindVirq({ virq: VIRQ_TIMER, vcpu: 2, port: 0 }), -XEN_ENOENT);
    assert.equal(ec1.bindVirq({ virq: VIRQ_ARGO, vcpu: 1, port: 0 }), -XEN_EINVAL, 'not per-vCPU');
    assert.equal(ec1.bindVirq({ virq: VIRQ_CONSOLE, vcpu: 1, port: 0 }), -XEN_EINVAL);
  });

  test('global VIRQs belong to their handler (dom0 by default): others get -EBUSY', () => {
    const { d0, ec0, ec1 } = world();
    assert.equal(ec1.bindVirq({ virq: VIRQ_CONSOLE, vcpu: 0, port: 0 }), -XEN_EBUSY);
    const arg = { virq: VIRQ_CONSOLE, vcpu: 0, port: 0 };
    assert.equal(ec0.bindVirq(arg), 0);
    assert.equal(ec0.bindVirq({ virq: VIRQ_CONSOLE, vcpu: 0, port: 0 }), -XEN_EEXIST);
    // Global VIRQs may move to another vCPU afterwards; sendVirq then ignores its vcpu.
    assert.equal(ec0.bindVcpu({ port: arg.port, vcpu: 1 }), 0);
    assert.equal(ec0.sendVirq(0, VIRQ_CONSOLE), true);
    assert.deepEqual(d0.kicks, [1]);
    assert.equal(ec0.virqBound(1, VIRQ_CONSOLE), true, 'global: any vCPU asks vCPU 0');
    assert.equal(ec0.close({ port: arg.port }), 0);
    assert.equal(ec0.virqBound(0, VIRQ_CONSOLE), false);
  });

  test('per-domain VIRQs (VIRQ_ARGO) may be bound by any domain on vCPU 0', () => {
    const { d1, ec1 } = world();
    const arg = { virq: VIRQ_ARGO, vcpu: 0, port: 0 };
    assert.equal(ec1.bindVirq(arg), 0);
    assert.equal(ec1.sendVirq(1, VIRQ_ARGO), true);
    assert.ok(d1.pendingBit(arg.port));
  });

  test('global VIRQ handlers can be reassigned; send goes to the handler', () => {
    const { w, d1, ec0, ec1 } = world();
    const onDom0 = { virq: VIRQ_DOM_EXC, vcpu: 0, port: 0 };
    assert.equal(ec0.bindVirq(onDom0), 0);
    assert.equal(w.globalVirqs.set(VIRQ_DOM_EXC, 1), -XEN_EBUSY, 'dom0 still has it bound');
    assert.equal(w.globalVirqs.set(VIRQ_TIMER, 1), -XEN_EINVAL, 'not global');
    assert.equal(w.globalVirqs.set(VIRQ_CONSOLE, 99), -XEN_EINVAL, 'no such domain');
    ec0.close({ port: onDom0.port });
    assert.equal(w.globalVirqs.set(VIRQ_DOM_EXC, 1), 0);
    assert.equal(ec0.bindVirq({ virq: VIRQ_DOM_EXC, vcpu: 0, port: 0 }), -XEN_EBUSY);
    const arg = { virq: VIRQ_DOM_EXC, vcpu: 0, port: 0 };
    assert.equal(ec1.bindVirq(arg), 0);
    assert.equal(w.globalVirqs.send(VIRQ_DOM_EXC), true);
    assert.ok(d1.pendingBit(arg.port));
    // When the handler dies, dom0 (the hardware domain) handles it again.
    w.remove(1);
    assert.equal(w.globalVirqs.handler(VIRQ_DOM_EXC), 0);
    assert.equal(ec0.bindVirq({ virq: VIRQ_DOM_EXC, vcpu: 0, port: 0 }), 0);
  });
});

describe('EVTCHNOP_status, bind_vcpu, bind_pirq, unmask', () => {
  test('status of another domain needs privilege', () => {
    const { ec0, ec1, ec2 } = world();
    const p = alloc(ec2, 1);
    assert.equal(status(ec1, p, 2).rc, -XEN_EPERM);
    assert.equal(status(ec0, p, 2).rc, 0);
    assert.equal(status(ec0, p, 2).status, EVTCHNSTAT_unbound);
    assert.equal(status(ec0, 1, 99).rc, -XEN_ESRCH);
    assert.equal(status(ec0, 1000, 2).rc, -XEN_EINVAL);
  });

  test('bind_vcpu: checks the vCPU first, then the port; moves unbound and interdomain ports', () => {
    const { ec1 } = world();
    assert.equal(ec1.bindVcpu({ port: 999, vcpu: 7 }), -XEN_ENOENT);
    assert.equal(ec1.bindVcpu({ port: 999, vcpu: 1 }), -XEN_EINVAL);
    assert.equal(ec1.bindVcpu({ port: 5, vcpu: 1 }), -XEN_EINVAL, 'free port');
    const p = alloc(ec1, 0);
    assert.equal(ec1.bindVcpu({ port: p, vcpu: 1 }), 0);
    assert.equal(status(ec1, p).vcpu, 1);
  });

  test('bind_pirq: no physical IRQs here (-EPERM unprivileged, -EINVAL for dom0)', () => {
    const { ec0, ec1 } = world();
    assert.equal(ec1.bindPirq({ pirq: 1, flags: 0, port: 0 }), -XEN_EPERM);
    assert.equal(ec0.bindPirq({ pirq: 1, flags: 0, port: 0 }), -XEN_EINVAL);
  });

  test('a dispatcher round trip through the abi layouts', () => {
    const { ec1 } = world();
    const mem = new DataView(new ArrayBuffer(64));
    evtchn_alloc_unbound.write(mem, 0, { dom: DOMID_SELF, remote_dom: 0, port: 0xdead });
    const a = evtchn_alloc_unbound.read(mem, 0);
    assert.equal(ec1.allocUnbound(a), 0);
    evtchn_alloc_unbound.write(mem, 0, a);
    assert.equal(mem.getUint32(4, true), 1);

    // status writes back only the union member that applies.
    const guest = new Uint8Array(mem.buffer).fill(0xee);
    evtchn_status.write(mem, 0, { dom: DOMID_SELF, port: 1 });
    const s = evtchn_status.read(mem, 0);
    assert.equal(ec1.status(s), 0);
    evtchn_status.write(mem, 0, s);
    const back = evtchn_status.read(mem, 0);
    assert.equal(back.status, EVTCHNSTAT_unbound);
    assert.equal(back.vcpu, 0);
    assert.equal(back.u.unbound.dom, 0);
    assert.equal(guest[evtchn_status.offsets.u + 2], 0xee, 'bytes of other members untouched');
  });
});

describe('EVTCHNOP_reset', () => {
  test('closes every guest channel of the caller; peers go unbound', () => {
    const { ec1, ec2 } = world();
    const p1 = alloc(ec1, 2);
    bind(ec2, 1, p1);
    ec2.bindIpi({ vcpu: 0, port: 0 });
    ec2.bindVirq({ virq: VIRQ_TIMER, vcpu: 1, port: 0 });
    assert.equal(ec2.reset({ dom: DOMID_SELF }), 0);
    assert.deepEqual(ec2.describe(), []);
    assert.equal(status(ec1, p1).status, EVTCHNSTAT_unbound);
    assert.equal(ec2.virqBound(1, VIRQ_TIMER), false);
    assert.equal(alloc(ec2, 0), 1);
  });

  test('another domain: -ESRCH, -EPERM unprivileged, -EINVAL unless paused by the toolstack', () => {
    const { w, ec0, ec1, ec2 } = world();
    alloc(ec2, 0);
    assert.equal(ec0.reset({ dom: 99 }), -XEN_ESRCH);
    assert.equal(ec1.reset({ dom: 2 }), -XEN_EPERM);
    assert.equal(ec0.reset({ dom: 2 }), -XEN_EINVAL);
    w.domains.get(2)!.pausedByController = true;
    assert.equal(ec0.reset({ dom: 2 }), 0);
    assert.deepEqual(ec2.describe(), []);
  });
});

describe('hypervisor-side entry points', () => {
  test('the builder pre-allocates xenstore/console ports; the guest and dom0 then bind', () => {
    const { d0, ec0, d1, ec1 } = world();
    const store = ec1.allocUnboundForToolstack(0);
    const console = ec1.allocUnboundForToolstack(0);
    assert.deepEqual([store, console], [1, 2]);
    assert.equal(ec1.allocUnboundForToolstack(0, 2), -XEN_EBUSY, 'explicit port in use');
    assert.equal(ec1.allocUnboundForToolstack(0, 5000), -XEN_ENOSPC, 'beyond the 2L ABI');
    assert.equal(ec1.allocUnboundForToolstack(0, 10), 10);
    const backend = bind(ec0, 1, store);
    assert.deepEqual(status(ec1, store).u, { interdomain: { dom: 0, port: backend } });
    // xenstored notifies the guest; the guest notifies xenstored.
    assert.equal(ec0.send({ port: backend }), 0);
    assert.ok(d1.pendingBit(store));
    assert.equal(ec1.send({ port: store }), 0);
    assert.ok(d0.pendingBit(backend));
    assert.equal(ec0.bindInterdomainForToolstack(1, console, 40), 40);
    assert.equal(ec0.bindInterdomainForToolstack(1, console, 41), -XEN_EINVAL, 'already bound');
  });

  test('notifyPort raises a local guest port; portPoll reports it; pollers are told', () => {
    const { d1, ec1 } = world();
    const p = alloc(ec1, 0);
    d1.setMask(p, true);
    assert.equal(ec1.portPoll(p), 0);
    assert.equal(ec1.notifyPort(p), 0);
    assert.equal(ec1.portPoll(p), 1);
    assert.deepEqual(d1.polled, [p], 'masked ports still wake pollers');
    assert.deepEqual(d1.kicks, [], 'but do not raise the upcall');
    assert.equal(ec1.notifyPort(7), -XEN_EINVAL);
    assert.equal(ec1.portPoll(7), -XEN_EINVAL);
    assert.equal(ec1.portPoll(0), -XEN_EINVAL);
  });

  test('Xen-attached channels: Xen consumes the events; the guest cannot touch its end', () => {
    const { d1, ec0, ec1 } = world();
    const seen: [number, number][] = [];
    const xport = ec0.allocXenChannel(1, 1, (port, vcpu) => seen.push([port, vcpu]));
    assert.ok(xport > 0);
    assert.equal(ec0.close({ port: xport }), -XEN_EINVAL);
    assert.equal(ec0.send({ port: xport }), -XEN_EINVAL);
    assert.equal(ec0.bindVcpu({ port: xport, vcpu: 0 }), -XEN_EINVAL);
    assert.equal(ec0.notifyPort(xport), -XEN_EINVAL);
    const gport = bind(ec1, 0, xport);
    assert.equal(ec1.send({ port: gport }), 0);
    assert.deepEqual(seen, [[xport, 1]]);
    linuxAck(d1, gport);
    ec0.notifyViaXenChannel(xport);
    assert.ok(d1.pendingBit(gport));
    assert.equal(ec0.describe().find((c) => c.port === xport)?.xen, true);
    ec0.freeXenChannel(xport);
    assert.equal(status(ec1, gport).status, EVTCHNSTAT_unbound);
  });

  test('destroy() closes everything: peers unbound, no new ports, repeated calls harmless', () => {
    const { w, d0, ec0, ec1, ec2 } = world();
    const a = alloc(ec1, 2);
    const b = bind(ec2, 1, a);
    const c = alloc(ec0, 1);
    const d = bind(ec1, 0, c);
    assert.ok(d > 0);
    w.remove(1);
    assert.equal(ec1.dying, true);
    assert.deepEqual(status(ec2, b).u, { unbound: { dom: 1 } });
    assert.deepEqual(status(ec0, c).u, { unbound: { dom: 1 } });
    assert.equal(ec1.allocUnbound({ dom: DOMID_SELF, remote_dom: 0, port: 0 }), -XEN_EINVAL);
    assert.equal(ec1.allocUnboundForToolstack(0), -XEN_EINVAL);
    assert.equal(ec1.allocUnboundForToolstack(0, 9), -XEN_EINVAL);
    assert.equal(ec2.send({ port: b }), 0, 'a send to a dead peer is dropped');
    assert.equal(ec2.bindInterdomain({ remote_dom: 1, remote_port: a, local_port: 0 }), -XEN_ESRCH);
    ec1.destroy();
    assert.deepEqual(ec1.describe(), []);
    assert.deepEqual(d0.kicks, [], 'closing never raises the peer');
  });

  test('describe() lists live ports', () => {
    const { ec1 } = world();
    alloc(ec1, 0);
    ec1.bindVirq({ virq: VIRQ_TIMER, vcpu: 1, port: 0 });
    assert.deepEqual(
      ec1.describe().map((c) => [c.port, c.status, c.vcpu, c.remoteDom, c.virq]),
      [
        [1, EVTCHNSTAT_unbound, 0, 0, undefined],
        [2, EVTCHNSTAT_virq, 1, undefined, VIRQ_TIMER],
      ],
    );
  });
});
