import { fstatSync } from 'node:fs';
import { PLAIN_BLOCK } from '../contentenc/index.js';
import { WriteFailure } from '../cryptopool/index.js';
import { POOL_MIN_BLOCKS, type ContentBlocks } from './content-blocks.js';
import { preallocate, releaseBeyond } from './io.js';
import type { OpenFile } from './open-files.js';
import type { WriteFailures } from './write-failures.js';

/** At most this many writes of one file in flight before a writer waits. */
const MAX_PENDING_WRITES = 8;

/** Waits until no write of the file is pending (failures stay recorded). */
export async function landed(file: OpenFile): Promise<void> {
  const { entry } = file;
  while (entry.pending.size > 0) await Promise.allSettled(entry.pending.keys());
}

/**
 * Large writes are written behind: answered once their data is handed to the crypto workers,
 * so the next write arrives while they encrypt (FUSE sends one write at a time). Only writes
 * of whole blocks that can be put right without help go behind: over whole old blocks (the
 * workers save what they overwrite) and appends to a file that ends on a block boundary.
 * Everything else waits for them first (landed()): reads, truncation, fsync, close, and writes
 * that overlap them or need old data. A write that fails behind is put right once every write
 * has landed, and reported, with its errno, by the next fsync or close of the file, as the
 * kernel reports failed writeback; what the file holds then is final. The answer cannot be
 * taken back: the kernel has raised the file's size to the end of every write it was told is
 * done, and shrinks it again only when it next asks for attributes (a stat), not for a read
 * (kmx's engines send no invalidation notices), so an overwrite gets its old bytes back, but a
 * failed append keeps its length and its blocks become holes (zeros), as failed writeback
 * leaves a file on a local disk.
 */
export class WriteBehind {
  constructor(private readonly blocks: ContentBlocks, private readonly failures: WriteFailures) {}

  /**
   * Hands a large write to the workers and returns at once; false when it must be done in
   * place. Its space is reserved here, so a full disk fails this write itself, not a later
   * fsync. Called with the content lock held.
   */
  async write(file: OpenFile, path: string, data: Buffer, requested: number): Promise<boolean> {
    const { entry } = file;
    const pool = this.blocks.pool;
    if (!pool || data.length < POOL_MIN_BLOCKS * PLAIN_BLOCK) return false;
    if (entry.repairs.length > 0) return false; // undone by the caller once the rest has landed
    const plainSize = this.blocks.plainSize(file);
    const position = file.append ? plainSize : requested;
    if (position % PLAIN_BLOCK !== 0) return false;
    const end = position + data.length;
    // Whole blocks only: a failed append is made a hole up to its end (see below), and only a
    // whole all-zero block is a hole; a partial last block must authenticate.
    if (end % PLAIN_BLOCK !== 0) return false;
    const append = position >= plainSize && plainSize % PLAIN_BLOCK === 0;
    const overwrite = end <= plainSize - (plainSize % PLAIN_BLOCK);
    if (!append && !overwrite) return false;
    const first = position / PLAIN_BLOCK;
    const last = Math.floor((end - 1) / PLAIN_BLOCK);
    for (const range of entry.pending.values()) if (range.first <= last && first <= range.last) return false;
    while (entry.pending.size >= MAX_PENDING_WRITES) await Promise.race(entry.pending.keys()).catch(() => undefined);
    if (entry.repairs.length > 0) return false;
    const enc = this.blocks.enc;
    const at = enc.layout.cipherOffsetOf(first);
    const sealed = enc.sealedLength(data.length);
    let fileId = entry.fileId ?? (entry.pending.size === 0 ? await this.blocks.fileIdOf(file, path) : undefined);
    if (!fileId) {
      if (entry.pending.size > 0 || fstatSync(file.fd).size > 0) return false; // the header is to be read first
      // An empty file: its header, with a new file ID, goes first (cut off again if this fails).
      await this.failures.transact(file, async (tx) => {
        tx.reserve(at, sealed);
        fileId = await this.blocks.headerFor(file, path, tx);
      });
    } else {
      try {
        preallocate(file.fd, at, sealed);
      } catch (err) {
        const size = fstatSync(file.fd).size;
        if (at + sealed > size) releaseBeyond(file.fd, Math.max(at, size), at + sealed - Math.max(at, size)); // only this write's own range
        throw err;
      }
    }
    // An overwrite hands back the old bytes of the parts that fail; an append has none.
    const { done } = await pool.encryptBehind(file.fd, first, fileId!, data, overwrite ? at + sealed : at);
    entry.pending.set(done, { first, last });
    entry.logicalSize = Math.max(plainSize, end);
    done.catch((err: unknown) => {
      entry.failure ??= err instanceof WriteFailure ? err.reason : err;
      // An append is not cut off again: this write was answered, so the kernel holds its end as
      // the file's size and would show zeros up to there (and never learns a smaller size by
      // itself). Its blocks become holes instead, as failed writeback leaves a local file: the
      // size stays and the lost data reads as zeros.
      entry.repairs.push({
        undo: err instanceof WriteFailure ? [...err.saved] : [],
        ...(append ? { growTo: at + sealed, holes: [{ offset: at, length: sealed }] } : {}),
      });
    }).finally(() => {
      entry.pending.delete(done);
      if (entry.pending.size > 0) return;
      entry.logicalSize = undefined;
      // Nobody holds the lock (a holder waits for the writes and undoes them itself): undo at once.
      if (entry.repairs.length > 0 && entry.lock.idle) this.failures.tryRepair(file, '');
    });
    return true;
  }
}
