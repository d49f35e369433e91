import type { Config } from '../configfile/index.js';
import { ContentEnc } from '../contentenc/index.js';
import { CryptoCore } from '../cryptocore/index.js';
import type { WorkerSetup } from '../cryptopool/index.js';
import { NameTransform } from '../nametransform/index.js';

/**
 * An unlocked filesystem: its config and everything its master key drives (content blocks,
 * names). Forward and reverse views, fsck and the path tools all start from one.
 */
export class Volume {
  readonly core: CryptoCore;
  readonly content: ContentEnc;
  readonly names: NameTransform;

  private readonly master: Buffer;

  constructor(readonly config: Config, master: Buffer) {
    this.master = Buffer.from(master);
    this.core = new CryptoCore(master, { aesSiv: config.aesSiv, hkdf: config.hkdf });
    this.content = new ContentEnc(this.core.aead);
    this.names = new NameTransform(this.core.eme, {
      plaintextNames: config.plaintextNames,
      raw64: config.raw64,
      longNames: config.longNames,
      longNameMax: config.longNameMax,
    });
  }

  /** What a crypto worker needs to derive the same content keys. */
  workerSetup(): WorkerSetup {
    return { master: new Uint8Array(this.master), aesSiv: this.config.aesSiv, hkdf: this.config.hkdf };
  }

  /** Names are encrypted under per-directory IVs (else under zeros: deterministic names). */
  get dirIv(): boolean {
    return this.config.dirIv && !this.config.plaintextNames;
  }
}
