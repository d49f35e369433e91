import { PLAIN_BLOCK } from '../contentenc/index.js';
import { POOL_MIN_BLOCKS, type ContentBlocks } from './content-blocks.js';
import type { OpenFile } from './open-files.js';
import { landed } from './write-behind.js';
import type { WriteFailures } from './write-failures.js';

/** Read-ahead buffers kept for reuse: a fresh megabyte per read would be external memory that drives V8 into major GCs. */
const SPARE_AHEAD_BUFFERS = 4;

/**
 * Reads of open files' plaintext. A sequential reader's next blocks are decrypted ahead by
 * the crypto workers while the kernel is busy with the reply: it keeps only one or two large
 * reads in flight, which leaves the workers idle between them.
 */
export class ContentReader {
  private readonly spareAhead: Buffer[] = [];

  constructor(private readonly blocks: ContentBlocks, private readonly failures: WriteFailures) {}

  read(file: OpenFile, path: string, buffer: Buffer, position: number): Promise<number> {
    const { entry } = file;
    // With writes landing or failed ones not undone yet, wait alone and undo them first: a
    // read never sees what a failed write left.
    const alone = entry.pending.size > 0 || entry.repairs.length > 0;
    const body = async (): Promise<number> => {
      if (buffer.length === 0) return 0;
      // The kernel keeps two reads of a sequential reader in flight: each continues the
      // furthest one started, and read-ahead goes past both (never decrypting what a read in
      // flight already asked for).
      const sequential = position === entry.readEnd;
      entry.readEnd = position + buffer.length;
      await landed(file);
      if (alone) this.failures.tryRepair(file, path);
      const first = Math.floor(position / PLAIN_BLOCK);
      const count = Math.floor((position + buffer.length - 1) / PLAIN_BLOCK) - first + 1;
      const skip = position - first * PLAIN_BLOCK;
      // Copy the part of each decrypted piece that overlaps [skip, skip + buffer.length).
      const copy = (piece: Buffer, offset: number): void => {
        const from = Math.max(skip, offset);
        const to = Math.min(skip + buffer.length, offset + piece.length);
        if (to > from) piece.copy(buffer, from - skip, from - offset, to - offset);
      };
      let total = -1;
      const ahead = entry.ahead;
      if (ahead && ahead.first === first && ahead.count >= count) {
        entry.ahead = undefined;
        // Decrypted ahead of time; if that failed, the read below finds (and reports) why.
        const plain = await ahead.plain.catch(() => undefined);
        if (plain) {
          copy(plain.subarray(0, count * PLAIN_BLOCK), 0);
          total = Math.min(plain.length, count * PLAIN_BLOCK);
          if (this.spareAhead.length < SPARE_AHEAD_BUFFERS) this.spareAhead.push(ahead.buffer);
        }
      }
      if (total < 0) total = await this.blocks.visitBlocks(file, path, first, count, copy);
      const n = Math.max(0, Math.min(buffer.length, total - skip));
      if (sequential && n === buffer.length && entry.readEnd % PLAIN_BLOCK === 0) this.readAhead(file, entry.readEnd / PLAIN_BLOCK, count);
      return n;
    };
    return alone ? entry.lock.exclusive(body) : entry.lock.shared(body);
  }

  /** Starts decrypting `count` blocks from `first` for the reader's next read. */
  private readAhead(file: OpenFile, first: number, count: number): void {
    const { entry } = file;
    const pool = this.blocks.pool;
    if (!pool || count < POOL_MIN_BLOCKS || !entry.fileId) return;
    if (entry.ahead && entry.ahead.first + entry.ahead.count > first) return; // still ahead of the reader
    const fileId = entry.fileId;
    const bytes = count * PLAIN_BLOCK;
    const spare = this.spareAhead.findIndex((b) => b.length >= bytes);
    const buffer = spare >= 0 ? this.spareAhead.splice(spare, 1)[0]! : Buffer.allocUnsafeSlow(bytes);
    const plain = (async (): Promise<Buffer> => {
      const total = await pool.decrypt(file.fd, first, count, fileId, (piece, offset) => piece.copy(buffer, offset));
      return buffer.subarray(0, total);
    })();
    plain.catch(() => undefined); // speculative: a failure surfaces when the blocks are really read
    entry.ahead = { first, count, plain, buffer };
  }
}
