/**
 * One virtual CPU: architectural state and the `run(budget)` loop of the exit contract.
 * Decoding is in decoder.ts, instruction semantics in isa/, paging in mmu.ts, exception
 * delivery in exceptions.ts. The CPU knows nothing of Xen.
 */
import './v8-tuning.js';
import { type Block, BlockCache } from './block.js';
import { deliverException, deliverInterrupt } from './exceptions.js';
import { ExitInfo, ExitReason } from './exit.js';
import { Fault, Restart } from './fault.js';
import { Flag, Lazy, LazyOp, readFlags } from './flags.js';
import { FpuState } from './fpu/state.js';
import { handlerAt, INSN_WORDS, type Insn, InsnCursor, offsetAt } from './insn.js';
import type { SecondStage } from './memory.js';
import { flushTlb, TLB_SIZE, TLB_SLOT_INTS } from './mmu.js';
import { type CpuPolicy, defaultPolicy } from './policy.js';
import { Seg } from './segments.js';

export const enum Reg {
  RAX = 0,
  RCX = 1,
  RDX = 2,
  RBX = 3,
  RSP = 4,
  RBP = 5,
  RSI = 6,
  RDI = 7,
  R8 = 8,
}

export const enum Cr0 {
  PE = 1 << 0,
  MP = 1 << 1,
  EM = 1 << 2,
  TS = 1 << 3,
  ET = 1 << 4,
  NE = 1 << 5,
  WP = 1 << 16,
  AM = 1 << 18,
  NW = 1 << 29,
  CD = 1 << 30,
  PG = 1 << 31,
}

export const enum Cr4 {
  VME = 1 << 0,
  PVI = 1 << 1,
  TSD = 1 << 2,
  DE = 1 << 3,
  PSE = 1 << 4,
  PAE = 1 << 5,
  MCE = 1 << 6,
  PGE = 1 << 7,
  PCE = 1 << 8,
  OSFXSR = 1 << 9,
  OSXMMEXCPT = 1 << 10,
  UMIP = 1 << 11,
  FSGSBASE = 1 << 16,
  PCIDE = 1 << 17,
  OSXSAVE = 1 << 18,
  SMEP = 1 << 20,
  SMAP = 1 << 21,
}

export const enum Efer {
  SCE = 1 << 0,
  LME = 1 << 8,
  LMA = 1 << 10,
  NXE = 1 << 11,
}

/**
 * PAUSE-loop exiting: the most instructions between two PAUSEs of one spin loop, and how many
 * instructions the loop may spin before it exits (VMX's PLE_Gap and PLE_Window, which count
 * cycles). A Debian boot spent 1-2% of its instructions spinning on locks and seqcounts
 * whose holder was not running; windows of 256 and 1024 did equally well.
 */
export const PAUSE_LOOP_GAP = 128;
export const PAUSE_LOOP_WINDOW = 1024;

/** The embedder's clock: the TSC value now. */
export type TscSource = () => number;

export interface CpuOptions {
  secondStage: SecondStage;
  /** Decoded-block cache shared by the vCPUs of one machine (blocks are keyed by machine address). */
  blocks?: BlockCache;
  policy?: CpuPolicy;
  /** vCPU number, for CPUID's APIC ID. */
  id?: number;
}

export class Cpu {
  readonly id: number;
  readonly policy: CpuPolicy;
  readonly blocks: BlockCache;
  secondStage: SecondStage;
  /** Machine memory, as bytes and as a DataView (little-endian accesses). */
  mem: Uint8Array;
  view: DataView;
  p2m: Int32Array;

  /** General registers as lo/hi int32 halves: register n is at [2n], [2n + 1]. */
  readonly gpr = new Int32Array(32);
  ripLo = 0;
  ripHi = 0;
  /** RFLAGS; its arithmetic bits are stale while `lazy[Lazy.Op]` is not Eager. */
  flags: number = Flag.Fixed;
  readonly lazy = new Int32Array(Lazy.Length);

