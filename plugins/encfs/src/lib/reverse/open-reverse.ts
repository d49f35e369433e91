import { startCryptoPool } from '../cryptopool/index.js';
import type { Volume } from '../volume/index.js';
import { InoMap } from './ino-map.js';
import type { PlainTree } from './plain-tree.js';
import { ReverseContent } from './reverse-content.js';
import { ReverseFileSystem } from './reverse-fs.js';
import { ReverseResolver } from './resolver.js';

/** The encrypted view of `tree`, unlocked as `volume`; `config` is what it shows as gocryptfs.conf. */
export function openReverse(tree: PlainTree, volume: Volume, config: { bytes: Buffer; file: string }): ReverseFileSystem {
  const resolver = new ReverseResolver(tree, volume.names, volume.dirIv);
  const pool = startCryptoPool(volume.workerSetup(), volume.content.aead.overhead);
  return new ReverseFileSystem({ resolver, content: new ReverseContent(volume.content, pool), inos: new InoMap(), config, pool });
}
