import { fstatSync } from 'node:fs';
import { SysError, errnoOf, libc } from '@kmx/core';
import { ContentEnc, CorruptBlockError, FILE_ID_BYTES, HEADER_BYTES, PLAIN_BLOCK, encodeHeader, parseHeader, type NonceSource } from '../contentenc/index.js';
import { randomPool } from '../cryptocore/index.js';
import type { CryptoPool } from '../cryptopool/index.js';
import type { CorruptionLog } from './corruption-log.js';
import { readAt, truncateFd, writeAt } from './io.js';
import type { OpenFile } from './open-files.js';

const randomNonces: NonceSource = (_first, count) => randomPool.take(count * 16);
/** From this many blocks on, a job goes to the crypto workers; smaller ones are done inline. */
const POOL_MIN_BLOCKS = 8;
/** Write-behind: at most this many writes of one file in flight before a writer waits. */
const MAX_PENDING_WRITES = 8;
/** Read-ahead buffers kept for reuse: a fresh megabyte per read would be external memory that drives V8 into major GCs. */
const SPARE_AHEAD_BUFFERS = 4;

/** Records blocks a failed write covered, for holeTornBlocks. */
function failedBlocks({ entry }: OpenFile, first: number, last: number): void {
  entry.failed.push({ first, last });
}

/**
 * Reads, writes and truncates the plaintext of one open encrypted file. Only the last block
 * of a file may be partial, so unaligned writes re-encrypt the blocks they touch
 * (read-modify-write), a write past the end first pads the old last block, and the blocks
 * skipped over stay holes. Every operation holds the file's content lock.
 *
 * Large writes of whole blocks are written behind: answered once their data is handed to the
 * crypto workers, so the next write arrives while they encrypt (FUSE sends one write at a
 * time). Everything else waits for them first: reads, truncation, fsync, close, and writes
 * that overlap them or need old data. A write that fails behind is reported, as EIO, by the
 * next write, fsync or close of the file (with its errno), as the kernel reports failed writeback.
 */
export class FileContent {
  private readonly spareAhead: Buffer[] = [];

  constructor(private readonly enc: ContentEnc, private readonly corruption: CorruptionLog, private readonly pool?: CryptoPool) {}

