// The xl disk specification language (xl-disk-configuration(5)) as Xen 4.17's libxlu reads it:
// positional `target,format,vdev,access`, key=value settings and flags, `target=` eating the rest
// of the string, and the deprecated `phy:`, `tap:aio:`, `raw:` … prefixes and `hdc:cdrom` vdevs.
//
// libxlu scans the string with a flex lexer, so the same scan is done here: at each position every
// rule is tried, the longest match wins and ties go to the earlier rule. Rules with trailing
// context (flex's `head/context`) compete with their whole length but consume only the head; that
// is what lets `phy:/dev/sda,xvda` beat the positional rule. The error texts are libxlu's.
import { atoi } from './strtol.js';
import { parseVdev } from './vdev.js';

export type DiskFormat = 'raw' | 'qcow' | 'qcow2' | 'vhd' | 'qed' | 'empty';
export type DiskBackendType = 'phy' | 'tap' | 'qdisk' | 'standalone';
export type DiskSpecification = 'xen' | 'virtio';

/** libxl_device_disk as xl fills it from a disk spec, before libxl applies its defaults. */
export interface DiskSpec {
  /** pdev_path: a path, or whatever `script` understands; '' for an empty cdrom drive. */
  readonly target: string;
  readonly format: DiskFormat;
  readonly vdev: string;
  /** The xenstore device number of `vdev`; undefined if libxl would refuse the vdev. */
  readonly devid: number | undefined;
  /** A cdrom is always 'r'. */
  readonly access: 'r' | 'rw';
  readonly devtype: 'disk' | 'cdrom';
  /** undefined: libxl chooses. */
  readonly backendtype: DiskBackendType | undefined;
  /** The backend domain's name; undefined means domain 0. */
  readonly backend: string | undefined;
  readonly script: string | undefined;
  /** undefined: libxl's default, which is to advertise discard on writable disks. */
  readonly discard: boolean | undefined;
  readonly directIoSafe: boolean;
  /** Whether the frontend is told to trust the backend; undefined: libxl's default (true). */
  readonly trusted: boolean | undefined;
  /** undefined: libxl's default ('xen'). */
  readonly specification: DiskSpecification | undefined;
  readonly colo: boolean | undefined;
  readonly coloHost: string | undefined;
  readonly coloPort: number | undefined;
  readonly coloExport: string | undefined;
  readonly activeDisk: string | undefined;
  readonly hiddenDisk: string | undefined;
}

/**
 * On failure, `error` is libxlu's report without its leading "<config source>: " (xl puts the
 * config file's name there, or "command line" for a command's arguments).
 */
export type DiskSpecResult =
  | { readonly ok: true; readonly disk: DiskSpec }
  | { readonly ok: false; readonly error: string };

/** One disk = [...] entry. */
export function parseDiskSpec(spec: string): DiskSpecResult {
  return parseDiskSpecs([spec]);
}

/**
 * Several strings read as one disk, each continuing where the last left off; this is how
 * `xl block-attach <dom> phy:/dev/vg/d xvdb w` reads its arguments.
 */
export function parseDiskSpecs(specs: readonly string[]): DiskSpecResult {
  const parser = new DiskSpecParser();
  for (const spec of specs) {
    parser.scan(spec);
    if (parser.error !== undefined) return { ok: false, error: parser.error };
  }
  return parser.finish();
}

type StringSetting =
  | 'target'
  | 'vdev'
  | 'backend'
  | 'script'
  | 'colo-host'
  | 'colo-export'
  | 'active-disk'
  | 'hidden-disk';

/** libxlu's DiskParseContext: the disk being filled in, and where the scan has got to. */
class DiskSpecParser {
  /** The first error report; libxlu goes on scanning and may print more, xl then exits. */
  error: string | undefined;
  /** Set by the rules after which libxlu's lexer returns early. */
  stopped = false;
  hadDeprecatedPrefix = false;
  private accessSet = false;
  /** The string being scanned, for error reports; glibc prints a NULL one as "(null)". */
  private spec = '(null)';

