import { readFile } from 'node:fs/promises';
import { widenReadahead, type FileSystem } from '@kmx/core';
import type { Config } from '../configfile/index.js';
import { openForward } from '../frontend/index.js';
import { openReverse, type PlainTree } from '../reverse/index.js';
import { Volume } from '../volume/index.js';
import type { Target } from './targets.js';

const READ_AHEAD_BYTES = 1024 * 1024;

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
  // The volume's native cipher contexts live as long as the mount.
  const destroy = view.destroy?.bind(view);
  view.destroy = async () => {
    try {
      await destroy?.();
    } finally {
      volume.dispose();
    }
  };
  const { mountpoint } = options;
  // 1 MiB of read-ahead keeps several reads in flight, so the crypto workers all have work
  // (libfuse3 sets as much itself; fuse-native would stay at the kernel's 128 KiB).
  if (mountpoint) view.init = () => void setImmediate(() => void widenReadahead(mountpoint, READ_AHEAD_BYTES));
  return view;
}
