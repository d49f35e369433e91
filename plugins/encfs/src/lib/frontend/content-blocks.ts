import { fstatSync } from 'node:fs';
import { SysError } from '@kmx/core';
import { ContentEnc, CorruptBlockError, FILE_ID_BYTES, HEADER_BYTES, PLAIN_BLOCK, encodeHeader, parseHeader, type NonceSource } from '../contentenc/index.js';
import { randomPool } from '../cryptocore/index.js';
import { WriteFailure, type CryptoPool } from '../cryptopool/index.js';
import type { CorruptionLog } from './corruption-log.js';
import { readAt } from './io.js';
import type { OpenFile } from './open-files.js';
import type { Transaction } from './undo.js';

const randomNonces: NonceSource = (_first, count) => randomPool.take(count * 16);
/** From this many blocks on, a job goes to the crypto workers; smaller ones are done inline. */
export const POOL_MIN_BLOCKS = 8;

/**
 * The encrypted blocks of open files: the header's file ID, blocks decrypted, and blocks
 * encrypted into a transaction, in the crypto workers when a job is worth the round trip.
 * Only the last block of a file may be partial, so an unaligned write re-encrypts the blocks
 * it touches (read-modify-write), a write past the end first pads the old last block, and
 * the blocks skipped over stay holes.
 */
export class ContentBlocks {
  constructor(readonly enc: ContentEnc, private readonly corruption: CorruptionLog, readonly pool?: CryptoPool) {}

  /** Plaintext size from the backing file's size (its whole blocks, if the size is corrupt: writes then rewrite the tail). */
  plainSize(file: OpenFile): number {
    return file.entry.logicalSize ?? this.enc.layout.plainSize(fstatSync(file.fd).size).size;
  }

  /** The file ID from the header (read once per open file); undefined for an empty file. */
  async fileIdOf(file: OpenFile, path: string): Promise<Buffer | undefined> {
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

  /** The file ID, writing a header with a new one if the file is empty. */
  async headerFor(file: OpenFile, path: string, tx: Transaction): Promise<Buffer> {
    if (tx.oldSize > 0) return (await this.fileIdOf(file, path))!;
    tx.reserve(0, HEADER_BYTES);
    const fileId = newFileId(file);
    tx.write(encodeHeader(fileId), 0);
    return fileId;
  }

  /** Decrypted blocks first … first+count-1 (fewer at the end of the file), as one buffer. */
  async readBlocks(file: OpenFile, path: string, first: number, count: number): Promise<Buffer> {
    const plain = Buffer.alloc(count * PLAIN_BLOCK);
    const total = await this.visitBlocks(file, path, first, count, (piece, offset) => piece.copy(plain, offset));
    return plain.subarray(0, total);
  }

  /**
   * Decrypts blocks first … first+count-1 and hands the plaintext to `consume` in order (each
   * piece valid only during the call); resolves to the bytes there were. A corrupt block is
   * logged once and fails the whole call with EIO: no garbage is ever returned.
   */
  async visitBlocks(file: OpenFile, path: string, first: number, count: number, consume: (piece: Buffer, offset: number) => void): Promise<number> {
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

  /** A write within a transaction: padding of the old last block, header, read-modify-write of the blocks it shares with old data. */
  async writeIn(file: OpenFile, path: string, tx: Transaction, data: Buffer, position: number): Promise<void> {
    const layout = this.enc.layout;
    const cipherSize = tx.oldSize;
    let plainSize = layout.plainSize(cipherSize).size;
    // An empty file gets a header with a new file ID, written with its first blocks where it can be.
    let header: Buffer | undefined;
    let fileId: Buffer;
    if (cipherSize === 0) {
      fileId = newFileId(file);
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
  async writeBlocks(file: OpenFile, tx: Transaction, plain: Buffer, first: number, fileId: Buffer, header?: Buffer): Promise<void> {
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
  async padLastBlock(file: OpenFile, path: string, tx: Transaction, plainSize: number, fileId: Buffer): Promise<void> {
    if (plainSize % PLAIN_BLOCK === 0) return;
    const blockNo = Math.floor(plainSize / PLAIN_BLOCK);
    tx.reserve(this.enc.layout.cipherOffsetOf(blockNo), this.enc.layout.cipherBlock);
    const full = Buffer.alloc(PLAIN_BLOCK);
    (await this.readBlocks(file, path, blockNo, 1)).copy(full);
    await this.writeBlocks(file, tx, full, blockNo, fileId);
  }
}

/** A new file ID for an empty file, whose header the caller writes. */
function newFileId(file: OpenFile): Buffer {
  const fileId = Buffer.from(randomPool.take(FILE_ID_BYTES));
  file.entry.fileId = fileId;
  return fileId;
}
