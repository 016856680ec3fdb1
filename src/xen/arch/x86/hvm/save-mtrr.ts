/**
 * The MTRR save record (struct hvm_hw_mtrr) and TSC_ADJUST (struct hvm_tsc_adjust).
 *
 * We do not emulate memory types: the MTRRs and the PAT are plain-storage MSRs of the Cpu,
 * which start with Xen's hvm_vcpu_cacheattr_init values (MTRRcap 0x508: 8 variable ranges,
 * fixed ranges, write-combining; the default PAT; everything else 0). The record moves
 * between those MSRs, so what a guest reads with RDMSR is what the toolstack set, and get
 * returns what set stored. Loading applies Xen's per-register rules (mtrr_*_msr_set,
 * hvm_set_guest_pat): a value with a bad memory type or reserved bits is skipped, not
 * refused. The hardware domain gets the same values as any other (Xen copies the host's;
 * this machine has none to copy). Xen 4.17 saves variable range 0 in every slot
 * (var_ranges->base); we save each range in its own slot.
 *
 * TSC_ADJUST: the vCPU's IA32_TSC_ADJUST. Loading sets the MSR alone, as hvm_load_tsc_adjust
 * does: the TSC it adjusted is in the CPU record already.
 */
import { XEN_EINVAL } from '../../../../abi/errno.js';
import {
  HVM_SAVE_CODE,
  hvm_hw_mtrr,
  hvm_save_descriptor,
  hvm_tsc_adjust,
  MTRR_VCNT,
  NUM_FIXED_MSR,
} from '../../../../abi/hvm-save.js';
import type { Cpu } from '../../../../x86/cpu.js';
import { Msr, readMsr } from '../../../../x86/isa/system.js';
import type { Vcpu } from '../../../common/domain.js';
import { physAddrBits } from './save-cpu-check.js';
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

const MSR_MTRRcap = 0xfe;
const MSR_MTRRdefType = 0x2ff;
/** IA32_MTRR_PHYSBASE(n) is 0x200 + 2n, PHYSMASK(n) 0x201 + 2n. */
const MSR_MTRR_PHYSBASE0 = 0x200;
/** MTRRfix64K_00000, 16K_80000, 16K_A0000, 4K_C0000 … 4K_F8000: the record's order. */
const FIXED_MSRS = [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f];
/** MTRRcap.VCNT */
const MTRRcap_VCNT = 0xffn;
/** MTRRdefType: type 7:0, FE (fixed ranges enabled) 10, E (enabled) 11. */
const MTRRdefType_VALID = 0xcffn;

/** MTRR_TYPE_* a range may have: UC 0, WC 1, WT 4, WP 5, WB 6. */
const mtrrType = (type: number): boolean => type <= 1 || (type >= 4 && type <= 6);
/** PAT_TYPE_* a PAT entry may have: the MTRR ones and UC- (7). */
const patType = (type: number): boolean => mtrrType(type) || type === 7;

function everyByte(value: bigint, ok: (byte: number) => boolean): boolean {
  for (let i = 0n; i < 64n; i += 8n) if (!ok(Number((value >> i) & 0xffn))) return false;
  return true;
}

const msr = (cpu: Cpu, index: number): bigint => {
  const [lo, hi] = readMsr(cpu, index) ?? [0, 0];
  return u64Of(lo, hi);
};

function setMsr(cpu: Cpu, index: number, value: bigint): void {
  cpu.msrs.set(index, halvesOf(value));
}

/** hvm_save_mtrr_msr. */
function saveMtrr(_env: SaveEnv, vcpu: Vcpu, out: RecordWriter): number {
  const cpu = vcpu.cpu;
  const cap = msr(cpu, MSR_MTRRcap);
  const vcnt = Number(cap & MTRRcap_VCNT);
  if (vcnt > MTRR_VCNT) return -XEN_EINVAL;
  const vars: bigint[] = [];
  for (let i = 0; i < vcnt * 2; i++) vars.push(msr(cpu, MSR_MTRR_PHYSBASE0 + i));
  const body = hvm_hw_mtrr.encode({
    msr_pat_cr: msr(cpu, Msr.PAT),
    msr_mtrr_var: vars,
    msr_mtrr_fixed: FIXED_MSRS.map((index) => msr(cpu, index)),
    msr_mtrr_cap: cap,
    msr_mtrr_def_type: msr(cpu, MSR_MTRRdefType),
  });
  out.add(HVM_SAVE_CODE.MTRR, vcpu.id, body);
  return 0;
}

