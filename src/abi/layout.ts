/**
 * A small layout language for Xen's public structures.
 *
 * A structure is declared once, as an ordered record of typed fields:
 *
 *     export const vcpu_time_info = struct('vcpu_time_info', {
 *       version: u32,
 *       pad0: u32,
 *       tsc_timestamp: u64,
 *       ...
 *     });
 *
 * Field order is the record's key order (C member names are never integer-like, so
 * JavaScript keeps them in declaration order). Offsets follow C's natural alignment on
 * x86-64 (the System V psABI): every scalar is aligned to its own size, an array to its
 * element, a struct or union to its most aligned member, and a struct's size is rounded
 * up to its alignment. `{ packed: true }` lays members out back to back (GCC's
 * `__attribute__((packed))`), `{ align: n }` raises the alignment (`aligned(n)`).
 *
 * From the declaration a layout gives:
 *
 * - `size`, `align` — as C's `sizeof` and `_Alignof`;
 * - `offsets` — byte offset of every member, nested ones under dotted paths
 *   (`'time.system_time'`), typed so that a misspelt path does not compile. Hot paths read
 *   fields straight from a DataView at these offsets — a 64-bit field as two `getUint32`
 *   halves, lo at the offset and hi at offset + 4 — and never touch BigInt;
 * - `sizes` — byte size of every member, under the same paths;
 * - a codec: `read` decodes into a plain object (64-bit fields as `bigint`, since decoding
 *   a whole structure is not a hot path) and `write` encodes one.
 *
 * `write` accepts a partial value: fields that are absent (or `undefined`) are left
 *   untouched in memory, so it can update a structure in place. `clear` zeroes a structure
 *   first, and `encode` returns a fresh zero-filled buffer with the value written over it.
 *   Arrays are partial the same way (absent or shorter: the remaining elements are
 *   untouched); a `chars` field is the exception — it is a string and always rewrites its
 *   whole field, NUL-padded.
 *
 * Every access checks its bounds and every written value its range; failures throw
 * `AbiLayoutError`, never a bare RangeError from the DataView. Bounds are checked before
 * anything is written; a value error stops the write at the offending field, after the
 * fields before it were written.
 */

// ---------------------------------------------------------------------------------------
// Errors

/** What went wrong in a layout declaration or a codec call. */
export type AbiLayoutErrorCode = 'out-of-bounds' | 'bad-value' | 'bad-declaration';

/** A layout used out of bounds, given a value that does not fit, or declared wrongly. */
export class AbiLayoutError extends Error {
  override name = 'AbiLayoutError';
  readonly code: AbiLayoutErrorCode;

