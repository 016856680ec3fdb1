// The LZMA decoder shared by .lzma (LZMA1) and xz (LZMA2), after the LZMA specification
// (LzmaSpec.cpp in the LZMA SDK). The whole output is the dictionary: it lives in one growing
// buffer, so matches are plain copies within it. The range coder is inlined by hand in the hot
// loop, with range/code as int32 locals (unsigned compares via ^ 0x80000000): going through
// methods, fields or doubles costs a large part of the speed.
import { corrupt } from './util.js';

const IS_MATCH = 0;
const IS_REP = 192;
const IS_REP_G0 = 204;
const IS_REP_G1 = 216;
const IS_REP_G2 = 228;
const IS_REP0_LONG = 240;
const POS_SLOT = 432;
const SPEC_POS = 688; // 115 probabilities, indexed from 1 as in the spec
const ALIGN = 803;
const LEN = 819; // choice, choice2, low[16][8], mid[16][8], high[256]
const REP_LEN = 1333;
const LITERAL = 1847;

export class LzmaDecoder {
  lc = 0;
  lp = 0;
  pb = 0;
  probs = new Uint16Array(LITERAL + 0x300);
  state = 0;
  rep0 = 0;
  rep1 = 0;
  rep2 = 0;
  rep3 = 0;
  range = 0;
  code = 0;
  /** Input and output positions, advanced by decode(). */
  inPos = 0;
  outPos = 0;
  /** Where the dictionary starts in the output: no match may reach before it. */
  dictStart = 0;
  /** Set when decode() met the end-of-payload marker. */
  ended = false;

  constructor(private readonly format: string) {}

  /** lc/lp/pb from the properties byte; returns false if it is out of range. */
  setProperties(byte: number): boolean {
    if (byte >= 9 * 5 * 5) return false;
    this.lc = byte % 9;
    this.lp = ((byte / 9) | 0) % 5;
    this.pb = (byte / 45) | 0;
    const size = LITERAL + (0x300 << (this.lc + this.lp));
    if (this.probs.length !== size) this.probs = new Uint16Array(size);
    return true;
  }

