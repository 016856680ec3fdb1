// The hypervisor core with a real guest: hypercalls made from inside a domain by assembled
// code, through VMCALL and through the hypercall page, and a destroy that gives back every frame.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XENFEAT_hvm_callback_vector, XENFEAT_writable_page_tables } from '../abi/elfnote.js';
import { SHUTDOWN_poweroff, SHUTDOWN_reboot } from '../abi/sched.js';
import { assemble } from '../x86/testing/native/assemble.js';
import { DomainState } from './common/domain.js';
import { Hypervisor } from './hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest } from './testing/guest.js';

function guestProgram(body: string): Uint8Array {
  return assemble(body, 64, { origin: GUEST_CODE });
}

const results = (
  hv: Hypervisor,
  domain: import('./common/domain.js').Domain,
  count: number,
): number[] => {
  const bytes = readGuest(hv, domain, GUEST_DATA, count * 8);
  const view = new DataView(bytes.buffer);
  return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
};

describe('hypervisor core', () => {
  test('a guest makes hypercalls by VMCALL and through its hypercall page, then powers off', () => {
    const hv = new Hypervisor({ memoryBytes: 32 << 20 });
    const freeBefore = hv.frames.free;
    const domain = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    prepareGuest(
      hv,
      domain,
      guestProgram(`
        mov $${GUEST_DATA}, %rbx
        # xen_version(XENVER_version)
        mov $17, %eax
        xor %edi, %edi
        vmcall
        mov %rax, 0(%rbx)
        # console_io(CONSOLEIO_write, len, msg)
        mov $18, %eax
        xor %edi, %edi
        mov $(msg_end - msg), %esi
        lea msg(%rip), %rdx
        vmcall
        mov %rax, 8(%rbx)
        # xen_version(XENVER_get_features, &info) with submap 0
        movl $0, 0x100(%rbx)
        mov $17, %eax
        mov $6, %edi
        lea 0x100(%rbx), %rsi
        vmcall
        mov %rax, 16(%rbx)
        mov 0x104(%rbx), %eax
        mov %rax, 24(%rbx)
        # an unknown hypercall
        mov $63, %eax
        vmcall
        mov %rax, 32(%rbx)
        # a bad pointer: -EFAULT
        mov $18, %eax
        xor %edi, %edi
        mov $4, %esi
        movabs $0x00007fff00000000, %rdx
        vmcall
        mov %rax, 40(%rbx)
        # the hypercall page at 0x400000, then xen_version through stub 17
        mov $0x40000000, %ecx
        mov $0x400000, %eax
        xor %edx, %edx
        wrmsr
        xor %edi, %edi
        call 0x400000 + 17 * 32
        mov %rax, 48(%rbx)
        # sched_op(SCHEDOP_shutdown, &reason)
        movl $0, 0x200(%rbx)
        mov $29, %eax
        mov $2, %edi
        lea 0x200(%rbx), %rsi
        vmcall
        ud2
      msg: .ascii "hello from the guest\\n"
      msg_end:
      `),
    );
    hv.unpause(domain);
    hv.run(1_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    assert.equal(domain.shutdownReason, SHUTDOWN_poweroff);
    const [version, written, features, featureBits, unknown, fault, viaPage] = results(
      hv,
      domain,
      7,
    );
    assert.equal(version, (4 << 16) | 17);
    assert.equal(written, 0);
    assert.equal(features, 0);
    assert.ok(featureBits! & (1 << XENFEAT_writable_page_tables));
    assert.ok(featureBits! & (1 << XENFEAT_hvm_callback_vector));
    assert.equal(unknown, -38, 'ENOSYS');
    assert.equal(fault, -14, 'EFAULT');
    assert.equal(viaPage, (4 << 16) | 17);
    assert.match(hv.console.contents(), /\(d1\) hello from the guest\n/);
    assert.match(hv.console.contents(), /Domain 1 shutdown: poweroff/);

    hv.destroyDomain(domain);
    assert.equal(hv.frames.count(domain.id), 0);
    assert.equal(hv.frames.free, freeBefore, 'destroy gives back every frame');
  });

  test('a triple fault shuts down only the faulting domain, for a reboot as under Xen', () => {
    const hv = new Hypervisor({ memoryBytes: 32 << 20 });
    const bad = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    const good = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
    prepareGuest(hv, bad, guestProgram('ud2'));
    prepareGuest(hv, good, guestProgram(`1: mov $17, %eax\n xor %edi, %edi\n vmcall\n jmp 1b`));
    hv.unpause(bad);
    hv.unpause(good);
    hv.run(200_000);
    assert.equal(bad.state, DomainState.Shutdown);
    assert.equal(bad.shutdownReason, SHUTDOWN_reboot);
    assert.match(hv.console.contents(), /d1v0 Triple fault .* invoking HVM shutdown action 1/);
    assert.equal(good.state, DomainState.Running, 'the other domain carries on');
    assert.ok(good.vcpus[0]!.cpu.instret > 1000);
  });

  test('memory accounting: populate stops at max_mem, destroy scrubs', () => {
    const hv = new Hypervisor({ memoryBytes: 16 << 20 });
    const domain = hv.createDomain({ maxVcpus: 1, maxPages: 100 });
    assert.equal(hv.populatePhysmap(domain, 0, 150), 100);
    assert.equal(domain.totPages, 100);
    const mfn = domain.mfnOf(5);
    hv.memory.bytes.fill(0xaa, mfn * 4096, mfn * 4096 + 4096);
    hv.destroyDomain(domain);
    assert.ok(hv.memory.bytes.subarray(mfn * 4096, mfn * 4096 + 4096).every((b) => b === 0));
  });
});

test('the virtual clock jumps over idle time a minute at a time, however far the timer', () => {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const domain = hv.createDomain({ maxVcpus: 1, maxPages: 8192 });
  prepareGuest(hv, domain, assemble('sti\n 1: hlt\n jmp 1b', 64, { origin: GUEST_CODE }));
  hv.unpause(domain);
  hv.run(1000); // it halts, and nothing but a timer would wake it
  const before = hv.time.now();
  domain.timers.setSingleshot(0, 2 ** 62, 0, before);
  hv.run(1000);
  const jumped = hv.time.now() - before;
  assert.ok(jumped > 0 && jumped <= 64 * 60e9, `jumped ${jumped} ns`);
});

test('a guest whose vCPUs all halt with interrupts off powers off, as under Xen', () => {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const domain = hv.createDomain({ maxVcpus: 1, maxPages: 8192 });
  prepareGuest(hv, domain, assemble('cli\n 1: hlt\n jmp 1b', 64, { origin: GUEST_CODE }));
  hv.unpause(domain);
  hv.run(1000);
  assert.equal(domain.state, DomainState.Shutdown);
  assert.equal(domain.shutdownReason, SHUTDOWN_poweroff);
  assert.match(hv.console.contents(), /All CPUs offline -- powering off/);
});

test('a halt with interrupts on only blocks the vCPU', () => {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const domain = hv.createDomain({ maxVcpus: 1, maxPages: 8192 });
  prepareGuest(hv, domain, assemble('sti\n 1: hlt\n jmp 1b', 64, { origin: GUEST_CODE }));
  hv.unpause(domain);
  hv.run(1000);
  assert.equal(domain.state, DomainState.Running);
  assert.equal(domain.vcpus[0]!.blocked, true);
});

test('a vCPU spinning on PAUSE gives way to the others (PAUSE-loop exiting)', () => {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const spinner = hv.createDomain({ maxVcpus: 1, maxPages: 8192 });
  const worker = hv.createDomain({ maxVcpus: 1, maxPages: 8192 });
  prepareGuest(hv, spinner, assemble('1: pause\n jmp 1b', 64, { origin: GUEST_CODE }));
  prepareGuest(hv, worker, assemble('1: inc %rax\n jmp 1b', 64, { origin: GUEST_CODE }));
  hv.unpause(spinner);
  hv.unpause(worker);
  hv.run(4_000_000);
  const spun = spinner.vcpus[0]!.cpu.instret;
  const worked = worker.vcpus[0]!.cpu.instret;
  // Without PAUSE-loop exiting each would have had half the time, slice by slice.
  assert.ok(spun > 0 && worked > 50 * spun, `spinner ${spun}, worker ${worked}`);
});