  read(file: OpenFile, path: string, buffer: Buffer, position: number): Promise<number> {
    return file.entry.lock.shared(async () => {
      if (buffer.length === 0) return 0;
      const { entry } = file;
      // The kernel keeps two reads of a sequential reader in flight: each continues the
      // furthest one started, and read-ahead goes past both (never decrypting what a read in
      // flight already asked for).
      const sequential = position === entry.readEnd;
      entry.readEnd = position + buffer.length;
      await this.landed(file);
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
    });
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

  write(file: OpenFile, path: string, data: Buffer, position: number): Promise<number> {
    return file.entry.lock.exclusive(async () => {
      this.reportFailure(file, path);
      file.entry.ahead = undefined;
      if (data.length === 0) return 0;
      const at = file.append ? this.plainSize(file) : position;
      if (!(await this.writeBehind(file, data, at))) {
        await this.landed(file);
        // A write behind may have failed meanwhile, leaving a short block at the end (ENOSPC):
        // its errno is the answer, not the EIO of reading that block back.
        this.holeTornBlocks(file);
        this.reportFailure(file, path);
        await this.writeLocked(file, path, data, at);
      }
      return data.length;
    });
  }

  /** fsync and close: every accepted write has landed, or its failure is reported now. */
  settle(file: OpenFile, path: string): Promise<void> {
    return file.entry.lock.exclusive(async () => {
      await this.landed(file);
      this.holeTornBlocks(file);
      this.reportFailure(file, path);
    });
  }

  /** Waits until no write of the file is pending (failures stay recorded). */
  async landed(file: OpenFile): Promise<void> {
    const { entry } = file;
    while (entry.pending.size > 0) await Promise.allSettled(entry.pending.keys());
  }

  /**
   * Once every write has landed, the blocks of failed writes that no longer authenticate
   * become holes. A full disk (ENOSPC) stops a write in the middle of a block, and the crypto
   * workers write several ranges at once, so torn blocks can lie anywhere in what was written
   * behind; each would answer every read, and every later write that needs it (padding,
   * read-modify-write), with EIO where the disk answers ENOSPC. A hole reads as zeros and needs
   * no space; a torn short block at the end is cut off. Blocks that authenticate (old data a
   * failed write never reached, or new data that did land) are kept; the writer learns of the
   * loss from the failure's errno.
   */
  private holeTornBlocks(file: OpenFile): void {
    const { entry } = file;
    if (entry.failed.length === 0 || entry.pending.size > 0) return;
    const ranges = entry.failed.splice(0);
    entry.ahead = undefined;
    const fileId = entry.fileId;
    if (!fileId) return; // no header to check blocks against
    const layout = this.enc.layout;
    let size = fstatSync(file.fd).size;
    for (const { first, last } of ranges) {
      for (let blockNo = first; blockNo <= last && layout.cipherOffsetOf(blockNo) < size; blockNo++) {
        const offset = layout.cipherOffsetOf(blockNo);
        const cipher = readAt(file.fd, layout.cipherBlock, offset);
        try {
          this.enc.decryptBlocks(cipher, blockNo, fileId);
        } catch {
          // A short last block of zeros is no hole: a torn end is cut off instead.
          if (cipher.length < layout.cipherBlock) {
            truncateFd(file.fd, offset);
            size = offset;
          } else this.punch(file, offset, cipher.length);
        }
      }
    }
  }

  private punch(file: OpenFile, offset: number, length: number): void {
    try {
      libc.punchHole(file.fd, offset, length);
    } catch (err) {
      this.corruption.report(`${file.entry.ino}:hole`, `could not clear a torn block of a failed write in inode ${file.entry.ino}: ${err instanceof Error ? err.message : String(err)}; reading it gives EIO`);
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
   * Hands a write of whole blocks (or one that ends the file) to the workers and returns at
   * once; false when it must be done in place: small, unaligned, needing padding or old data,
   * or overlapping a write still in flight.
   */
  private async writeBehind(file: OpenFile, data: Buffer, position: number): Promise<boolean> {
    const { entry } = file;
    if (!this.pool || data.length < POOL_MIN_BLOCKS * PLAIN_BLOCK || position % PLAIN_BLOCK !== 0) return false;
    const end = position + data.length;
    const plainSize = entry.logicalSize ?? this.plainSize(file);
    if (end % PLAIN_BLOCK !== 0 && end < plainSize) return false; // the last block keeps old data
    if (position > plainSize && plainSize % PLAIN_BLOCK !== 0) return false; // the old last block needs padding
    const first = position / PLAIN_BLOCK;
    const last = Math.floor((end - 1) / PLAIN_BLOCK);
    for (const range of entry.pending.values()) if (range.first <= last && first <= range.last) return false;
    while (entry.pending.size >= MAX_PENDING_WRITES) await Promise.race(entry.pending.keys()).catch(() => undefined);
    if (entry.failure !== undefined || entry.failed.length > 0) return false; // reported (and made holes) by the caller once the rest has landed
    let fileId = entry.fileId;
    if (!fileId) {
      if (entry.pending.size > 0 || fstatSync(file.fd).size > 0) return false; // the header is to be read first
      fileId = Buffer.from(randomPool.take(FILE_ID_BYTES));
      writeAt(file.fd, encodeHeader(fileId), 0);
      entry.fileId = fileId;
    }
    const { done } = await this.pool.encryptBehind(file.fd, first, fileId, data);
    entry.pending.set(done, { first, last });
    entry.logicalSize = Math.max(plainSize, end);
    done.catch((err: unknown) => {
      entry.failure ??= err;
      failedBlocks(file, first, last);
    }).finally(() => {
      entry.pending.delete(done);
      if (entry.pending.size === 0) entry.logicalSize = undefined;
    });
    return true;
  }

  truncate(file: OpenFile, path: string, size: number): Promise<void> {
    return file.entry.lock.exclusive(async () => {
      await this.landed(file);
      this.holeTornBlocks(file);
      const { fd, entry } = file;
      entry.ahead = undefined;
      const plainSize = this.plainSize(file);
      if (size === plainSize) return;
      if (size === 0) {
        truncateFd(fd, 0);
        entry.fileId = undefined; // a file that grows again gets a new ID
        return;
      }
      const layout = this.enc.layout;
      if (size < plainSize) {
        if (size % PLAIN_BLOCK !== 0) {
          // The new last block is partial: re-encrypt what is left of it.
          const blockNo = Math.floor(size / PLAIN_BLOCK);
          const fileId = await this.fileIdOf(file, path);
          const kept = (await this.readBlocks(file, path, blockNo, 1)).subarray(0, size - blockNo * PLAIN_BLOCK);
          await this.writeBlocks(file, kept, blockNo, fileId!);
        }
        truncateFd(fd, layout.cipherSize(size));
        return;
      }
      // Growing: within the last block, or with new blocks that stay holes except a partial last one.
      if (size % PLAIN_BLOCK !== 0 || (plainSize > 0 && Math.floor((plainSize - 1) / PLAIN_BLOCK) === Math.floor((size - 1) / PLAIN_BLOCK))) {
        await this.writeLocked(file, path, Buffer.alloc(1), size - 1);
        return;
      }
      const fileId = await this.headerFor(file, path);
      await this.padLastBlock(file, path, plainSize, fileId);
      truncateFd(fd, layout.cipherSize(size));
    });
  }

  /** Plaintext size from the backing file's size (its whole blocks, if the size is corrupt: writes then rewrite the tail). */
  plainSize(file: OpenFile): number {
    return file.entry.logicalSize ?? this.enc.layout.plainSize(fstatSync(file.fd).size).size;
  }

  private async writeLocked(file: OpenFile, path: string, data: Buffer, position: number): Promise<void> {
    const cipherSize = fstatSync(file.fd).size;
    let plainSize = this.enc.layout.plainSize(cipherSize).size;
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
    if (position > plainSize && Math.floor(plainSize / PLAIN_BLOCK) < first) {
      await this.padLastBlock(file, path, plainSize, fileId);
      plainSize = Math.ceil(plainSize / PLAIN_BLOCK) * PLAIN_BLOCK;
    }
    if (header && first > 0) {
      writeAt(file.fd, header, 0);
      header = undefined;
    }
    const spanStart = first * PLAIN_BLOCK;
    const spanEnd = Math.min((last + 1) * PLAIN_BLOCK, Math.max(plainSize, end));
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
    await this.writeBlocks(file, plain, first, fileId, header);
  }

  /**
   * Encrypts and writes blocks from `first`: in the workers when it is worth the round trip.
   * A new file's header (only with first = 0) goes out with small writes in the same pwrite.
   */
  private async writeBlocks(file: OpenFile, plain: Buffer, first: number, fileId: Buffer, header?: Buffer): Promise<void> {
    try {
      if (this.pool && plain.length >= POOL_MIN_BLOCKS * PLAIN_BLOCK) {
        if (header) writeAt(file.fd, header, 0);
        return await this.pool.encrypt(file.fd, first, fileId, plain);
      }
      const sealed = this.enc.encryptBlocks(plain, first, fileId, randomNonces);
      if (header) writeAt(file.fd, Buffer.concat([header, sealed]), 0);
      else writeAt(file.fd, sealed, this.enc.layout.cipherOffsetOf(first));
    } catch (err) {
      failedBlocks(file, first, first + Math.ceil(plain.length / PLAIN_BLOCK) - 1); // a full disk may have torn one
      throw err;
    }
  }

  /** Before a file grows past its partial last block, that block is re-encrypted at full length. */
  private async padLastBlock(file: OpenFile, path: string, plainSize: number, fileId: Buffer): Promise<void> {
    if (plainSize % PLAIN_BLOCK === 0) return;
    const blockNo = Math.floor(plainSize / PLAIN_BLOCK);
    const full = Buffer.alloc(PLAIN_BLOCK);
    (await this.readBlocks(file, path, blockNo, 1)).copy(full);
    await this.writeBlocks(file, full, blockNo, fileId);
  }

  /** The file ID, writing a header with a new one if the file is empty. */
  private async headerFor(file: OpenFile, path: string): Promise<Buffer> {
    if (fstatSync(file.fd).size === 0) {
      const fileId = Buffer.from(randomPool.take(FILE_ID_BYTES));
      writeAt(file.fd, encodeHeader(fileId), 0);
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
