/**
 * The CPU save record (struct hvm_hw_cpu): one online vCPU's registers, as Xen's
 * hvm_save_cpu_ctxt / hvm_load_cpu_ctxt move them between the record and a VMCS, here
 * between the record and our Cpu.
 *
 * Segment attributes are in Xen's struct segment_register packing in the record and in the
 * VMX access-rights layout in the Cpu; they convert as vmx_{get,set}_segment_register do
 * (present is the inverse of unusable). The TSC is kept as a per-vCPU offset from one machine
 * TSC reading per save or load (Xen's sync_tsc). The pending event is in save-cpu-event.ts.
 */
import { XEN_EINVAL } from '../../../../abi/errno.js';
import {
  HVM_SAVE_CODE,
  hvm_hw_cpu,
  hvm_hw_cpu_compat,
  hvm_save_descriptor,
  XEN_X86_FPU_INITIALISED,
} from '../../../../abi/hvm-save.js';
import { type Cpu, Cr0, Cr4, Efer, SegAttrBits } from '../../../../x86/cpu.js';
import { Flag, Lazy, LazyOp, readFlags } from '../../../../x86/flags.js';
import { readDebugRegister } from '../../../../x86/isa/debugreg.js';
import { Msr, readMsr } from '../../../../x86/isa/system.js';
import { loadPdptes } from '../../../../x86/mmu.js';
import { Seg } from '../../../../x86/segments.js';
import { MXCSR_MASK } from '../../../../x86/sse/fp.js';
import { loadImage, saveImage } from '../../../../x86/sse/state.js';
import type { Vcpu } from '../../../common/domain.js';
import { checkCpuRecord, type HwCpu, unfoldArbytes } from './save-cpu-check.js';
import { loadEvent, savedEvent } from './save-cpu-event.js';
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

/** The record's general registers and their numbers in Cpu.gpr. */
const GPRS = [
  ['rax', 0],
  ['rbx', 3],
  ['rcx', 1],
  ['rdx', 2],
  ['rbp', 5],
  ['rsi', 6],
  ['rdi', 7],
  ['rsp', 4],
  ['r8', 8],
  ['r9', 9],
  ['r10', 10],
  ['r11', 11],
  ['r12', 12],
  ['r13', 13],
  ['r14', 14],
  ['r15', 15],
] as const;

const SEGMENTS = [
  ['cs', Seg.CS],
  ['ds', Seg.DS],
  ['es', Seg.ES],
  ['fs', Seg.FS],
  ['gs', Seg.GS],
  ['ss', Seg.SS],
  ['tr', Seg.TR],
  ['ldtr', Seg.LDTR],
] as const;

/** MSRs the record carries that the Cpu keeps as plain storage. */
const MSRS = [
  ['sysenter_cs', Msr.SYSENTER_CS],
  ['sysenter_esp', Msr.SYSENTER_ESP],
  ['sysenter_eip', Msr.SYSENTER_EIP],
  ['shadow_gs', Msr.KERNEL_GS_BASE],
  ['msr_lstar', Msr.LSTAR],
  ['msr_star', Msr.STAR],
  ['msr_cstar', Msr.CSTAR],
  ['msr_syscall_mask', Msr.SFMASK],
  ['msr_tsc_aux', Msr.TSC_AUX],
] as const;

/** RFLAGS bits a guest can hold (VM entry refuses the reserved ones). */
const RFLAGS_VALID = 0x003f7fd5;
/** DR6 and DR7 bits the Cpu stores (the others read as fixed values). */
const DR6_WRITABLE = 0xe00f;
const DR7_WRITABLE = 0xffff23ff | 0;
/** vcpu_setup_fpu without an image: FCW_RESET and MXCSR_DEFAULT, the rest zero. */
const FCW_RESET = 0x0040;
const MXCSR_DEFAULT = 0x1f80;

type CpuInput = Parameters<typeof hvm_hw_cpu.encode>[0];

/** The VMX access rights the Cpu keeps → struct segment_register's attributes. */
function xenAttr(ar: number): number {
  return (ar & SegAttrBits.Unusable ? 0 : 0x80) | (ar & 0x7f) | ((ar >> 4) & 0xf00);
}

/** struct segment_register's attributes → the Cpu's VMX access rights. */
function vmxAttr(attr: number): number {
  return (attr & 0x80 ? 0 : SegAttrBits.Unusable) | ((attr & 0xf00) << 4) | (attr & 0xff);
}

const u64 = (cpu: Cpu, n: number): bigint => u64Of(cpu.gpr[n * 2]!, cpu.gpr[n * 2 + 1]!);

