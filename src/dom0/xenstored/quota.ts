/**
 * Per-domain quotas, with C xenstored 4.17's defaults and names (as `xenstore-control
 * quota` shows them). They bind unprivileged domains only; Dom0 is unlimited.
 *
 * The errors are C xenstored's: ENOSPC for nodes, node size, transactions, transaction
 * nodes and permissions; E2BIG for watches (4.17; later Xen says ENOSPC) and for a reply
 * over XENSTORE_PAYLOAD_MAX. (oxenstored answers EQUOTA instead, a name outside
 * xsd_errors that libxenstore reads as EINVAL.) Each limit is "at most N": 4.17 compares
 * some with `>` and admits N + 1, an off-by-one later Xen fixed.
 */

import { XENSTORE_REL_PATH_MAX } from '../../abi/io/xs_wire.js';

export interface QuotaValues {
  /** Nodes a domain may own ("nodes", quota_nb_entry_per_domain). */
  nodes: number;
  /** Watches per connection ("watches"). */
  watches: number;
  /** Open transactions per connection ("transactions"). */
  transactions: number;
  /** Replies queued to a domain before xenstored stops reading its requests ("outstanding"). */
  outstanding: number;
  /** Names one transaction may touch ("transaction-nodes"). */
  transactionNodes: number;
  /** Largest node record, see nodeSize() ("node-size"). */
  nodeSize: number;
  /** Longest path beyond /local/domain/<id>/ ("path-max"). */
  pathMax: number;
  /** Permission entries per node ("permissions"). */
  permissions: number;
}

export const XENSTORED_DEFAULT_QUOTA: Readonly<QuotaValues> = {
  nodes: 1000,
  watches: 128,
  transactions: 10,
  outstanding: 20,
  transactionNodes: 1024,
  nodeSize: 2048,
  pathMax: XENSTORE_REL_PATH_MAX,
  permissions: 5,
};

/** CONTROL "quota" names and descriptions, in xenstored's order. */
const QUOTA_NAMES: readonly (readonly [name: string, key: keyof QuotaValues, descr: string])[] = [
  ['nodes', 'nodes', 'Nodes per domain'],
  ['watches', 'watches', 'Watches per domain'],
  ['transactions', 'transactions', 'Transactions per domain'],
  ['outstanding', 'outstanding', 'Outstanding requests per domain'],
  ['transaction-nodes', 'transactionNodes', 'Max. number of accessed nodes per transaction'],
  ['node-size', 'nodeSize', 'Max. size of a node'],
  ['path-max', 'pathMax', 'Max. length of a node path'],
  ['permissions', 'permissions', 'Max. number of permissions per node'],
];

export class Quota {
  readonly values: QuotaValues;

  constructor(overrides: Partial<QuotaValues> = {}) {
    this.values = { ...XENSTORED_DEFAULT_QUOTA, ...overrides };
    this.values.pathMax = Math.min(this.values.pathMax, XENSTORE_REL_PATH_MAX);
  }

  /** Whether adding `adding` to `current` stays within `limit` for this requester. */
  allows(privileged: boolean, key: keyof QuotaValues, current: number, adding = 1): boolean {
    return privileged || current + adding <= this.values[key];
  }

  /** The text of CONTROL "quota" without arguments (quota_show_current). */
  describe(): string {
    let out = 'Quota settings:\n';
    for (const [name, key, descr] of QUOTA_NAMES) {
      out += `${name.padEnd(17)}: ${String(this.values[key]).padStart(8)} ${descr}\n`;
    }
    return out;
  }

  /** CONTROL "quota set <name> <value>": false for an unknown name or a value below 1. */
  set(name: string, value: number): boolean {
    const entry = QUOTA_NAMES.find(([n]) => n === name);
    if (!entry || !(value >= 1)) return false;
    this.values[entry[1]] = entry[1] === 'pathMax' ? Math.min(value, XENSTORE_REL_PATH_MAX) : value;
    return true;
  }
}