  /** Segment registers ES CS SS DS FS GS LDTR TR: selector, base, limit, access rights. */
  readonly segSel = new Int32Array(8);
  readonly segBaseLo = new Int32Array(8);
  readonly segBaseHi = new Int32Array(8);
  readonly segLimit = new Int32Array(8);
  readonly segAttr = new Int32Array(8);
  gdtBaseLo = 0;
  gdtBaseHi = 0;
  gdtLimit = 0xffff;
  idtBaseLo = 0;
  idtBaseHi = 0;
  idtLimit = 0xffff;

  cr0 = Cr0.ET | Cr0.CD | Cr0.NW;
  cr2Lo = 0;
  cr2Hi = 0;
  cr3Lo = 0;
  cr3Hi = 0;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  /** Current privilege level (CS.RPL in protected mode, 0 in real mode, 3 in VM86). */
  cpl = 0;
  /** Default operand/address size of the code segment: 16, 32 or 64. */
  codeSize = 16;
  /** Stack address size: 16, 32 or 64. */
  stackSize = 16;
  /** Model-specific registers that are plain storage, by index (lo, hi). */
  readonly msrs = new Map<number, [number, number]>();
  readonly fpu = new FpuState();
  /** Guest-physical addresses of the paging entries of the walk in progress (mmu.ts). */
  readonly walkEntries = new Float64Array(4);
  /** PAE page-directory-pointer entries, loaded with CR3 (4 × lo/hi). */
  readonly pdpte = new Int32Array(8);
  readonly dr = new Int32Array(16);

  /**
   * Software TLB, direct-mapped on the linear page number: TLB_SIZE slots of four integers
   * (TlbSlot), so that a lookup reads one cache line.
   */
  readonly tlb = new Int32Array(TLB_SIZE * TLB_SLOT_INTS);
  /** Slots filled since the last flush (global ones since the last global flush); a count
   * above TLB_SIZE means the log overflowed and a flush scans every slot. */
  readonly tlbFilled = new Int32Array(TLB_SIZE);
  tlbFilledCount = 0;
  /** TLB permission bits the current CPL needs for a read, write and fetch. */
  readMask = 0;
  writeMask = 0;
  execMask = 0;

  /** Set by an instruction that must end the run loop's current block. */
  stop = false;
  /** Set with `stop` when the block ends in an exit. */
  exiting = false;
  /** Scratch: high halves of values returned by helpers (reads, effective addresses). */
  hi = 0;
  eaHi = 0;
  readonly exit = new ExitInfo();
  /** The guest-physical address of the last TLB fill (the address of an MMIO exit). */
  lastGuestPhysical = 0;
  /** Instructions retired (a block's are added when it ends: see `clockNow`). */
  instret = 0;
  /** The block `run` is executing and the RIP it started at, for `clockNow`. */
  private runningBlock: Block | undefined = undefined;
  private runningBase = 0;
  tscOffset = 0;
  /** IA32_TSC_ADJUST: what writes to the TSC and to this MSR have added to it, signed. */
  tscAdjust = 0;
  /** The instruction the interpreter is at, loaded from its block (`run`). */
  private readonly insn = new InsnCursor(() => {});
  clock: TscSource = () => this.instret;

  /** Interrupt state visible to the hypervisor. */
  halted = false;
  /** An external interrupt vector waiting for IF=1, or -1. */
  pendingInterrupt = -1;
  nmiPending = false;
  /** Exception to deliver before the next instruction (injected), or -1. */
  pendingException = -1;
  pendingErrorCode = -1;
  /** Blocks interrupts for one instruction after STI, MOV SS and POP SS. */
  interruptShadow = false;
  interruptWindowRequested = false;
  stopRequested = false;
  /**
   * When set (by the hypervisor, for PV guests), SYSCALL does not enter the guest kernel
   * through LSTAR/CSTAR: it exits with ExitReason.Syscall, RIP past the instruction.
   */
  syscallExits = false;
  /**
   * When set (by the hypervisor), a PAUSE loop longer than PAUSE_LOOP_WINDOW instructions
   * exits with ExitReason.PauseLoop, as VMX's PAUSE-loop exiting does: a spinning vCPU waits
   * for one that is not running.
   */
  pauseLoopExiting = false;
  /** `instret` at the last PAUSE, and at the first PAUSE of the loop it belongs to. */
  private lastPause = Number.NEGATIVE_INFINITY;
  private pauseLoopStart = 0;
  /** Data for an IN or MMIO read that exited, for the instruction to use when it runs again. */
  ioResult: number | undefined = undefined;
  ioResultHi = 0;

