/**
 * vCPU 0's PVH entry state, set as libxenguest's vcpu_hvm() sets it: the domain's whole HVM
 * context is read for its HEADER and MTRR records; a context of HEADER, a CPU record (flat
 * 32-bit protected mode, paging off, RIP at the entry, RBX at hvm_start_info) and END is
 * loaded for vCPU 0; and every vCPU gets the MTRR record with write-back as default type.
 */
import {
  HVM_SAVE_CODE,
  hvm_hw_cpu,
  hvm_hw_mtrr,
  hvm_save_descriptor,
  hvm_save_header,
} from '../../abi/hvm-save.js';
import type { XenCtrl } from '../libs/ctrl.js';

const X86_CR0_PE = 1 << 0;
const X86_CR0_ET = 1 << 4;
const X86_DR6_DEFAULT = 0xffff0ff0n;
const X86_DR7_DEFAULT = 0x400n;
const MTRR_TYPE_WRBACK = 6n;
const MTRR_DEF_TYPE_ENABLE = 1n << 11n;
/** Flat segments: 32-bit code (execute/read, accessed) and data (read/write, accessed), a busy TSS. */
const CODE_ARBYTES = 0xc9b;
const DATA_ARBYTES = 0xc93;
const TSS_ARBYTES = 0x8b;

export class VcpuContextError extends Error {
  override name = 'VcpuContextError';
}

/** One record: descriptor and body. */
function record(typecode: number, instance: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(hvm_save_descriptor.size + body.length);
  out.set(hvm_save_descriptor.encode({ typecode, instance, length: body.length }));
  out.set(body, hvm_save_descriptor.size);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The body of record `typecode`/`instance` in a context, or undefined. */
function findRecord(
  context: Uint8Array,
  typecode: number,
  instance: number,
): Uint8Array | undefined {
  const view = new DataView(context.buffer, context.byteOffset, context.byteLength);
  let at = 0;
  while (at + hvm_save_descriptor.size <= context.length) {
    const type = view.getUint16(at, true);
    const inst = view.getUint16(at + 2, true);
    const length = view.getUint32(at + 4, true);
    const body = at + hvm_save_descriptor.size;
    if (type === typecode && inst === instance) return context.subarray(body, body + length);
    if (type === HVM_SAVE_CODE.END) return undefined;
    at = body + length;
  }
  return undefined;
}

export async function setPvhEntry(
  ctrl: XenCtrl,
  domid: number,
  entry: number,
  startInfo: number,
  vcpus: number,
): Promise<void> {
  const full = await ctrl.getHvmContext(domid);
  const header = findRecord(full, HVM_SAVE_CODE.HEADER, 0);
  const mtrr = findRecord(full, HVM_SAVE_CODE.MTRR, 0);
  if (header === undefined || header.length !== hvm_save_header.size) {
    throw new VcpuContextError(`domain ${domid}'s HVM context has no HEADER record`);
  }
  if (mtrr === undefined || mtrr.length !== hvm_hw_mtrr.size) {
    throw new VcpuContextError(`domain ${domid}'s HVM context has no MTRR record`);
  }
  const headerRecord = record(HVM_SAVE_CODE.HEADER, 0, header);
  const end = record(HVM_SAVE_CODE.END, 0, new Uint8Array(0));
  const cpu = hvm_hw_cpu.encode({
    cs_limit: 0xffffffff,
    ds_limit: 0xffffffff,
    es_limit: 0xffffffff,
    ss_limit: 0xffffffff,
    tr_limit: 0x67,
    cs_arbytes: CODE_ARBYTES,
    ds_arbytes: DATA_ARBYTES,
    es_arbytes: DATA_ARBYTES,
    ss_arbytes: DATA_ARBYTES,
    tr_arbytes: TSS_ARBYTES,
    cr0: BigInt(X86_CR0_PE | X86_CR0_ET),
    rip: BigInt(entry),
    rbx: BigInt(startInfo),
    dr6: X86_DR6_DEFAULT,
    dr7: X86_DR7_DEFAULT,
  });
  const defaults = hvm_hw_mtrr.decode(mtrr);
  const writeBack = hvm_hw_mtrr.encode({
    ...defaults,
    msr_mtrr_def_type: MTRR_TYPE_WRBACK | MTRR_DEF_TYPE_ENABLE,
  });
  for (let vcpu = 0; vcpu < vcpus; vcpu++) {
    await ctrl.setHvmContext(
      domid,
      concat([headerRecord, record(HVM_SAVE_CODE.MTRR, vcpu, writeBack), end]),
    );
  }
  await ctrl.setHvmContext(domid, concat([headerRecord, record(HVM_SAVE_CODE.CPU, 0, cpu), end]));
}
