import { SysError, errnoOf, writeCopyPool } from '@kmx/core';

// Write-behind for one open file: a FUSE write is answered as soon as its NFS WRITE is queued
// (with a copy of the data), so the next one can follow without waiting a round trip. At most
// `limit` bytes are in flight; the first failure is kept and reported by the next write,
// flush, fsync or close, as a local filesystem reports a deferred write error.

/**
 * Copies of queued writes live in reused slabs, shared by all open files: a fresh Buffer per
 * write kept V8's major GC busy for over a third of the process's CPU during a sequential write.
 */
const slabs = writeCopyPool(32);

/** The bytes [start, end) of the file a queued write covers. */
interface Extent {
  start: number;
  end: number;
}

export class WriteBehind {
  private readonly inFlight = new Map<Promise<void>, Extent>();
  private bytes = 0;
  private failure: unknown;

  constructor(private readonly limit: number) {}

  /** Queues `send` (which writes `size` bytes at `position`); resolves once it is queued, not done. */
  async add(position: number, size: number, send: () => Promise<unknown>): Promise<void> {
    this.check();
    while (this.bytes + size > this.limit && this.inFlight.size > 0) await Promise.race(this.inFlight.keys());
    this.check();
    this.bytes += size;
    const op: Promise<void> = send().then(
      () => undefined,
      (err: unknown) => {
        this.failure ??= err;
      },
    ).finally(() => {
      this.bytes -= size;
      this.inFlight.delete(op);
    });
    this.inFlight.set(op, { start: position, end: position + size });
  }

  /**
   * Waits for the queued writes that cover any of [start, end): a server may carry out
   * requests in flight together in any order, so a later write over the same bytes must not
   * be sent before an earlier one has landed.
   */
  async landed(start: number, end: number): Promise<void> {
    for (;;) {
      const overlapping = [...this.inFlight].filter(([, e]) => e.start < end && start < e.end).map(([op]) => op);
      if (overlapping.length === 0) return;
      await Promise.all(overlapping);
    }
  }

  /**
   * Queues a copy of `data` (the caller may reuse it at once) for `send`; resolves once queued.
   * The copy is reused once `send` has succeeded; after a failure it is left to the garbage
   * collector: libnfs sends write data from the caller's memory, and a call failed by a lost
   * connection is answered while libnfs may still hold its request.
   */
  async addCopy(data: Buffer, position: number, send: (copy: Buffer) => Promise<unknown>): Promise<void> {
    const slab = slabs.take(data.length);
    data.copy(slab);
    try {
      await this.add(position, data.length, () => send(slab.subarray(0, data.length)).then(() => slabs.give(slab)));
    } catch (err) {
      slabs.give(slab); // not queued: an earlier failure was reported instead
      throw err;
    }
  }

  /** Waits for every queued write, leaving a failure to be reported later. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.keys());
  }

  /** Waits for every queued write; throws the first failure (once). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.keys());
    this.check();
  }

  private check(): void {
    if (this.failure === undefined) return;
    const err = this.failure;
    this.failure = undefined;
    throw errnoOf(err) !== undefined ? err : SysError.of('EIO', 'write', undefined, { detail: String(err) });
  }
}