  constructor(code: AbiLayoutErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------
// Field types

/** The C integer types, by their `stdint.h` width. */
export type ScalarName = 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'i64';

/**
 * What every field type has. `R` is what `read` decodes the field into, `W` what `write`
 * accepts for it; both exist only for the type checker.
 */
export interface FieldType<R = unknown, W = unknown> {
  readonly kind: 'scalar' | 'array' | 'bytes' | 'chars' | 'pad' | 'flex' | 'struct' | 'union';
  readonly size: number;
  readonly align: number;
  /** How the field is spelt in messages ("u32", "u8[16]", "struct vcpu_info"). */
  readonly label: string;
  readonly __read?: R;
  readonly __write?: W;
}

/** A 1-, 2-, 4- or 8-byte little-endian integer. */
export interface ScalarType<R = number | bigint, W = number | bigint> extends FieldType<R, W> {
  readonly kind: 'scalar';
  readonly scalar: ScalarName;
  readonly signed: boolean;
}

/** A fixed-length C array (`uint32_t head[16]`, `struct vcpu_info vcpu_info[32]`). */
export interface ArrayType<E extends FieldType = FieldType>
  extends FieldType<ReadOf<E>[], readonly (WriteOf<E> | undefined)[]> {
  readonly kind: 'array';
  readonly element: E;
  readonly count: number;
}

/** A byte array (`uint8_t handle[16]`) decoded as a Uint8Array. */
export interface BytesType extends FieldType<Uint8Array, Uint8Array | readonly number[]> {
  readonly kind: 'bytes';
  readonly count: number;
}

/** A C `char[n]` holding text: decoded up to the first NUL, written NUL-padded. */
export interface CharsType extends FieldType<string, string> {
  readonly kind: 'chars';
  readonly count: number;
}

/** Unnamed padding: takes space, is neither decoded nor written, has no offset entry. */
export interface PadType extends FieldType<never, never> {
  readonly kind: 'pad';
}

/**
 * A C99 flexible array member (`uint32_t optarr[]`): it has an offset and an alignment
 * but no size, and it is not part of the decoded value.
 */
export interface FlexType<E extends FieldType = FieldType> extends FieldType<never, never> {
  readonly kind: 'flex';
  readonly element: E;
}

/** The fields of a struct or union, in declaration order. */
export type Fields = { readonly [name: string]: FieldType };

/** The decoded form of a field type. */
export type ReadOf<T> = T extends FieldType<infer R, unknown> ? R : never;
/** What `write` accepts for a field type. */
export type WriteOf<T> = T extends FieldType<unknown, infer W> ? W : never;

type Hidden = PadType | FlexType;

/** The decoded value of a struct or union: every field but padding and flexible arrays. */
export type ValueOf<F extends Fields> = {
  -readonly [K in keyof F as F[K] extends Hidden ? never : K]: ReadOf<F[K]>;
};

/** What `write` accepts for a struct or union: any subset of its fields, nested too. */
export type InputOf<F extends Fields> = {
  readonly [K in keyof F as F[K] extends Hidden ? never : K]?: WriteOf<F[K]> | undefined;
};

/** Every member path of a layout: field names, and dotted paths into nested structs/unions. */
export type PathOf<F extends Fields> = {
  [K in keyof F & string]: F[K] extends PadType
    ? never
    : F[K] extends { readonly __fields?: infer G extends Fields }
      ? K | `${K}.${PathOf<G>}`
      : K;
}[keyof F & string];

function scalar<R, W>(name: ScalarName, size: number, signed: boolean): ScalarType<R, W> {
  return Object.freeze({ kind: 'scalar', scalar: name, size, align: size, signed, label: name });
}

/** `uint8_t` */
export const u8: ScalarType<number, number> = scalar('u8', 1, false);
/** `uint16_t` */
export const u16: ScalarType<number, number> = scalar('u16', 2, false);
/** `uint32_t` (also `unsigned int`, and the 32-bit typedefs: evtchn_port_t, grant_ref_t …) */
export const u32: ScalarType<number, number> = scalar('u32', 4, false);
/** `uint64_t` (also `unsigned long`, xen_pfn_t, xen_ulong_t and guest handles on x86-64) */
export const u64: ScalarType<bigint, bigint | number> = scalar('u64', 8, false);
/** `int8_t` */
export const i8: ScalarType<number, number> = scalar('i8', 1, true);
/** `int16_t` */
export const i16: ScalarType<number, number> = scalar('i16', 2, true);
/** `int32_t` (also `int`) */
export const i32: ScalarType<number, number> = scalar('i32', 4, true);
/** `int64_t` (also `long`) */
export const i64: ScalarType<bigint, bigint | number> = scalar('i64', 8, true);

function checkCount(count: number, what: string): void {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new AbiLayoutError('bad-declaration', `${what}: length must be a positive integer`);
  }
}

/** A fixed-length array of `count` elements of a scalar, array or struct type. */
export function array<E extends FieldType>(element: E, count: number): ArrayType<E> {
  checkCount(count, `array of ${element.label}`);
  if (element.kind === 'pad' || element.kind === 'flex') {
    throw new AbiLayoutError('bad-declaration', `an array cannot hold ${element.kind} elements`);
  }
  return Object.freeze({
    kind: 'array',
    element,
    count,
    size: element.size * count,
    align: element.align,
    label: `${element.label}[${count}]`,
  });
}

/** `uint8_t name[count]` (or `unsigned char`), decoded as a Uint8Array. */
export function bytes(count: number): BytesType {
  checkCount(count, 'bytes');
  return Object.freeze({ kind: 'bytes', count, size: count, align: 1, label: `u8[${count}]` });
}

/** `char name[count]` holding text (Latin-1), decoded up to its first NUL. */
export function chars(count: number): CharsType {
  checkCount(count, 'chars');
  return Object.freeze({ kind: 'chars', count, size: count, align: 1, label: `char[${count}]` });
}

/** `count` bytes of explicit, unnamed padding. */
export function pad(count: number): PadType {
  checkCount(count, 'pad');
  return Object.freeze({ kind: 'pad', size: count, align: 1, label: `pad[${count}]` });
}

/** A flexible array member of `element`s at the end of a struct. */
export function flex<E extends FieldType>(element: E): FlexType<E> {
  return Object.freeze({
    kind: 'flex',
    element,
    size: 0,
    align: element.align,
    label: `${element.label}[]`,
  });
}

// ---------------------------------------------------------------------------------------
// Structs and unions

/** Layout options for the cases where C's natural rules are overridden. */
export interface LayoutOptions {
  /** Members back to back with no padding, alignment 1 (`__attribute__((packed))`). */
  readonly packed?: boolean;
  /** Raise the alignment to this power of two (`__attribute__((aligned(n)))`). */
  readonly align?: number;
  /**
   * How C names the type, when not `struct <tag>` / `union <tag>`: a typedef of an
   * anonymous struct, e.g. `xen_uuid_t`.
   */
  readonly cType?: string;
}

/** One member of a layout, flattened: its dotted path, offset, size and type. */
export interface Member {
  readonly path: string;
  readonly offset: number;
  readonly size: number;
  readonly type: FieldType;
}

/** One top-level field of a layout. */
export interface FieldInfo {
  readonly name: string;
  readonly offset: number;
  readonly type: FieldType;
}

type Reader = (view: DataView, at: number) => unknown;
type Writer = (view: DataView, at: number, value: unknown, path: string) => void;

interface Compiled {
  readonly read: Reader;
  readonly write: Writer;
}

/** A struct or union: its geometry, its member offsets and its codec. */
export class Layout<F extends Fields = Fields> implements FieldType<ValueOf<F>, InputOf<F>> {
  readonly kind: 'struct' | 'union';
  /** C's spelling of the type (`struct vcpu_info`), or undefined for an inline anonymous one. */
  readonly cType: string | undefined;
  readonly size: number;
  readonly align: number;
  readonly label: string;
  readonly packed: boolean;
  /** The top-level fields with their offsets, in declaration order (padding included). */
  readonly fields: readonly FieldInfo[];
  /** Every named member, nested ones included (not inside arrays), in declaration order. */
  readonly members: readonly Member[];
  /** Byte offset of every member path. */
  readonly offsets: Readonly<Record<PathOf<F>, number>>;
  /** Byte size of every member path (0 for a flexible array). */
  readonly sizes: Readonly<Record<PathOf<F>, number>>;

