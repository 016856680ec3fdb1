/**
 * A domain's HVM context (Xen's xen/arch/x86/hvm/save.c): the save records of
 * XEN_DOMCTL_gethvmcontext, gethvmcontext_partial and sethvmcontext.
 *
 * A save is HEADER, then the records of each type in typecode order (a per-vCPU type once per
 * vCPU, instance = vCPU id), then END. We produce CPU (for each vCPU that is up, as Xen),
 * LAPIC and LAPIC_REGS (when the domain has emulated local APICs), MTRR, TSC_ADJUST and
 * CPU_MSR (SPEC_CTRL, when it is not zero).
 *
 * Records we do not produce: PIC, IOAPIC, PIT, RTC, HPET and PMTIMER belong to devices our
 * domains do not have, so they are saved as Xen saves them for a PVH domain (not at all) and
 * loading one is -ENODEV, as Xen's handlers answer for a domain without the device. PCI_IRQ,
 * ISA_IRQ and PCI_LINK (there are no INTx wires or PCI-ISA link to hold), VIRIDIAN_DOMAIN
 * and VIRIDIAN_VCPU (no Hyper-V enlightenments), VMCE_VCPU (no machine-check MSRs) and
 * CPU_XSAVE (the CPU has no XSAVE) have no handler: like any unknown typecode, loading one is
 * -EINVAL, rather than dropping state.
 *
 * Loading checks every record before it changes anything, so a context Xen would refuse
 * part-way leaves the domain as it was (Xen would have downed the vCPUs and loaded the
 * records before the bad one). A good one downs every vCPU and brings up those with a CPU
 * record, as hvm_load does.
 */
import { XEN_EINVAL, XEN_ENODATA, XEN_ENODEV, XEN_ENOENT } from '../../../../abi/errno.js';
import {
  HVM_FILE_MAGIC,
  HVM_FILE_VERSION,
  HVM_SAVE_CODE,
  HVM_SAVE_CODE_MAX,
  hvm_save_descriptor,
  hvm_save_header,
} from '../../../../abi/hvm-save.js';
import { DomainState } from '../../../common/domain.js';
import { cpuHandler } from './save-cpu.js';
import { lapicHandler, lapicRegsHandler } from './save-lapic.js';
import { msrHandler } from './save-msr.js';
import { mtrrHandler, tscAdjustHandler } from './save-mtrr.js';
import {
  type HvmSaveHandler,
  type LoadResult,
  RecordWriter,
  type SaveEnv,
  SaveStream,
} from './save-record.js';

export type { SaveEnv } from './save-record.js';

/** A device our domains never have: nothing to save, and -ENODEV for a record of it. */
function absent(name: string, typecode: number): HvmSaveHandler {
  return { name, typecode, perVcpu: false, size: 0, save: () => 0, load: () => -XEN_ENODEV };
}

/** hvm_sr_handlers: the record types we have handlers for, by typecode. */
const HANDLERS: ReadonlyMap<number, HvmSaveHandler> = new Map(
  [
    cpuHandler,
    absent('PIC', HVM_SAVE_CODE.PIC),
    absent('IOAPIC', HVM_SAVE_CODE.IOAPIC),
    lapicHandler,
    lapicRegsHandler,
    absent('PIT', HVM_SAVE_CODE.PIT),
    absent('RTC', HVM_SAVE_CODE.RTC),
    absent('HPET', HVM_SAVE_CODE.HPET),
    absent('PMTIMER', HVM_SAVE_CODE.PMTIMER),
    mtrrHandler,
    tscAdjustHandler,
    msrHandler,
  ].map((h) => [h.typecode, h]),
);

const DESC = hvm_save_descriptor.size;
/** The changeset of a Xen that cannot tell its own (hvm_save's -1ULL). */
const CHANGESET_UNKNOWN = 0xffff_ffff_ffff_ffffn;

const dying = (env: SaveEnv): boolean => env.domain.state === DomainState.Dying;

/** hvm_save_size: the most a save can take (every vCPU up). */
export function hvmSaveSize(env: SaveEnv): number {
  let size = 2 * DESC + hvm_save_header.size;
  for (const h of HANDLERS.values()) size += h.perVcpu ? h.size * env.domain.vcpus.length : h.size;
  return size;
}

