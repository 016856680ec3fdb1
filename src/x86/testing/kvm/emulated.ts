/**
 * The emulator side of the KVM differential tests: runs a case on Xenotype's `Cpu` with the
 * same 64 MiB guest-physical memory image and the same architectural state the KVM runner
 * gives its vCPU, to the equivalent exit, and returns the same result shape.
 *
 * Exits map as: HLT → `hlt`, port I/O → `io` (an IN gets the case's readValue and completes,
 * as the runner completes it in KVM), unbacked guest-physical access → `mmio` (only the
 * access is comparable: an MMIO read is left at the instruction), triple fault → `shutdown`,
 * budget spent → `timeout`, anything else (VMCALL, an MSR or CPUID exit) → `other`.
 */
import { Cpu } from '../../cpu.js';
import { ExitReason } from '../../exit.js';
import { readFlags } from '../../flags.js';
import { readMsr, writeMsr } from '../../isa/system.js';
import { MachineMemory, SecondStage } from '../../memory.js';
import { loadPdptes } from '../../mmu.js';
import { testBlockCache } from '../machine.js';
import {
  GUEST_MEMORY_BYTES,
  type KvmCase,
  type KvmResult,
  type MachineState,
  type MsrValue,
} from './state.js';

const Cr0PG = 0x80000000;
const Cr4PAE = 0x20;
const EferLMA = 0x400;
const DEFAULT_BUDGET = 1_000_000;

/**
 * Runs the cases on the emulator, one fresh `Cpu` and fresh memory each. The memory is a
 * plain ArrayBuffer rather than the shared WebAssembly.Memory of a real machine: the OS
 * hands it out zeroed and lazily, so a 64 MiB guest costs only the pages it touches.
 */
export function runEmulated(cases: KvmCase[]): KvmResult[] {
  return cases.map((c) => runOne(c));
}

const lo32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const hi32 = (v: bigint): number => Number(BigInt.asIntN(32, v >> 32n));
const join64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

function runOne(c: KvmCase): KvmResult {
  const memory = new MachineMemory(new ArrayBuffer(GUEST_MEMORY_BYTES));
  const stage = SecondStage.identity(memory);
  for (const chunk of c.memory) {
    if (chunk.gpa < 0 || chunk.gpa + chunk.bytes.length > GUEST_MEMORY_BYTES) {
      throw new RangeError(
        `case ${c.name}: memory chunk at 0x${chunk.gpa.toString(16)} is outside guest memory`,
      );
    }
    memory.bytes.set(chunk.bytes, chunk.gpa);
  }
  const cpu = new Cpu({ secondStage: stage, blocks: testBlockCache() });
  setState(cpu, c.state);
  for (const msr of c.msrs ?? []) {
    if (!writeMsr(cpu, msr.index, lo32(msr.value), hi32(msr.value))) {
      throw new RangeError(
        `case ${c.name}: the emulator does not implement MSR 0x${msr.index.toString(16)}`,
      );
    }
  }

  const result: KvmResult = { exit: 'other', detail: '', state: c.state, msrs: [], dumps: [] };
  const exit = cpu.run(c.budget ?? DEFAULT_BUDGET);
  switch (exit.reason) {
    case ExitReason.Halt:
      result.exit = 'hlt';
      result.detail = 'HLT';
      break;
    case ExitReason.PortIo: {
      const value = exit.write ? BigInt(exit.value >>> 0) : (c.readValue ?? 0n);
      result.exit = 'io';
      result.access = { address: BigInt(exit.port), size: exit.size, write: exit.write, value };
      result.detail = `port ${exit.write ? 'write' : 'read'} 0x${exit.port.toString(16)} (size ${exit.size})`;
      if (!exit.write) {
        // IN ends its block, so running one more block completes exactly the IN.
        cpu.completeRead(lo32(value), hi32(value));
        cpu.run(1);
      }
      break;
    }
    case ExitReason.Mmio: {
      const address = join64(exit.address, exit.addressHi);
      const value = exit.write ? join64(exit.value, exit.valueHi) : (c.readValue ?? 0n);
      result.exit = 'mmio';
      result.access = { address, size: exit.size, write: exit.write, value };
      result.detail = `MMIO ${exit.write ? 'write' : 'read'} at 0x${address.toString(16)} (size ${exit.size})`;
      break;
    }
    case ExitReason.Shutdown:
      result.exit = 'shutdown';
      result.detail = exit.message || 'shutdown';
      break;
    case ExitReason.Budget:
      result.exit = 'timeout';
      result.detail = `${c.budget ?? DEFAULT_BUDGET} instructions without an exit`;
      break;
    default:
      result.exit = 'other';
      result.detail = `emulator exit reason ${exit.reason}`;
  }
  result.state = getState(cpu);
  result.msrs = (c.msrs ?? []).map((msr): MsrValue => {
    const value = readMsr(cpu, msr.index);
    return { index: msr.index, value: value ? join64(value[0], value[1]) : 0n };
  });
  result.dumps = (c.dumps ?? []).map((d) => memory.bytes.slice(d.gpa, d.gpa + d.length));
  return result;
}