  declare readonly __read?: ValueOf<F>;
  declare readonly __write?: InputOf<F>;
  declare readonly __fields?: F;

  readonly #readers: readonly [string, number, Reader][];
  readonly #writers: ReadonlyMap<string, readonly [number, Writer]>;

  constructor(kind: 'struct' | 'union', tag: string | undefined, spec: F, options: LayoutOptions) {
    this.kind = kind;
    this.cType = options.cType ?? (tag === undefined ? undefined : `${kind} ${tag}`);
    this.label = this.cType ?? `anonymous ${kind}`;
    this.packed = options.packed === true;

    const fields: FieldInfo[] = [];
    let offset = 0;
    let size = 0;
    let align = 1;
    let flexSeen = false;
    for (const [name, type] of Object.entries(spec)) {
      if (flexSeen) {
        throw new AbiLayoutError(
          'bad-declaration',
          `${this.label}: the flexible array must be the last field (${name} follows it)`,
        );
      }
      if (type.kind === 'flex') {
        if (kind === 'union') {
          throw new AbiLayoutError('bad-declaration', `${this.label}: a union has no flex field`);
        }
        flexSeen = true;
      }
      const fieldAlign = this.packed ? 1 : type.align;
      align = Math.max(align, fieldAlign);
      if (kind === 'struct') {
        offset = roundUp(offset, fieldAlign);
        fields.push({ name, offset, type });
        offset += type.size;
        size = offset;
      } else {
        fields.push({ name, offset: 0, type });
        size = Math.max(size, type.size);
      }
    }
    if (options.align !== undefined) {
      const a = options.align;
      if (!Number.isInteger(a) || a < 1 || (a & (a - 1)) !== 0) {
        throw new AbiLayoutError('bad-declaration', `${this.label}: align must be a power of two`);
      }
      align = this.packed ? a : Math.max(align, a);
    }
    this.align = align;
    this.size = roundUp(size, align);
    this.fields = Object.freeze(fields);

    const members: Member[] = [];
    collectMembers(fields, '', 0, members);
    this.members = Object.freeze(members);
    const offsets: Record<string, number> = {};
    const sizes: Record<string, number> = {};
    for (const m of members) {
      offsets[m.path] = m.offset;
      sizes[m.path] = m.size;
    }
    this.offsets = Object.freeze(offsets) as Record<PathOf<F>, number>;
    this.sizes = Object.freeze(sizes) as Record<PathOf<F>, number>;

    const readers: [string, number, Reader][] = [];
    const writers = new Map<string, readonly [number, Writer]>();
    for (const f of fields) {
      if (f.type.kind === 'pad' || f.type.kind === 'flex') continue;
      const c = compile(f.type);
      readers.push([f.name, f.offset, c.read]);
      writers.set(f.name, [f.offset, c.write]);
    }
    this.#readers = readers;
    this.#writers = writers;
    Object.freeze(this);
  }

