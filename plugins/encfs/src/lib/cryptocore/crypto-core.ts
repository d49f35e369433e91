import { AesGcmAead, AesSivAead, type BlockAead } from './aead.js';
import { Eme } from './eme.js';
import { deriveKeys } from './keys.js';
import { NativeGcmAead } from './native-gcm.js';

/**
 * AES-256-GCM for content: OpenSSL through kmx's native helper, or Node's crypto (several
 * times slower per block) when the helper cannot be loaded; `fallback` then says why.
 */
export function contentGcm(key: Buffer): { aead: BlockAead; fallback?: string } {
  const native = NativeGcmAead.create(key);
  return native instanceof NativeGcmAead ? { aead: native } : { aead: new AesGcmAead(key), fallback: native.error };
}

/** What a filesystem's keys are used with: the content AEAD and the name cipher. */
export class CryptoCore {
  readonly aead: BlockAead;
  readonly eme: Eme;
  /** Set when AES-GCM content runs on Node's crypto instead of the native helper: why. */
  readonly gcmFallback: string | undefined;

  constructor(master: Buffer, options: { aesSiv: boolean; hkdf: boolean }) {
    const keys = deriveKeys(master, options.hkdf);
    if (options.aesSiv) this.aead = new AesSivAead(keys.siv);
    else ({ aead: this.aead, fallback: this.gcmFallback } = contentGcm(keys.gcm));
    this.eme = new Eme(keys.names);
    keys.gcm.fill(0);
    keys.siv.fill(0);
    keys.names.fill(0);
  }

  /** Frees native cipher contexts (the mount or command is over). */
  dispose(): void {
    this.aead.dispose();
  }
}
