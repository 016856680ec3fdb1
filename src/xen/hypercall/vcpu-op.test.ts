// HYPERVISOR_vcpu_op from inside guests: vcpu_info placement and the pvclock read through
// it, the runstate area, secondary vCPUs started with VCPUOP_initialise + VCPUOP_up, and
// (host-driven) the timer operations.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SHUTDOWN_poweroff } from '../../abi/sched.js';
import { vcpu_hvm_context } from '../../abi/vcpu.js';
import { shared_info, vcpu_info } from '../../abi/xen.js';
import { DomainState } from '../common/domain.js';
import { GUEST_DATA, readGuest, writeGuest } from '../testing/guest.js';
import { hostCall, results, startGuest, u64Bytes } from '../testing/vcpu-guest.js';
import { setTimerOp } from './set-timer-op.js';
import { vcpuOp } from './vcpu-op.js';

const ENOENT = -2;
const ENXIO = -6;
const EFAULT = -14;
const EEXIST = -17;
const EINVAL = -22;
const ENOSYS = -38;

/** VCPUOP_* cmd, vcpu, arg */
const VOP = `
.macro VOP cmd, vcpu, arg=0
  mov $\\cmd, %edi
  mov $\\vcpu, %esi
  mov $\\arg, %edx
  HCALL 24
.endm
`;

/** rax = the pvclock time of the vcpu_time_info at %rsi (clobbers rcx rdx r8 r9). */
const READ_CLOCK = `
read_clock:
1:
  mov (%rsi), %r8d
  test $1, %r8d
  jnz 1b
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub 8(%rsi), %rax
  movsbl 28(%rsi), %ecx
  test %ecx, %ecx
  js 2f
  shl %cl, %rax
  jmp 3f
2:
  neg %ecx
  shr %cl, %rax
3:
  mov 24(%rsi), %r9d
  mul %r9
  shrd $32, %rdx, %rax
  add 16(%rsi), %rax
  cmp (%rsi), %r8d
  jne 1b
  ret
`;

