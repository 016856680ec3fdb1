/**
 * Guest images for the KVM differential tests: a small long-mode "kernel" with 4-level page
 * tables, a GDT, an IDT whose handlers record what they saw, and a 64-bit TSS, so that a test
 * is a few lines of assembly plus the page-table or gate changes it is about.
 *
 * Guest-physical layout (identity-mapped: linear = physical below 64 MiB):
 *
 *   0x001000 PML4   0x002000 PDPT   0x003000 PD (first GiB)
 *   0x004000 PT0 (0-2 MiB, 4 KiB pages)   0x005000 PT1 (2-4 MiB, 4 KiB pages)
 *   0x006000-0x00ffff spare pages for tables a test builds itself (TABLES)
 *   0x010000 GDT   0x011000 IDT   0x012000 TSS
 *   0x020000 REPORT page: what the default handlers record (see REPORT_* offsets)
 *   0x037000 the initial kernel stack page (RSP = 0x38000)
 *   0x03f000 the RSP0 stack page (TSS.RSP0 = 0x40000)
 *   0x041000 IST1 stack page (0x42000)   0x043000 IST2 stack page (0x44000)
 *   0x100000 kernel code (`code`, entry point at CPL 0)
 *   0x105000 SYSCALL entry (`syscall`, LSTAR)
 *   0x106000 32-bit code (`code32`, label `compat_entry`)
 *   0x107000 the common handler, then custom handlers
 *   0x108000 256 handler slots of 64 bytes (IDT vector v → 0x108000 + 64 v)
 *   0x10c000 user code (`user`, label `user_entry`; U pages)
 *   0x200000 user stack page (U; RSP 0x201000 at CPL 3)   0x202000 user data page (U)
 *   0x300000 four kernel data pages (DATA)
 *   0x400000-0x3ffffff 2 MiB pages, supervisor
 *
 * Page 0 is not present. Every table entry starts with A and D clear.
 *
 * GDT: 0x08 32-bit kernel code, 0x10 kernel code, 0x18 kernel data, 0x23 32-bit user code,
 * 0x2b user data, 0x33 user code (the SYSCALL/SYSRET layout: STAR = 0x0023_0010 << 32),
 * 0x38 a kernel data segment that is not present, 0x40 the TSS (busy). Limit 0x4f.
 *
 * The default handler for vector v pushes a dummy error code if the CPU pushed none, then v,
 * and jumps to the common handler, which records vector, error code, CR2, the frame's address
 * and its five words (RIP CS RFLAGS RSP SS) in the REPORT page, counts, and halts.
 */
import { assembleMany } from '../native/assemble.js';
import { GPR_NAMES } from '../registers.js';
import {
  emptyState,
  type KvmCase,
  type MachineState,
  type MemoryChunk,
  type MemoryRange,
  type MsrValue,
} from './state.js';

export const IMAGE = {
  pml4: 0x1000,
  pdpt: 0x2000,
  pd: 0x3000,
  pt0: 0x4000,
  pt1: 0x5000,
  tables: 0x6000,
  gdt: 0x10000,
  idt: 0x11000,
  tss: 0x12000,
  report: 0x20000,
  kernelStackTop: 0x38000,
  rsp0: 0x40000,
  ist1: 0x42000,
  ist2: 0x44000,
  code: 0x100000,
  syscall: 0x105000,
  code32: 0x106000,
  common: 0x107000,
  slots: 0x108000,
  userCode: 0x10c000,
  userStackTop: 0x201000,
  userData: 0x202000,
  data: 0x300000,
} as const;

export const SELECTOR = {
  kernelCode32: 0x08,
  kernelCode: 0x10,
  kernelData: 0x18,
  userCode32: 0x23,
  userData: 0x2b,
  userCode: 0x33,
  notPresentData: 0x38,
  tss: 0x40,
} as const;

/** Offsets in the REPORT page written by the common handler. */
export const REPORT = {
  vector: 0x00,
  errorCode: 0x08,
  cr2: 0x10,
  frameAddress: 0x18,
  rip: 0x20,
  cs: 0x28,
  rflags: 0x30,
  rsp: 0x38,
  ss: 0x40,
  count: 0x48,
  /** Free for the test's own records. */
  free: 0x100,
} as const;

