/**
 * Building the cases of the integer differential tests (integer-suite.ts runs them): random
 * and edge values, registers holding them, memory operands, and `add`, which records a case.
 *
 * The emulator gives the flags the SDM leaves undefined the values AMD processors (Zen 3)
 * produce, so on a Zen 3 host everything is compared, and on another AMD host everything but
 * the few that changed with Zen 4 (`zen3Flags`); on another host a case's undefined flags
 * (`undefinedFlags`) are masked, and the generators leave out cases with undefined results.
 */
import { readFileSync } from 'node:fs';
import { LAYOUT } from './native/native.js';
import { GPR_NAMES } from './registers.js';

export const ARITH = 0x8d5; // CF PF AF ZF SF OF
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const OF = 0x800;

const cpuinfo = (() => {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
})();

/** Whether the host is an AMD processor, whose undefined-flag values the emulator reproduces. */
export const AMD_HOST = /vendor_id\s*:\s*AuthenticAMD/.test(cpuinfo);

/**
 * Whether the host is a Zen 3 (family 19h, models 00-0Fh, 20-2Fh, 40-5Fh). Some undefined
 * flags differ between AMD generations: BSF/BSR keep them on a Zen 3; a Zen 4 clears CF OF SF
 * AF and sets PF.
 */
export const ZEN3_HOST = (() => {
  const family = Number(/^cpu family\s*:\s*(\d+)/m.exec(cpuinfo)?.[1]);
  const model = Number(/^model\s*:\s*(\d+)/m.exec(cpuinfo)?.[1]);
  return (
    AMD_HOST &&
    family === 0x19 &&
    (model < 0x10 || (model >= 0x20 && model < 0x30) || (model >= 0x40 && model < 0x60))
  );
})();

export interface Case {
  family: string;
  /** Assembly (AT&T); for `compat` cases the body runs in 32-bit compatibility mode. */
  source: string;
  gpr: bigint[];
  rflags: number;
  data?: Uint8Array;
  /** Flags the SDM leaves undefined here: compared only on an AMD host. */
  undefinedFlags: number;
  /** Of those, the ones only a Zen 3 host gives as the emulator does. */
  zen3Flags: number;
  /** Compare the data region / the stack region. */
  memory: boolean;
  stack: boolean;
  compat: boolean;
}

// ---------------------------------------------------------------------------------------
// Random values (xorshift32: one sequence per test file, restarted by the suite).

let seed = 1;

/** Restarts the random sequence at `state` (non-zero). */
export function seedRandom(state: number): void {
  seed = state | 0 || 1;
}

/** Where the random sequence stands, for seedRandom to come back to. */
export function randomState(): number {
  return seed;
}

export function rand32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
export function randInt(n: number): number {
  return rand32() % n;
}
export function rand64(): bigint {
  return (BigInt(rand32()) << 32n) | BigInt(rand32());
}
export function pick<T>(list: readonly T[]): T {
  return list[randInt(list.length)]!;
}
export function maskOf(size: number): bigint {
  return (1n << BigInt(size)) - 1n;
}
/** A random value of `size` bits with a random magnitude. */
export function randValue(size: number): bigint {
  return (rand64() >> BigInt(randInt(64))) & maskOf(size);
}
function edges(size: number): bigint[] {
  const m = maskOf(size);
  const min = 1n << BigInt(size - 1);
  return [
    0n,
    1n,
    2n,
    3n,
    m,
    m - 1n,
    min,
    min - 1n,
    min + 1n,
    0x5555555555555555n & m,
    0xaaaaaaaaaaaaaaaan & m,
    0x7fn,
    0x80n,
    0xffn & m,
    0x100n & m,
    10n,
  ];
}
/** An edge value half the time, a random one otherwise. */
export function value(size: number): bigint {
  return randInt(2) ? pick(edges(size)) : randValue(size);
}
export function toSigned(v: bigint, size: number): bigint {
  return BigInt.asIntN(size, v);
}
/** `v` in the low `size` bits of a register whose other bits are random. */
export function inRegister(v: bigint, size: number): bigint {
  return size === 64 ? BigInt.asUintN(64, v) : (rand64() & ~maskOf(size)) | (v & maskOf(size));
}
export function randFlags(): number {
  return rand32() & ARITH;
}
/** Random bytes (bit-test memory, XLAT tables). */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let k = 0; k < bytes.length; k++) bytes[k] = rand32() & 0xff;
  return bytes;
}

