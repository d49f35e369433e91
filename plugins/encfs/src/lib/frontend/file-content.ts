import { fstatSync } from 'node:fs';
import { SysError, errnoOf, libc } from '@kmx/core';
import { ContentEnc, CorruptBlockError, FILE_ID_BYTES, HEADER_BYTES, PLAIN_BLOCK, encodeHeader, parseHeader, type NonceSource } from '../contentenc/index.js';
import { randomPool } from '../cryptocore/index.js';
import { WriteFailure, type CryptoPool } from '../cryptopool/index.js';
import type { CorruptionLog } from './corruption-log.js';
import { preallocate, readAt, releaseBeyond, truncateFd } from './io.js';
import type { OpenFile } from './open-files.js';
import { Transaction, repairFile } from './undo.js';

const randomNonces: NonceSource = (_first, count) => randomPool.take(count * 16);
/** From this many blocks on, a job goes to the crypto workers; smaller ones are done inline. */
const POOL_MIN_BLOCKS = 8;
/** Write-behind: at most this many writes of one file in flight before a writer waits. */
const MAX_PENDING_WRITES = 8;
/** Read-ahead buffers kept for reuse: a fresh megabyte per read would be external memory that drives V8 into major GCs. */
const SPARE_AHEAD_BUFFERS = 4;

/**
 * Reads, writes and truncates the plaintext of one open encrypted file. Only the last block
 * of a file may be partial, so unaligned writes re-encrypt the blocks they touch
 * (read-modify-write), a write past the end first pads the old last block, and the blocks
 * skipped over stay holes. Every operation holds the file's content lock.
 *
 * A write that fails never costs old data. Each one is a Transaction: its space is reserved
 * before the first byte changes (a full disk or quota fails it cleanly), and the old bytes it
 * overwrites are saved first, to be put back, with the old size, if any step fails (EIO, or
 * ENOSPC where space cannot be reserved). The format has no journal: a block half rewritten
 * authenticates neither as the old one nor as the new one.
 *
 * Large writes are written behind: answered once their data is handed to the crypto workers,
 * so the next write arrives while they encrypt (FUSE sends one write at a time). Only writes
 * of whole blocks that can be put right without help go behind: over whole old blocks (the
 * workers save what they overwrite) and appends to a file that ends on a block boundary.
 * Everything else waits for them first: reads, truncation, fsync, close, and writes that
 * overlap them or need old data. A write that fails behind is put right once every write has
 * landed, and reported, with its errno, by the next fsync or close of the file, as the kernel
 * reports failed writeback; what the file holds then is final. The answer cannot be taken
 * back: the kernel has raised the file's size to the end of every write it was told is done,
 * and shrinks it again only when it next asks for attributes (a stat), not for a read (kmx's
 * engines send no invalidation notices), so an overwrite gets its old bytes back, but a failed
 * append keeps its length and its blocks become holes (zeros), as failed writeback leaves a
 * file on a local disk.
 */
export class FileContent {
  private readonly spareAhead: Buffer[] = [];

