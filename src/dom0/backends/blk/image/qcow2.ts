/**
 * qcow2 images, versions 2 and 3 (QEMU's docs/interop/qcow2.txt), read and write.
 *
 * Locking: reads, and writes that land wholly in clusters already ours (refcount 1), hold
 * the lock shared and run in parallel; anything that changes metadata holds it exclusive.
 * Metadata is written through as it changes, after the data it points at, and new clusters
 * are counted before anything points at them: a crash between flushes can leak clusters but
 * never makes a table point at garbage.
 */

import { dirname, resolve } from 'node:path';
import { ImageFile, type Segment } from './file.js';
import { RwLock } from './lock.js';
import { readCompressedCluster } from './qcow2/compressed.js';
import {
  type ClusterMapping,
  decodeL2,
  type EntryFormat,
  encodeData,
  encodeUnallocated,
  encodeZero,
} from './qcow2/entries.js';
import { AUTOCLEAR_FIELD, parseHeader, peekClusterBits, type Qcow2Header } from './qcow2/header.js';
import { Refcounts } from './qcow2/refcount.js';
import { type L2Table, MappingTables } from './qcow2/tables.js';
import { type BlockImage, checkRange, ImageError, type ImageFormat } from './types.js';

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** Opens a backing file read-only; `format` undefined means probe it. */
  openBacking: (path: string, format: ImageFormat | undefined) => Promise<BlockImage>;
}

/** A piece of a read request, served from one kind of source. */
type ReadExtent =
  | { kind: 'data' | 'zero' | 'backing'; guest: number; host: number; length: number }
  | {
      kind: 'compressed';
      guest: number;
      host: number;
      sectors: number;
      within: number;
      length: number;
    };

/** A guest cluster that a write gives a new host cluster. */
interface Replacement {
  index: number;
  cluster: number;
  within: number;
  piece: Uint8Array;
  old: ClusterMapping;
}

export class Qcow2Image implements BlockImage {
  readonly format = 'qcow2';
  readonly size: number;
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly entryFormat: EntryFormat;
  private readonly lock = new RwLock();
  private closed = false;
  /** The last compressed cluster inflated, as sequential small reads hit it repeatedly. */
  private lastInflated: { host: number; data: Uint8Array } | undefined;

  private constructor(
    private readonly file: ImageFile,
    private readonly header: Qcow2Header,
    private readonly tables: MappingTables,
    private readonly refcounts: Refcounts | undefined,
    readonly backing: BlockImage | undefined,
    readonly readOnly: boolean,
  ) {
    this.size = header.size;
    this.clusterSize = header.clusterSize;
    this.l2Entries = header.clusterSize / 8;
    this.entryFormat = header;
  }

  static async open(path: string, options: Qcow2OpenOptions): Promise<Qcow2Image> {
    const { readOnly } = options;
    const file = await ImageFile.open(path, !readOnly);
    let backing: BlockImage | undefined;
    try {
      const fileSize = await file.size();
      const head = new Uint8Array(Math.min(fileSize, 512));
      await file.readAt(0, head);
      const clusterSize = 2 ** peekClusterBits(head, path);
      const first = new Uint8Array(Math.min(fileSize, clusterSize));
      await file.readAt(0, first);
      const header = parseHeader(first, fileSize, readOnly, path);

      let image: Qcow2Image | undefined;
      const refcounts = readOnly
        ? undefined
        : await Refcounts.open(file, {
            clusterSize,
            refcountBits: header.refcountBits,
            tableOffset: header.refcountTableOffset,
            tableClusters: header.refcountTableClusters,
            fileSize,
            onFreed: (offset) => image?.forget(offset),
          });
      const tables = await MappingTables.open(
        file,
        clusterSize,
        header.l1TableOffset,
        header.l1Size,
        fileSize,
        refcounts,
      );
      backing = await openBackingFile(path, header, options);
      if (!readOnly && header.hasAutoclearFeatures) {
        // Unknown autoclear bits vouch for data we would not keep up to date; the spec
        // allows writing only once they are cleared.
        await file.writeAt(AUTOCLEAR_FIELD, new Uint8Array(8));
      }
      image = new Qcow2Image(file, header, tables, refcounts, backing, readOnly);
      return image;
    } catch (error) {
      await backing?.close().catch(() => {});
      await file.close().catch(() => {});
      throw error;
    }
  }

