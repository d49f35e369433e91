import { AesGcmAead, AesSivAead, type BlockAead } from './aead.js';
import { Eme } from './eme.js';
import { deriveKeys } from './keys.js';

/** What a filesystem's keys are used with: the content AEAD and the name cipher. */
export class CryptoCore {
  readonly aead: BlockAead;
  readonly eme: Eme;

  constructor(master: Buffer, options: { aesSiv: boolean; hkdf: boolean }) {
    const keys = deriveKeys(master, options.hkdf);
    this.aead = options.aesSiv ? new AesSivAead(keys.siv) : new AesGcmAead(keys.gcm);
    this.eme = new Eme(keys.names);
    keys.gcm.fill(0);
    keys.siv.fill(0);
    keys.names.fill(0);
  }
}
