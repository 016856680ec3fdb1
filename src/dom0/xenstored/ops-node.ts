/**
 * The requests on nodes: READ, DIRECTORY, DIRECTORY_PART, WRITE, MKDIR, RM, GET_PERMS and
 * SET_PERMS, with xenstored's payloads and errors. Each returns the reply payload or
 * throws a XenstoreError.
 */

import { XEN_EACCES, XEN_EINVAL, XEN_ENOENT, XEN_ENOSPC, XEN_EPERM } from '../../abi/errno.js';
import { XENSTORE_PAYLOAD_MAX } from '../../abi/io/xs_wire.js';
import { DOMID_FIRST_RESERVED } from '../../abi/xen.js';
import {
  checkNodeSize,
  createNode,
  fire,
  getNode,
  lookup,
  type OpContext,
  rmNode,
} from './access.js';
import { parentOf } from './paths.js';
import {
  parsePerms,
  permForConn,
  permToString,
  XS_PERM_OWNER,
  XS_PERM_READ,
  XS_PERM_WRITE,
} from './perms.js';
import { childrenBytes, type Node } from './tree.js';
import {
  atoi,
  concatBytes,
  countStrings,
  fail,
  latin1,
  onearg,
  splitStrings,
  strings,
} from './wire.js';

const OK = strings('OK');

export function doRead(ctx: OpContext, payload: Uint8Array): Uint8Array {
  return getNode(ctx, onearg(payload), XS_PERM_READ).node.value;
}

export function doDirectory(ctx: OpContext, payload: Uint8Array): Uint8Array {
  return childrenBytes(getNode(ctx, onearg(payload), XS_PERM_READ).node);
}

/**
 * DIRECTORY_PART "<path>\0<offset>\0": "<generation>\0" then the children from byte
 * `offset` of the full list, whole names only, as many as fit; a final extra NUL marks
 * that the list ends in this part. An offset past the end gives "<generation>\0\0".
 */
export function doDirectoryPart(ctx: OpContext, payload: Uint8Array): Uint8Array {
  if (countStrings(payload) !== 2) fail(XEN_EINVAL);
  const [name, offText] = splitStrings(payload);
  const { node } = getNode(ctx, name, XS_PERM_READ);
  const off = atoi(offText ?? '') >>> 0;
  const gen = latin1(`${node.generation}\0`);
  const all = childrenBytes(node);
  if (off >= all.length) return concatBytes([gen, new Uint8Array(1)]);
  const maxlen = XENSTORE_PAYLOAD_MAX - gen.length - 1;
  let len = 0;
  let at = off;
  for (;;) {
    const end = all.indexOf(0, at);
    // An offset inside a name starts at that byte, as xenstored's strlen would.
    const nameLen = end - at;
    if (len + nameLen >= maxlen) break;
    len += nameLen + 1;
    at = end + 1;
    if (off + len === all.length) break;
  }
  const part = all.subarray(off, off + len);
  const last = off + len === all.length ? new Uint8Array(1) : new Uint8Array(0);
  return concatBytes([gen, part, last]);
}

/** WRITE "<path>\0<value>": the value is every byte after the first NUL. */
export function doWrite(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const nul = payload.indexOf(0);
  if (nul < 0) fail(XEN_EINVAL);
  const value = payload.slice(nul + 1);
  const [path] = splitStrings(payload.subarray(0, nul + 1));
  const { name, node } = lookup(ctx, path, XS_PERM_WRITE);
  let written: Node;
  if (!node) {
    written = createNode(ctx, name, value);
  } else {
    const next = { ...node, value };
    checkNodeSize(ctx, next);
    written = ctx.view.write(name, next);
  }
  fire(ctx, { name, exact: false, node: written });
  return OK;
}

/** MKDIR: creates the node (and its parents) with an empty value; fine if it exists. */
export function doMkdir(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const { name, node } = lookup(ctx, onearg(payload), XS_PERM_WRITE);
  if (!node) {
    const created = createNode(ctx, name, new Uint8Array(0));
    fire(ctx, { name, exact: false, node: created });
  }
  return OK;
}

/** RM: removes the subtree; a missing node is fine if its parent exists. */
export function doRm(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const { name, node } = lookup(ctx, onearg(payload), XS_PERM_WRITE);
  if (!node) {
    if (ctx.view.read(parentOf(name))) return OK;
    fail(XEN_ENOENT);
  }
  if (name === '/') fail(XEN_EINVAL);
  rmNode(ctx, name);
  return OK;
}

export function doGetPerms(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const { node } = getNode(ctx, onearg(payload), XS_PERM_READ);
  return strings(...node.perms.map(permToString));
}

/**
 * SET_PERMS "<path>\0<perm>\0…": needs ownership (or privilege). An unprivileged owner may
 * not give the node away. Also sets who may watch @introduceDomain / @releaseDomain.
 */
export function doSetPerms(ctx: OpContext, payload: Uint8Array): Uint8Array {
  const { conn, state } = ctx;
  const num = countStrings(payload) - 1;
  if (num < 1) fail(XEN_EINVAL);
  if (!state.quota.allows(conn.privileged, 'permissions', 0, num)) fail(XEN_ENOSPC);
  const [path, ...rest] = splitStrings(payload);
  const perms = parsePerms(rest.slice(0, num));
  // A domain first named here is taken to exist from now on (domain_alloc_permrefs asks
  // the hypervisor; we cannot ask synchronously, and domainsChanged() forgets it if not).
  for (const p of perms) if (p.id < DOMID_FIRST_RESERVED) state.domains.known(p.id);
  if (path?.startsWith('@')) {
    const old = state.specialPerms.get(path);
    if (!old) fail(XEN_EINVAL);
    const need = XS_PERM_WRITE | XS_PERM_OWNER;
    if ((permForConn(conn, old) & need) !== need) fail(XEN_EACCES);
    state.specialPerms.set(path, perms);
    return OK;
  }
  const { name, node } = getNode(ctx, path, XS_PERM_WRITE | XS_PERM_OWNER);
  if (!conn.privileged && perms[0]!.id !== node.perms[0]!.id) fail(XEN_EPERM);
  const next = { ...node, perms };
  checkNodeSize(ctx, next);
  const written = ctx.view.write(name, next);
  fire(ctx, { name, exact: false, node: written, oldPerms: node.perms });
  return OK;
}
