import { ImageFormatError } from '../errors.js';

// The "newc" (SVR4, no CRC) cpio format that Linux unpacks into its rootfs, as described in
// Documentation/driver-api/early-userspace/buffer-format.rst. Each entry is a 110-byte ASCII
// header (the magic "070701" and thirteen 8-digit hex fields), the NUL-terminated name padded
// to a multiple of 4 bytes (counting from the header's start), then the data padded the same
// way. A regular file's data is its contents, a symlink's is its target; the archive ends with
// an entry named TRAILER!!!.

const MAGIC = '070701';
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';
/** Linux's PATH_MAX, which counts the terminating NUL. */
export const PATH_MAX = 4096;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

export type CpioEntryType = 'file' | 'directory' | 'symlink' | 'char' | 'block';

const TYPE_BITS: Record<CpioEntryType, number> = {
  file: S_IFREG,
  directory: S_IFDIR,
  symlink: S_IFLNK,
  char: S_IFCHR,
  block: S_IFBLK,
};

/** One member of an archive, as the writer takes it and the reader gives it back. */
export interface CpioEntry {
  type: CpioEntryType;
  /** Relative and normalised: no leading '/', no '.' or '..' components. */
  path: string;
  /** Permission bits (0o7777); the file-type bits come from `type`. */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  nlink: number;
  /** A file's contents, a symlink's target; empty for the other types. */
  data: Uint8Array;
  /** Device number of a char or block node; 0 otherwise. */
  rdevMajor: number;
  rdevMinor: number;
}

/** Attributes a caller may set on any entry; the rest have deterministic defaults. */
export interface CpioAttributes {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Normalises an archive name: collapses repeated '/', drops '.' components and a trailing '/'.
 * Throws ImageFormatError for names that are empty, absolute, contain NUL or a '..' component,
 * or are longer than PATH_MAX bytes with their NUL.
 */
export function normaliseName(name: string): string {
  if (name.includes('\0'))
    throw new ImageFormatError(`cpio name contains NUL: ${JSON.stringify(name)}`);
  if (name.startsWith('/'))
    throw new ImageFormatError(`cpio name is absolute: ${JSON.stringify(name)}`);
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new ImageFormatError(`cpio name has a '..' component: ${JSON.stringify(name)}`);
  }
  const normal = parts.join('/');
  if (normal === '') throw new ImageFormatError(`cpio name is empty: ${JSON.stringify(name)}`);
  if (encoder.encode(normal).length + 1 > PATH_MAX) {
    throw new ImageFormatError(
      `cpio name is longer than PATH_MAX (${PATH_MAX}): ${normal.slice(0, 60)}…`,
    );
  }
  return normal;
}

function checkField(what: string, value: number, path: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new ImageFormatError(`cpio ${what} of ${path} does not fit 32 bits: ${value}`);
  }
  return value;
}

const parentOf = (path: string): string | undefined => {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? undefined : path.slice(0, slash);
};

/**
 * Collects entries and serialises them as one newc archive. Entries keep the order they were
 * added in; a directory implied by a path is added, just before it, if it is not there yet.
 * Output is deterministic: inode numbers count up from 1 in archive order, mtime defaults to 0.
 */
export class CpioWriter {
  readonly #entries = new Map<string, CpioEntry>();
  /** Directories added only because a path needed them; an explicit add may still set them. */
  readonly #implied = new Set<string>();
  readonly #defaults: Required<Omit<CpioAttributes, 'mode'>>;

  constructor(defaults: Omit<CpioAttributes, 'mode'> = {}) {
    this.#defaults = { uid: defaults.uid ?? 0, gid: defaults.gid ?? 0, mtime: defaults.mtime ?? 0 };
  }

  addFile(path: string, data: Uint8Array | string, attributes: CpioAttributes = {}): this {
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    return this.#add('file', path, bytes, attributes, 0o644);
  }

  addDirectory(path: string, attributes: CpioAttributes = {}): this {
    return this.#add('directory', path, new Uint8Array(0), attributes, 0o755);
  }

  addSymlink(path: string, target: string, attributes: CpioAttributes = {}): this {
    if (target === '' || target.includes('\0') || encoder.encode(target).length + 1 > PATH_MAX) {
      throw new ImageFormatError(`bad symlink target for ${path}: ${JSON.stringify(target)}`);
    }
    return this.#add('symlink', path, encoder.encode(target), attributes, 0o777);
  }

  addDevice(
    path: string,
    type: 'char' | 'block',
    major: number,
    minor: number,
    attributes: CpioAttributes = {},
  ): this {
    return this.#add(type, path, new Uint8Array(0), attributes, 0o600, major, minor);
  }