// ---------------------------------------------------------------------------------------
// Registers, operands and memory.

export const REGS: readonly string[] = GPR_NAMES;
export type RegName = (typeof REGS)[number];

/** All registers random except RSP; then `set`. */
function gprs(set: Partial<Record<RegName, bigint>>): bigint[] {
  const list = REGS.map((name) => (name === 'rsp' ? LAYOUT.defaultRsp : rand64()));
  for (const [name, v] of Object.entries(set)) {
    if (v !== undefined) list[REGS.indexOf(name)] = BigInt.asUintN(64, v);
  }
  return list;
}

const NAMES: Record<string, readonly [string, string, string, string]> = {
  a: ['al', 'ax', 'eax', 'rax'],
  b: ['bl', 'bx', 'ebx', 'rbx'],
  c: ['cl', 'cx', 'ecx', 'rcx'],
  d: ['dl', 'dx', 'edx', 'rdx'],
  r9: ['r9b', 'r9w', 'r9d', 'r9'],
};
/** The AT&T name of register a, b, c, d or r9 at `size` bits. */
export function reg(name: string, size: number): string {
  return `%${NAMES[name]![Math.log2(size) - 3]}`;
}
export const SUFFIX: Record<number, string> = { 8: 'b', 16: 'w', 32: 'l', 64: 'q' };
export const SIZES = [8, 16, 32, 64];

export const DATA = BigInt(LAYOUT.data);

/** Little-endian bytes of `v` at `offset` in a buffer of `length`. */
export function bytesAt(length: number, offset: number, v: bigint, size: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let k = 0; k < size / 8; k++) out[offset + k] = Number((v >> BigInt(8 * k)) & 0xffn);
  return out;
}

/** A memory operand case: the value at DATA + offset, RSI pointing at it. */
export function memoryOperand(v: bigint, size: number): { rsi: bigint; data: Uint8Array } {
  const offset = pick([0x100, 0x204, 0xffe, 0xffc, 0xff8]);
  return { rsi: DATA + BigInt(offset), data: bytesAt(0x1010, offset, v, size) };
}

// ---------------------------------------------------------------------------------------
// Recording cases.

export interface AddOptions {
  set?: Partial<Record<RegName, bigint>>;
  rflags?: number;
  data?: Uint8Array;
  undefinedFlags?: number;
  /** Of the undefined flags, those only a Zen 3 host gives as the emulator does. */
  zen3Flags?: number;
  memory?: boolean;
  stack?: boolean;
  compat?: boolean;
}

let cases: Case[] = [];

/** Records a case of `family`: the other registers and the flags are random unless given. */
export function add(family: string, source: string, options: AddOptions = {}): void {
  const c: Case = {
    family,
    source,
    gpr: gprs(options.set ?? {}),
    rflags: options.rflags ?? randFlags(),
    undefinedFlags: options.undefinedFlags ?? 0,
    zen3Flags: options.zen3Flags ?? 0,
    memory: options.memory ?? false,
    stack: options.stack ?? false,
    compat: options.compat ?? false,
  };
  if (options.data) c.data = options.data;
  cases.push(c);
}

/** The cases recorded since the last call. */
export function takeCases(): Case[] {
  const taken = cases;
  cases = [];
  return taken;
}

/** Encodings that must fault (#UD …), as family 'invalid': RSI points at DATA, RCX = 3. */
export function addInvalid(sources: readonly string[]): void {
  for (const source of sources) add('invalid', source, { set: { rsi: DATA, rcx: 3n } });
}