  /** Decodes the structure at byte `at` of `view`. */
  read(view: DataView, at: number): ValueOf<F> {
    this.#check(view, at);
    return this.#read(view, at) as ValueOf<F>;
  }

  /**
   * Writes the fields present in `value` at byte `at` of `view`; absent ones are untouched.
   * For a union, the members given are written in the order given (a later one overwrites
   * the bytes it shares with an earlier one).
   */
  write(view: DataView, at: number, value: InputOf<F>): void {
    this.#check(view, at);
    this.#write(view, at, value, this.label);
  }

  /** Zeroes the structure's `size` bytes at byte `at` of `view`. */
  clear(view: DataView, at: number): void {
    this.#check(view, at);
    new Uint8Array(view.buffer, view.byteOffset + at, this.size).fill(0);
  }

  /** Decodes the structure at byte `at` of `data`. */
  decode(data: Uint8Array, at = 0): ValueOf<F> {
    return this.read(new DataView(data.buffer, data.byteOffset, data.byteLength), at);
  }

  /** A fresh, zero-filled `size`-byte buffer with `value` written into it. */
  encode(value: InputOf<F>): Uint8Array {
    const data = new Uint8Array(this.size);
    this.write(new DataView(data.buffer), 0, value);
    return data;
  }

  #check(view: DataView, at: number): void {
    if (!Number.isSafeInteger(at) || at < 0 || at + this.size > view.byteLength) {
      throw new AbiLayoutError(
        'out-of-bounds',
        `${this.label} (${this.size} bytes) at offset ${at} does not fit in a ${view.byteLength}-byte view`,
      );
    }
  }

