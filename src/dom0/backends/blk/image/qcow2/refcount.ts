/**
 * Host cluster reference counts (qcow2.txt, "Host cluster management") and cluster
 * allocation. Write-through: every change is written before the call returns, so flush only
 * has to fsync. Callers hold the image's exclusive lock.
 */

import type { ImageFile } from '../file.js';
import { Lru } from '../lru.js';
import { ImageError } from '../types.js';
import { decodeRefcountTableEntry, encodeOffset } from './entries.js';
import { REFCOUNT_TABLE_FIELD } from './header.js';

/** Memory kept for cached refcount blocks. */
const CACHE_BYTES = 1 << 20;

interface RefcountBlock {
  bytes: Uint8Array;
  view: DataView;
}

export interface RefcountOptions {
  clusterSize: number;
  refcountBits: number;
  tableOffset: number;
  tableClusters: number;
  /** The file's size at open: allocation starts beyond it. */
  fileSize: number;
  /** Told of every cluster whose count falls to 0, so caches of its old content can go. */
  onFreed: (hostOffset: number) => void;
}

export class Refcounts {
  private readonly clusterSize: number;
  private readonly bits: number;
  /** Refcounts per refcount block. */
  private readonly perBlock: number;
  private readonly maxCount: number;
  private readonly blocks: Lru<number, RefcountBlock>;
  private readonly onFreed: (hostOffset: number) => void;
  /** Offsets of the refcount blocks, by block index; 0 where none is allocated. */
  private table: number[];
  tableOffset: number;
  tableClusters: number;
  /** One past the last cluster in use (in clusters): where the file grows from. */
  private endCluster: number;
  /**
   * No cluster below this is free, as far as allocation cares. It starts at the end of the
   * file, so holes that were there at open are left alone; clusters we free are reused.
   */
  private freeHint: number;

  private constructor(
    private readonly file: ImageFile,
    options: RefcountOptions,
    table: number[],
  ) {
    this.clusterSize = options.clusterSize;
    this.bits = options.refcountBits;
    this.perBlock = (options.clusterSize * 8) / options.refcountBits;
    this.maxCount = this.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
    this.blocks = new Lru(Math.max(4, CACHE_BYTES / options.clusterSize));
    this.onFreed = options.onFreed;
    this.table = table;
    this.tableOffset = options.tableOffset;
    this.tableClusters = options.tableClusters;
    this.endCluster = Math.ceil(options.fileSize / options.clusterSize);
    this.freeHint = this.endCluster;
  }

  /** Loads and checks the refcount table. */
  static async open(file: ImageFile, options: RefcountOptions): Promise<Refcounts> {
    const bytes = new Uint8Array(options.tableClusters * options.clusterSize);
    await file.readExact(options.tableOffset, bytes, 'refcount table');
    const view = new DataView(bytes.buffer);
    const table: number[] = [];
    for (let i = 0; i < bytes.length / 8; i++) {
      const offset = decodeRefcountTableEntry(view, i, options.clusterSize, file.path);
      if (offset + options.clusterSize > options.fileSize) {
        throw new ImageError('corrupt', file.path, `refcount block ${i} lies beyond the file`);
      }
      table.push(offset);
    }
    return new Refcounts(file, options, table);
  }

  async get(cluster: number): Promise<number> {
    const blockIndex = Math.floor(cluster / this.perBlock);
    const block = await this.existingBlock(blockIndex);
    return block === undefined ? 0 : this.entry(block, cluster - blockIndex * this.perBlock);
  }

  /**
   * Allocates `count` clusters with refcount 1 and returns their byte offsets, ascending and
   * mostly contiguous: freed clusters first, then the end of the file.
   */
  async allocate(count: number): Promise<number[]> {
    const clusters: number[] = [];
    let candidate = this.freeHint;
    while (clusters.length < count) {
      if ((await this.get(candidate)) === 0) clusters.push(candidate);
      candidate++;
    }
    this.freeHint = candidate;
    this.endCluster = Math.max(this.endCluster, candidate);
    for (const [first, length] of runs(clusters)) await this.adjust(first, length, 1);
    return clusters.map((cluster) => cluster * this.clusterSize);
  }

  /** Drops one reference to every cluster that [hostOffset, hostOffset + bytes) touches. */
  async release(hostOffset: number, bytes: number): Promise<void> {
    const first = Math.floor(hostOffset / this.clusterSize);
    const end = Math.ceil((hostOffset + bytes) / this.clusterSize);
    await this.adjust(first, end - first, -1);
  }