  resetState(): void {
    this.probs.fill(1024);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  /** Starts the range coder on the 5 bytes at `pos`. */
  initRange(src: Uint8Array, pos: number, end: number): void {
    if (pos + 5 > end) throw corrupt(this.format, 'truncated range coder header');
    if (src[pos] !== 0) throw corrupt(this.format, 'range coder does not start with 0');
    this.range = -1;
    this.code =
      (src[pos + 1]! << 24) | (src[pos + 2]! << 16) | (src[pos + 3]! << 8) | src[pos + 4]!;
    if (this.code === this.range) throw corrupt(this.format, 'bad range coder header');
    this.inPos = pos + 5;
  }

  /** True when the range coder ended cleanly (the encoder's flush leaves code at 0). */
  get finished(): boolean {
    return this.code === 0;
  }

  /**
   * Decodes from src[inPos, inEnd) into out[outPos...] until outPos reaches `limit` or the end
   * marker. With `exact`, a match running past `limit` is an error (LZMA2 chunks, known sizes);
   * otherwise it may overshoot by up to 273 bytes, which `out` must have room for.
   */
  decode(src: Uint8Array, inEnd: number, out: Uint8Array, limit: number, exact: boolean): void {
    const probs = this.probs;
    const lc = this.lc;
    const lpMask = (1 << this.lp) - 1;
    const pbMask = (1 << this.pb) - 1;
    const dictStart = this.dictStart;
    let state = this.state;
    let rep0 = this.rep0;
    let rep1 = this.rep1;
    let rep2 = this.rep2;
    let rep3 = this.rep3;
    let range = this.range;
    let code = this.code;
    let ip = this.inPos;
    let op = this.outPos;
    let i = 0;
    let p = 0;
    let bound = 0;
    const truncated = () => corrupt(this.format, 'truncated input');

    while (op < limit) {
      const posState = (op - dictStart) & pbMask;
      i = IS_MATCH + (state << 4) + posState;
      p = probs[i]!;
      bound = Math.imul(range >>> 11, p);
      if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        if (range >>> 24 === 0) {
          if (ip >= inEnd) throw truncated();
          range <<= 8;
          code = (code << 8) | src[ip++]!;
        }
        // Literal, coded with the previous byte's top bits (and, after a match, the byte at rep0).
        const prev = op > dictStart ? out[op - 1]! : 0;
        const base = LITERAL + 0x300 * ((((op - dictStart) & lpMask) << lc) + (prev >>> (8 - lc)));
        let sym = 1;
        if (state < 7) {
          do {
            i = base + sym;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              sym <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              sym = (sym << 1) | 1;
            }
            if (range >>> 24 === 0) {
              if (ip >= inEnd) throw truncated();
              range <<= 8;
              code = (code << 8) | src[ip++]!;
            }
          } while (sym < 0x100);
        } else {
          let match = out[op - rep0 - 1]!;
          let offs = 0x100;
          do {
            match <<= 1;
            const mbit = match & offs;
            i = base + offs + mbit + sym;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              sym <<= 1;
              offs &= ~mbit;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              sym = (sym << 1) | 1;
              offs &= mbit;
            }
            if (range >>> 24 === 0) {
              if (ip >= inEnd) throw truncated();
              range <<= 8;
              code = (code << 8) | src[ip++]!;
            }
          } while (sym < 0x100);
        }
        out[op++] = sym & 0xff;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[i] = p - (p >>> 5);
      if (range >>> 24 === 0) {
        if (ip >= inEnd) throw truncated();
        range <<= 8;
        code = (code << 8) | src[ip++]!;
      }

      // Match: a new distance (isRep = 0) or one of the four recent ones.
      let bit = 0;
      let lenBase = LEN;
      let fresh = false;
      let shortRep = false;
      for (let step = 0; ; step++) {
        // Each step decodes one flag (isRep, isRepG0, isRep0Long, isRepG1, isRepG2), so one copy
        // of the inlined bit decoder serves all five.
        i =
          step === 0
            ? IS_REP + state
            : step === 1
              ? IS_REP_G0 + state
              : step === 2
                ? IS_REP0_LONG + (state << 4) + posState
                : step === 3
                  ? IS_REP_G1 + state
                  : IS_REP_G2 + state;
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          bit = 0;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          bit = 1;
        }
        if (range >>> 24 === 0) {
          if (ip >= inEnd) throw truncated();
          range <<= 8;
          code = (code << 8) | src[ip++]!;
        }
        if (step === 0) {
          if (bit === 0) {
            fresh = true;
            break;
          }
          lenBase = REP_LEN;
        } else if (step === 1) {
          if (bit === 1) step = 2; // go on to isRepG1
        } else if (step === 2) {
          if (bit === 1) break; // rep0, with a length
          // Short rep: one byte from rep0.
          if (rep0 >= op - dictStart) throw corrupt(this.format, 'distance beyond the dictionary');
          state = state < 7 ? 9 : 11;
          out[op] = out[op - rep0 - 1]!;
          op++;
          shortRep = true;
          break;
        } else if (step === 3) {
          if (bit === 0) {
            const d = rep1;
            rep1 = rep0;
            rep0 = d;
            break;
          }
        } else {
          const d = bit === 0 ? rep2 : rep3;
          if (bit === 1) rep3 = rep2;
          rep2 = rep1;
          rep1 = rep0;
          rep0 = d;
          break;
        }
      }
      if (shortRep) continue;

