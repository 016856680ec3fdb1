// HYPERVISOR_hvm_op from inside guests: the callback vector and the per-vCPU upcall vector
// delivering a timer event, the parameter permission rules, and the smaller operations.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_IDENT_PT,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
} from '../../abi/hvm.js';
import { SHUTDOWN_poweroff } from '../../abi/sched.js';
import { shared_info, vcpu_info } from '../../abi/xen.js';
import { callbackVector } from '../arch/x86/hvm/events.js';
import { DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { results, startGuest } from '../testing/vcpu-guest.js';

const EPERM = -1;
const ENOENT = -2;
const ESRCH = -3;
const EINVAL = -22;
const ENOSYS = -38;

describe('hvm_op', () => {
  test('HVM_PARAM_CALLBACK_IRQ as a vector delivers a VIRQ_TIMER upcall to a blocked vCPU', () => {
    const { hv, domain } = startGuest(`
      GATE 0xf3, handler
      LOAD_IDT
      CALLBACK_VECTOR 0xf3
      SAVE 0
      GET_TIME
      mov %rax, DATA + 0x110
      add $1000000, %rax
      mov %rax, DATA + 0x120
      movl $0, DATA + 0x128
      # VCPUOP_set_singleshot_timer(vcpu 0, now + 1 ms)
      mov $8, %edi
      xor %esi, %esi
      mov $(DATA + 0x120), %edx
      HCALL 24
      SAVE 1
      sti
      BLOCK
      SAVE 2
      mov DATA + 0x800, %rax
      SAVE 3
      GET_TIME
      sub DATA + 0x110, %rax
      SAVE 4
      POWEROFF
    handler:
      incq DATA + 0x800
      # the guest cannot clear evtchn_upcall_pending (shared_info is not mapped): return
      # with interrupts off, or the callback would be taken again at once
      andq $~0x200, 16(%rsp)
      iretq
    `);
    const bind = { virq: 0, vcpu: 0, port: 0 };
    assert.equal(domain.evtchn.bindVirq(bind), 0);
    hv.unpause(domain);
    hv.run(5_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    assert.equal(domain.shutdownReason, SHUTDOWN_poweroff);
    const [setParam, timer, block, handled, elapsed] = results(hv, domain, 5);
    assert.equal(setParam, 0);
    assert.equal(timer, 0);
    assert.equal(block, 0);
    assert.equal(handled, 1, 'the callback vector ran once');
    assert.ok(elapsed! >= 1_000_000, `woken after the timeout (${elapsed} ns)`);
    assert.equal(callbackVector(domain), 0xf3);
    assert.equal(domain.hvmParams[HVM_PARAM_CALLBACK_IRQ], 0x02000000000000f3n);
    assert.ok(domain.evtchn.isPending(bind.port), 'VIRQ_TIMER is pending');
    const info = domain.sharedInfoMfn * 4096 + shared_info.offsets.vcpu_info;
    assert.equal(hv.memory.bytes[info + vcpu_info.offsets.evtchn_upcall_pending], 1);
  });

  test('an upcall already pending is delivered as soon as the callback vector is set', () => {
    const { hv, domain } = startGuest(`
      GATE 0xf3, handler
      LOAD_IDT
      # register_vcpu_info marks an upcall pending (gfn 0x320, offset 0)
      movq $0x320, DATA + 0x140
      movq $0, DATA + 0x148
      mov $10, %edi
      xor %esi, %esi
      mov $(DATA + 0x140), %edx
      HCALL 24
      SAVE 0
      sti
      mov DATA + 0x800, %rax
      SAVE 1
      mov $(DATA + 0x100), %rsi
      movl $0x7ff0, (%rsi)
      movl $0, 4(%rsi)
      movabs $0x02000000000000f3, %rax
      mov %rax, 8(%rsi)
      xor %edi, %edi
      HCALL 34
      mov DATA + 0x800, %rax
      SAVE 2
      POWEROFF
    handler:
      movb $0, 0x320000
      incq DATA + 0x800
      iretq
    `);
    hv.unpause(domain);
    hv.run(1_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    assert.deepEqual(results(hv, domain, 3), [0, 0, 1]);
  });

  test('HVMOP_set_evtchn_upcall_vector: the LAPIC vector, acknowledged by an x2APIC EOI', () => {
    const { hv, domain } = startGuest(`
      GATE 0xf4, handler
      LOAD_IDT
      # x2APIC on, software-enabled
      mov $0x1b, %ecx
      rdmsr
      or $0xc00, %eax
      wrmsr
      mov $0x80f, %ecx
      mov $0x1ff, %eax
      xor %edx, %edx
      wrmsr
      # errors: vector below 0x10, vCPU out of range
      movl $0, DATA + 0x100
      movb $0x0f, DATA + 0x104
      mov $23, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 0
      movl $5, DATA + 0x100
      movb $0xf4, DATA + 0x104
      mov $23, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 1
      # VCPUOP_register_vcpu_info at gfn 0x320 offset 0x40, so the handler can clear
      # evtchn_upcall_pending
      movq $0x320, DATA + 0x140
      movl $0x40, DATA + 0x148
      movl $0, DATA + 0x14c
      mov $10, %edi
      xor %esi, %esi
      mov $(DATA + 0x140), %edx
      HCALL 24
      SAVE 2
      # the vector for vCPU 0: raised at once, taken when interrupts are enabled
      movl $0, DATA + 0x100
      mov $23, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 3
      mov DATA + 0x800, %rax
      SAVE 4
      sti
      nop
      nop
      mov DATA + 0x800, %rax
      SAVE 5
      # a timer event while blocked comes in through the same vector
      GET_TIME
      add $500000, %rax
      mov %rax, DATA + 0x120
      movl $0, DATA + 0x128
      mov $8, %edi
      xor %esi, %esi
      mov $(DATA + 0x120), %edx
      HCALL 24
      BLOCK
      mov DATA + 0x800, %rax
      SAVE 6
      POWEROFF
    handler:
      # what a guest's upcall handler does first: clear evtchn_upcall_pending and take
      # evtchn_pending_sel (register_vcpu_info set every bit of it)
      movb $0, 0x320040
      movq $0, 0x320048
      incq DATA + 0x800
      push %rax
      push %rcx
      push %rdx
      mov $0x80b, %ecx
      xor %eax, %eax
      xor %edx, %edx
      wrmsr
      pop %rdx
      pop %rcx
      pop %rax
      iretq
    `);
    assert.equal(domain.evtchn.bindVirq({ virq: 0, vcpu: 0, port: 0 }), 0);
    hv.unpause(domain);
    hv.run(5_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    const [lowVector, badVcpu, registered, set, before, after, afterTimer] = results(hv, domain, 7);
    assert.equal(lowVector, EINVAL);
    assert.equal(badVcpu, ENOENT);
    assert.equal(registered, 0);
    assert.equal(set, 0);
    assert.equal(before, 0, 'nothing is taken with interrupts off');
    assert.equal(after, 1, 'the vector raised by set_evtchn_upcall_vector');
    assert.equal(afterTimer, 2, 'after EOI the next upcall gets through');
    assert.equal(domain.vcpus[0]!.vlapic.upcallVector, 0xf4);
  });

  test('parameters: what a guest may set and read on itself, and other errors', () => {
    const hv = startGuest('hlt').hv; // domain 1: a bystander
    const other = hv.domains.get(1)!;
    const { domain } = startGuest(
      `
      .macro PARAM op, domid, index, value=0
        movl $\\domid, DATA + 0x100
        movl $\\index, DATA + 0x104
        movabs $\\value, %rax
        mov %rax, DATA + 0x108
        mov $\\op, %edi
        mov $(DATA + 0x100), %esi
        HCALL 34
      .endm
      PARAM 0, 0x7ff0, ${HVM_PARAM_STORE_PFN}, 0x1000
      SAVE 0
      PARAM 1, 0x7ff0, ${HVM_PARAM_STORE_PFN}
      SAVE 1
      mov DATA + 0x108, %rax
      SAVE 2
      PARAM 0, 0x7ff0, ${HVM_PARAM_STORE_EVTCHN}, 7
      SAVE 3
      PARAM 1, 0x7ff0, ${HVM_PARAM_IDENT_PT}
      SAVE 4
      PARAM 1, 0x7ff0, 39
      SAVE 5
      PARAM 0, 0x7ff0, 4, 1
      SAVE 6
      PARAM 1, 0x1234, ${HVM_PARAM_STORE_PFN}
      SAVE 7
      PARAM 1, 1, ${HVM_PARAM_CALLBACK_IRQ}
      SAVE 8
      PARAM 1, 2, ${HVM_PARAM_STORE_PFN}
      SAVE 9
      # a GSI callback is stored but, without an I/O APIC, delivers nothing
      PARAM 0, 0x7ff0, ${HVM_PARAM_CALLBACK_IRQ}, 5
      SAVE 10
      # HVMOP_flush_tlbs (arg must be NULL), pagetable_dying, get_mem_type, unknown
      mov $5, %edi
      xor %esi, %esi
      HCALL 34
      SAVE 11
      mov $5, %edi
      mov $DATA, %esi
      HCALL 34
      SAVE 12
      movl $0x7ff0, DATA + 0x100
      movq $0x1000, DATA + 0x108
      mov $9, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 13
      movl $0x7ff0, DATA + 0x100
      movq $5, DATA + 0x108
      mov $15, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 14
      movzwl DATA + 0x102, %eax
      SAVE 15
      movq $0x100000, DATA + 0x108
      mov $15, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      movzwl DATA + 0x102, %eax
      SAVE 16
      mov $99, %edi
      HCALL 34
      SAVE 17
      GET_TIME
      SAVE 18
      POWEROFF
      `,
      { hv },
    );
    assert.equal(domain.id, 2);
    domain.hvmParams[HVM_PARAM_STORE_PFN] = 0xfeffcn;
    other.hvmParams[HVM_PARAM_STORE_PFN] = 0x99n;
    hv.unpause(domain);
    hv.run(2_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    const r = results(hv, domain, 19);
    assert.equal(r[0], EPERM, 'a guest may not set its STORE_PFN');
    assert.equal(r[1], 0, 'but may read it');
    assert.equal(r[2], 0xfeffc);
    assert.equal(r[3], 0, 'STORE_EVTCHN is guest-settable');
    assert.equal(domain.hvmParams[HVM_PARAM_STORE_EVTCHN], 7n);
    assert.equal(r[4], EPERM, 'IDENT_PT is the toolstack’s');
    assert.equal(r[5], EINVAL, 'index ≥ HVM_NR_PARAMS');
    assert.equal(r[6], EINVAL, 'deprecated PAE_ENABLED');
    assert.equal(r[7], ESRCH, 'no such domain');
    assert.equal(r[8], EPERM, 'another domain');
    assert.equal(r[9], 0, 'its own id is itself');
    assert.equal(r[10], 0);
    assert.equal(domain.hvmParams[HVM_PARAM_CALLBACK_IRQ], 5n);
    assert.equal(callbackVector(domain), 0);
    assert.equal(r[11], 0, 'flush_tlbs');
    assert.equal(r[12], EINVAL, 'flush_tlbs with an argument');
    assert.equal(r[13], ENOSYS, 'pagetable_dying: no shadow paging here');
    assert.equal(r[14], 0);
    assert.equal(r[15], 0, 'HVMMEM_ram_rw');
    assert.equal(r[16], 2, 'HVMMEM_mmio_dm for a hole');
    assert.equal(r[17], ENOSYS);
    assert.ok(r[18]! > 0 && r[18]! <= hv.time.now());
    assert.equal(other.hvmParams[HVM_PARAM_STORE_PFN], 0x99n, 'the other domain is untouched');
  });

  test('a privileged domain sets and reads another domain’s parameters', () => {
    const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
    const { domain: tools } = startGuest(
      `
      movl $1, DATA + 0x100
      movl $${HVM_PARAM_STORE_PFN}, DATA + 0x104
      movq $0xfeffc, DATA + 0x108
      xor %edi, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 0
      movl $${HVM_PARAM_IDENT_PT}, DATA + 0x104
      movq $0x5000, DATA + 0x108
      xor %edi, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 1
      mov $1, %edi
      mov $(DATA + 0x100), %esi
      HCALL 34
      SAVE 2
      mov DATA + 0x108, %rax
      SAVE 3
      POWEROFF
      `,
      { hv, privileged: true },
    );
    const domU = hv.createDomain({ maxVcpus: 1, maxPages: 16 });
    assert.equal(tools.id, 0);
    assert.equal(domU.id, 1);
    hv.unpause(tools);
    hv.run(1_000_000);
    const [setStore, setIdent, getIdent, ident] = results(hv, tools, 4);
    assert.equal(setStore, 0);
    assert.equal(domU.hvmParams[HVM_PARAM_STORE_PFN], 0xfeffcn);
    assert.equal(setIdent, 0);
    assert.equal(getIdent, 0);
    assert.equal(ident, 0x5000);
  });
});
