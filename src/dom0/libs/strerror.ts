// glibc's strerror() texts, by errno name, for the errors Dom0's tools print as xl and libxl
// do ("%s: %s", what, strerror(errno)). Xen's errno values are Linux's.
import { xenErrnoName } from '../../abi/errno.js';

const TEXT: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOSPC: 'No space left on device',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  EOPNOTSUPP: 'Operation not supported',
};

/** strerror() of an errno by name ("EINVAL"), or undefined for one not listed. */
export function strerrorByName(name: string): string | undefined {
  return TEXT[name];
}

/** strerror() of a (positive) Xen errno; glibc's "Unknown error N" for one not listed. */
export function xenStrerror(errno: number): string {
  const name = xenErrnoName(errno);
  return (name === undefined ? undefined : TEXT[name]) ?? `Unknown error ${errno}`;
}
