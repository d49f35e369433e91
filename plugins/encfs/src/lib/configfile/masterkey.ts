import { AesGcmAead, HKDF_INFO, MASTER_KEY_BYTES, hkdf, randomPool } from '../cryptocore/index.js';

/** The associated data of the wrapped key: block number 0, no file ID (as a content block). */
const WRAP_AAD = Buffer.alloc(8);

function wrapCipher(kek: Buffer, useHkdf: boolean): AesGcmAead {
  return new AesGcmAead(useHkdf ? hkdf(kek, HKDF_INFO.gcmContent, 32) : kek);
}

/** EncryptedKey: the master key sealed with AES-256-GCM under the key-encryption key. */
export function wrapMasterKey(master: Buffer, kek: Buffer, useHkdf: boolean): Buffer {
  const out = Buffer.alloc(MASTER_KEY_BYTES + 32);
  wrapCipher(kek, useHkdf).sealInto(master, randomPool.take(16), WRAP_AAD, out, 0);
  return out;
}

/** The master key, or undefined when the key-encryption key (the password) is wrong. */
export function unwrapMasterKey(encrypted: Buffer, kek: Buffer, useHkdf: boolean): Buffer | undefined {
  const master = wrapCipher(kek, useHkdf).open(encrypted, WRAP_AAD);
  return master?.length === MASTER_KEY_BYTES ? master : undefined;
}
