// libxlu's quoted-string decoding (xlu__cfgl_dequote in tools/libs/util/libxlu_cfg.c, Xen 4.17).

const isDigit = (c: string): boolean => c >= '0' && c <= '9';

/**
 * libxlu's xlu__cfgl_dequote, including its quirks: `\x` escapes can never succeed (the digits
 * are skipped before they are read), and an octal escape consumes up to three more characters as
 * a *decimal* strtoul would but stores nothing. A NUL inside quotes makes xl abort (an assertion);
 * here it is an error instead.
 */
export function dequote(text: string): { value: string; error: string | null } {
  const nul = text.indexOf('\0');
  if (nul >= 0) return { value: text.slice(1, nul), error: 'NUL character in quoted string' };
  const end = text.length - 1;
  let out = '';
  let p = 1;
  while (p < end) {
    const c = text[p++]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const nc = text[p++]!;
    const simple = SIMPLE_ESCAPES[nc];
    if (simple !== undefined) {
      out += simple;
    } else if (nc === 'x') {
      return {
        value: out,
        error: 'invalid digit after backslash hexnumerical character escape in quoted string',
      };
    } else if (nc >= '0' && nc <= '7') {
      const used = strtoulDecimalPrefix(text.slice(p, p + 3));
      if (used <= 1) {
        return {
          value: out,
          error: 'invalid digit after backslash octalnumerical character escape in quoted string',
        };
      }
      p += used;
    } else {
      return { value: out, error: 'invalid character after backlash in quoted string' };
    }
  }
  return { value: out, error: null };
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** How many characters strtoul(s, &ep, 10) consumes: 0 when there are no digits. */
function strtoulDecimalPrefix(s: string): number {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i]!)) i++;
  if (s[i] === '+' || s[i] === '-') i++;
  const digitsStart = i;
  while (i < s.length && isDigit(s[i]!)) i++;
  return i === digitsStart ? 0 : i;
}
