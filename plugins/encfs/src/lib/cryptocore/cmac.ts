import { createCipheriv, type Cipher } from 'node:crypto';
import { AES_BLOCK, doubleBigEndian, xorBlock } from './blocks.js';
import { AesEcb, aesMode } from './ecb.js';

/**
 * AES-CMAC (RFC 4493) on Node's native AES. Short messages (at most two blocks, the
 * associated data of a content block) go through a reusable ECB object; long ones through
 * one reusable CBC object, whose chaining from the previous message is cancelled by XORing
 * the previous last ciphertext block into the new first block. No cipher object is built per
 * MAC, which is what makes AES-SIV on 4 KiB blocks fast in Node.
 */
export class Cmac {
  private readonly ecb: AesEcb;
  private readonly cbc: Cipher;
  /** The CBC object's chaining value: its last output block. */
  private readonly chain = Buffer.alloc(AES_BLOCK);
  /** RFC 4493 subkeys: K1 for a complete last block, K2 for a padded one. */
  private readonly k1: Buffer;
  private readonly k2: Buffer;

  constructor(key: Buffer) {
    this.ecb = new AesEcb(key);
    this.cbc = createCipheriv(aesMode(key, 'cbc'), key, Buffer.alloc(AES_BLOCK)).setAutoPadding(false);
    this.k1 = this.ecb.encrypt(Buffer.alloc(AES_BLOCK));
    doubleBigEndian(this.k1);
    this.k2 = Buffer.from(this.k1);
    doubleBigEndian(this.k2);
  }

  /** CMAC of `message`; `lastBlockMask`, if given, is XORed into its last 16 bytes first (S2V's xorend). */
  mac(message: Buffer, lastBlockMask?: Buffer): Buffer {
    const complete = message.length > 0 && message.length % AES_BLOCK === 0;
    const length = complete ? message.length : (Math.floor(message.length / AES_BLOCK) + 1) * AES_BLOCK;
    const padded = Buffer.alloc(length);
    message.copy(padded);
    if (!complete) padded[message.length] = 0x80;
    const last = length - AES_BLOCK;
    if (lastBlockMask) {
      if (message.length < AES_BLOCK) throw new RangeError('xorend needs a message of at least 16 bytes');
      // xorend: the mask lines up with the message's last 16 bytes, not the padded block's.
      const at = message.length - AES_BLOCK;
      for (let i = 0; i < AES_BLOCK; i++) padded[at + i] ^= lastBlockMask[i]!;
    }
    xorBlock(padded, last, padded, last, complete ? this.k1 : this.k2, 0);
    if (length <= 2 * AES_BLOCK) return this.macShort(padded);
    xorBlock(padded, 0, padded, 0, this.chain, 0);
    const out = this.cbc.update(padded);
    out.copy(this.chain, 0, out.length - AES_BLOCK);
    return Buffer.from(this.chain);
  }

  /** CBC-MAC of one or two prepared blocks with the ECB object. */
  private macShort(padded: Buffer): Buffer {
    let state = this.ecb.encrypt(padded.subarray(0, AES_BLOCK));
    if (padded.length === 2 * AES_BLOCK) {
      xorBlock(state, 0, state, 0, padded, AES_BLOCK);
      state = this.ecb.encrypt(state);
    }
    return state;
  }
}