  constructor(options: CpuOptions) {
    this.id = options.id ?? 0;
    this.policy = options.policy ?? defaultPolicy();
    this.blocks = options.blocks ?? new BlockCache();
    this.blocks.attach(this);
    this.secondStage = options.secondStage;
    this.mem = options.secondStage.memory.bytes;
    this.view = options.secondStage.memory.view;
    this.p2m = options.secondStage.p2m;
    this.reset();
  }

  /** The power-on state: real mode at F000:FFF0. */
  reset(): void {
    this.gpr.fill(0);
    this.gpr[Reg.RDX * 2] = 0x600;
    this.ripLo = 0xfff0;
    this.ripHi = 0;
    this.flags = Flag.Fixed;
    this.lazy[Lazy.Op] = LazyOp.Eager;
    for (let s = 0; s < 8; s++) {
      this.segSel[s] = 0;
      this.segBaseLo[s] = 0;
      this.segBaseHi[s] = 0;
      this.segLimit[s] = 0xffff;
      this.segAttr[s] = s === Seg.LDTR ? 0x82 : s === Seg.TR ? 0x8b : 0x93;
    }
    this.segSel[Seg.CS] = 0xf000;
    this.segBaseLo[Seg.CS] = 0xffff0000 | 0;
    this.segAttr[Seg.CS] = 0x9b;
    this.cr0 = Cr0.ET | Cr0.CD | Cr0.NW;
    this.cr2Lo = this.cr2Hi = this.cr3Lo = this.cr3Hi = this.cr4 = this.cr8 = this.efer = 0;
    this.halted = false;
    this.pendingInterrupt = -1;
    this.pendingException = -1;
    this.nmiPending = false;
    this.interruptShadow = false;
    this.updateMode();
  }

  /** Recomputes CPL, code and stack sizes and TLB masks after CS, SS, CR0, EFER or RFLAGS.VM change. */
  updateMode(): void {
    const csAttr = this.segAttr[Seg.CS]!;
    if (!(this.cr0 & Cr0.PE)) {
      this.cpl = 0;
      this.codeSize = 16;
      this.stackSize = 16;
    } else if (this.flags & Flag.VM) {
      this.cpl = 3;
      this.codeSize = 16;
      this.stackSize = 16;
    } else {
      // SS.DPL is the CPL, as in VMX: it is right even between setting CR0.PE and the far
      // jump that loads a protected-mode CS.
      this.cpl = (this.segAttr[Seg.SS]! >> SegAttrBits.DplShift) & 3;
      const long = (this.efer & Efer.LMA) !== 0 && (csAttr & SegAttrBits.L) !== 0;
      this.codeSize = long ? 64 : csAttr & SegAttrBits.DB ? 32 : 16;
      this.stackSize = long ? 64 : this.segAttr[Seg.SS]! & SegAttrBits.DB ? 32 : 16;
    }
    this.updateTlbMasks();
  }

  updateTlbMasks(): void {
    const user = this.cpl === 3;
    this.readMask = user ? TlbBits.ReadUser : TlbBits.ReadSup;
    this.writeMask = user ? TlbBits.WriteUser : TlbBits.WriteSup;
    this.execMask = user ? TlbBits.ExecUser : TlbBits.ExecSup;
  }

  get longMode(): boolean {
    return (this.efer & Efer.LMA) !== 0;
  }

  flushTlb(global = true): void {
    flushTlb(this, global);
  }

  /** Queues an external interrupt; delivered when RFLAGS.IF allows. */
  injectInterrupt(vector: number): void {
    this.pendingInterrupt = vector & 0xff;
  }

  /** Queues an exception to be delivered before the next instruction. */
  injectException(vector: number, errorCode = -1): void {
    this.pendingException = vector;
    this.pendingErrorCode = errorCode;
  }

  injectNmi(): void {
    this.nmiPending = true;
  }

