import * as fs from 'node:fs';
import { libc } from '@kmx/core';
import { startCryptoPool } from '../cryptopool/index.js';
import type { Volume } from '../volume/index.js';
import { CipherTree } from './cipher-tree.js';
import { CorruptionLog } from './corruption-log.js';
import { ForwardFileSystem } from './forward-fs.js';
import { XattrCrypt } from './xattrs.js';

/**
 * The plaintext view of `cipherDir`, unlocked as `volume`. The CIPHERDIR is held open and
 * reached through its descriptor (as gocryptfs works from its root's), so the directories
 * above it play no part: callers are checked from the CIPHERDIR down, as in the view, and a
 * CIPHERDIR in a private home can be shared with allow_other.
 */
export function openForward(cipherDir: string, volume: Volume, log?: (line: string) => void): ForwardFileSystem {
  const corruption = new CorruptionLog(log);
  const rootFd = fs.openSync(cipherDir, libc.O_PATH | libc.O_DIRECTORY);
  // The trailing /. makes calls that do not follow a last symlink (lstat, lchown …) reach the directory.
  const tree = new CipherTree(`/proc/self/fd/${rootFd}/.`, volume.names, volume.dirIv, corruption, cipherDir);
  const xattrs = new XattrCrypt(volume.core.eme, volume.names.b64, volume.content);
  return new ForwardFileSystem({ tree, content: volume.content, xattrs, corruption, rootFd, pool: startCryptoPool(volume.workerSetup(), volume.content.aead.overhead) });
}
