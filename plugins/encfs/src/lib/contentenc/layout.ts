/**
 * The layout of an encrypted file: an 18-byte header (u16be version 2 ‖ 16-byte file ID),
 * then blocks of up to 4096 plaintext bytes, each sealed into nonce ‖ ciphertext ‖ tag. An
 * empty file has no header at all.
 */
export const HEADER_BYTES = 18;
export const HEADER_VERSION = 2;
export const FILE_ID_BYTES = 16;
export const PLAIN_BLOCK = 4096;

export class BlockLayout {
  readonly plainBlock = PLAIN_BLOCK;
  readonly cipherBlock: number;

  constructor(readonly overhead: number) {
    this.cipherBlock = PLAIN_BLOCK + overhead;
  }

  blockOf(plainOffset: number): number {
    return Math.floor(plainOffset / PLAIN_BLOCK);
  }

  /** Where block `n` starts in the encrypted file. */
  cipherOffsetOf(blockNo: number): number {
    return HEADER_BYTES + blockNo * this.cipherBlock;
  }

  cipherSize(plainSize: number): number {
    if (plainSize === 0) return 0;
    return HEADER_BYTES + plainSize + this.overhead * Math.ceil(plainSize / PLAIN_BLOCK);
  }

  /**
   * The plaintext size of an encrypted file of `cipherSize` bytes. A size no encrypted file can
   * have (a partial header, a last block too short to hold a nonce, a tag and one byte) is
   * corrupt; its plaintext size counts only the whole blocks.
   */
  plainSize(cipherSize: number): { size: number; corrupt: boolean } {
    if (cipherSize === 0) return { size: 0, corrupt: false };
    if (cipherSize < HEADER_BYTES) return { size: 0, corrupt: true };
    const body = cipherSize - HEADER_BYTES;
    const whole = Math.floor(body / this.cipherBlock);
    const rest = body % this.cipherBlock;
    if (rest > 0 && rest <= this.overhead) return { size: whole * PLAIN_BLOCK, corrupt: true };
    return { size: whole * PLAIN_BLOCK + (rest > 0 ? rest - this.overhead : 0), corrupt: false };
  }
}
