/**
 * The emulator's side of the native differential tests (testing/native/): a TestMachine laid
 * out like the native runner — code, data and stack regions at LAYOUT's addresses and nothing
 * else a CPL 3 snippet can reach — runs a NativeCase at CPL 3 in 64-bit mode. The IDT sends
 * every exception to a handler that exits at once, so a fault comes back as its vector,
 * error code, CR2 and faulting RIP, the way the native runner reports a signal.
 */
import { type Cpu, Reg } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Flag, Lazy, LazyOp } from '../flags.js';
import { P2m } from '../memory.js';
import { Seg } from '../segments.js';
import { TestMachine } from './machine.js';
import { assembleMany } from './native/assemble.js';
import { LAYOUT, type NativeCase, type NativeResult, runNative } from './native/native.js';
import { GPR_NAMES } from './registers.js';

/** Kernel-only area (guest-physical = linear): IDT, exception stubs, TSS, kernel stack. */
const IDT = 0x8000;
const STUBS = 0x9000;
const STUB_SIZE = 8;
const TSS = 0xa000;
const KERNEL_STACK_TOP = 0xc000;
/** Page tables: PML4, PDPT, PD, then page tables for the low area and the three regions. */
const TABLES = 0x40000;
const VMCALL = [0x0f, 0x01, 0xc1];
const ERROR_CODE_VECTORS =
  (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17);

export interface EmulatedFault {
  vector: number;
  errorCode: number;
  /** CR2 for a page fault, else 0. */
  address: bigint;
}

export interface EmulatedResult {
  gpr: bigint[];
  /** After the snippet (LAYOUT.code + code length), or the faulting instruction. */
  rip: bigint;
  rflags: number;
  data: Uint8Array;
  stack: Uint8Array;
  fault?: EmulatedFault;
  /** Instructions retired. */
  instructions: number;
}

