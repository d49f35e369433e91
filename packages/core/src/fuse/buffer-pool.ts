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
