/**
 * A virtual local APIC, one per vCPU: the xAPIC MMIO page and the x2APIC MSRs over one
 * register file, IA32_APIC_BASE with its mode rules, interrupt acceptance and priority
 * (IRR/ISR/TMR, TPR/PPR, EOI), IPIs, the LVT and the timer.
 *
 * The model follows the Intel SDM and Xen's xen/arch/x86/hvm/vlapic.c. It owns no vCPU and
 * reaches nothing ambient: time, the scheduler's timer, IPI delivery and the other APICs of
 * the domain come in through `VlapicOptions`.
 *
 * The owner's side of the interrupt protocol: when the vCPU can take an interrupt,
 * `highestPending()` gives the vector to inject (-1 for none) and `ackInterrupt(vector)`
 * moves it from IRR to ISR as the CPU takes it; the guest's EOI retires it. See inject.ts
 * for this done against the CPU.
 */

import { XEN_EINVAL } from '../../../../abi/errno.js';
import {
  APIC_DEFAULT_BASE,
  APIC_VERSION,
  ApicBase,
  ApicMsr,
  ApicReg,
  DeliveryMode,
  Dfr,
  Esr,
  Icr,
  Lvt,
  lvtWritableBits,
  lvtX2apicAllowedBits,
  Shorthand,
  Svr,
  x2apicLdr,
} from './regs.js';
import type { VlapicSnapshot } from './state.js';
import { ApicTimer, type TscClock } from './timer.js';

export type { VlapicSnapshot } from './state.js';
export type { TscClock } from './timer.js';

export interface VlapicOptions {
  /** The vCPU this APIC belongs to (the `target` of `deliverIpi` names vCPUs the same way). */
  vcpuId: number;
  /**
   * The APIC ID (default: the vCPU id, which the CPU's default CPUID leaf 1 reports; Xen
   * gives vCPU n the ID 2n — keep this and the CPUID policy in agreement).
   */
  apicId?: number;
  /** Guest time in nanoseconds. */
  now(): number;
  /** Arms (a deadline in guest ns) or disarms (undefined) the owner's timer for this APIC. */
  setTimer(deadlineNs: number | undefined): void;
  /**
   * Delivers an IPI this APIC sent: mode Fixed (also the one target chosen for a
   * lowest-priority IPI: call `acceptInterrupt(vector)` on it), Nmi, Init or StartUp
   * (`vector` is the SIPI vector). INIT de-asserts never reach it.
   */
  deliverIpi(target: number, vector: number, mode: DeliveryMode): void;
  /** Every APIC of the domain, this one included, for destination matching. */
  peers(): readonly Vlapic[];
  /** The guest TSC; without it TSC-deadline mode is not offered (bit 18 of LVTT is reserved). */
  tsc?: TscClock;
  /** Whether x2APIC mode can be entered (CPUID.1:ECX[21]); default true. */
  x2apic?: boolean;
  /** Nanoseconds per APIC bus cycle, the timer's base rate (default 10: 100 MHz, as Xen). */
  busCycleNs?: number;
  /** MAXPHYADDR, bounding IA32_APIC_BASE (default 40, as the CPU's CPUID reports). */
  physicalAddressBits?: number;
  /** Called when a vector newly becomes pending in IRR (wake the vCPU). */
  kick?(): void;
  /** Called on EOI of a level-triggered vector (the I/O APIC's remote IRR). */
  levelEoi?(vector: number): void;
  /** Whether the vCPU's vcpu_info has evtchn_upcall_pending set (checked on software enable). */
  upcallPending?(): boolean;
}

const LVT_REGS = [
  ApicReg.LVTT,
  ApicReg.LVTTHMR,
  ApicReg.LVTPC,
  ApicReg.LVT0,
  ApicReg.LVT1,
  ApicReg.LVTERR,
] as const;

/** x2APIC registers RDMSR may read (Xen's list, without CMCI: this APIC has six LVTs). */
const X2APIC_READABLE = new Set<number>([
  ApicReg.ID,
  ApicReg.LVR,
  ApicReg.TPR,
  ApicReg.PPR,
  ApicReg.LDR,
  ApicReg.SVR,
  ApicReg.ESR,
  ApicReg.ICR,
  ...LVT_REGS,
  ApicReg.TMICT,
  ApicReg.TMCCT,
  ApicReg.TDCR,
]);
for (let i = 0; i < 8; i++) {
  X2APIC_READABLE.add(ApicReg.ISR + i * 0x10);
  X2APIC_READABLE.add(ApicReg.TMR + i * 0x10);
  X2APIC_READABLE.add(ApicReg.IRR + i * 0x10);
}

