/**
 * The local APIC's save records: LAPIC (struct hvm_hw_lapic: IA32_APIC_BASE, the disabled
 * flags, the timer divisor, IA32_TSC_DEADLINE) and LAPIC_REGS (the 1 KiB register page), as
 * Xen's lapic_{save,load}_{hidden,regs} move them, through our Vlapic's snapshots.
 *
 * Differences from Xen: the disabled flags and the timer divisor are derived from
 * IA32_APIC_BASE, SVR and TDCR here, so the loaded ones are not kept; TMCCT is saved as 0, as
 * Xen's page holds it (reads compute it); the x2APIC LDR fixups for records of Xen 4.4 and
 * older (lapic_load_fixup) are not made; and the per-vCPU event-channel upcall vector, which
 * Xen does not save either, stays as it is. As lapic_rearm does, loading the registers
 * restarts a counting timer for a whole period from now, and re-arms a TSC deadline.
 */
import { XEN_EINVAL, XEN_ENODEV } from '../../../../abi/errno.js';
import {
  HVM_SAVE_CODE,
  hvm_hw_lapic,
  hvm_hw_lapic_regs,
  hvm_save_descriptor,
} from '../../../../abi/hvm-save.js';
import type { Vcpu } from '../../../common/domain.js';
import {
  APIC_VERSION,
  ApicBase,
  ApicMsr,
  ApicReg,
  Lvt,
  timerDivisor,
  type Vlapic,
  type VlapicSnapshot,
} from '../vlapic/index.js';
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

/** Xen's hvm_hw_lapic.disabled bits. */
const VLAPIC_HW_DISABLED = 0x1;
const VLAPIC_SW_DISABLED = 0x2;

const LVTS = [
  ['timer', ApicReg.LVTT],
  ['thermal', ApicReg.LVTTHMR],
  ['perf', ApicReg.LVTPC],
  ['lint0', ApicReg.LVT0],
  ['lint1', ApicReg.LVT1],
  ['error', ApicReg.LVTERR],
] as const;

function saveHidden(env: SaveEnv, vcpu: Vcpu, out: RecordWriter): number {
  if (!env.vlapic) return 0;
  const vlapic = vcpu.vlapic;
  const s = vlapic.save();
  const disabled =
    (vlapic.hardwareDisabled ? VLAPIC_HW_DISABLED : 0) |
    (vlapic.softwareDisabled ? VLAPIC_SW_DISABLED : 0);
  const body = hvm_hw_lapic.encode({
    apic_base_msr: u64Of(s.apicBaseLo, s.apicBaseHi),
    disabled,
    timer_divisor: timerDivisor(s.timer.divideConfig),
    tdt_msr: u64Of(s.timer.tscDeadlineLo, s.timer.tscDeadlineHi),
  });
  out.add(HVM_SAVE_CODE.LAPIC, vcpu.id, body);
  return 0;
}

function saveRegs(env: SaveEnv, vcpu: Vcpu, out: RecordWriter): number {
  if (!env.vlapic) return 0;
  const vlapic = vcpu.vlapic;
  const s = vlapic.save();
  const body = new Uint8Array(hvm_hw_lapic_regs.size);
  const view = new DataView(body.buffer);
  const set = (reg: number, value: number) => view.setUint32(reg, value >>> 0, true);
  set(ApicReg.ID, s.id);
  set(ApicReg.LVR, APIC_VERSION);
  set(ApicReg.TPR, s.tpr);
  set(ApicReg.PPR, vlapic.ppr);
  set(ApicReg.LDR, s.ldr);
  set(ApicReg.DFR, s.dfr);
  set(ApicReg.SVR, s.svr);
  for (let i = 0; i < 8; i++) {
    set(ApicReg.ISR + i * 16, s.isr[i] ?? 0);
    set(ApicReg.TMR + i * 16, s.tmr[i] ?? 0);
    set(ApicReg.IRR + i * 16, s.irr[i] ?? 0);
  }
  set(ApicReg.ESR, s.esr);
  set(ApicReg.ICR, s.icrLo);
  set(ApicReg.ICR2, s.icrHi);
  for (const [name, reg] of LVTS) set(reg, s.lvt[name]);
  set(ApicReg.TMICT, s.timer.initialCount);
  set(ApicReg.TDCR, s.timer.divideConfig);
  out.add(HVM_SAVE_CODE.LAPIC_REGS, vcpu.id, body);
  return 0;
}

