/**
 * The vlapic's snapshot record (save/restore, migration): versioned, with named fields.
 */

import type { ApicTimerState } from './timer.js';

/** A vlapic's state in a snapshot (save/restore, migration). */
export interface VlapicSnapshot {
  version: 1;
  apicBaseLo: number;
  apicBaseHi: number;
  id: number;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  esr: number;
  pendingEsr: number;
  icrLo: number;
  icrHi: number;
  lvt: {
    timer: number;
    thermal: number;
    perf: number;
    lint0: number;
    lint1: number;
    error: number;
  };
  /** 256-bit maps as eight 32-bit words, vector 0 in bit 0 of the first. */
  irr: number[];
  isr: number[];
  tmr: number[];
  timer: ApicTimerState;
  upcallVector: number;
}
