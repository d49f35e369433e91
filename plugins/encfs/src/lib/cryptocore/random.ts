import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 64 * 1024;

/**
 * Random bytes from a pool refilled 64 KiB at a time: crypto.randomBytes(16) per block cost
 * several microseconds, more than encrypting the block. A refill allocates a new pool, so
 * slices handed out earlier stay valid.
 */
export class RandomPool {
  private pool = Buffer.alloc(0);
  private offset = 0;

  take(length: number): Buffer {
    if (length > POOL_BYTES) return randomFillSync(Buffer.allocUnsafe(length));
    if (this.offset + length > this.pool.length) {
      this.pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
      this.offset = 0;
    }
    const slice = this.pool.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
}

export const randomPool = new RandomPool();