  private readonly strings = new Map<StringSetting, string>();
  format: DiskFormat | undefined;
  backendtype: DiskBackendType | undefined;
  specification: DiskSpecification | undefined;
  readwrite = true;
  isCdrom = false;
  directIoSafe = false;
  discard: boolean | undefined;
  trusted: boolean | undefined;
  colo: boolean | undefined;
  coloPort: number | undefined;

  scan(spec: string): void {
    this.spec = spec;
    this.stopped = false;
    let pos = 0;
    while (pos < spec.length && !this.stopped) {
      const { rule, match } = longestMatch(spec, pos);
      const text = rule.trailingContext ? match[1]! : match[0];
      pos += text.length;
      rule.action(this, text, spec.slice(pos));
    }
  }

  finish(): DiskSpecResult {
    let format = this.format ?? 'raw';
    const target = this.strings.get('target');
    if (this.isCdrom && (target === undefined || target === '')) format = 'empty';
    const vdev = this.strings.get('vdev');
    if (vdev === undefined) this.fail(undefined, 'no vdev specified');
    else if (target === undefined && !this.isCdrom) {
      this.fail(undefined, 'no target specified (and device not removable)');
    }
    if (this.error !== undefined || vdev === undefined) {
      return { ok: false, error: this.error ?? '' };
    }
    const disk: DiskSpec = {
      target: target ?? '',
      format,
      vdev,
      devid: parseVdev(vdev)?.devid,
      access: this.readwrite && !this.isCdrom ? 'rw' : 'r',
      devtype: this.isCdrom ? 'cdrom' : 'disk',
      backendtype: this.backendtype,
      backend: this.strings.get('backend'),
      script: this.strings.get('script'),
      discard: this.discard,
      directIoSafe: this.directIoSafe,
      trusted: this.trusted,
      specification: this.specification,
      colo: this.colo,
      coloHost: this.strings.get('colo-host'),
      coloPort: this.coloPort,
      coloExport: this.strings.get('colo-export'),
      activeDisk: this.strings.get('active-disk'),
      hiddenDisk: this.strings.get('hidden-disk'),
    };
    return { ok: true, disk: Object.freeze(disk) };
  }

  fail(near: string | undefined, message: string): void {
    const where = near === undefined ? '' : `: near \`${near}'`;
    this.error ??= `config parsing error in disk specification: ${message}${where} in \`${this.spec}'`;
  }

  has(setting: StringSetting): boolean {
    return this.strings.has(setting);
  }

  /** A string may be given once; an empty one may be given again (libxlu's savestring). */
  save(setting: StringSetting, value: string): void {
    const previous = this.strings.get(setting);
    if (previous !== undefined && previous !== '') this.fail(value, `${setting} respecified`);
    else this.strings.set(setting, value);
  }

  setFormat(value: string): void {
    const format = value === '' ? 'raw' : FORMATS.find((f) => f === value);
    if (format === undefined) this.fail(value, 'unknown value for format');
    else if (this.format !== undefined && this.format !== format) {
      this.fail(value, 'format respecified');
    } else this.format = format;
  }

  setBackendType(value: string): void {
    const type = BACKEND_TYPES.find((t) => t === value);
    if (type === undefined) this.fail(value, 'unknown value for backendtype');
    // libxl's field is called `backend`, and so is the complaint.
    else if (this.backendtype !== undefined && this.backendtype !== type) {
      this.fail(value, 'backend respecified');
    } else this.backendtype = type;
  }

  setSpecification(value: string): void {
    const spec = SPECIFICATIONS.find((s) => s === value);
    if (spec === undefined) this.fail(value, 'unknown value for specification');
    else if (this.specification !== undefined && this.specification !== spec) {
      this.fail(value, 'specification respecified');
    } else this.specification = spec;
  }

