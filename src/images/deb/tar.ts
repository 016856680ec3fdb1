import { ImageFormatError } from '../errors.js';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

/** One tar entry; `data` is a view into the archive for files, empty otherwise. */
export interface TarEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  mtime: number;
  linkTarget: string;
  data: Uint8Array;
}

const BLOCK = 512;
const utf8 = new TextDecoder();

/** A NUL-terminated string field. */
function field(header: Uint8Array, offset: number, length: number): string {
  const bytes = header.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** An octal number field, or GNU's base-256 form (high bit set) for large values. */
function numberField(header: Uint8Array, offset: number, length: number, what: string): number {
  const first = header[offset] ?? 0;
  if (first & 0x80) {
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (header[offset + i] ?? 0);
    return value;
  }
  const text = field(header, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new ImageFormatError(`tar header has a bad ${what} "${text}"`);
  return Number.parseInt(text, 8);
}

function checksumOk(header: Uint8Array): boolean {
  const stored = numberField(header, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  return sum === stored;
}

/** Parses pax extended-header records: "<len> key=value\n" repeated. */
function paxRecords(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  const text = utf8.decode(data);
  let at = 0;
  while (at < text.length) {
    const space = text.indexOf(' ', at);
    const length = Number(text.slice(at, space));
    if (space < 0 || !Number.isInteger(length) || length <= 0) {
      throw new ImageFormatError('tar pax header has a malformed record');
    }
    const record = text.slice(space + 1, at + length - 1);
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

/**
 * Reads a POSIX ustar / GNU / pax tar archive held in memory, as dpkg-deb writes the data
 * member of a .deb. Paths keep their leading "./" stripped.
 */
export function readTar(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return entries;
    if (!checksumOk(header))
      throw new ImageFormatError(`tar header at offset ${offset} has a bad checksum`);
    const size = Number(pax.get('size') ?? numberField(header, 124, 12, 'size'));
    const dataStart = offset + BLOCK;
    if (dataStart + size > archive.length) {
      throw new ImageFormatError(`tar entry at offset ${offset} is truncated`);
    }
    const data = archive.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    const typeflag = String.fromCharCode(header[156] ?? 0);
    if (typeflag === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (typeflag === 'K') {
      longLink = field(data, 0, data.length);
      continue;
    }
    if (typeflag === 'x') {
      pax = paxRecords(data);
      continue;
    }
    if (typeflag === 'g') continue;
    const prefix = field(header, 345, 155);
    const name = field(header, 0, 100);
    const path = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    const linkTarget = pax.get('linkpath') ?? longLink ?? field(header, 157, 100);
    const type = entryType(typeflag);
    if (type !== undefined) {
      entries.push({
        path: path.replace(/^(\.\/)+/, '').replace(/\/$/, ''),
        type,
        mode: numberField(header, 100, 8, 'mode') & 0o7777,
        mtime: numberField(header, 136, 12, 'mtime'),
        linkTarget,
        data: type === 'file' ? data : new Uint8Array(0),
      });
    }
    longName = undefined;
    longLink = undefined;
    pax = new Map();
  }
  throw new ImageFormatError('tar archive ends without its end-of-archive blocks (truncated?)');
}

function entryType(typeflag: string): TarEntryType | undefined {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '5':
      return 'directory';
    default:
      return undefined; // devices and fifos do not occur in the packages we read
  }
}
