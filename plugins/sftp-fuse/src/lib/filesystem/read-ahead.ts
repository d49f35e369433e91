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

type Fetch = (position: number, length: number) => Promise<Buffer>;

interface Block {
  data: Buffer | undefined;
  pending: Promise<Buffer> | undefined;
  error: unknown;
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
    this.blocks.clear();
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
    if (needed.every((blk) => blk.data !== undefined)) return this.copy(buffer, position, first, needed);
    return Promise.all(needed.map((blk) => blk.pending ?? (blk.data ? Promise.resolve(blk.data) : Promise.reject(blk.error))))
      .then(() => this.copy(buffer, position, first, needed));
  }

  private block(index: number): Block {
    let blk = this.blocks.get(index);
    if (blk && blk.error === undefined) return blk;
    const fresh: Block = { data: undefined, pending: undefined, error: undefined };
    fresh.pending = this.fetch(index * BLOCK, BLOCK).then((data) => {
      fresh.data = data;
      fresh.pending = undefined;
      if (data.length < BLOCK) this.eofBlock = Math.min(this.eofBlock, index + 1);
      return data;
    }, (err: unknown) => {
      fresh.error = err;
      fresh.pending = undefined;
      throw err;
    });
    fresh.pending.catch(() => undefined); // read-ahead failures surface only if a reader needs the block
    blk = fresh;
    this.blocks.set(index, blk);
    return blk;
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
      const n = blk.data.copy(buffer, done, start, Math.min(blk.data.length, start + buffer.length - done));
      done += n;
      if (blk.data.length < BLOCK) {
        // The end of the file, as of that read: ask again next time (it may be growing).
        if (this.blocks.get(b) === blk) this.blocks.delete(b);
        this.eofBlock = Infinity;
        break;
      }
    }
    return done;
  }

  /** Blocks behind the reader are not read again by a sequential reader; random readers keep a few. */
  private dropBefore(first: number): void {
    if (this.blocks.size <= MAX_WINDOW_BLOCKS * 2) return;
    for (const index of this.blocks.keys()) if (index < first - 4 || index > first + MAX_WINDOW_BLOCKS * 2) this.blocks.delete(index);
  }
}
