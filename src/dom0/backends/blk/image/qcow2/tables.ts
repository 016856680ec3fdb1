/**
 * The guest-to-host mapping tables: the L1 table, held in memory whole, and L2 tables, read
 * on demand into a small LRU cache. Write-through, like the refcounts.
 */

import type { ImageFile } from '../file.js';
import { Lru } from '../lru.js';
import { ImageError } from '../types.js';
import { decodeL1, encodeL1, type L1Entry } from './entries.js';
import type { Refcounts } from './refcount.js';

/** Memory kept for cached L2 tables (64 tables of 64 KiB: 32 GiB of disk). */
const CACHE_BYTES = 4 << 20;

export interface L2Table {
  /** Where the table lives in the file. */
  readonly offset: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

export class MappingTables {
  private readonly cache: Lru<number, L2Table>;
  /** Loads under way, so that concurrent readers share one read of a table. */
  private readonly loading = new Map<number, Promise<L2Table>>();
  private readonly l1View: DataView;

  private constructor(
    private readonly file: ImageFile,
    private readonly clusterSize: number,
    private readonly l1Offset: number,
    private readonly l1: Uint8Array,
    private readonly refcounts: Refcounts | undefined,
  ) {
    this.cache = new Lru(Math.max(4, CACHE_BYTES / clusterSize));
    this.l1View = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  }

  /** Loads the L1 table and checks every entry. `refcounts` is absent for read-only images. */
  static async open(
    file: ImageFile,
    clusterSize: number,
    l1Offset: number,
    l1Size: number,
    fileSize: number,
    refcounts: Refcounts | undefined,
  ): Promise<MappingTables> {
    const l1 = new Uint8Array(l1Size * 8);
    await file.readExact(l1Offset, l1, 'L1 table');
    const tables = new MappingTables(file, clusterSize, l1Offset, l1, refcounts);
    for (let i = 0; i < l1Size; i++) {
      const { offset } = tables.l1Entry(i);
      if (offset + clusterSize > fileSize) {
        throw new ImageError('corrupt', file.path, `L2 table ${i} at ${offset} is beyond the file`);
      }
    }
    return tables;
  }

  l1Entry(index: number): L1Entry {
    return decodeL1(this.l1View, index, this.clusterSize, this.file.path);
  }

  /** The L2 table for L1 entry `index`, or undefined where none is allocated. */
  async lookup(index: number): Promise<L2Table | undefined> {
    const { offset } = this.l1Entry(index);
    return offset === 0 ? undefined : this.load(offset);
  }

  /**
   * The L2 table for L1 entry `index`, ready to be changed: allocated if missing, copied if
   * shared with a snapshot (L1 entry not marked copied).
   */
  async writable(index: number): Promise<L2Table> {
    const { offset, copied } = this.l1Entry(index);
    if (offset !== 0 && copied) return this.load(offset);
    const refcounts = this.need();
    const [fresh] = await refcounts.allocate(1);
    if (fresh === undefined) throw new Error('allocate(1) returned nothing');
    const bytes = new Uint8Array(this.clusterSize);
    if (offset !== 0) bytes.set((await this.load(offset)).bytes);
    await this.file.writeAt(fresh, bytes);
    const entry = new Uint8Array(8);
    encodeL1(new DataView(entry.buffer), 0, fresh);
    await this.file.writeAt(this.l1Offset + index * 8, entry);
    this.l1.set(entry, index * 8);
    const table = { offset: fresh, bytes, view: new DataView(bytes.buffer) };
    this.cache.set(fresh, table);
    if (offset !== 0) await refcounts.release(offset, this.clusterSize);
    return table;
  }

  /** Writes entries [first, end) of a table changed in memory. */
  async writeEntries(table: L2Table, first: number, end: number): Promise<void> {
    try {
      await this.file.writeAt(table.offset + first * 8, table.bytes.subarray(first * 8, end * 8));
    } catch (error) {
      this.cache.delete(table.offset); // the cached copy is ahead of the file now
      throw error;
    }
  }

  /** A cluster was freed: if it held an L2 table, that copy is stale. */
  forget(offset: number): void {
    this.cache.delete(offset);
  }

  /** Whether [offset, offset + length) overlaps the L1 table. */
  overlapsL1(offset: number, length: number): boolean {
    return offset < this.l1Offset + this.l1.length && this.l1Offset < offset + length;
  }

  private async load(offset: number): Promise<L2Table> {
    const cached = this.cache.get(offset);
    if (cached !== undefined) return cached;
    const pending = this.loading.get(offset);
    if (pending !== undefined) return pending;
    const promise = (async () => {
      const bytes = new Uint8Array(this.clusterSize);
      await this.file.readExact(offset, bytes, 'L2 table');
      const table = { offset, bytes, view: new DataView(bytes.buffer) };
      this.cache.set(offset, table);
      return table;
    })();
    this.loading.set(offset, promise);
    try {
      return await promise;
    } finally {
      this.loading.delete(offset);
    }
  }

  private need(): Refcounts {
    if (this.refcounts === undefined) throw new Error('writing needs the refcounts');
    return this.refcounts;
  }
}
