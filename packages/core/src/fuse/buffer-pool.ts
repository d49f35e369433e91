/**
 * Fixed-size Buffers for a filesystem's data path, reused instead of allocated per request.
 * A Buffer above Node's small-buffer pool is an external allocation, and V8 answers steady
 * external allocation (one per read or write) with full garbage collections: measured here,
 * a third of a FUSE server's CPU during sequential I/O. Hand a buffer back only when nothing,
 * including C code holding its address, can touch it any more.
 */
export class BufferPool {
  private readonly spares: Buffer[] = [];

  /** `size` bytes per buffer; at most `keep` idle buffers are kept. */
  constructor(readonly size: number, private readonly keep: number) {}

  take(): Buffer {
    return this.spares.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    if (buffer.length === this.size && this.spares.length < this.keep) this.spares.push(buffer);
  }
}

/**
 * Pools of a few sizes, each take served by the smallest size that fits. Writes come in the
 * writer's sizes (tar 10 KiB, cp 128 KiB, dd up to the engine's 1 MiB), and a write behind
 * holds its copy until answered: in 1 MiB slabs only, an untar of 800 small files held up to
 * 53 at once and faulted in ~90 MiB of fresh memory (a tenth of kmx sftp's CPU).
 */
export class SizedBufferPool {
  private readonly pools: BufferPool[];

  /** `classes`: [size, idle buffers kept] pairs, smallest first. */
  constructor(classes: ReadonlyArray<readonly [size: number, keep: number]>) {
    this.pools = classes.map(([size, keep]) => new BufferPool(size, keep));
  }

  /** A buffer of at least `length` bytes; one larger than every class is not pooled. */
  take(length: number): Buffer {
    const pool = this.pools.find((p) => length <= p.size);
    return pool ? pool.take() : Buffer.allocUnsafeSlow(length);
  }

  give(buffer: Buffer): void {
    this.pools.find((p) => p.size === buffer.length)?.give(buffer);
  }
}

/**
 * Copies of FUSE WRITE data kept until the server has them (write-behind), in the sizes writers
 * use: tar's 10 KiB, cp's 128 KiB, and up to the engines' largest WRITE (1 MiB). `keepLargest`:
 * idle 1 MiB buffers kept (the smaller classes keep 2 and 4 MiB).
 */
export function writeCopyPool(keepLargest: number): SizedBufferPool {
  return new SizedBufferPool([[16 * 1024, 128], [128 * 1024, 32], [1024 * 1024, keepLargest]]);
}