/** Whether an MSR index is one a vlapic answers: IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC. */
export function isVlapicMsr(index: number): boolean {
  return (
    index === ApicMsr.APIC_BASE ||
    index === ApicMsr.TSC_DEADLINE ||
    (index >= ApicMsr.X2APIC_FIRST && index <= ApicMsr.X2APIC_LAST)
  );
}

function highestBit(words: Uint32Array, base: number): number {
  for (let w = 7; w >= 0; w--) {
    const word = words[base + w]!;
    if (word !== 0) return w * 32 + 31 - Math.clz32(word);
  }
  return -1;
}

const IRR = ApicReg.IRR >> 4;
const ISR = ApicReg.ISR >> 4;
const TMR = ApicReg.TMR >> 4;

export class Vlapic {
  readonly vcpuId: number;
  readonly apicId: number;
  readonly tscDeadlineSupported: boolean;
  readonly x2apicSupported: boolean;
  /** The register page: register at offset `o` is `regs[o >> 4]` (computed ones aside). */
  private readonly regs = new Uint32Array(64);
  private readonly timer: ApicTimer;
  private readonly options: VlapicOptions;
  private readonly baseHiMask: number;
  private apicBaseLo = 0;
  private apicBaseHi = 0;
  /** Errors detected since the last ESR write (they reach ESR on the next write). */
  private pendingEsr = 0;
  private lowestPriorityCursor = -1;
  /** HVMOP_set_evtchn_upcall_vector's vector for this vCPU (0: none). */
  private upcall = 0;

  constructor(options: VlapicOptions) {
    this.options = options;
    this.vcpuId = options.vcpuId;
    this.apicId = options.apicId ?? options.vcpuId;
    this.tscDeadlineSupported = options.tsc !== undefined;
    this.x2apicSupported = options.x2apic ?? true;
    const bits = options.physicalAddressBits ?? 40;
    this.baseHiMask = bits >= 64 ? 0xffffffff : bits <= 32 ? 0 : 2 ** (bits - 32) - 1;
    this.timer = new ApicTimer({
      now: options.now,
      setTimer: options.setTimer,
      tsc: options.tsc,
      busCycleNs: options.busCycleNs ?? 10,
    });
    this.reset();
  }

  // ---------------------------------------------------------------------------------------
  // State

  /** Power-on / RESET: enabled in xAPIC mode at the default base, registers at reset values. */
  reset(): void {
    this.apicBaseLo =
      (ApicBase.ENABLE | APIC_DEFAULT_BASE | (this.vcpuId === 0 ? ApicBase.BSP : 0)) >>> 0;
    this.apicBaseHi = 0;
    this.regs[ApicReg.ID >> 4] = ((this.apicId & 0xff) << 24) >>> 0;
    this.init();
  }

  /**
   * The INIT signal (an INIT IPI to this vCPU): registers back to their reset values, the
   * timer stopped; IA32_APIC_BASE and the ID stay, and so does the LDR in x2APIC mode.
   */
  init(): void {
    const r = this.regs;
    r[ApicReg.LVR >> 4] = APIC_VERSION;
    for (let i = 0; i < 8; i++) r[IRR + i] = r[ISR + i] = r[TMR + i] = 0;
    r[ApicReg.ICR >> 4] = 0;
    r[ApicReg.ICR2 >> 4] = 0;
    if (!this.x2apicMode) r[ApicReg.LDR >> 4] = 0;
    r[ApicReg.TPR >> 4] = 0;
    r[ApicReg.ESR >> 4] = 0;
    this.pendingEsr = 0;
    r[ApicReg.DFR >> 4] = Dfr.Flat;
    for (const reg of LVT_REGS) r[reg >> 4] = Lvt.Masked;
    r[ApicReg.SVR >> 4] = 0xff;
    this.timer.reset();
  }

  /** IA32_APIC_BASE.EN is clear: the APIC is as good as absent. */
  get hardwareDisabled(): boolean {
    return (this.apicBaseLo & ApicBase.ENABLE) === 0;
  }

  /** SVR's enable bit is clear. */
  get softwareDisabled(): boolean {
    return (this.regs[ApicReg.SVR >> 4]! & Svr.Enabled) === 0;
  }

  /** Enabled both ways: it accepts and delivers interrupts. */
  get enabled(): boolean {
    return !this.hardwareDisabled && !this.softwareDisabled;
  }

  /** In x2APIC mode (EXTD can only be set while enabled). */
  get x2apicMode(): boolean {
    return (this.apicBaseLo & ApicBase.EXTD) !== 0;
  }

