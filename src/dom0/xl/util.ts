// Helpers shared by the commands: find_domain (tools/xl/xl_utils.c), the bits of printf that
// xl's tables use, print_bitmap, and how a failed libxl call shows up on stderr.
import { strerrorByName } from '../libs/strerror.js';
import { strtoul } from '../toolstack/config/strtol.js';
import { LibxlError, ToolstackError } from '../toolstack/types.js';
import { type XlContext, XlExit } from './io.js';

/**
 * libxl_domain_qualifier_to_domid: all digits (or empty) is a domid, taken as strtoul does and
 * without checking it exists; anything else is a name.
 */
export async function qualifierToDomid(ctx: XlContext, p: string): Promise<number | null> {
  if (/^[0-9]*$/.test(p)) return Number(BigInt.asUintN(32, strtoul(p, 10).value));
  for (const d of await ctx.ts.listDomains()) {
    if (d.name === p) return d.domid;
  }
  return null;
}

/** find_domain: exits 1 with xl's message when `p` names no domain. */
export async function findDomain(ctx: XlContext, p: string): Promise<number> {
  const domid = await qualifierToDomid(ctx, p);
  if (domid === null) {
    ctx.err(`${p} is an invalid domain identifier (rc=${LibxlError.INVAL})\n`);
    throw new XlExit(1);
  }
  return domid;
}

/** libxl_domid_to_name; null (printed "(null)") if the domain has gone. */
export async function domidToName(ctx: XlContext, domid: number): Promise<string | null> {
  try {
    return (await ctx.ts.domainInfo(domid)).name;
  } catch (e) {
    if (e instanceof ToolstackError) return null;
    throw e;
  }
}

/** The libxl error code of a failed call (the libxl log line goes to stderr first). */
export function libxlFailure(ctx: XlContext, e: unknown): number {
  if (!(e instanceof ToolstackError)) throw e;
  ctx.err(`libxl: error: ${e.message}\n`);
  return e.code;
}

/** Runs a libxl call whose failure xl ignores (libxl still logs it). */
export async function ignoringFailure(ctx: XlContext, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (e) {
    libxlFailure(ctx, e);
  }
}

/** printf's %s of a NULL pointer, as glibc prints it. */
export const cstr = (s: string | null): string => s ?? '(null)';

/** %-Ns */
export const left = (s: string, width: number): string => s.padEnd(width);
/** %Ns, %Nd, %Nu */
export const right = (s: string | number, width: number): string => String(s).padStart(width);

/**
 * %.Nf as glibc prints it: the exact binary value rounded to N places, ties to even (which
 * Number#toFixed breaks upwards).
 */
export function fixed(x: number, places: number): string {
  const plain = x.toFixed(places);
  if (!Number.isFinite(x)) return plain;
  const exact = x.toFixed(Math.min(100, places + 60));
  const tail = exact.slice(exact.indexOf('.') + 1 + places);
  if (!/^50*$/.test(tail)) return plain;
  // An exact tie: keep the truncated value if its last digit is even.
  const truncated = exact.slice(0, exact.length - tail.length).replace(/\.$/, '');
  const last = truncated.replace('.', '').slice(-1);
  return Number(last) % 2 === 0 ? truncated : plain;
}

/** %N.Mf */
export const fixedWidth = (x: number, width: number, places: number): string =>
  fixed(x, places).padStart(width);

/** (float)ns / 1e9, the seconds xl prints (the float cast loses precision as in C). */
export const nsToSeconds = (ns: number): number => Math.fround(ns) / 1e9;

/**
 * print_bitmap over `nbits` bits: "all" when every bit from 0 is set, "none" when none is,
 * otherwise ranges such as "0,2-3".
 */
export function printBitmap(cpus: readonly number[], nbits: number): string {
  const set = new Set(cpus);
  let out = '';
  let state = 0;
  let first = 0;
  for (let i = 0; i < nbits; i++) {
    const on = set.has(i);
    if ((state === 0 || state === 2) && on) {
      first = i;
      state++;
    } else if ((state === 1 || state === 3) && !on) {
      out += `${state > 1 ? ',' : ''}${first}`;
      if (i - 1 > first) out += `-${i - 1}`;
      state = 2;
    }
  }
  if (state === 0) return 'none';
  if (state === 1 && first === 0) return 'all';
  if (state === 1 || state === 3) {
    out += `${state > 1 ? ',' : ''}${first}`;
    if (nbits - 1 > first) out += `-${nbits - 1}`;
  }
  return out;
}

/** strerror(errno) for a Node.js file system error. */
export function strerror(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return (
    (typeof code === 'string' && strerrorByName(code)) ||
    (e instanceof Error ? e.message : String(e))
  );
}
