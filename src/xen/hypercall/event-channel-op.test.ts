// HYPERVISOR_event_channel_op made by guest code through VMCALL: structs copied in and back,
// Xen's error codes, and events that reach the guest as its callback-vector interrupt.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_EBUSY,
  XEN_EEXIST,
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENOENT,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  EVTCHN_FIFO_LINK_BITS,
  EVTCHN_FIFO_LINK_MASK,
  EVTCHN_FIFO_LINKED,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_PENDING,
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_bind_interdomain,
  EVTCHNOP_bind_ipi,
  EVTCHNOP_bind_pirq,
  EVTCHNOP_bind_vcpu,
  EVTCHNOP_bind_virq,
  EVTCHNOP_close,
  EVTCHNOP_expand_array,
  EVTCHNOP_init_control,
  EVTCHNOP_reset,
  EVTCHNOP_send,
  EVTCHNOP_set_priority,
  EVTCHNOP_status,
  EVTCHNOP_unmask,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_bind_ipi,
  evtchn_bind_pirq,
  evtchn_bind_virq,
  evtchn_fifo_control_block,
  evtchn_init_control,
  evtchn_status,
} from '../../abi/event_channel.js';
import { HVM_PARAM_CALLBACK_IRQ } from '../../abi/hvm.js';
import {
  __HYPERVISOR_event_channel_op,
  __HYPERVISOR_event_channel_op_compat,
  __HYPERVISOR_sched_op,
} from '../../abi/hypercall.js';
import { SCHEDOP_block, SCHEDOP_shutdown } from '../../abi/sched.js';
import {
  DOMID_SELF,
  NR_VIRQS,
  shared_info,
  VIRQ_CONSOLE,
  VIRQ_DEBUG,
  VIRQ_TIMER,
  vcpu_info,
} from '../../abi/xen.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import { type Domain, DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest, writeGuest } from '../testing/guest.js';
import { EVTCHNOP_reset_cont } from './event-channel-op.js';

// The test guest's memory: results in 8-byte slots at GUEST_DATA, argument structs at
// GUEST_DATA + offset (offsets ≥ 0x1000), its IDT, and shared_info mapped at SHINFO (done
// host side here, as XENMEM_add_to_physmap would).
const VECTOR = 0xf3;
const IDT = 0x500000;
const SHINFO_GFN = 0x800;
const SHINFO = SHINFO_GFN * 4096;
const VCPU0 = SHINFO + shared_info.offsets.vcpu_info;
const UPCALL_PENDING = VCPU0 + vcpu_info.offsets.evtchn_upcall_pending;
const PENDING_SEL = VCPU0 + vcpu_info.offsets.evtchn_pending_sel;
const EVTCHN_PENDING = SHINFO + shared_info.offsets.evtchn_pending;
const EVTCHN_MASK = SHINFO + shared_info.offsets.evtchn_mask;
// What the guest's upcall handler records.
const COUNT = GUEST_DATA + 0x800;
const LAST_UPCALL = COUNT + 8;
const LAST_PENDING = COUNT + 16;
/** Set by the host to let a guest past waitHost(). */
const RELEASE = GUEST_DATA + 0x900;
const BAD_POINTER = '0x00007fff00000000'; // canonical, never mapped
const BAD_DOMID = 77;

/** A guest program, written as a list of steps that store results in numbered slots. */
class Guest {
  readonly #lines: string[] = [];
  #labels = 0;

  /** Stores `value` (an unsigned `width`-byte integer) at GUEST_DATA + `off`. */
  set(width: 1 | 2 | 4 | 8, off: number, value: number | bigint): this {
    if (width === 8) {
      this.#lines.push(`movabs $${BigInt(value)}, %rax`, `mov %rax, ${off}(%rbx)`);
    } else {
      const suffix = { 1: 'b', 2: 'w', 4: 'l' }[width];
      this.#lines.push(`mov${suffix} $${Number(value) >>> 0}, ${off}(%rbx)`);
    }
    return this;
  }

  /** Copies the u32 at `from` to `to` (a port returned by one call into the next's struct). */
  copy(from: number, to: number): this {
    this.#lines.push(`mov ${from}(%rbx), %eax`, `mov %eax, ${to}(%rbx)`);
    return this;
  }

  /** event_channel_op(cmd, GUEST_DATA + off) → slot. */
  op(cmd: number, off: number, slot: number): this {
    return this.call(__HYPERVISOR_event_channel_op, cmd, `lea ${off}(%rbx), %rsi`, slot);
  }

