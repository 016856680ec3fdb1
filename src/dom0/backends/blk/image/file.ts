/**
 * Positional I/O on a host file, with every failure turned into an ImageError naming the file.
 */

import { type FileHandle, open } from 'node:fs/promises';
import { ImageError } from './types.js';

/** Linux's IOV_MAX: the most buffers one pwritev takes. */
const MAX_BUFFERS_PER_WRITEV = 1024;

/** Bytes destined for one place in the file. */
export interface Segment {
  position: number;
  data: Uint8Array;
}

export class ImageFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string, writable: boolean): Promise<ImageFile> {
    try {
      return new ImageFile(path, await open(path, writable ? 'r+' : 'r'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new ImageError('not-found', path, 'no such file', { cause: error });
      throw new ImageError('io', path, `cannot open: ${String(error)}`, { cause: error });
    }
  }

  /** Reads up to `into.length` bytes; fewer only at the end of the file. Returns the count. */
  async readAt(position: number, into: Uint8Array): Promise<number> {
    let done = 0;
    while (done < into.length) {
      const { bytesRead } = await this.io('read', position + done, () =>
        this.handle.read(into, done, into.length - done, position + done),
      );
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /** Reads `into.length` bytes; whatever lies beyond the end of the file reads as zeros. */
  async readZeroFilled(position: number, into: Uint8Array): Promise<void> {
    const got = await this.readAt(position, into);
    if (got < into.length) into.fill(0, got);
  }

  /** Reads `into.length` bytes that must exist: a short read means the image is corrupt. */
  async readExact(position: number, into: Uint8Array, what: string): Promise<void> {
    const got = await this.readAt(position, into);
    if (got < into.length) {
      throw new ImageError(
        'corrupt',
        this.path,
        `${what} at ${position} (${into.length} bytes) lies beyond the end of the file`,
      );
    }
  }

  async writeAt(position: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.io('write', position + done, () =>
        this.handle.write(data, done, data.length - done, position + done),
      );
      done += bytesWritten;
    }
  }

  /** Writes `buffers` back to back from `position`, one system call per 1024 buffers. */
  async writevAt(position: number, buffers: readonly Uint8Array[]): Promise<void> {
    for (let first = 0; first < buffers.length; first += MAX_BUFFERS_PER_WRITEV) {
      const batch = buffers.slice(first, first + MAX_BUFFERS_PER_WRITEV);
      const total = batch.reduce((sum, b) => sum + b.length, 0);
      const { bytesWritten } = await this.io('write', position, () =>
        this.handle.writev(batch, position),
      );
      if (bytesWritten < total) {
        // A short pwritev is rare (signals, huge requests): finish the rest buffer by buffer.
        let skip = bytesWritten;
        let at = position + bytesWritten;
        for (const buffer of batch) {
          if (skip >= buffer.length) {
            skip -= buffer.length;
            continue;
          }
          await this.writeAt(at, buffer.subarray(skip));
          at += buffer.length - skip;
          skip = 0;
        }
      }
      position += total;
    }
  }

  /** Writes segments (sorting them), one system call per run of adjacent ones. */
  async writeScattered(segments: Segment[]): Promise<void> {
    segments.sort((a, b) => a.position - b.position);
    const runs: { position: number; length: number; buffers: Uint8Array[] }[] = [];
    for (const { position, data } of segments) {
      const run = runs[runs.length - 1];
      if (run === undefined || run.position + run.length !== position) {
        runs.push({ position, length: data.length, buffers: [data] });
        continue;
      }
      run.length += data.length;
      const previous = run.buffers[run.buffers.length - 1];
      if (
        previous !== undefined &&
        previous.buffer === data.buffer &&
        previous.byteOffset + previous.length === data.byteOffset
      ) {
        // Consecutive pieces of one buffer (a large guest write): one view, not many.
        run.buffers[run.buffers.length - 1] = new Uint8Array(
          data.buffer,
          previous.byteOffset,
          previous.length + data.length,
        );
      } else {
        run.buffers.push(data);
      }
    }
    await Promise.all(
      runs.map(({ position, buffers }) =>
        buffers.length === 1 && buffers[0] !== undefined
          ? this.writeAt(position, buffers[0])
          : this.writevAt(position, buffers),
      ),
    );
  }

  async size(): Promise<number> {
    return (await this.io('stat', 0, () => this.handle.stat())).size;
  }

  async isBlockDevice(): Promise<boolean> {
    return (await this.io('stat', 0, () => this.handle.stat())).isBlockDevice();
  }

  async sync(): Promise<void> {
    await this.io('fsync', 0, () => this.handle.sync());
  }

  async datasync(): Promise<void> {
    await this.io('fdatasync', 0, () => this.handle.datasync());
  }

  async close(): Promise<void> {
    await this.io('close', 0, () => this.handle.close());
  }

  private async io<T>(operation: string, position: number, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new ImageError(
        'io',
        this.path,
        `${operation} at ${position} failed: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
  }
}
