// The xz filters that may sit before LZMA2: x86 BCJ (Linux's xz payload is made with --x86) and
// delta. Both run in place over a whole decoded block, as one call of the streaming versions.

const MASK_TO_ALLOWED = [true, true, true, false, true, false, false, false];
const MASK_TO_BIT = [0, 1, 2, 2, 3, 3, 3, 3];
const isMsByte = (b: number) => b === 0 || b === 0xff;

/**
 * Undoes the x86 branch converter on buf[from, to): E8/E9 (call/jmp rel32) operands were turned
 * from relative into absolute addresses; `start` is the position of buf[from] in the block's
 * numbering (the filter's start offset). Same scan and state as liblzma and xz-embedded.
 */
export function bcjX86Decode(buf: Uint8Array, from: number, to: number, start: number): void {
  const size = to - from;
  if (size <= 4) return;
  let prevPos = -1;
  let prevMask = 0;
  for (let i = 0; i < size - 4; i++) {
    const at = from + i;
    if ((buf[at]! & 0xfe) !== 0xe8) continue;
    const gap = i - prevPos;
    if (gap > 3) {
      prevMask = 0;
    } else {
      prevMask = (prevMask << (gap - 1)) & 7;
      if (prevMask !== 0) {
        const b = buf[at + 4 - MASK_TO_BIT[prevMask]!]!;
        if (!MASK_TO_ALLOWED[prevMask] || isMsByte(b)) {
          prevPos = i;
          prevMask = (prevMask << 1) | 1;
          continue;
        }
      }
    }
    prevPos = i;
    if (isMsByte(buf[at + 4]!)) {
      let src =
        (buf[at + 1]! | (buf[at + 2]! << 8) | (buf[at + 3]! << 16) | (buf[at + 4]! << 24)) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - (start + i + 5)) >>> 0;
        if (prevMask === 0) break;
        const j = MASK_TO_BIT[prevMask]! * 8;
        if (!isMsByte((dest >>> (24 - j)) & 0xff)) break;
        src = (dest ^ (2 ** (32 - j) - 1)) >>> 0;
      }
      // Bit 24 of the result decides the sign-extended top byte (00 or FF).
      dest = dest & 0x01000000 ? dest | 0xfe000000 : dest & 0x01ffffff;
      buf[at + 1] = dest;
      buf[at + 2] = dest >>> 8;
      buf[at + 3] = dest >>> 16;
      buf[at + 4] = dest >>> 24;
      i += 4;
    } else {
      prevMask = (prevMask << 1) | 1;
    }
  }
}

/** Undoes the delta filter: each byte was stored as its difference to the byte `distance` back. */
export function deltaDecode(buf: Uint8Array, from: number, to: number, distance: number): void {
  for (let i = from + distance; i < to; i++) buf[i] = buf[i]! + buf[i - distance]!;
}