/** hvm_save_cpu_ctxt: nothing for a vCPU that is down. */
function saveCpu(env: SaveEnv, vcpu: Vcpu, out: RecordWriter): number {
  if (!vcpu.online) return 0;
  const cpu = vcpu.cpu;
  const body = new Uint8Array(hvm_hw_cpu.size);
  const view = new DataView(body.buffer);
  saveImage(cpu, view, hvm_hw_cpu.offsets.fpu_regs, cpu.longMode);
  const value: Record<string, number | bigint> = {};
  for (const [name, n] of GPRS) value[name] = u64(cpu, n);
  for (const [name, seg] of SEGMENTS) {
    value[`${name}_sel`] = cpu.segSel[seg]! & 0xffff;
    value[`${name}_limit`] = cpu.segLimit[seg]! >>> 0;
    value[`${name}_base`] = u64Of(cpu.segBaseLo[seg]!, cpu.segBaseHi[seg]!);
    value[`${name}_arbytes`] = xenAttr(cpu.segAttr[seg]!);
  }
  for (const [name, index] of MSRS) {
    const [lo, hi] = readMsr(cpu, index) ?? [0, 0];
    value[name] = u64Of(lo, hi);
  }
  const dr = [0, 1, 2, 3, 6, 7].map((n) => {
    const lo = readDebugRegister(cpu, n);
    return u64Of(lo, cpu.hi);
  });
  const [event, errorCode] = savedEvent(cpu);
  hvm_hw_cpu.write(view, 0, {
    ...(value as CpuInput),
    rip: u64Of(cpu.ripLo, cpu.ripHi),
    rflags: BigInt(readFlags(cpu) >>> 0),
    cr0: BigInt(cpu.cr0 >>> 0),
    cr2: u64Of(cpu.cr2Lo, cpu.cr2Hi),
    cr3: u64Of(cpu.cr3Lo, cpu.cr3Hi),
    cr4: BigInt(cpu.cr4 >>> 0),
    dr0: dr[0]!,
    dr1: dr[1]!,
    dr2: dr[2]!,
    dr3: dr[3]!,
    dr6: dr[4]!,
    dr7: dr[5]!,
    idtr_limit: cpu.idtLimit >>> 0,
    idtr_base: u64Of(cpu.idtBaseLo, cpu.idtBaseHi),
    gdtr_limit: cpu.gdtLimit >>> 0,
    gdtr_base: u64Of(cpu.gdtBaseLo, cpu.gdtBaseHi),
    msr_efer: BigInt(cpu.efer >>> 0),
    tsc: BigInt(Math.max(0, Math.floor(env.syncTsc + cpu.tscOffset))),
    pending_event: event,
    error_code: errorCode,
    flags: XEN_X86_FPU_INITIALISED, // our vCPUs always have an FPU state
  });
  out.add(HVM_SAVE_CODE.CPU, vcpu.id, body);
  return 0;
}

/**
 * The record as hvm_load_entry_zeroextend and _hvm_hw_fix_cpu leave it: shorter records are
 * zero-extended, a pre-4.7 (compat) one has its tail moved into place, and any record not of
 * the current length counts as having an initialised FPU.
 */
function fixCompat(body: Uint8Array, length: number): HwCpu {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (length !== hvm_hw_cpu.size) {
    if (length === hvm_hw_cpu_compat.size) {
      const tsc = view.getBigUint64(hvm_hw_cpu_compat.offsets.tsc, true);
      const event = view.getUint32(hvm_hw_cpu_compat.offsets.pending_event, true);
      const code = view.getUint32(hvm_hw_cpu_compat.offsets.error_code, true);
      hvm_hw_cpu.write(view, 0, { msr_tsc_aux: 0n, tsc, pending_event: event, error_code: code });
    }
    hvm_hw_cpu.write(view, 0, { flags: XEN_X86_FPU_INITIALISED });
  }
  return hvm_hw_cpu.read(view, 0);
}

function loadFpu(cpu: Cpu, body: Uint8Array, c: HwCpu, wide: boolean): void {
  const at = hvm_hw_cpu.offsets.fpu_regs;
  let view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  // An image whose MXCSR sets reserved bits would fault in FXRSTOR; Xen's fixup then leaves
  // the FPU in its reset state, as when there is no image.
  if (!(c.flags & XEN_X86_FPU_INITIALISED) || view.getUint32(at + 24, true) & ~MXCSR_MASK) {
    const reset = new Uint8Array(512);
    view = new DataView(reset.buffer);
    view.setUint16(0, FCW_RESET, true);
    view.setUint32(24, MXCSR_DEFAULT, true);
    loadImage(cpu, view, 0, wide);
    return;
  }
  loadImage(cpu, view, at, wide);
}

