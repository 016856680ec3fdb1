/**
 * Node permissions (xenstore_lib.h, xs_lib.c): a list whose first entry names the owner
 * and, with its letter, what every domain not listed may do; later entries grant
 * individual domains. On the wire each entry is a letter and a domid: n (none), r (read),
 * w (write), b (both).
 */

import { XEN_EINVAL } from '../../abi/errno.js';
import { fail, strtoul32 } from './wire.js';

// The XS_PERM_* bits of xenstore_lib.h.
export const XS_PERM_NONE = 0x00;
export const XS_PERM_READ = 0x01;
export const XS_PERM_WRITE = 0x02;
/** Internal: the connection owns the node (or is privileged). */
export const XS_PERM_OWNER = 0x08;
/** Internal: the entry names a domain that no longer exists and is not honoured. */
export const XS_PERM_IGNORE = 0x10;

export interface XsPerm {
  /** Domain id. */
  readonly id: number;
  /** XS_PERM_* bits. */
  readonly perms: number;
}

/** One entry as text ("b5"), as xs_perm_to_string writes it (the IGNORE bit is not shown). */
export function permToString(p: XsPerm): string {
  const letter = (
    { [XS_PERM_NONE]: 'n', [XS_PERM_READ]: 'r', [XS_PERM_WRITE]: 'w', 3: 'b' } as Record<
      number,
      string
    >
  )[p.perms & (XS_PERM_READ | XS_PERM_WRITE)];
  return `${letter ?? 'n'}${p.id | 0}`;
}

/** Parses entries as xs_strings_to_perms does; EINVAL on a bad letter or domid. */
export function parsePerms(entries: readonly string[]): XsPerm[] {
  return entries.map((e) => {
    const bits = { n: XS_PERM_NONE, r: XS_PERM_READ, w: XS_PERM_WRITE, b: 3 }[e[0] ?? ''];
    if (bits === undefined) fail(XEN_EINVAL, `bad permission "${e}"`);
    const id = strtoul32(e.slice(1));
    if (e.length === 1 || !id || id.rest !== '') fail(XEN_EINVAL, `bad permission "${e}"`);
    return { id: id.value, perms: bits };
  });
}

/** Who asks: the connection's domid, whether it is privileged, and its SET_TARGET target. */
export interface Requester {
  readonly id: number;
  readonly privileged: boolean;
  readonly targetId: number | undefined;
}

/**
 * What `who` may do with a node of these permissions (perm_for_conn): everything when
 * privileged or when it (or its target) owns the node; otherwise the first entry after
 * the owner naming it (or its target), else the owner entry's default for others.
 * `honoured(id)` says whether an entry's domain still counts (see DomainTable).
 */
export function permForConn(
  who: Requester,
  perms: readonly XsPerm[],
  honoured: (id: number) => boolean = () => true,
): number {
  const all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
  const owner = perms[0];
  if (!owner) return XS_PERM_NONE;
  if (who.privileged || owner.id === who.id || owner.id === who.targetId) return all;
  for (let i = 1; i < perms.length; i++) {
    const p = perms[i]!;
    if (p.perms & XS_PERM_IGNORE || !honoured(p.id)) continue;
    if (p.id === who.id || p.id === who.targetId) return p.perms & all;
  }
  return owner.perms & all;
}
