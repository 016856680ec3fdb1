import type { Handler } from '../insn.js';
import type { SizedHandlers } from '../table.js';

/** The handlers of an instruction by operand size, [16, 32, 64], from one factory. */
export function sized(make: (size: number) => Handler): SizedHandlers {
  return [make(16), make(32), make(64)];
}