export const MSR = {
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SFMASK: 0xc0000084,
  KERNEL_GS_BASE: 0xc0000102,
} as const;

/** Page-table entry bits. */
export const PTE = {
  P: 1n,
  W: 2n,
  U: 4n,
  PWT: 8n,
  PCD: 0x10n,
  A: 0x20n,
  D: 0x40n,
  PS: 0x80n,
  G: 0x100n,
  NX: 1n << 63n,
} as const;

export const CR0 = { PE: 1, MP: 2, ET: 0x10, NE: 0x20, WP: 0x10000, PG: 0x80000000 } as const;
export const CR4 = { PSE: 0x10, PAE: 0x20, PGE: 0x80, OSFXSR: 0x200, OSXMMEXCPT: 0x400 } as const;
export const EFER = { SCE: 1, LME: 0x100, LMA: 0x400, NXE: 0x800 } as const;

/** Vectors whose exceptions push an error code. */
const ERROR_CODE_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17, 21]);

export interface Gate {
  /** 'interrupt' clears IF, 'trap' keeps it (default 'interrupt'). */
  type?: 'interrupt' | 'trap';
  dpl?: number;
  ist?: number;
  present?: boolean;
  selector?: number;
  /** Handler address (default: the vector's slot). */
  offset?: bigint;
}

export interface LongModeImageOptions {
  /** Kernel code, AT&T syntax, 64-bit, at IMAGE.code: the entry point at CPL 0 (default `hlt`). */
  code?: string;
  /** User code at IMAGE.userCode (label `user_entry`); the entry point when `cpl` is 3. */
  user?: string;
  /** 32-bit code at IMAGE.code32 (label `compat_entry`). */
  code32?: string;
  /** The SYSCALL entry at IMAGE.syscall (LSTAR). Default: `hlt`. */
  syscall?: string;
  /** Handlers replacing the default recording one, by vector (64-bit, entered from the slot). */
  handlers?: Record<number, string>;
  /** Gate overrides by vector. */
  gates?: Record<number, Gate>;
  /** Start at CPL 3 at `user_entry` with RSP = IMAGE.userStackTop (default 0). */
  cpl?: 0 | 3;
  /** Initial register values by name (rax … r15); RSP defaults to the stack of the CPL. */
  gpr?: Partial<Record<string, bigint>>;
  rflags?: number;
  cr0?: number;
  cr4?: number;
  efer?: number;
  /**
   * 4 KiB page-table entries by linear address (below 4 MiB) replacing the identity
   * mapping; 0n makes the page not present.
   */
  pte?: Record<number, bigint>;
  /** Page-directory entries (first GiB) by linear address; replaces a PT pointer or 2 MiB page. */
  pde?: Record<number, bigint>;
  /** PDPT entries by index (each maps 1 GiB). */
  pdpte?: Record<number, bigint>;
  /** PML4 entries by index. */
  pml4e?: Record<number, bigint>;
  /** Extra memory (tables the test builds, data …), written after the image. */
  memory?: MemoryChunk[];
  /** MSR overrides (STAR, LSTAR, CSTAR, SFMASK and KERNEL_GS_BASE are always set). */
  msrs?: MsrValue[];
  /** Extra dumps after the default ones (see DEFAULT_DUMPS). */
  dumps?: MemoryRange[];
  /** Replace the state after the image built it. */
  state?: (state: MachineState) => void;
  timeoutMs?: number;
  budget?: number;
}

/** What every long-mode case dumps, in this order. */
export const DEFAULT_DUMPS: readonly (MemoryRange & { name: string })[] = [
  { name: 'report', gpa: IMAGE.report, length: 0x1000 },
  { name: 'kernel stack', gpa: IMAGE.kernelStackTop - 0x1000, length: 0x1000 },
  { name: 'rsp0 stack', gpa: IMAGE.rsp0 - 0x1000, length: 0x1000 },
  { name: 'ist1 stack', gpa: IMAGE.ist1 - 0x1000, length: 0x1000 },
  { name: 'ist2 stack', gpa: IMAGE.ist2 - 0x1000, length: 0x1000 },
  { name: 'user stack', gpa: IMAGE.userStackTop - 0x1000, length: 0x1000 },
  { name: 'user data', gpa: IMAGE.userData, length: 0x1000 },
  { name: 'data', gpa: IMAGE.data, length: 0x4000 },
];

