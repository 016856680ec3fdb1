/**
 * The host's log files: xenotype.log with a timestamp on every line, and the logs that
 * daemonized `xl create` monitors write (Xen's /var/log/xen/xl-NAME.log). Writes are
 * synchronous appends, so lines stay in order with whatever the process prints to its own
 * stderr, which is the same file when the host runs in the background.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class HostLog {
  private fd: number | undefined;
  /** Dangling text of a line written in pieces, per source (the hypervisor's console). */
  private readonly partial = new Map<string, string>();

  constructor(
    readonly path: string,
    /** Also gets every line (a host in the foreground on a terminal shows its log). */
    private readonly echo?: (line: string) => void,
  ) {
    this.fd = openSync(path, 'a', 0o644);
  }

  /** One line (or several, split at newlines), each with the current time. */
  line(text: string): void {
    const stamp = new Date().toISOString();
    const lines = text.replace(/\n$/, '').split('\n');
    const out = lines.map((l) => `${stamp} ${l}\n`).join('');
    if (this.fd !== undefined) writeSync(this.fd, out);
    this.echo?.(out);
  }

  /**
   * Text that arrives in arbitrary pieces, logged a whole line at a time; `prefix` marks lines
   * that do not carry their own (Xen's console prefixes its own "(XEN) " and "(dN) ").
   */
  stream(source: string, text: string, prefix: string): void {
    const joined = (this.partial.get(source) ?? '') + text;
    const end = joined.lastIndexOf('\n');
    this.partial.set(source, joined.slice(end + 1));
    if (end < 0) return;
    for (const l of joined.slice(0, end).split('\n')) {
      this.line(l.startsWith('(') ? l : `${prefix}${l}`);
    }
  }

  close(): void {
    for (const [source, rest] of this.partial) if (rest !== '') this.line(`${source}: ${rest}`);
    this.partial.clear();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Appends to DIR/NAME.log, the log of a daemonized `xl` (`text` ends in a newline). */
export function appendXlLog(dir: string, name: string, text: string): void {
  mkdirSync(dir, { recursive: true });
  // A domain name is the guest owner's choice: keep it inside the log directory.
  const file = join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_')}.log`);
  const fd = openSync(file, 'a', 0o644);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
