// From xl.cfg settings to a typed domain configuration, as xl's parse_config_data
// (tools/xl/xl_parse.c in Xen 4.17) does for the keys Xenotype uses, with libxl's defaults
// (libxl__domain_build_info_setdefault) applied. Messages are xl's where xl has one; checks that
// Xen makes later (or not at all) and limits of Xenotype have messages of our own, in xl's style.
import { resolve } from 'node:path';
import type { DiskDevice } from '../disk-store.js';
import type { NicDevice } from '../nic-store.js';
import { readConfigData, type XluConfig } from './cfg.js';
import { parseConfigDisks } from './disks.js';
import { XL_KNOWN_KEYS } from './known-keys.js';
import { parseConfigNics } from './nics.js';
import { generateUuid, parseUuid } from './uuid.js';
import type { RandomBytes } from './vif-spec.js';

export type DomainType = 'pv' | 'hvm' | 'pvh';

/** libxl_action_on_shutdown, with the names xl.cfg uses. */
export type ShutdownAction =
  | 'destroy'
  | 'restart'
  | 'rename-restart'
  | 'preserve'
  | 'coredump-destroy'
  | 'coredump-restart'
  | 'soft-reset';

const ACTIONS: readonly ShutdownAction[] = [
  'destroy',
  'restart',
  'rename-restart',
  'preserve',
  'coredump-destroy',
  'coredump-restart',
  'soft-reset',
];

/** A domain to build: the parts of libxl_domain_config Xenotype honours. */
export interface DomainConfig {
  /** c_info.name */
  readonly name: string;
  /** c_info.type: the only type Xenotype builds so far. */
  readonly type: 'pvh';
  /** c_info.uuid, lower case. */
  readonly uuid: string;
  /** b_info.kernel, an absolute path. */
  readonly kernel: string;
  /** b_info.ramdisk, an absolute path. */
  readonly ramdisk: string | null;
  /** b_info.cmdline, built from cmdline= or root= and extra=. */
  readonly cmdline: string | null;
  /** b_info.target_memkb: memory at boot. */
  readonly targetMemkb: number;
  /** b_info.max_memkb. */
  readonly maxMemkb: number;
  /** The vCPUs online at boot (b_info.avail_vcpus holds 0 … vcpus-1). */
  readonly vcpus: number;
  /** b_info.max_vcpus. */
  readonly maxVcpus: number;
  readonly onPoweroff: ShutdownAction;
  readonly onReboot: ShutdownAction;
  readonly onWatchdog: ShutdownAction;
  readonly onCrash: ShutdownAction;
  readonly onSoftReset: ShutdownAction;
  /** d_config.disks: the virtual disks, in the order of disk=[...]. */
  readonly disks: readonly DiskDevice[];
  /** d_config.nics: the network interfaces, in the order of vif=[...], with their devids. */
  readonly nics: readonly NicDevice[];
}

export interface ParseDomainOptions {
  /** The name messages use: the config file as given on the command line. */
  readonly source: string;
  readonly data: Uint8Array | string;
  /** `key=value` arguments of `xl create`, appended after the file as xl does. */
  readonly extra?: readonly string[];
  /** Relative kernel and ramdisk paths are taken from here (the xl client's directory). */
  readonly cwd: string;
  readonly generateUuid?: () => string;
  /** Where the random part of a MAC that vif=[...] does not give comes from. */
  readonly randomBytes?: RandomBytes;
}

export type ParseDomainResult = { ok: true; config: DomainConfig } | { ok: false };

/** HVM_MAX_VCPUS: what libxl accepts for a PVH or HVM guest. */
const MAX_VCPUS = 128;
/** libxl's default when neither memory nor maxmem is given. */
const DEFAULT_MEMKB = 32 * 1024;

/** create_domain's config text: the file, then "\n" + one `key=value` line per argument. */
export function withExtraConfig(data: Uint8Array | string, extra: readonly string[]): Uint8Array {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  if (extra.length === 0) return bytes;
  const tail = Buffer.from(`\n${extra.map((e) => `${e}\n`).join('')}\n`, 'utf8');
  return Buffer.concat([bytes, tail]);
}

/**
 * Parses an xl.cfg into a DomainConfig. Everything xl would print goes to `report`, one line per
 * call; a failure means xl would exit with status 1.
 */