/** hvm_save: the whole context; `rc` is 0 or Xen's error, `data` what was saved until then. */
export function hvmSave(env: SaveEnv): { rc: number; data: Uint8Array } {
  if (dying(env)) return { rc: -XEN_EINVAL, data: new Uint8Array(0) };
  const { domain, hv } = env;
  const out = new RecordWriter();
  const leaf1 = domain.vcpus[0]?.cpu.policy.cpuid(1, 0, 0);
  const header = hvm_save_header.encode({
    magic: HVM_FILE_MAGIC,
    version: HVM_FILE_VERSION,
    changeset: CHANGESET_UNKNOWN,
    cpuid: (leaf1?.eax ?? 0) >>> 0,
    gtsc_khz: Math.floor(hv.time.tscHz / 1000),
  });
  out.add(HVM_SAVE_CODE.HEADER, 0, header);
  for (let typecode = 0; typecode <= HVM_SAVE_CODE_MAX; typecode++) {
    const h = HANDLERS.get(typecode);
    if (h === undefined) continue;
    const vcpus = h.perVcpu ? domain.vcpus : domain.vcpus.slice(0, 1);
    for (const vcpu of vcpus) {
      if (h.save(env, vcpu, out) !== 0) return { rc: -XEN_ENODATA, data: out.concat() };
    }
  }
  out.add(HVM_SAVE_CODE.END, 0, new Uint8Array(0));
  return { rc: 0, data: out.concat() };
}

/** hvm_save_one: the body of one record, or Xen's error. */
export function hvmSaveOne(env: SaveEnv, typecode: number, instance: number): Uint8Array | number {
  const h = HANDLERS.get(typecode);
  if (dying(env) || typecode > HVM_SAVE_CODE_MAX || h === undefined) return -XEN_EINVAL;
  const { vcpus } = env.domain;
  if (h.perVcpu && instance >= vcpus.length) return -XEN_ENOENT;
  const vcpu = vcpus[h.perVcpu ? instance : 0];
  if (vcpu === undefined) return -XEN_ENOENT;
  const out = new RecordWriter();
  const rc = h.save(env, vcpu, out);
  if (rc !== 0) return rc;
  for (const record of out.records()) if (record.instance === instance) return record.body;
  return h.perVcpu ? -XEN_ENODATA : -XEN_ENOENT;
}

function log(env: SaveEnv, text: string): void {
  env.hv.console.write(`(XEN) HVM${env.domain.id} restore: ${text}\n`);
}

/** arch_hvm_load's checks of the header. */
function checkHeader(env: SaveEnv, body: Uint8Array): number {
  const header = hvm_save_header.decode(body);
  if (header.magic !== HVM_FILE_MAGIC) {
    log(env, `bad magic number 0x${header.magic.toString(16)}`);
    return -XEN_EINVAL;
  }
  if (header.version !== HVM_FILE_VERSION) {
    log(env, `unsupported version ${header.version}`);
    return -XEN_EINVAL;
  }
  // A different CPU is only noted by Xen; gtsc_khz would set the domain's TSC rate, which is
  // the machine's here (every domain's TSC runs at the same rate), so it is not kept.
  return 0;
}

/** hvm_load: 0, or Xen's error with the domain unchanged. */
export function hvmLoad(env: SaveEnv, data: Uint8Array): number {
  if (dying(env)) return -XEN_EINVAL;
  const stream = new SaveStream(data);
  const header = stream.take(HVM_SAVE_CODE.HEADER, hvm_save_header.size, true);
  if (header === undefined) return -XEN_ENODATA;
  const rc = checkHeader(env, header);
  if (rc !== 0) return rc;
  const changes: (() => void)[] = [];
  for (;;) {
    const desc = stream.descriptor();
    if (desc === undefined) {
      log(env, 'save did not end with a null entry');
      return -XEN_ENODATA;
    }
    if (desc.typecode === HVM_SAVE_CODE.END) break;
    const h = desc.typecode <= HVM_SAVE_CODE_MAX ? HANDLERS.get(desc.typecode) : undefined;
    if (h === undefined) {
      log(env, `unknown entry typecode ${desc.typecode}`);
      return -XEN_EINVAL;
    }
    const result: LoadResult = h.load(env, stream);
    if (typeof result === 'number') {
      log(env, `failed to load entry ${desc.typecode}/${desc.instance} rc ${result}`);
      return result;
    }
    changes.push(result);
  }
  // "Down all the vcpus: we only re-enable the ones that had state saved."
  for (const vcpu of env.domain.vcpus) env.hv.setOnline(vcpu, false);
  for (const change of changes) change();
  return 0;
}
