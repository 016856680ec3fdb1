/**
 * Runs a static x86-64 Linux program (no libc calls, ends with the exit system call) on a
 * TestMachine: its PT_LOAD segments are loaded at their addresses, SYSCALL leads to a VMCALL
 * so the program's exit comes back as a Hypercall exit with RAX = 60.
 */
import { PT_LOAD, parseElf } from '../../images/elf/index.js';
import { Reg } from '../cpu.js';
import { type ExitInfo, ExitReason } from '../exit.js';
import type { TestMachine } from './machine.js';

const STACK_TOP = 0xb0000000;
const SYSCALL_PAGE = 0xb0100000;
const MSR_LSTAR = 0xc0000082;

export interface ProgramRun {
  exit: ExitInfo;
  instructions: number;
  seconds: number;
}

export function loadProgram(machine: TestMachine, elfBytes: Uint8Array, smallPagesBelow = 0): void {
  const elf = parseElf(elfBytes);
  for (const segment of elf.segments) {
    if (segment.type !== PT_LOAD) continue;
    const address = Number(segment.paddr);
    machine.map(address, segment.memsz);
    machine.write(address, elfBytes.subarray(segment.offset, segment.offset + segment.filesz));
  }
  machine.map(STACK_TOP - 0x10000, 0x10000);
  machine.map(SYSCALL_PAGE, 0x1000);
  machine.write(SYSCALL_PAGE, new Uint8Array([0x0f, 0x01, 0xc1])); // vmcall
  const cpu = machine.enterLongMode(0, smallPagesBelow);
  cpu.msrs.set(MSR_LSTAR, [SYSCALL_PAGE, 0]);
  cpu.gpr[Reg.RSP * 2] = STACK_TOP - 8;
  cpu.ripLo = Number(elf.entry);
  cpu.ripHi = 0;
}

/** Runs until the program's exit system call (or another exit than the budget). */
export function runProgram(machine: TestMachine): ProgramRun {
  const cpu = machine.cpu;
  const start = process.hrtime.bigint();
  const before = cpu.instret;
  let exit = cpu.run(50_000_000);
  while (exit.reason === ExitReason.Budget) exit = cpu.run(50_000_000);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { exit, instructions: cpu.instret - before, seconds };
}
