/** The hypervisor's console: its own messages and guests' console_io writes (xl dmesg). */

const MAX_BYTES = 1 << 20;

export class ConsoleRing {
  private text = '';
  /** Characters dropped from the front when the ring was full. */
  dropped = 0;

  constructor(private readonly echo?: (line: string) => void) {}

  /** Appends text, keeping the last MAX_BYTES characters. */
  write(text: string): void {
    this.text += text;
    if (this.text.length > MAX_BYTES) {
      const excess = this.text.length - MAX_BYTES;
      this.text = this.text.slice(excess);
      this.dropped += excess;
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

  contents(): string {
    return this.text;
  }
}