  /** Throws 'corrupt' unless every cluster [hostOffset, hostOffset + bytes) touches is in use. */
  async checkHeld(hostOffset: number, bytes: number): Promise<void> {
    const first = Math.floor(hostOffset / this.clusterSize);
    const end = Math.ceil((hostOffset + bytes) / this.clusterSize);
    for (let cluster = first; cluster < end; cluster++) {
      if ((await this.get(cluster)) === 0) {
        throw new ImageError(
          'corrupt',
          this.file.path,
          `cluster ${cluster} is in use but has refcount 0`,
        );
      }
    }
  }

  /** Adds `delta` to the refcounts of `count` clusters from `first`. */
  private async adjust(first: number, count: number, delta: number): Promise<void> {
    const end = first + count;
    for (let cluster = first; cluster < end; ) {
      const blockIndex = Math.floor(cluster / this.perBlock);
      // Only an increment may need a new block; a decrement there means a corrupt image.
      const block = delta > 0 ? await this.block(blockIndex) : await this.existingBlock(blockIndex);
      const base = blockIndex * this.perBlock;
      if (block === undefined) {
        throw new ImageError('corrupt', this.file.path, `cluster ${cluster} has no refcount`);
      }
      const from = cluster - base;
      const to = Math.min(end - base, this.perBlock);
      // Check the whole range first, so that a bad count changes nothing.
      for (let i = from; i < to; i++) {
        const next = this.entry(block, i) + delta;
        if (next < 0 || next > this.maxCount) {
          throw new ImageError(
            'corrupt',
            this.file.path,
            `refcount of cluster ${base + i} would become ${next}`,
          );
        }
      }
      for (let i = from; i < to; i++) {
        const next = this.entry(block, i) + delta;
        this.setEntry(block, i, next);
        if (next === 0) this.freed(base + i);
      }
      await this.writeBlockRange(blockIndex, block, from, to);
      cluster = base + to;
    }
  }

  private freed(cluster: number): void {
    this.freeHint = Math.min(this.freeHint, cluster);
    this.onFreed(cluster * this.clusterSize);
  }

  private async existingBlock(blockIndex: number): Promise<RefcountBlock | undefined> {
    const offset = this.table[blockIndex] ?? 0;
    if (offset === 0) return undefined;
    const cached = this.blocks.get(blockIndex);
    if (cached !== undefined) return cached;
    const bytes = new Uint8Array(this.clusterSize);
    await this.file.readExact(offset, bytes, 'refcount block');
    const block = { bytes, view: new DataView(bytes.buffer) };
    this.blocks.set(blockIndex, block);
    return block;
  }

  /** The refcount block with this index, allocated if it does not exist yet. */
  private async block(blockIndex: number): Promise<RefcountBlock> {
    const existing = await this.existingBlock(blockIndex);
    if (existing !== undefined) return existing;
    if (blockIndex >= this.table.length) {
      await this.growTable(blockIndex + 1);
      const made = await this.existingBlock(blockIndex);
      if (made !== undefined) return made;
    }
    // The new block goes at the end of the file. If it falls in its own range it counts
    // itself; otherwise its count lives in a later block, allocated by the same route.
    const cluster = await this.clusterAtEnd();
    const block = emptyBlock(this.clusterSize);
    const selfIndex = cluster - blockIndex * this.perBlock;
    const countsItself = selfIndex >= 0 && selfIndex < this.perBlock;
    if (countsItself) this.setEntry(block, selfIndex, 1);
    await this.file.writeAt(cluster * this.clusterSize, block.bytes);
    await this.setTableEntry(blockIndex, cluster * this.clusterSize);
    this.blocks.set(blockIndex, block);
    if (!countsItself) await this.adjust(cluster, 1, 1);
    return block;
  }

  /** A free cluster at the end of the file, for refcount metadata itself. */
  private async clusterAtEnd(): Promise<number> {
    let cluster = this.endCluster;
    while ((await this.get(cluster)) !== 0) cluster++;
    this.endCluster = cluster + 1;
    return cluster;
  }

  private async setTableEntry(blockIndex: number, offset: number): Promise<void> {
    const bytes = new Uint8Array(8);
    encodeOffset(new DataView(bytes.buffer), 0, offset);
    await this.file.writeAt(this.tableOffset + blockIndex * 8, bytes);
    this.table[blockIndex] = offset;
  }