  // Unchecked forms, used when this layout is nested inside another that was checked.
  #read(view: DataView, at: number): unknown {
    const out: Record<string, unknown> = {};
    for (const [name, offset, read] of this.#readers) out[name] = read(view, at + offset);
    return out;
  }

  #write(view: DataView, at: number, value: unknown, path: string): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new AbiLayoutError('bad-value', `${path}: expected an object for ${this.label}`);
    }
    for (const [name, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const w = this.#writers.get(name);
      if (w === undefined) {
        throw new AbiLayoutError('bad-value', `${path}: ${this.label} has no field "${name}"`);
      }
      w[1](view, at + w[0], v, `${path}.${name}`);
    }
  }

  /** @internal The unchecked codec, for nesting. */
  static compiled(layout: Layout): Compiled {
    return {
      read: (view, at) => layout.#read(view, at),
      write: (view, at, value, path) => layout.#write(view, at, value, path),
    };
  }
}

/** Declares `struct <tag>` with natural x86-64 alignment (see LayoutOptions for overrides). */
export function struct<const F extends Fields>(
  tag: string,
  fields: F,
  options: LayoutOptions = {},
): Layout<F> {
  return new Layout('struct', tag, fields, options);
}

/** Declares `union <tag>`: every member at offset 0, sized by the largest. */
export function union<const F extends Fields>(
  tag: string,
  fields: F,
  options: LayoutOptions = {},
): Layout<F> {
  return new Layout('union', tag, fields, options);
}

/** An anonymous struct written inline as a member (`struct { ... } domU;`). */
export function anonStruct<const F extends Fields>(
  fields: F,
  options: LayoutOptions = {},
): Layout<F> {
  return new Layout('struct', undefined, fields, options);
}

/** An anonymous union written inline as a member (`union { ... } u;`). */
export function anonUnion<const F extends Fields>(
  fields: F,
  options: LayoutOptions = {},
): Layout<F> {
  return new Layout('union', undefined, fields, options);
}

/** True for a struct or union layout (as opposed to a scalar, array, … field type). */
export function isLayout(value: unknown): value is Layout {
  return value instanceof Layout;
}

// ---------------------------------------------------------------------------------------
// Internals

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

function collectMembers(
  fields: readonly FieldInfo[],
  prefix: string,
  base: number,
  out: Member[],
): void {
  for (const f of fields) {
    if (f.type.kind === 'pad') continue;
    const path = prefix + f.name;
    const offset = base + f.offset;
    out.push({ path, offset, size: f.type.size, type: f.type });
    if (f.type instanceof Layout) collectMembers(f.type.fields, `${path}.`, offset, out);
  }
}

const TWO_32 = 2 ** 32;

function badValue(path: string, type: FieldType, value: unknown): AbiLayoutError {
  const shown = typeof value === 'bigint' ? `${value}n` : String(value);
  return new AbiLayoutError('bad-value', `${path}: ${shown} does not fit ${type.label}`);
}

function compileScalar(t: ScalarType): Compiled {
  switch (t.scalar) {
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32': {
      const bits = t.size * 8;
      const min = t.signed ? -(2 ** (bits - 1)) : 0;
      const max = t.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
      const get = smallGetter(t.scalar);
      const set = smallSetter(t.scalar);
      return {
        read: get,
        write: (view, at, value, path) => {
          if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
            throw badValue(path, t, value);
          }
          set(view, at, value);
        },
      };
    }
    case 'u64':
    case 'i64': {
      const signed = t.signed;
      const min = signed ? -(2n ** 63n) : 0n;
      const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
      return {
        read: signed
          ? (view, at) => view.getBigInt64(at, true)
          : (view, at) => view.getBigUint64(at, true),
        write: (view, at, value, path) => {
          if (typeof value === 'bigint') {
            if (value < min || value > max) throw badValue(path, t, value);
            view.setBigUint64(at, BigInt.asUintN(64, value), true);
          } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
            if (!signed && value < 0) throw badValue(path, t, value);
            // Split into 32-bit halves without BigInt; floor keeps lo in [0, 2^32).
            const hi = Math.floor(value / TWO_32);
            view.setUint32(at, value - hi * TWO_32, true);
            view.setInt32(at + 4, hi | 0, true);
          } else {
            throw badValue(path, t, value);
          }
        },
      };
    }
  }
}

