/**
 * Decoded blocks: straight-line runs of instructions within one page, cached by machine
 * address and code size, and dropped when their frame is written.
 */
import { fetchAddress } from './access.js';
import type { Cpu } from './cpu.js';
import { type ByteSource, Decoder } from './decoder.js';
import { Fault, Vector } from './fault.js';
import { condition } from './flags.js';
import { INSN_WORDS, Insn, offsetAt } from './insn.js';
import { jumpRelative } from './isa/control.js';
import { opcodeTable } from './isa/index.js';
import type { JitTemplate } from './jit/templates.js';
import { dropWritableMappings } from './mmu.js';
import { Seg } from './segments.js';
import { OpFlag } from './table.js';

const MAX_BLOCK_INSNS = 64;
const CACHE_SIZE = 1 << 16;
/**
 * Decoded instructions are stored in chunks of this many (1 MiB), at most MAX_CHUNKS of them:
 * when those are full every block is dropped and decoding starts over, as QEMU flushes its
 * translation buffer.
 */
const CHUNK_INSNS = 1 << 15;
const MAX_CHUNKS = 32;

/**
 * A block turned into one JavaScript function: runs it, and returns how many of its
 * instructions the last pass retired. A block with a Jcc back to its own start (a tight
 * loop) goes round inside the function, within `budget` instructions in all, and adds each
 * earlier pass to `cpu.instret` as it goes: the run loop's dispatch is not paid per pass.
 */
export type CompiledBlock = (cpu: Cpu, base: number, budget: number) => number;

/**
 * Executions after which a block is compiled, by default. A compiled block is a new function
 * that V8 first runs unoptimised, slower than the optimised interpreter, and compiling costs
 * as much again: a block must be hot (a loop) to repay that. Kernel code run hundreds of times
 * (the timer tick's path, boot-time initcalls) is faster interpreted: at 32 the Debian boot
 * reached the Xen clocksource ~20% later, and the guest lost half as much time again in late
 * ticks (tick handler at 1.6 MIPS instead of 3-4). At 2048 the tick's blocks still compiled a
 * few seconds into the boot, and each tick lost 1.6-2.3 ms where at 32768 it lost 1.1-1.3;
 * a loop reaches either within milliseconds.
 */
const COMPILE_THRESHOLD = 32768;

export class Block {
  constructor(
    /** The cache's decoded instructions; this block's are `count` of them from word `start`. */
    readonly words: Int32Array,
    readonly start: number,
    readonly count: number,
    /** Each instruction's compiled-block template, if it has one: read only when compiling,
     * so kept apart from the instructions the interpreter reads. */
    readonly templates: (JitTemplate | undefined)[],
    /** Machine address of the first byte. */
    readonly address: number,
    readonly codeSize: number,
    /** Bytes from the first byte to the end of the furthest instruction. */
    readonly length: number,
  ) {}
  valid = true;
  /** The frame holding the rest of an instruction that runs into the next page, or -1. */
  secondFrame = -1;
  executions = 0;
  compiled: CompiledBlock | undefined = undefined;

  /** Counts an execution; compiles the block when it has become hot. */
  heat(threshold: number): void {
    if (++this.executions === threshold) {
      const insns = this.templates.map((_, i) =>
        Insn.stored(this.words, this.start + i * INSN_WORDS),
      );
      this.compiled = compileBlock(insns, this.templates);
    }
  }

  /** The index of the instruction at `offset` bytes into the block. */
  indexAt(offset: number): number {
    for (let i = 0; i < this.count; i++) {
      if (offsetAt(this.words, this.start + i * INSN_WORDS) === offset) return i;
    }
    return 0;
  }
}

/**
 * Straight-line code for a block: one call per instruction, each call site seeing a single
 * handler, so V8 inlines the handlers and folds their constants — a JIT tier built from the
 * interpreter's own handlers.
 */
