// Small helpers shared by the ELF and bzImage readers.

/** `0x`-prefixed hexadecimal, for offsets and values in messages. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

/** Bytes as a string, one character per byte. */
export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** The string in `bytes` up to its first NUL, or all of it when there is none. */
export function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return latin1(nul < 0 ? bytes : bytes.subarray(0, nul));
}