export function parseDomainConfig(
  opts: ParseDomainOptions,
  report: (line: string) => void,
): ParseDomainResult {
  const data = withExtraConfig(opts.data, opts.extra ?? []);
  const read = readConfigData(opts.source, data, report);
  if (!read.ok) {
    report(read.summary);
    return { ok: false };
  }
  const cfg = read.config;
  const fail = (line: string): ParseDomainResult => {
    report(line);
    return { ok: false };
  };

  // type= and the deprecated builder= match by prefix (strncmp over the value's length).
  let type: DomainType | null = null;
  const typeStr = cfg.getString('type');
  if (typeStr.ok) {
    type = prefixMatch(typeStr.value, ['hvm', 'pv', 'pvh']);
    if (!type) return fail(`Invalid domain type ${typeStr.value}.`);
  }
  const builder = cfg.getString('builder');
  if (builder.ok) {
    const b = prefixMatch(builder.value, ['hvm', 'generic']);
    if (!b) return fail(`Invalid domain type ${builder.value}.`);
    const builderType: DomainType = b === 'hvm' ? 'hvm' : 'pv';
    if (type && type !== builderType) {
      return fail('Contradicting "builder" and "type" options specified.');
    }
    type = builderType;
  }
  const typeDefaulted = type === null;
  const domainType: DomainType = type ?? 'pv'; // xl's default on x86

  const name = cfg.getString('name');
  if (!name.ok) return fail('Domain name must be specified.');

  let uuid: string;
  const uuidStr = cfg.getString('uuid');
  if (uuidStr.ok) {
    const parsed = parseUuid(uuidStr.value);
    if (!parsed) return fail(`Failed to parse UUID: ${uuidStr.value}`);
    uuid = parsed;
  } else {
    uuid = (opts.generateUuid ?? generateUuid)();
  }

  const memory = cfg.getLong('memory');
  const maxmem = cfg.getLong('maxmem');
  const vcpusSet = cfg.getLong('vcpus');
  const maxvcpusSet = cfg.getLong('maxvcpus');
  const vcpus = vcpusSet.ok ? vcpusSet.value : 0n;
  let maxVcpus = maxvcpusSet.ok ? maxvcpusSet.value : 0n;
  if (maxVcpus === 0n) maxVcpus = vcpus;
  if (maxVcpus < vcpus) return fail('xl: maxvcpus < vcpus');

  const actions: Record<string, ShutdownAction> = {};
  for (const [key, dflt] of SHUTDOWN_KEYS) {
    const got = cfg.getString(key);
    const text = got.ok ? got.value : dflt;
    const action = ACTIONS.find((a) => a === text);
    if (!action) return fail(`Unknown ${key} action "${text}" specified`);
    actions[key] = action;
  }

  const kernel = cfg.getString('kernel');
  const ramdisk = cfg.getString('ramdisk');
  const cmdline = parseCmdline(cfg, report);

  // Xenotype's own limits, after everything xl itself checks.
  if (domainType !== 'pvh') {
    return fail(
      typeDefaulted
        ? 'No domain type given: xl then builds a pv guest, which Xenotype cannot run yet. Set type = "pvh".'
        : `Domain type ${domainType} is not supported by Xenotype yet: only pvh guests run.`,
    );
  }
  for (const [key] of SHUTDOWN_KEYS) {
    const a = actions[key]!;
    if (a === 'coredump-destroy' || a === 'coredump-restart') {
      return fail(`${key} action "${a}" is not supported by Xenotype: it cannot dump cores yet.`);
    }
    if (a === 'soft-reset' && key !== 'on_soft_reset') {
      return fail(`${key} action "${a}" is not supported by Xenotype.`);
    }
  }
  if (!kernel.ok || kernel.value === '') {
    return fail('A pvh guest needs "kernel": Xenotype has no firmware or bootloader to start it.');
  }
  const mem = memoryKb(memory.ok ? memory.value : null, 'memory');
  if (typeof mem === 'string') return fail(mem);
  const max = memoryKb(maxmem.ok ? maxmem.value : null, 'maxmem');
  if (typeof max === 'string') return fail(max);
  const maxMemkb = max ?? mem ?? DEFAULT_MEMKB;
  const targetMemkb = mem ?? maxMemkb;
  if (maxMemkb < targetMemkb) {
    return fail(`maxmem (${maxMemkb / 1024} MiB) is less than memory (${targetMemkb / 1024} MiB).`);
  }
  if (vcpusSet.ok && vcpus < 1n) return fail(`"vcpus" must be at least 1 (got ${vcpus}).`);
  if (maxVcpus > BigInt(MAX_VCPUS)) {
    return fail(`maxvcpus (${maxVcpus}) is more than the ${MAX_VCPUS} vCPUs a pvh guest can have.`);
  }
  const disks = parseConfigDisks(cfg, opts.source, opts.cwd);
  if (!disks.ok) return fail(disks.error);
  const nics = parseConfigNics(cfg, opts.source, report, opts.randomBytes);
  if (!nics.ok) return fail(nics.error);
  warnIgnoredKeys(cfg, report);

  return {
    ok: true,
    config: {
      name: name.value,
      type: 'pvh',
      uuid,
      kernel: resolve(opts.cwd, kernel.value),
      ramdisk: ramdisk.ok ? resolve(opts.cwd, ramdisk.value) : null,
      cmdline,
      targetMemkb,
      maxMemkb,
      vcpus: vcpus > 0n ? Number(vcpus) : 1,
      maxVcpus: maxVcpus > 0n ? Number(maxVcpus) : 1,
      onPoweroff: actions.on_poweroff!,
      onReboot: actions.on_reboot!,
      onWatchdog: actions.on_watchdog!,
      onCrash: actions.on_crash!,
      onSoftReset: actions.on_soft_reset!,
      disks: disks.disks,
      nics: nics.nics,
    },
  };
}

