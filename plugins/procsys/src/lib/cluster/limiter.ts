import { SysError } from '@kmx/core';

/**
 * A bound on requests in flight across all hosts: a `ps` over fifty hosts queues here
 * instead of opening fifty-times-many streams at once. A request that cannot start before
 * its deadline gives up with ETIMEDOUT rather than wait on.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<{ start: () => void; timer: NodeJS.Timeout }> = [];

  constructor(readonly max: number) {}

  get inFlight(): number {
    return this.running;
  }

  async run<T>(deadline: number, task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await this.slot(deadline);
    else this.running++;
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private slot(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = {
        start: () => {
          clearTimeout(entry.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const index = this.waiting.indexOf(entry);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(SysError.of('ETIMEDOUT', 'read', undefined, { detail: 'too many requests in flight' }));
        }, Math.max(deadline - Date.now(), 0)),
      };
      this.waiting.push(entry);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next.start(); // the slot passes straight on: `running` stays the same
    else this.running--;
  }
}
