/**
 * The CPU record's pending event (hvm_hw_cpu.pending_event and error_code, a VMX
 * interruption-information word) and our Cpu's events on their way in.
 *
 * The record has one slot: an injected exception is saved first, else a latched NMI, else an
 * acknowledged interrupt waiting for the instruction boundary. As Xen's
 * hvm_event_needs_reinjection, only external interrupts, NMIs and hardware exceptions other
 * than #BP and #OF are carried; software interrupts and exceptions are executed again.
 */
import type { Cpu } from '../../../../x86/cpu.js';
import type { HwCpu } from './save-cpu-check.js';

/** X86_EVENTTYPE_*: the type field (bits 10:8) of a VMX interruption-information word. */
export const enum EventType {
  ExtIntr = 0,
  Nmi = 2,
  HwException = 3,
  SwInterrupt = 4,
  PriSwException = 5,
  SwException = 6,
}

/** The fields of hvm_hw_cpu.pending_event. */
export const enum PendingEvent {
  VectorMask = 0xff,
  TypeShift = 8,
  TypeMask = 0x700,
  ErrorValid = 1 << 11,
  ReservedMask = 0x7ffff000,
  Valid = 1 << 31,
}

/** vmx_vmcs_restore's check of the pending event. */
export function pendingEventValid(c: HwCpu): boolean {
  const event = c.pending_event;
  if (!(event & PendingEvent.Valid)) return true;
  const type = (event & PendingEvent.TypeMask) >>> PendingEvent.TypeShift;
  if (type === 1 || type > 6 || event & PendingEvent.ReservedMask) return false;
  return !(event & PendingEvent.ErrorValid) || c.error_code >>> 0 <= 0xffff;
}

/** The pending event as the record's interruption-information word and error code. */
export function savedEvent(cpu: Cpu): [number, number] {
  const valid = PendingEvent.Valid >>> 0;
  const vector = cpu.pendingException;
  if (vector >= 0 && vector !== 3 && vector !== 4) {
    const code = cpu.pendingErrorCode;
    const type = EventType.HwException << PendingEvent.TypeShift;
    return [(valid | type | vector | (code >= 0 ? PendingEvent.ErrorValid : 0)) >>> 0, code >>> 0];
  }
  if (cpu.nmiPending) return [(valid | (EventType.Nmi << PendingEvent.TypeShift) | 2) >>> 0, 0];
  if (cpu.pendingInterrupt >= 0) return [(valid | cpu.pendingInterrupt) >>> 0, 0];
  return [0, 0];
}

/** The record's pending event, set to be delivered before the vCPU's next instruction. */
export function loadEvent(cpu: Cpu, c: HwCpu): void {
  cpu.pendingException = -1;
  cpu.pendingErrorCode = -1;
  cpu.pendingInterrupt = -1;
  cpu.nmiPending = false;
  const event = c.pending_event;
  if (!(event & PendingEvent.Valid)) return;
  const vector = event & PendingEvent.VectorMask;
  switch ((event & PendingEvent.TypeMask) >>> PendingEvent.TypeShift) {
    case EventType.ExtIntr:
      cpu.injectInterrupt(vector);
      break;
    case EventType.Nmi:
      cpu.injectNmi();
      break;
    case EventType.HwException:
      if (vector === 3 || vector === 4) break; // re-executed, as software exceptions are
      cpu.injectException(vector, event & PendingEvent.ErrorValid ? c.error_code & 0xffff : -1);
      break;
    default:
      break; // software interrupts and exceptions are re-executed
  }
}