/** xl's defaults for the on_* keys, in the order it reads them. */
const SHUTDOWN_KEYS: readonly (readonly [string, string])[] = [
  ['on_poweroff', 'destroy'],
  ['on_reboot', 'restart'],
  ['on_watchdog', 'destroy'],
  ['on_crash', 'destroy'],
  ['on_soft_reset', 'soft-reset'],
];

/** xl compares with strncmp(value, candidate, strlen(value)): "" and "h" both mean hvm. */
function prefixMatch<T extends string>(value: string, candidates: readonly T[]): T | null {
  return candidates.find((c) => c.startsWith(value)) ?? null;
}

/** MiB from the config to KiB, refusing what libxl would only fail on much later. */
function memoryKb(mib: bigint | null, key: string): number | null | string {
  if (mib === null) return null;
  if (mib < 1n) return `"${key}" must be a positive number of MiB (got ${mib}).`;
  if (mib > 1n << 32n) return `"${key}" is too large (${mib} MiB).`;
  return Number(mib) * 1024;
}

/** parse_cmdline: cmdline= wins; otherwise "root=ROOT EXTRA", "root=ROOT" or "EXTRA". */
function parseCmdline(cfg: XluConfig, report: (line: string) => void): string | null {
  const cmdline = cfg.getString('cmdline');
  const root = cfg.getString('root');
  const extra = cfg.getString('extra');
  if (cmdline.ok) {
    if (root.ok || extra.ok) report('Warning: ignoring root= and extra= in favour of cmdline=');
    return cmdline.value;
  }
  if (root.ok && extra.ok) return `root=${root.value} ${extra.value}`;
  if (root.ok) return `root=${root.value}`;
  if (extra.ok) return extra.value;
  return null;
}

const HANDLED_KEYS = new Set([
  'name',
  'type',
  'builder',
  'uuid',
  'memory',
  'maxmem',
  'vcpus',
  'maxvcpus',
  'kernel',
  'ramdisk',
  'disk',
  'vif',
  'vif2',
  'cmdline',
  'root',
  'extra',
  ...SHUTDOWN_KEYS.map(([k]) => k),
]);

/**
 * Xen's xl says nothing about keys it does not know (libxlu keeps no record of what was read),
 * and an operator's typo then goes unnoticed; Xenotype warns, and also names the keys xl knows
 * but Xenotype does not act on yet.
 */
function warnIgnoredKeys(cfg: XluConfig, report: (line: string) => void): void {
  const seen = new Set<string>();
  for (const s of cfg.settings) {
    if (HANDLED_KEYS.has(s.name) || seen.has(s.name)) continue;
    seen.add(s.name);
    report(
      XL_KNOWN_KEYS.has(s.name)
        ? `WARNING: ignoring "${s.name}" option: not supported by Xenotype yet.`
        : `WARNING: ignoring unknown option "${s.name}".`,
    );
  }
}