function smallGetter(name: ScalarName): Reader {
  switch (name) {
    case 'u8':
      return (view, at) => view.getUint8(at);
    case 'i8':
      return (view, at) => view.getInt8(at);
    case 'u16':
      return (view, at) => view.getUint16(at, true);
    case 'i16':
      return (view, at) => view.getInt16(at, true);
    case 'u32':
      return (view, at) => view.getUint32(at, true);
    default:
      return (view, at) => view.getInt32(at, true);
  }
}

function smallSetter(name: ScalarName): (view: DataView, at: number, value: number) => void {
  switch (name) {
    case 'u8':
    case 'i8':
      return (view, at, value) => view.setUint8(at, value & 0xff);
    case 'u16':
    case 'i16':
      return (view, at, value) => view.setUint16(at, value & 0xffff, true);
    default:
      return (view, at, value) => view.setUint32(at, value >>> 0, true);
  }
}

function compileArray(t: ArrayType): Compiled {
  const element = compile(t.element);
  const { count } = t;
  const stride = t.element.size;
  return {
    read: (view, at) => {
      const out = new Array<unknown>(count);
      for (let i = 0; i < count; i++) out[i] = element.read(view, at + i * stride);
      return out;
    },
    write: (view, at, value, path) => {
      if (!Array.isArray(value) || value.length > count) {
        throw new AbiLayoutError(
          'bad-value',
          `${path}: expected an array of at most ${count} elements for ${t.label}`,
        );
      }
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (v !== undefined) element.write(view, at + i * stride, v, `${path}[${i}]`);
      }
    },
  };
}

function compileBytes(t: BytesType): Compiled {
  const { count } = t;
  return {
    read: (view, at) => {
      const out = new Uint8Array(count);
      out.set(new Uint8Array(view.buffer, view.byteOffset + at, count));
      return out;
    },
    write: (view, at, value, path) => {
      const src =
        value instanceof Uint8Array
          ? value
          : Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)
            ? Uint8Array.from(value as number[])
            : undefined;
      if (src === undefined || src.length > count) {
        throw new AbiLayoutError(
          'bad-value',
          `${path}: expected at most ${count} bytes (a Uint8Array or byte array) for ${t.label}`,
        );
      }
      new Uint8Array(view.buffer, view.byteOffset + at, src.length).set(src);
    },
  };
}

function compileChars(t: CharsType): Compiled {
  const { count } = t;
  return {
    read: (view, at) => {
      let s = '';
      for (let i = 0; i < count; i++) {
        const c = view.getUint8(at + i);
        if (c === 0) break;
        s += String.fromCharCode(c);
      }
      return s;
    },
    write: (view, at, value, path) => {
      if (typeof value !== 'string' || value.length > count) {
        throw new AbiLayoutError(
          'bad-value',
          `${path}: expected a string of at most ${count} characters for ${t.label}`,
        );
      }
      for (let i = 0; i < count; i++) {
        const c = i < value.length ? value.charCodeAt(i) : 0;
        if (c > 0xff) {
          throw new AbiLayoutError('bad-value', `${path}: character ${i} is not Latin-1`);
        }
        view.setUint8(at + i, c);
      }
    },
  };
}

function compile(t: FieldType): Compiled {
  if (t instanceof Layout) return Layout.compiled(t);
  switch (t.kind) {
    case 'scalar':
      return compileScalar(t as ScalarType);
    case 'array':
      return compileArray(t as ArrayType);
    case 'bytes':
      return compileBytes(t as BytesType);
    case 'chars':
      return compileChars(t as CharsType);
    default:
      throw new AbiLayoutError('bad-declaration', `a ${t.kind} field cannot be read or written`);
  }
}
