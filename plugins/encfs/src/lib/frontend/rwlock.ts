/**
 * A readers–writer lock for one file's content: reads share it, writes and truncates take it
 * alone, so a read never sees a block half rewritten and two read-modify-writes of one block
 * never interleave. Waiters are served in arrival order (no writer starves).
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Array<{ exclusive: boolean; grant: () => void }> = [];

  /** Nobody holds or waits for the lock: a synchronous change cannot interleave with anything. */
  get idle(): boolean {
    return !this.writer && this.readers === 0 && this.queue.length === 0;
  }

  async shared<T>(body: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await body();
    } finally {
      this.readers--;
      this.next();
    }
  }

  async exclusive<T>(body: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await body();
    } finally {
      this.writer = false;
      this.next();
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.queue.length === 0 && this.canGrant(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push({ exclusive, grant: resolve }));
  }

  private canGrant(exclusive: boolean): boolean {
    return exclusive ? !this.writer && this.readers === 0 : !this.writer;
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.writer = true;
    else this.readers++;
  }

  private next(): void {
    while (this.queue.length > 0 && this.canGrant(this.queue[0]!.exclusive)) {
      const waiter = this.queue.shift()!;
      this.take(waiter.exclusive);
      waiter.grant();
      if (waiter.exclusive) break;
    }
  }
}