  /**
   * Moves the refcount table to a bigger one at the end of the file. The new table and the
   * new refcount blocks that count it (and themselves) are laid out in memory first, written,
   * and only then does the header point at them; the old table is freed last.
   */
  private async growTable(minEntries: number): Promise<void> {
    const entriesPerCluster = this.clusterSize / 8;
    let entries = Math.max(minEntries, this.table.length * 2);
    for (;;) {
      const tableClusters = Math.ceil(entries / entriesPerCluster);
      entries = tableClusters * entriesPerCluster;
      const start = this.endCluster;
      let end = start + tableClusters;
      const table = [...this.table, ...new Array<number>(entries - this.table.length).fill(0)];
      const created = new Map<number, RefcountBlock>();
      let fits = true;
      for (let cluster = start; cluster < end; ) {
        const blockIndex = Math.floor(cluster / this.perBlock);
        if (blockIndex >= entries) {
          fits = false;
          break;
        }
        if (table[blockIndex] === 0) {
          table[blockIndex] = end * this.clusterSize;
          created.set(blockIndex, emptyBlock(this.clusterSize));
          end++;
        }
        cluster = (blockIndex + 1) * this.perBlock;
      }
      if (!fits) {
        entries *= 2;
        continue;
      }
      // Count the new table and blocks: in the new blocks directly, in old blocks through
      // adjust (those blocks exist already, so adjust allocates nothing).
      for (let cluster = start; cluster < end; cluster++) {
        const blockIndex = Math.floor(cluster / this.perBlock);
        const block = created.get(blockIndex);
        if (block !== undefined) this.setEntry(block, cluster - blockIndex * this.perBlock, 1);
      }
      this.endCluster = end;
      for (const [blockIndex, block] of created) {
        await this.file.writeAt(table[blockIndex] ?? 0, block.bytes);
      }
      for (let cluster = start; cluster < end; cluster++) {
        if (!created.has(Math.floor(cluster / this.perBlock))) await this.adjust(cluster, 1, 1);
      }
      const tableBytes = new Uint8Array(tableClusters * this.clusterSize);
      const tableView = new DataView(tableBytes.buffer);
      for (const [i, offset] of table.entries()) encodeOffset(tableView, i * 8, offset);
      await this.file.writeAt(start * this.clusterSize, tableBytes);

      const field = new Uint8Array(12);
      const fieldView = new DataView(field.buffer);
      encodeOffset(fieldView, 0, start * this.clusterSize);
      fieldView.setUint32(8, tableClusters);
      await this.file.writeAt(REFCOUNT_TABLE_FIELD, field);

      const oldOffset = this.tableOffset;
      const oldClusters = this.tableClusters;
      this.table = table;
      this.tableOffset = start * this.clusterSize;
      this.tableClusters = tableClusters;
      for (const [blockIndex, block] of created) this.blocks.set(blockIndex, block);
      await this.adjust(oldOffset / this.clusterSize, oldClusters, -1);
      return;
    }
  }

  private async writeBlockRange(
    blockIndex: number,
    block: RefcountBlock,
    from: number,
    to: number,
  ): Promise<void> {
    const start = Math.floor((from * this.bits) / 8);
    const end = Math.ceil((to * this.bits) / 8);
    try {
      await this.file.writeAt(
        (this.table[blockIndex] ?? 0) + start,
        block.bytes.subarray(start, end),
      );
    } catch (error) {
      // The cached block no longer matches the file: reread it next time.
      this.blocks.delete(blockIndex);
      throw error;
    }
  }

  private entry(block: RefcountBlock, index: number): number {
    const { bytes, view } = block;
    switch (this.bits) {
      case 64: {
        const high = view.getUint32(index * 8);
        return high * 0x1_0000_0000 + view.getUint32(index * 8 + 4);
      }
      case 32:
        return view.getUint32(index * 4);
      case 16:
        return view.getUint16(index * 2);
      case 8:
        return bytes[index] ?? 0;
      default: {
        // Sub-byte widths: bit 0 of an entry is the least significant bit of its byte.
        const bit = index * this.bits;
        return ((bytes[bit >> 3] ?? 0) >> (bit & 7)) & ((1 << this.bits) - 1);
      }
    }
  }

  private setEntry(block: RefcountBlock, index: number, value: number): void {
    const { bytes, view } = block;
    switch (this.bits) {
      case 64:
        encodeOffset(view, index * 8, value);
        return;
      case 32:
        view.setUint32(index * 4, value);
        return;
      case 16:
        view.setUint16(index * 2, value);
        return;
      case 8:
        bytes[index] = value;
        return;
      default: {
        const bit = index * this.bits;
        const mask = ((1 << this.bits) - 1) << (bit & 7);
        const old = bytes[bit >> 3] ?? 0;
        bytes[bit >> 3] = (old & ~mask) | ((value << (bit & 7)) & mask);
      }
    }
  }
}

function emptyBlock(clusterSize: number): RefcountBlock {
  const bytes = new Uint8Array(clusterSize);
  return { bytes, view: new DataView(bytes.buffer) };
}

/** Ascending cluster numbers as [first, length] runs. */
function runs(clusters: readonly number[]): [number, number][] {
  const result: [number, number][] = [];
  for (const cluster of clusters) {
    const last = result[result.length - 1];
    if (last !== undefined && last[0] + last[1] === cluster) last[1]++;
    else result.push([cluster, 1]);
  }
  return result;
}
