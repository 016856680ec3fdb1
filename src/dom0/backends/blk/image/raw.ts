/**
 * Raw images: the virtual disk is the file, byte for byte. A size that is not a multiple of
 * 512 is rounded up (as QEMU does); the missing tail reads as zeros.
 */

import { open } from 'node:fs/promises';
import { ImageFile } from './file.js';
import { RwLock } from './lock.js';
import { type BlockImage, checkRange, ImageError, SECTOR_SIZE } from './types.js';

/** Discard writes zeros from this one shared buffer. */
const ZERO_CHUNK = new Uint8Array(1 << 20);

export class RawImage implements BlockImage {
  readonly format = 'raw';
  /** Shared for I/O, exclusive for close, so close waits for requests in flight. */
  private readonly lock = new RwLock();
  private closed = false;

  private constructor(
    private readonly file: ImageFile,
    readonly size: number,
    readonly readOnly: boolean,
  ) {}

  static async open(path: string, readOnly: boolean): Promise<RawImage> {
    const file = await ImageFile.open(path, !readOnly);
    try {
      const bytes = (await file.isBlockDevice()) ? await deviceSize(file) : await file.size();
      return new RawImage(file, Math.ceil(bytes / SECTOR_SIZE) * SECTOR_SIZE, readOnly);
    } catch (error) {
      await file.close().catch(() => {});
      throw error;
    }
  }

  get path(): string {
    return this.file.path;
  }

  read(offset: number, into: Uint8Array): Promise<void> {
    return this.io(offset, into.length, false, () => this.file.readZeroFilled(offset, into));
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.io(offset, data.length, true, () => this.file.writeAt(offset, data));
  }

  discard(offset: number, length: number): Promise<void> {
    return this.io(offset, length, true, async () => {
      for (let done = 0; done < length; done += ZERO_CHUNK.length) {
        const chunk = Math.min(ZERO_CHUNK.length, length - done);
        await this.file.writeAt(offset + done, ZERO_CHUNK.subarray(0, chunk));
      }
    });
  }

  flush(): Promise<void> {
    return this.lock.shared(async () => {
      this.checkOpen();
      if (!this.readOnly) await this.file.datasync();
    });
  }

  close(): Promise<void> {
    return this.lock.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.file.close();
    });
  }

  private io(
    offset: number,
    length: number,
    writes: boolean,
    body: () => Promise<void>,
  ): Promise<void> {
    return this.lock.shared(async () => {
      this.checkOpen();
      if (writes && this.readOnly)
        throw new ImageError('read-only', this.path, 'image is read-only');
      checkRange(this.path, this.size, offset, length);
      await body();
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new ImageError('io', this.path, 'image is closed');
  }
}

/** Creates (or truncates) a raw image of `size` bytes; the file is sparse where it can be. */
export async function createRawImage(path: string, size: number): Promise<void> {
  if (!Number.isSafeInteger(size) || size < 0 || size % SECTOR_SIZE !== 0) {
    throw new ImageError('out-of-range', path, `size ${size} is not a multiple of 512`);
  }
  try {
    const handle = await open(path, 'w');
    try {
      await handle.truncate(size);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new ImageError('io', path, `cannot create: ${String(error)}`, { cause: error });
  }
}

/** stat() says 0 for a block device and Node has no lseek(SEEK_END): probe with 1-byte reads. */
async function deviceSize(file: ImageFile): Promise<number> {
  const probe = new Uint8Array(1);
  const readable = async (offset: number) => (await file.readAt(offset, probe)) === 1;
  if (!(await readable(0))) return 0;
  let low = 0; // known readable
  let high = SECTOR_SIZE; // first guess at an unreadable offset
  while (await readable(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await readable(middle)) low = middle;
    else high = middle;
  }
  return high;
}