  /** In xAPIC mode: the MMIO page is decoded. */
  get xapicMode(): boolean {
    return !this.hardwareDisabled && !this.x2apicMode;
  }

  /** The guest-physical address of the MMIO page (meaningful in xAPIC mode). */
  get mmioBase(): number {
    return this.apicBaseHi * 0x100000000 + ((this.apicBaseLo & ApicBase.AddressMaskLo) >>> 0);
  }

  /** Whether a guest-physical address falls in this APIC's MMIO page and the page is decoded. */
  claimsMmio(addressLo: number, addressHi = 0): boolean {
    return (
      this.xapicMode &&
      addressHi >>> 0 === this.apicBaseHi &&
      (addressLo & ApicBase.AddressMaskLo) >>> 0 ===
        (this.apicBaseLo & ApicBase.AddressMaskLo) >>> 0
    );
  }

  /** The destination ID the APIC answers to in its current mode (8 bits in xAPIC mode). */
  get destinationId(): number {
    const id = this.regs[ApicReg.ID >> 4]!;
    return this.x2apicMode ? id : id >>> 24;
  }

  get tpr(): number {
    return this.regs[ApicReg.TPR >> 4]!;
  }

  /** Sets TPR (MOV to CR8 sets TPR[7:4] from CR8[3:0]). */
  setTpr(value: number): void {
    this.regs[ApicReg.TPR >> 4] = value & 0xff;
  }

  /** The processor priority: TPR, or the class of the highest in-service vector if higher. */
  get ppr(): number {
    const tpr = this.regs[ApicReg.TPR >> 4]!;
    const isr = highestBit(this.regs, ISR);
    const isrv = isr < 0 ? 0 : isr;
    return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr & 0xff : isrv & 0xf0;
  }

  /** The spurious-interrupt vector (SVR[7:0]). */
  get spuriousVector(): number {
    return this.regs[ApicReg.SVR >> 4]! & Svr.VectorMask;
  }

  /** The guest-ns deadline the APIC's timer is armed for, if any. */
  get timerDeadline(): number | undefined {
    return this.timer.armedDeadline;
  }

  /** Reads a register as the xAPIC page shows it (offset 16-byte aligned, below 0x400). */
  register(offset: number): number {
    return this.readRegister(offset & 0x3f0);
  }

  isPending(vector: number): boolean {
    return this.testBit(IRR, vector);
  }

  isInService(vector: number): boolean {
    return this.testBit(ISR, vector);
  }

  // ---------------------------------------------------------------------------------------
  // IA32_APIC_BASE

  readApicBase(): [number, number] {
    return [this.apicBaseLo, this.apicBaseHi];
  }

