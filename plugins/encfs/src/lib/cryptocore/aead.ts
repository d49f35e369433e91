import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AesSiv } from './aessiv.js';

export const NONCE_BYTES = 16;
export const TAG_BYTES = 16;
/** What a sealed block adds to its plaintext: the nonce and the tag. */
export const BLOCK_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * An AEAD over gocryptfs's block layout: a sealed block is the nonce followed by what the
 * cipher makes of the plaintext, `overhead` bytes longer than the plaintext. Both ciphers authenticate
 * `aad`, so a block moved to another position or file fails to open.
 */
export interface BlockAead {
  readonly name: string;
  readonly nonceBytes: number;
  /** Bytes a sealed block adds to its plaintext (nonce and tag). */
  readonly overhead: number;
  /** Writes nonce ‖ sealed(plaintext) to `out` at `at`; returns the bytes written. */
  sealInto(plaintext: Buffer, nonce: Buffer, aad: Buffer, out: Buffer, at: number): number;
  /** The plaintext of a sealed block (nonce first), or undefined when it does not authenticate. */
  open(block: Buffer, aad: Buffer): Buffer | undefined;
}

/** AES-256-GCM with 16-byte nonces: nonce ‖ ciphertext ‖ tag (gocryptfs's default). */
export class AesGcmAead implements BlockAead {
  readonly name = 'AES-GCM-256';
  readonly nonceBytes = NONCE_BYTES;
  readonly overhead = BLOCK_OVERHEAD;

  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('AES-256-GCM needs a 32-byte key');
    this.key = Buffer.from(key); // a copy: the caller may wipe its own
  }

  sealInto(plaintext: Buffer, nonce: Buffer, aad: Buffer, out: Buffer, at: number): number {
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    nonce.copy(out, at);
    const body = cipher.update(plaintext);
    body.copy(out, at + NONCE_BYTES);
    cipher.final();
    cipher.getAuthTag().copy(out, at + NONCE_BYTES + body.length);
    return NONCE_BYTES + body.length + TAG_BYTES;
  }

  open(block: Buffer, aad: Buffer): Buffer | undefined {
    if (block.length < BLOCK_OVERHEAD) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', this.key, block.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(block.subarray(block.length - TAG_BYTES));
    const plaintext = decipher.update(block.subarray(NONCE_BYTES, block.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      return undefined;
    }
    return plaintext;
  }
}

/**
 * AES-SIV-512 as gocryptfs uses it (reverse mode, -aessiv): nonce ‖ V ‖ CTR ciphertext, with
 * the associated-data vector [aad, nonce]. Safe with deterministic nonces.
 */
export class AesSivAead implements BlockAead {
  readonly name = 'AES-SIV-512';
  readonly nonceBytes = NONCE_BYTES;
  readonly overhead = BLOCK_OVERHEAD;
  private readonly siv: AesSiv;

  constructor(key: Buffer) {
    if (key.length !== 64) throw new RangeError('AES-SIV-512 needs a 64-byte key');
    this.siv = new AesSiv(key);
  }

  sealInto(plaintext: Buffer, nonce: Buffer, aad: Buffer, out: Buffer, at: number): number {
    nonce.copy(out, at);
    const sealed = this.siv.seal(plaintext, [aad, nonce]);
    sealed.copy(out, at + NONCE_BYTES);
    return NONCE_BYTES + sealed.length;
  }

  open(block: Buffer, aad: Buffer): Buffer | undefined {
    if (block.length < BLOCK_OVERHEAD) return undefined;
    const nonce = block.subarray(0, NONCE_BYTES);
    return this.siv.open(block.subarray(NONCE_BYTES), [aad, nonce]);
  }
}
