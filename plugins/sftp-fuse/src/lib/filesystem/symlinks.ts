import { SysError, type Attr, type DirEntry } from '@kmx/core';
import type { Stats } from 'ssh2';
import type { SftpSession } from '../protocol/session.js';
import { S_IFLNK, S_IFMT } from './attrs.js';

/**
 * With follow_symlinks a name shows what it points to. A link whose target is missing stays
 * the link it is, in getattr as in listings: else it would be listed but not found, and could
 * be neither seen nor removed through the mount.
 */
export async function statFollowing(session: SftpSession, remote: string): Promise<Stats> {
  try {
    return await session.stat(remote);
  } catch (err) {
    if (err instanceof SysError && err.code === 'ENOENT') return session.lstat(remote);
    throw err;
  }
}

/** Replaces the attributes of every symlink in a listing by its target's, where that exists. */
export async function followLinks(entries: DirEntry[], stat: (name: string) => Promise<Stats>, toAttr: (stats: Stats) => Attr): Promise<void> {
  await Promise.all(entries.filter((e) => e.attr !== undefined && (e.attr.mode & S_IFMT) === S_IFLNK).map(async (e) => {
    const target = await stat(e.name).catch(() => undefined);
    if (target) e.attr = toAttr(target);
  }));
}
