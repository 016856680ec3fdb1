// vif=[...] of an xl.cfg, or the NIC of `xl network-attach`: each spec read as xl's
// parse_nic_config reads it, then checked as libxl__device_nic_setdefault checks a NIC of a PV or
// PVH guest, with Xenotype's own limit: Domain-0 is the only network backend.
import type { NicDevice, NicRequest } from '../nic-store.js';
import { cfgText, type XluConfig } from './cfg.js';
import { strtoul } from './strtol.js';
import { parseVifSpec, type RandomBytes, type VifSpec, type VifSpecResult } from './vif-spec.js';

export type NicsResult = { ok: true; nics: NicDevice[] } | { ok: false; error: string };

/**
 * The NICs of `vif=[...]`, none when the key is absent. What xl prints while it reads the specs
 * (deprecations, unknown settings) goes to `report`.
 */
export function parseConfigNics(
  cfg: XluConfig,
  source: string,
  report: (line: string) => void,
  randomBytes?: RandomBytes,
): NicsResult {
  // xl reads vif2 only to say that it will not.
  if (cfg.getList('vif2').ok) {
    report('WARNING: vif2: netchannel2 is deprecated and not supported by xl');
  }
  const list = cfg.getList('vif');
  if (!list.ok) return { ok: true, nics: [] };
  const specs: VifSpec[] = [];
  for (const item of list.value) {
    // xlu_cfg_get_listitem gives NULL for an item that is not a string, which ends xl's loop.
    if (item.kind !== 'string') break;
    const spec = cfgText(item.value);
    const parsed = parseVifSpec(spec, randomBytes);
    if (!parsed.ok) {
      reportUpToFailure(spec, report);
      return { ok: false, error: failureLine(parsed, source) };
    }
    for (const warning of parsed.warnings) report(warning);
    specs.push(parsed.vif);
  }

  // What libxl then checks, NIC by NIC.
  const requests: NicRequest[] = [];
  for (const [index, spec] of specs.entries()) {
    if (spec.type === 'ioemu') {
      return {
        ok: false,
        error: `Vif ${index}: type=ioemu is an emulated card, which only HVM guests have; a pvh guest's vif is type=vif.`,
      };
    }
    const checked = toNicDevice(spec);
    if (!checked.ok) return { ok: false, error: `Vif ${index}: ${checked.error}` };
    requests.push(checked.nic);
  }
  return assignDevids(requests);
}

/** The line xl prints for a spec it gives up on. */
export function failureLine(failed: Extract<VifSpecResult, { ok: false }>, source: string): string {
  if (failed.prefix === 'config-source') return `${source}: ${failed.error}`;
  if (failed.prefix === 'xl') return `xl: ${failed.error}`;
  return failed.error;
}

/** xl prints each setting's warning as it reads it: those before the one that ended the spec. */
function reportUpToFailure(spec: string, report: (line: string) => void): void {
  const noRandom = () => new Uint8Array(3);
  for (const setting of spec.split(',')) {
    const one = parseVifSpec(setting, noRandom);
    if (!one.ok) return;
    for (const warning of one.warnings) report(warning);
  }
}

/**
 * libxl__device_nic_setdefault's checks for a PV or PVH guest's NIC, and the backend: Xenotype's
 * netback runs in Domain-0, so `backend=` may only name Domain-0 (by name or number).
 */
export function toNicDevice(
  spec: VifSpec,
): { ok: true; nic: NicRequest } | { ok: false; error: string } {
  if (spec.type === 'ioemu') {
    return { ok: false, error: 'trying to create PV or PVH guest with an emulated interface' };
  }
  if (spec.backend !== undefined && !namesDomain0(spec.backend)) {
    return {
      ok: false,
      error: `backend=${spec.backend}: Xenotype serves network interfaces from Domain-0 only (driver domains are not supported yet).`,
    };
  }
  return {
    ok: true,
    nic: {
      devid: spec.devid,
      mac: spec.mac,
      bridge: spec.bridge,
      ip: spec.ip,
      vifname: spec.vifname,
      gatewaydev: spec.gatewaydev,
      rate: spec.rate,
      mtu: spec.mtu,
      script: spec.script,
      trusted: spec.trusted,
      colo: Object.keys(spec.colo).length === 0 ? undefined : spec.colo,
    },
  };
}

/** libxl_domain_qualifier_to_domid: all digits (or nothing) is a domid, else a name. */
function namesDomain0(qualifier: string): boolean {
  if (/^[0-9]*$/.test(qualifier)) return BigInt.asUintN(32, strtoul(qualifier, 10).value) === 0n;
  return qualifier === 'Domain-0';
}

/**
 * Devids for the NICs without one: the lowest ones that no NIC has. libxl 4.17's
 * libxl__device_nic_set_devids numbers them 0, 1, 2… (its size_t comparison never counts the
 * given devids) and a clash then fails the create with "device already exists in xenstore"; this
 * gives the same numbers whenever libxl's create succeeds.
 */
function assignDevids(requests: readonly NicRequest[]): NicsResult {
  const taken = new Set<number>();
  for (const nic of requests) {
    if (nic.devid === undefined) continue;
    if (taken.has(nic.devid)) return { ok: false, error: `Vif devid=${nic.devid} is given twice` };
    taken.add(nic.devid);
  }
  let next = 0;
  const nics: NicDevice[] = [];
  for (const nic of requests) {
    let devid = nic.devid;
    if (devid === undefined) {
      while (taken.has(next)) next++;
      devid = next++;
    }
    nics.push({ ...nic, devid });
  }
  return { ok: true, nics };
}
