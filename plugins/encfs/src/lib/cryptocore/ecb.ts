import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';

/** Node's cipher name for AES in `mode` with this key's size (16, 24 or 32 bytes). */
export function aesMode(key: Buffer, mode: 'ecb' | 'cbc' | 'ctr'): string {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError(`AES needs a 16-, 24- or 32-byte key, got ${key.length}`);
  return `aes-${key.length * 8}-${mode}`;
}

/**
 * Raw AES on whole 16-byte blocks through Node's native cipher. ECB keeps no state
 * between blocks, so one cipher object serves every call (update only, never final): that
 * saves building a cipher per name or per MAC, the dominant cost for small inputs.
 */
export class AesEcb {
  private readonly encryptor: Cipher;
  private readonly decryptor: Decipher;

  constructor(key: Buffer) {
    this.encryptor = createCipheriv(aesMode(key, 'ecb'), key, null).setAutoPadding(false);
    this.decryptor = createDecipheriv(aesMode(key, 'ecb'), key, null).setAutoPadding(false);
  }

  /** AES of every block of `data` (a multiple of 16 bytes). */
  encrypt(data: Buffer): Buffer {
    return this.encryptor.update(data);
  }

  decrypt(data: Buffer): Buffer {
    return this.decryptor.update(data);
  }
}