  /** Any hypercall with argument 2 loaded by `loadArg`. */
  call(nr: number, cmd: number, loadArg: string, slot: number): this {
    this.#lines.push(
      `mov $${nr}, %eax`,
      `mov $${cmd >>> 0}, %edi`,
      loadArg,
      'vmcall',
      `mov %rax, ${slot * 8}(%rbx)`,
    );
    return this;
  }

  /** Stores the u64 at absolute address `address` in a slot. */
  record(address: number, slot: number): this {
    this.#lines.push(`mov ${address}, %rax`, `mov %rax, ${slot * 8}(%rbx)`);
    return this;
  }

  /** Waits (HLT with events enabled) until the upcall handler has run `count` times. */
  waitUpcalls(count: number): this {
    const n = this.#labels++;
    this.#lines.push(
      `wait${n}: cli`,
      `cmpq $${count}, ${COUNT}`,
      `jae done${n}`,
      'sti',
      'hlt',
      `jmp wait${n}`,
      `done${n}: sti`,
    );
    return this;
  }

  /** Blocks (SCHEDOP_block) until the host calls release(): a point where the test looks in. */
  waitHost(): this {
    const n = this.#labels++;
    this.#lines.push(
      `host${n}: cmpl $0, ${RELEASE}`,
      `jne released${n}`,
      `mov $${__HYPERVISOR_sched_op}, %eax`,
      `mov $${SCHEDOP_block}, %edi`,
      'vmcall',
      `jmp host${n}`,
      `released${n}: movl $0, ${RELEASE}`,
    );
    return this;
  }

  asm(...lines: string[]): this {
    this.#lines.push(...lines);
    return this;
  }

  build(): Uint8Array {
    return assemble(
      `
        mov $${GUEST_DATA}, %rbx
        # IDT gate for the callback vector: present, DPL 0, 64-bit interrupt gate.
        lea handler(%rip), %rax
        mov $${IDT + VECTOR * 16}, %rdi
        mov %ax, (%rdi)
        movw $0x08, 2(%rdi)
        movw $0x8e00, 4(%rdi)
        shr $16, %rax
        mov %ax, 6(%rdi)
        shr $16, %rax
        mov %eax, 8(%rdi)
        movl $0, 12(%rdi)
        lidt idtr(%rip)
        sti
        ${this.#lines.join('\n')}
        # sched_op(SCHEDOP_shutdown, &SHUTDOWN_poweroff)
        movl $0, 0x2000(%rbx)
        mov $${__HYPERVISOR_sched_op}, %eax
        mov $${SCHEDOP_shutdown}, %edi
        lea 0x2000(%rbx), %rsi
        vmcall
        ud2
      handler:
        # A 2-level upcall, as Linux starts one: count, note and clear upcall_pending, take
        # the selector word; the pending bits stay for the test to see.
        push %rax
        incq ${COUNT}
        movzbl ${UPCALL_PENDING}, %eax
        mov %rax, ${LAST_UPCALL}
        movb $0, ${UPCALL_PENDING}
        xor %eax, %eax
        xchg %rax, ${PENDING_SEL}
        mov ${EVTCHN_PENDING}, %rax
        mov %rax, ${LAST_PENDING}
        pop %rax
        iretq
      idtr:
        .word 0xfff
        .quad ${IDT}
      `,
      64,
      { origin: GUEST_CODE },
    );
  }
}

function newHypervisor(): Hypervisor {
  return new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
}

/** A domain running `guest`, with shared_info mapped and the callback vector set. */
function start(
  hv: Hypervisor,
  guest: Guest,
  config: { privileged?: boolean; maxVcpus?: number } = {},
): Domain {
  const domain = hv.createDomain({ maxVcpus: 1, maxPages: 4096, ...config });
  prepareGuest(hv, domain, guest.build());
  domain.setP2m(SHINFO_GFN, domain.sharedInfoMfn);
  domain.hvmParams[HVM_PARAM_CALLBACK_IRQ] = (2n << 56n) | BigInt(VECTOR);
  return domain;
}

function slots(hv: Hypervisor, domain: Domain, count: number): number[] {
  const view = new DataView(readGuest(hv, domain, GUEST_DATA, count * 8).buffer);
  return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
}

function u64At(hv: Hypervisor, domain: Domain, gpa: number): bigint {
  return new DataView(readGuest(hv, domain, gpa, 8).buffer).getBigUint64(0, true);
}

/** A struct the guest passed at GUEST_DATA + off, as it is now. */
function struct<V>(
  hv: Hypervisor,
  domain: Domain,
  layout: { readonly size: number; decode(data: Uint8Array): V },
  off: number,
): V {
  return layout.decode(readGuest(hv, domain, GUEST_DATA + off, layout.size));
}

/** Lets the guest past its waitHost(). */
function release(hv: Hypervisor, domain: Domain): void {
  putU32(hv, domain, RELEASE, 1);
  hv.kick(domain.vcpus[0]!);
}

function putU32(hv: Hypervisor, domain: Domain, gpa: number, value: number): void {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  writeGuest(hv, domain, gpa, bytes);
}

const NONE = 0xffffffff; // an OUT field's value before the call

