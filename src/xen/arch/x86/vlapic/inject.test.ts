// The vlapic driven by real guest code on the CPU: x2APIC MSR and xAPIC MMIO exits routed to
// it, a self-IPI and a timer interrupt injected through the IDT, EOI from the handler, and
// CR8 kept in step with TPR.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Cpu } from '../../../../x86/cpu.js';
import { ExitReason } from '../../../../x86/exit.js';
import { TestMachine } from '../../../../x86/testing/machine.js';
import { handleVlapicExit, injectPendingInterrupt, loadCr8, storeCr8 } from './inject.js';
import { isVlapicMsr, Vlapic } from './vlapic.js';

const CODE = 0x100000;
const IDT = 0x8000;
const HANDLERS = 0x9000;
const RECORD = 0xa000;

const le32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
const movEcx = (v: number): number[] => [0xb9, ...le32(v)];
const movEax = (v: number): number[] => [0xb8, ...le32(v)];
const XOR_EAX = [0x31, 0xc0];
const XOR_EDX = [0x31, 0xd2];
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
const STI = [0xfb];
const NOP = [0x90];
const HLT = [0xf4];
/** mov dword [abs32], imm32 */
const storeAbs = (address: number, v: number): number[] => [
  0xc7,
  0x04,
  0x25,
  ...le32(address),
  ...le32(v),
];
/** mov [abs32], eax */
const storeEax = (address: number): number[] => [0x89, 0x04, 0x25, ...le32(address)];
/** mov dword [rbx + disp32], imm32 */
const storeRbx = (disp: number, v: number): number[] => [0xc7, 0x83, ...le32(disp), ...le32(v)];

interface Guest {
  machine: TestMachine;
  cpu: Cpu;
  lapic: Vlapic;
  clock: { now: number; deadline: number | undefined };
}

/** A 64-bit guest with `code` at CODE and `handler` behind vector `vector`. */
function guest(code: number[], vector: number, handler: number[]): Guest {
  const machine = new TestMachine();
  machine.map(CODE, 0x2000);
  machine.map(IDT, 0x3000);
  machine.write(CODE, new Uint8Array(code));
  const entry = HANDLERS;
  machine.write(entry, new Uint8Array([...handler, ...HLT, 0xeb, 0xfd]));
  machine.write32(IDT + vector * 16, (0x08 << 16) | (entry & 0xffff));
  machine.write32(IDT + vector * 16 + 4, (entry & 0xffff0000) | 0x8e00);
  const cpu = machine.enterLongMode();
  cpu.idtBaseLo = IDT;
  cpu.idtLimit = 256 * 16 - 1;
  cpu.gpr[8] = CODE + 0x1ff0;
  cpu.ripLo = CODE;
  cpu.policy.msrExits = isVlapicMsr;
  const clock: Guest['clock'] = { now: 0, deadline: undefined };
  const lapic: Vlapic = new Vlapic({
    vcpuId: 0,
    apicId: 3,
    now: () => clock.now,
    setTimer: (deadline) => {
      clock.deadline = deadline;
    },
    deliverIpi: (target, v) => {
      assert.equal(target, 0);
      lapic.acceptInterrupt(v);
    },
    peers: () => [lapic],
  });
  return { machine, cpu, lapic, clock };
}

/** The hypervisor's vCPU loop, with the scheduler's clock jumping to the APIC's deadline. */
function runGuest({ cpu, lapic, clock }: Guest): void {
  for (let i = 0; i < 100; i++) {
    loadCr8(lapic, cpu);
    const exit = cpu.run(10_000);
    storeCr8(lapic, cpu);
    assert.notEqual(handleVlapicExit(lapic, cpu, exit), 'gp');
    if (exit.reason === ExitReason.Halt && lapic.highestPending() < 0) {
      if (clock.deadline === undefined) return;
      clock.now = clock.deadline;
      clock.deadline = undefined;
      lapic.fireTimer();
    }
    injectPendingInterrupt(lapic, cpu);
  }
  assert.fail('the guest did not settle');
}

const recorded = (machine: TestMachine, at = 0): number =>
  new DataView(machine.read(RECORD + at, 4).buffer).getUint32(0, true);

