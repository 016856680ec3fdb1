/**
 * Compressed clusters: raw deflate (zlib without its header), starting at any byte and
 * running over whole sectors, so the data may be followed by the next cluster's bytes.
 */

import { constants, inflateRawSync } from 'node:zlib';
import type { ImageFile } from '../file.js';
import { ImageError } from '../types.js';

export async function readCompressedCluster(
  file: ImageFile,
  host: number,
  sectors: number,
  clusterSize: number,
): Promise<Uint8Array> {
  const input = new Uint8Array(sectors * 512 - (host % 512));
  const got = await file.readAt(host, input);
  if (got === 0) {
    throw new ImageError('corrupt', file.path, `compressed cluster at ${host} is beyond the file`);
  }
  let output: Uint8Array;
  try {
    // Like QEMU, stop once a whole cluster has come out, ended stream or not; more than a
    // cluster is an error rather than an allocation of whatever size the data claims.
    output = inflateRawSync(input.subarray(0, got), {
      finishFlush: constants.Z_SYNC_FLUSH,
      maxOutputLength: clusterSize,
    });
  } catch (error) {
    throw new ImageError('corrupt', file.path, `compressed cluster at ${host} does not inflate`, {
      cause: error,
    });
  }
  if (output.length !== clusterSize) {
    throw new ImageError(
      'corrupt',
      file.path,
      `compressed cluster at ${host} inflates to ${output.length} bytes, not ${clusterSize}`,
    );
  }
  return output;
}
