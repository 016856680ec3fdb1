/** An exception raised while executing an instruction; thrown, caught by the run loop. */
export class Fault {
  constructor(
    readonly vector: number,
    /** The error code pushed with the exception, or -1 for none. */
    readonly errorCode = -1,
  ) {}
}

export const enum Vector {
  DE = 0,
  DB = 1,
  NMI = 2,
  BP = 3,
  OF = 4,
  BR = 5,
  UD = 6,
  NM = 7,
  DF = 8,
  TS = 10,
  NP = 11,
  SS = 12,
  GP = 13,
  PF = 14,
  MF = 16,
  AC = 17,
  MC = 18,
  XM = 19,
}

/** Thrown to leave an instruction that must run again after an exit (MMIO read, I/O). */
export class Restart {}
export const RESTART = new Restart();

export const ud = (): Fault => new Fault(Vector.UD);
export const gp = (errorCode = 0): Fault => new Fault(Vector.GP, errorCode);