function compileBlock(insns: Insn[], templates: (JitTemplate | undefined)[]): CompiledBlock {
  const count = insns.length;
  const names: string[] = ['cond', 'jrel'];
  const values: unknown[] = [condition, jumpRelative];
  const lines: string[] = ['const g = cpu.gpr, lz = cpu.lazy;'];
  const loops = insns.some(jumpsToStart);
  if (loops) lines.push('let passes = 0;', 'for (;;) {');
  insns.forEach((insn, index) => {
    const last = index === count - 1;
    if (loops && jumpsToStart(insn)) {
      // Taken: round again if a whole block more fits the budget and nothing asked the CPU
      // to stop (an exit, a store into this code); else out, at the block's start.
      const pass = index + 1;
      lines.push(
        `if (cond(cpu, ${insn.op & 0xf})) {`,
        `if (passes + ${pass + count} > budget || cpu.stop) { cpu.ripLo = base; return ${pass}; }`,
        `passes += ${pass}; cpu.instret += ${pass}; continue;`,
        '}',
      );
      if (last)
        lines.push(`cpu.ripLo = (base + ${insn.offset + insn.len}) | 0;`, `return ${pass};`);
      return;
    }
    // A branch inside a block is a JMP the block follows (nothing to do), a Jcc whose
    // not-taken path the block goes on with, or a CALL the block follows (its handler runs).
    if (insn.branch && !last && insn.op !== 0xe8) {
      if (insn.op === 0xe9 || insn.op === 0xeb) return;
      names.push(`i${index}`);
      values.push(insn);
      lines.push(
        `if (cond(cpu, ${insn.op & 0xf})) { cpu.ripLo = (base + ${insn.offset}) | 0; jrel(cpu, i${index}); return ${index + 1}; }`,
      );
      return;
    }
    // A templated form touches no memory and cannot fault: it needs neither RIP nor a stop check.
    const inline = templates[index]?.(insn);
    if (inline !== undefined) {
      lines.push(inline);
      if (last) lines.push(`cpu.ripLo = (base + ${insn.offset}) | 0;`, `return ${index + 1};`);
      return;
    }
    names.push(`h${index}`, `i${index}`);
    values.push(insn.exec, insn);
    lines.push(`cpu.ripLo = (base + ${insn.offset}) | 0;`);
    lines.push(`h${index}(cpu, i${index});`);
    if (last) lines.push(`return ${index + 1};`);
    else if (!insn.registerOnly) lines.push(`if (cpu.stop) return ${index + 1};`);
  });
  if (loops) lines.push('}');
  const factory = new Function(
    ...names,
    `return function block(cpu, base, budget) {\n${lines.join('\n')}\n};`,
  );
  return factory(...values) as CompiledBlock;
}

/** Whether the instruction is a 64-bit Jcc back to the start of its block (a loop). */
function jumpsToStart(insn: Insn): boolean {
  const jcc = (insn.op >= 0x70 && insn.op <= 0x7f) || (insn.op >= 0x0f80 && insn.op <= 0x0f8f);
  return jcc && insn.opsize === 64 && ((insn.offset + insn.len + insn.immLo) | 0) === 0;
}

/** Reads instruction bytes from machine memory, crossing into the next page through the MMU. */
class PageSource implements ByteSource {
  bytes: Uint8Array;
  pos = 0;
  limit = 0;
  crossed = false;
  private readonly window = new Uint8Array(32);

  constructor(
    public cpu: Cpu,
    memory: Uint8Array,
  ) {
    this.bytes = memory;
  }

  reset(address: number, memory: Uint8Array): void {
    this.bytes = memory;
    this.pos = address;
    this.limit = address - (address % 4096) + 4096;
    this.crossed = false;
  }

  /** The instruction runs into the next page: continue from that page's bytes. */
  more(): void {
    if (this.crossed) throw new Fault(Vector.GP, 0);
    const cpu = this.cpu;
    const next = nextPageLinear(cpu, this.pageLinearLo, this.pageLinearHi);
    const machine = fetchAddress(cpu, next.lo, next.hi);
    if (machine < 0) throw new Fault(Vector.GP, 0); // executing from MMIO is not supported
    this.nextMachine = machine;
    const have = this.limit - this.pos;
    this.window.set(this.bytes.subarray(this.pos, this.limit), 0);
    this.window.set(cpu.mem.subarray(machine, machine + 16), have);
    this.bytes = this.window;
    this.pos = 0;
    this.limit = have + 16;
    this.crossed = true;
  }

  pageLinearLo = 0;
  pageLinearHi = 0;
  /** The machine address the next page's bytes came from (`more`). */
  nextMachine = 0;
}

/**
 * Whether a cached block still holds the code at linear `lo:hi`: yes unless it runs into the
 * next page and that page no longer maps to the frame its last bytes were decoded from.
 * Translating the next page is what fetching the instruction does: it may fault.
 */
function stillMapped(cpu: Cpu, block: Block, lo: number, hi: number): boolean {
  if (block.secondFrame < 0) return true;
  const next = nextPageLinear(cpu, lo, hi);
  return Math.floor(fetchAddress(cpu, next.lo, next.hi) / 4096) === block.secondFrame;
}

