import { type CompressionFormat, decompress, detectCompression } from '../decompress/index.js';
import { cString, hex } from '../elf/bytes.js';
import { isElf } from '../elf/index.js';
import { ImageFormatError } from '../errors.js';

// The x86 boot protocol (Linux Documentation/arch/x86/boot.rst). A bzImage starts with the
// real-mode setup code: a 512-byte boot sector whose end (from 0x1f1) is the setup header,
// then `setup_sects` more sectors. The protected-mode code follows at (setup_sects + 1) * 512;
// inside it, at `payload_offset`, is the compressed vmlinux, followed (as Linux's
// size_append writes it) by the vmlinux size as 4 little-endian bytes.

const SECTOR = 512;
const BOOT_FLAG = 0xaa55;
const HDRS_MAGIC = 0x53726448; // "HdrS" read little-endian
/** Protocol 2.08 added payload_offset/payload_length: the oldest we can extract from (as Xen). */
const MIN_PROTOCOL = 0x0208;

// loadflags
export const LOADED_HIGH = 1 << 0;
export const KASLR_FLAG = 1 << 1;
export const QUIET_FLAG = 1 << 5;
export const KEEP_SEGMENTS = 1 << 6;
export const CAN_USE_HEAP = 1 << 7;

// xloadflags
export const XLF_KERNEL_64 = 1 << 0;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;
export const XLF_EFI_HANDOVER_32 = 1 << 2;
export const XLF_EFI_HANDOVER_64 = 1 << 3;
export const XLF_EFI_KEXEC = 1 << 4;
export const XLF_5LEVEL = 1 << 5;
export const XLF_5LEVEL_ENABLED = 1 << 6;

/** A bzImage's setup header and compressed payload. Fields a protocol version lacks are
 * absent. */
export interface BzImage {
  /** setup_sects as the loader must use it (a stored 0 means 4). */
  setupSects: number;
  rootFlags: number;
  /** Size of the protected-mode code in 16-byte units. */
  syssize: number;
  vidMode: number;
  rootDev: number;
  bootFlag: number;
  /** Boot protocol version, e.g. 0x020f. */
  protocol: number;
  /** The same as "major.minor", e.g. "2.15". */
  protocolVersion: string;
  /** The kernel_version string (`uname -a` style), empty when the pointer is 0. */
  kernelVersion: string;
  typeOfLoader: number;
  loadflags: number;
  code32Start: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatableKernel: boolean;
  minAlignment: number;
  cmdlineSize: number;
  hardwareSubarch: number;
  payloadOffset: number;
  payloadLength: number;
  /** 2.10+: preferred load address. */
  prefAddress?: bigint;
  /** 2.10+: bytes of memory the kernel needs from its load address during boot. */
  initSize?: number;
  /** 2.11+: offset of the EFI handover entry point. */
  handoverOffset?: number;
  /** 2.12+: XLF_* bits. */
  xloadflags?: number;
  /** 2.15+: offset of kernel_info from the protected-mode code start. */
  kernelInfoOffset?: number;
  /** File offset of the protected-mode code: (setupSects + 1) * 512. */
  protectedModeOffset: number;
  /** The compressed payload, including the 4-byte size trailer (a view into the file). */
  payload: Uint8Array;
  /** The payload's compression, recognised by its magic; undefined if unknown. */
  compression: CompressionFormat | undefined;
  /** The vmlinux size from the payload's 4-byte trailer. */
  vmlinuxSize: number;
}

/** Whether `data` has the boot-sector flag and the "HdrS" setup-header magic. */
export function isBzImage(data: Uint8Array): boolean {
  if (data.length < 0x206) return false;
  const view = viewOf(data);
  return view.getUint16(0x1fe, true) === BOOT_FLAG && view.getUint32(0x202, true) === HDRS_MAGIC;
}

