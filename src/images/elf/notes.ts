import { ImageFormatError } from '../errors.js';
import { cString, hex } from './bytes.js';

/** One ELF note, with its descriptor as a view into the file's bytes. */
export interface ElfNote {
  /** The owner, e.g. "Xen", "GNU", "Linux" (the name without its terminating NUL). */
  name: string;
  type: number;
  desc: Uint8Array;
  /** File offset of the note's header. */
  offset: number;
  /** File offset of the descriptor. */
  descOffset: number;
}

const NOTE_HEADER_SIZE = 12;

/**
 * Reads the notes in `size` bytes at file offset `start` (a PT_NOTE segment or an SHT_NOTE
 * section). Each note is a header of three 32-bit words (namesz, descsz, type), then the
 * name and the descriptor, each padded to the note alignment. That alignment is 4 bytes in
 * practice for both classes (Linux and Xen write 4-aligned notes even in ELF64 files, and
 * Xen's libelf always steps by 4); a container aligned to 8 holds 8-aligned notes (GNU
 * property notes), as binutils reads them.
 *
 * `where` names the container in error messages, e.g. "PT_NOTE segment 4".
 */
export function parseNotes(
  data: Uint8Array,
  start: number,
  size: number,
  containerAlign: number,
  where: string,
): ElfNote[] {
  if (start + size > data.length) {
    throw new ImageFormatError(
      `${where} at offset ${hex(start)} (size ${hex(size)}) runs past the end of the file (${hex(data.length)} bytes)`,
    );
  }
  const align = containerAlign === 8 ? 8 : 4;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = start + size;
  const notes: ElfNote[] = [];
  let pos = start;
  while (pos < end) {
    if (end - pos < NOTE_HEADER_SIZE) {
      throw new ImageFormatError(
        `${where}: note header at offset ${hex(pos)} is truncated (${end - pos} bytes left, 12 needed)`,
      );
    }
    const namesz = view.getUint32(pos, true);
    const descsz = view.getUint32(pos + 4, true);
    const type = view.getUint32(pos + 8, true);
    const nameStart = pos + NOTE_HEADER_SIZE;
    if (namesz > end - nameStart) {
      throw new ImageFormatError(
        `${where}: note at offset ${hex(pos)} has namesz ${hex(namesz)} past the end of its container (${hex(end - nameStart)} bytes left)`,
      );
    }
    const descOffset = start + alignUp(nameStart + namesz - start, align);
    if (descOffset > end || descsz > end - descOffset) {
      throw new ImageFormatError(
        `${where}: note at offset ${hex(pos)} has descsz ${hex(descsz)} past the end of its container (${hex(Math.max(0, end - descOffset))} bytes left)`,
      );
    }
    notes.push({
      name: cString(data.subarray(nameStart, nameStart + namesz)),
      type,
      desc: data.subarray(descOffset, descOffset + descsz),
      offset: pos,
      descOffset,
    });
    // The last note's padding may be cut off by the container's end; that is harmless.
    pos = Math.min(end, start + alignUp(descOffset + descsz - start, align));
  }
  return notes;
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}
