import type { BlockAead } from '../cryptocore/index.js';
import { BlockLayout, PLAIN_BLOCK } from './layout.js';

/** A block that does not authenticate (or cannot be a block): never returned as data. */
export class CorruptBlockError extends Error {
  constructor(readonly blockNo: number, readonly reason: string) {
    super(`block ${blockNo} is corrupt: ${reason}`);
    this.name = 'CorruptBlockError';
  }
}

/** Gives the nonce of a block: random in forward mode, derived from the path in reverse mode. */
export type NonceSource = (blockNo: number) => Buffer;

/**
 * Encrypts and decrypts runs of content blocks. Each block's associated data is its number
 * and the file's ID, so a block copied to another position or another file fails to open.
 */
export class ContentEnc {
  readonly layout: BlockLayout;
  private readonly zeros: Buffer;

  constructor(readonly aead: BlockAead) {
    this.layout = new BlockLayout(aead.overhead);
    this.zeros = Buffer.alloc(this.layout.cipherBlock);
  }

  /** u64be(blockNo) ‖ fileId (just the number for symlinks and xattrs, which have no file ID). */
  static aad(blockNo: number, fileId: Buffer | undefined): Buffer {
    const aad = Buffer.allocUnsafe(8 + (fileId?.length ?? 0));
    aad.writeUInt32BE(Math.floor(blockNo / 2 ** 32), 0);
    aad.writeUInt32BE(blockNo >>> 0, 4);
    fileId?.copy(aad, 8);
    return aad;
  }

  /** Seals `plain` (whole blocks except perhaps the last) as blocks firstBlockNo, firstBlockNo+1, … */
  encryptBlocks(plain: Buffer, firstBlockNo: number, fileId: Buffer, nonceOf: NonceSource): Buffer {
    const count = Math.ceil(plain.length / PLAIN_BLOCK);
    const out = Buffer.allocUnsafe(plain.length + count * this.aead.overhead);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const blockNo = firstBlockNo + i;
      const chunk = plain.subarray(i * PLAIN_BLOCK, Math.min(plain.length, (i + 1) * PLAIN_BLOCK));
      at += this.aead.sealInto(chunk, nonceOf(blockNo), ContentEnc.aad(blockNo, fileId), out, at);
    }
    return out;
  }

  /**
   * Opens consecutive cipher blocks starting at firstBlockNo. An all-zero block is a hole
   * (the file was extended with truncate, or written with gaps) and reads as zeros: test
   * before decrypting, as no real block is all zeros.
   */
  decryptBlocks(cipher: Buffer, firstBlockNo: number, fileId: Buffer): Buffer {
    const { cipherBlock } = this.layout;
    const overhead = this.aead.overhead;
    const count = Math.ceil(cipher.length / cipherBlock);
    const out = Buffer.allocUnsafe(Math.max(0, cipher.length - count * overhead));
    let at = 0;
    for (let i = 0; i < count; i++) {
      const blockNo = firstBlockNo + i;
      const block = cipher.subarray(i * cipherBlock, Math.min(cipher.length, (i + 1) * cipherBlock));
      if (block.length <= overhead) throw new CorruptBlockError(blockNo, `a ${block.length}-byte block is too short`);
      // A real block starts with a random nonce: only a zero first word needs the full comparison.
      if (block.readUInt32LE(0) === 0 && block.equals(this.zeros.subarray(0, block.length))) {
        out.fill(0, at, at + block.length - overhead);
        at += block.length - overhead;
        continue;
      }
      const plain = this.aead.open(block, ContentEnc.aad(blockNo, fileId));
      if (!plain) throw new CorruptBlockError(blockNo, 'authentication failed');
      plain.copy(out, at);
      at += plain.length;
    }
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