  /**
   * WRMSR IA32_APIC_BASE; false means #GP: reserved bits, EXTD without x2APIC support, an
   * illegal transition (disabled → x2APIC, x2APIC → xAPIC, EN=0 with EXTD=1), or moving the
   * xAPIC page away from 0xFEE00000 (Xen does not support relocation). Enabling resets the
   * APIC; disabling stops it; entering x2APIC mode sets the x2APIC ID and LDR.
   */
  writeApicBase(lo: number, hi: number): boolean {
    lo >>>= 0;
    hi >>>= 0;
    const allowedLo =
      ApicBase.AddressMaskLo |
      ApicBase.ENABLE |
      ApicBase.BSP |
      (this.x2apicSupported ? ApicBase.EXTD : 0);
    if ((lo & ~allowedLo) !== 0 || (hi & ~this.baseHiMask) !== 0) return false;
    const mode = lo & (ApicBase.ENABLE | ApicBase.EXTD);
    if (
      mode === ApicBase.ENABLE &&
      ((lo & ApicBase.AddressMaskLo) >>> 0 !== APIC_DEFAULT_BASE || hi !== 0)
    ) {
      return false;
    }
    const changed = (this.apicBaseLo ^ lo) >>> 0;
    if (changed & ApicBase.ENABLE) {
      if (lo & ApicBase.EXTD) return false;
      // Enabling starts from the reset state; disabling loses the state, as hardware may.
      this.reset();
    } else if (changed & ApicBase.EXTD && !this.xapicMode) {
      return false; // x2APIC → xAPIC, or EXTD while disabled
    }
    this.apicBaseLo = lo;
    this.apicBaseHi = hi;
    if (this.x2apicMode && changed & ApicBase.EXTD) {
      this.regs[ApicReg.ID >> 4] = this.apicId >>> 0;
      this.regs[ApicReg.LDR >> 4] = x2apicLdr(this.apicId);
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // xAPIC MMIO

  /**
   * A read of `size` bytes at `offset` in the MMIO page. As on Xen, any access that fits in
   * one 32-bit register is allowed; others read 0, as does everything when the page is not
   * decoded (route only addresses `claimsMmio` accepts).
   */
  mmioRead(offset: number, size: number): number {
    const alignment = offset & 0xf;
    if (!this.xapicMode || alignment + size > 4 || offset > ApicReg.TDCR + 3 || offset < 0) {
      return 0;
    }
    const value = this.readRegister(offset & 0xff0);
    const shifted = value >>> (alignment * 8);
    return size >= 4 ? shifted >>> 0 : shifted & ((1 << (size * 8)) - 1);
  }

  /** A write of `size` bytes at `offset`; narrower writes merge into the register. */
  mmioWrite(offset: number, size: number, value: number): void {
    const alignment = offset & 0xf;
    const reg = offset & 0xff0;
    if (!this.xapicMode || alignment + size > 4 || reg > ApicReg.TDCR || offset < 0) return;
    let full = value >>> 0;
    if (size < 4) {
      const shift = alignment * 8;
      const mask = ((1 << (size * 8)) - 1) << shift;
      full = ((this.readRegister(reg) & ~mask) | ((value << shift) & mask)) >>> 0;
    }
    this.writeRegister(reg, full);
  }

  // ---------------------------------------------------------------------------------------
  // MSRs

  /** RDMSR of a vlapic MSR: [lo, hi], or undefined for #GP. */
  msrRead(index: number): [number, number] | undefined {
    if (index === ApicMsr.APIC_BASE) return this.readApicBase();
    if (index === ApicMsr.TSC_DEADLINE) {
      if (!this.tscDeadlineSupported) return undefined;
      return this.timer.readTscDeadline(this.regs[ApicReg.LVTT >> 4]!);
    }
    if (index < ApicMsr.X2APIC_FIRST || index > ApicMsr.X2APIC_LAST || !this.x2apicMode) {
      return undefined;
    }
    const reg = (index - ApicMsr.X2APIC_FIRST) << 4;
    if (!X2APIC_READABLE.has(reg)) return undefined;
    const hi = reg === ApicReg.ICR ? this.regs[ApicReg.ICR2 >> 4]! : 0;
    return [this.readRegister(reg), hi];
  }

  /** WRMSR of a vlapic MSR; false for #GP (x2APIC rules: reserved bits set, read-only registers). */
  msrWrite(index: number, lo: number, hi: number): boolean {
    lo >>>= 0;
    hi >>>= 0;
    if (index === ApicMsr.APIC_BASE) return this.writeApicBase(lo, hi);
    if (index === ApicMsr.TSC_DEADLINE) {
      if (!this.tscDeadlineSupported) return false;
      if (!this.hardwareDisabled) {
        this.timer.writeTscDeadline(this.regs[ApicReg.LVTT >> 4]!, lo, hi);
      }
      return true;
    }
    if (index < ApicMsr.X2APIC_FIRST || index > ApicMsr.X2APIC_LAST || !this.x2apicMode) {
      return false;
    }
    const reg = (index - ApicMsr.X2APIC_FIRST) << 4;
    if (reg === ApicReg.ICR) {
      if ((lo & ~Icr.Valid) !== 0) return false;
      this.regs[ApicReg.ICR2 >> 4] = hi;
      this.writeRegister(ApicReg.ICR, lo);
      return true;
    }
    if (hi !== 0) return false;
    let allowed: number;
    switch (reg) {
      case ApicReg.TPR:
        allowed = 0xff;
        break;
      case ApicReg.SVR:
        allowed = Svr.Writable;
        break;
      case ApicReg.LVTT:
      case ApicReg.LVTTHMR:
      case ApicReg.LVTPC:
      case ApicReg.LVT0:
      case ApicReg.LVT1:
      case ApicReg.LVTERR:
        allowed = lvtX2apicAllowedBits(reg, this.tscDeadlineSupported);
        break;
      case ApicReg.TMICT:
        allowed = 0xffffffff;
        break;
      case ApicReg.TDCR:
        allowed = 0xb;
        break;
      case ApicReg.SELF_IPI:
        if ((lo & ~0xff) !== 0) return false;
        this.sendIpi((Shorthand.Self << Icr.ShorthandShift) | lo, 0);
        return true;
      case ApicReg.EOI:
      case ApicReg.ESR:
        allowed = 0;
        break;
      default:
        return false; // read-only, reserved, or xAPIC-only (DFR, ICR2, APR, RRD)
    }
    if ((lo & ~allowed) !== 0) return false;
    this.writeRegister(reg, lo);
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Interrupts in

  /**
   * A fixed (or lowest-priority) interrupt arrives from an IPI, the I/O APIC or an MSI: it
   * is dropped while the APIC is disabled; a vector below 16 is a receive-illegal-vector
   * error. `level` sets its TMR bit, so its EOI reaches `levelEoi`.
   */
  acceptInterrupt(vector: number, level = false): boolean {
    if (!this.enabled) return false;
    return this.setIrq(vector & 0xff, level);
  }

  /**
   * Raises the event-channel upcall vector (HVMOP_set_evtchn_upcall_vector), an edge
   * interrupt like any other while the APIC is enabled.
   */
  raiseVector(vector: number): boolean {
    if (!this.enabled) return false;
    return this.setIrq(vector & 0xff, false);
  }

  /** The event-channel upcall vector of this vCPU (0 when none is set). */
  get upcallVector(): number {
    return this.upcall;
  }

  /**
   * HVMOP_set_evtchn_upcall_vector for this vCPU: vectors below 16 are -EINVAL. As Xen does,
   * the vector is raised once straight away (the guest scans its pending events).
   */
  setUpcallVector(vector: number): number {
    if (!Number.isInteger(vector) || vector < 0x10 || vector > 0xff) return -XEN_EINVAL;
    this.upcall = vector;
    this.assertUpcall();
    return 0;
  }

  /** An event is pending for this vCPU: raise the upcall vector; false if none is set. */
  assertUpcall(): boolean {
    if (this.upcall === 0) return false;
    this.raiseVector(this.upcall);
    return true;
  }

  /**
   * LINT0/LINT1 is asserted (by the PIC or the platform's NMI line). Per its LVT entry:
   * masked does nothing, Fixed sets the vector (level-triggered per the trigger bit), NMI is
   * delivered to this vCPU; returns true for ExtINT (the caller takes the vector from the PIC).
   */
  assertLint(pin: 0 | 1): boolean {
    const lvt = this.regs[(pin === 0 ? ApicReg.LVT0 : ApicReg.LVT1) >> 4]!;
    if (this.hardwareDisabled || lvt & Lvt.Masked) return false;
    switch ((lvt & Lvt.DeliveryModeMask) >> Lvt.DeliveryModeShift) {
      case DeliveryMode.Fixed:
        this.setIrq(lvt & Lvt.VectorMask, (lvt & Lvt.LevelTrigger) !== 0);
        return false;
      case DeliveryMode.Nmi:
        this.options.deliverIpi(this.vcpuId, 0, DeliveryMode.Nmi);
        return false;
      case DeliveryMode.ExtInt:
        return true;
      default:
        return false;
    }
  }

  /** Whether 8259 PIC interrupts reach this vCPU: LINT0 unmasked as ExtINT, or no APIC. */
  acceptsPicInterrupts(): boolean {
    const lvt0 = this.regs[ApicReg.LVT0 >> 4]!;
    return (
      this.hardwareDisabled ||
      (lvt0 & (Lvt.Masked | Lvt.DeliveryModeMask)) === DeliveryMode.ExtInt << Lvt.DeliveryModeShift
    );
  }

  // ---------------------------------------------------------------------------------------
  // Interrupts out to the CPU

  /**
   * The vector to inject now: the highest in IRR if its priority class is above PPR's,
   * else -1 (also while the APIC is disabled).
   */
  highestPending(): number {
    if (!this.enabled) return -1;
    const irr = highestBit(this.regs, IRR);
    if (irr < 0 || (irr & 0xf0) <= (this.ppr & 0xf0)) return -1;
    return irr;
  }

  /**
   * The CPU takes `vector`: it moves from IRR to ISR and is returned. If it is no longer
   * deliverable (not requested, masked by a raised TPR, APIC disabled) the CPU gets the
   * spurious vector instead, which needs no EOI.
   */
  ackInterrupt(vector: number): number {
    vector &= 0xff;
    if (!this.enabled || !this.testBit(IRR, vector) || (vector & 0xf0) <= (this.ppr & 0xf0)) {
      return this.spuriousVector;
    }
    this.clearBit(IRR, vector);
    this.setBit(ISR, vector);
    return vector;
  }

  /** End of interrupt: the highest in-service vector retires. */
  eoi(): void {
    const vector = highestBit(this.regs, ISR);
    if (vector < 0) return;
    this.clearBit(ISR, vector);
    if (this.testBit(TMR, vector)) this.options.levelEoi?.(vector);
  }

  // ---------------------------------------------------------------------------------------
  // Timer

  /**
   * The owner's timer for this APIC expired: an expired APIC timer raises its LVT vector
   * unless masked. Returns whether a vector was raised. Calls before the deadline re-arm.
   */
  fireTimer(): boolean {
    const lvtt = this.regs[ApicReg.LVTT >> 4]!;
    if (!this.timer.fire(lvtt) || lvtt & Lvt.Masked || this.hardwareDisabled) return false;
    return this.setIrq(lvtt & Lvt.VectorMask, false);
  }

  // ---------------------------------------------------------------------------------------
  // Snapshots

  save(): VlapicSnapshot {
    const r = this.regs;
    const words = (base: number): number[] => Array.from(r.subarray(base, base + 8));
    return {
      version: 1,
      apicBaseLo: this.apicBaseLo,
      apicBaseHi: this.apicBaseHi,
      id: r[ApicReg.ID >> 4]!,
      tpr: r[ApicReg.TPR >> 4]!,
      ldr: r[ApicReg.LDR >> 4]!,
      dfr: r[ApicReg.DFR >> 4]!,
      svr: r[ApicReg.SVR >> 4]!,
      esr: r[ApicReg.ESR >> 4]!,
      pendingEsr: this.pendingEsr,
      icrLo: r[ApicReg.ICR >> 4]!,
      icrHi: r[ApicReg.ICR2 >> 4]!,
      lvt: {
        timer: r[ApicReg.LVTT >> 4]!,
        thermal: r[ApicReg.LVTTHMR >> 4]!,
        perf: r[ApicReg.LVTPC >> 4]!,
        lint0: r[ApicReg.LVT0 >> 4]!,
        lint1: r[ApicReg.LVT1 >> 4]!,
        error: r[ApicReg.LVTERR >> 4]!,
      },
      irr: words(IRR),
      isr: words(ISR),
      tmr: words(TMR),
      timer: this.timer.save(),
      upcallVector: this.upcall,
    };
  }

  /** Loads a snapshot taken by `save` (the timer re-arms through `setTimer`). */
  restore(s: VlapicSnapshot): void {
    if (s.version !== 1) throw new RangeError(`unknown vlapic snapshot version ${s.version}`);
    const r = this.regs;
    r.fill(0);
    this.apicBaseLo = s.apicBaseLo >>> 0;
    this.apicBaseHi = s.apicBaseHi >>> 0;
    r[ApicReg.ID >> 4] = s.id;
    r[ApicReg.LVR >> 4] = APIC_VERSION;
    r[ApicReg.TPR >> 4] = s.tpr & 0xff;
    r[ApicReg.LDR >> 4] = s.ldr;
    r[ApicReg.DFR >> 4] = s.dfr;
    r[ApicReg.SVR >> 4] = s.svr & Svr.Writable;
    r[ApicReg.ESR >> 4] = s.esr;
    this.pendingEsr = s.pendingEsr;
    r[ApicReg.ICR >> 4] = s.icrLo & Icr.Valid;
    r[ApicReg.ICR2 >> 4] = s.icrHi;
    r[ApicReg.LVTT >> 4] = s.lvt.timer;
    r[ApicReg.LVTTHMR >> 4] = s.lvt.thermal;
    r[ApicReg.LVTPC >> 4] = s.lvt.perf;
    r[ApicReg.LVT0 >> 4] = s.lvt.lint0;
    r[ApicReg.LVT1 >> 4] = s.lvt.lint1;
    r[ApicReg.LVTERR >> 4] = s.lvt.error;
    for (let i = 0; i < 8; i++) {
      r[IRR + i] = s.irr[i] ?? 0;
      r[ISR + i] = s.isr[i] ?? 0;
      r[TMR + i] = s.tmr[i] ?? 0;
    }
    this.upcall = s.upcallVector;
    this.timer.restore(s.timer);
  }

  // ---------------------------------------------------------------------------------------
  // Register file

  /** A register's value as a read returns it, for both xAPIC and x2APIC (offset aligned). */
  private readRegister(reg: number): number {
    const lvtt = this.regs[ApicReg.LVTT >> 4]!;
    switch (reg) {
      case ApicReg.PPR:
        return this.ppr;
      case ApicReg.TMICT:
        return this.timer.initialCountFor(lvtt);
      case ApicReg.TMCCT:
        return this.timer.currentCount(lvtt);
      case ApicReg.TDCR:
        return this.timer.divide;
      case ApicReg.ID:
      case ApicReg.LVR:
      case ApicReg.TPR:
      case ApicReg.LDR:
      case ApicReg.DFR:
      case ApicReg.SVR:
      case ApicReg.ESR:
      case ApicReg.ICR:
      case ApicReg.ICR2:
      case ApicReg.LVTT:
      case ApicReg.LVTTHMR:
      case ApicReg.LVTPC:
      case ApicReg.LVT0:
      case ApicReg.LVT1:
      case ApicReg.LVTERR:
        return this.regs[reg >> 4]!;
      default:
        if (reg >= ApicReg.ISR && reg < ApicReg.ESR) return this.regs[reg >> 4]!;
        return 0; // APR, EOI, RRD, CMCI and reserved offsets read as 0
    }
  }

  /** A register write after the access rules of its interface were checked. */
  private writeRegister(reg: number, value: number): void {
    const r = this.regs;
    switch (reg) {
      case ApicReg.ID:
        r[reg >> 4] = (value & 0xff000000) >>> 0;
        break;
      case ApicReg.TPR:
        r[reg >> 4] = value & 0xff;
        break;
      case ApicReg.EOI:
        this.eoi();
        break;
      case ApicReg.LDR:
        r[reg >> 4] = (value & 0xff000000) >>> 0;
        break;
      case ApicReg.DFR:
        r[reg >> 4] = (value | 0x0fffffff) >>> 0;
        break;
      case ApicReg.SVR:
        this.writeSvr(value);
        break;
      case ApicReg.ESR:
        r[reg >> 4] = this.pendingEsr;
        this.pendingEsr = 0;
        break;
      case ApicReg.ICR: {
        const icr = value & Icr.Valid; // the delivery status bit always reads 0
        r[reg >> 4] = icr;
        this.sendIpi(icr, r[ApicReg.ICR2 >> 4]!);
        break;
      }
      case ApicReg.ICR2:
        r[reg >> 4] = (value & 0xff000000) >>> 0;
        break;
      case ApicReg.LVTT:
      case ApicReg.LVTTHMR:
      case ApicReg.LVTPC:
      case ApicReg.LVT0:
      case ApicReg.LVT1:
      case ApicReg.LVTERR: {
        let lvt = value & lvtWritableBits(reg, this.tscDeadlineSupported);
        if (this.softwareDisabled) lvt |= Lvt.Masked;
        if (reg === ApicReg.LVTT) this.timer.writeLvt(r[reg >> 4]!, lvt);
        r[reg >> 4] = lvt >>> 0;
        break;
      }
      case ApicReg.TMICT:
        this.timer.writeInitialCount(r[ApicReg.LVTT >> 4]!, value);
        break;
      case ApicReg.TDCR:
        this.timer.writeDivideConfig(r[ApicReg.LVTT >> 4]!, value);
        break;
      default:
        break; // read-only and reserved registers ignore xAPIC writes
    }
  }

  private writeSvr(value: number): void {
    this.regs[ApicReg.SVR >> 4] = value & Svr.Writable;
    if (!(value & Svr.Enabled)) {
      for (const reg of LVT_REGS) this.regs[reg >> 4] = (this.regs[reg >> 4]! | Lvt.Masked) >>> 0;
    } else if (this.upcall !== 0 && this.options.upcallPending?.()) {
      this.setIrq(this.upcall, false);
    }
  }

  // ---------------------------------------------------------------------------------------
  // IPIs

  private sendIpi(icrLo: number, icrHi: number): void {
    const shorthand = (icrLo & Icr.ShorthandMask) >>> Icr.ShorthandShift;
    const logical = (icrLo & Icr.DestLogical) !== 0;
    const mode = (icrLo & Icr.DeliveryModeMask) >>> Icr.DeliveryModeShift;
    const vector = icrLo & Icr.VectorMask;
    const dest = this.x2apicMode ? icrHi >>> 0 : icrHi >>> 24;
    const deliver = this.options.deliverIpi;
    switch (mode) {
      case DeliveryMode.Init:
        // INIT level de-assert (level-triggered, not asserted) is a no-op on modern APICs.
        if ((icrLo & (Icr.LevelTrigger | Icr.Assert)) === Icr.LevelTrigger) return;
        for (const t of this.targets(shorthand, dest, logical)) deliver(t.vcpuId, vector, mode);
        return;
      case DeliveryMode.StartUp:
      case DeliveryMode.Nmi:
        for (const t of this.targets(shorthand, dest, logical)) deliver(t.vcpuId, vector, mode);
        return;
      case DeliveryMode.Fixed:
        if (vector < 16) {
          this.error(Esr.SendIllegalVector);
          return;
        }
        for (const t of this.targets(shorthand, dest, logical)) {
          deliver(t.vcpuId, vector, DeliveryMode.Fixed);
        }
        return;
      case DeliveryMode.LowestPriority: {
        if (vector < 16) {
          this.error(Esr.SendIllegalVector);
          return;
        }
        const target = this.lowestPriority(this.targets(shorthand, dest, logical));
        if (target !== undefined) deliver(target.vcpuId, vector, DeliveryMode.Fixed);
        return;
      }
      default:
        return; // SMI, remote read and ExtINT IPIs are ignored (as Xen does)
    }
  }

  /** The APICs an IPI reaches (hardware-disabled APICs take none). */
  private targets(shorthand: number, dest: number, logical: boolean): Vlapic[] {
    const out: Vlapic[] = [];
    for (const target of this.options.peers()) {
      if (target.hardwareDisabled) continue;
      let match: boolean;
      switch (shorthand) {
        case Shorthand.Self:
          match = target === this;
          break;
        case Shorthand.AllIncludingSelf:
          match = true;
          break;
        case Shorthand.AllExcludingSelf:
          match = target !== this;
          break;
        default:
          match = logical
            ? target.matchesLogical(dest)
            : dest === (target.x2apicMode ? 0xffffffff : 0xff) || dest === target.destinationId;
      }
      if (match) out.push(target);
    }
    return out;
  }

  /** Whether a logical destination (message destination address) selects this APIC. */
  matchesLogical(mda: number): boolean {
    const ldr = this.regs[ApicReg.LDR >> 4]!;
    if (this.x2apicMode) {
      // All ones is a broadcast in logical mode too (SDM "ICR operation in x2APIC mode").
      if (mda >>> 0 === 0xffffffff) return true;
      return ldr >>> 16 === mda >>> 16 && (ldr & mda & 0xffff) !== 0;
    }
    const id = ldr >>> 24;
    const m = mda & 0xff;
    switch (this.regs[ApicReg.DFR >> 4]) {
      case Dfr.Flat:
        return (id & m) !== 0;
      case Dfr.Cluster:
        return id >>> 4 === m >>> 4 && (id & m & 0xf) !== 0;
      default:
        return false;
    }
  }

  /** The enabled target with the lowest PPR, ties going round-robin. */
  private lowestPriority(candidates: Vlapic[]): Vlapic | undefined {
    let best: Vlapic | undefined;
    let bestPpr = 0x100;
    const n = candidates.length;
    const start = n === 0 ? 0 : (this.lowestPriorityCursor + 1) % n;
    for (let i = 0; i < n; i++) {
      const index = (start + i) % n;
      const candidate = candidates[index]!;
      if (!candidate.enabled) continue;
      const ppr = candidate.ppr;
      if (ppr < bestPpr) {
        best = candidate;
        bestPpr = ppr;
        this.lowestPriorityCursor = index;
      }
    }
    return best;
  }

  // ---------------------------------------------------------------------------------------
  // IRR/ISR/TMR and errors

  /** Sets a vector in IRR (and its trigger mode in TMR), or records an illegal vector. */
  private setIrq(vector: number, level: boolean): boolean {
    if (vector < 16) {
      this.error(Esr.ReceiveIllegalVector);
      return false;
    }
    if (level) this.setBit(TMR, vector);
    else this.clearBit(TMR, vector);
    if (!this.testBit(IRR, vector)) {
      this.setBit(IRR, vector);
      this.options.kick?.();
    }
    return true;
  }

  /**
   * Records an error for the next ESR write and, the first time it is seen, raises the LVT
   * error vector if unmasked (an illegal LVT error vector folds into receive-illegal-vector
   * instead of recursing).
   */
  private error(bit: number): void {
    if (this.pendingEsr & bit) return;
    this.pendingEsr |= bit;
    const lvterr = this.regs[ApicReg.LVTERR >> 4]!;
    if (lvterr & Lvt.Masked) return;
    const vector = lvterr & Lvt.VectorMask;
    if (vector < 16) this.pendingEsr |= Esr.ReceiveIllegalVector;
    else this.setIrq(vector, false);
  }

  private testBit(base: number, vector: number): boolean {
    return ((this.regs[base + (vector >>> 5)]! >>> (vector & 31)) & 1) !== 0;
  }

  private setBit(base: number, vector: number): void {
    const i = base + (vector >>> 5);
    this.regs[i] = (this.regs[i]! | (1 << (vector & 31))) >>> 0;
  }

  private clearBit(base: number, vector: number): void {
    const i = base + (vector >>> 5);
    this.regs[i] = (this.regs[i]! & ~(1 << (vector & 31))) >>> 0;
  }
}