  /** Whether an external interrupt would be taken now. */
  get interruptible(): boolean {
    return (this.flags & Flag.IF) !== 0 && !this.interruptShadow;
  }

  /** Asks `run` to return an InterruptWindow exit as soon as interrupts can be delivered. */
  requestInterruptWindow(): void {
    this.interruptWindowRequested = true;
  }

  /** Makes `run` return a Stopped exit at the next instruction boundary. */
  requestStop(): void {
    this.stopRequested = true;
    this.stop = true;
  }

  /**
   * Supplies the data of an IN or MMIO-read exit; the instruction then runs again and
   * completes. The halves are kept as int32, as memory reads give them. A pair holding a
   * uint32 above 2^31 (IA32_APIC_BASE's 0xfee00900) comes as doubles, and its boxed 0 once
   * made V8 store these fields, then `hi` and `ripHi`, as doubles for every vCPU: the run loop
   * was deoptimised, and the boot ran 4-5% slower from there on.
   */
  completeRead(value: number, valueHi = 0): void {
    this.ioResult = value | 0;
    this.ioResultHi = valueHi | 0;
  }

  /**
   * The embedder's clock as of the instruction running now. `instret` counts a block's
   * instructions only when the block ends, so inside one it is advanced by those before this
   * instruction: what the guest reads from the TSC does not depend on where blocks end.
   */
  clockNow(): number {
    const block = this.runningBlock;
    if (block === undefined) return this.clock();
    const retired = this.instret;
    this.instret = retired + block.indexAt((this.ripLo - this.runningBase) | 0);
    const now = this.clock();
    this.instret = retired;
    return now;
  }

  /** RFLAGS with the arithmetic flags computed. */
  readFlags(): number {
    return readFlags(this);
  }

  /**
   * Runs until an exit. `budget` is the most instructions to retire before a Budget exit.
   */
  run(budget: number): ExitInfo {
    const exit = this.exit;
    const end = this.instret + budget;
    this.stopRequested = false;
    for (;;) {
      if (this.stopRequested) return this.exitWith(ExitReason.Stopped);
      if (this.instret >= end) return this.exitWith(ExitReason.Budget);
      if (!this.interruptShadow) {
        if (
          this.pendingException >= 0 ||
          this.nmiPending ||
          (this.pendingInterrupt >= 0 && this.flags & Flag.IF)
        ) {
          if (!this.deliverPending()) return exit;
        } else if (this.interruptWindowRequested && this.flags & Flag.IF) {
          this.interruptWindowRequested = false;
          return this.exitWith(ExitReason.InterruptWindow);
        }
      }
      if (this.halted) return this.exitWith(ExitReason.Halt);
      // After STI or MOV SS exactly one instruction runs before interrupts are looked at again.
      const shadow = this.interruptShadow;
      // TF at the start of an instruction: it runs alone and a #DB trap follows it.
      const singleStep = (this.flags & Flag.TF) !== 0;
      this.interruptShadow = false;
      this.stop = false;
      let done = 0;
      let compiledBlock: Block | undefined;
      let blockBase = 0;
      try {
        const block = this.blocks.fetch(this);
        const count = block.count;
        const remaining = end - this.instret;
        const base = this.ripLo;
        blockBase = base;
        this.runningBlock = block;
        this.runningBase = base;
        const words = block.words;
        // One Insn moves along the block's stored instructions.
        const insn = this.insn;
        if (block.compiled === undefined) block.heat(this.blocks.compileThreshold);
        if (block.compiled !== undefined && !shadow && !singleStep && count <= remaining) {
          compiledBlock = block;
          done = block.compiled(this, base, remaining);
          insn.load(words, block.start + (done - 1) * INSN_WORDS);
        } else {
          const limit = shadow || singleStep ? 1 : count < remaining ? count : remaining;
          let at = block.start;
          insn.load(words, at);
          for (;;) {
            this.ripLo = (base + insn.offset) | 0;
            handlerAt(words, at)(this, insn);
            done++;
            if (this.stop || done === limit) break;
            const next = at + INSN_WORDS;
            // A branch inside the block (Jcc, JMP) goes on only where the block does.
            if (insn.branch && this.ripLo !== ((base + offsetAt(words, next)) | 0)) break;
            at = next;
            insn.load(words, at);
          }
        }
        if (!insn.branch) {
          const next = (base + insn.offset + insn.len) | 0;
          this.ripLo = this.codeSize === 16 ? next & 0xffff : next;
        }
        this.runningBlock = undefined;
        this.instret += done;
        if (singleStep) this.singleStepTrap(insn);
      } catch (error) {
        this.runningBlock = undefined;
        // A compiled block counts only its earlier passes as it goes: the faulting
        // instruction's RIP says how far the last one got.
        if (compiledBlock !== undefined) done = compiledBlock.indexAt((this.ripLo - blockBase) | 0);
        this.instret += done;
        if (error instanceof Fault) {
          if (!this.raise(error.vector, error.errorCode)) return exit;
        } else if (error instanceof Restart) {
          this.exiting = false;
          return exit;
        } else {
          throw error;
        }
      }
      if (this.exiting) {
        this.exiting = false;
        return exit;
      }
    }
  }

