// A parsed xl.cfg and libxlu's accessors (tools/libs/util/libxlu_cfg.c in Xen 4.17): the latest
// setting of a name wins; getters return an errno-like status and print libxlu's warnings.
import { Lexer } from './lexer.js';
import { type CfgSetting, type CfgValue, type ParseContext, parseTokens } from './parser.js';
import { strtol } from './strtol.js';

export const EINVAL = 22;
export const ERANGE = 34;
export const ESRCH = 3;

/** Result of an accessor: the value, or the errno libxlu returns (ESRCH: not set). */
export type Got<T> = { ok: true; value: T } | { ok: false; errno: number };

export class XluConfig {
  /** Settings in file order; lookups take the last one. String values are byte strings. */
  readonly settings: readonly CfgSetting[];

  constructor(
    readonly source: string,
    settings: readonly CfgSetting[],
    private readonly warn: (line: string) => void,
  ) {
    this.settings = settings;
  }

  find(name: string): CfgSetting | undefined {
    for (let i = this.settings.length - 1; i >= 0; i--) {
      if (this.settings[i]!.name === name) return this.settings[i];
    }
    return undefined;
  }

  /** xlu_cfg_get_string. */
  getString(name: string, dontWarn = false): Got<string> {
    const set = this.find(name);
    if (!set) return { ok: false, errno: ESRCH };
    if (set.value.kind !== 'string') {
      if (!dontWarn) {
        this.warn(
          `${this.source}:${set.line}: warning: parameter \`${name}' is a list but should be a single value`,
        );
      }
      return { ok: false, errno: EINVAL };
    }
    return { ok: true, value: cfgText(set.value.value) };
  }

  /** xlu_cfg_get_bounded_long; numbers are parsed as strtol(…, 0) does (0x hex, 0 octal). */
  getBoundedLong(name: string, min: bigint, max: bigint, dontWarn = false): Got<bigint> {
    const set = this.find(name);
    if (!set) return { ok: false, errno: ESRCH };
    const fail = (errno: number, text: string): Got<bigint> => {
      if (!dontWarn) this.warn(`${this.source}:${set.line}: warning: ${text}`);
      return { ok: false, errno };
    };
    if (set.value.kind !== 'string') {
      return fail(EINVAL, `parameter \`${name}' is a list but should be a single value`);
    }
    if (set.op === '+=') {
      return fail(EINVAL, `can't use += with numbers for parameter \`${name}'`);
    }
    const text = set.value.value;
    const r = strtol(text);
    if (r.range) {
      return fail(
        ERANGE,
        `parameter \`${name}' could not be parsed as a number: Numerical result out of range`,
      );
    }
    if (r.end === 0 || r.end !== text.length) {
      return fail(EINVAL, `parameter \`${name}' is not a valid number`);
    }
    if (r.value < min) {
      return fail(EINVAL, `value \`${r.value}' is smaller than minimum bound '${min}'`);
    }
    if (r.value > max) {
      return fail(EINVAL, `value \`${r.value}' is greater than maximum bound '${max}'`);
    }
    return { ok: true, value: r.value };
  }

  /** xlu_cfg_get_long: the bounds of a 64-bit C long. */
  getLong(name: string, dontWarn = false): Got<bigint> {
    return this.getBoundedLong(name, LONG_MIN, LONG_MAX, dontWarn);
  }

  /** xlu_cfg_get_list. */
  getList(name: string, dontWarn = false): Got<readonly CfgValue[]> {
    const set = this.find(name);
    if (!set) return { ok: false, errno: ESRCH };
    if (set.value.kind !== 'list') {
      if (!dontWarn) {
        this.warn(
          `${this.source}:${set.line}: warning: parameter \`${name}' is a single value but should be a list`,
        );
      }
      return { ok: false, errno: EINVAL };
    }
    return { ok: true, value: set.value.values };
  }
}

export const LONG_MAX = (1n << 63n) - 1n;
export const LONG_MIN = -(1n << 63n);

export type ReadResult =
  | { ok: true; config: XluConfig }
  | { ok: false; errno: number /** xl's line after libxlu's own reports. */; summary: string };

/**
 * xlu_cfg_readdata: parses `data` (bytes, or a string taken as UTF-8) reporting to `report`
 * exactly what libxlu writes to its report stream. `source` names the file in messages.
 */
export function readConfigData(
  source: string,
  data: Uint8Array | string,
  report: (line: string) => void,
): ReadResult {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  const text = bytes.toString('latin1');
  const settings: CfgSetting[] = [];
  let err = 0;
  let lexerrLine = -1;
  let likelyPython = false;
  const lexer = new Lexer(text, {
    lexicalError: (line, tokText, message) => lexicalError(line, tokText, message),
    likelyPython: () => {
      likelyPython = true;
    },
    get failed() {
      return err !== 0;
    },
  });
  // xlu__cfg_yyerror, with its quirk of reporting a NEWLINE token one line early.
  const yyerror = (line: number, tokText: string, message: string): void => {
    if (line <= lexerrLine) return;
    let t = tokText;
    let lineno = line;
    let newline = '';
    if (t.endsWith('\n')) {
      t = t.slice(0, -1);
      lineno--;
      if (t.length === 0) newline = '<newline>';
    }
    t = t.replace(/[ \t]+$/, '');
    const shown = t.length > 0 ? `\`${fromBytes(t.split('\0')[0]!)}'` : '';
    report(`${source}:${lineno}: config parsing error near ${shown}${newline}: ${message}`);
    if (!err) err = EINVAL;
  };
  const lexicalError = (line: number, tokText: string, message: string): void => {
    yyerror(line, tokText, message);
    lexerrLine = line;
  };
  const ctx: ParseContext = {
    error: yyerror,
    lexicalError: (message) => lexicalError(lexer.line, lexer.text, message),
    get failed() {
      return err !== 0;
    },
    store: (s) => {
      settings.push(s);
    },
    find: (name) => {
      for (let i = settings.length - 1; i >= 0; i--) {
        if (settings[i]!.name === name) return settings[i];
      }
      return undefined;
    },
  };
  const ok = parseTokens(lexer, ctx);
  if (!ok && !err) err = EINVAL;
  if (err) {
    if (likelyPython) {
      report('warning: Config file looks like it contains Python code.');
      report('warning:  Arbitrary Python is no longer supported.');
      report('warning:  See https://wiki.xen.org/wiki/PythonInXlConfig');
    }
    return { ok: false, errno: err, summary: `Failed to parse config: ${strerror(err)}` };
  }
  return { ok: true, config: new XluConfig(source, settings, report) };
}

function strerror(errno: number): string {
  return errno === ERANGE ? 'Numerical result out of range' : 'Invalid argument';
}

/**
 * Values are kept as byte strings (one char per byte, as the C code sees them); this gives the
 * text: config files are UTF-8 in practice.
 */
export function cfgText(byteString: string): string {
  return Buffer.from(byteString, 'latin1').toString('utf8');
}

const fromBytes = cfgText;
