/**
 * The control socket's framing, between the `xl` client (or `xenotype host`) and the host.
 *
 * A frame is a 4-byte big-endian length, then that many bytes: a 1-byte type and its payload.
 * Byte streams (stdin, stdout, stderr) travel as raw payloads, since a guest console may emit
 * anything; the rest are JSON objects or empty. One connection carries one command or one admin
 * request: the client sends `start` (or `admin`) first, the host answers until `exit` (or
 * `detach`, or `status`) and then closes.
 */

/** Changes whenever a message changes meaning; the host refuses other versions. */
export const PROTOCOL_VERSION = 1;
/** Larger frames are a broken or foreign peer, not a message. */
export const MAX_FRAME_BYTES = 16 << 20;

export interface StartRequest {
  readonly version: number;
  /** What follows "xl" on the command line. */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly stdinIsTty: boolean;
  readonly stdoutIsTty: boolean;
  /** The terminal size, when stdout is a terminal. */
  readonly columns?: number;
  readonly rows?: number;
  /** The client's pid, for the log. */
  readonly pid: number;
}

export type AdminRequest = { readonly version: number; readonly request: 'status' | 'stop' };

export interface HostStatus {
  readonly pid: number;
  readonly runDir: string;
  readonly uptimeSeconds: number;
  /** Domains other than Domain-0. */
  readonly guests: number;
  readonly connections: number;
  readonly runningCommands: number;
  /** 0: never stops by itself. */
  readonly idleTimeoutSeconds: number;
  readonly stopping: boolean;
}

/** Client → host. */
export type ClientMessage =
  | { readonly kind: 'start'; readonly start: StartRequest }
  | { readonly kind: 'stdin'; readonly data: Uint8Array }
  | { readonly kind: 'stdin-end' }
  | { readonly kind: 'resize'; readonly columns: number; readonly rows: number }
  | { readonly kind: 'admin'; readonly admin: AdminRequest };

/** Host → client. */
export type HostMessage =
  | { readonly kind: 'stdout'; readonly data: Uint8Array }
  | { readonly kind: 'stderr'; readonly data: Uint8Array }
  | { readonly kind: 'raw-mode'; readonly raw: boolean }
  /**
   * The command reads stdin: the client starts forwarding it only then, so that `xl list &`
   * does not stop on SIGTTIN and `xl list` does not swallow input meant for what follows.
   */
  | { readonly kind: 'read-stdin' }
  /** The client exits with `code` now; the command keeps running in the host. */
  | { readonly kind: 'detach'; readonly code: number }
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'status'; readonly status: HostStatus };

export type Message = ClientMessage | HostMessage;

/** Frame types, one byte; client messages below 0x80, host messages above. */
const TYPE = {
  start: 0x01,
  stdin: 0x02,
  'stdin-end': 0x03,
  resize: 0x04,
  admin: 0x05,
  stdout: 0x81,
  stderr: 0x82,
  'raw-mode': 0x83,
  detach: 0x84,
  exit: 0x85,
  status: 0x86,
  'read-stdin': 0x87,
} as const satisfies Record<Message['kind'], number>;

const KIND_BY_TYPE = new Map<number, Message['kind']>(
  Object.entries(TYPE).map(([kind, type]) => [type, kind as Message['kind']]),
);

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export function encodeMessage(message: Message): Uint8Array {
  const payload = encodePayload(message);
  const frame = new Uint8Array(5 + payload.length);
  new DataView(frame.buffer).setUint32(0, 1 + payload.length);
  frame[4] = TYPE[message.kind];
  frame.set(payload, 5);
  return frame;
}

function encodePayload(message: Message): Uint8Array {
  switch (message.kind) {
    case 'stdin':
    case 'stdout':
    case 'stderr':
      return message.data;
    case 'stdin-end':
    case 'read-stdin':
      return new Uint8Array(0);
    case 'raw-mode':
      return Uint8Array.of(message.raw ? 1 : 0);
    case 'start':
      return json(message.start);
    case 'admin':
      return json(message.admin);
    case 'status':
      return json(message.status);
    case 'resize':
      return json({ columns: message.columns, rows: message.rows });
    case 'detach':
    case 'exit':
      return json({ code: message.code });
  }
}

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/**
 * Cuts a byte stream into messages; feed it whatever the socket delivers (chunks it keeps until
 * their frame is complete, so a caller must not reuse them, as a socket does not).
 */