describe('event_channel_op', () => {
  test('interdomain: A allocates for B, B binds and sends, A takes the upcall', () => {
    const hv = newHypervisor();
    const A = 1;
    const B = 2;
    const a = start(
      hv,
      new Guest()
        .set(2, 0x1000, DOMID_SELF)
        .set(2, 0x1002, B)
        .set(4, 0x1004, NONE)
        .op(EVTCHNOP_alloc_unbound, 0x1000, 0)
        // In a domain that does not exist: -ESRCH, the port left as it was.
        .set(2, 0x1010, BAD_DOMID)
        .set(2, 0x1012, B)
        .set(4, 0x1014, NONE)
        .op(EVTCHNOP_alloc_unbound, 0x1010, 1)
        .waitUpcalls(1)
        .set(2, 0x1020, DOMID_SELF)
        .copy(0x1004, 0x1024)
        .op(EVTCHNOP_status, 0x1020, 2),
    );
    const b = start(
      hv,
      new Guest()
        // The host puts A's port at 0x1004, as xenstore would carry it.
        .set(2, 0x1000, A)
        .set(4, 0x1008, NONE)
        .op(EVTCHNOP_bind_interdomain, 0x1000, 0)
        // A's port is connected now: binding it again is -EINVAL.
        .set(2, 0x1010, A)
        .copy(0x1004, 0x1014)
        .set(4, 0x1018, NONE)
        .op(EVTCHNOP_bind_interdomain, 0x1010, 1)
        // A's channels are not B's to look at or allocate in.
        .set(2, 0x1020, A)
        .copy(0x1004, 0x1024)
        .op(EVTCHNOP_status, 0x1020, 2)
        .set(2, 0x1040, A)
        .set(2, 0x1042, B)
        .set(4, 0x1044, NONE)
        .op(EVTCHNOP_alloc_unbound, 0x1040, 3)
        .set(2, 0x1060, DOMID_SELF)
        .copy(0x1008, 0x1064)
        .op(EVTCHNOP_status, 0x1060, 4)
        .copy(0x1008, 0x1080)
        .op(EVTCHNOP_send, 0x1080, 5)
        .waitHost()
        // Closing B's end leaves A's unbound for B, which can bind it again.
        .copy(0x1008, 0x10a0)
        .op(EVTCHNOP_close, 0x10a0, 6)
        .set(2, 0x10c0, A)
        .copy(0x1004, 0x10c4)
        .set(4, 0x10c8, NONE)
        .op(EVTCHNOP_bind_interdomain, 0x10c0, 7),
      { maxVcpus: 1 },
    );
    b.hvmParams[HVM_PARAM_CALLBACK_IRQ] = 0n; // B takes no upcalls
    assert.deepEqual([a.id, b.id], [A, B]);

    // A allocates and waits.
    hv.unpause(a);
    hv.run(500_000);
    assert.equal(a.state, DomainState.Running);
    assert.deepEqual(slots(hv, a, 2), [0, -XEN_ESRCH]);
    const alloc = struct(hv, a, evtchn_alloc_unbound, 0x1000);
    const port = alloc.port;
    assert.ok(port > 0 && port < 64, `port ${port}`);
    assert.deepEqual(alloc, { dom: DOMID_SELF, remote_dom: B, port });
    assert.equal(struct(hv, a, evtchn_alloc_unbound, 0x1010).port, NONE);
    assert.deepEqual(
      a.evtchn.describe().map((c) => [c.port, c.status, c.remoteDom]),
      [[port, EVTCHNSTAT_unbound, B]],
    );
    assert.equal(u64At(hv, a, COUNT), 0n, 'no event yet');

    // B binds to it and sends: A's port is pending and A's handler runs.
    putU32(hv, b, GUEST_DATA + 0x1004, port);
    hv.unpause(b);
    hv.run(1_000_000);
    assert.deepEqual(slots(hv, b, 6), [0, -XEN_EINVAL, -XEN_EPERM, -XEN_EPERM, 0, 0]);
    const bind = struct(hv, b, evtchn_bind_interdomain, 0x1000);
    const local = bind.local_port;
    assert.deepEqual(bind, { remote_dom: A, remote_port: port, local_port: local });
    assert.ok(local > 0 && local < 64);
    assert.equal(struct(hv, b, evtchn_bind_interdomain, 0x1010).local_port, NONE);
    assert.equal(struct(hv, b, evtchn_alloc_unbound, 0x1040).port, NONE);
    const bStatus = struct(hv, b, evtchn_status, 0x1060);
    assert.equal(bStatus.status, EVTCHNSTAT_interdomain);
    assert.deepEqual(bStatus.u.interdomain, { dom: A, port });
    assert.equal(bStatus.vcpu, 0);

    assert.ok(a.evtchn.isPending(port), 'A sees the port pending');
    assert.equal(u64At(hv, a, COUNT), 1n, 'the callback vector ran once');
    assert.equal(u64At(hv, a, LAST_UPCALL), 1n, 'with evtchn_upcall_pending set');
    assert.equal((u64At(hv, a, LAST_PENDING) >> BigInt(port)) & 1n, 1n);
    assert.equal(slots(hv, a, 3)[2], 0);
    const aStatus = struct(hv, a, evtchn_status, 0x1020);
    assert.equal(aStatus.status, EVTCHNSTAT_interdomain);
    assert.deepEqual(aStatus.u.interdomain, { dom: B, port: local });
    assert.equal(a.state, DomainState.Shutdown);

    // B closes its end and binds anew, reusing its port.
    release(hv, b);
    hv.run(500_000);
    assert.equal(b.state, DomainState.Shutdown);
    assert.deepEqual(slots(hv, b, 8).slice(6), [0, 0]);
    assert.equal(struct(hv, b, evtchn_bind_interdomain, 0x10c0).local_port, local);
    assert.deepEqual(
      a.evtchn.describe().map((c) => [c.port, c.status, c.remoteDom, c.remotePort]),
      [[port, EVTCHNSTAT_interdomain, B, local]],
    );
  });

  test('IPI to itself raises the upcall; status of every state; close and reuse', () => {
    const hv = newHypervisor();
    const g = new Guest()
      .set(4, 0x1000, 0)
      .set(4, 0x1004, NONE)
      .op(EVTCHNOP_bind_ipi, 0x1000, 0)
      .copy(0x1004, 0x1010)
      .op(EVTCHNOP_send, 0x1010, 1)
      .record(COUNT, 2)
      // No vCPU 1: -ENOENT.
      .set(4, 0x1020, 1)
      .set(4, 0x1024, NONE)
      .op(EVTCHNOP_bind_ipi, 0x1020, 3)
      // An unbound port it may bind itself, then a loopback interdomain channel to it.
      .set(2, 0x1030, DOMID_SELF)
      .set(2, 0x1032, DOMID_SELF)
      .op(EVTCHNOP_alloc_unbound, 0x1030, 4)
      .set(2, 0x1040, DOMID_SELF)
      .set(2, 0x1042, DOMID_SELF)
      .op(EVTCHNOP_alloc_unbound, 0x1040, 5)
      .set(2, 0x1050, DOMID_SELF)
      .copy(0x1044, 0x1054)
      .op(EVTCHNOP_bind_interdomain, 0x1050, 6)
      .set(4, 0x1060, VIRQ_DEBUG)
      .set(4, 0x1064, 0)
      .op(EVTCHNOP_bind_virq, 0x1060, 7);
    // status of: the IPI, the unbound port, the loopback's end, the VIRQ, free port 63, port 0.
    // The union is filled with a pattern: only the member that applies is written back.
    const statusOf = [0x1004, 0x1034, 0x1058, 0x1068];
    statusOf.forEach((from, i) => {
      const off = 0x1100 + i * 0x20;
      g.set(2, off, DOMID_SELF)
        .copy(from, off + 4)
        .set(8, off + 16, 0x1122334455667788n)
        .op(EVTCHNOP_status, off, 8 + i);
    });
    g.set(2, 0x1180, DOMID_SELF).set(4, 0x1184, 63).op(EVTCHNOP_status, 0x1180, 12);
    g.set(2, 0x11a0, DOMID_SELF).set(4, 0x11a4, 0).op(EVTCHNOP_status, 0x11a0, 13);
    // Close the IPI: again is -EINVAL, so is sending on it; the next bind reuses the port.
    g.copy(0x1004, 0x1200)
      .op(EVTCHNOP_close, 0x1200, 14)
      .op(EVTCHNOP_close, 0x1200, 15)
      .op(EVTCHNOP_send, 0x1200, 16)
      .set(4, 0x1210, 0)
      .set(4, 0x1214, NONE)
      .op(EVTCHNOP_bind_ipi, 0x1210, 17);
    const d = start(hv, g);
    hv.unpause(d);
    hv.run(1_000_000);
    assert.equal(d.state, DomainState.Shutdown);
    const r = slots(hv, d, 18);

    const ipi = struct(hv, d, evtchn_bind_ipi, 0x1000).port;
    assert.deepEqual(r.slice(0, 3), [0, 0, 1], 'bound, sent, one upcall');
    assert.equal(u64At(hv, d, LAST_UPCALL), 1n);
    assert.equal((u64At(hv, d, LAST_PENDING) >> BigInt(ipi)) & 1n, 1n);
    assert.equal(r[3], -XEN_ENOENT);
    assert.equal(struct(hv, d, evtchn_bind_ipi, 0x1020).port, NONE);
    assert.deepEqual(r.slice(4, 8), [0, 0, 0, 0]);
    const unbound = struct(hv, d, evtchn_alloc_unbound, 0x1030).port;
    const lonely = struct(hv, d, evtchn_alloc_unbound, 0x1040).port;
    const loop = struct(hv, d, evtchn_bind_interdomain, 0x1050).local_port;
    const virq = struct(hv, d, evtchn_bind_virq, 0x1060).port;
    assert.equal(new Set([ipi, unbound, lonely, loop, virq]).size, 5, 'distinct ports');

    assert.deepEqual(r.slice(8, 14), [0, 0, 0, 0, 0, 0]);
    const [sIpi, sUnbound, sLoop, sVirq] = statusOf.map((_, i) =>
      struct(hv, d, evtchn_status, 0x1100 + i * 0x20),
    );
    assert.equal(sIpi!.status, EVTCHNSTAT_ipi);
    assert.equal(sIpi!.u.virq, 0x55667788, 'IPI: the union is not written');
    assert.equal(sUnbound!.status, EVTCHNSTAT_unbound);
    assert.equal(sUnbound!.u.unbound.dom, d.id, 'remote DOMID_SELF is the caller');
    assert.equal(sUnbound!.u.interdomain.port, 0x11223344, 'only unbound.dom is written');
    assert.equal(sLoop!.status, EVTCHNSTAT_interdomain);
    assert.deepEqual(sLoop!.u.interdomain, { dom: d.id, port: lonely });
    assert.equal(sVirq!.status, EVTCHNSTAT_virq);
    assert.equal(sVirq!.u.virq, VIRQ_DEBUG);
    assert.equal(struct(hv, d, evtchn_status, 0x1180).status, EVTCHNSTAT_closed);
    assert.equal(struct(hv, d, evtchn_status, 0x11a0).status, EVTCHNSTAT_closed);

    assert.deepEqual(r.slice(14, 18), [0, -XEN_EINVAL, -XEN_EINVAL, 0]);
    assert.equal(struct(hv, d, evtchn_bind_ipi, 0x1210).port, ipi, 'the closed port is reused');
  });

  test('VIRQs: per-vCPU and global rules, -EEXIST, bind_vcpu, a timer VIRQ delivered', () => {
    const hv = newHypervisor();
    const virq = (off: number, n: number, vcpu: number, slot: number, g: Guest) =>
      g
        .set(4, off, n)
        .set(4, off + 4, vcpu)
        .set(4, off + 8, NONE)
        .op(EVTCHNOP_bind_virq, off, slot);
    const g = new Guest();
    virq(0x1000, VIRQ_TIMER, 0, 0, g);
    virq(0x1010, VIRQ_TIMER, 0, 1, g);
    virq(0x1020, VIRQ_DEBUG, 0, 2, g);
    virq(0x1030, VIRQ_DEBUG, 0, 3, g);
    virq(0x1040, VIRQ_TIMER, 1, 4, g); // a per-vCPU VIRQ on a vCPU it lacks
    virq(0x1050, VIRQ_CONSOLE, 1, 5, g); // a global VIRQ on a vCPU other than 0
    virq(0x1060, NR_VIRQS, 0, 6, g);
    virq(0x1070, 0xffffffff, 0, 7, g);
    // bind_vcpu: a per-vCPU VIRQ stays; an unbound port may move; vCPU 1 does not exist.
    g.copy(0x1008, 0x1100)
      .set(4, 0x1104, 0)
      .op(EVTCHNOP_bind_vcpu, 0x1100, 8)
      .set(4, 0x1104, 1)
      .op(EVTCHNOP_bind_vcpu, 0x1100, 9)
      .set(2, 0x1110, DOMID_SELF)
      .set(2, 0x1112, 0)
      .op(EVTCHNOP_alloc_unbound, 0x1110, 10)
      .copy(0x1114, 0x1120)
      .set(4, 0x1124, 0)
      .op(EVTCHNOP_bind_vcpu, 0x1120, 11)
      // Closing the timer VIRQ frees it for a new binding (on the same port).
      .copy(0x1008, 0x1130)
      .op(EVTCHNOP_close, 0x1130, 12);
    virq(0x1140, VIRQ_TIMER, 0, 13, g);
    g.waitUpcalls(1);
    const d = start(hv, g);
    hv.unpause(d);
    hv.run(1_000_000);
    assert.equal(d.state, DomainState.Running, 'waiting for the timer');
    const r = slots(hv, d, 14);
    assert.deepEqual(r.slice(0, 8), [
      0,
      -XEN_EEXIST,
      0,
      -XEN_EEXIST,
      -XEN_ENOENT,
      -XEN_EINVAL,
      -XEN_EINVAL,
      -XEN_EINVAL,
    ]);
    const timer = struct(hv, d, evtchn_bind_virq, 0x1000).port;
    assert.ok(timer > 0);
    assert.notEqual(struct(hv, d, evtchn_bind_virq, 0x1020).port, timer);
    for (const off of [0x1010, 0x1030, 0x1040, 0x1050, 0x1060, 0x1070]) {
      assert.equal(struct(hv, d, evtchn_bind_virq, off).port, NONE, `no write-back at ${off}`);
    }
    assert.deepEqual(r.slice(8, 14), [-XEN_EINVAL, -XEN_ENOENT, 0, 0, 0, 0]);
    assert.equal(struct(hv, d, evtchn_bind_virq, 0x1140).port, timer);

    // The hypervisor raises VIRQ_TIMER: the guest's handler runs and it powers off.
    assert.ok(d.evtchn.sendVirq(0, VIRQ_TIMER));
    hv.run(500_000);
    assert.equal(d.state, DomainState.Shutdown);
    assert.ok(d.evtchn.isPending(timer));
    assert.equal(u64At(hv, d, COUNT), 1n);
    assert.equal((u64At(hv, d, LAST_PENDING) >> BigInt(timer)) & 1n, 1n);
  });

  test('unmask of a masked, pending port raises the upcall', () => {
    const hv = newHypervisor();
    const g = new Guest()
      .set(4, 0x1000, 0)
      .op(EVTCHNOP_bind_ipi, 0x1000, 0)
      // Mask the port in shared_info, as the guest does, and send: pending, no upcall.
      .asm('mov 0x1004(%rbx), %eax', `lock bts %rax, ${EVTCHN_MASK}`)
      .copy(0x1004, 0x1010)
      .op(EVTCHNOP_send, 0x1010, 1)
      .record(COUNT, 2)
      .record(EVTCHN_PENDING, 3)
      .op(EVTCHNOP_unmask, 0x1010, 4)
      .record(COUNT, 5)
      .record(EVTCHN_MASK, 6)
      // A free port in an allocated bucket is fine; one beyond them is -EINVAL.
      .set(4, 0x1020, 63)
      .op(EVTCHNOP_unmask, 0x1020, 7)
      .set(4, 0x1030, 5000)
      .op(EVTCHNOP_unmask, 0x1030, 8);
    const d = start(hv, g);
    hv.unpause(d);
    hv.run(1_000_000);
    assert.equal(d.state, DomainState.Shutdown);
    const r = slots(hv, d, 9);
    const port = struct(hv, d, evtchn_bind_ipi, 0x1000).port;
    assert.equal(r[0], 0);
    assert.equal(r[1], 0);
    assert.equal(r[2], 0, 'masked: no upcall');
    assert.equal((BigInt.asUintN(64, BigInt(r[3]!)) >> BigInt(port)) & 1n, 1n, 'but pending');
    assert.equal(r[4], 0);
    assert.equal(r[5], 1, 'unmask delivered it');
    assert.equal((BigInt.asUintN(64, BigInt(r[6]!)) >> BigInt(port)) & 1n, 0n, 'mask cleared');
    assert.deepEqual(r.slice(7, 9), [0, -XEN_EINVAL]);
  });

  test('FIFO: init_control, expand_array, set_priority, an event on its queue, reset', () => {
    const hv = newHypervisor();
    const CONTROL_GFN = 0x600;
    const ARRAY_GFN = 0x601;
    const init = (off: number, gfn: number, offset: number, vcpu: number, slot: number, g: Guest) =>
      g
        .set(8, off, gfn)
        .set(4, off + 8, offset)
        .set(4, off + 12, vcpu)
        .set(1, off + 16, 0xaa)
        .op(EVTCHNOP_init_control, off, slot);
    const g = new Guest()
      // Under the 2-level ABI: set_priority is -ENOSYS, expand_array -EOPNOTSUPP.
      .set(4, 0x1000, 1)
      .set(4, 0x1004, 3)
      .op(EVTCHNOP_set_priority, 0x1000, 0)
      .set(8, 0x1010, ARRAY_GFN)
      .op(EVTCHNOP_expand_array, 0x1010, 1);
    init(0x1020, CONTROL_GFN, 0, 1, 2, g); // no vCPU 1
    init(0x1040, CONTROL_GFN, 4, 0, 3, g); // not 8-byte aligned
    init(0x1060, CONTROL_GFN, 4096, 0, 4, g); // crosses the page
    init(0x1080, 0x100000, 0, 0, 5, g); // not the guest's RAM
    init(0x10a0, CONTROL_GFN, 0, 0, 6, g);
    init(0x10c0, CONTROL_GFN, 0, 0, 7, g); // vCPU 0 has its control block already
    g.op(EVTCHNOP_expand_array, 0x1010, 8)
      .set(4, 0x1100, 0)
      .op(EVTCHNOP_bind_ipi, 0x1100, 9)
      .copy(0x1104, 0x1110)
      .set(4, 0x1114, 16)
      .op(EVTCHNOP_set_priority, 0x1110, 10)
      .set(4, 0x1114, 3)
      .op(EVTCHNOP_set_priority, 0x1110, 11)
      .set(4, 0x1120, 5000)
      .set(4, 0x1124, 3)
      .op(EVTCHNOP_set_priority, 0x1120, 12)
      .copy(0x1104, 0x1130)
      .op(EVTCHNOP_send, 0x1130, 13)
      .record(COUNT, 14)
      // The guest reads its event word and control block itself.
      .asm(
        'mov 0x1104(%rbx), %eax',
        `mov ${ARRAY_GFN * 4096}(,%rax,4), %eax`,
        'mov %rax, 15*8(%rbx)',
        `mov ${CONTROL_GFN * 4096}, %eax`,
        'mov %rax, 16*8(%rbx)',
        `mov ${CONTROL_GFN * 4096 + evtchn_fifo_control_block.offsets.head + 3 * 4}, %eax`,
        'mov %rax, 17*8(%rbx)',
      )
      // Reset: every channel closed, back to 2-level.
      .set(2, 0x1140, DOMID_SELF)
      .op(EVTCHNOP_reset, 0x1140, 18)
      .set(2, 0x1150, DOMID_SELF)
      .copy(0x1104, 0x1154)
      .op(EVTCHNOP_status, 0x1150, 19)
      .op(EVTCHNOP_set_priority, 0x1110, 20);
    const d = start(hv, g);
    hv.unpause(d);
    hv.run(1_000_000);
    assert.equal(d.state, DomainState.Shutdown);
    const r = slots(hv, d, 21);
    assert.deepEqual(r.slice(0, 2), [-XEN_ENOSYS, -XEN_EOPNOTSUPP]);
    assert.deepEqual(r.slice(2, 8), [
      -XEN_ENOENT,
      -XEN_EINVAL,
      -XEN_EINVAL,
      -XEN_EINVAL,
      0,
      -XEN_EINVAL,
    ]);
    for (const off of [0x1020, 0x1040, 0x1060, 0x1080, 0x10c0]) {
      assert.equal(
        struct(hv, d, evtchn_init_control, off).link_bits,
        0xaa,
        'failed: no write-back',
      );
    }
    assert.equal(struct(hv, d, evtchn_init_control, 0x10a0).link_bits, EVTCHN_FIFO_LINK_BITS);
    const port = struct(hv, d, evtchn_bind_ipi, 0x1100).port;
    assert.deepEqual(r.slice(8, 15), [0, 0, -XEN_EINVAL, 0, -XEN_EINVAL, 0, 1]);

    const word = r[15]! >>> 0;
    assert.ok(word & (1 << EVTCHN_FIFO_PENDING), 'PENDING');
    assert.ok(word & (1 << EVTCHN_FIFO_LINKED), 'LINKED');
    assert.equal(word & (1 << EVTCHN_FIFO_MASKED), 0);
    assert.equal(word & EVTCHN_FIFO_LINK_MASK, 0, 'last on its queue');
    assert.equal(r[16], 1 << 3, 'READY for queue 3 only');
    assert.equal(r[17], port, 'the head of queue 3');
    assert.equal(u64At(hv, d, LAST_UPCALL), 1n);

    assert.deepEqual(r.slice(18, 21), [0, 0, -XEN_ENOSYS]);
    assert.equal(struct(hv, d, evtchn_status, 0x1150).status, EVTCHNSTAT_closed);
    assert.equal(d.evtchn.abi, '2l');
  });

  test('errors: bad pointers, unknown commands, bad ports and domains, reset_cont', () => {
    const hv = newHypervisor();
    const ops = [
      EVTCHNOP_bind_interdomain,
      EVTCHNOP_bind_virq,
      EVTCHNOP_bind_pirq,
      EVTCHNOP_close,
      EVTCHNOP_send,
      EVTCHNOP_status,
      EVTCHNOP_alloc_unbound,
      EVTCHNOP_bind_ipi,
      EVTCHNOP_bind_vcpu,
      EVTCHNOP_unmask,
      EVTCHNOP_reset,
      EVTCHNOP_init_control,
      EVTCHNOP_expand_array,
      EVTCHNOP_set_priority,
      EVTCHNOP_reset_cont,
    ];
    const bad = `movabs $${BAD_POINTER}, %rsi`;
    const g = new Guest();
    for (const [i, cmd] of ops.entries()) g.call(__HYPERVISOR_event_channel_op, cmd, bad, i);
    // Unknown commands are -ENOSYS before the argument is read; HVM has no compat form.
    g.call(__HYPERVISOR_event_channel_op, 15, bad, 15)
      .call(__HYPERVISOR_event_channel_op, -1, bad, 16)
      .call(__HYPERVISOR_event_channel_op_compat, EVTCHNOP_send, 'lea 0x1000(%rbx), %rsi', 17)
      // Ports outside the allocated buckets, port 0, domains that do not exist.
      .set(4, 0x1000, 100000)
      .op(EVTCHNOP_send, 0x1000, 18)
      .op(EVTCHNOP_close, 0x1000, 19)
      .set(4, 0x1010, 0)
      .op(EVTCHNOP_send, 0x1010, 20)
      .op(EVTCHNOP_close, 0x1010, 21)
      .set(2, 0x1020, DOMID_SELF)
      .set(4, 0x1024, 100000)
      .op(EVTCHNOP_status, 0x1020, 22)
      .set(2, 0x1030, BAD_DOMID)
      .op(EVTCHNOP_status, 0x1030, 23)
      .set(2, 0x1040, DOMID_SELF)
      .set(4, 0x1044, 100000)
      .op(EVTCHNOP_bind_interdomain, 0x1040, 24)
      .set(2, 0x1050, BAD_DOMID)
      .op(EVTCHNOP_bind_interdomain, 0x1050, 25)
      // reset_cont with no reset to resume: -EBUSY (after the domain lookup).
      .set(2, 0x1060, DOMID_SELF)
      .op(EVTCHNOP_reset_cont, 0x1060, 26)
      .set(2, 0x1070, BAD_DOMID)
      .op(EVTCHNOP_reset_cont, 0x1070, 27)
      // No pirq is bound: a failure that writes nothing back.
      .set(4, 0x1080, 0xffffffff)
      .set(4, 0x1088, NONE)
      .op(EVTCHNOP_bind_pirq, 0x1080, 28)
      // A struct the guest may read but not write: bind_ipi binds, then -EFAULT.
      .set(4, 0x700000 - GUEST_DATA, 0)
      .asm(
        'andq $~2, 0x3000 + 3 * 8', // PD entry of 0x600000-0x7fffff: read-only
        'invlpg 0x700000',
      )
      .call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, 'mov $0x700000, %esi', 29);
    const d = start(hv, g);
    hv.unpause(d);
    hv.run(1_000_000);
    assert.equal(d.state, DomainState.Shutdown);
    const r = slots(hv, d, 30);
    assert.deepEqual(
      r.slice(0, ops.length),
      ops.map(() => -XEN_EFAULT),
    );
    assert.deepEqual(r.slice(15, 18), [-XEN_ENOSYS, -XEN_ENOSYS, -XEN_ENOSYS]);
    assert.deepEqual(r.slice(18, 26), [
      -XEN_EINVAL,
      -XEN_EINVAL,
      -XEN_EINVAL,
      -XEN_EINVAL,
      -XEN_EINVAL,
      -XEN_ESRCH,
      -XEN_EINVAL,
      -XEN_ESRCH,
    ]);
    assert.deepEqual(r.slice(26, 28), [-XEN_EBUSY, -XEN_ESRCH]);
    assert.ok(r[28]! < 0, 'bind_pirq fails');
    assert.equal(struct(hv, d, evtchn_bind_pirq, 0x1080).port, NONE);
    assert.equal(r[29], -XEN_EFAULT);
    assert.equal(
      readGuest(hv, d, 0x700004, 4).every((b) => b === 0),
      true,
      'nothing written',
    );
    assert.deepEqual(
      d.evtchn.describe().map((c) => c.status),
      [EVTCHNSTAT_ipi],
      'the port stays bound, as in Xen',
    );
  });

  test('reset of another domain: privileged and paused only', () => {
    const hv = newHypervisor();
    const DOM0 = 0;
    const DOMU = 1;
    const dom0 = start(
      hv,
      new Guest()
        .set(2, 0x1000, DOMU)
        .op(EVTCHNOP_reset, 0x1000, 0) // the domU runs: -EINVAL
        .waitHost()
        .op(EVTCHNOP_reset, 0x1000, 1) // now paused by the toolstack
        .set(2, 0x1010, DOMU)
        .set(4, 0x1014, 1)
        .op(EVTCHNOP_status, 0x1010, 2)
        .set(2, 0x1020, DOMU)
        .set(2, 0x1022, DOM0)
        .op(EVTCHNOP_alloc_unbound, 0x1020, 3),
      { privileged: true },
    );
    const domU = start(
      hv,
      new Guest()
        .set(4, 0x1000, 0)
        .op(EVTCHNOP_bind_ipi, 0x1000, 0)
        .set(2, 0x1010, DOM0)
        .op(EVTCHNOP_reset, 0x1010, 1)
        .op(EVTCHNOP_reset_cont, 0x1010, 2)
        .set(2, 0x1020, DOM0)
        .set(4, 0x1024, 1)
        .op(EVTCHNOP_status, 0x1020, 3)
        .waitHost(),
    );
    assert.deepEqual([dom0.id, domU.id], [DOM0, DOMU]);
    hv.unpause(domU);
    hv.run(500_000);
    assert.deepEqual(slots(hv, domU, 4), [0, -XEN_EPERM, -XEN_EPERM, -XEN_EPERM]);
    assert.equal(struct(hv, domU, evtchn_bind_ipi, 0x1000).port, 1);

    hv.unpause(dom0);
    hv.run(500_000);
    assert.equal(slots(hv, dom0, 1)[0], -XEN_EINVAL);
    assert.equal(domU.evtchn.describe().length, 1, 'nothing closed');

    hv.pause(domU);
    release(hv, dom0);
    hv.run(500_000);
    assert.equal(dom0.state, DomainState.Shutdown);
    assert.deepEqual(slots(hv, dom0, 4).slice(1), [0, 0, 0]);
    assert.equal(struct(hv, dom0, evtchn_status, 0x1010).status, EVTCHNSTAT_closed);
    const port = struct(hv, dom0, evtchn_alloc_unbound, 0x1020).port;
    assert.deepEqual(
      domU.evtchn.describe().map((c) => [c.port, c.status, c.remoteDom]),
      [[port, EVTCHNSTAT_unbound, DOM0]],
      'the IPI was closed; dom0 allocated a port in the domU',
    );
  });
});
