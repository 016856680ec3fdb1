// The xl vif specification (xl-network-configuration(5)) as Xen 4.17's xl reads it in
// parse_nic_config, with libxlu's rate parser and the defaults libxl fills in for a NIC.
//
// xl reads `vif = [...]` entries and `xl network-attach` arguments differently: in a config file
// a bad setting is reported and skipped, on the command line it ends the command. Only a bad
// rate or number ends both.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { strtoul } from './strtol.js';

export type NicType = 'vif' | 'ioemu';

/** Credit-based rate limiting: this many bytes may be sent every interval. */
export interface VifRate {
  readonly bytesPerInterval: number;
  readonly intervalUsecs: number;
}

/** libxl_device_nic as xl fills it, with libxl's defaults for what the spec leaves out. */
export interface VifSpec {
  /** Lower-case xx:xx:xx:xx:xx:xx; when not given (or all zero), a random one in 00:16:3e. */
  readonly mac: string;
  readonly bridge: string;
  /** As written; the hotplug script may take a space-separated list. */
  readonly ip: string | undefined;
  /** The backend interface's name (libxl's ifname); undefined: vif<domid>.<devid>. */
  readonly vifname: string | undefined;
  readonly script: string;
  /** The emulated card for HVM ioemu NICs. */
  readonly model: string;
  /** libxl's nictype; undefined: chosen by the domain type (ioemu for HVM, vif otherwise). */
  readonly type: NicType | undefined;
  /** The backend domain's name; undefined means domain 0. */
  readonly backend: string | undefined;
  /** For the vif-route script (`netdev` is its old name). */
  readonly gatewaydev: string | undefined;
  /** undefined: unlimited. */
  readonly rate: VifRate | undefined;
  readonly mtu: number;
  /** undefined: the lowest free index. */
  readonly devid: number | undefined;
  /** Whether the frontend is told to trust the backend; undefined: libxl's default (true). */
  readonly trusted: boolean | undefined;
  /** COLO settings, by their key (`forwarddev`, `colo_*`), as written. */
  readonly colo: Readonly<Record<string, string>>;
}

export type VifSpecResult =
  | { readonly ok: true; readonly vif: VifSpec; readonly warnings: readonly string[] }
  | {
      readonly ok: false;
      readonly error: string;
      /**
       * What xl prints before `error`: the config source ("command line" for an xl command)
       * and ": ", or "xl: ", or nothing.
       */
      readonly prefix: 'config-source' | 'xl' | 'none';
    };

export type VifRateResult =
  | { readonly ok: true; readonly rate: VifRate }
  | { readonly ok: false; readonly error: string };

/** Where the random part of a generated MAC comes from; at least 3 bytes. */
export type RandomBytes = () => Uint8Array;

const defaultRandomBytes: RandomBytes = () => cryptoRandomBytes(3);

/**
 * One `vif = [...]` entry: comma-separated settings (empty pieces skipped, leading spaces
 * dropped). A setting xl rejects is reported in `warnings` and skipped, as xl does.
 */
export function parseVifSpec(spec: string, randomBytes?: RandomBytes): VifSpecResult {
  const settings = spec
    .split(',')
    .filter((piece) => piece !== '')
    .map((piece) => piece.replace(/^ +/, ''));
  return parseVifSettings(settings, false, randomBytes ?? defaultRandomBytes);
}

/**
 * `xl network-attach <dom> <setting>...`: each argument is one whole setting (commas and all),
 * and the first one xl rejects fails the command.
 */
export function parseVifArgs(args: readonly string[], randomBytes?: RandomBytes): VifSpecResult {
  return parseVifSettings(args, true, randomBytes ?? defaultRandomBytes);
}

const DEFAULT_BRIDGE = 'xenbr0';
const DEFAULT_SCRIPT = '/etc/xen/scripts/vif-bridge';
const DEFAULT_MODEL = 'rtl8139';
const DEFAULT_MTU = 1500;
/** Xen's OUI. */
const XEN_MAC_PREFIX = [0x00, 0x16, 0x3e];

const COLO_KEYS: ReadonlySet<string> = new Set([
  'forwarddev',
  ...[
    'mirror',
    'compare_pri_in',
    'compare_sec_in',
    'compare_notify',
    'redirector0',
    'redirector1',
    'redirector2',
    'sec_redirector0',
    'sec_redirector1',
  ].flatMap((sock) => ['id', 'ip', 'port'].map((part) => `colo_sock_${sock}_${part}`)),
  ...['redirector0', 'redirector1', 'sec_redirector0', 'sec_redirector1'].flatMap((filter) =>
    ['queue', 'indev', 'outdev'].map((part) => `colo_filter_${filter}_${part}`),
  ),
  'colo_filter_mirror_queue',
  'colo_filter_mirror_outdev',
  'colo_filter_sec_rewriter0_queue',
  'colo_compare_pri_in',
  'colo_compare_sec_in',
  'colo_compare_out',
  'colo_compare_notify_dev',
  'colo_checkpoint_host',
  'colo_checkpoint_port',
]);

