/**
 * CPU_MSR (Xen's hvm_save_cpu_msrs / hvm_load_cpu_msrs): the MSRs beyond those in the CPU
 * record, per vCPU. Of Xen's msrs_to_send our CPU has only SPEC_CTRL. As in Xen, a zero MSR is
 * left out, and a vCPU with none has no record.
 */
import { XEN_EINVAL, XEN_ENODATA, XEN_ENXIO, XEN_EOPNOTSUPP } from '../../../../abi/errno.js';
import {
  CPU_MSR_CODE,
  hvm_one_msr,
  hvm_save_descriptor,
  hvmCpuMsrSize,
} from '../../../../abi/hvm-save.js';
import { Msr, readMsr, validSpecCtrl } from '../../../../x86/isa/system.js';
import type { Vcpu } from '../../../common/domain.js';
import {
  type HvmSaveHandler,
  halvesOf,
  type LoadResult,
  type RecordWriter,
  recordVcpu,
  type SaveEnv,
  type SaveStream,
  u64Of,
} from './save-record.js';

const DESC = hvm_save_descriptor.size;
const MSRS_TO_SEND = [Msr.SPEC_CTRL];

function saveMsrs(_env: SaveEnv, vcpu: Vcpu, out: RecordWriter): number {
  const entries: Uint8Array[] = [];
  for (const index of MSRS_TO_SEND) {
    const [lo, hi] = readMsr(vcpu.cpu, index) ?? [0, 0];
    const val = u64Of(lo, hi);
    if (val !== 0n) entries.push(hvm_one_msr.encode({ index, _rsvd: 0, val }));
  }
  if (entries.length === 0) return 0;
  const body = new Uint8Array(hvmCpuMsrSize(entries.length));
  new DataView(body.buffer).setUint32(0, entries.length, true);
  for (const [n, entry] of entries.entries()) body.set(entry, hvmCpuMsrSize(n));
  out.add(CPU_MSR_CODE, vcpu.id, body);
  return 0;
}

/** Whether guest_wrmsr would take `val` for `index`. */
function writable(index: number, val: bigint): boolean {
  return index === Msr.SPEC_CTRL && validSpecCtrl(...halvesOf(val));
}

function loadMsrs(env: SaveEnv, stream: SaveStream): LoadResult {
  const vcpu = recordVcpu(env.domain, stream);
  if (vcpu === undefined) return -XEN_EINVAL;
  const desc = stream.descriptor();
  if (desc === undefined || desc.length > stream.remaining - DESC) return -XEN_ENODATA;
  if (desc.length < hvmCpuMsrSize(1)) return -XEN_EINVAL;
  const body = stream.take(CPU_MSR_CODE, desc.length, true);
  if (body === undefined) return -XEN_EINVAL;
  const view = new DataView(body.buffer);
  const count = view.getUint32(0, true);
  if (desc.length !== hvmCpuMsrSize(count)) return -XEN_EOPNOTSUPP;
  const msrs = Array.from({ length: count }, (_, n) => hvm_one_msr.decode(body, hvmCpuMsrSize(n)));
  if (msrs.some((msr) => msr._rsvd !== 0)) return -XEN_EOPNOTSUPP;
  // Xen finds an MSR it does not take only as it loads them (-ENXIO); here nothing has
  // changed yet when it is refused.
  if (!msrs.every((msr) => writable(msr.index, msr.val))) return -XEN_ENXIO;
  return () => {
    for (const msr of msrs) vcpu.cpu.msrs.set(msr.index, halvesOf(msr.val));
  };
}

export const msrHandler: HvmSaveHandler = {
  name: 'CPU_MSR',
  typecode: CPU_MSR_CODE,
  perVcpu: true,
  size: DESC + hvmCpuMsrSize(MSRS_TO_SEND.length),
  save: saveMsrs,
  load: loadMsrs,
};
