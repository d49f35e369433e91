import type { BlockAead } from '../cryptocore/index.js';
import { BlockLayout, PLAIN_BLOCK } from './layout.js';

/** A block that does not authenticate (or cannot be a block): never returned as data. */
export class CorruptBlockError extends Error {
  constructor(readonly blockNo: number, readonly reason: string) {
    super(`block ${blockNo} is corrupt: ${reason}`);
    this.name = 'CorruptBlockError';
  }
}

/** Gives the nonces of `count` blocks from `firstBlockNo`, one after another: random in forward mode, derived from the path in reverse mode. */
export type NonceSource = (firstBlockNo: number, count: number) => Buffer;

/**
 * Encrypts and decrypts runs of content blocks. Each block's associated data is its number
 * and the file's ID, so a block copied to another position or another file fails to open.
 */
export class ContentEnc {
  readonly layout: BlockLayout;

  constructor(readonly aead: BlockAead) {
    this.layout = new BlockLayout(aead.overhead);
  }

  /** u64be(blockNo) ‖ fileId (just the number for symlinks and xattrs, which have no file ID). */
  static aad(blockNo: number, fileId: Buffer | undefined): Buffer {
    const aad = Buffer.allocUnsafe(8 + (fileId?.length ?? 0));
    aad.writeUInt32BE(Math.floor(blockNo / 2 ** 32), 0);
    aad.writeUInt32BE(blockNo >>> 0, 4);
    fileId?.copy(aad, 8);
    return aad;
  }

  /** The encrypted size of `plainBytes` of blocks (whole except perhaps the last). */
  sealedLength(plainBytes: number): number {
    return plainBytes + Math.ceil(plainBytes / PLAIN_BLOCK) * this.aead.overhead;
  }

  /**
   * Seals `plain` (whole blocks except perhaps the last) as blocks firstBlockNo, firstBlockNo+1, …
   * into `into` when given (sealedLength(plain.length) bytes at least), else a new buffer.
   */
  encryptBlocks(plain: Buffer, firstBlockNo: number, fileId: Buffer, nonces: NonceSource, into?: Buffer): Buffer {
    const count = Math.ceil(plain.length / PLAIN_BLOCK);
    const length = this.sealedLength(plain.length);
    const out = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    if (count > 0) this.aead.sealRun(plain, PLAIN_BLOCK, nonces(firstBlockNo, count), ContentEnc.aad(firstBlockNo, fileId), out);
    return out;
  }

  /**
   * Opens consecutive cipher blocks starting at firstBlockNo, into `into` when given. An
   * all-zero block is a hole (the file was extended with truncate, or written with gaps) and
   * reads as zeros. A block that does not open fails the whole run: no garbage is returned.
   */
  decryptBlocks(cipher: Buffer, firstBlockNo: number, fileId: Buffer, into?: Buffer): Buffer {
    const count = Math.ceil(cipher.length / this.layout.cipherBlock);
    const length = Math.max(0, cipher.length - count * this.aead.overhead);
    const out = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    const opened = this.aead.openRun(cipher, this.layout.cipherBlock, ContentEnc.aad(firstBlockNo, fileId), out);
    if (typeof opened !== 'number') throw new CorruptBlockError(firstBlockNo + opened.index, opened.reason);
    return out;
  }

  /** Seals a short value as block 0 without a file ID: how symlink targets and xattr values are stored. */
  sealValue(plain: Buffer, nonce: Buffer): Buffer {
    const out = Buffer.allocUnsafe(plain.length + this.aead.overhead);
    this.aead.sealInto(plain, nonce, ContentEnc.aad(0, undefined), out, 0);
    return out;
  }

  openValue(sealed: Buffer): Buffer | undefined {
    return this.aead.open(sealed, ContentEnc.aad(0, undefined));
  }
}
