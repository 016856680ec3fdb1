// libxl's JSON for a domain configuration, as `xl -N create` and `xl list -l` print it: yajl's
// beautified output (four-space indent, "{\n\n}" for an empty map, a newline after the top-level
// value), keys in libxl_types.idl order, and a field left out while it holds its default
// (libxl_domain_config_gen_json). Only the fields Xenotype knows are produced.
import type { DomainConfig, ShutdownAction } from './domain-config.js';

export type Json = string | number | boolean | null | readonly Json[] | JsonMap;
export interface JsonMap {
  readonly [key: string]: Json;
}

/** yajl_gen with yajl_gen_beautify. */
export function yajlBeautify(value: Json): string {
  return `${gen(value, 0)}\n`;
}

function gen(v: Json, depth: number): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return yajlString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const inner = '    '.repeat(depth + 1);
  const close = '    '.repeat(depth);
  if (isArray(v)) {
    const items = v.map((x) => inner + gen(x, depth + 1));
    return `[\n${items.join(',\n')}\n${close}]`;
  }
  const entries = Object.entries(v).map(
    ([k, x]) => `${inner}${yajlString(k)}: ${gen(x, depth + 1)}`,
  );
  return `{\n${entries.join(',\n')}\n${close}}`;
}

function isArray(v: Json): v is readonly Json[] {
  return Array.isArray(v);
}

/** yajl_string_encode: the two-letter escapes, other control characters as \u00XX. */
function yajlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    switch (ch) {
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\t':
        out += '\\t';
        break;
      default: {
        const code = ch.charCodeAt(0);
        out += code < 0x20 ? `\\u00${code.toString(16).toUpperCase().padStart(2, '0')}` : ch;
      }
    }
  }
  return `${out}"`;
}

/** libxl_action_on_shutdown_to_string. */
function actionName(a: ShutdownAction): string {
  return a.replace('-', '_');
}

/** The libxl_domain_config map for `config`. */
export function domainConfigJson(config: DomainConfig): JsonMap {
  const bInfo: Record<string, Json> = {
    max_vcpus: config.maxVcpus,
    avail_vcpus: Array.from({ length: config.vcpus }, (_, i) => i),
    max_memkb: config.maxMemkb,
    target_memkb: config.targetMemkb,
    sched_params: {},
    claim_mode: 'True',
    kernel: config.kernel,
  };
  if (config.cmdline !== null) bInfo.cmdline = config.cmdline;
  if (config.ramdisk !== null) bInfo.ramdisk = config.ramdisk;
  bInfo['type.pvh'] = {};
  bInfo.arch_arm = {};
  bInfo.arch_x86 = {};
  const out: Record<string, Json> = {
    c_info: {
      type: config.type,
      name: config.name,
      uuid: config.uuid,
      run_hotplug_scripts: 'True',
    },
    b_info: bInfo,
  };
  // DESTROY is the enumeration's initial value, so libxl leaves those out.
  const actions: readonly (readonly [string, ShutdownAction])[] = [
    ['on_poweroff', config.onPoweroff],
    ['on_reboot', config.onReboot],
    ['on_watchdog', config.onWatchdog],
    ['on_crash', config.onCrash],
    ['on_soft_reset', config.onSoftReset],
  ];
  for (const [key, action] of actions) {
    if (action !== 'destroy') out[key] = actionName(action);
  }
  return out;
}

/** libxl_domain_config_to_json: what `xl -N create` prints. */
export function domainConfigToJson(config: DomainConfig): string {
  return yajlBeautify(domainConfigJson(config));
}