  constructor(private readonly enc: ContentEnc, private readonly corruption: CorruptionLog, private readonly pool?: CryptoPool) {}

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
      await this.landed(file);
      if (alone) this.tryRepair(file, path);
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
      if (total < 0) total = await this.visitBlocks(file, path, first, count, copy);
      const n = Math.max(0, Math.min(buffer.length, total - skip));
      if (sequential && n === buffer.length && entry.readEnd % PLAIN_BLOCK === 0) this.readAhead(file, entry.readEnd / PLAIN_BLOCK, count);
      return n;
    };
    return alone ? entry.lock.exclusive(body) : entry.lock.shared(body);
  }

  /**
   * A sequential reader's next blocks, decrypted by the workers while the kernel is busy with
   * this reply: the kernel keeps only one or two large reads in flight, which leaves the
   * workers idle between them.
   */
  private readAhead(file: OpenFile, first: number, count: number): void {
    const { entry } = file;
    if (!this.pool || count < POOL_MIN_BLOCKS || !entry.fileId) return;
    if (entry.ahead && entry.ahead.first + entry.ahead.count > first) return; // still ahead of the reader
    const pool = this.pool;
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

  /**
   * A failure of an earlier write behind is not this write's answer: fsync and close report it.
   * The kernel splits a large write(2) into several requests and turns a failed later one into
   * a short count, which would claim the lost earlier part written.
   */
  write(file: OpenFile, path: string, data: Buffer, position: number): Promise<number> {
    return file.entry.lock.exclusive(async () => {
      file.entry.ahead = undefined;
      if (data.length === 0) return 0;
      if (!(await this.writeBehind(file, path, data, position))) {
        await this.landed(file);
        this.repair(file, path); // what a write behind that failed meanwhile left, undone first
        await this.writeLocked(file, path, data, file.append ? this.plainSize(file) : position);
      }
      return data.length;
    });
  }

  /** fsync and close: every accepted write has landed (or was undone), and a failure of one is reported now. */
  settle(file: OpenFile, path: string): Promise<void> {
    return file.entry.lock.exclusive(async () => {
      await this.landed(file);
      let repairError: unknown;
      try {
        this.repair(file, path);
      } catch (err) {
        repairError = err;
      }
      this.reportFailure(file, path);
      if (repairError !== undefined) throw repairError;
    });
  }

  /** The last close: writes land, and what failed is undone (or logged, if the disk still refuses). */
  finish(file: OpenFile, path: string): Promise<void> {
    return file.entry.lock.exclusive(async () => {
      await this.landed(file);
      this.tryRepair(file, path);
      if (file.entry.repairs.length > 0) {
        this.corruption.report(`${file.entry.ino}:undo`, `could not undo a failed write in ${path || `inode ${file.entry.ino}`} before it was closed: blocks it tore give EIO`);
      }
    });
  }

  /** Waits until no write of the file is pending (failures stay recorded). */
  async landed(file: OpenFile): Promise<void> {
    const { entry } = file;
    while (entry.pending.size > 0) await Promise.allSettled(entry.pending.keys());
  }

  /**
   * Once every write has landed, puts right what failed writes changed: the blocks of failed
   * appends become holes (the file keeps the size the kernel was told), and the old bytes
   * failed overwrites replaced are restored (a write done in place whose own rollback failed
   * is cut back to its old size). Throws (with the disk's errno) while that is not possible;
   * it is tried again before every later operation on the file.
   */
  private repair(file: OpenFile, path: string): void {
    const { entry } = file;
    if (entry.repairs.length === 0 || entry.pending.size > 0) return;
    entry.ahead = undefined;
    const records = entry.repairs.splice(0);
    const cuts = records.flatMap((r) => (r.truncateTo === undefined ? [] : [r.truncateTo]));
    const grows = records.flatMap((r) => (r.growTo === undefined ? [] : [r.growTo]));
    const left = repairFile(file.fd, {
      ...(cuts.length > 0 ? { truncateTo: Math.min(...cuts) } : {}),
      ...(grows.length > 0 ? { growTo: Math.max(...grows) } : {}),
      holes: records.flatMap((r) => r.holes ?? []),
      undo: records.flatMap((r) => r.undo),
      reservedEnd: Math.max(0, ...records.map((r) => r.reservedEnd ?? 0)),
    });
    if (fstatSync(file.fd).size === 0) entry.fileId = undefined; // cut back to empty: no header
    if (!left) return;
    const { error, ...rest } = left;
    entry.repairs.push(rest);
    this.corruption.report(`${entry.ino}:undo`, `could not yet undo a failed write in ${path || `inode ${entry.ino}`}: ${error instanceof Error ? error.message : String(error)}; retrying before its next operation`);
    throw new SysError(errnoOf(error) ?? 5, 'write', path, { detail: 'undoing an earlier failed write' });
  }

  private tryRepair(file: OpenFile, path: string): void {
    try {
      this.repair(file, path);
    } catch {
      // Stays recorded: reads of blocks still torn give EIO; writes, fsync and close report it.
    }
  }

  private reportFailure(file: OpenFile, path: string): void {
    const { failure } = file.entry;
    if (failure === undefined) return;
    file.entry.failure = undefined;
    // The failure's own errno (ENOSPC, EDQUOT, EIO …), so the writer learns what went wrong.
    const errno = errnoOf(failure) ?? 5;
    throw new SysError(errno, 'write', path, { detail: `an earlier write failed: ${failure instanceof Error ? failure.message : String(failure)}` });
  }

  /**
   * Hands a large write to the workers and returns at once; false when it must be done in
   * place (see the class comment). Its space is reserved here, so a full disk fails this write
   * itself, not a later fsync.
   */
  private async writeBehind(file: OpenFile, path: string, data: Buffer, requested: number): Promise<boolean> {
    const { entry } = file;
    if (!this.pool || data.length < POOL_MIN_BLOCKS * PLAIN_BLOCK) return false;
    if (entry.repairs.length > 0) return false; // undone by the caller once the rest has landed
    const plainSize = this.plainSize(file);
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
    const layout = this.enc.layout;
    const at = layout.cipherOffsetOf(first);
    const sealed = this.enc.sealedLength(data.length);
    let fileId = entry.fileId ?? (entry.pending.size === 0 ? await this.fileIdOf(file, path) : undefined);
    if (!fileId) {
      if (entry.pending.size > 0 || fstatSync(file.fd).size > 0) return false; // the header is to be read first
      // An empty file: its header, with a new file ID, goes first (cut off again if this fails).
      await this.transact(file, (tx) => {
        tx.reserve(at, sealed);
        tx.reserve(0, HEADER_BYTES);
        fileId = Buffer.from(randomPool.take(FILE_ID_BYTES));
        tx.write(encodeHeader(fileId), 0);
        entry.fileId = fileId;
        return Promise.resolve();
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
    const { done } = await this.pool.encryptBehind(file.fd, first, fileId!, data, overwrite ? at + sealed : at);
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
      if (entry.repairs.length > 0 && entry.lock.idle) this.tryRepair(file, '');
    });
    return true;
  }

  truncate(file: OpenFile, path: string, size: number): Promise<void> {
    return file.entry.lock.exclusive(() => this.resize(file, path, size));
  }

  /**
   * fallocate(2) as gocryptfs has it: mode 0 and FALLOC_FL_KEEP_SIZE reserve the encrypted
   * range (a hole stays a hole: reserved space reads as zeros, which is how a hole is stored),
   * and mode 0 then grows the file as truncate does (padding the old last block, a real last
   * block), so the content stays valid. Other modes (punching, zeroing, collapsing) would need
   * blocks rewritten: EOPNOTSUPP, as gocryptfs answers.
   */
  allocate(file: OpenFile, path: string, mode: number, offset: number, length: number): Promise<void> {
    if (mode !== 0 && mode !== libc.FALLOC_FL_KEEP_SIZE) return Promise.reject(SysError.of('EOPNOTSUPP', 'fallocate', path, { detail: 'only modes 0 and KEEP_SIZE keep the encrypted format valid' }));
    if (offset < 0 || length <= 0) return Promise.reject(SysError.of('EINVAL', 'fallocate', path));
    return file.entry.lock.exclusive(async () => {
      await this.landed(file);
      this.repair(file, path);
      file.entry.ahead = undefined;
      const layout = this.enc.layout;
      const end = offset + length;
      const from = layout.cipherOffsetOf(Math.floor(offset / PLAIN_BLOCK));
      libc.fallocate(file.fd, libc.FALLOC_FL_KEEP_SIZE, from, layout.cipherSize(end) - from);
      if (mode === 0 && end > this.plainSize(file)) await this.resize(file, path, end);
    });
  }

  /** Truncation, with the content lock held. */
  private async resize(file: OpenFile, path: string, size: number): Promise<void> {
    await this.landed(file);
    const { fd, entry } = file;
    entry.ahead = undefined;
    if (size === 0) {
      truncateFd(fd, 0);
      entry.fileId = undefined; // a file that grows again gets a new ID
      entry.repairs.splice(0); // nothing left to put back
      return;
    }
    this.repair(file, path);
    const plainSize = this.plainSize(file);
    if (size === plainSize) return;
    const layout = this.enc.layout;
    await this.transact(file, async (tx) => {
      if (size < plainSize) {
        if (size % PLAIN_BLOCK !== 0) {
          // The new last block is partial: re-encrypt what is left of it (in place, before the cut).
          const blockNo = Math.floor(size / PLAIN_BLOCK);
          const fileId = await this.fileIdOf(file, path);
          const kept = (await this.readBlocks(file, path, blockNo, 1)).subarray(0, size - blockNo * PLAIN_BLOCK);
          await this.writeBlocks(file, tx, kept, blockNo, fileId!);
        }
        tx.truncate(layout.cipherSize(size));
        return;
      }
      // Growing: within the last block, or with new blocks that stay holes except a partial last one.
      if (size % PLAIN_BLOCK !== 0 || (plainSize > 0 && Math.floor((plainSize - 1) / PLAIN_BLOCK) === Math.floor((size - 1) / PLAIN_BLOCK))) {
        await this.writeIn(file, path, tx, Buffer.alloc(1), size - 1);
        return;
      }
      const fileId = await this.headerFor(file, path, tx);
      await this.padLastBlock(file, path, tx, plainSize, fileId);
      tx.truncate(layout.cipherSize(size));
    });
  }

  /** Plaintext size from the backing file's size (its whole blocks, if the size is corrupt: writes then rewrite the tail). */
  plainSize(file: OpenFile): number {
    return file.entry.logicalSize ?? this.enc.layout.plainSize(fstatSync(file.fd).size).size;
  }

  private writeLocked(file: OpenFile, path: string, data: Buffer, position: number): Promise<void> {
    return this.transact(file, (tx) => this.writeIn(file, path, tx, data, position));
  }

  /**
   * Runs one change of the backing file as a transaction: if it fails, the file is put back
   * as it was (what cannot be yet is kept, to be tried before the file's next operation) and
   * the failure's errno is the answer.
   */
  private async transact(file: OpenFile, body: (tx: Transaction) => Promise<void>): Promise<void> {
    const { entry } = file;
    const tx = new Transaction(file.fd);
    const fileId = entry.fileId;
    try {
      await body(tx);
    } catch (err) {
      entry.ahead = undefined;
      const left = tx.rollback();
      entry.fileId = tx.oldSize === 0 ? undefined : fileId; // an empty file is empty again: no header
      if (left) {
        const { error, ...rest } = left;
        entry.repairs.push(rest);
        this.corruption.report(`${entry.ino}:undo`, `could not yet undo a failed write in inode ${entry.ino}: ${error instanceof Error ? error.message : String(error)}; retrying before its next operation`);
      }
      throw err instanceof WriteFailure ? err.reason : err;
    }
  }

  /** A write as one transaction: padding of the old last block, header, read-modify-write of the blocks it shares with old data. */
  private async writeIn(file: OpenFile, path: string, tx: Transaction, data: Buffer, position: number): Promise<void> {
    const layout = this.enc.layout;
    const cipherSize = tx.oldSize;
    let plainSize = layout.plainSize(cipherSize).size;
    // An empty file gets a header with a new file ID, written with its first blocks where it can be.
    let header: Buffer | undefined;
    let fileId: Buffer;
    if (cipherSize === 0) {
      fileId = Buffer.from(randomPool.take(FILE_ID_BYTES));
      file.entry.fileId = fileId;
      header = encodeHeader(fileId);
    } else fileId = (await this.fileIdOf(file, path))!;
    const end = position + data.length;
    const first = Math.floor(position / PLAIN_BLOCK);
    const last = Math.floor((end - 1) / PLAIN_BLOCK);
    const pad = position > plainSize && plainSize % PLAIN_BLOCK !== 0 && Math.floor(plainSize / PLAIN_BLOCK) < first;
    const spanStart = first * PLAIN_BLOCK;
    const spanEnd = Math.min((last + 1) * PLAIN_BLOCK, Math.max(pad ? Math.ceil(plainSize / PLAIN_BLOCK) * PLAIN_BLOCK : plainSize, end));
    // The space first: a full disk fails the write before anything changed (padding reserves its own).
    if (header) tx.reserve(0, HEADER_BYTES);
    tx.reserve(layout.cipherOffsetOf(first), this.enc.sealedLength(spanEnd - spanStart));
    if (pad) {
      await this.padLastBlock(file, path, tx, plainSize, fileId);
      plainSize = Math.ceil(plainSize / PLAIN_BLOCK) * PLAIN_BLOCK;
    }
    if (header && first > 0) {
      tx.write(header, 0);
      header = undefined;
    }
    // Old content shares the first or last touched block: decrypt it and merge.
    const needHead = position > spanStart && spanStart < plainSize;
    const needTail = end < spanEnd;
    let plain: Buffer;
    if (position === spanStart && end === spanEnd) plain = data; // whole blocks (or a new end): nothing to merge
    else {
      plain = Buffer.alloc(spanEnd - spanStart);
      if (first === last ? needHead || needTail : needHead) (await this.readBlocks(file, path, first, 1)).copy(plain, 0);
      if (first !== last && needTail) (await this.readBlocks(file, path, last, 1)).copy(plain, (last - first) * PLAIN_BLOCK);
      data.copy(plain, position - spanStart);
    }
    await this.writeBlocks(file, tx, plain, first, fileId, header);
  }

  /**
   * Encrypts and writes blocks from `first` within a transaction (which reserved their space):
   * in the workers when it is worth the round trip. A new file's header (only with first = 0)
   * goes out with small writes in the same pwrite.
   */
  private async writeBlocks(file: OpenFile, tx: Transaction, plain: Buffer, first: number, fileId: Buffer, header?: Buffer): Promise<void> {
    const layout = this.enc.layout;
    const at = layout.cipherOffsetOf(first);
    const length = this.enc.sealedLength(plain.length);
    if (this.pool && plain.length >= POOL_MIN_BLOCKS * PLAIN_BLOCK) {
      if (header) tx.write(header, 0);
      // The workers save (and on failure hand back) what they overwrite. One more thing to keep:
      // the old partial last block, which a part that succeeds rewrites at its new length and
      // a rollback's cut back to the old size would tear.
      const lastStart = tx.oldSize === 0 ? 0 : HEADER_BYTES + Math.floor((tx.oldSize - HEADER_BYTES) / layout.cipherBlock) * layout.cipherBlock;
      const from = Math.max(at, lastStart);
      tx.save(from, Math.min(tx.oldSize, at + length) - from);
      try {
        await this.pool.encrypt(file.fd, first, fileId, plain, tx.oldSize);
      } catch (err) {
        if (err instanceof WriteFailure) tx.adopt(err.saved);
        throw err;
      }
      return;
    }
    const sealed = this.enc.encryptBlocks(plain, first, fileId, randomNonces);
    if (header) tx.write(Buffer.concat([header, sealed]), 0);
    else tx.write(sealed, at);
  }

  /** Before a file grows past its partial last block, that block is re-encrypted at full length. */
  private async padLastBlock(file: OpenFile, path: string, tx: Transaction, plainSize: number, fileId: Buffer): Promise<void> {
    if (plainSize % PLAIN_BLOCK === 0) return;
    const blockNo = Math.floor(plainSize / PLAIN_BLOCK);
    tx.reserve(this.enc.layout.cipherOffsetOf(blockNo), this.enc.layout.cipherBlock);
    const full = Buffer.alloc(PLAIN_BLOCK);
    (await this.readBlocks(file, path, blockNo, 1)).copy(full);
    await this.writeBlocks(file, tx, full, blockNo, fileId);
  }

  /** The file ID, writing a header with a new one if the file is empty. */
  private async headerFor(file: OpenFile, path: string, tx: Transaction): Promise<Buffer> {
    if (tx.oldSize === 0) {
      const fileId = Buffer.from(randomPool.take(FILE_ID_BYTES));
      tx.reserve(0, HEADER_BYTES);
      tx.write(encodeHeader(fileId), 0);
      file.entry.fileId = fileId;
      return fileId;
    }
    return (await this.fileIdOf(file, path))!;
  }

  /** The file ID from the header (read once per open file); undefined for an empty file. */
  private async fileIdOf(file: OpenFile, path: string): Promise<Buffer | undefined> {
    if (file.entry.fileId) return file.entry.fileId;
    const header = readAt(file.fd, HEADER_BYTES, 0);
    if (header.length === 0) return undefined;
    const parsed = parseHeader(header);
    if ('error' in parsed) {
      this.corruption.report(`${file.entry.ino}:header`, `corrupt header in ${path} (inode ${file.entry.ino}): ${parsed.error}; reads give EIO`);
      throw SysError.of('EIO', 'read', path, { detail: parsed.error });
    }
    file.entry.fileId = parsed.fileId;
    return parsed.fileId;
  }

  /** Decrypted blocks first … first+count-1 (fewer at the end of the file), as one buffer. */
  private async readBlocks(file: OpenFile, path: string, first: number, count: number): Promise<Buffer> {
    const plain = Buffer.alloc(count * PLAIN_BLOCK);
    const total = await this.visitBlocks(file, path, first, count, (piece, offset) => piece.copy(plain, offset));
    return plain.subarray(0, total);
  }

  /**
   * Decrypts blocks first … first+count-1 and hands the plaintext to `consume` in order (each
   * piece valid only during the call); resolves to the bytes there were. A corrupt block is
   * logged once and fails the whole call with EIO: no garbage is ever returned.
   */
  private async visitBlocks(file: OpenFile, path: string, first: number, count: number, consume: (piece: Buffer, offset: number) => void): Promise<number> {
    const layout = this.enc.layout;
    const fileId = await this.fileIdOf(file, path);
    if (!fileId) return 0;
    try {
      if (this.pool && count >= POOL_MIN_BLOCKS) return await this.pool.decrypt(file.fd, first, count, fileId, consume);
      const plain = this.enc.decryptBlocks(readAt(file.fd, count * layout.cipherBlock, layout.cipherOffsetOf(first)), first, fileId);
      consume(plain, 0);
      return plain.length;
    } catch (err) {
      if (!(err instanceof CorruptBlockError)) throw err;
      this.corruption.report(`${file.entry.ino}:${err.blockNo}`, `corrupt block ${err.blockNo} of ${path} (inode ${file.entry.ino}, plaintext offset ${err.blockNo * PLAIN_BLOCK}): ${err.reason}; reads of it give EIO`);
      throw SysError.of('EIO', 'read', path, { detail: err.message });
    }
  }
}