/** Page-table pages, for tests of accessed and dirty bits. */
export const TABLE_DUMPS: readonly (MemoryRange & { name: string })[] = [
  { name: 'PML4', gpa: IMAGE.pml4, length: 0x1000 },
  { name: 'PDPT', gpa: IMAGE.pdpt, length: 0x1000 },
  { name: 'PD', gpa: IMAGE.pd, length: 0x1000 },
  { name: 'PT0', gpa: IMAGE.pt0, length: 0x1000 },
  { name: 'PT1', gpa: IMAGE.pt1, length: 0x1000 },
];

/** Pages with U=1 in the default image. */
const USER_PAGES = [
  [IMAGE.userCode, 0x110000],
  [IMAGE.userStackTop - 0x1000, IMAGE.userData + 0x1000],
] as const;

const GDT: readonly bigint[] = [
  0n,
  0x00cf9b000000ffffn, // 0x08 32-bit kernel code
  0x00af9b000000ffffn, // 0x10 kernel code
  0x00cf93000000ffffn, // 0x18 kernel data
  0x00cffb000000ffffn, // 0x20 32-bit user code
  0x00cff3000000ffffn, // 0x28 user data
  0x00affb000000ffffn, // 0x30 user code
  0x00cf13000000ffffn, // 0x38 kernel data, not present
  // 0x40 the TSS: base IMAGE.tss, limit 0x67, busy 64-bit TSS (type 0xb), present
  0x67n |
    (BigInt(IMAGE.tss & 0xffffff) << 16n) |
    (0x8bn << 40n) |
    (BigInt(IMAGE.tss >>> 24) << 56n),
  0n,
];

/** Builds one long-mode case (assembles with one `as` run; prefer longModeImages for many). */
export function longModeImage(name: string, options: LongModeImageOptions): KvmCase {
  return longModeImages([[name, options]])[0]!;
}

/** Builds many long-mode cases, assembling them all with one `as` and `ld` run. */
export function longModeImages(list: [string, LongModeImageOptions][]): KvmCase[] {
  const images = assembleMany(
    list.map(([, options]) => kernelSource(options)),
    64,
    { origin: IMAGE.code },
  );
  return list.map(([name, options], i) => buildCase(name, options, images[i]!));
}

const SYMBOLS = [
  ...Object.entries(IMAGE).map(([k, v]) => `.set IMAGE_${k}, 0x${v.toString(16)}`),
  ...Object.entries(SELECTOR).map(([k, v]) => `.set SEL_${k}, 0x${v.toString(16)}`),
  ...Object.entries(REPORT).map(
    ([k, v]) => `.set REPORT_${k}, 0x${(IMAGE.report + v).toString(16)}`,
  ),
].join('\n');

/** The whole kernel region (0x100000-0x10ffff) as one snippet, pieces placed with .org. */
function kernelSource(o: LongModeImageOptions): string {
  const at = (address: number) => `.org 0x${(address - IMAGE.code).toString(16)}`;
  const lines = [SYMBOLS, o.code ?? 'hlt', at(IMAGE.syscall), o.syscall ?? 'hlt'];
  lines.push(at(IMAGE.code32), '.code32', 'compat_entry:', o.code32 ?? 'hlt', '.code64');
  lines.push(at(IMAGE.common), COMMON_HANDLER);
  for (const [vector, source] of Object.entries(o.handlers ?? {})) {
    lines.push(`custom_handler_${vector}:`, source);
  }
  for (let v = 0; v < 256; v++) {
    lines.push(at(IMAGE.slots + v * 64));
    if (o.handlers?.[v] !== undefined) {
      lines.push(`jmp custom_handler_${v}`);
    } else {
      if (!ERROR_CODE_VECTORS.has(v)) lines.push('pushq $-1');
      lines.push(`pushq $${v}`, 'jmp common_handler');
    }
  }
  lines.push(at(IMAGE.userCode), 'user_entry:', o.user ?? 'ud2');
  return lines.join('\n');
}

