/**
 * A bare machine for CPU tests: sparse guest-physical memory, identity-mapped 4-level page
 * tables over the low 4 GiB, a flat GDT, and a vCPU already in 64-bit mode (or any other
 * state a test sets up itself).
 */
import { BlockCache, type BlockCacheOptions } from '../block.js';
import { Cpu, Cr0, Cr4, Efer } from '../cpu.js';
import { Flag } from '../flags.js';
import { MachineMemory, P2m, SecondStage } from '../memory.js';
import { Seg } from '../segments.js';

const PML4 = 0x1000;
const PDPT = 0x2000;
const PD = 0x3000; // four page directories: 0x3000-0x6fff
export const GDT = 0x7000;
/** Where 4 KiB page tables go when a test asks for small pages (guest-physical). */
export const SMALL_PAGE_TABLES = 0xc0000000;
export const CODE64_SELECTOR = 0x08;
export const DATA_SELECTOR = 0x10;
export const USER_CODE64_SELECTOR = 0x1b;
export const USER_DATA_SELECTOR = 0x23;
export const CODE32_SELECTOR = 0x28;

/** GDT entries: null, code64, data, user code64, user data, code32. */
const GDT_ENTRIES: readonly [number, number][] = [
  [0, 0],
  [0x0000ffff, 0x00af9b00],
  [0x0000ffff, 0x00cf9300],
  [0x0000ffff, 0x00affb00],
  [0x0000ffff, 0x00cff300],
  [0x0000ffff, 0x00cf9b00],
];

/**
 * XENOTYPE_JIT_THRESHOLD=1 runs every block compiled from its first execution, so the
 * differential suites check the compiled tier as well as the interpreter.
 */
export function testBlockCache(
  compileThreshold?: number,
  options: BlockCacheOptions = {},
): BlockCache {
  const threshold = compileThreshold ?? process.env.XENOTYPE_JIT_THRESHOLD;
  return new BlockCache(threshold ? { ...options, compileThreshold: Number(threshold) } : options);
}

export class TestMachine {
  readonly memory: MachineMemory;
  readonly p2m: Int32Array;
  readonly cpu: Cpu;
  private nextFrame = 0;

  /**
   * `frames`: machine frames available; guest-physical space spans 4 GiB.
   * `compileThreshold`: executions before a block is compiled (by default as the
   * environment says). `cache`: the block cache's other options.
   */
  constructor(frames = 4096, compileThreshold?: number, cache: BlockCacheOptions = {}) {
    this.memory = MachineMemory.allocate(frames * 4096);
    this.p2m = new Int32Array(1 << 20).fill(P2m.None);
    this.cpu = new Cpu({
      secondStage: new SecondStage(this.memory, this.p2m),
      blocks: testBlockCache(compileThreshold, cache),
    });
    this.map(0, 0x8000); // page tables and GDT
  }

  /** Backs [gpa, gpa + bytes) with fresh zeroed machine frames. */
  map(gpa: number, bytes: number): void {
    for (let gfn = Math.floor(gpa / 4096); gfn < Math.ceil((gpa + bytes) / 4096); gfn++) {
      if (this.p2m[gfn]! >= 0) continue;
      if (this.nextFrame >= this.memory.frames) throw new Error('test machine out of memory');
      this.p2m[gfn] = this.nextFrame++;
    }
  }

  private machineAddress(gpa: number): number {
    const entry = this.p2m[Math.floor(gpa / 4096)]!;
    if (entry < 0) throw new Error(`guest-physical ${gpa.toString(16)} is not mapped`);
    return (entry & P2m.FrameMask) * 4096 + (gpa % 4096);
  }

  write(gpa: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++)
      this.memory.bytes[this.machineAddress(gpa + i)] = data[i]!;
  }

  read(gpa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.memory.bytes[this.machineAddress(gpa + i)]!;
    return out;
  }

  write32(gpa: number, value: number): void {
    this.memory.view.setInt32(this.machineAddress(gpa), value, true);
  }

  /**
   * Puts the vCPU in 64-bit mode at CPL `cpl` with identity paging of the low 4 GiB: 2 MiB
   * pages, or 4 KiB pages below `smallPagesBelow` (page tables placed from SMALL_PAGE_TABLES).
   */
  enterLongMode(cpl: 0 | 3 = 0, smallPagesBelow = 0): Cpu {
    const user = 4;
    this.write32(PML4, PDPT | 7);
    for (let i = 0; i < 4; i++) {
      this.write32(PDPT + i * 8, (PD + i * 0x1000) | 7);
      for (let j = 0; j < 512; j++) {
        const address = i * 0x40000000 + j * 0x200000;
        let entry = address | 0x83 | user | 0;
        if (address < smallPagesBelow) {
          const table = SMALL_PAGE_TABLES + (address / 0x200000) * 0x1000;
          this.map(table, 0x1000);
          for (let k = 0; k < 512; k++)
            this.write32(table + k * 8, (address + k * 0x1000) | 3 | user);
          entry = table | 3 | user;
        }
        this.memory.view.setInt32(this.machineAddress(PD + i * 0x1000 + j * 8), entry, true);
      }
    }
    GDT_ENTRIES.forEach(([lo, hi], index) => {
      this.write32(GDT + index * 8, lo);
      this.write32(GDT + index * 8 + 4, hi);
    });
    const cpu = this.cpu;
    cpu.gdtBaseLo = GDT;
    cpu.gdtLimit = GDT_ENTRIES.length * 8 - 1;
    cpu.cr3Lo = PML4;
    cpu.cr4 = Cr4.PAE | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.PGE;
    cpu.efer = Efer.LME | Efer.LMA | Efer.NXE | Efer.SCE;
    cpu.cr0 = Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.PG;
    const code = cpl === 0 ? CODE64_SELECTOR : USER_CODE64_SELECTOR;
    const data = cpl === 0 ? DATA_SELECTOR : USER_DATA_SELECTOR;
    const dpl = cpl << 5;
    for (const seg of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) {
      cpu.segSel[seg] = data;
      cpu.segBaseLo[seg] = 0;
      cpu.segBaseHi[seg] = 0;
      cpu.segLimit[seg] = -1;
      cpu.segAttr[seg] = 0xc093 | dpl;
    }
    cpu.segSel[Seg.CS] = code;
    cpu.segBaseLo[Seg.CS] = 0;
    cpu.segLimit[Seg.CS] = -1;
    cpu.segAttr[Seg.CS] = 0xa09b | dpl;
    cpu.flags = Flag.Fixed;
    cpu.updateMode();
    cpu.flushTlb();
    return cpu;
  }
}
