/**
 * Xen's error numbers (xen/include/public/errno.h).
 *
 * Hypercalls return `-XEN_Exxx` on failure. The values are Linux's, so a Linux guest
 * passes them straight through; they are fixed by the ABI whatever the host's errno is.
 */

export const XEN_EPERM = 1;
export const XEN_ENOENT = 2;
export const XEN_ESRCH = 3;
/** Hypervisor-internal: never returned to a guest. */
export const XEN_EINTR = 4;
export const XEN_EIO = 5;
export const XEN_ENXIO = 6;
export const XEN_E2BIG = 7;
export const XEN_ENOEXEC = 8;
export const XEN_EBADF = 9;
export const XEN_ECHILD = 10;
export const XEN_EAGAIN = 11;
/** Alias of XEN_EAGAIN. */
export const XEN_EWOULDBLOCK = 11;
export const XEN_ENOMEM = 12;
export const XEN_EACCES = 13;
export const XEN_EFAULT = 14;
export const XEN_EBUSY = 16;
export const XEN_EEXIST = 17;
export const XEN_EXDEV = 18;
export const XEN_ENODEV = 19;
export const XEN_ENOTDIR = 20;
export const XEN_EISDIR = 21;
export const XEN_EINVAL = 22;
export const XEN_ENFILE = 23;
export const XEN_EMFILE = 24;
export const XEN_ENOSPC = 28;
export const XEN_EROFS = 30;
export const XEN_EMLINK = 31;
export const XEN_EDOM = 33;
export const XEN_ERANGE = 34;
export const XEN_EDEADLK = 35;
/** Alias of XEN_EDEADLK. */
export const XEN_EDEADLOCK = 35;
export const XEN_ENAMETOOLONG = 36;
export const XEN_ENOLCK = 37;
export const XEN_ENOSYS = 38;
export const XEN_ENOTEMPTY = 39;
export const XEN_ENODATA = 61;
export const XEN_ETIME = 62;
export const XEN_EBADMSG = 74;
export const XEN_EOVERFLOW = 75;
export const XEN_EILSEQ = 84;
/**
 * Hypervisor-internal: the operation was preempted and must be continued (Xen turns it
 * into a hypercall continuation). Never returned to a guest.
 */
export const XEN_ERESTART = 85;
export const XEN_ENOTSOCK = 88;
export const XEN_EMSGSIZE = 90;
export const XEN_EOPNOTSUPP = 95;
export const XEN_EADDRINUSE = 98;
export const XEN_EADDRNOTAVAIL = 99;
export const XEN_ENOBUFS = 105;
export const XEN_EISCONN = 106;
export const XEN_ENOTCONN = 107;
export const XEN_ETIMEDOUT = 110;
export const XEN_ECONNREFUSED = 111;

/**
 * Every errno errno.h lists, in its order, by name without the `XEN_` prefix (aliases
 * included). The two marked internal are only defined for the hypervisor itself.
 */
export const XEN_ERRNO_LIST: readonly (readonly [name: string, value: number])[] = [
  ['EPERM', XEN_EPERM],
  ['ENOENT', XEN_ENOENT],
  ['ESRCH', XEN_ESRCH],
  ['EINTR', XEN_EINTR],
  ['EIO', XEN_EIO],
  ['ENXIO', XEN_ENXIO],
  ['E2BIG', XEN_E2BIG],
  ['ENOEXEC', XEN_ENOEXEC],
  ['EBADF', XEN_EBADF],
  ['ECHILD', XEN_ECHILD],
  ['EAGAIN', XEN_EAGAIN],
  ['EWOULDBLOCK', XEN_EWOULDBLOCK],
  ['ENOMEM', XEN_ENOMEM],
  ['EACCES', XEN_EACCES],
  ['EFAULT', XEN_EFAULT],
  ['EBUSY', XEN_EBUSY],
  ['EEXIST', XEN_EEXIST],
  ['EXDEV', XEN_EXDEV],
  ['ENODEV', XEN_ENODEV],
  ['ENOTDIR', XEN_ENOTDIR],
  ['EISDIR', XEN_EISDIR],
  ['EINVAL', XEN_EINVAL],
  ['ENFILE', XEN_ENFILE],
  ['EMFILE', XEN_EMFILE],
  ['ENOSPC', XEN_ENOSPC],
  ['EROFS', XEN_EROFS],
  ['EMLINK', XEN_EMLINK],
  ['EDOM', XEN_EDOM],
  ['ERANGE', XEN_ERANGE],
  ['EDEADLK', XEN_EDEADLK],
  ['EDEADLOCK', XEN_EDEADLOCK],
  ['ENAMETOOLONG', XEN_ENAMETOOLONG],
  ['ENOLCK', XEN_ENOLCK],
  ['ENOSYS', XEN_ENOSYS],
  ['ENOTEMPTY', XEN_ENOTEMPTY],
  ['ENODATA', XEN_ENODATA],
  ['ETIME', XEN_ETIME],
  ['EBADMSG', XEN_EBADMSG],
  ['EOVERFLOW', XEN_EOVERFLOW],
  ['EILSEQ', XEN_EILSEQ],
  ['ERESTART', XEN_ERESTART],
  ['ENOTSOCK', XEN_ENOTSOCK],
  ['EMSGSIZE', XEN_EMSGSIZE],
  ['EOPNOTSUPP', XEN_EOPNOTSUPP],
  ['EADDRINUSE', XEN_EADDRINUSE],
  ['EADDRNOTAVAIL', XEN_EADDRNOTAVAIL],
  ['ENOBUFS', XEN_ENOBUFS],
  ['EISCONN', XEN_EISCONN],
  ['ENOTCONN', XEN_ENOTCONN],
  ['ETIMEDOUT', XEN_ETIMEDOUT],
  ['ECONNREFUSED', XEN_ECONNREFUSED],
];

/** The names errno.h defines only for the hypervisor (`#ifdef __XEN__`). */
export const XEN_ERRNO_INTERNAL: ReadonlySet<string> = new Set(['EINTR', 'ERESTART']);

const byValue = new Map<number, string>();
const byName = new Map<string, number>();
for (const [name, value] of XEN_ERRNO_LIST) {
  // The first name listed for a value is the primary one (EAGAIN before EWOULDBLOCK).
  if (!byValue.has(value)) byValue.set(value, name);
  byName.set(name, value);
}

/**
 * The name of a Xen errno ("EINVAL"), given it as a positive value or as the negative
 * value a hypercall returns; undefined for a number Xen does not define.
 */
export function xenErrnoName(errno: number): string | undefined {
  return byValue.get(Math.abs(errno));
}

/** The value of a Xen errno given its name, with or without the `XEN_` prefix. */
export function xenErrnoValue(name: string): number | undefined {
  return byName.get(name.startsWith('XEN_') ? name.slice(4) : name);
}
