/** A client's stdin inside the host: chunks as they arrive, until the client ends it. */
export class ByteQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private readonly waiting = new Set<() => void>();
  private read = false;

  /** `firstRead` runs when a reader first asks for input (the client forwards it from then). */
  constructor(private readonly firstRead: () => void = () => {}) {}

  push(chunk: Uint8Array): void {
    if (this.ended) return;
    this.chunks.push(chunk);
    this.wakeReader();
  }

  end(): void {
    this.ended = true;
    this.wakeReader();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        if (!this.read) {
          this.read = true;
          this.firstRead();
        }
        for (;;) {
          const chunk = this.chunks.shift();
          if (chunk !== undefined) return { value: chunk, done: false };
          if (this.ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => this.waiting.add(resolve));
        }
      },
      // A reader that stops early leaves the rest for the next reader.
      return: async () => ({ value: undefined, done: true }),
    };
  }

  private wakeReader(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const wake of waiting) wake();
  }
}
