/**
 * The virtual local APIC: one `Vlapic` per vCPU, its register definitions, and the glue to
 * the CPU's exit contract.
 */

export { handleVlapicExit, injectPendingInterrupt, loadCr8, storeCr8 } from './inject.js';
export {
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
  Shorthand,
  Svr,
  x2apicLdr,
} from './regs.js';
export type { VlapicSnapshot } from './state.js';
export { type ApicTimerState, type TscClock, timerDivisor } from './timer.js';
export { isVlapicMsr, Vlapic, type VlapicOptions } from './vlapic.js';