type Mtrr = ReturnType<typeof hvm_hw_mtrr.decode>;

/** hvm_load_mtrr_msr's changes, each register by Xen's rules for it. */
function applyMtrr(cpu: Cpu, m: Mtrr): void {
  if (everyByte(m.msr_pat_cr, patType)) setMsr(cpu, Msr.PAT, m.msr_pat_cr);
  setMsr(cpu, MSR_MTRRcap, m.msr_mtrr_cap);
  for (let row = 0; row < NUM_FIXED_MSR; row++) {
    const value = m.msr_mtrr_fixed[row]!;
    const index = FIXED_MSRS[row]!;
    if (value !== msr(cpu, index) && everyByte(value, mtrrType)) setMsr(cpu, index, value);
  }
  // Bits from MAXPHYADDR up, and 11:8 of a base or 10:0 of a mask, are reserved.
  const high = ~((1n << BigInt(physAddrBits(cpu))) - 1n);
  const vcnt = Number(m.msr_mtrr_cap & MTRRcap_VCNT);
  for (let i = 0; i < vcnt * 2; i++) {
    const value = m.msr_mtrr_var[i]!;
    const index = MSR_MTRR_PHYSBASE0 + i;
    const reserved = high | (i & 1 ? 0x7ffn : 0xf00n);
    if (value === msr(cpu, index)) continue;
    if (mtrrType(Number(value & 0xffn)) && !(value & reserved)) setMsr(cpu, index, value);
  }
  const def = m.msr_mtrr_def_type;
  if (mtrrType(Number(def & 0xffn)) && !(def & ~MTRRdefType_VALID)) {
    setMsr(cpu, MSR_MTRRdefType, def);
  }
}

function loadMtrr(env: SaveEnv, stream: SaveStream): LoadResult {
  const vcpu = recordVcpu(env.domain, stream);
  if (vcpu === undefined) return -XEN_EINVAL;
  const body = stream.take(HVM_SAVE_CODE.MTRR, hvm_hw_mtrr.size, true);
  if (body === undefined) return -XEN_EINVAL;
  const m = hvm_hw_mtrr.decode(body);
  if ((m.msr_mtrr_cap & MTRRcap_VCNT) > BigInt(MTRR_VCNT)) return -XEN_EINVAL;
  return () => applyMtrr(vcpu.cpu, m);
}

function saveTscAdjust(_env: SaveEnv, vcpu: Vcpu, out: RecordWriter): number {
  const tsc_adjust = BigInt.asUintN(64, BigInt(vcpu.cpu.tscAdjust));
  out.add(HVM_SAVE_CODE.TSC_ADJUST, vcpu.id, hvm_tsc_adjust.encode({ tsc_adjust }));
  return 0;
}

function loadTscAdjust(env: SaveEnv, stream: SaveStream): LoadResult {
  const vcpu = recordVcpu(env.domain, stream);
  if (vcpu === undefined) return -XEN_EINVAL;
  const body = stream.take(HVM_SAVE_CODE.TSC_ADJUST, hvm_tsc_adjust.size, true);
  if (body === undefined) return -XEN_EINVAL;
  const adjust = Number(BigInt.asIntN(64, hvm_tsc_adjust.decode(body).tsc_adjust));
  return () => {
    vcpu.cpu.tscAdjust = adjust;
  };
}

const DESC = hvm_save_descriptor.size;

export const mtrrHandler: HvmSaveHandler = {
  name: 'MTRR',
  typecode: HVM_SAVE_CODE.MTRR,
  perVcpu: true,
  size: DESC + hvm_hw_mtrr.size,
  save: saveMtrr,
  load: loadMtrr,
};

export const tscAdjustHandler: HvmSaveHandler = {
  name: 'TSC_ADJUST',
  typecode: HVM_SAVE_CODE.TSC_ADJUST,
  perVcpu: true,
  size: DESC + hvm_tsc_adjust.size,
  save: saveTscAdjust,
  load: loadTscAdjust,
};
