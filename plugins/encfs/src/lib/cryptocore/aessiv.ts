import { createCipheriv, timingSafeEqual } from 'node:crypto';
import { AES_BLOCK, doubleBigEndian, xorBlock } from './blocks.js';
import { Cmac } from './cmac.js';
import { aesMode } from './ecb.js';

/**
 * AES-SIV (RFC 5297): the first half of the key keys S2V (CMAC), the second half AES-CTR;
 * gocryptfs uses a 64-byte key (AES-256 for both). Output is V ‖ C, where V is the synthetic IV (the authentication tag). Built from
 * Node's native AES (CMAC over CBC, CTR), not a JavaScript cipher.
 */
export class AesSiv {
  private readonly cmac: Cmac;
  private readonly ctrKey: Buffer;
  private readonly ctrMode: string;
  /** CMAC(K, 0^128): the starting value of every S2V. */
  private readonly zeroMac: Buffer;

  constructor(key: Buffer) {
    const half = key.length / 2;
    this.cmac = new Cmac(key.subarray(0, half));
    this.ctrKey = Buffer.from(key.subarray(half));
    this.ctrMode = aesMode(this.ctrKey, 'ctr');
    this.zeroMac = this.cmac.mac(Buffer.alloc(AES_BLOCK));
  }

  /** V ‖ CTR(P). */
  seal(plaintext: Buffer, associated: readonly Buffer[]): Buffer {
    const v = this.s2v(associated, plaintext);
    const out = Buffer.allocUnsafe(AES_BLOCK + plaintext.length);
    v.copy(out);
    this.ctr(v, plaintext).copy(out, AES_BLOCK);
    return out;
  }

  /** The plaintext of V ‖ C, or undefined when it does not authenticate. */
  open(sealed: Buffer, associated: readonly Buffer[]): Buffer | undefined {
    if (sealed.length < AES_BLOCK) return undefined;
    const v = sealed.subarray(0, AES_BLOCK);
    const plaintext = this.ctr(v, sealed.subarray(AES_BLOCK));
    return timingSafeEqual(this.s2v(associated, plaintext), v) ? plaintext : undefined;
  }

  private s2v(associated: readonly Buffer[], plaintext: Buffer): Buffer {
    const d = Buffer.from(this.zeroMac);
    for (const item of associated) {
      doubleBigEndian(d);
      xorBlock(d, 0, d, 0, this.cmac.mac(item), 0);
    }
    if (plaintext.length >= AES_BLOCK) return this.cmac.mac(plaintext, d);
    doubleBigEndian(d);
    const padded = Buffer.alloc(AES_BLOCK);
    plaintext.copy(padded);
    padded[plaintext.length] = 0x80;
    xorBlock(padded, 0, padded, 0, d, 0);
    return this.cmac.mac(padded);
  }

  private ctr(v: Buffer, data: Buffer): Buffer {
    // RFC 5297 clears the top bit of the last two 32-bit words so the counter never carries past them.
    const q = Buffer.from(v);
    q[8] &= 0x7f;
    q[12] &= 0x7f;
    return createCipheriv(this.ctrMode, this.ctrKey, q).update(data);
  }
}