  get path(): string {
    return this.file.path;
  }

  read(offset: number, into: Uint8Array): Promise<void> {
    return this.lock.shared(async () => {
      this.checkOpen();
      checkRange(this.path, this.size, offset, into.length);
      const extents = await this.planRead(offset, into.length);
      await Promise.all(
        extents.map((extent) => {
          const start = extent.guest - offset;
          return this.readExtent(extent, into.subarray(start, start + extent.length));
        }),
      );
    });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    const done = await this.lock.shared(async () => {
      this.checkWritable(offset, data.length);
      return this.writeInPlace(offset, data);
    });
    if (done) return;
    await this.lock.exclusive(async () => {
      this.checkWritable(offset, data.length);
      await this.writeAllocating(offset, data);
    });
  }

  discard(offset: number, length: number): Promise<void> {
    return this.lock.exclusive(async () => {
      this.checkWritable(offset, length);
      if (length > 0) await this.discardLocked(offset, length);
    });
  }

  flush(): Promise<void> {
    return this.lock.shared(async () => {
      this.checkOpen();
      // Metadata is written through, so what is left is to make the file durable.
      if (!this.readOnly) await this.file.sync();
    });
  }

  close(): Promise<void> {
    return this.lock.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      try {
        await this.file.close();
      } finally {
        await this.backing?.close();
      }
    });
  }

  // --- reading ---

  private async mapping(cluster: number): Promise<ClusterMapping> {
    const table = await this.tables.lookup(Math.floor(cluster / this.l2Entries));
    if (table === undefined) return { kind: 'unallocated' };
    return decodeL2(table.view, cluster % this.l2Entries, this.entryFormat, this.path);
  }

  /** Splits a request by source, merging neighbours that one read can serve. */
  private async planRead(offset: number, length: number): Promise<ReadExtent[]> {
    const extents: ReadExtent[] = [];
    const end = offset + length;
    for (let guest = offset; guest < end; ) {
      const cluster = Math.floor(guest / this.clusterSize);
      const within = guest - cluster * this.clusterSize;
      const n = Math.min(this.clusterSize - within, end - guest);
      const mapped = await this.mapping(cluster);
      const last = extents[extents.length - 1];
      if (mapped.kind === 'compressed') {
        extents.push({ ...mapped, guest, within, length: n });
      } else {
        const kind =
          mapped.kind === 'data'
            ? 'data'
            : mapped.kind === 'unallocated' && this.backing !== undefined
              ? 'backing'
              : 'zero';
        const host = mapped.kind === 'data' ? mapped.host + within : 0;
        if (last?.kind === kind && (kind !== 'data' || last.host + last.length === host)) {
          last.length += n;
        } else {
          extents.push({ kind, guest, host, length: n });
        }
      }
      guest += n;
    }
    return extents;
  }

  private async readExtent(extent: ReadExtent, into: Uint8Array): Promise<void> {
    switch (extent.kind) {
      case 'data':
        return this.file.readZeroFilled(extent.host, into);
      case 'zero':
        into.fill(0);
        return;
      case 'backing':
        return this.readBacking(extent.guest, into);
      case 'compressed': {
        const cluster = await this.inflate(extent.host, extent.sectors);
        into.set(cluster.subarray(extent.within, extent.within + extent.length));
      }
    }
  }

  /** Reads from the backing file; what lies beyond its end (or with none) reads as zeros. */
  private async readBacking(guest: number, into: Uint8Array): Promise<void> {
    const available =
      this.backing === undefined
        ? 0
        : Math.max(0, Math.min(into.length, this.backing.size - guest));
    if (available > 0) await this.backing?.read(guest, into.subarray(0, available));
    into.fill(0, available);
  }

  private async inflate(host: number, sectors: number): Promise<Uint8Array> {
    const last = this.lastInflated;
    if (last?.host === host) return last.data;
    const data = await readCompressedCluster(this.file, host, sectors, this.clusterSize);
    this.lastInflated = { host, data };
    return data;
  }

  /** A cluster was freed: drop cached copies of what it held. */
  private forget(offset: number): void {
    this.tables.forget(offset);
    this.lastInflated = undefined;
  }

  // --- writing ---

  /** Writes without touching metadata if every cluster is already ours; false otherwise. */
  private async writeInPlace(offset: number, data: Uint8Array): Promise<boolean> {
    const segments: Segment[] = [];
    for (let done = 0; done < data.length; ) {
      const guest = offset + done;
      const cluster = Math.floor(guest / this.clusterSize);
      const within = guest - cluster * this.clusterSize;
      const n = Math.min(this.clusterSize - within, data.length - done);
      const mapped = await this.mapping(cluster);
      if (mapped.kind !== 'data' || !mapped.copied) return false;
      segments.push({ position: mapped.host + within, data: data.subarray(done, done + n) });
      done += n;
    }
    this.checkNotMetadata(segments);
    await this.file.writeScattered(segments);
    return true;
  }

  private async writeAllocating(offset: number, data: Uint8Array): Promise<void> {
    const spanBytes = this.l2Entries * this.clusterSize;
    for (let done = 0; done < data.length; ) {
      const guest = offset + done;
      const l1Index = Math.floor(guest / spanBytes);
      const n = Math.min((l1Index + 1) * spanBytes - guest, data.length - done);
      await this.writeSpan(l1Index, guest, data.subarray(done, done + n));
      done += n;
    }
  }

  /**
   * A write within the range of one L2 table. Everything is read and checked before the
   * first byte is written, so a corrupt entry fails the write without touching the file.
   */
  private async writeSpan(l1Index: number, offset: number, data: Uint8Array): Promise<void> {
    const current = await this.tables.lookup(l1Index);
    const inPlace: Segment[] = [];
    const replaced: Replacement[] = [];
    for (let done = 0; done < data.length; ) {
      const guest = offset + done;
      const cluster = Math.floor(guest / this.clusterSize);
      const within = guest - cluster * this.clusterSize;
      const n = Math.min(this.clusterSize - within, data.length - done);
      const piece = data.subarray(done, done + n);
      const index = cluster - l1Index * this.l2Entries;
      const old: ClusterMapping =
        current === undefined
          ? { kind: 'unallocated' }
          : decodeL2(current.view, index, this.entryFormat, this.path);
      if (old.kind === 'data' && old.copied)
        inPlace.push({ position: old.host + within, data: piece });
      else replaced.push({ index, cluster, within, piece, old });
      done += n;
    }
    // A preallocated zero cluster that is ours is reused; anything else gets a new cluster
    // and the old one (shared with a snapshot, compressed, or none) keeps its content.
    const reusable = replaced.map(({ old }) =>
      old.kind === 'zero' && old.copied && old.host !== 0 ? old.host : undefined,
    );
    this.checkNotMetadata([
      ...inPlace,
      ...reusable.flatMap((host) => (host === undefined ? [] : [{ position: host, data }])),
    ]);
    await this.checkReleasable(
      replaced.filter((_, i) => reusable[i] === undefined).map((r) => r.old),
    );
    const contents: Uint8Array[] = [];
    for (const replacement of replaced) contents.push(await this.wholeCluster(replacement));
    if (replaced.length === 0) return this.file.writeScattered(inPlace);

    const table = await this.tables.writable(l1Index);
    const fresh = await this.allocate(reusable.filter((host) => host === undefined).length);
    let nextFresh = 0;
    const targets = reusable.map((host) => host ?? fresh[nextFresh++] ?? 0);
    await this.file.writeScattered([
      ...inPlace,
      ...contents.map((content, i) => ({ position: targets[i] ?? 0, data: content })),
    ]);
    for (const [i, { index }] of replaced.entries()) encodeData(table.view, index, targets[i] ?? 0);
    await this.writeTableRange(table, replaced);
    for (const [i, { old }] of replaced.entries()) {
      if (reusable[i] === undefined) await this.releaseMapping(old);
    }
  }

  /** The full new content of a replaced cluster: its old content overlaid with the write. */
  private async wholeCluster({ cluster, within, piece, old }: Replacement): Promise<Uint8Array> {
    if (within === 0 && piece.length === this.clusterSize) return piece;
    const content = new Uint8Array(this.clusterSize);
    switch (old.kind) {
      case 'unallocated':
        await this.readBacking(cluster * this.clusterSize, content);
        break;
      case 'data':
        await this.file.readZeroFilled(old.host, content);
        break;
      case 'compressed':
        content.set(await this.inflate(old.host, old.sectors));
        break;
      case 'zero':
        break;
    }
    content.set(piece, within);
    return content;
  }

  /** The host bytes a mapping holds a reference to, if any. */
  private held(old: ClusterMapping): { offset: number; bytes: number } | undefined {
    switch (old.kind) {
      case 'data':
        return { offset: old.host, bytes: this.clusterSize };
      case 'zero':
        return old.host === 0 ? undefined : { offset: old.host, bytes: this.clusterSize };
      case 'compressed':
        return { offset: old.host - (old.host % 512), bytes: old.sectors * 512 };
      case 'unallocated':
        return undefined;
    }
  }

  /** Fails, before anything is written, if the mappings hold references that do not exist. */
  private async checkReleasable(olds: readonly ClusterMapping[]): Promise<void> {
    for (const old of olds) {
      const held = this.held(old);
      if (held !== undefined) await this.writableRefcounts().checkHeld(held.offset, held.bytes);
    }
  }

  private async releaseMapping(old: ClusterMapping): Promise<void> {
    const held = this.held(old);
    if (held !== undefined) await this.writableRefcounts().release(held.offset, held.bytes);
  }

  private allocate(count: number): Promise<number[]> {
    return count === 0 ? Promise.resolve([]) : this.writableRefcounts().allocate(count);
  }

  /** Writes the L2 entries from the first changed to the last in one go. */
  private writeTableRange(table: L2Table, changed: readonly { index: number }[]): Promise<void> {
    const indices = changed.map(({ index }) => index);
    return this.tables.writeEntries(table, Math.min(...indices), Math.max(...indices) + 1);
  }

  /** Refuses writes that a corrupt L2 entry aims at the header or the top-level tables. */
  private checkNotMetadata(segments: readonly Segment[]): void {
    const refcounts = this.writableRefcounts();
    const tableStart = refcounts.tableOffset;
    const tableEnd = tableStart + refcounts.tableClusters * this.clusterSize;
    for (const { position } of segments) {
      const start = position - (position % this.clusterSize);
      if (
        start < this.clusterSize ||
        this.tables.overlapsL1(start, this.clusterSize) ||
        (start < tableEnd && tableStart < start + this.clusterSize)
      ) {
        throw new ImageError('corrupt', this.path, `data cluster at ${start} overlaps metadata`);
      }
    }
  }

  // --- discarding ---

  private async discardLocked(offset: number, length: number): Promise<void> {
    const cs = this.clusterSize;
    const end = offset + length;
    // Whole clusters become zero clusters or unallocated; the partial edges are written.
    // At the end of the disk, the part of the last cluster beyond it does not count.
    const wholeStart = Math.min(end, Math.ceil(offset / cs) * cs);
    const wholeEnd = Math.max(
      wholeStart,
      end === this.size ? Math.ceil(end / cs) * cs : Math.floor(end / cs) * cs,
    );
    await this.zeroPartial(offset, wholeStart);
    if (wholeEnd > wholeStart) await this.zeroWhole(wholeStart / cs, wholeEnd / cs);
    await this.zeroPartial(wholeEnd, Math.max(wholeEnd, end));
  }

  /** Zeroes [start, end), which lies within one cluster. */
  private async zeroPartial(start: number, end: number): Promise<void> {
    if (start >= end) return;
    if (await this.readsAsZero(Math.floor(start / this.clusterSize))) return;
    await this.writeAllocating(start, new Uint8Array(end - start));
  }

  private async readsAsZero(cluster: number): Promise<boolean> {
    const mapped = await this.mapping(cluster);
    return mapped.kind === 'zero' || (mapped.kind === 'unallocated' && this.backing === undefined);
  }

  /** Makes clusters [first, end) read as zeros, freeing what they held. */
  private async zeroWhole(first: number, end: number): Promise<void> {
    if (this.header.version === 2 && this.backing !== undefined) {
      // Without the zero flag, an unallocated cluster would show the backing file.
      const zeros = new Uint8Array(this.clusterSize);
      for (let cluster = first; cluster < end; cluster++) {
        if (!(await this.readsAsZero(cluster))) {
          await this.writeAllocating(cluster * this.clusterSize, zeros);
        }
      }
      return;
    }
    const zeroFlag = this.backing !== undefined;
    const isTarget = (mapped: ClusterMapping) =>
      (mapped.kind === 'zero' && mapped.host === 0) || (!zeroFlag && mapped.kind === 'unallocated');
    for (let cluster = first; cluster < end; ) {
      const l1Index = Math.floor(cluster / this.l2Entries);
      const spanEnd = Math.min(end, (l1Index + 1) * this.l2Entries);
      const base = l1Index * this.l2Entries;
      const current = await this.tables.lookup(l1Index);
      const changes: { index: number; old: ClusterMapping }[] = [];
      for (let c = cluster; c < spanEnd && (current !== undefined || zeroFlag); c++) {
        const old: ClusterMapping =
          current === undefined
            ? { kind: 'unallocated' }
            : decodeL2(current.view, c - base, this.entryFormat, this.path);
        if (!isTarget(old)) changes.push({ index: c - base, old });
      }
      cluster = spanEnd;
      if (changes.length === 0) continue;
      await this.checkReleasable(changes.map(({ old }) => old));
      const table = await this.tables.writable(l1Index);
      for (const { index } of changes) {
        if (zeroFlag) encodeZero(table.view, index);
        else encodeUnallocated(table.view, index);
      }
      await this.writeTableRange(table, changes);
      for (const { old } of changes) await this.releaseMapping(old);
    }
  }

  // --- state ---

  private checkOpen(): void {
    if (this.closed) throw new ImageError('io', this.path, 'image is closed');
  }

  private checkWritable(offset: number, length: number): void {
    this.checkOpen();
    if (this.readOnly) throw new ImageError('read-only', this.path, 'image is read-only');
    checkRange(this.path, this.size, offset, length);
  }

  private writableRefcounts(): Refcounts {
    if (this.refcounts === undefined) {
      throw new ImageError('read-only', this.path, 'image is read-only');
    }
    return this.refcounts;
  }
}

/** Opens the backing file named in the header, relative to the image's own directory. */
async function openBackingFile(
  path: string,
  header: Qcow2Header,
  options: Qcow2OpenOptions,
): Promise<BlockImage | undefined> {
  const name = header.backingFile;
  if (name === undefined) return undefined;
  if (name.startsWith('json:')) {
    throw new ImageError('unsupported', path, `backing file "${name}" is a json: specification`);
  }
  const format = header.backingFormat;
  if (format !== undefined && format !== 'raw' && format !== 'qcow2') {
    throw new ImageError('unsupported', path, `backing file format "${format}"`);
  }
  const backingPath = resolve(dirname(path), name);
  try {
    return await options.openBacking(backingPath, format);
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    throw new ImageError(error.code, path, `backing file: ${error.message}`, { cause: error });
  }
}
