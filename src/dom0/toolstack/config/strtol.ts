// C's strtol/strtoul as glibc implements them, for the places where xl's behaviour depends on
// their exact corners: leading blanks, a sign, base 0 prefixes, where parsing stops, overflow.

export interface StrtolResult {
  /** The value, clamped to the type's range on overflow. */
  readonly value: bigint;
  /** Characters consumed (endptr - str); 0 when no digits were found. */
  readonly end: number;
  /** errno would be ERANGE. */
  readonly range: boolean;
}

const SPACE = ' \t\n\v\f\r';

function digitValue(c: string): number {
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

/** strtol(s, &ep, base) for a 64-bit long; base 0 picks 16 for 0x, 8 for a leading 0. */
export function strtol(s: string, base = 0): StrtolResult {
  return convert(s, base, -(1n << 63n), (1n << 63n) - 1n, false);
}

/** strtoul(s, &ep, base) for a 64-bit unsigned long (a '-' negates modulo 2^64, as C does). */
export function strtoul(s: string, base = 10): StrtolResult {
  return convert(s, base, 0n, (1n << 64n) - 1n, true);
}

function convert(
  s: string,
  base: number,
  min: bigint,
  max: bigint,
  unsigned: boolean,
): StrtolResult {
  let i = 0;
  while (i < s.length && SPACE.includes(s[i]!)) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') {
    negative = s[i] === '-';
    i++;
  }
  let b = base;
  if ((b === 0 || b === 16) && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X')) {
    if (i + 2 < s.length && digitValue(s[i + 2]!) < 16) {
      i += 2;
      b = 16;
    } else {
      // "0x" with no hex digit: the 0 is the number and parsing stops at the x.
      return { value: 0n, end: i + 1, range: false };
    }
  }
  if (b === 0) b = s[i] === '0' ? 8 : 10;
  const start = i;
  let magnitude = 0n;
  const bigBase = BigInt(b);
  while (i < s.length && digitValue(s[i]!) < b) {
    magnitude = magnitude * bigBase + BigInt(digitValue(s[i]!));
    i++;
  }
  if (i === start) return { value: 0n, end: 0, range: false };
  if (unsigned) {
    if (magnitude > max) return { value: max, end: i, range: true };
    const value = negative ? ((1n << 64n) - magnitude) % (1n << 64n) : magnitude;
    return { value, end: i, range: false };
  }
  const value = negative ? -magnitude : magnitude;
  if (value > max) return { value: max, end: i, range: true };
  if (value < min) return { value: min, end: i, range: true };
  return { value, end: i, range: false };
}

/** atoi(): strtol base 10 truncated to a 32-bit int, 0 when there are no digits. */
export function atoi(s: string): number {
  return Number(BigInt.asIntN(32, strtol(s, 10).value));
}
