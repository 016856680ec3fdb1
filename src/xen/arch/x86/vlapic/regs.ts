/**
 * Local APIC architecture: register offsets in the xAPIC page (the x2APIC MSR of a register
 * is 0x800 + offset / 16), register bits, and the MSRs (Intel SDM vol. 3, chapter "Advanced
 * Programmable Interrupt Controller").
 */

/** Register offsets in the 4 KiB xAPIC page. */
export const enum ApicReg {
  ID = 0x20,
  LVR = 0x30,
  TPR = 0x80,
  APR = 0x90,
  PPR = 0xa0,
  EOI = 0xb0,
  RRD = 0xc0,
  LDR = 0xd0,
  DFR = 0xe0,
  SVR = 0xf0,
  /** In-service register, 8 × 32 bits at 0x100-0x170. */
  ISR = 0x100,
  /** Trigger-mode register, 0x180-0x1f0. */
  TMR = 0x180,
  /** Interrupt-request register, 0x200-0x270. */
  IRR = 0x200,
  ESR = 0x280,
  CMCI = 0x2f0,
  ICR = 0x300,
  ICR2 = 0x310,
  LVTT = 0x320,
  LVTTHMR = 0x330,
  LVTPC = 0x340,
  LVT0 = 0x350,
  LVT1 = 0x360,
  LVTERR = 0x370,
  TMICT = 0x380,
  TMCCT = 0x390,
  TDCR = 0x3e0,
  /** x2APIC only (MSR 0x83f). */
  SELF_IPI = 0x3f0,
}

/** The version register: version 0x14, six LVT entries (max LVT index 5), as Xen's vlapic. */
export const APIC_VERSION = 0x00050014;
/** The architectural base of the xAPIC page. */
export const APIC_DEFAULT_BASE = 0xfee00000;

export const enum ApicMsr {
  APIC_BASE = 0x1b,
  TSC_DEADLINE = 0x6e0,
  X2APIC_FIRST = 0x800,
  X2APIC_LAST = 0x8ff,
}

/** IA32_APIC_BASE bits. */
export const enum ApicBase {
  BSP = 1 << 8,
  /** x2APIC mode. */
  EXTD = 1 << 10,
  /** Global enable. */
  ENABLE = 1 << 11,
  /** Base address bits in the low half (12-31). */
  AddressMaskLo = 0xfffff000,
}

/** Spurious-interrupt vector register bits. */
export const enum Svr {
  VectorMask = 0xff,
  /** APIC software enable. */
  Enabled = 1 << 8,
  FocusDisabled = 1 << 9,
  /** What a guest can set: vector, enable, focus (no EOI-broadcast suppression here). */
  Writable = 0x3ff,
}

/** Local vector table entry bits. */
export const enum Lvt {
  VectorMask = 0xff,
  DeliveryModeMask = 0x700,
  DeliveryModeShift = 8,
  DeliveryStatus = 1 << 12,
  InputPolarity = 1 << 13,
  RemoteIrr = 1 << 14,
  LevelTrigger = 1 << 15,
  Masked = 1 << 16,
  TimerModeMask = 0x60000,
  TimerOneShot = 0,
  TimerPeriodic = 0x20000,
  TimerTscDeadline = 0x40000,
}

/** Interrupt command register bits (low half). */
export const enum Icr {
  VectorMask = 0xff,
  DeliveryModeMask = 0x700,
  DeliveryModeShift = 8,
  DestLogical = 1 << 11,
  DeliveryStatus = 1 << 12,
  Assert = 1 << 14,
  LevelTrigger = 1 << 15,
  ShorthandMask = 0xc0000,
  ShorthandShift = 18,
  /** Every defined bit: vector, delivery mode, destination mode, level, trigger, shorthand. */
  Valid = 0xccfff,
}

export const enum Shorthand {
  None = 0,
  Self = 1,
  AllIncludingSelf = 2,
  AllExcludingSelf = 3,
}

/** Delivery modes (ICR and LVT bits 10:8). */
export const enum DeliveryMode {
  Fixed = 0,
  LowestPriority = 1,
  Smi = 2,
  RemoteRead = 3,
  Nmi = 4,
  Init = 5,
  StartUp = 6,
  ExtInt = 7,
}

/** Error status register bits. */
export const enum Esr {
  SendChecksum = 1 << 0,
  ReceiveChecksum = 1 << 1,
  SendAccept = 1 << 2,
  ReceiveAccept = 1 << 3,
  RedirectableIpi = 1 << 4,
  SendIllegalVector = 1 << 5,
  ReceiveIllegalVector = 1 << 6,
  IllegalRegister = 1 << 7,
}

/** Destination format register values (xAPIC logical mode). */
export const enum Dfr {
  Flat = 0xffffffff,
  Cluster = 0x0fffffff,
}

/** The bits an LVT entry keeps, by register (delivery status and remote IRR read as 0). */
export function lvtWritableBits(reg: ApicReg, tscDeadline: boolean): number {
  switch (reg) {
    case ApicReg.LVTT:
      return Lvt.Masked | Lvt.VectorMask | (tscDeadline ? Lvt.TimerModeMask : Lvt.TimerPeriodic);
    case ApicReg.LVTTHMR:
    case ApicReg.LVTPC:
      return Lvt.Masked | Lvt.DeliveryModeMask | Lvt.VectorMask;
    case ApicReg.LVT0:
    case ApicReg.LVT1:
      return (
        Lvt.Masked | Lvt.LevelTrigger | Lvt.InputPolarity | Lvt.DeliveryModeMask | Lvt.VectorMask
      );
    default:
      return Lvt.Masked | Lvt.VectorMask;
  }
}

/**
 * The bits a WRMSR to an x2APIC LVT may set without #GP: the kept bits plus the read-only
 * delivery status (and remote IRR for LINT0/1), which Xen accepts and ignores.
 */
export function lvtX2apicAllowedBits(reg: ApicReg, tscDeadline: boolean): number {
  const extra =
    reg === ApicReg.LVT0 || reg === ApicReg.LVT1
      ? Lvt.DeliveryStatus | Lvt.RemoteIrr
      : Lvt.DeliveryStatus;
  return lvtWritableBits(reg, tscDeadline) | extra;
}

/** The x2APIC logical ID for an x2APIC ID: cluster in bits 31:16, one bit of 16 in 15:0. */
export function x2apicLdr(id: number): number {
  return (((id >>> 4) << 16) | (1 << (id & 0xf))) >>> 0;
}
