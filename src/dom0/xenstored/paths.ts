/**
 * Node names as xenstored judges them (is_valid_nodename, canonicalize, get_parent): absolute
 * /-separated paths over [A-Za-z0-9-/_@], no empty component, no trailing slash except the
 * root, and at most XENSTORE_REL_PATH_MAX bytes beyond a leading "/local/domain/<id>/".
 */

import { XENSTORE_REL_PATH_MAX } from '../../abi/io/xs_wire.js';

const VALID_CHARS = /^[A-Za-z0-9\-/_@]*$/;
/** sscanf("/local/domain/%5u/%n"): the domain's own subtree gets the length budget. */
const LOCAL_DOMAIN_PREFIX = /^\/local\/domain\/\d{1,5}\//;

/** Whether `name` is a valid absolute node name. `maxPathLen` is the "path-max" quota. */
export function isValidNodename(name: string, maxPathLen = XENSTORE_REL_PATH_MAX): boolean {
  if (!name.startsWith('/')) return false;
  if (name.endsWith('/') && name !== '/') return false;
  if (name.includes('//')) return false;
  const localOff = LOCAL_DOMAIN_PREFIX.exec(name)?.[0].length ?? 0;
  if (name.length > localOff + maxPathLen) return false;
  return VALID_CHARS.test(name);
}

/** The home of domain `domid` in the store (talloc_domain_path). */
export function domainPath(domid: number): string {
  return `/local/domain/${domid >>> 0}`;
}

/**
 * An absolute name for `name` as sent by a connection whose relative paths start at
 * `implicit` (/local/domain/<domid>; /local/domain/0 for sockets). Absolute and @special
 * names are left alone.
 */
export function canonicalize(implicit: string, name: string): string {
  if (name.startsWith('/') || name.startsWith('@')) return name;
  return `${implicit}/${name}`;
}

/** The parent of a node name ("/" for a top-level node and for "/" itself). */
export function parentOf(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash <= 0 ? '/' : name.slice(0, slash);
}

/** The last component of a node name (not of "/"). */
export function basename(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/** The name of child `leaf` under `parent`. */
export function childName(parent: string, leaf: string): string {
  return parent === '/' ? `/${leaf}` : `${parent}/${leaf}`;
}

/** Whether `child` is `parent` or lies below it (every path is below "/"). */
export function isChild(child: string, parent: string): boolean {
  if (parent === '/') return true;
  if (!child.startsWith(parent)) return false;
  const next = child[parent.length];
  return next === undefined || next === '/';
}