describe('vcpu_op', () => {
  test('register_vcpu_info: checks, the move, and a pvclock the guest reads', () => {
    const { hv, domain } = startGuest(
      `${VOP}
      .macro VINFO vcpu, gfn, offset
        movq $\\gfn, DATA + 0x140
        movl $\\offset, DATA + 0x148
        movl $0, DATA + 0x14c
        VOP 10, \\vcpu, DATA + 0x140
      .endm
      VINFO 0, 0x320, 4090
      SAVE 0
      VINFO 0, 0x320, 4
      SAVE 1
      VINFO 0, 0x100000, 0
      SAVE 2
      VINFO 7, 0x320, 0
      SAVE 3
      VINFO 1, 0x321, 0x80
      SAVE 4
      VINFO 0, 0x320, 0x40
      SAVE 5
      VINFO 0, 0x322, 0
      SAVE 6
      mov 0x320048, %rax
      SAVE 7
      movzbl 0x320040, %eax
      SAVE 8
      mov 0x320050, %rax
      SAVE 9
      mov $0x320060, %esi
      call read_clock
      SAVE 10
      mov $20000, %ecx
    1:
      dec %ecx
      jnz 1b
      mov $0x320060, %esi
      call read_clock
      SAVE 11
      GET_TIME
      SAVE 12
      POWEROFF
      ${READ_CLOCK}
      `,
      { maxVcpus: 2 },
    );
    // Something to carry over: vcpu_info.arch.cr2 in shared_info.
    const legacy = domain.sharedInfoMfn * 4096 + shared_info.offsets.vcpu_info;
    hv.memory.view.setUint32(legacy + vcpu_info.offsets.arch, 0xdeadbeef, true);
    const freeBefore = hv.frames.free;
    hv.unpause(domain);
    hv.run(2_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    const r = results(hv, domain, 13);
    assert.equal(r[0], ENXIO, 'crosses the page');
    assert.equal(r[1], ENXIO, 'misaligned');
    assert.equal(r[2], EINVAL, 'not RAM');
    assert.equal(r[3], ENOENT, 'no such vCPU');
    assert.equal(r[4], 0, 'an offline vCPU may be moved by another');
    assert.equal(r[5], 0);
    assert.equal(r[6], EINVAL, 'only once');
    assert.equal(r[7], -1, 'every selector bit marked pending');
    assert.equal(r[8], 1, 'evtchn_upcall_pending');
    assert.equal(r[9], 0xdeadbeef, 'the old contents came along');
    const [t1, t2, now] = [r[10]!, r[11]!, r[12]!];
    assert.ok(t1 > 0 && t2 > t1, `monotonic: ${t1} then ${t2}`);
    assert.ok(t2 - t1 >= 40_000 && t2 - t1 < 200_000, `the loop took ${t2 - t1} ns`);
    assert.ok(now >= t2 && now - t2 < 50_000, `pvclock ${t2} vs NOW() ${now}`);
    const v0 = domain.vcpus[0]!;
    const v1 = domain.vcpus[1]!;
    assert.equal(v0.vcpuInfoAddress, domain.mfnOf(0x320) * 4096 + 0x40);
    assert.equal(v1.vcpuInfoAddress, domain.mfnOf(0x321) * 4096 + 0x80);
    const frames = hv.frames.free;
    hv.destroyDomain(domain);
    assert.ok(hv.frames.free > frames);
    assert.equal(hv.frames.count(domain.id), 0, 'the vcpu_info frames were released');
    assert.ok(hv.frames.free >= freeBefore);
  });

  test('runstate area, get_runstate_info and set_timer_op', () => {
    const { hv, domain } = startGuest(
      `${VOP}
      movq $(DATA + 0x900), DATA + 0x140
      VOP 5, 0, DATA + 0x140
      SAVE 0
      movslq DATA + 0x900, %rax
      SAVE 1
      mov DATA + 0x908, %rax
      SAVE 2
      mov DATA + 0x920, %rax
      SAVE 3
      # set_timer_op(now + 1 ms), then block until VIRQ_TIMER
      GET_TIME
      mov %rax, DATA + 0x110
      add $1000000, %rax
      mov %rax, %rdi
      HCALL 15
      SAVE 4
      BLOCK
      SAVE 5
      GET_TIME
      sub DATA + 0x110, %rax
      SAVE 6
      movslq DATA + 0x900, %rax
      SAVE 7
      mov DATA + 0x908, %rax
      SAVE 8
      mov DATA + 0x920, %rax
      SAVE 9
      VOP 4, 0, DATA + 0xa00
      SAVE 10
      movslq DATA + 0xa00, %rax
      SAVE 11
      mov DATA + 0xa20, %rax
      SAVE 12
      VOP 4, 1, DATA + 0xa40
      SAVE 13
      movslq DATA + 0xa40, %rax
      SAVE 14
      # another vCPU's area is written at once too
      movq $(DATA + 0xb00), DATA + 0x140
      movl $-1, DATA + 0xb00
      VOP 5, 1, DATA + 0x140
      SAVE 15
      movslq DATA + 0xb00, %rax
      SAVE 16
      # a NULL area stops the updates
      movq $0, DATA + 0x140
      VOP 5, 1, DATA + 0x140
      SAVE 17
      mov $4, %edi
      xor %esi, %esi
      movabs $0x00007fff00000000, %rdx
      HCALL 24
      SAVE 18
      POWEROFF
      `,
      { maxVcpus: 2 },
    );
    assert.equal(domain.evtchn.bindVirq({ virq: 0, vcpu: 0, port: 0 }), 0);
    const mask =
      domain.sharedInfoMfn * 4096 +
      shared_info.offsets.vcpu_info +
      vcpu_info.offsets.evtchn_upcall_mask;
    hv.memory.bytes[mask] = 1;
    hv.unpause(domain);
    hv.run(2_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    const r = results(hv, domain, 19);
    assert.equal(r[0], 0);
    assert.equal(r[1], 0, 'RUNSTATE_running, as the vCPU sees itself');
    assert.equal(r[4], 0);
    assert.equal(r[5], 0);
    assert.ok(r[6]! >= 1_000_000, `blocked until the timer (${r[6]} ns)`);
    assert.equal(r[7], 0);
    assert.ok(r[8]! > r[2]!, 'state_entry_time moved on');
    assert.ok(r[9]! - r[3]! >= 900_000, `time blocked grew by ${r[9]! - r[3]!} ns`);
    assert.equal(r[10], 0);
    assert.equal(r[11], 0);
    assert.ok(r[12]! >= r[9]!);
    assert.equal(r[13], 0);
    assert.equal(r[14], 3, 'vCPU 1 is offline');
    assert.equal(r[15], 0);
    assert.equal(r[16], 3);
    assert.equal(r[17], 0);
    assert.equal(domain.vcpus[1]!.runstateArea, undefined);
    assert.equal(r[18], EFAULT);
    assert.equal(hv.memory.bytes[mask], 0, 'SCHEDOP_block cleared evtchn_upcall_mask');
    // The last context switch out left the area showing the vCPU not running.
    const area = new DataView(readGuest(hv, domain, GUEST_DATA + 0x900, 48).buffer);
    assert.equal(area.getInt32(0, true), domain.vcpus[0]!.runstate);
    assert.notEqual(area.getInt32(0, true), 0);
    assert.equal(Number(area.getBigUint64(8, true)), domain.vcpus[0]!.runstateEntry);
  });

  test('VCPUOP_initialise and VCPUOP_up start vCPUs in 64-bit and 32-bit mode', () => {
    const O = vcpu_hvm_context.offsets;
    const c64 = (field: string): string =>
      `CTX + ${O[`cpu_regs.x86_64.${field}` as keyof typeof O]}`;
    const c32 = (field: string): string =>
      `CTX32 + ${O[`cpu_regs.x86_32.${field}` as keyof typeof O]}`;
    const { hv, domain } = startGuest(
      `${VOP}
      .set CTX, DATA + 0x1000
      .set CTX32, DATA + 0x1100
      movl $1, CTX
      movq $0x1234, ${c64('rbx')}
      movq $0x1f0000, ${c64('rsp')}
      lea ap64(%rip), %rax
      mov %rax, ${c64('rip')}
      movq $2, ${c64('rflags')}
      mov %cr0, %rax
      mov %rax, ${c64('cr0')}
      mov %cr3, %rax
      mov %rax, ${c64('cr3')}
      mov %cr4, %rax
      mov %rax, ${c64('cr4')}
      mov $0xc0000080, %ecx
      rdmsr
      shl $32, %rdx
      or %rdx, %rax
      mov %rax, ${c64('efer')}
      VOP 1, 1
      SAVE 0
      VOP 0, 9, CTX
      SAVE 1
      movl $2, CTX
      VOP 0, 1, CTX
      SAVE 2
      movl $1, CTX
      btrq $31, ${c64('cr0')}
      VOP 0, 1, CTX
      SAVE 3
      btsq $31, ${c64('cr0')}
      VOP 0, 1, CTX
      SAVE 4
      VOP 0, 1, CTX
      SAVE 5
      VOP 3, 1
      SAVE 6
      VOP 1, 1
      SAVE 7
      VOP 3, 1
      SAVE 8
      VOP 0, 0, CTX
      SAVE 9
      # vcpu_info of a running vCPU other than the caller cannot move
      movq $0x330, DATA + 0x140
      movl $0, DATA + 0x148
      VOP 10, 1, DATA + 0x140
      SAVE 10
      # vCPU 2: flat 32-bit protected mode, no paging
      movl $0, CTX32
      lea ap32(%rip), %rax
      mov %eax, ${c32('eip')}
      movl $0x5678, ${c32('esi')}
      movl $2, ${c32('eflags')}
      movl $0x11, ${c32('cr0')}
      movl $0xffffffff, ${c32('cs_limit')}
      movl $0xffffffff, ${c32('ds_limit')}
      movl $0xffffffff, ${c32('ss_limit')}
      movl $0x67, ${c32('tr_limit')}
      movw $0xc9a, ${c32('cs_ar')}
      movw $0xc93, ${c32('ds_ar')}
      movw $0xc93, ${c32('ss_ar')}
      movw $0x9b, ${c32('tr_ar')}
      VOP 0, 2, CTX32
      SAVE 11
      movw $0x8b, ${c32('tr_ar')}
      VOP 0, 2, CTX32
      SAVE 12
      VOP 1, 2
      SAVE 13
    1:
      xor %edi, %edi
      HCALL 29
      cmpq $0xa11ce, DATA + 0x400
      jne 1b
      cmpl $0x32, DATA + 0x410
      jne 1b
      VOP 2, 1
      SAVE 14
      VOP 3, 1
      SAVE 15
      VOP 2, 2
      SAVE 16
      VOP 11, 0, DATA
      SAVE 17
      VOP 12, 0, DATA + 0x160
      SAVE 18
      VOP 50, 0
      SAVE 19
      VOP 3, 99
      SAVE 20
      # the last vCPU to go down powers the domain off
      VOP 2, 0
      ud2
    ap64:
      movq $0xa11ce, DATA + 0x400
      mov %rbx, DATA + 0x408
      mov %rsp, DATA + 0x418
    2:
      hlt
      jmp 2b
    .code32
    ap32:
      movl %esi, DATA + 0x414
      movl $0x32, DATA + 0x410
    3:
      hlt
      jmp 3b
    .code64
      `,
      { maxVcpus: 3 },
    );
    hv.unpause(domain);
    hv.run(5_000_000);
    assert.equal(domain.state, DomainState.Shutdown);
    assert.equal(domain.shutdownReason, SHUTDOWN_poweroff);
    const r = results(hv, domain, 21);
    assert.equal(r[0], EINVAL, 'up before initialise');
    assert.equal(r[1], ENOENT);
    assert.equal(r[2], EINVAL, 'unknown mode');
    assert.equal(r[3], EINVAL, '64-bit without paging');
    assert.equal(r[4], 0);
    assert.equal(r[5], EEXIST, 'initialised already');
    assert.equal(r[6], 0, 'initialised but still down');
    assert.equal(r[7], 0);
    assert.equal(r[8], 1);
    assert.equal(r[9], EEXIST, 'vCPU 0 is running');
    assert.equal(r[10], EINVAL);
    assert.equal(r[11], EINVAL, 'a code segment for TR');
    assert.equal(r[12], 0);
    assert.equal(r[13], 0);
    assert.equal(r[14], 0);
    assert.equal(r[15], 0);
    assert.equal(r[16], 0);
    assert.equal(r[17], EINVAL, 'send_nmi takes no argument');
    assert.equal(r[18], EINVAL, 'get_physid is for a pinned hardware domain');
    assert.equal(r[19], ENOSYS);
    assert.equal(r[20], ENOENT);
    const marks = new DataView(readGuest(hv, domain, GUEST_DATA + 0x400, 32).buffer);
    assert.equal(marks.getUint32(0, true), 0xa11ce);
    assert.equal(marks.getUint32(8, true), 0x1234, 'rbx from the context');
    assert.equal(marks.getUint32(0x10, true), 0x32);
    assert.equal(marks.getUint32(0x14, true), 0x5678, 'esi from the context');
    assert.equal(marks.getUint32(0x18, true), 0x1f0000, 'rsp from the context');
    assert.equal(domain.vcpus[1]!.online, false);
    assert.equal(domain.vcpus[2]!.online, false);
    assert.equal(domain.vcpus[1]!.cpu.tscOffset, domain.vcpus[0]!.cpu.tscOffset);
  });

  test('timer operations (host-driven): periodic, singleshot, set_timer_op', () => {
    const { hv, domain } = startGuest('mov $1000, %ecx\n 1: dec %ecx\n jnz 1b\n hlt', {
      maxVcpus: 2,
    });
    hv.unpause(domain);
    hv.run(10_000); // the clock moves on; then the vCPU halts
    const [v0, v1] = [domain.vcpus[0]!, domain.vcpus[1]!];
    const timers = domain.timers;
    const now = hv.time.now();
    const arg = GUEST_DATA + 0x100;
    const put = (value: number | bigint, flags = 0): void => {
      writeGuest(hv, domain, arg, u64Bytes(value));
      writeGuest(hv, domain, arg + 8, u64Bytes(flags));
    };
    put(100);
    assert.equal(hostCall(hv, v0, vcpuOp, 6, 0, arg), EINVAL, 'period under 1 ms');
    put(1n << 62n);
    assert.equal(hostCall(hv, v0, vcpuOp, 6, 0, arg), EINVAL, 'period over STIME_DELTA_MAX');
    put(2_000_000);
    assert.equal(hostCall(hv, v0, vcpuOp, 6, 1, arg), 0, 'another vCPU’s periodic timer');
    assert.equal(timers.period(1), 2_000_000);
    // The first tick is due a period after the last one (at 0: none yet), or at once.
    assert.equal(timers.queue.deadline(1, 'periodic'), Math.max(now, 2_000_000));
    assert.equal(hostCall(hv, v0, vcpuOp, 7, 1), 0);
    assert.equal(timers.period(1), 0);
    assert.equal(timers.queue.deadline(1, 'periodic'), undefined);
    put(now + 5_000_000);
    assert.equal(hostCall(hv, v0, vcpuOp, 8, 1, arg), EINVAL, 'singleshot: only on itself');
    assert.equal(hostCall(hv, v1, vcpuOp, 9, 0), EINVAL);
    assert.equal(hostCall(hv, v0, vcpuOp, 8, 0, arg), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), now + 5_000_000);
    put(now - 10, 1); // VCPU_SSHOTTMR_future with a past time: Xen 4.17 fires it anyway
    assert.equal(hostCall(hv, v0, vcpuOp, 8, 0, arg), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), now);
    put(1n << 63n);
    assert.equal(hostCall(hv, v0, vcpuOp, 8, 0, arg), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), now, 'negative as an s_time_t');
    assert.equal(hostCall(hv, v0, vcpuOp, 9, 0), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), undefined);
    assert.equal(hostCall(hv, v0, vcpuOp, 8, 0, 0x7fff00000000), EFAULT);
    // set_timer_op: absolute time, 0 stops, negative or > 2^50 ns ahead means 100 ms
    assert.equal(hostCall(hv, v0, setTimerOp, now + 1000), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), now + 1000);
    assert.equal(hostCall(hv, v0, setTimerOp, 0), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), undefined);
    assert.equal(hostCall(hv, v0, setTimerOp, -5n), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), now + 100_000_000);
    assert.equal(hostCall(hv, v0, setTimerOp, now + 2 ** 51), 0);
    assert.equal(timers.queue.deadline(0, 'singleshot'), now + 100_000_000);
    // send_nmi marks an NMI pending on the target
    assert.equal(hostCall(hv, v0, vcpuOp, 11, 1, 0), 0);
    assert.equal(v1.cpu.nmiPending, true);
  });
});