  setAccess(value: string): void {
    if (value === 'r' || value === 'ro') this.readwrite = false;
    else if (value === 'rw' || value === 'w' || value === '') this.readwrite = true;
    else this.fail(value, 'unknown value for access');
  }

  setColoPort(value: string): void {
    // atoi: leading digits count, and 0 (or no number at all) is refused.
    const port = atoi(value);
    if (port === 0) this.fail(value, 'unknown value for colo_port');
    else this.coloPort = port;
  }

  /** `hdc:cdrom` in a vdev position; false (and nothing done) if there is no colon. */
  vdevWithDevtype(value: string): boolean {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return false;
    this.save('vdev', value.slice(0, colon));
    const devtype = value.slice(colon + 1);
    if (devtype === 'cdrom') this.isCdrom = true;
    else if (devtype === 'disk') this.isCdrom = false;
    else this.fail(devtype, 'unknown deprecated type');
    return true;
  }

  /** A parameter with no key goes to the first of target, format, vdev, access still unset. */
  positional(value: string): void {
    if (this.error !== undefined) return; // an earlier error may well cause this one
    if (!this.has('target')) this.save('target', value);
    else if (!this.hadDeprecatedPrefix && this.format === undefined) {
      // xend wrote an empty cdrom as `,hdc:cdrom,r`: no target, and the vdev where format goes.
      if (this.strings.get('target') === '' && this.vdevWithDevtype(value)) this.format = 'empty';
      else this.setFormat(value);
    } else if (!this.has('vdev')) {
      if (!this.vdevWithDevtype(value)) this.save('vdev', value);
    } else if (!this.accessSet) {
      this.accessSet = true;
      this.setAccess(value);
    } else {
      this.fail(value, 'too many positional parameters');
      this.stopped = true;
    }
  }
}

const FORMATS: readonly DiskFormat[] = ['raw', 'qcow', 'qcow2', 'vhd', 'qed', 'empty'];
const BACKEND_TYPES: readonly DiskBackendType[] = ['phy', 'tap', 'qdisk', 'standalone'];
const SPECIFICATIONS: readonly DiskSpecification[] = ['xen', 'virtio'];

interface LexRule {
  /** Sticky; with trailingContext, group 1 is the head that is consumed. */
  readonly pattern: RegExp;
  readonly trailingContext?: true;
  /** `rest` is what follows the consumed text. */
  readonly action: (p: DiskSpecParser, text: string, rest: string) => void;
}

const stripComma = (text: string): string => (text.endsWith(',') ? text.slice(0, -1) : text);
const valueAfterEquals = (text: string): string => stripComma(text).slice(text.indexOf('=') + 1);

/** A `key=value` rule whose value runs to the next comma. */
function setting(key: string, action: (p: DiskSpecParser, value: string) => void): LexRule {
  return {
    pattern: new RegExp(`${key}=[^,]*,?`, 'y'),
    action: (p, text) => action(p, valueAfterEquals(text)),
  };
}

type FlagField = 'isCdrom' | 'directIoSafe' | 'discard' | 'trusted' | 'colo';

/** A bare flag, optionally followed by its comma, that sets a field to a fixed value. */
function flag(name: string, field: FlagField, value: boolean): LexRule {
  return {
    pattern: new RegExp(`${name},?`, 'y'),
    action: (p) => {
      p[field] = value;
    },
  };
}

/** A deprecated `prefix:`; the rest of the line is its trailing context, so it beats anything. */
function prefix(alternatives: string, action: (p: DiskSpecParser, name: string) => void): LexRule {
  return {
    pattern: new RegExp(`((?:${alternatives}):)[^\\n]*`, 'y'),
    trailingContext: true,
    action: (p, text) => {
      p.hadDeprecatedPrefix = true;
      action(p, text.slice(0, -1));
    },
  };
}