const COMMON_HANDLER = `
common_handler:
  push %rax
  mov 8(%rsp), %rax
  mov %rax, REPORT_vector
  mov 16(%rsp), %rax
  mov %rax, REPORT_errorCode
  mov %cr2, %rax
  mov %rax, REPORT_cr2
  lea 24(%rsp), %rax
  mov %rax, REPORT_frameAddress
  mov 24(%rsp), %rax
  mov %rax, REPORT_rip
  mov 32(%rsp), %rax
  mov %rax, REPORT_cs
  mov 40(%rsp), %rax
  mov %rax, REPORT_rflags
  mov 48(%rsp), %rax
  mov %rax, REPORT_rsp
  mov 56(%rsp), %rax
  mov %rax, REPORT_ss
  incq REPORT_count
  pop %rax
  hlt
`;

/** The low 4 MiB of the guest (everything but the big pages), noting which pages were written. */
class Image {
  readonly bytes = new Uint8Array(0x400000);
  private readonly view = new DataView(this.bytes.buffer);
  private readonly written = new Set<number>();

  u64(address: number, value: bigint): void {
    this.view.setBigUint64(address, BigInt.asUintN(64, value), true);
    this.written.add(address >>> 12);
  }

  u16(address: number, value: number): void {
    this.view.setUint16(address, value, true);
    this.written.add(address >>> 12);
  }

  set(address: number, data: Uint8Array): void {
    this.bytes.set(data, address);
    for (let page = address >>> 12; page <= (address + data.length - 1) >>> 12; page++)
      this.written.add(page);
  }

  /** The written pages as runs of contiguous pages. */
  chunks(): MemoryChunk[] {
    const pages = [...this.written].sort((a, b) => a - b);
    const chunks: MemoryChunk[] = [];
    for (let i = 0; i < pages.length; ) {
      let j = i;
      while (j + 1 < pages.length && pages[j + 1] === pages[j]! + 1) j++;
      chunks.push({
        gpa: pages[i]! * 0x1000,
        bytes: this.bytes.subarray(pages[i]! * 0x1000, (pages[j]! + 1) * 0x1000),
      });
      i = j + 1;
    }
    return chunks;
  }
}

