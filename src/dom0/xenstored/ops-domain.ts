/**
 * The requests about domains and the daemon: INTRODUCE, RELEASE, RESUME, SET_TARGET,
 * IS_DOMAIN_INTRODUCED (privileged), GET_DOMAIN_PATH (anyone) and CONTROL (privileged).
 */

import { XEN_EINVAL, XEN_ENOENT } from '../../abi/errno.js';
import { DOMID_SELF } from '../../abi/xen.js';
import type { OpContext } from './access.js';
import type { DomainEntry } from './domains.js';
import { domainPath } from './paths.js';
import { atoi, fail, onearg, splitStrings, strings } from './wire.js';

const OK = strings('OK');

/** INTRODUCE "<domid>\0<gfn>\0<port>\0": starts serving the domain's ring. */
export async function doIntroduce(ctx: OpContext, payload: Uint8Array): Promise<Uint8Array> {
  const args = splitStrings(payload);
  if (args.length < 3) fail(XEN_EINVAL);
  const domid = atoi(args[0]!) >>> 0;
  const gfn = atoi(args[1]!);
  const port = atoi(args[2]!) >>> 0;
  if (port === 0) fail(XEN_EINVAL);
  const control = ctx.state.domainControl;
  if (!control) fail(XEN_EINVAL, 'no domain access');
  await control.introduce(domid, gfn, port);
  return OK;
}

/** The introduced domain a one-domid request names (onearg_domain + find_connected_domain). */
function connectedDomain(ctx: OpContext, text: string | undefined): DomainEntry {
  if (text === undefined) fail(XEN_EINVAL);
  const domid = atoi(text) >>> 0;
  if (domid === 0) fail(XEN_EINVAL);
  const d = ctx.state.domains.get(domid);
  if (!d?.introduced) fail(XEN_ENOENT);
  if (!d.conn) fail(XEN_EINVAL);
  return d;
}

/** RELEASE "<domid>\0": stops serving it, removes its nodes, fires @releaseDomain. */
export function doRelease(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const d = connectedDomain(ctx, onearg(payload));
  ctx.state.domainControl?.release(d.domid);
  return OK;
}

/** RESUME "<domid>\0": a later shutdown fires @releaseDomain again. */
export function doResume(ctx: OpContext, payload: Uint8Array): Uint8Array {
  connectedDomain(ctx, onearg(payload)).shutdown = false;
  return OK;
}

/** SET_TARGET "<domid>\0<target>\0": domid acts as owner of target's nodes (stub domains). */
export function doSetTarget(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const args = splitStrings(payload);
  if (args.length < 2) fail(XEN_EINVAL);
  const d = connectedDomain(ctx, args[0]);
  const t = connectedDomain(ctx, args[1]);
  d.conn!.target = t.conn;
  return OK;
}

/** GET_DOMAIN_PATH "<domid>\0" → "/local/domain/<domid>\0". */
export function doGetDomainPath(_ctx: OpContext, payload: Uint8Array): Uint8Array {
  const arg = onearg(payload);
  if (arg === undefined) fail(XEN_EINVAL);
  return strings(domainPath(atoi(arg)));
}

/** IS_DOMAIN_INTRODUCED "<domid>\0" → "T\0" or "F\0" (DOMID_SELF is always T). */
export function doIsDomainIntroduced(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const arg = onearg(payload);
  if (arg === undefined) fail(XEN_EINVAL);
  const domid = atoi(arg) >>> 0;
  const yes = domid === DOMID_SELF || ctx.state.domains.get(domid)?.introduced === true;
  return strings(yes ? 'T' : 'F');
}

const CONTROL_HELP: readonly (readonly [string, string])[] = [
  ['check', ''],
  ['log', 'on|off'],
  ['print', '<string>'],
  ['quota', '[set <name> <val>|<domid>]'],
  ['help', ''],
];

/**
 * CONTROL "<command>\0<args>\0…": check, log on|off, print, quota and help, as xenstored's
 * xenstore-control knows them. Live update, log files and memory reports have no meaning
 * here; like any unknown command they are EINVAL.
 */
export function doControl(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const { state } = ctx;
  const [cmd, ...args] = splitStrings(payload);
  switch (cmd) {
    case 'check':
      if (args.length) fail(XEN_EINVAL);
      return OK;
    case 'log':
      if (args.length !== 1 || (args[0] !== 'on' && args[0] !== 'off')) fail(XEN_EINVAL);
      state.trace = args[0] === 'on';
      return OK;
    case 'print':
      if (args.length !== 1) fail(XEN_EINVAL);
      state.log(`control: ${args[0]}`);
      return OK;
    case 'quota':
      if (args.length === 0) return strings(state.quota.describe());
      if (args[0] === 'set') {
        if (args.length !== 3 || !state.quota.set(args[1]!, atoi(args[2]!))) fail(XEN_EINVAL);
        return OK;
      }
      if (args.length !== 1) fail(XEN_EINVAL);
      return strings(domainQuota(ctx, atoi(args[0]!) >>> 0));
    case 'help':
      if (args.length) fail(XEN_EINVAL);
      return strings(CONTROL_HELP.map(([c, p]) => `${c}\t${p}\n`).join(''));
    default:
      fail(XEN_EINVAL);
  }
}

/** CONTROL "quota <domid>": the domain's usage (domain_get_quota). */
function domainQuota(ctx: OpContext, domid: number): string {
  const { state } = ctx;
  const d = state.domains.get(domid);
  if (!d) fail(XEN_ENOENT);
  const conn = d.conn;
  const line = (name: string, v: number) => `${name.padEnd(16)}: ${String(v).padStart(8)}\n`;
  return (
    `Domain ${domid}:\n` +
    line('nodes', state.store.entries(domid)) +
    line('watches', conn?.watches.length ?? 0) +
    line('transactions', conn?.transactions.size ?? 0)
  );
}
