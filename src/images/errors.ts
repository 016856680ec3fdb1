/** Input that is not what its format says: a truncated bzImage, a bad ELF, a corrupt archive. */
export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
}

/** Fetching or caching a guest image failed: no apt lists, no network, a bad checksum. */
export class ImageFetchError extends Error {
  override name = 'ImageFetchError';
}