function buildCase(name: string, o: LongModeImageOptions, kernel: Uint8Array): KvmCase {
  const image = new Image();
  // Paging: PML4[0] → PDPT[0] → PD; PD[0], PD[1] → PT0, PT1; PD[2..31] → 2 MiB pages.
  image.u64(IMAGE.pml4, BigInt(IMAGE.pdpt) | 7n);
  image.u64(IMAGE.pdpt, BigInt(IMAGE.pd) | 7n);
  image.u64(IMAGE.pd, BigInt(IMAGE.pt0) | 7n);
  image.u64(IMAGE.pd + 8, BigInt(IMAGE.pt1) | 7n);
  for (let i = 2; i < 32; i++) image.u64(IMAGE.pd + i * 8, BigInt(i * 0x200000) | PTE.PS | 3n);
  for (let page = 0x1000; page < 0x400000; page += 0x1000) {
    const user = USER_PAGES.some(([from, to]) => page >= from && page < to);
    image.u64(IMAGE.pt0 + (page >>> 12) * 8, BigInt(page) | 3n | (user ? PTE.U : 0n));
  }
  for (const [address, entry] of Object.entries(o.pte ?? {})) {
    const linear = Number(address);
    if (linear < 0 || linear >= 0x400000)
      throw new RangeError(`${name}: pte at ${linear} is not below 4 MiB`);
    image.u64(IMAGE.pt0 + Math.floor(linear / 0x1000) * 8, entry);
  }
  for (const [address, entry] of Object.entries(o.pde ?? {})) {
    image.u64(IMAGE.pd + Math.floor(Number(address) / 0x200000) * 8, entry);
  }
  for (const [index, entry] of Object.entries(o.pdpte ?? {}))
    image.u64(IMAGE.pdpt + Number(index) * 8, entry);
  for (const [index, entry] of Object.entries(o.pml4e ?? {}))
    image.u64(IMAGE.pml4 + Number(index) * 8, entry);

  GDT.forEach((entry, i) => {
    image.u64(IMAGE.gdt + i * 8, entry);
  });
  for (let v = 0; v < 256; v++) {
    const gate = o.gates?.[v] ?? {};
    const offset = gate.offset ?? BigInt(IMAGE.slots + v * 64);
    const type = gate.type === 'trap' ? 0xf : 0xe;
    const access = ((gate.present ?? true) ? 0x80 : 0) | ((gate.dpl ?? 0) << 5) | type;
    const selector = gate.selector ?? SELECTOR.kernelCode;
    const low =
      (offset & 0xffffn) |
      (BigInt(selector) << 16n) |
      (BigInt(gate.ist ?? 0) << 32n) |
      (BigInt(access) << 40n) |
      (((offset >> 16n) & 0xffffn) << 48n);
    image.u64(IMAGE.idt + v * 16, low);
    image.u64(IMAGE.idt + v * 16 + 8, (offset >> 32n) & 0xffffffffn);
  }
  image.u64(IMAGE.tss + 4, BigInt(IMAGE.rsp0));
  image.u64(IMAGE.tss + 36, BigInt(IMAGE.ist1));
  image.u64(IMAGE.tss + 44, BigInt(IMAGE.ist2));
  image.u16(IMAGE.tss + 102, 0x68); // no I/O bitmap
  image.set(IMAGE.code, kernel);

  const cpl = o.cpl ?? 0;
  const state = emptyState();
  const flat = (selector: number, attr: number) => ({
    selector,
    base: 0n,
    limit: 0xffffffff,
    attr,
  });
  const data = cpl === 0 ? flat(SELECTOR.kernelData, 0xc093) : flat(SELECTOR.userData, 0xc0f3);
  state.segments = [
    data,
    cpl === 0 ? flat(SELECTOR.kernelCode, 0xa09b) : flat(SELECTOR.userCode, 0xa0fb),
    data,
    data,
    data,
    data,
    { selector: 0, base: 0n, limit: 0, attr: 1 << 16 },
    { selector: SELECTOR.tss, base: BigInt(IMAGE.tss), limit: 0x67, attr: 0x8b },
  ];
  state.gdt = { base: BigInt(IMAGE.gdt), limit: GDT.length * 8 - 1 };
  state.idt = { base: BigInt(IMAGE.idt), limit: 0xfff };
  state.cr0 = o.cr0 ?? (CR0.PG | CR0.WP | CR0.NE | CR0.ET | CR0.MP | CR0.PE) >>> 0;
  state.cr3 = BigInt(IMAGE.pml4);
  state.cr4 = o.cr4 ?? CR4.PAE | CR4.PGE | CR4.OSFXSR | CR4.OSXMMEXCPT;
  state.efer = o.efer ?? EFER.LME | EFER.LMA | EFER.NXE | EFER.SCE;
  state.rip = BigInt(cpl === 0 ? IMAGE.code : IMAGE.userCode);
  state.rflags = o.rflags ?? 2;
  state.gpr[4] = BigInt(cpl === 0 ? IMAGE.kernelStackTop : IMAGE.userStackTop);
  for (const [register, value] of Object.entries(o.gpr ?? {})) {
    const index = GPR_INDEX.get(register);
    if (index === undefined) throw new RangeError(`${name}: no register ${register}`);
    if (value !== undefined) state.gpr[index] = value;
  }
  o.state?.(state);

  const msrs: MsrValue[] = [
    { index: MSR.STAR, value: 0x0023001000000000n },
    { index: MSR.LSTAR, value: BigInt(IMAGE.syscall) },
    { index: MSR.CSTAR, value: 0n },
    { index: MSR.SFMASK, value: 0x47700n }, // TF DF IF IOPL NT AC, as Linux
    { index: MSR.KERNEL_GS_BASE, value: 0n },
  ];
  for (const msr of o.msrs ?? []) {
    const existing = msrs.find((m) => m.index === msr.index);
    if (existing) existing.value = msr.value;
    else msrs.push({ ...msr });
  }
  const c: KvmCase = {
    name,
    memory: [...image.chunks(), ...(o.memory ?? [])],
    state,
    msrs,
    dumps: [...DEFAULT_DUMPS.map(({ gpa, length }) => ({ gpa, length })), ...(o.dumps ?? [])],
  };
  if (o.timeoutMs !== undefined) c.timeoutMs = o.timeoutMs;
  if (o.budget !== undefined) c.budget = o.budget;
  return c;
}

const GPR_INDEX = new Map<string, number>(GPR_NAMES.map((n, i) => [n, i] as const));

/** A little-endian u64 from a dump. */
export function readU64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, true);
}