export class FrameDecoder {
  private readonly chunks: Uint8Array[] = [];
  private buffered = 0;

  /** The messages completed by `chunk`; a partial frame waits for more. */
  push(chunk: Uint8Array): Message[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const messages: Message[] = [];
    while (this.buffered >= 4) {
      const header = this.peek(4);
      const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
      if (length === 0 || length > MAX_FRAME_BYTES) {
        throw new ProtocolError(`bad frame length ${length}`);
      }
      if (this.buffered < 4 + length) break;
      // A fresh copy: payloads never alias the socket's chunks.
      const frame = this.take(4 + length);
      messages.push(decodeFrame(frame[4]!, frame.subarray(5)));
    }
    return messages;
  }

  /** Bytes of an unfinished frame (nonzero when the peer went away mid-frame). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const bytes = new Uint8Array(n);
    let at = 0;
    for (const chunk of this.chunks) {
      const part = chunk.subarray(0, n - at);
      bytes.set(part, at);
      at += part.length;
      if (at === n) break;
    }
    return bytes;
  }

  private take(n: number): Uint8Array {
    const bytes = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const chunk = this.chunks[0]!;
      const part = chunk.subarray(0, n - at);
      bytes.set(part, at);
      at += part.length;
      if (part.length === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part.length);
    }
    this.buffered -= n;
    return bytes;
  }
}

function decodeFrame(type: number, payload: Uint8Array): Message {
  const kind = KIND_BY_TYPE.get(type);
  switch (kind) {
    case 'stdin':
    case 'stdout':
    case 'stderr':
      return { kind, data: payload };
    case 'stdin-end':
    case 'read-stdin':
      return { kind };
    case 'raw-mode':
      return { kind, raw: payload[0] === 1 };
    case 'start':
      return { kind, start: parseStart(parseJson(payload)) };
    case 'admin': {
      const o = parseJson(payload);
      if (o.request !== 'status' && o.request !== 'stop') throw bad('admin');
      return { kind, admin: { version: num(o.version, 'admin'), request: o.request } };
    }
    case 'status':
      return { kind, status: parseJson(payload) as unknown as HostStatus };
    case 'resize': {
      const o = parseJson(payload);
      return { kind, columns: num(o.columns, kind), rows: num(o.rows, kind) };
    }
    case 'detach':
    case 'exit':
      return { kind, code: num(parseJson(payload).code, kind) };
    case undefined:
      throw new ProtocolError(`unknown frame type 0x${type.toString(16)}`);
  }
}

function parseStart(o: Record<string, unknown>): StartRequest {
  const { argv, cwd, stdinIsTty, stdoutIsTty, columns, rows } = o;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw bad('start');
  if (typeof cwd !== 'string' || typeof stdinIsTty !== 'boolean') throw bad('start');
  if (typeof stdoutIsTty !== 'boolean') throw bad('start');
  return {
    version: num(o.version, 'start'),
    argv,
    cwd,
    stdinIsTty,
    stdoutIsTty,
    ...(columns === undefined ? {} : { columns: num(columns, 'start') }),
    ...(rows === undefined ? {} : { rows: num(rows, 'start') }),
    pid: num(o.pid, 'start'),
  };
}

function parseJson(payload: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch (e) {
    throw new ProtocolError('a frame is not JSON', { cause: e });
  }
  if (typeof value !== 'object' || value === null) throw new ProtocolError('a frame is not JSON');
  return value as Record<string, unknown>;
}

function num(value: unknown, kind: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw bad(kind);
  return value;
}

const bad = (kind: string): ProtocolError => new ProtocolError(`malformed ${kind} frame`);
