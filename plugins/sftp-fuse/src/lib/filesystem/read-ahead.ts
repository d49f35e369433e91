import { BufferPool } from '@kmx/core';

/**
 * Pipelined reads for one open file. The file is read in fixed blocks; once reads are
 * sequential, the blocks ahead of the reader are requested before it asks, up to a window
 * that doubles with each sequential read (128 KiB → 8 MiB), so the link is never idle while
 * the kernel waits for one request at a time. A block that is already here is copied out
 * without waiting: the FUSE read is answered synchronously. Random readers fetch exactly
 * what they ask for.
 */

export const BLOCK = 128 * 1024;
const MAX_WINDOW_BLOCKS = 64;
/**
 * Block buffers, reused by every open file (64 kept idle, 8 MiB): a fresh 128 KiB Buffer per
 * block made V8 run a full GC (external memory pressure) every ~12 MiB of a sequential read.
 */
const blockBuffers = new BufferPool(BLOCK, 64);
/** A block's buffer once it went back to the spares, or was given up to the garbage collector. */
const NO_BUFFER = Buffer.alloc(0);

/** Reads up to into.length bytes at `position` into `into`; resolves with the count (short only at EOF). */
type Fetch = (position: number, into: Buffer) => Promise<number>;

interface Block {
  /** The bytes read: a view of `buffer`, once the fetch is done. */
  data: Buffer | undefined;
  buffer: Buffer;
  pending: Promise<Buffer> | undefined;
  error: unknown;
  /** Reads copying out of this block right now: its buffer is not reused before they are done. */
  readers: number;
  /** Out of the map: the buffer goes back to the spares once no fetch or reader uses it. */
  dropped: boolean;
}

export class ReadAhead {
  private readonly blocks = new Map<number, Block>();
  private nextExpected = 0;
  private window = 0;
  /** Set once a block came back short: nothing beyond it exists. */
  private eofBlock = Infinity;

  constructor(private readonly fetch: Fetch) {}

  /** Forgets everything read (the file was written through the mount). */
  invalidate(): void {
    for (const [index, blk] of this.blocks) this.forget(index, blk);
    this.window = 0;
    this.nextExpected = -1;
    this.eofBlock = Infinity;
  }

  /** Fills `buffer` from `position`: a number when every block was here, else a promise. */
  read(buffer: Buffer, position: number): number | Promise<number> {
    const end = position + buffer.length;
    const first = Math.floor(position / BLOCK);
    const last = Math.floor((end - 1) / BLOCK);
    if (position === this.nextExpected) this.window = Math.min(Math.max(this.window * 2, 2), MAX_WINDOW_BLOCKS);
    else this.window = 0;
    this.nextExpected = end;
    this.dropBefore(first);
    const needed: Block[] = [];
    for (let b = first; b <= last; b++) needed.push(this.block(b));
    for (let b = last + 1; b <= last + this.window && b < this.eofBlock; b++) this.block(b);
    for (const blk of needed) blk.readers++;
    const done = (): void => {
      for (const blk of needed) {
        blk.readers--;
        this.recycle(blk);
      }
    };
    if (needed.every((blk) => blk.data !== undefined)) {
      try {
        return this.copy(buffer, position, first, needed);
      } finally {
        done();
      }
    }
    return Promise.all(needed.map((blk) => blk.pending ?? (blk.data ? Promise.resolve(blk.data) : Promise.reject(blk.error))))
      .then(() => this.copy(buffer, position, first, needed))
      .finally(done);
  }

  private block(index: number): Block {
    const known = this.blocks.get(index);
    if (known && known.error === undefined) return known;
    if (known) this.forget(index, known);
    const fresh: Block = { data: undefined, buffer: blockBuffers.take(), pending: undefined, error: undefined, readers: 0, dropped: false };
    fresh.pending = this.fetch(index * BLOCK, fresh.buffer).then((n) => {
      fresh.data = n === BLOCK ? fresh.buffer : fresh.buffer.subarray(0, n);
      fresh.pending = undefined;
      if (n < BLOCK) this.eofBlock = Math.min(this.eofBlock, index + 1);
      this.recycle(fresh);
      return fresh.data;
    }, (err: unknown) => {
      fresh.error = err;
      fresh.pending = undefined;
      // Never reused: a request that failed by timing out may still be answered into it.
      fresh.buffer = NO_BUFFER;
      throw err;
    });
    fresh.pending.catch(() => undefined); // read-ahead failures surface only if a reader needs the block
    this.blocks.set(index, fresh);
    return fresh;
  }

  private forget(index: number, blk: Block): void {
    if (this.blocks.get(index) === blk) this.blocks.delete(index);
    blk.dropped = true;
    this.recycle(blk);
  }

  /** A dropped block nobody uses any more gives its buffer back (once). */
  private recycle(blk: Block): void {
    if (!blk.dropped || blk.readers > 0 || blk.pending !== undefined || blk.buffer === NO_BUFFER) return;
    blk.data = undefined;
    blockBuffers.give(blk.buffer);
    blk.buffer = NO_BUFFER;
  }

  /** Copies from the blocks a read waited for (held here: the map may have dropped them since). */
  private copy(buffer: Buffer, position: number, first: number, blocks: readonly Block[]): number {
    let done = 0;
    for (let b = first; done < buffer.length; b++) {
      const blk = blocks[b - first];
      if (!blk?.data) {
        if (blk?.error !== undefined) throw blk.error;
        break;
      }
      const start = position + done - b * BLOCK;
      // A short block ends the file; the reader may start past that end when the file shrank
      // while the kernel still believed the old size.
      if (start < blk.data.length) done += blk.data.copy(buffer, done, start, Math.min(blk.data.length, start + buffer.length - done));
      if (blk.data.length < BLOCK) {
        // The end of the file, as of that read: ask again next time (it may be growing).
        this.forget(b, blk);
        this.eofBlock = Infinity;
        break;
      }
    }
    return done;
  }

  /** Blocks behind the reader are not read again by a sequential reader; random readers keep a few. */
  private dropBefore(first: number): void {
    if (this.blocks.size <= MAX_WINDOW_BLOCKS * 2) return;
    for (const [index, blk] of this.blocks) if (index < first - 4 || index > first + MAX_WINDOW_BLOCKS * 2) this.forget(index, blk);
  }
}