  /** Adds an entry as the reader returns it (its nlink is recomputed). */
  addEntry(entry: CpioEntry): this {
    const { mode, uid, gid, mtime } = entry;
    const attributes = { mode, uid, gid, mtime };
    return this.#add(
      entry.type,
      entry.path,
      entry.data,
      attributes,
      mode,
      entry.rdevMajor,
      entry.rdevMinor,
    );
  }

  /** The entry at `path` (normalised first), if there is one. */
  get(path: string): CpioEntry | undefined {
    return this.#entries.get(normaliseName(path));
  }

  /** All entries in archive order. */
  entries(): CpioEntry[] {
    return [...this.#entries.values()];
  }

  /** The archive: every entry, then the trailer. */
  finish(): Uint8Array {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let ino = 1;
    const push = (chunk: Uint8Array) => {
      chunks.push(chunk);
      size += chunk.length;
    };
    for (const entry of this.#entries.values()) {
      for (const chunk of encodeEntry(entry, ino++)) push(chunk);
    }
    for (const chunk of encodeTrailer()) push(chunk);
    const out = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  #add(
    type: CpioEntryType,
    rawPath: string,
    data: Uint8Array,
    attributes: CpioAttributes,
    defaultMode: number,
    rdevMajor = 0,
    rdevMinor = 0,
  ): this {
    const path = normaliseName(rawPath);
    const mode = attributes.mode ?? defaultMode;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new ImageFormatError(
        `cpio mode of ${path} is not permission bits: 0o${mode.toString(8)}`,
      );
    }
    const entry: CpioEntry = {
      type,
      path,
      mode,
      uid: checkField('uid', attributes.uid ?? this.#defaults.uid, path),
      gid: checkField('gid', attributes.gid ?? this.#defaults.gid, path),
      mtime: checkField('mtime', attributes.mtime ?? this.#defaults.mtime, path),
      nlink: type === 'directory' ? 2 : 1,
      data,
      rdevMajor: checkField('rdev major', rdevMajor, path),
      rdevMinor: checkField('rdev minor', rdevMinor, path),
    };
    checkField('size', data.length, path);
    const existing = this.#entries.get(path);
    if (existing !== undefined) {
      if (type !== 'directory' || !this.#implied.has(path)) {
        throw new ImageFormatError(`duplicate cpio entry: ${path}`);
      }
      // An explicit directory takes over the attributes of one that was only implied.
      this.#implied.delete(path);
      this.#entries.set(path, entry);
      return this;
    }
    this.#addParents(path);
    this.#entries.set(path, entry);
    return this;
  }

  #addParents(path: string): void {
    const missing: string[] = [];
    for (let parent = parentOf(path); parent !== undefined; parent = parentOf(parent)) {
      const existing = this.#entries.get(parent);
      if (existing !== undefined) {
        if (existing.type !== 'directory') {
          throw new ImageFormatError(
            `cpio entry ${path} lies under ${parent}, which is a ${existing.type}`,
          );
        }
        break;
      }
      missing.push(parent);
    }
    for (const parent of missing.reverse()) {
      this.#implied.add(parent);
      this.#entries.set(parent, {
        type: 'directory',
        path: parent,
        mode: 0o755,
        uid: this.#defaults.uid,
        gid: this.#defaults.gid,
        mtime: this.#defaults.mtime,
        nlink: 2,
        data: new Uint8Array(0),
        rdevMajor: 0,
        rdevMinor: 0,
      });
    }
  }
}

const hex8 = (value: number): string => value.toString(16).toUpperCase().padStart(8, '0');
const pad4 = (length: number): number => (4 - (length % 4)) % 4;

function encodeHeader(fields: number[], name: string): Uint8Array {
  const nameBytes = encoder.encode(name);
  const header = MAGIC + fields.map(hex8).join('') + hex8(nameBytes.length + 1);
  const head = new Uint8Array(
    HEADER_SIZE + nameBytes.length + 1 + pad4(HEADER_SIZE + nameBytes.length + 1),
  );
  head.set(encoder.encode(`${header}${hex8(0)}`), 0);
  head.set(nameBytes, HEADER_SIZE);
  return head;
}

function encodeEntry(entry: CpioEntry, ino: number): Uint8Array[] {
  const mode = TYPE_BITS[entry.type] | entry.mode;
  const { uid, gid, nlink, mtime, data, rdevMajor, rdevMinor } = entry;
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor (namesize, check)
  const fields = [ino, mode, uid, gid, nlink, mtime, data.length, 0, 0, rdevMajor, rdevMinor];
  return [encodeHeader(fields, entry.path), data, new Uint8Array(pad4(data.length))];
}

function encodeTrailer(): Uint8Array[] {
  return [encodeHeader([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], TRAILER)];
}

type Fields12 = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

