/** One XEN_DOMCTL_* call in progress, as the per-group handlers see it. */
import { xen_domctl } from '../../abi/domctl.js';
import type { Domain } from '../common/domain.js';
import type { HypercallCall } from './table.js';

/** Offset of the payload union in struct xen_domctl. */
export const DOMCTL_U = xen_domctl.offsets.u;

export interface DomctlOp {
  readonly call: HypercallCall;
  readonly cmd: number;
  /** The domctl's `domain` field: a handler may rewrite it (createdomain, getdomaininfo). */
  domain: number;
  /** The caller's struct xen_domctl, copied in; handlers write their answers into it. */
  readonly view: DataView;
  /** The domain named by `domain`; undefined only for createdomain and getdomaininfo. */
  readonly target: Domain | undefined;
  /** Whether the whole struct goes back to the caller afterwards (Xen's copyback). */
  copyback: boolean;
}

/** Returns 0 or a negative Xen errno. */
export type DomctlHandler = (op: DomctlOp) => number;

/** The target, which the dispatcher guarantees for every command but createdomain and getdomaininfo. */
export function targetOf(op: DomctlOp): Domain {
  if (op.target === undefined) throw new Error(`domctl ${op.cmd} without a target domain`);
  return op.target;
}
