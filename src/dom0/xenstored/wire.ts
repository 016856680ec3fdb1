/**
 * Messages on the xenstore wire: the 16-byte xsd_sockmsg header, an incremental parser for
 * byte streams cut anywhere, and the payload helpers xenstored uses (its get_string,
 * get_strings, onearg, atoi and strtol). Strings travel as latin1 so that every byte of a
 * path or token survives a round trip unchanged.
 */

import { XEN_EINVAL } from '../../abi/errno.js';
import {
  XENSTORE_PAYLOAD_MAX,
  XS_ERROR,
  XS_WATCH_EVENT,
  xsd_sockmsg,
  xsErrorString,
} from '../../abi/io/xs_wire.js';

/** Size of the xsd_sockmsg header. */
export const XSD_SOCKMSG_SIZE = xsd_sockmsg.size;

/** A failed xenstore request: `errno` is a Xen errno, `code` its XS_ERROR string. */
export class XenstoreError extends Error {
  override name = 'XenstoreError';
  readonly errno: number;
  readonly code: string;

  constructor(errno: number, message?: string, options?: ErrorOptions) {
    const code = xsErrorString(errno);
    super(message ?? code, options);
    this.errno = Math.abs(errno);
    this.code = code;
  }
}

/** Throws the XenstoreError for `errno`; a one-liner for handlers. */
export function fail(errno: number, message?: string): never {
  throw new XenstoreError(errno, message);
}

export interface XsHeader {
  type: number;
  req_id: number;
  tx_id: number;
  len: number;
}

export interface XsMessage extends XsHeader {
  payload: Uint8Array;
}

/** Encodes one message: the header followed by the payload. */
export function encodeMessage(
  type: number,
  req_id: number,
  tx_id: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, req_id >>> 0, true);
  view.setUint32(8, tx_id >>> 0, true);
  view.setUint32(12, payload.length, true);
  out.set(payload, XSD_SOCKMSG_SIZE);
  return out;
}

/** The XS_ERROR reply to a request: the errno's name and a NUL (send_error). */
export function encodeError(req_id: number, tx_id: number, errno: number): Uint8Array {
  return encodeMessage(XS_ERROR, req_id, tx_id, strings(xsErrorString(errno)));
}

/** An XS_WATCH_EVENT: "<path>\0<token>\0" with req_id and tx_id 0. */
export function encodeWatchEvent(path: string, token: string): Uint8Array {
  return encodeMessage(XS_WATCH_EVENT, 0, 0, strings(path, token));
}

/** latin1 bytes of a string (each char code is one byte). */
export function latin1(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'latin1'));
}

/** A string whose char codes are the given bytes. */
export function fromLatin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** The payload "<s1>\0<s2>\0…": each string NUL-terminated. */
export function strings(...parts: readonly string[]): Uint8Array {
  return latin1(parts.map((p) => `${p}\0`).join(''));
}

/** Joins byte parts into one payload. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Number of NUL bytes in a payload (xs_count_strings). */
export function countStrings(payload: Uint8Array): number {
  let n = 0;
  for (const b of payload) if (b === 0) n++;
  return n;
}

/**
 * The NUL-terminated strings of a payload (get_strings): bytes after the last NUL are not
 * a string and are dropped, as xenstored ignores them.
 */
export function splitStrings(payload: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      out.push(fromLatin1(payload.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/**
 * The single argument of a request (onearg): the payload must hold exactly one NUL, at its
 * end. Anything else is undefined, which xenstored turns into EINVAL.
 */
export function onearg(payload: Uint8Array): string | undefined {
  const nul = payload.indexOf(0);
  if (payload.length === 0 || nul !== payload.length - 1) return undefined;
  return fromLatin1(payload.subarray(0, nul));
}

/** The leading decimal integer of a string, 0 if none, as C's atoi (32-bit wrap). */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  const digits = m?.[2] ?? '';
  if (digits === '') return 0;
  const v = Number(BigInt.asIntN(32, BigInt(digits)));
  return m?.[1] === '-' ? -v | 0 : v;
}

/**
 * C's strtol(s, &end, 0) reduced to an unsigned 32-bit value, as xs_strings_to_perms
 * stores it in an unsigned int: decimal, 0x hex or 0 octal. `rest` is what follows the
 * number (the C `end`); undefined when no digits were found.
 */
export function strtoul32(s: string): { value: number; rest: string } | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)/.exec(s);
  if (!m) return undefined;
  const text = m[2] ?? '0';
  const big =
    text.length > 1 && text[0] === '0' && (text[1] === 'x' || text[1] === 'X')
      ? BigInt(text)
      : text.length > 1 && text[0] === '0'
        ? BigInt(`0o${text.slice(1)}`)
        : BigInt(text);
  const signed = m[1] === '-' ? -big : big;
  return { value: Number(BigInt.asUintN(32, signed)), rest: s.slice(m[0].length) };
}

/** Why a parser stopped: a header announced a payload over XENSTORE_PAYLOAD_MAX. */
export type ParseError = 'oversize';

/**
 * Splits a byte stream into messages. Bytes may arrive cut anywhere; `push` returns the
 * messages completed so far. A header announcing more than XENSTORE_PAYLOAD_MAX bytes is a
 * protocol violation (xenstored drops such a connection): the parser then stops with
 * `error` set and ignores everything after.
 */
export class MessageParser {
  private header = new Uint8Array(XSD_SOCKMSG_SIZE);
  private headerUsed = 0;
  private current: XsHeader | undefined;
  private body = new Uint8Array(0);
  private bodyUsed = 0;
  error: ParseError | undefined;
  /** The length the bad header announced, for the log line. */
  badLength = 0;

  /** Bytes still needed to finish the current header or body (what xenstored reads next). */
  needed(): number {
    if (this.error) return 0;
    if (!this.current) return XSD_SOCKMSG_SIZE - this.headerUsed;
    return this.current.len - this.bodyUsed;
  }

  /** Feeds bytes; returns every message they complete. */
  push(data: Uint8Array): XsMessage[] {
    const out: XsMessage[] = [];
    let at = 0;
    while (!this.error && at < data.length) {
      if (!this.current) {
        const n = Math.min(XSD_SOCKMSG_SIZE - this.headerUsed, data.length - at);
        this.header.set(data.subarray(at, at + n), this.headerUsed);
        this.headerUsed += n;
        at += n;
        if (this.headerUsed < XSD_SOCKMSG_SIZE) break;
        const view = new DataView(this.header.buffer);
        const len = view.getUint32(12, true);
        if (len > XENSTORE_PAYLOAD_MAX) {
          this.error = 'oversize';
          this.badLength = len;
          break;
        }
        this.current = {
          type: view.getUint32(0, true),
          req_id: view.getUint32(4, true),
          tx_id: view.getUint32(8, true),
          len,
        };
        this.body = new Uint8Array(len);
        this.bodyUsed = 0;
      }
      const cur = this.current;
      const n = Math.min(cur.len - this.bodyUsed, data.length - at);
      this.body.set(data.subarray(at, at + n), this.bodyUsed);
      this.bodyUsed += n;
      at += n;
      if (this.bodyUsed < cur.len) break;
      out.push({ ...cur, payload: this.body });
      this.current = undefined;
      this.headerUsed = 0;
    }
    return out;
  }
}

/** Parses a whole buffer of messages (for tests and clients); throws on a partial tail. */
export function parseAll(data: Uint8Array): XsMessage[] {
  const p = new MessageParser();
  const msgs = p.push(data);
  if (p.needed() !== XSD_SOCKMSG_SIZE) throw new XenstoreError(XEN_EINVAL, 'truncated message');
  return msgs;
}