function nextPageLinear(cpu: Cpu, lo: number, hi: number): { lo: number; hi: number } {
  const nextLo = ((lo & ~0xfff) + 0x1000) | 0;
  const wrapped = nextLo >>> 0 < lo >>> 0;
  if (cpu.codeSize !== 64) return { lo: nextLo, hi: 0 };
  return { lo: nextLo, hi: wrapped ? (hi + 1) | 0 : hi };
}

/** A block's key within its frame: start offset and code size (16, 32 or 64). */
function blockKey(address: number, codeSize: number): number {
  return (address % 4096) * 128 + codeSize;
}

/** The key, in the map of the frame it runs into, of a block that starts in another frame:
 * negative, so unlike any block's own key there, and unique by machine address. */
function crossingKey(address: number, codeSize: number): number {
  return -1 - (address * 128 + codeSize);
}

export interface BlockCacheOptions {
  /** Executions after which a block is compiled (1: before its first run; tests use that to
   * run the differential suites through compiled code). */
  compileThreshold?: number;
  /** Instructions per chunk (at least a block's 64) and the most chunks: tests make them
   * small to see blocks dropped when all are full. */
  chunkInstructions?: number;
  maxChunks?: number;
}

export class BlockCache {
  readonly compileThreshold: number;
  private readonly chunkWords: number;
  private readonly maxChunks: number;

  constructor(options: BlockCacheOptions = {}) {
    this.compileThreshold = options.compileThreshold ?? COMPILE_THRESHOLD;
    this.chunkWords =
      Math.max(options.chunkInstructions ?? CHUNK_INSNS, MAX_BLOCK_INSNS) * INSN_WORDS;
    this.maxChunks = options.maxChunks ?? MAX_CHUNKS;
  }

  private readonly cache = new Array<Block | undefined>(CACHE_SIZE);
  /**
   * Machine frame → its blocks by start offset and code size: every block decoded and still
   * valid. The direct-mapped cache in front only makes the common lookup fast; a block it
   * evicted is found here again, compiled code and all, instead of being decoded anew.
   */
  private readonly byFrame = new Map<number, Map<number, Block>>();
  private readonly cpus = new Set<Cpu>();
  private readonly decoder = new Decoder(opcodeTable);
  private source: PageSource | undefined;
  /** Decoded instructions, INSN_WORDS words each; the last chunk fills up to `top`. */
  private readonly chunks: Int32Array[] = [];
  private top = 0;

  hasCode(mfn: number): boolean {
    return this.byFrame.has(mfn);
  }

  /** The block at the CPU's CS:RIP, decoding it when it is not cached. */
  /** Registers a vCPU that runs code from this cache (its TLB must learn of new code frames). */
  attach(cpu: Cpu): void {
    this.cpus.add(cpu);
  }

  /** Forgets a vCPU that will not run again (its domain was destroyed). */
  detach(cpu: Cpu): void {
    this.cpus.delete(cpu);
  }

  fetch(cpu: Cpu): Block {
    let lo = cpu.ripLo;
    let hi = cpu.ripHi;
    if (cpu.codeSize !== 64) {
      lo = (lo + cpu.segBaseLo[Seg.CS]!) | 0;
      hi = 0;
    }
    const address = fetchAddress(cpu, lo, hi);
    if (address < 0) throw new Fault(Vector.GP, 0);
    const slot = (address ^ (address / CACHE_SIZE)) & (CACHE_SIZE - 1);
    const cached = this.cache[slot];
    if (
      cached !== undefined &&
      cached.address === address &&
      cached.codeSize === cpu.codeSize &&
      cached.valid &&
      stillMapped(cpu, cached, lo, hi)
    ) {
      return cached;
    }
    const known = this.byFrame
      .get(Math.floor(address / 4096))
      ?.get(blockKey(address, cpu.codeSize));
    // A block across two frames stays in the first one's map when a write to the second
    // drops it: hence the validity check.
    if (known?.valid && stillMapped(cpu, known, lo, hi)) {
      this.cache[slot] = known;
      return known;
    }
    const block = this.decodeBlock(cpu, address, lo, hi);
    if (block.valid) this.cache[slot] = block;
    return block;
  }