  /**
   * The single-step #DB after an instruction that began with TF=1 (not after INT n, INT3 and
   * INTO, whose delivery clears TF): DR6.BS is set and the trap is taken before the next
   * instruction, also when this one ended in an exit.
   */
  private singleStepTrap(insn: Insn): void {
    if (insn.op === 0xcc || insn.op === 0xcd || insn.op === 0xce) return;
    this.dr[12] = this.dr[12]! | (1 << 14); // DR6.BS
    this.pendingException = 1; // #DB
    this.pendingErrorCode = -1;
  }

  private exitWith(reason: ExitReason): ExitInfo {
    this.exit.reason = reason;
    return this.exit;
  }

  /**
   * PAUSE: a spin-wait hint. PAUSEs less than PAUSE_LOOP_GAP instructions apart belong to one
   * loop (VMX's PLE_Gap, counted in instructions instead of cycles); one that has spun longer
   * than PAUSE_LOOP_WINDOW exits, when the hypervisor asked for it.
   */
  pause(): void {
    if (!this.pauseLoopExiting) return;
    const now = this.instret;
    if (now - this.lastPause > PAUSE_LOOP_GAP) this.pauseLoopStart = now;
    this.lastPause = now;
    if (now - this.pauseLoopStart > PAUSE_LOOP_WINDOW) {
      this.lastPause = Number.NEGATIVE_INFINITY;
      this.exitAfter(ExitReason.PauseLoop);
    }
  }

  /** Ends the current instruction's block and makes `run` return this exit after it. */
  exitAfter(reason: ExitReason): ExitInfo {
    this.exit.reason = reason;
    this.exiting = true;
    this.stop = true;
    return this.exit;
  }

  /** Delivers an exception; false when the vCPU died (triple fault). */
  raise(vector: number, errorCode: number): boolean {
    return deliverException(this, vector, errorCode);
  }

  private deliverPending(): boolean {
    if (this.pendingException >= 0) {
      const vector = this.pendingException;
      this.pendingException = -1;
      this.halted = false;
      return this.raise(vector, this.pendingErrorCode);
    }
    if (this.nmiPending) {
      this.nmiPending = false;
      this.halted = false;
      return deliverInterrupt(this, 2);
    }
    const vector = this.pendingInterrupt;
    this.pendingInterrupt = -1;
    this.halted = false;
    return deliverInterrupt(this, vector);
  }
}

export const enum SegAttrBits {
  Type = 0xf,
  S = 1 << 4,
  DplShift = 5,
  P = 1 << 7,
  AVL = 1 << 12,
  L = 1 << 13,
  DB = 1 << 14,
  G = 1 << 15,
  Unusable = 1 << 16,
}

/** Permission bits of a TLB entry. */
export const enum TlbBits {
  ReadSup = 1 << 0,
  ReadUser = 1 << 1,
  WriteSup = 1 << 2,
  WriteUser = 1 << 3,
  ExecSup = 1 << 4,
  ExecUser = 1 << 5,
  Global = 1 << 6,
}
