// The integrity checks the containers carry: CRC-32 (gzip, xz, lzop), CRC-64 (xz), Adler-32
// (lzop), XXH32 (LZ4 frames) and XXH64 (zstd). Pure JS so they also run in a browser; 64-bit
// values are hi/lo uint32 pairs (BigInt would be tens of times slower).

// Slice-by-8 tables: eight bytes per step keeps CRC-32 far from being the bottleneck.
const CRC32 = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC32[n] = c;
}
for (let n = 0; n < 256; n++) {
  for (let t = 1; t < 8; t++) {
    const prev = CRC32[(t - 1) * 256 + n]!;
    CRC32[t * 256 + n] = (prev >>> 8) ^ CRC32[prev & 0xff]!;
  }
}

export function crc32(data: Uint8Array, crc = 0): number {
  const T = CRC32;
  let c = ~crc;
  let i = 0;
  const n = data.length;
  for (const end8 = n - 8; i <= end8; i += 8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c =
      T[1792 + (c & 0xff)]! ^
      T[1536 + ((c >>> 8) & 0xff)]! ^
      T[1280 + ((c >>> 16) & 0xff)]! ^
      T[1024 + (c >>> 24)]! ^
      T[768 + data[i + 4]!]! ^
      T[512 + data[i + 5]!]! ^
      T[256 + data[i + 6]!]! ^
      T[data[i + 7]!]!;
  }
  for (; i < n; i++) c = T[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// CRC-64/XZ (ECMA-182, reflected), slice-by-4 over hi/lo tables.
const CRC64_HI = new Int32Array(4 * 256);
const CRC64_LO = new Int32Array(4 * 256);
for (let n = 0; n < 256; n++) {
  let hi = 0;
  let lo = n;
  for (let k = 0; k < 8; k++) {
    const odd = lo & 1;
    lo = (lo >>> 1) | (hi << 31);
    hi >>>= 1;
    if (odd) {
      hi ^= 0xc96c5795;
      lo ^= 0xd7870f42;
    }
  }
  CRC64_HI[n] = hi;
  CRC64_LO[n] = lo;
}
for (let n = 0; n < 256; n++) {
  for (let t = 1; t < 4; t++) {
    const hi = CRC64_HI[(t - 1) * 256 + n]!;
    const lo = CRC64_LO[(t - 1) * 256 + n]!;
    const x = lo & 0xff;
    CRC64_HI[t * 256 + n] = (hi >>> 8) ^ CRC64_HI[x]!;
    CRC64_LO[t * 256 + n] = ((lo >>> 8) | (hi << 24)) ^ CRC64_LO[x]!;
  }
}

/** CRC-64 of `data` as its 8 little-endian bytes, the way xz stores it. */
export function crc64(data: Uint8Array): Uint8Array {
  const H = CRC64_HI;
  const L = CRC64_LO;
  let hi = -1;
  let lo = -1;
  let i = 0;
  const n = data.length;
  for (const end4 = n - 4; i <= end4; i += 4) {
    lo ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    const a = lo & 0xff;
    const b = (lo >>> 8) & 0xff;
    const c = (lo >>> 16) & 0xff;
    const d = lo >>> 24;
    lo = hi ^ L[768 + a]! ^ L[512 + b]! ^ L[256 + c]! ^ L[d]!;
    hi = H[768 + a]! ^ H[512 + b]! ^ H[256 + c]! ^ H[d]!;
  }
  for (; i < n; i++) {
    const x = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ L[x]!;
    hi = (hi >>> 8) ^ H[x]!;
  }
  hi = ~hi;
  lo = ~lo;
  return new Uint8Array([lo, lo >>> 8, lo >>> 16, lo >>> 24, hi, hi >>> 8, hi >>> 16, hi >>> 24]);
}

export function adler32(data: Uint8Array, adler = 1): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  const n = data.length;
  for (let i = 0; i < n; ) {
    // 5552 is the most bytes that can be summed before b overflows 2^32.
    const end = Math.min(i + 5552, n);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const X32_1 = 0x9e3779b1 | 0;
const X32_2 = 0x85ebca77 | 0;
const X32_3 = 0xc2b2ae3d | 0;
const X32_4 = 0x27d4eb2f;
const X32_5 = 0x165667b1;
const rotl32 = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const lane32 = (b: Uint8Array, i: number): number =>
  b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);

export function xxh32(data: Uint8Array, seed = 0): number {
  const n = data.length;
  let i = 0;
  let h: number;
  if (n >= 16) {
    let v1 = (seed + X32_1 + X32_2) | 0;
    let v2 = (seed + X32_2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - X32_1) | 0;
    for (const end = n - 16; i <= end; i += 16) {
      v1 = Math.imul(rotl32((v1 + Math.imul(lane32(data, i), X32_2)) | 0, 13), X32_1);
      v2 = Math.imul(rotl32((v2 + Math.imul(lane32(data, i + 4), X32_2)) | 0, 13), X32_1);
      v3 = Math.imul(rotl32((v3 + Math.imul(lane32(data, i + 8), X32_2)) | 0, 13), X32_1);
      v4 = Math.imul(rotl32((v4 + Math.imul(lane32(data, i + 12), X32_2)) | 0, 13), X32_1);
    }
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else {
    h = (seed + X32_5) | 0;
  }
  h = (h + n) | 0;
  for (; i + 4 <= n; i += 4) {
    h = Math.imul(rotl32((h + Math.imul(lane32(data, i), X32_3)) | 0, 17), X32_4);
  }
  for (; i < n; i++) h = Math.imul(rotl32((h + Math.imul(data[i]!, X32_5)) | 0, 11), X32_1);
  h = Math.imul(h ^ (h >>> 15), X32_2);
  h = Math.imul(h ^ (h >>> 13), X32_3);
  return (h ^ (h >>> 16)) >>> 0;
}

// XXH64 over hi/lo pairs. mul/add/round leave their result in (RH, RL) to avoid allocating;
// they hold int32 values (| 0), since numbers above 2^31 would be boxed on every store.
let RH = 0;
let RL = 0;
const P1H = 0x9e3779b1 | 0;
const P1L = 0x85ebca87 | 0;
const P2H = 0xc2b2ae3d | 0;
const P2L = 0x27d4eb4f | 0;
const P3H = 0x165667b1 | 0;
const P3L = 0x9e3779f9 | 0;
const P4H = 0x85ebca77 | 0;
const P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0;
const P5L = 0x165667c5 | 0;

/** (ah:al) * (bh:bl) mod 2^64; al*bl goes through 16-bit halves to stay exact. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  RL = (mid << 16) | (p00 & 0xffff);
  RH =
    (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(ah, bl) + Math.imul(al, bh)) |
    0;
}

function add64(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  RL = lo | 0;
  RH = (ah + bh + (lo > 0xffffffff ? 1 : 0)) | 0;
}

function rotl64(h: number, l: number, r: number): void {
  RH = (h << r) | (l >>> (32 - r));
  RL = (l << r) | (h >>> (32 - r));
}

/** acc = rotl(acc + input * P2, 31) * P1 */
function round64(acch: number, accl: number, ih: number, il: number): void {
  mul64(ih, il, P2H, P2L);
  add64(acch, accl, RH, RL);
  rotl64(RH, RL, 31);
  mul64(RH, RL, P1H, P1L);
}

/** XXH64 with seed 0; returns the low 32 bits, which is what zstd stores. */
export function xxh64Low32(data: Uint8Array): number {
  const n = data.length;
  let i = 0;
  let hh: number;
  let hl: number;
  if (n >= 32) {
    add64(P1H, P1L, P2H, P2L);
    let v1h = RH;
    let v1l = RL;
    let v2h = P2H;
    let v2l = P2L;
    let v3h = 0;
    let v3l = 0;
    add64(0, 0, ~P1H, ~P1L); // -P1 = ~P1 + 1
    add64(RH, RL, 0, 1);
    let v4h = RH;
    let v4l = RL;
    for (const end = n - 32; i <= end; i += 32) {
      round64(v1h, v1l, lane32(data, i + 4), lane32(data, i));
      v1h = RH;
      v1l = RL;
      round64(v2h, v2l, lane32(data, i + 12), lane32(data, i + 8));
      v2h = RH;
      v2l = RL;
      round64(v3h, v3l, lane32(data, i + 20), lane32(data, i + 16));
      v3h = RH;
      v3l = RL;
      round64(v4h, v4l, lane32(data, i + 28), lane32(data, i + 24));
      v4h = RH;
      v4l = RL;
    }
    rotl64(v1h, v1l, 1);
    hh = RH;
    hl = RL;
    rotl64(v2h, v2l, 7);
    add64(hh, hl, RH, RL);
    hh = RH;
    hl = RL;
    rotl64(v3h, v3l, 12);
    add64(hh, hl, RH, RL);
    hh = RH;
    hl = RL;
    rotl64(v4h, v4l, 18);
    add64(hh, hl, RH, RL);
    hh = RH;
    hl = RL;
    for (const [vh, vl] of [
      [v1h, v1l],
      [v2h, v2l],
      [v3h, v3l],
      [v4h, v4l],
    ] as const) {
      round64(0, 0, vh, vl);
      mul64(hh ^ RH, hl ^ RL, P1H, P1L);
      add64(RH, RL, P4H, P4L);
      hh = RH;
      hl = RL;
    }
  } else {
    hh = P5H;
    hl = P5L;
  }
  add64(hh, hl, Math.floor(n / 4294967296), n >>> 0);
  hh = RH;
  hl = RL;
  for (; i + 8 <= n; i += 8) {
    round64(0, 0, lane32(data, i + 4), lane32(data, i));
    rotl64(hh ^ RH, hl ^ RL, 27);
    mul64(RH, RL, P1H, P1L);
    add64(RH, RL, P4H, P4L);
    hh = RH;
    hl = RL;
  }
  if (i + 4 <= n) {
    mul64(0, lane32(data, i), P1H, P1L);
    rotl64(hh ^ RH, hl ^ RL, 23);
    mul64(RH, RL, P2H, P2L);
    add64(RH, RL, P3H, P3L);
    hh = RH;
    hl = RL;
    i += 4;
  }
  for (; i < n; i++) {
    mul64(0, data[i]!, P5H, P5L);
    rotl64(hh ^ RH, hl ^ RL, 11);
    mul64(RH, RL, P1H, P1L);
    hh = RH;
    hl = RL;
  }
  // Avalanche: only the low word is returned, but it depends on the high one throughout.
  hl ^= hh >>> 1; // >> 33
  mul64(hh, hl, P2H, P2L);
  hh = RH;
  hl = RL ^ ((RL >>> 29) | (RH << 3)); // >> 29
  hh ^= hh >>> 29;
  mul64(hh, hl, P3H, P3L);
  return (RL ^ RH) >>> 0; // >> 32
}