/** Loads a checked record into the vCPU's Cpu, then brings the vCPU up as Xen does. */
function applyCpu(env: SaveEnv, vcpu: Vcpu, body: Uint8Array, c: HwCpu): void {
  const cpu = vcpu.cpu;
  const efer = Number(c.msr_efer);
  loadFpu(cpu, body, c, (efer & Efer.LMA) !== 0);
  for (const [name, n] of GPRS) [cpu.gpr[n * 2], cpu.gpr[n * 2 + 1]] = halvesOf(c[name]);
  [cpu.ripLo, cpu.ripHi] = halvesOf(c.rip);
  cpu.flags = (Number(c.rflags & 0xffffffffn) & RFLAGS_VALID) | Flag.Fixed;
  cpu.lazy[Lazy.Op] = LazyOp.Eager;
  cpu.cr0 = Number(c.cr0) | 0;
  [cpu.cr2Lo, cpu.cr2Hi] = halvesOf(c.cr2);
  [cpu.cr3Lo, cpu.cr3Hi] = halvesOf(c.cr3);
  cpu.cr4 = Number(c.cr4) | 0;
  cpu.efer = efer;
  for (const [name, seg] of SEGMENTS) {
    cpu.segSel[seg] = c[`${name}_sel`] & 0xffff;
    cpu.segLimit[seg] = c[`${name}_limit`] | 0;
    [cpu.segBaseLo[seg], cpu.segBaseHi[seg]] = halvesOf(c[`${name}_base`]);
    cpu.segAttr[seg] = vmxAttr(unfoldArbytes(c[`${name}_arbytes`]));
  }
  cpu.idtLimit = c.idtr_limit & 0xffff;
  [cpu.idtBaseLo, cpu.idtBaseHi] = halvesOf(c.idtr_base);
  cpu.gdtLimit = c.gdtr_limit & 0xffff;
  [cpu.gdtBaseLo, cpu.gdtBaseHi] = halvesOf(c.gdtr_base);
  for (const [name, index] of MSRS) cpu.msrs.set(index, halvesOf(c[name]));
  [c.dr0, c.dr1, c.dr2, c.dr3].forEach((value, n) => {
    [cpu.dr[n * 2], cpu.dr[n * 2 + 1]] = halvesOf(value);
  });
  cpu.dr[12] = Number(c.dr6 & 0xffffffffn) & DR6_WRITABLE;
  cpu.dr[13] = 0;
  cpu.dr[14] = Number(c.dr7 & 0xffffffffn) & DR7_WRITABLE;
  cpu.dr[15] = 0;
  // hvm_set_guest_tsc_fixed: the guest's TSC was `tsc` at the load's machine TSC.
  cpu.tscOffset = Number(c.tsc) - env.syncTsc;
  loadEvent(cpu, c);
  cpu.halted = false;
  cpu.interruptShadow = false;
  cpu.ioResult = undefined;
  cpu.updateMode();
  cpu.flushTlb();
  if (cpu.cr0 & Cr0.PG && cpu.cr4 & Cr4.PAE && !(cpu.efer & Efer.LMA)) {
    // PAE paging caches its four PDPTEs at the CR3 load; unreadable ones read as not present.
    try {
      loadPdptes(cpu);
    } catch {
      cpu.pdpte.fill(0);
    }
  }
  // "Auxiliary processors should be woken immediately": is_initialised, and _VPF_down clear.
  vcpu.initialised = true;
  vcpu.pollPorts = undefined;
  env.hv.setOnline(vcpu, true);
}

function loadCpu(env: SaveEnv, stream: SaveStream): LoadResult {
  const vcpu = recordVcpu(env.domain, stream);
  if (vcpu === undefined) return -XEN_EINVAL;
  const length = stream.declaredLength();
  const body = stream.take(HVM_SAVE_CODE.CPU, hvm_hw_cpu.size, false);
  if (body === undefined) return -XEN_EINVAL;
  const c = fixCompat(body, length);
  const rc = checkCpuRecord(vcpu.cpu, c);
  if (rc !== 0) return rc;
  return () => applyCpu(env, vcpu, body, c);
}

export const cpuHandler: HvmSaveHandler = {
  name: 'CPU',
  typecode: HVM_SAVE_CODE.CPU,
  perVcpu: true,
  size: hvm_save_descriptor.size + hvm_hw_cpu.size,
  save: saveCpu,
  load: loadCpu,
};
