import { startCryptoPool } from '../cryptopool/index.js';
import type { Volume } from '../volume/index.js';
import { CipherTree } from './cipher-tree.js';
import { CorruptionLog } from './corruption-log.js';
import { ForwardFileSystem } from './forward-fs.js';
import { XattrCrypt } from './xattrs.js';

/** The plaintext view of `cipherDir`, unlocked as `volume`. */
export function openForward(cipherDir: string, volume: Volume, log?: (line: string) => void): ForwardFileSystem {
  const corruption = new CorruptionLog(log);
  const tree = new CipherTree(cipherDir, volume.names, volume.dirIv, corruption);
  const xattrs = new XattrCrypt(volume.core.eme, volume.names.b64, volume.content);
  return new ForwardFileSystem({ tree, content: volume.content, xattrs, corruption, pool: startCryptoPool(volume.workerSetup(), volume.content.aead.overhead) });
}
