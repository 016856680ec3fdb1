/**
 * The xenstore wire protocol (xen/include/public/io/xs_wire.h): the message header and
 * type numbers spoken over the xenstored socket and the shared ring, the error strings
 * that carry errno values, and the ring page a guest shares with xenstored.
 */

import {
  XEN_E2BIG,
  XEN_EACCES,
  XEN_EAGAIN,
  XEN_EBUSY,
  XEN_EEXIST,
  XEN_EINVAL,
  XEN_EIO,
  XEN_EISCONN,
  XEN_EISDIR,
  XEN_ENOENT,
  XEN_ENOMEM,
  XEN_ENOSPC,
  XEN_ENOSYS,
  XEN_ENOTEMPTY,
  XEN_EPERM,
  XEN_EROFS,
} from '../errno.js';
import { bytes, struct, u32 } from '../layout.js';

// enum xsd_sockmsg_type
export const XS_CONTROL = 0;
/** Old name of XS_CONTROL. */
export const XS_DEBUG = XS_CONTROL;
export const XS_DIRECTORY = 1;
export const XS_READ = 2;
export const XS_GET_PERMS = 3;
export const XS_WATCH = 4;
export const XS_UNWATCH = 5;
export const XS_TRANSACTION_START = 6;
export const XS_TRANSACTION_END = 7;
export const XS_INTRODUCE = 8;
export const XS_RELEASE = 9;
export const XS_GET_DOMAIN_PATH = 10;
export const XS_WRITE = 11;
export const XS_MKDIR = 12;
export const XS_RM = 13;
export const XS_SET_PERMS = 14;
export const XS_WATCH_EVENT = 15;
export const XS_ERROR = 16;
export const XS_IS_DOMAIN_INTRODUCED = 17;
export const XS_RESUME = 18;
export const XS_SET_TARGET = 19;
// 20 was XS_RESTRICT (removed).
export const XS_RESET_WATCHES = 21;
export const XS_DIRECTORY_PART = 22;
/** Number of valid types. */
export const XS_TYPE_COUNT = 23;
/** Guaranteed never to be a valid type. */
export const XS_INVALID = 0xffff;

/** Message type → name ("XS_READ"), for logs. */
export const XS_TYPE_NAMES: Readonly<Record<number, string>> = {
  [XS_CONTROL]: 'XS_CONTROL',
  [XS_DIRECTORY]: 'XS_DIRECTORY',
  [XS_READ]: 'XS_READ',
  [XS_GET_PERMS]: 'XS_GET_PERMS',
  [XS_WATCH]: 'XS_WATCH',
  [XS_UNWATCH]: 'XS_UNWATCH',
  [XS_TRANSACTION_START]: 'XS_TRANSACTION_START',
  [XS_TRANSACTION_END]: 'XS_TRANSACTION_END',
  [XS_INTRODUCE]: 'XS_INTRODUCE',
  [XS_RELEASE]: 'XS_RELEASE',
  [XS_GET_DOMAIN_PATH]: 'XS_GET_DOMAIN_PATH',
  [XS_WRITE]: 'XS_WRITE',
  [XS_MKDIR]: 'XS_MKDIR',
  [XS_RM]: 'XS_RM',
  [XS_SET_PERMS]: 'XS_SET_PERMS',
  [XS_WATCH_EVENT]: 'XS_WATCH_EVENT',
  [XS_ERROR]: 'XS_ERROR',
  [XS_IS_DOMAIN_INTRODUCED]: 'XS_IS_DOMAIN_INTRODUCED',
  [XS_RESUME]: 'XS_RESUME',
  [XS_SET_TARGET]: 'XS_SET_TARGET',
  [XS_RESET_WATCHES]: 'XS_RESET_WATCHES',
  [XS_DIRECTORY_PART]: 'XS_DIRECTORY_PART',
};

// Payloads of the old XS_WRITE flag argument.
export const XS_WRITE_NONE = 'NONE';
export const XS_WRITE_CREATE = 'CREATE';
export const XS_WRITE_CREATE_EXCL = 'CREATE|EXCL';

/**
 * The errors xenstored sends as XS_ERROR payloads ("EINVAL\0"), with their errno values,
 * in xs_wire.h's order (new errors are only ever appended). A name not in this list
 * means EINVAL.
 */
export const xsd_errors: readonly (readonly [errnum: number, errstring: string])[] = [
  [XEN_EINVAL, 'EINVAL'],
  [XEN_EACCES, 'EACCES'],
  [XEN_EEXIST, 'EEXIST'],
  [XEN_EISDIR, 'EISDIR'],
  [XEN_ENOENT, 'ENOENT'],
  [XEN_ENOMEM, 'ENOMEM'],
  [XEN_ENOSPC, 'ENOSPC'],
  [XEN_EIO, 'EIO'],
  [XEN_ENOTEMPTY, 'ENOTEMPTY'],
  [XEN_ENOSYS, 'ENOSYS'],
  [XEN_EROFS, 'EROFS'],
  [XEN_EBUSY, 'EBUSY'],
  [XEN_EAGAIN, 'EAGAIN'],
  [XEN_EISCONN, 'EISCONN'],
  [XEN_E2BIG, 'E2BIG'],
  [XEN_EPERM, 'EPERM'],
];

/** The XS_ERROR string for an errno (positive or negative); "EINVAL" if it has none. */
export function xsErrorString(errnum: number): string {
  const e = Math.abs(errnum);
  for (const [n, s] of xsd_errors) if (n === e) return s;
  return 'EINVAL';
}

/** The errno an XS_ERROR string stands for; EINVAL for one not in the list. */
export function xsErrorErrno(errstring: string): number {
  for (const [n, s] of xsd_errors) if (s === errstring) return n;
  return XEN_EINVAL;
}

/** Every message, on the socket and on the ring, starts with this header. */
export const xsd_sockmsg = struct('xsd_sockmsg', {
  /** XS_* */
  type: u32,
  /** Echoed in the reply. */
  req_id: u32,
  /** Transaction id, 0 outside a transaction. */
  tx_id: u32,
  /** Bytes of payload that follow (at most XENSTORE_PAYLOAD_MAX). */
  len: u32,
});

// enum xs_watch_type: the fields of an XS_WATCH_EVENT payload.
export const XS_WATCH_PATH = 0;
export const XS_WATCH_TOKEN = 1;

export const XENSTORE_RING_SIZE = 1024;

/** The offset in a xenstore ring for index `index` (MASK_XENSTORE_IDX). */
export function MASK_XENSTORE_IDX(index: number): number {
  return (index & (XENSTORE_RING_SIZE - 1)) >>> 0;
}

/** The page a domain shares with xenstored (store_mfn / HVM_PARAM_STORE_PFN). */
export const xenstore_domain_interface = struct('xenstore_domain_interface', {
  /** Requests to xenstored. */
  req: bytes(XENSTORE_RING_SIZE),
  /** Replies and watch events. */
  rsp: bytes(XENSTORE_RING_SIZE),
  req_cons: u32,
  req_prod: u32,
  rsp_cons: u32,
  rsp_prod: u32,
  /** XENSTORE_SERVER_FEATURE_* the server supports. */
  server_features: u32,
  /** XENSTORE_CONNECTED or XENSTORE_RECONNECT */
  connection: u32,
  /** XENSTORE_ERROR_* */
  error: u32,
});

/** Largest payload of one message. */
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

/** The ring can be reconnected (the connection field). */
export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
/** The error field is present. */
export const XENSTORE_SERVER_FEATURE_ERROR = 2;

export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;

export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
/** Protocol violation (payload too long). */
export const XENSTORE_ERROR_PROTO = 3;
