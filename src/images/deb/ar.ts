import { ImageFormatError } from '../errors.js';

/** One member of a Unix `ar` archive, as a view into the archive's bytes. */
export interface ArMember {
  name: string;
  data: Uint8Array;
}

const GLOBAL_HEADER = '!<arch>\n';
const MEMBER_HEADER_SIZE = 60;

/**
 * Reads a Unix ar archive (the outer container of a .deb). Debian writes the common
 * format: 16-byte names ending in '/' or spaces, decimal sizes, members padded to even
 * offsets.
 */
export function readAr(archive: Uint8Array): ArMember[] {
  const ascii = new TextDecoder('latin1');
  if (ascii.decode(archive.subarray(0, GLOBAL_HEADER.length)) !== GLOBAL_HEADER) {
    throw new ImageFormatError('not an ar archive: missing "!<arch>" header');
  }
  const members: ArMember[] = [];
  let offset = GLOBAL_HEADER.length;
  while (offset < archive.length) {
    if (offset + MEMBER_HEADER_SIZE > archive.length) {
      throw new ImageFormatError(`ar archive truncated in a member header at offset ${offset}`);
    }
    const header = ascii.decode(archive.subarray(offset, offset + MEMBER_HEADER_SIZE));
    if (header.slice(58, 60) !== '`\n') {
      throw new ImageFormatError(`ar member header at offset ${offset} has a bad terminator`);
    }
    const name = header.slice(0, 16).trimEnd().replace(/\/$/, '');
    const sizeField = header.slice(48, 58).trim();
    if (!/^\d+$/.test(sizeField)) {
      throw new ImageFormatError(`ar member "${name}" has a bad size field "${sizeField}"`);
    }
    const size = Number(sizeField);
    const start = offset + MEMBER_HEADER_SIZE;
    if (start + size > archive.length) {
      throw new ImageFormatError(
        `ar member "${name}" is truncated: needs ${size} bytes, ${archive.length - start} left`,
      );
    }
    members.push({ name, data: archive.subarray(start, start + size) });
    offset = start + size + (size & 1);
  }
  return members;
}
