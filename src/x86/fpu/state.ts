/**
 * x87, MMX and SSE register state. x87 registers are kept in their 80-bit form (64-bit
 * mantissa, sign and 15-bit exponent) so that MMX, which aliases the mantissas, and
 * FXSAVE/FXRSTOR see exactly what hardware would.
 */
export class FpuState {
  /** XMM0-15, four little-endian dwords each: XMMn dword k is at [n * 4 + k]. */
  readonly xmm = new Int32Array(64);
  mxcsr = 0x1f80;
  /** x87 control word. */
  fcw = 0x037f;
  /** x87 status word without TOP (bits 11-13), which is `top`. */
  fsw = 0;
  top = 0;
  /** Full tag word: two bits per physical register (0 valid, 1 zero, 2 special, 3 empty). */
  ftw = 0xffff;
  /** Physical registers R0-R7: [i * 3] mantissa low, [i * 3 + 1] mantissa high, [i * 3 + 2]
   * sign (bit 15) and exponent (bits 0-14). ST(k) is R((top + k) & 7). */
  readonly st = new Int32Array(24);
  /** Last x87 opcode and instruction/operand pointers, as FXSAVE stores them. */
  fop = 0;
  fipLo = 0;
  fipHi = 0;
  fcs = 0;
  fdpLo = 0;
  fdpHi = 0;
  fds = 0;

  /** FNINIT / power-on values (XMM and MXCSR are left to the caller). */
  resetX87(): void {
    this.fcw = 0x037f;
    this.fsw = 0;
    this.top = 0;
    this.ftw = 0xffff;
    this.fop = this.fipLo = this.fipHi = this.fcs = this.fdpLo = this.fdpHi = this.fds = 0;
  }
}