function setState(cpu: Cpu, s: MachineState): void {
  s.gpr.forEach((value, i) => {
    cpu.gpr[2 * i] = lo32(value);
    cpu.gpr[2 * i + 1] = hi32(value);
  });
  cpu.ripLo = lo32(s.rip);
  cpu.ripHi = hi32(s.rip);
  cpu.flags = s.rflags | 2;
  cpu.cr0 = s.cr0 | 0;
  cpu.cr2Lo = lo32(s.cr2);
  cpu.cr2Hi = hi32(s.cr2);
  cpu.cr3Lo = lo32(s.cr3);
  cpu.cr3Hi = hi32(s.cr3);
  cpu.cr4 = s.cr4 | 0;
  cpu.cr8 = s.cr8;
  cpu.efer = s.efer | 0;
  s.segments.forEach((seg, i) => {
    cpu.segSel[i] = seg.selector;
    cpu.segBaseLo[i] = lo32(seg.base);
    cpu.segBaseHi[i] = hi32(seg.base);
    cpu.segLimit[i] = seg.limit | 0;
    cpu.segAttr[i] = seg.attr;
  });
  cpu.gdtBaseLo = lo32(s.gdt.base);
  cpu.gdtBaseHi = hi32(s.gdt.base);
  cpu.gdtLimit = s.gdt.limit;
  cpu.idtBaseLo = lo32(s.idt.base);
  cpu.idtBaseHi = hi32(s.idt.base);
  cpu.idtLimit = s.idt.limit;
  if (s.cr0 & Cr0PG && s.cr4 & Cr4PAE && !(s.efer & EferLMA)) loadPdptes(cpu);
  cpu.updateMode();
  cpu.flushTlb();
}

function getState(cpu: Cpu): MachineState {
  const gpr: bigint[] = [];
  for (let i = 0; i < 16; i++) gpr.push(join64(cpu.gpr[2 * i]!, cpu.gpr[2 * i + 1]!));
  const segments = [];
  for (let i = 0; i < 8; i++) {
    segments.push({
      selector: cpu.segSel[i]! & 0xffff,
      base: join64(cpu.segBaseLo[i]!, cpu.segBaseHi[i]!),
      limit: cpu.segLimit[i]! >>> 0,
      attr: cpu.segAttr[i]! >>> 0,
    });
  }
  return {
    gpr,
    rip: join64(cpu.ripLo, cpu.ripHi),
    rflags: readFlags(cpu) >>> 0,
    cr0: cpu.cr0 >>> 0,
    cr2: join64(cpu.cr2Lo, cpu.cr2Hi),
    cr3: join64(cpu.cr3Lo, cpu.cr3Hi),
    cr4: cpu.cr4 >>> 0,
    cr8: cpu.cr8,
    efer: cpu.efer >>> 0,
    segments,
    gdt: { base: join64(cpu.gdtBaseLo, cpu.gdtBaseHi), limit: cpu.gdtLimit & 0xffff },
    idt: { base: join64(cpu.idtBaseLo, cpu.idtBaseHi), limit: cpu.idtLimit & 0xffff },
  };
}
