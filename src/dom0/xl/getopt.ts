// getopt_long as glibc implements it, since xl's option handling is glibc's: options and operands
// may be mixed (operands are moved after the options) unless the option string starts with '+',
// "--" ends the options, short options can be clustered ("-lv", "-d5"), long options may be
// abbreviated to any unambiguous prefix and take "--opt=value" or "--opt value".

export interface LongOption {
  readonly name: string;
  readonly hasArg: 'none' | 'required' | 'optional';
  /** The option character getopt returns for it. */
  readonly val: string;
}

export type GetoptItem =
  | { readonly kind: 'option'; readonly opt: string; readonly arg: string | null }
  /** getopt returned '?': `optopt` is the option character, or "\0" for a bad long option. */
  | { readonly kind: 'error'; readonly optopt: string; readonly message: string };

export interface GetoptResult {
  readonly items: readonly GetoptItem[];
  /** The operands, in order: argv[optind…] after getopt is done. */
  readonly operands: readonly string[];
}

interface ShortSpec {
  readonly hasArg: 'none' | 'required' | 'optional';
}

function parseOptstring(optstring: string): { order: boolean; shorts: Map<string, ShortSpec> } {
  let s = optstring;
  const order = s.startsWith('+');
  if (order || s.startsWith('-')) s = s.slice(1);
  if (s.startsWith(':')) s = s.slice(1);
  const shorts = new Map<string, ShortSpec>();
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === ':') continue;
    let hasArg: ShortSpec['hasArg'] = 'none';
    if (s[i + 1] === ':') hasArg = s[i + 2] === ':' ? 'optional' : 'required';
    shorts.set(c, { hasArg });
  }
  return { order, shorts };
}

/**
 * Runs getopt_long over `args` (argv without argv[0]); `prog` is argv[0] for glibc's messages
 * (which only matter where the caller leaves opterr on).
 */
export function getoptLong(
  prog: string,
  args: readonly string[],
  optstring: string,
  longopts: readonly LongOption[] = [],
): GetoptResult {
  const { order, shorts } = parseOptstring(optstring);
  const items: GetoptItem[] = [];
  const operands: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--') && longopts.length > 0) {
      i = longOption(prog, args, i, longopts, items);
      continue;
    }
    if (a.length < 2 || a[0] !== '-') {
      if (order) break;
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const spec = c === ':' ? undefined : shorts.get(c);
      if (!spec) {
        items.push({ kind: 'error', optopt: c, message: `${prog}: invalid option -- '${c}'` });
        continue;
      }
      if (spec.hasArg === 'none') {
        items.push({ kind: 'option', opt: c, arg: null });
        continue;
      }
      const rest = a.slice(j + 1);
      if (rest !== '' || spec.hasArg === 'optional') {
        items.push({ kind: 'option', opt: c, arg: rest === '' ? null : rest });
      } else if (i + 1 < args.length) {
        items.push({ kind: 'option', opt: c, arg: args[++i]! });
      } else {
        items.push({
          kind: 'error',
          optopt: c,
          message: `${prog}: option requires an argument -- '${c}'`,
        });
      }
      break;
    }
  }
  operands.push(...args.slice(i));
  return { items, operands };
}

function longOption(
  prog: string,
  args: readonly string[],
  i: number,
  longopts: readonly LongOption[],
  items: GetoptItem[],
): number {
  const a = args[i]!;
  const body = a.slice(2);
  const eq = body.indexOf('=');
  const name = eq >= 0 ? body.slice(0, eq) : body;
  const value = eq >= 0 ? body.slice(eq + 1) : null;
  let found = longopts.find((o) => o.name === name);
  if (!found) {
    const matches = longopts.filter((o) => o.name.startsWith(name));
    const first = matches[0];
    const ambiguous = matches.some((o) => o.hasArg !== first?.hasArg || o.val !== first?.val);
    if (first && ambiguous) {
      const names = matches.map((o) => `'--${o.name}'`).join(' ');
      items.push({
        kind: 'error',
        optopt: '\0',
        message: `${prog}: option '--${name}' is ambiguous; possibilities: ${names}`,
      });
      return i;
    }
    found = first;
  }
  if (!found) {
    items.push({ kind: 'error', optopt: '\0', message: `${prog}: unrecognized option '${a}'` });
    return i;
  }
  if (found.hasArg === 'none') {
    if (value !== null) {
      items.push({
        kind: 'error',
        optopt: found.val,
        message: `${prog}: option '--${found.name}' doesn't allow an argument`,
      });
    } else {
      items.push({ kind: 'option', opt: found.val, arg: null });
    }
    return i;
  }
  if (value !== null || found.hasArg === 'optional') {
    items.push({ kind: 'option', opt: found.val, arg: value });
    return i;
  }
  if (i + 1 < args.length) {
    items.push({ kind: 'option', opt: found.val, arg: args[i + 1]! });
    return i + 1;
  }
  items.push({
    kind: 'error',
    optopt: found.val,
    message: `${prog}: option '--${found.name}' requires an argument`,
  });
  return i;
}