  private decodeBlock(cpu: Cpu, address: number, lo: number, hi: number): Block {
    if (this.source === undefined) this.source = new PageSource(cpu, cpu.mem);
    const source = this.source;
    const insns: Insn[] = [];
    const templates: (JitTemplate | undefined)[] = [];
    let offset = 0;
    let end = 0;
    let crossesPage = false;
    let jumped = false;
    const pageOffset = address % 4096;
    // Blocks go on past a not-taken Jcc and through a JMP or CALL to the same page (not in
    // 16-bit code, where IP wraps): fewer, longer blocks for the run loop to dispatch.
    const extend = cpu.codeSize !== 16;
    while (insns.length < MAX_BLOCK_INSNS && pageOffset + offset < 4096) {
      // After a jump, the block ends where it would run into an instruction it already has.
      if (jumped && insns.some((each) => each.offset === offset)) break;
      source.cpu = cpu;
      source.reset(address + offset, cpu.mem);
      source.pageLinearLo = lo;
      source.pageLinearHi = hi;
      let insn: Insn;
      try {
        insn = this.decoder.decode(source, cpu.codeSize);
      } catch (error) {
        // A fault while decoding a later instruction belongs to that instruction: end the
        // block before it, so it faults with the right RIP when executed.
        if (insns.length > 0 && error instanceof Fault) break;
        throw error;
      }
      if (source.crossed) {
        if (insns.length > 0) break; // decode it on its own, uncached
        crossesPage = true;
      }
      insn.offset = offset;
      insns.push(insn);
      templates.push(this.decoder.lastJit);
      offset += insn.len;
      if (offset > end) end = offset;
      const flags = this.decoder.lastFlags;
      if (crossesPage) break;
      if (flags & (OpFlag.EndsBlock | OpFlag.Branch)) {
        if (!extend || flags & OpFlag.EndsBlock) break;
        if (flags & OpFlag.DirectJump && (cpu.codeSize === 64 || insn.opsize === 32)) {
          const target = offset + insn.immLo;
          if (pageOffset + target < 0 || pageOffset + target >= 4096) break;
          offset = target;
          jumped = true;
        } else if (!(flags & OpFlag.Conditional)) {
          break;
        }
      }
    }
    const [words, start] = this.place(insns);
    const block = new Block(words, start, insns.length, templates, address, cpu.codeSize, end);
    this.framesBlocks(Math.floor(address / 4096)).set(blockKey(address, cpu.codeSize), block);
    if (crossesPage) {
      // Its bytes come from two frames: a write to either drops it, and it runs from the
      // cache only while the next page still maps to the same frame (stillMapped).
      block.secondFrame = Math.floor(source.nextMachine / 4096);
      this.framesBlocks(block.secondFrame).set(crossingKey(address, cpu.codeSize), block);
    }
    return block;
  }

  /** The blocks decoded from frame `mfn`, made (and the frame's writes trapped) if none. */
  private framesBlocks(mfn: number): Map<number, Block> {
    let blocks = this.byFrame.get(mfn);
    if (blocks === undefined) {
      blocks = new Map();
      this.byFrame.set(mfn, blocks);
      for (const each of this.cpus) dropWritableMappings(each, mfn);
    }
    return blocks;
  }

  /** Stores a block's decoded instructions in the current chunk: the array and the word
   * they start at. */
  private place(insns: Insn[]): [Int32Array, number] {
    const need = insns.length * INSN_WORDS;
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || this.top + need > this.chunkWords) {
      if (this.chunks.length >= this.maxChunks) this.flush();
      chunk = new Int32Array(this.chunkWords);
      this.chunks.push(chunk);
      this.top = 0;
    }
    const start = this.top;
    this.top += need;
    for (const [i, insn] of insns.entries()) insn.store(chunk, start + i * INSN_WORDS);
    return [chunk, start];
  }

  /** Drops every block (the chunks are full); none is running, as blocks are decoded only
   * between them. */
  private flush(): void {
    for (const blocks of this.byFrame.values())
      for (const block of blocks.values()) block.valid = false;
    this.byFrame.clear();
    this.cache.fill(undefined);
    this.chunks.length = 0;
  }

  /** A frame with decoded code was written: forget its blocks. */
  invalidateFrame(mfn: number, writer?: Cpu): void {
    const blocks = this.byFrame.get(mfn);
    if (blocks === undefined) return;
    for (const block of blocks.values()) block.valid = false;
    this.byFrame.delete(mfn);
    // The writer may be running one of these blocks: end it after this instruction.
    if (writer !== undefined) writer.stop = true;
  }
}
