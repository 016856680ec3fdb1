/**
 * The pieces every HVM save record handler uses: reading records from a context as Xen's
 * hvm_load_entry does (descriptor and length checks, zero-extension), writing them as
 * hvm_save_entry does, and the handler interface of the record table (save.ts).
 */
import { hvm_save_descriptor } from '../../../../abi/hvm-save.js';
import type { Domain, Vcpu } from '../../../common/domain.js';
import type { Hypervisor } from '../../../hypervisor.js';

const DESC = hvm_save_descriptor.size;

/** What a save or load works on. */
export interface SaveEnv {
  readonly hv: Hypervisor;
  readonly domain: Domain;
  /** The machine TSC when the save or load began (Xen's sync_tsc): one for every vCPU. */
  readonly syncTsc: number;
  /** Whether the domain has emulated local APICs (XEN_X86_EMU_LAPIC: Xen's has_vlapic). */
  readonly vlapic: boolean;
}

/** A load handler's verdict: a negative Xen errno, or the change to make once all is checked. */
export type LoadResult = number | (() => void);

export interface HvmSaveHandler {
  /** Xen's name for the record (HVM_REGISTER_SAVE_RESTORE's first argument). */
  readonly name: string;
  readonly typecode: number;
  /** HVMSR_PER_VCPU: saved once per vCPU with instance = vCPU id; else once per domain. */
  readonly perVcpu: boolean;
  /** Bytes (descriptors included) it may save per vCPU or per domain: hvm_save_size's share. */
  readonly size: number;
  /** Appends the record(s) of `vcpu` (vCPU 0 for per-domain ones); 0 or a negative errno. */
  save(env: SaveEnv, vcpu: Vcpu, out: RecordWriter): number;
  /**
   * Checks the record at the stream's cursor and consumes it. Nothing may change yet: the
   * whole context is checked before any of it is applied.
   */
  load(env: SaveEnv, stream: SaveStream): LoadResult;
}

/** Builds a context: records in the order they are added. */
export class RecordWriter {
  private readonly parts: Uint8Array[] = [];
  private bytes = 0;

  add(typecode: number, instance: number, body: Uint8Array): void {
    this.parts.push(hvm_save_descriptor.encode({ typecode, instance, length: body.length }), body);
    this.bytes += DESC + body.length;
  }

  get length(): number {
    return this.bytes;
  }

  /** The records so far, in one buffer. */
  concat(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Each record so far as typecode, instance and body (for gethvmcontext_partial). */
  *records(): Generator<{ typecode: number; instance: number; body: Uint8Array }> {
    for (let i = 0; i < this.parts.length; i += 2) {
      const desc = hvm_save_descriptor.decode(this.parts[i]!);
      yield { typecode: desc.typecode, instance: desc.instance, body: this.parts[i + 1]! };
    }
  }
}

/** A context being loaded, with Xen's cursor (h->cur). */
export class SaveStream {
  private readonly view: DataView;
  cur = 0;

  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.cur;
  }

  /** The descriptor at the cursor, if a whole one is left. */
  descriptor(): { typecode: number; instance: number; length: number } | undefined {
    if (this.remaining < DESC) return undefined;
    return hvm_save_descriptor.read(this.view, this.cur);
  }

  /** hvm_load_instance: the instance of the record at the cursor. */
  instance(): number {
    return this.descriptor()?.instance ?? 0;
  }

  /**
   * _hvm_check_entry + _hvm_read_entry: the body of a `typecode` record of `length` bytes
   * (strict), or of at most `length` bytes zero-extended to it (not strict), with the cursor
   * moved past it; undefined (nothing consumed) when the record does not fit those rules or
   * runs past the end of the context.
   */
  take(typecode: number, length: number, strict: boolean): Uint8Array | undefined {
    const desc = this.descriptor();
    if (desc === undefined || desc.typecode !== typecode) return undefined;
    if (strict ? desc.length !== length : desc.length > length) return undefined;
    if (desc.length > this.remaining - DESC) return undefined;
    const start = this.cur + DESC;
    const body = new Uint8Array(length);
    body.set(this.data.subarray(start, start + desc.length));
    this.cur = start + desc.length;
    return body;
  }

  /** The length the record at the cursor declares (before `take`). */
  declaredLength(): number {
    return this.descriptor()?.length ?? 0;
  }
}

/** The vCPU a per-vCPU record names, or undefined (Xen: "dom%d has no vcpu%u", -EINVAL). */
export function recordVcpu(domain: Domain, stream: SaveStream): Vcpu | undefined {
  return domain.vcpus[stream.instance()];
}

/** A 64-bit value from two int32 halves. */
export function u64Of(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A 64-bit value as its [lo, hi] int32 halves. */
export function halvesOf(value: bigint): [number, number] {
  const v = BigInt.asUintN(64, value);
  return [Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0];
}