function typeOf(mode: number, path: string): CpioEntryType {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'directory';
    case S_IFLNK:
      return 'symlink';
    case S_IFCHR:
      return 'char';
    case S_IFBLK:
      return 'block';
    default:
      throw new ImageFormatError(
        `cpio entry ${path} has unsupported file type 0o${(mode & S_IFMT).toString(8)}`,
      );
  }
}

/**
 * Reads a newc archive (or several concatenated, as Linux accepts) into its entries. A leading
 * "./" is dropped from names and the archive root "." is skipped; regular files that are hard
 * links share the data of the link that carries it. Throws ImageFormatError for a bad magic,
 * a truncated header, name or body, a bad hex field, a bad name or a missing trailer.
 */
export function readCpio(archive: Uint8Array): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const text = (start: number, length: number) =>
    String.fromCharCode(...archive.subarray(start, start + length));
  let offset = 0;
  let sawTrailer = false;
  const hardLinks: Array<{ entry: CpioEntry; key: string }> = [];
  while (offset < archive.length) {
    if (sawTrailer) {
      // Between concatenated archives, and after the last one, only NUL padding may sit.
      if (archive[offset] === 0) {
        offset++;
        continue;
      }
      sawTrailer = false;
    }
    if (archive.length - offset < HEADER_SIZE) {
      throw new ImageFormatError(`cpio header truncated at offset ${offset}`);
    }
    const magic = text(offset, 6);
    if (magic !== MAGIC) {
      const hint = magic === '070702' ? ' (the CRC variant is not supported)' : '';
      throw new ImageFormatError(
        `bad cpio magic ${JSON.stringify(magic)} at offset ${offset}${hint}`,
      );
    }
    const field = (index: number): number => {
      const digits = text(offset + 6 + index * 8, 8);
      if (!/^[0-9a-fA-F]{8}$/.test(digits)) {
        throw new ImageFormatError(
          `bad cpio hex field ${JSON.stringify(digits)} at offset ${offset + 6 + index * 8}`,
        );
      }
      return Number.parseInt(digits, 16);
    };
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    const [
      ino,
      mode,
      uid,
      gid,
      nlink,
      mtime,
      fileSize,
      devMajor,
      devMinor,
      rdevMajor,
      rdevMinor,
      nameSize,
    ] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(field) as Fields12;
    field(12);
    const nameStart = offset + HEADER_SIZE;
    if (nameSize === 0 || nameStart + nameSize > archive.length) {
      throw new ImageFormatError(`cpio name truncated at offset ${nameStart}`);
    }
    if (archive[nameStart + nameSize - 1] !== 0) {
      throw new ImageFormatError(`cpio name at offset ${nameStart} is not NUL-terminated`);
    }
    if (nameSize > PATH_MAX)
      throw new ImageFormatError(`cpio name at offset ${nameStart} is longer than PATH_MAX`);
    let rawName: string;
    try {
      rawName = decoder.decode(archive.subarray(nameStart, nameStart + nameSize - 1));
    } catch (cause) {
      throw new ImageFormatError(`cpio name at offset ${nameStart} is not UTF-8`, { cause });
    }
    const dataStart = nameStart + nameSize + pad4(HEADER_SIZE + nameSize);
    const dataEnd = dataStart + fileSize;
    if (dataEnd > archive.length) {
      throw new ImageFormatError(
        `cpio data of ${JSON.stringify(rawName)} truncated at offset ${dataStart}`,
      );
    }
    offset = dataEnd + pad4(fileSize);
    if (rawName === TRAILER) {
      sawTrailer = true;
      continue;
    }
    if (rawName === '.' || rawName === './') continue;
    const path = normaliseName(rawName);
    const type = typeOf(mode, path);
    if (fileSize > 0 && type !== 'file' && type !== 'symlink') {
      throw new ImageFormatError(`cpio ${type} entry ${path} carries ${fileSize} bytes of data`);
    }
    const entry: CpioEntry = {
      type,
      path,
      mode: mode & 0o7777,
      uid,
      gid,
      mtime,
      nlink,
      data: new Uint8Array(archive.subarray(dataStart, dataEnd)),
      rdevMajor,
      rdevMinor,
    };
    entries.push(entry);
    if (type === 'file' && nlink > 1)
      hardLinks.push({ entry, key: `${ino}:${devMajor}:${devMinor}` });
  }
  if (!sawTrailer) throw new ImageFormatError('cpio archive ends without a TRAILER!!! entry');
  // newc stores a hard-linked file's data once, with the last of its links.
  const linkData = new Map<string, Uint8Array>();
  for (const { entry, key } of hardLinks) if (entry.data.length > 0) linkData.set(key, entry.data);
  for (const { entry, key } of hardLinks) entry.data = linkData.get(key) ?? entry.data;
  return entries;
}