type MutableVif = { -readonly [K in keyof VifSpec]: VifSpec[K] };

function parseVifSettings(
  settings: readonly string[],
  stopAtRejected: boolean,
  randomBytes: RandomBytes,
): VifSpecResult {
  const vif: MutableVif = {
    mac: '',
    bridge: DEFAULT_BRIDGE,
    ip: undefined,
    vifname: undefined,
    script: DEFAULT_SCRIPT,
    model: DEFAULT_MODEL,
    type: undefined,
    backend: undefined,
    gatewaydev: undefined,
    rate: undefined,
    mtu: 0,
    devid: undefined,
    trusted: undefined,
    colo: {},
  };
  let mac: readonly number[] = [0, 0, 0, 0, 0, 0];
  const colo: Record<string, string> = {};
  const warnings: string[] = [];
  for (const setting of settings) {
    const outcome = applySetting(vif, setting);
    if (outcome.kind === 'mac') mac = outcome.mac;
    else if (outcome.kind === 'colo') colo[outcome.key] = outcome.value;
    else if (outcome.kind === 'warning') warnings.push(outcome.message);
    else if (outcome.kind === 'rejected') {
      if (stopAtRejected) return { ok: false, error: outcome.message, prefix: 'none' };
      warnings.push(outcome.message);
    } else if (outcome.kind === 'fatal') {
      return { ok: false, error: outcome.message, prefix: outcome.prefix };
    }
  }
  // libxl treats an all-zero MAC as "not given".
  if (mac.every((octet) => octet === 0)) mac = randomXenMac(randomBytes());
  vif.mac = formatMac(mac);
  if (vif.mtu === 0) vif.mtu = DEFAULT_MTU;
  vif.colo = Object.freeze(colo);
  return { ok: true, vif: Object.freeze(vif), warnings };
}

type SettingOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'mac'; readonly mac: readonly number[] }
  | { readonly kind: 'colo'; readonly key: string; readonly value: string }
  | { readonly kind: 'warning' | 'rejected'; readonly message: string }
  | { readonly kind: 'fatal'; readonly message: string; readonly prefix: 'config-source' | 'xl' };

const DONE: SettingOutcome = { kind: 'done' };

function applySetting(vif: MutableVif, setting: string): SettingOutcome {
  // xl matches "key=" as a prefix, so the key ends at the first '=' and the value may hold more.
  const eq = setting.indexOf('=');
  if (eq < 0) {
    if (setting === 'trusted' || setting === 'untrusted') {
      vif.trusted = setting === 'trusted';
      return DONE;
    }
    return { kind: 'rejected', message: `unrecognized argument \`${setting}'` };
  }
  const key = setting.slice(0, eq);
  const value = setting.slice(eq + 1);
  switch (key) {
    case 'type':
      if (value !== 'vif' && value !== 'ioemu') {
        return { kind: 'rejected', message: "Invalid parameter `type'." };
      }
      vif.type = value;
      return DONE;
    case 'mac': {
      const mac = parseMac(value);
      return mac === undefined
        ? { kind: 'rejected', message: "Invalid parameter `mac'." }
        : { kind: 'mac', mac };
    }
    case 'bridge':
      vif.bridge = value;
      return DONE;
    case 'netdev':
      vif.gatewaydev = value;
      return {
        kind: 'warning',
        message: 'the netdev parameter is deprecated, please use gatewaydev instead',
      };
    case 'gatewaydev':
      vif.gatewaydev = value;
      return DONE;
    case 'ip':
      vif.ip = value;
      return DONE;
    case 'script':
      vif.script = value;
      return DONE;
    case 'backend':
      vif.backend = value;
      return DONE;
    case 'vifname':
      vif.vifname = value;
      return DONE;
    case 'model':
      vif.model = value;
      return DONE;
    case 'rate': {
      const rate = parseVifRate(value);
      if (!rate.ok) return { kind: 'fatal', message: rate.error, prefix: 'config-source' };
      vif.rate = rate.rate;
      return DONE;
    }
    case 'accel':
      return {
        kind: 'warning',
        message: 'the accel parameter for vifs is currently not supported',
      };
    case 'devid':
    case 'mtu': {
      const number = parseUnsigned(value);
      if (number === undefined) {
        return { kind: 'fatal', message: `failed to convert "${value}" to number`, prefix: 'xl' };
      }
      if (key === 'mtu') vif.mtu = number;
      else vif.devid = number;
      return DONE;
    }
    default:
      if (COLO_KEYS.has(key)) return { kind: 'colo', key, value };
      return { kind: 'rejected', message: `unrecognized argument \`${setting}'` };
  }
}

