/**
 * What every part of the daemon shares: the store, the quotas, the known domains, the
 * open connections (watch events go to all of them), the permissions of the special
 * @-watches, and the log. One instance per Xenstored; nothing is global.
 */

import type { Connection } from './connection.js';
import { DomainTable } from './domains.js';
import { XS_PERM_NONE, type XsPerm } from './perms.js';
import { Quota, type QuotaValues } from './quota.js';
import { Store } from './tree.js';

export const SPECIAL_INTRODUCE = '@introduceDomain';
export const SPECIAL_RELEASE = '@releaseDomain';

/** The domain requests that need Dom0's libraries; Xenstored implements them. */
export interface DomainControl {
  introduce(domid: number, gfn: number, port: number): Promise<void>;
  release(domid: number): void;
}

export class XsState {
  readonly store = new Store();
  readonly domains = new DomainTable(this.store);
  readonly quota: Quota;
  readonly connections = new Set<Connection>();
  /** Permissions of @introduceDomain and @releaseDomain: by default Dom0's alone. */
  readonly specialPerms = new Map<string, readonly XsPerm[]>([
    [SPECIAL_INTRODUCE, [{ id: 0, perms: XS_PERM_NONE }]],
    [SPECIAL_RELEASE, [{ id: 0, perms: XS_PERM_NONE }]],
  ]);
  /** CONTROL "log on|off" switches the per-request trace. */
  trace = false;
  domainControl: DomainControl | undefined;

  constructor(
    readonly log: (line: string) => void,
    quota: Partial<QuotaValues> = {},
  ) {
    this.quota = new Quota(quota);
  }
}