/** Parses a bzImage's setup header and locates its compressed payload. */
export function parseBzImage(data: Uint8Array): BzImage {
  if (data.length < 0x206) {
    throw new ImageFormatError(
      `bzImage truncated: ${data.length} bytes, the setup header magic alone needs 0x206`,
    );
  }
  const view = viewOf(data);
  const u8 = (at: number): number => view.getUint8(at);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const magic = u32(0x202);
  if (magic !== HDRS_MAGIC) {
    throw new ImageFormatError(
      `not a bzImage: setup header magic at offset 0x202 is ${hex(magic)}, not "HdrS" (0x53726448)`,
    );
  }
  const bootFlag = u16(0x1fe);
  if (bootFlag !== BOOT_FLAG) {
    throw new ImageFormatError(
      `not a bzImage: boot flag at offset 0x1fe is ${hex(bootFlag)}, not 0xaa55`,
    );
  }
  const protocol = u16(0x206);
  const protocolVersion = `${protocol >> 8}.${protocol & 0xff}`;
  if (protocol < MIN_PROTOCOL) {
    throw new ImageFormatError(
      `bzImage boot protocol ${protocolVersion} (offset 0x206) is older than 2.08, which has no payload fields`,
    );
  }
  const setupSects = u8(0x1f1) || 4;
  const protectedModeOffset = (setupSects + 1) * SECTOR;
  if (data.length < protectedModeOffset) {
    throw new ImageFormatError(
      `bzImage truncated: ${data.length} bytes, but its setup code (setup_sects ${setupSects} at offset 0x1f1) needs ${protectedModeOffset}`,
    );
  }
  // From here the whole setup header (it ends at 0x26c) is inside the file.
  const syssize = u32(0x1f4);
  const codeEnd = protectedModeOffset + syssize * 16;
  if (codeEnd > data.length) {
    throw new ImageFormatError(
      `bzImage truncated: syssize (offset 0x1f4) says the protected-mode code ends at ${hex(codeEnd)}, the file has ${hex(data.length)} bytes`,
    );
  }
  const kernelVersionPtr = u16(0x20e);
  let kernelVersion = '';
  if (kernelVersionPtr !== 0) {
    const at = kernelVersionPtr + 0x200;
    if (at >= protectedModeOffset) {
      throw new ImageFormatError(
        `bzImage kernel_version pointer ${hex(kernelVersionPtr)} (offset 0x20e) points outside the setup code`,
      );
    }
    kernelVersion = cString(data.subarray(at, protectedModeOffset));
  }
  const payloadOffset = u32(0x248);
  const payloadLength = u32(0x24c);
  const payloadStart = protectedModeOffset + payloadOffset;
  if (payloadStart + payloadLength > data.length) {
    throw new ImageFormatError(
      `bzImage payload at offset ${hex(payloadStart)} (payload_offset ${hex(payloadOffset)} at 0x248) with payload_length ${hex(payloadLength)} runs past the end of the file (${hex(data.length)} bytes)`,
    );
  }
  if (payloadLength < 8) {
    throw new ImageFormatError(
      `bzImage payload_length ${payloadLength} (offset 0x24c) is too short for a compressed kernel`,
    );
  }
  const payload = data.subarray(payloadStart, payloadStart + payloadLength);
  const image: BzImage = {
    setupSects,
    rootFlags: u16(0x1f2),
    syssize,
    vidMode: u16(0x1fa),
    rootDev: u16(0x1fc),
    bootFlag,
    protocol,
    protocolVersion,
    kernelVersion,
    typeOfLoader: u8(0x210),
    loadflags: u8(0x211),
    code32Start: u32(0x214),
    initrdAddrMax: u32(0x22c),
    kernelAlignment: u32(0x230),
    relocatableKernel: u8(0x234) !== 0,
    minAlignment: u8(0x235),
    cmdlineSize: u32(0x238),
    hardwareSubarch: u32(0x23c),
    payloadOffset,
    payloadLength,
    protectedModeOffset,
    payload,
    compression: detectCompression(payload),
    vmlinuxSize: viewOf(payload).getUint32(payload.length - 4, true),
  };
  if (protocol >= 0x020a) {
    image.prefAddress = view.getBigUint64(0x258, true);
    image.initSize = u32(0x260);
  }
  if (protocol >= 0x020b) image.handoverOffset = u32(0x264);
  if (protocol >= 0x020c) image.xloadflags = u16(0x236);
  if (protocol >= 0x020f) image.kernelInfoOffset = u32(0x268);
  return image;
}

/**
 * Decompresses a bzImage's payload and returns the vmlinux ELF inside, checked against the
 * size Linux appended to the payload.
 */
export async function extractVmlinux(bzImage: Uint8Array): Promise<Uint8Array> {
  const image = parseBzImage(bzImage);
  const start = image.protectedModeOffset + image.payloadOffset;
  if (image.compression === undefined) {
    const magic = Array.from(image.payload.subarray(0, 6), (b) => b.toString(16).padStart(2, '0'));
    throw new ImageFormatError(
      `bzImage payload at offset ${hex(start)} has an unrecognised compression format (starts ${magic.join(' ')})`,
    );
  }
  // The trailer is not part of the compressed stream; strict decoders (xz, zstd) would
  // reject it as trailing garbage.
  const compressed = image.payload.subarray(0, image.payload.length - 4);
  let vmlinux: Uint8Array;
  try {
    vmlinux = await decompress(compressed, image.compression);
  } catch (cause) {
    throw new ImageFormatError(
      `bzImage payload at offset ${hex(start)} (${image.compression}, ${image.payloadLength} bytes) does not decompress: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  if (vmlinux.length !== image.vmlinuxSize) {
    throw new ImageFormatError(
      `bzImage payload decompressed to ${vmlinux.length} bytes, but its size trailer (offset ${hex(start + image.payloadLength - 4)}) says ${image.vmlinuxSize}`,
    );
  }
  if (!isElf(vmlinux)) {
    throw new ImageFormatError(
      `bzImage payload (${image.compression}) decompressed to something that is not an ELF file`,
    );
  }
  return vmlinux;
}

function viewOf(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}