describe('against the CPU', () => {
  test('x2APIC: enable through IA32_APIC_BASE, self-IPI, handler EOI', () => {
    const code = [
      ...movEcx(0x1b),
      ...RDMSR,
      0x0d,
      ...le32(0x400), // or eax, EXTD
      ...WRMSR,
      ...movEcx(0x80f),
      ...movEax(0x1ff),
      ...XOR_EDX,
      ...WRMSR, // SVR: enabled
      ...movEcx(0x802),
      ...RDMSR,
      ...storeEax(RECORD + 4), // the x2APIC ID
      ...movEcx(0x83f),
      ...movEax(0x40),
      ...WRMSR, // self IPI, with IF=0
      ...STI,
      ...NOP,
      ...HLT,
    ];
    const g = guest(code, 0x40, [
      ...storeAbs(RECORD, 0x40),
      ...movEcx(0x80b),
      ...XOR_EAX,
      ...XOR_EDX,
      ...WRMSR,
    ]);
    runGuest(g);
    assert.equal(recorded(g.machine), 0x40);
    assert.equal(recorded(g.machine, 4), 3);
    assert.equal(g.lapic.x2apicMode, true);
    assert.equal(g.lapic.isInService(0x40), false, 'the handler’s EOI retired it');
    const frame = new DataView(g.machine.read(g.cpu.gpr[8]!, 8).buffer);
    assert.equal(
      frame.getUint32(0, true),
      CODE + code.length - 1,
      'taken after STI’s shadow, before HLT',
    );
  });

  test('xAPIC MMIO: one-shot timer interrupt wakes HLT, EOI by MMIO write', () => {
    const g = guest(
      [
        0xbb,
        ...le32(0xfee00000), // mov ebx, APIC base
        ...storeRbx(0xf0, 0x1ff), // SVR
        0x8b,
        0x43,
        0x20, // mov eax, [rbx + 0x20]: the ID, through an MMIO read
        ...storeEax(RECORD + 4),
        ...storeRbx(0x320, 0x41), // LVT timer: one-shot, vector 0x41
        ...storeRbx(0x3e0, 0xb), // divide by 1
        ...storeRbx(0x380, 100), // initial count
        ...STI,
        ...HLT,
      ],
      0x41,
      [...storeAbs(RECORD, 0x41), ...storeRbx(0xb0, 0)],
    );
    runGuest(g);
    assert.equal(recorded(g.machine), 0x41);
    assert.equal(recorded(g.machine, 4), 3 << 24);
    assert.equal(g.clock.now, 1_000, 'the scheduler woke the vCPU at the timer deadline');
    assert.equal(g.lapic.isInService(0x41), false);
    assert.equal(g.lapic.register(0x390), 0);
  });

  test('MOV to CR8 sets TPR and masks the interrupt; TPR shows in CR8', () => {
    const g = guest(
      [
        ...movEcx(0x1b),
        ...RDMSR,
        0x0d,
        ...le32(0x400),
        ...WRMSR,
        ...movEcx(0x80f),
        ...movEax(0x1ff),
        ...XOR_EDX,
        ...WRMSR,
        ...movEax(5),
        0x44,
        0x0f,
        0x22,
        0xc0, // mov cr8, rax
        ...movEcx(0x83f),
        ...movEax(0x41),
        ...WRMSR, // self IPI of class 4, below TPR 0x50
        ...STI,
        ...HLT,
      ],
      0x41,
      [...storeAbs(RECORD, 0x41)],
    );
    runGuest(g);
    assert.equal(g.lapic.tpr, 0x50);
    assert.equal(recorded(g.machine), 0, 'masked by TPR');
    assert.equal(g.lapic.isPending(0x41), true);
    g.lapic.setTpr(0x30);
    loadCr8(g.lapic, g.cpu);
    assert.equal(g.cpu.cr8, 3);
    runGuest(g);
    assert.equal(recorded(g.machine), 0x41);
  });

  test('an unreadable x2APIC register is #GP for RDMSR', () => {
    const g = guest([...movEcx(0x80b), ...RDMSR], 0x40, []);
    g.lapic.writeApicBase(0xfee00d00, 0);
    const exit = g.cpu.run(10);
    assert.equal(exit.reason, ExitReason.Msr);
    assert.equal(handleVlapicExit(g.lapic, g.cpu, exit), 'gp');
    assert.equal(g.cpu.ripLo, CODE + 5, 'RIP still at the RDMSR');
  });
});
