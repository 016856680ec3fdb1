// UUIDs as libxl handles them: parsed by libuuid's uuid_parse (36 characters, dashes at 8, 13,
// 18 and 23, hex digits elsewhere, either case), printed in lower case (LIBXL_UUID_FMT).
import { randomUUID } from 'node:crypto';

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The canonical (lower-case) form, or null where uuid_parse fails. */
export function parseUuid(text: string): string | null {
  return UUID_RE.test(text) ? text.toLowerCase() : null;
}

/** libxl_uuid_generate: a random (version 4) UUID. */
export function generateUuid(): string {
  return randomUUID();
}

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';
