import { readFile } from 'node:fs/promises';
import type { FileSystem } from '@kmx/core';
import type { Config } from '../configfile/index.js';
import { openForward } from '../frontend/index.js';
import { openReverse, type PlainTree } from '../reverse/index.js';
import { Volume } from '../volume/index.js';
import { raiseReadAhead } from './readahead.js';
import type { Target } from './targets.js';

/**
 * The filesystem a mount serves. A reverse view shows its config as gocryptfs.conf: the
 * file's own bytes for a plain directory (what gocryptfs shows), and for a multi-source
 * config the same config without its list of sources (paths stay private; stock gocryptfs
 * needs only the key material to restore).
 */
export async function openView(target: Target, config: Config, master: Buffer, options: { tree?: PlainTree | undefined; mountpoint?: string } = {}): Promise<FileSystem> {
  const volume = new Volume(config, master);
  let view: FileSystem;
  if (target.kind === 'forward') view = openForward(target.dir, volume);
  else {
    const bytes = target.kind === 'reverse' ? await readFile(target.configFile) : Buffer.from(config.serialize({ withSources: false }));
    view = openReverse(options.tree!, volume, { bytes, file: target.configFile });
  }
  const { mountpoint } = options;
  // Once the kernel has started the session, raise its read-ahead: asynchronously, as the
  // stat involved is answered by this very mount.
  if (mountpoint) view.init = () => void setImmediate(() => void raiseReadAhead(mountpoint));
  return view;
}