// flex's `.` is any character but a newline, hence [^\n] throughout.
const RULES: readonly LexRule[] = [
  {
    pattern: /([ \t\n]+)(?:[^ \t\n][^\n]*)?/y,
    trailingContext: true,
    action: () => {},
  },
  setting('format', (p, v) => p.setFormat(v)),
  flag('cdrom', 'isCdrom', true),
  flag('devtype=cdrom', 'isCdrom', true),
  flag('devtype=disk', 'isCdrom', false),
  { pattern: /devtype=[^,]*,?/y, action: (p, text) => p.fail(text, 'unknown value for type') },
  setting('access', (p, v) => p.setAccess(v)),
  setting('backend', (p, v) => p.save('backend', v)),
  setting('backendtype', (p, v) => p.setBackendType(v)),
  setting('specification', (p, v) => p.setSpecification(v)),
  setting('vdev', (p, v) => p.save('vdev', v)),
  setting('script', (p, v) => p.save('script', v)),
  flag('direct-io-safe', 'directIoSafe', true),
  flag('discard', 'discard', true),
  flag('no-discard', 'discard', false),
  flag('colo', 'colo', true),
  flag('no-colo', 'colo', false),
  setting('colo-host', (p, v) => p.save('colo-host', v)),
  setting('colo-port', (p, v) => p.setColoPort(v)),
  setting('colo-export', (p, v) => p.save('colo-export', v)),
  setting('active-disk', (p, v) => p.save('active-disk', v)),
  setting('hidden-disk', (p, v) => p.save('hidden-disk', v)),
  flag('trusted', 'trusted', true),
  flag('untrusted', 'trusted', false),
  // The only way to give a target containing commas: it takes the rest of the string.
  { pattern: /target=[^\n]*/y, action: (p, text) => p.save('target', valueAfterEquals(text)) },
  // libxlu's pattern takes one character of the value, so that is all the report shows.
  {
    pattern: /[a-z][-a-z0-9]*=[^,],?/y,
    action: (p, text) => p.fail(text, 'unknown parameter'),
  },
  prefix('raw|qcow2?|vhd', (p, format) => p.setFormat(format)),
  prefix('iscsi|e?nbd|drbd', (p, script) => p.save('script', `block-${script}`)),
  prefix('tapdisk|tap2?|aio|ioemu|file|phy', () => {}),
  {
    // Only when what follows the colon could not continue a name: `foo:bar` is a target.
    pattern: /([a-z][a-z0-9]*:)(?:[^a-z0-9][^\n]*)?/y,
    trailingContext: true,
    action: (p, text) => {
      p.fail(text, 'unknown deprecated disk prefix');
      p.stopped = true;
    },
  },
  { pattern: /[^=,]*,|[^=,]+,?/y, action: (p, text) => p.positional(stripComma(text)) },
  {
    // Anything else (a stray '='): libxlu reports it with the rest of the line, unless it is the
    // last character, where the lexer meets the end of input first and reports nothing.
    pattern: /[^\n]/y,
    action: (p, text, rest) => {
      const line = /^[^\n]*/.exec(rest)?.[0] ?? '';
      if (rest !== '') p.fail(text + line, 'bad disk syntax');
      p.stopped = true;
    },
  },
];

/** flex's choice: the longest match (trailing context included), the earliest rule on a tie. */
function longestMatch(spec: string, pos: number): { rule: LexRule; match: RegExpExecArray } {
  let best: { rule: LexRule; match: RegExpExecArray } | undefined;
  for (const rule of RULES) {
    rule.pattern.lastIndex = pos;
    const match = rule.pattern.exec(spec);
    if (match === null || match[0].length === 0) continue;
    if (best === undefined || match[0].length > best.match[0].length) best = { rule, match };
  }
  // The last rule matches any character but a newline, and a newline starts a whitespace run.
  if (best === undefined) throw new Error(`disk spec lexer stuck at ${pos}`);
  return best;
}
