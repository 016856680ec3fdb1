/** The hypervisor's console: its own messages and guests' console_io writes (xl dmesg). */

const MAX_BYTES = 1 << 20;

export class ConsoleRing {
  /** Text not yet dropped, in the pieces it was written in (joined only when read). */
  private chunks: string[] = [];
  private buffered = 0;
  /** Every character ever written. */
  private total = 0;

  constructor(private readonly echo?: (line: string) => void) {}

  /** Characters that have fallen off the front of the ring. */
  get dropped(): number {
    return Math.max(0, this.total - MAX_BYTES);
  }

  /** Appends text; the ring keeps the last MAX_BYTES characters. */
  write(text: string): void {
    if (text.length > 0) {
      this.chunks.push(text);
      this.buffered += text.length;
      this.total += text.length;
      // Trimming every write would copy the whole ring each time: trim when twice full.
      if (this.buffered > 2 * MAX_BYTES) {
        const kept = this.contents();
        this.chunks = [kept];
        this.buffered = kept.length;
      }
    }
    this.echo?.(text);
  }

  /** A guest's console_io write, prefixed per line with "(dN) " as Xen prints it. */
  guestWrite(domid: number, text: string, pending: { partial: boolean }): void {
    let out = '';
    for (const ch of text) {
      if (!pending.partial) out += `(d${domid}) `;
      out += ch;
      pending.partial = ch !== '\n';
    }
    this.write(out);
  }

  /** The last MAX_BYTES characters written. */
  contents(): string {
    const text = this.chunks.join('');
    return text.length > MAX_BYTES ? text.slice(text.length - MAX_BYTES) : text;
  }
}