export function toBigint(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export class UserModeMachine {
  readonly machine = new TestMachine(1024);

  constructor() {
    const m = this.machine;
    m.map(0, 0xd000);
    m.map(TABLES, 0x7000);
    for (const region of [LAYOUT.code, LAYOUT.data, LAYOUT.stack]) m.map(region, LAYOUT.regionSize);
    const pml4 = TABLES;
    const pdpt = TABLES + 0x1000;
    const pd = TABLES + 0x2000;
    m.write32(pml4, pdpt | 7);
    m.write32(pdpt, pd | 7);
    const regions: [number, number, number][] = [
      [0, 0xd000, 3], // kernel only
      [LAYOUT.code, LAYOUT.regionSize, 7],
      [LAYOUT.data, LAYOUT.regionSize, 7],
      [LAYOUT.stack, LAYOUT.regionSize, 7],
    ];
    regions.forEach(([start, size, bits], n) => {
      const table = TABLES + 0x3000 + n * 0x1000;
      m.write32(pd + (start / 0x200000) * 8, table | 7);
      for (let page = start; page < start + size; page += 0x1000) {
        m.write32(table + ((page >>> 12) & 511) * 8, page | bits);
      }
    });
    for (let vector = 0; vector < 32; vector++) {
      const stub = STUBS + vector * STUB_SIZE;
      m.write(stub, new Uint8Array([...VMCALL, 0xf4]));
      m.write32(IDT + vector * 16, (0x08 << 16) | (stub & 0xffff));
      m.write32(IDT + vector * 16 + 4, (stub & 0xffff0000) | 0x8e00);
    }
    m.write32(TSS + 4, KERNEL_STACK_TOP); // RSP0
  }

  get cpu(): Cpu {
    return this.machine.cpu;
  }

  /** Writes a region's bytes directly, dropping decoded code from its frames. */
  private fill(gpa: number, bytes: Uint8Array): void {
    const region = new Uint8Array(LAYOUT.regionSize);
    region.set(bytes);
    this.machine.write(gpa, region);
    for (let page = gpa; page < gpa + LAYOUT.regionSize; page += 0x1000) {
      const mfn = this.machine.p2m[page >>> 12]! & P2m.FrameMask;
      this.cpu.blocks.invalidateFrame(mfn, this.cpu);
    }
  }

  /** Sets up the case: registers, flags, regions; RIP at the snippet, CPL 3. */
  load(c: NativeCase): Cpu {
    const code = new Uint8Array(c.code.length + VMCALL.length);
    code.set(c.code);
    code.set(VMCALL, c.code.length);
    this.fill(LAYOUT.code, code);
    this.fill(LAYOUT.data, c.data ?? new Uint8Array(0));
    this.fill(LAYOUT.stack, new Uint8Array(0));
    const cpu = this.machine.enterLongMode(3);
    cpu.cr3Lo = TABLES;
    cpu.cr3Hi = 0;
    cpu.flushTlb();
    cpu.idtBaseLo = IDT;
    cpu.idtBaseHi = 0;
    cpu.idtLimit = 32 * 16 - 1;
    cpu.segSel[Seg.TR] = 0x40;
    cpu.segBaseLo[Seg.TR] = TSS;
    cpu.segBaseHi[Seg.TR] = 0;
    cpu.segLimit[Seg.TR] = 0x67;
    cpu.segAttr[Seg.TR] = 0x8b;
    for (let i = 0; i < 16; i++) {
      const value = BigInt.asUintN(64, c.gpr?.[i] ?? (i === Reg.RSP ? LAYOUT.defaultRsp : 0n));
      cpu.gpr[i * 2] = Number(value & 0xffffffffn) | 0;
      cpu.gpr[i * 2 + 1] = Number(value >> 32n) | 0;
    }
    cpu.flags = ((c.rflags ?? 0) & ~Flag.IF) | Flag.Fixed;
    cpu.lazy[Lazy.Op] = LazyOp.Eager;
    cpu.ripLo = LAYOUT.code;
    cpu.ripHi = 0;
    cpu.halted = false;
    cpu.pendingException = -1;
    cpu.pendingInterrupt = -1;
    cpu.interruptShadow = false;
    return cpu;
  }

  /** Runs a case to the end of its snippet or its first exception. */
  run(c: NativeCase, budget = 50_000_000): EmulatedResult {
    const cpu = this.load(c);
    const start = cpu.instret;
    const end = LAYOUT.code + c.code.length + VMCALL.length;
    const exit = cpu.run(budget);
    if (exit.reason !== ExitReason.Hypercall) {
      throw new Error(
        `the snippet ended in exit ${exit.reason} at ${cpu.ripLo.toString(16)}: ${exit.message}`,
      );
    }
    const result: EmulatedResult = {
      gpr: [],
      rip: toBigint(cpu.ripLo, cpu.ripHi),
      rflags: cpu.readFlags(),
      data: this.machine.read(LAYOUT.data, LAYOUT.regionSize),
      stack: this.machine.read(LAYOUT.stack, LAYOUT.regionSize),
      instructions: cpu.instret - start,
    };
    for (let i = 0; i < 16; i++) result.gpr.push(toBigint(cpu.gpr[i * 2]!, cpu.gpr[i * 2 + 1]!));
    if (cpu.ripLo === end) {
      result.rip = BigInt(LAYOUT.code + c.code.length);
      return result;
    }
    const offset = cpu.ripLo - VMCALL.length - STUBS;
    if (offset < 0 || offset % STUB_SIZE !== 0 || offset >= 32 * STUB_SIZE) {
      throw new Error(`unexpected VMCALL at ${cpu.ripLo.toString(16)}`);
    }
    const vector = offset / STUB_SIZE;
    const frame = new DataView(this.machine.read(cpu.gpr[Reg.RSP * 2]!, 48).buffer);
    const hasCode = ((ERROR_CODE_VECTORS >> vector) & 1) === 1;
    const at = hasCode ? 8 : 0;
    result.fault = {
      vector,
      errorCode: hasCode ? frame.getUint32(0, true) : 0,
      address: vector === 14 ? toBigint(cpu.cr2Lo, cpu.cr2Hi) : 0n,
    };
    result.rip = frame.getBigUint64(at, true);
    result.rflags = Number(frame.getBigUint64(at + 16, true));
    result.gpr[Reg.RSP] = frame.getBigUint64(at + 24, true);
    return result;
  }
}

/** RFLAGS bits compared: IF and RF differ by construction between the two sides. */
export const COMPARED_FLAGS = 0x3f7fd5 & ~Flag.IF & ~Flag.RF;

/** Differences between a native result and the emulator's, as readable lines (none: equal). */
export function differences(native: NativeResult, emulated: EmulatedResult): string[] {
  const out: string[] = [];
  const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
  native.gpr.forEach((value, i) => {
    if (value !== emulated.gpr[i])
      out.push(`${GPR_NAMES[i]}: native ${hex(value)}, emulated ${hex(emulated.gpr[i]!)}`);
  });
  if (native.rip !== emulated.rip)
    out.push(`rip: native ${hex(native.rip)}, emulated ${hex(emulated.rip)}`);
  if ((native.rflags & COMPARED_FLAGS) !== (emulated.rflags & COMPARED_FLAGS)) {
    out.push(`rflags: native ${hex(native.rflags)}, emulated ${hex(emulated.rflags)}`);
  }
  const nativeVector = native.fault?.vector ?? -1;
  const emulatedVector = emulated.fault?.vector ?? -1;
  if (nativeVector !== emulatedVector)
    out.push(`fault vector: native ${nativeVector}, emulated ${emulatedVector}`);
  else if (native.fault && emulated.fault) {
    if (native.fault.errorCode !== emulated.fault.errorCode) {
      out.push(
        `error code: native ${hex(native.fault.errorCode)}, emulated ${hex(emulated.fault.errorCode)}`,
      );
    }
    if (nativeVector === 14 && native.fault.address !== emulated.fault.address) {
      out.push(`cr2: native ${hex(native.fault.address)}, emulated ${hex(emulated.fault.address)}`);
    }
  }
  for (const [name, a, b] of [
    ['data', native.data, emulated.data],
    ['stack', native.stack, emulated.stack],
  ] as const) {
    const first = a.findIndex((byte, k) => byte !== b[k]);
    if (first >= 0)
      out.push(`${name}+${hex(first)}: native ${hex(a[first]!)}, emulated ${hex(b[first]!)}`);
  }
  return out;
}

/** A snippet for hostDifferences: assembly (AT&T), the flags and data region it starts with. */
export interface HostCase {
  name: string;
  source: string;
  rflags?: number;
  data?: Uint8Array;
}

/**
 * Runs each snippet on this host's processor and in a UserModeMachine, and describes every
 * case whose results differ (none: all agree).
 */
export function hostDifferences(cases: HostCase[]): string[] {
  const codes = assembleMany(cases.map((c) => c.source));
  const natives: NativeCase[] = cases.map((c, i) => {
    const n: NativeCase = { code: codes[i]! };
    if (c.data) n.data = c.data;
    if (c.rflags !== undefined) n.rflags = c.rflags;
    return n;
  });
  const results = runNative(natives);
  const emulator = new UserModeMachine();
  const failures: string[] = [];
  cases.forEach((c, i) => {
    const diff = differences(results[i]!, emulator.run(natives[i]!));
    if (diff.length > 0) failures.push(`${c.name}:\n    ${diff.join('\n    ')}`);
  });
  return failures;
}
