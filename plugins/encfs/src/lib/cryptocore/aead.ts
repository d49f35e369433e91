import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AesSiv } from './aessiv.js';

export const NONCE_BYTES = 16;
export const TAG_BYTES = 16;
/** What a sealed block adds to its plaintext: the nonce and the tag. */
export const BLOCK_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** Why a block of a run does not open: its index in the run and the reason. */
export interface RunFailure {
  index: number;
  reason: string;
}

/**
 * An AEAD over gocryptfs's block layout: a sealed block is the nonce followed by what the
 * cipher makes of the plaintext, `overhead` bytes longer than the plaintext. Both ciphers authenticate
 * `aad`, so a block moved to another position or file fails to open.
 *
 * Runs are consecutive content blocks: block i of a run is sealed under the i-th nonce of
 * `nonces` with the run's `aad` whose first 8 bytes, a big-endian block number, are increased
 * by i (gocryptfs's u64be(blockNo) ‖ fileID).
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
  /** Seals `plain` as blocks of `blockBytes` (the last may be shorter) into `out`; returns the bytes written. */
  sealRun(plain: Buffer, blockBytes: number, nonces: Buffer, aad: Buffer, out: Buffer): number;
  /**
   * Opens sealed blocks of `sealedBlockBytes` (the last may be shorter) into `out`, an
   * all-zero block as a hole (zeros: a real block starts with a random nonce). Returns the
   * plaintext length, or the first block that is too short or does not authenticate (what
   * `out` then holds is undefined, but never unauthenticated plaintext of that block).
   */
  openRun(sealed: Buffer, sealedBlockBytes: number, aad: Buffer, out: Buffer): number | RunFailure;
  /** Releases what the cipher holds outside the JavaScript heap (native contexts); no use after. */
  dispose(): void;
}

/** The AAD of the block `index` places after the one `aad` belongs to. */
export function nthAad(aad: Buffer, index: number): Buffer {
  const next = Buffer.from(aad);
  next.writeBigUInt64BE((aad.readBigUInt64BE(0) + BigInt(index)) & 0xffffffffffffffffn, 0);
  return next;
}

/** Runs as loops over single blocks, for the ciphers built on Node's crypto API. */
abstract class BlockByBlock implements BlockAead {
  abstract readonly name: string;
  readonly nonceBytes = NONCE_BYTES;
  readonly overhead = BLOCK_OVERHEAD;
  abstract sealInto(plaintext: Buffer, nonce: Buffer, aad: Buffer, out: Buffer, at: number): number;
  abstract open(block: Buffer, aad: Buffer): Buffer | undefined;

  sealRun(plain: Buffer, blockBytes: number, nonces: Buffer, aad: Buffer, out: Buffer): number {
    let at = 0;
    for (let i = 0; i * blockBytes < plain.length; i++) {
      const chunk = plain.subarray(i * blockBytes, Math.min(plain.length, (i + 1) * blockBytes));
      at += this.sealInto(chunk, nonces.subarray(i * NONCE_BYTES, (i + 1) * NONCE_BYTES), nthAad(aad, i), out, at);
    }
    return at;
  }

  openRun(sealed: Buffer, sealedBlockBytes: number, aad: Buffer, out: Buffer): number | RunFailure {
    let at = 0;
    for (let i = 0; i * sealedBlockBytes < sealed.length; i++) {
      const block = sealed.subarray(i * sealedBlockBytes, Math.min(sealed.length, (i + 1) * sealedBlockBytes));
      if (block.length <= this.overhead) return { index: i, reason: `a ${block.length}-byte block is too short` };
      const length = block.length - this.overhead;
      // Only a zero first word needs the full comparison.
      if (block.readUInt32LE(0) === 0 && block.equals(Buffer.alloc(block.length))) {
        out.fill(0, at, at + length);
      } else {
        const plain = this.open(block, nthAad(aad, i));
        if (!plain) return { index: i, reason: 'authentication failed' };
        plain.copy(out, at);
      }
      at += length;
    }
    return at;
  }

  dispose(): void {
    // nothing outside the heap
  }
}

/** AES-256-GCM with 16-byte nonces: nonce ‖ ciphertext ‖ tag (gocryptfs's default). */
export class AesGcmAead extends BlockByBlock {
  readonly name = 'AES-GCM-256';
  private readonly key: Buffer;

  constructor(key: Buffer) {
    super();
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
export class AesSivAead extends BlockByBlock {
  readonly name = 'AES-SIV-512';
  private readonly siv: AesSiv;

  constructor(key: Buffer) {
    super();
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
