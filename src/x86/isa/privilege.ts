/** Checks of the processor mode and privilege level that system instructions begin with. */
import { type Cpu, Cr0 } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import { Flag } from '../flags.js';

/** A fault whose error code is a selector (its RPL bits cleared). */
export function selectorFault(vector: Vector, selector: number): Fault {
  return new Fault(vector, selector & 0xfffc);
}

export function realOrVm86(cpu: Cpu): boolean {
  return !(cpu.cr0 & Cr0.PE) || (cpu.flags & Flag.VM) !== 0;
}

/** #UD in real and VM86 mode. */
export function requireProtected(cpu: Cpu): void {
  if (realOrVm86(cpu)) throw new Fault(Vector.UD);
}

/** #GP(0) outside CPL 0. */
export function requireCpl0(cpu: Cpu): void {
  if (cpu.cpl !== 0) throw new Fault(Vector.GP, 0);
}
