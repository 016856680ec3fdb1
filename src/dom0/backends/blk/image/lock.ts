/**
 * An async readers–writer lock. Requests are granted in arrival order, so a waiting writer
 * is not starved by a stream of readers, and readers that queue together run together.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: { exclusive: boolean; grant: () => void }[] = [];

  /** Runs `task` alongside other shared holders, but never alongside an exclusive one. */
  shared<T>(task: () => Promise<T>): Promise<T> {
    return this.run(false, task);
  }

  /** Runs `task` alone. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.run(true, task);
  }

  private async run<T>(exclusive: boolean, task: () => Promise<T>): Promise<T> {
    await new Promise<void>((grant) => {
      this.waiting.push({ exclusive, grant });
      this.dispatch();
    });
    try {
      return await task();
    } finally {
      if (exclusive) this.writer = false;
      else this.readers--;
      this.dispatch();
    }
  }

  private dispatch(): void {
    for (;;) {
      const next = this.waiting[0];
      if (next === undefined || this.writer) return;
      if (next.exclusive) {
        if (this.readers > 0) return;
        this.writer = true;
      } else {
        this.readers++;
      }
      this.waiting.shift();
      next.grant();
    }
  }
}