      // Length: choice bits pick low (3 bits), mid (3 bits) or high (8 bits).
      let tree = 0;
      let bits = 0;
      let len = 0;
      i = lenBase;
      for (let step = 0; step < 2; step++) {
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          bit = 0;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          bit = 1;
        }
        if (range >>> 24 === 0) {
          if (ip >= inEnd) throw truncated();
          range <<= 8;
          code = (code << 8) | src[ip++]!;
        }
        if (bit === 0) break;
        i = lenBase + 1;
      }
      if (i === lenBase) {
        tree = lenBase + 2 + (posState << 3);
        bits = 3;
      } else if (bit === 0) {
        tree = lenBase + 130 + (posState << 3);
        bits = 3;
        len = 8;
      } else {
        tree = lenBase + 258;
        bits = 8;
        len = 16;
      }
      let m = 1;
      for (let n = 0; n < bits; n++) {
        i = tree + m;
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          m <<= 1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          m = (m << 1) | 1;
        }
        if (range >>> 24 === 0) {
          if (ip >= inEnd) throw truncated();
          range <<= 8;
          code = (code << 8) | src[ip++]!;
        }
      }
      len += m - (1 << bits);

      if (fresh) {
        state = state < 7 ? 7 : 10;
        rep3 = rep2;
        rep2 = rep1;
        rep1 = rep0;
        // Distance: a 6-bit slot, then reverse-coded low bits, direct bits and 4 align bits.
        tree = POS_SLOT + ((len < 4 ? len : 3) << 6);
        m = 1;
        for (let n = 0; n < 6; n++) {
          i = tree + m;
          p = probs[i]!;
          bound = Math.imul(range >>> 11, p);
          if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            m <<= 1;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            m = (m << 1) | 1;
          }
          if (range >>> 24 === 0) {
            if (ip >= inEnd) throw truncated();
            range <<= 8;
            code = (code << 8) | src[ip++]!;
          }
        }
        const slot = m - 64;
        if (slot < 4) {
          rep0 = slot;
        } else {
          const direct = (slot >>> 1) - 1;
          let dist = (2 | (slot & 1)) * (1 << direct);
          let reverse = direct;
          if (slot < 14) {
            tree = SPEC_POS + dist - slot;
          } else {
            for (let n = direct - 4; n > 0; n--) {
              range >>>= 1;
              let d = 0;
              if ((code ^ 0x80000000) >= (range ^ 0x80000000)) {
                code = (code - range) | 0;
                d = 1;
              }
              dist += d * (1 << (n + 3));
              if (range >>> 24 === 0) {
                if (ip >= inEnd) throw truncated();
                range <<= 8;
                code = (code << 8) | src[ip++]!;
              }
            }
            tree = ALIGN;
            reverse = 4;
          }
          m = 1;
          for (let n = 0; n < reverse; n++) {
            i = tree + m;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            if ((code ^ 0x80000000) < (bound ^ 0x80000000)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              m <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              m = (m << 1) | 1;
              dist += 1 << n;
            }
            if (range >>> 24 === 0) {
              if (ip >= inEnd) throw truncated();
              range <<= 8;
              code = (code << 8) | src[ip++]!;
            }
          }
          if (dist === 0xffffffff) {
            this.ended = true;
            break;
          }
          rep0 = dist;
        }
      } else {
        state = state < 7 ? 8 : 11;
      }

      len += 2;
      if (rep0 >= op - dictStart) throw corrupt(this.format, 'distance beyond the dictionary');
      if (exact && op + len > limit) throw corrupt(this.format, 'match runs past the end');
      let mp = op - rep0 - 1;
      if (len > 16 && rep0 === 0) {
        out.fill(out[mp]!, op, op + len); // a run of one byte, common in tar padding
        op += len;
      } else if (len > 32 && rep0 >= len) {
        out.copyWithin(op, mp, mp + len);
        op += len;
      } else {
        for (const end = op + len; op < end; ) out[op++] = out[mp++]!;
      }
    }

    this.state = state;
    this.rep0 = rep0;
    this.rep1 = rep1;
    this.rep2 = rep2;
    this.rep3 = rep3;
    this.range = range;
    this.code = code;
    this.inPos = ip;
    this.outPos = op;
  }
}