function loadHidden(env: SaveEnv, stream: SaveStream): LoadResult {
  if (!env.vlapic) return -XEN_ENODEV;
  const vcpu = recordVcpu(env.domain, stream);
  if (vcpu === undefined) return -XEN_EINVAL;
  const body = stream.take(HVM_SAVE_CODE.LAPIC, hvm_hw_lapic.size, false);
  if (body === undefined) return -XEN_EINVAL;
  const hw = hvm_hw_lapic.decode(body);
  const [baseLo, baseHi] = halvesOf(hw.apic_base_msr);
  // x2APIC mode without the APIC enabled is no state an APIC can be in.
  if (!(baseLo & ApicBase.ENABLE) && baseLo & ApicBase.EXTD) return -XEN_EINVAL;
  const [tdtLo, tdtHi] = halvesOf(hw.tdt_msr);
  return () => {
    const s = vcpu.vlapic.save();
    s.apicBaseLo = baseLo >>> 0;
    s.apicBaseHi = baseHi >>> 0;
    // Kept for the register page's load to re-arm a TSC-deadline timer with.
    s.timer.tscDeadlineLo = tdtLo >>> 0;
    s.timer.tscDeadlineHi = tdtHi >>> 0;
    vcpu.vlapic.restore(s);
  };
}

/** lapic_rearm: a counting timer starts a whole period now; a TSC deadline is set again. */
function rearm(vlapic: Vlapic, tmict: number, tdtLo: number, tdtHi: number): void {
  const lvtt = vlapic.register(ApicReg.LVTT);
  if ((lvtt & Lvt.TimerModeMask) === Lvt.TimerTscDeadline) {
    if (tdtLo !== 0 || tdtHi !== 0) vlapic.msrWrite(ApicMsr.TSC_DEADLINE, tdtLo, tdtHi);
  } else if (tmict !== 0) {
    // A TMICT write through the interface the APIC's mode decodes; a disabled APIC's timer
    // could raise nothing.
    if (vlapic.xapicMode) vlapic.mmioWrite(ApicReg.TMICT, 4, tmict);
    else if (vlapic.x2apicMode)
      vlapic.msrWrite(ApicMsr.X2APIC_FIRST + (ApicReg.TMICT >> 4), tmict, 0);
  }
}

function applyRegs(vlapic: Vlapic, page: DataView): void {
  const reg = (offset: number): number => page.getUint32(offset, true);
  const s: VlapicSnapshot = vlapic.save();
  const tdtLo = s.timer.tscDeadlineLo;
  const tdtHi = s.timer.tscDeadlineHi;
  const words = (base: number): number[] => Array.from({ length: 8 }, (_, i) => reg(base + i * 16));
  vlapic.restore({
    ...s,
    id: reg(ApicReg.ID),
    tpr: reg(ApicReg.TPR),
    ldr: reg(ApicReg.LDR),
    dfr: reg(ApicReg.DFR),
    svr: reg(ApicReg.SVR),
    esr: reg(ApicReg.ESR),
    pendingEsr: 0,
    icrLo: reg(ApicReg.ICR),
    icrHi: reg(ApicReg.ICR2),
    lvt: {
      timer: reg(ApicReg.LVTT),
      thermal: reg(ApicReg.LVTTHMR),
      perf: reg(ApicReg.LVTPC),
      lint0: reg(ApicReg.LVT0),
      lint1: reg(ApicReg.LVT1),
      error: reg(ApicReg.LVTERR),
    },
    irr: words(ApicReg.IRR),
    isr: words(ApicReg.ISR),
    tmr: words(ApicReg.TMR),
    timer: {
      initialCount: 0,
      divideConfig: reg(ApicReg.TDCR),
      start: null,
      deadline: null,
      tscDeadlineLo: 0,
      tscDeadlineHi: 0,
    },
  });
  rearm(vlapic, reg(ApicReg.TMICT), tdtLo, tdtHi);
}

function loadRegs(env: SaveEnv, stream: SaveStream): LoadResult {
  if (!env.vlapic) return -XEN_ENODEV;
  const vcpu = recordVcpu(env.domain, stream);
  if (vcpu === undefined) return -XEN_EINVAL;
  const body = stream.take(HVM_SAVE_CODE.LAPIC_REGS, hvm_hw_lapic_regs.size, true);
  if (body === undefined) return -XEN_EINVAL;
  return () => applyRegs(vcpu.vlapic, new DataView(body.buffer));
}

const DESC = hvm_save_descriptor.size;

export const lapicHandler: HvmSaveHandler = {
  name: 'LAPIC',
  typecode: HVM_SAVE_CODE.LAPIC,
  perVcpu: true,
  size: DESC + hvm_hw_lapic.size,
  save: saveHidden,
  load: loadHidden,
};

export const lapicRegsHandler: HvmSaveHandler = {
  name: 'LAPIC_REGS',
  typecode: HVM_SAVE_CODE.LAPIC_REGS,
  perVcpu: true,
  size: DESC + hvm_hw_lapic_regs.size,
  save: saveRegs,
  load: loadRegs,
};
