/**
 * The contract between blkback and a disk image: a virtual disk of 512-byte sectors served
 * from a host file, whatever the file's format.
 */

export type ImageFormat = 'raw' | 'qcow2';

/** A virtual disk backed by a host file. All offsets and lengths are multiples of 512. */
export interface BlockImage {
  readonly format: ImageFormat;
  /** Virtual size in bytes, a multiple of 512. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Reads `into.length` bytes at virtual byte `offset`. */
  read(offset: number, into: Uint8Array): Promise<void>;
  /** Writes `data` at virtual byte `offset`; ImageError 'read-only' on a read-only image. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Once this resolves, every write and discard that resolved before it survives a crash. */
  flush(): Promise<void>;
  /** Afterwards the range reads as zeros. */
  discard(offset: number, length: number): Promise<void>;
  /** Waits for operations in flight, then releases the file (and any backing files). */
  close(): Promise<void>;
}

export interface OpenImageOptions {
  /** Skips probing. */
  format?: ImageFormat;
  readOnly?: boolean;
}

export type ImageErrorCode =
  | 'not-found'
  | 'corrupt'
  | 'unsupported'
  | 'read-only'
  | 'out-of-range'
  | 'io';

/** A failed image operation; the message starts with the file it concerns. */
export class ImageError extends Error {
  override name = 'ImageError';
  readonly code: ImageErrorCode;
  readonly path: string;

  constructor(code: ImageErrorCode, path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options);
    this.code = code;
    this.path = path;
  }
}

export const SECTOR_SIZE = 512;

/** Throws unless [offset, offset + length) is sector-aligned and inside a disk of `size`. */
export function checkRange(path: string, size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset % SECTOR_SIZE !== 0 ||
    length % SECTOR_SIZE !== 0
  ) {
    throw new ImageError(
      'out-of-range',
      path,
      `request at ${offset} of ${length} bytes is not 512-byte aligned`,
    );
  }
  if (offset + length > size) {
    throw new ImageError(
      'out-of-range',
      path,
      `request at ${offset} of ${length} bytes goes beyond the end of the disk (${size} bytes)`,
    );
  }
}
