/**
 * Machines for the emulator-only tests of system instructions (far transfers, IRET, SYSCALL,
 * segment and descriptor-table loads): 32-bit protected mode with a GDT, a TSS and IDT stubs,
 * and 64-bit long mode with IDT stubs. A snippet runs to its closing VMCALL, or to the VMCALL
 * of the stub of the exception it raised.
 */
import assert from 'node:assert/strict';
import { type Cpu, Cr0, Reg } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Seg } from '../segments.js';
import { TestMachine } from './machine.js';
import { assemble } from './native/assemble.js';

export const CODE = 0x10000;
export const GDT = 0x7000;
export const IDT = 0x8000;
export const STUBS = 0x9000;
export const TSS = 0x6000;
export const ESP0 = 0x9f000;

/** The low 32 bits of register `n`, unsigned. */
export const reg = (cpu: Cpu, n: number): number => cpu.gpr[n * 2]! >>> 0;

/** GDT for the protected-mode tests, by selector. */
export const DESCRIPTORS: [number, number, number][] = [
  [0x08, 0x0000ffff, 0x00cf9b00], // code32 DPL 0
  [0x10, 0x0000ffff, 0x00cf9300], // data DPL 0
  [0x18, 0x0000ffff, 0x00cffb00], // code32 DPL 3
  [0x20, 0x0000ffff, 0x00cff300], // data DPL 3
  [0x28, (TSS << 16) | 0x67, 0x00008900], // 32-bit TSS
  [0x30, 0x0000ffff, 0x00009b00], // code16 DPL 0, base 0, 64 KiB
  [0x38, 0x0000ffff, 0x00cf1b00], // code32, not present
  [0x40, 0x0000ffff, 0x00cf9f00], // conforming code32 DPL 0
  [0x50, 0x0000ffff, 0x00cf9100], // data DPL 0, read-only
  [0x58, 0x0000ffff, 0x00cf1300], // data, not present
];

/**
 * A machine in 32-bit protected mode at CPL 0, flat segments, a TSS whose ring-0 stack is
 * ESP0, and an IDT sending vector v to a stub at STUBS + 8v (VMCALL; IRET); `source` runs at
 * CODE.
 */
export function protectedMode(source: string): { machine: TestMachine; cpu: Cpu } {
  const machine = new TestMachine();
  machine.map(0, 0x100000);
  machine.write(CODE, assemble(`${source}\nvmcall`, 32, { origin: CODE }));
  for (const [selector, lo, hi] of DESCRIPTORS) {
    machine.write32(GDT + selector, lo);
    machine.write32(GDT + selector + 4, hi);
  }
  machine.write32(TSS + 4, ESP0);
  machine.write32(TSS + 8, 0x10);
  machine.write32(TSS + 0x64, 0x68 << 16); // no I/O bitmap
  for (let vector = 0; vector < 256; vector++) {
    const stub = STUBS + vector * 8;
    machine.write(stub, new Uint8Array([0x0f, 0x01, 0xc1, 0xcf]));
    machine.write32(IDT + vector * 8, (0x08 << 16) | (stub & 0xffff));
    machine.write32(
      IDT + vector * 8 + 4,
      (stub & 0xffff0000) | (vector === 0x80 || vector === 0x30 ? 0xee00 : 0x8e00),
    );
  }
  const cpu = machine.cpu;
  cpu.reset();
  cpu.cr0 |= Cr0.PE;
  cpu.gdtBaseLo = GDT;
  cpu.gdtLimit = 0x5f;
  cpu.idtBaseLo = IDT;
  cpu.idtLimit = 0x7ff;
  const flat = (seg: Seg, selector: number, attr: number): void => {
    cpu.segSel[seg] = selector;
    cpu.segBaseLo[seg] = 0;
    cpu.segLimit[seg] = -1;
    cpu.segAttr[seg] = attr;
  };
  flat(Seg.CS, 0x08, 0xc09b);
  for (const seg of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) flat(seg, 0x10, 0xc093);
  cpu.segSel[Seg.TR] = 0x28;
  cpu.segBaseLo[Seg.TR] = TSS;
  cpu.segLimit[Seg.TR] = 0x67;
  cpu.segAttr[Seg.TR] = 0x8b;
  cpu.updateMode();
  cpu.gpr[Reg.RSP * 2] = 0x80000;
  cpu.ripLo = CODE;
  return { machine, cpu };
}

/** Runs to the next VMCALL; returns the vector whose stub it is, or -1 for the test's own. */
export function next(cpu: Cpu): number {
  const exit = cpu.run(100_000);
  assert.equal(
    exit.reason,
    ExitReason.Hypercall,
    `exit ${exit.reason} at ${cpu.ripLo.toString(16)}: ${exit.message}`,
  );
  const at = cpu.ripLo - 3 - STUBS;
  return at >= 0 && at < 256 * 8 && at % 8 === 0 ? at / 8 : -1;
}

/** `count` little-endian dwords of guest memory at `address`. */
export function dwords(machine: TestMachine, address: number, count: number): number[] {
  const view = new DataView(machine.read(address, count * 4).buffer);
  return Array.from({ length: count }, (_, i) => view.getUint32(i * 4, true));
}

export const CODE64 = 0x100000;

/**
 * A machine in 64-bit mode at CPL 0 with an IDT sending vectors 0-31 to stubs at STUBS + 8v
 * (VMCALL; HLT); `source` runs at CODE64.
 */
export function longMode(source: string): { machine: TestMachine; cpu: Cpu } {
  const machine = new TestMachine();
  machine.map(CODE64, 0x10000);
  machine.map(0x8000, 0x8000);
  machine.write(CODE64, assemble(`${source}\n vmcall`, 64, { origin: CODE64 }));
  for (let vector = 0; vector < 32; vector++) {
    const stub = STUBS + vector * 8;
    machine.write(stub, new Uint8Array([0x0f, 0x01, 0xc1, 0xf4]));
    machine.write32(IDT + vector * 16, (0x08 << 16) | (stub & 0xffff));
    machine.write32(IDT + vector * 16 + 4, 0x8e00);
  }
  const cpu = machine.enterLongMode();
  cpu.idtBaseLo = IDT;
  cpu.idtLimit = 32 * 16 - 1;
  cpu.gpr[Reg.RSP * 2] = CODE64 + 0xf000;
  cpu.ripLo = CODE64;
  return { machine, cpu };
}