/**
 * Six hex numbers, each read by strtoul(…, 16) and each followed by one separator of any kind;
 * whatever follows the sixth is ignored. xl reads on past the end of a short MAC (into the next
 * setting); here a short MAC is refused.
 */
export function parseMac(text: string): readonly number[] | undefined {
  const octets: number[] = [];
  let pos = 0;
  while (octets.length < 6) {
    const octet = strtoul(text.slice(pos), 16);
    if (octet.end === 0 || octet.value > 255n) return undefined;
    octets.push(Number(octet.value));
    pos += octet.end + 1;
  }
  return octets;
}

export function formatMac(octets: readonly number[]): string {
  return octets.map((octet) => octet.toString(16).padStart(2, '0')).join(':');
}

/** libxl's choice: Xen's OUI, then 23 random bits (the top bit of the fourth octet clear). */
export function randomXenMac(random: Uint8Array): readonly number[] {
  return [...XEN_MAC_PREFIX, (random[0] ?? 0) & 0x7f, random[1] ?? 0, random[2] ?? 0];
}

/**
 * xl's parse_ulong: strtoul base 10, trailing junk ignored. xl lets a negative number wrap into
 * a garbage int; anything beyond INT_MAX (which includes every negative) is refused here.
 */
function parseUnsigned(text: string): number | undefined {
  const number = strtoul(text, 10);
  if (number.end === 0 || number.value > 0x7fffffffn) return undefined;
  return Number(number.value);
}

const UINT32_MAX = 0xffffffffn;
const UINT64_MAX = (1n << 64n) - 1n;
const BYTES_PER_SEC = /^[0-9]+[GMK]?[Bb]\/s$/;
const INTERVAL = /^[0-9]+[mu]?s?$/;

/**
 * `RATE/s[@INTERVAL]` as libxlu's xlu_vif_parse_rate reads it: "10Mb/s", "250KB/s@20ms". K, M
 * and G are powers of 1000; a 'b' means bits. The interval defaults to 50ms; a bare number is in
 * seconds. Numbers are read by strtoull base 0, so a leading 0 makes them octal. On failure,
 * `error` is libxlu's report without the leading "<config source>: ".
 */
export function parseVifRate(rate: string): VifRateResult {
  const fail = (message: string, what: string): VifRateResult => ({
    ok: false,
    error: `config parsing error in vif: ${message} in \`${what}'`,
  });
  const at = rate.indexOf('@');
  const speed = at < 0 ? rate : rate.slice(0, at);
  const interval = at < 0 ? undefined : rate.slice(at + 1);
  if (speed === '') return fail('no rate specified', rate);

  if (!BYTES_PER_SEC.test(speed)) return fail('invalid rate', speed);
  const amount = strtoul(speed, 0);
  let bytesPerSec = amount.value;
  if (bytesPerSec === 0n || bytesPerSec > UINT32_MAX) return fail('rate overflow', speed);
  const unit = speed[amount.end];
  if (unit === 'G') bytesPerSec *= 1_000_000_000n;
  else if (unit === 'M') bytesPerSec *= 1_000_000n;
  else if (unit === 'K') bytesPerSec *= 1_000n;
  if (unit === 'b' || speed[amount.end + 1] === 'b') bytesPerSec /= 8n;

  let intervalUsecs = 50_000n;
  if (interval !== undefined) {
    if (!INTERVAL.test(interval)) return fail('invalid replenishment interval', interval);
    const count = strtoul(interval, 0);
    intervalUsecs = count.value;
    if (intervalUsecs === 0n || intervalUsecs > UINT32_MAX) {
      return fail('replenishment interval overflow', interval);
    }
    const intervalUnit = interval[count.end];
    if (intervalUnit === 's' || intervalUnit === undefined) intervalUsecs *= 1_000_000n;
    else if (intervalUnit === 'm') intervalUsecs *= 1_000n;
    if (intervalUsecs > UINT32_MAX) return fail('replenishment interval overflow', interval);
  }

  if (bytesPerSec > UINT64_MAX / intervalUsecs) return fail('rate overflow', rate);
  // Below 2^64 / 10^6, so exact as a number.
  const bytesPerInterval = Number((bytesPerSec * intervalUsecs) / 1_000_000n);
  return { ok: true, rate: { bytesPerInterval, intervalUsecs: Number(intervalUsecs) } };
}
