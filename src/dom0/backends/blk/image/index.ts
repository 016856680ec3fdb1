/**
 * Disk images for the block backend: raw files and qcow2 (v2 and v3, with backing chains).
 */

import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ImageFile } from './file.js';
import { QCOW2_MAGIC } from './qcow2/header.js';
import { Qcow2Image } from './qcow2.js';
import { RawImage } from './raw.js';
import { type BlockImage, ImageError, type ImageFormat, type OpenImageOptions } from './types.js';

export { createRawImage } from './raw.js';
export {
  type BlockImage,
  ImageError,
  type ImageErrorCode,
  type ImageFormat,
  type OpenImageOptions,
  SECTOR_SIZE,
} from './types.js';

/** Longer chains are refused: each link holds a file open. */
const MAX_BACKING_DEPTH = 64;

/** Opens an image, probing its format unless one is given. Backing files open read-only. */
export function openImage(path: string, options: OpenImageOptions = {}): Promise<BlockImage> {
  return openInChain(path, options.format, options.readOnly ?? false, []);
}

/** The format a file's first bytes announce: qcow2 by its magic, raw otherwise. */
export async function probeFormat(path: string): Promise<ImageFormat> {
  const file = await ImageFile.open(path, false);
  try {
    const magic = new Uint8Array(4);
    const got = await file.readAt(0, magic);
    const isQcow2 = got === 4 && new DataView(magic.buffer).getUint32(0) === QCOW2_MAGIC;
    return isQcow2 ? 'qcow2' : 'raw';
  } finally {
    await file.close();
  }
}

/** Opens one link of a backing chain; `above` holds the real paths of the images above it. */
async function openInChain(
  path: string,
  format: ImageFormat | undefined,
  readOnly: boolean,
  above: readonly string[],
): Promise<BlockImage> {
  // A missing file keeps its given name here and fails as not-found when opened.
  const real = await realpath(path).catch(() => resolve(path));
  if (above.includes(real)) {
    throw new ImageError('corrupt', path, 'backing chain loops: the image is its own ancestor');
  }
  if (above.length > MAX_BACKING_DEPTH) {
    throw new ImageError('unsupported', path, `backing chain deeper than ${MAX_BACKING_DEPTH}`);
  }
  const actual = format ?? (await probeFormat(path));
  if (actual === 'raw') return RawImage.open(path, readOnly);
  return Qcow2Image.open(path, {
    readOnly,
    openBacking: (backingPath, backingFormat) =>
      openInChain(backingPath, backingFormat, true, [...above, real]),
  });
}
