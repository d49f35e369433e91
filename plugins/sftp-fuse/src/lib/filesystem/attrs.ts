import type { Attr } from '@kmx/core';
import type { Stats } from 'ssh2';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/**
 * How remote owners appear locally (sshfs's idmap and uid/gid options): unchanged, the remote
 * login's ids shown as the mounting user's (and back on chown), or every file shown as one
 * uid/gid.
 */
export class IdMap {
  constructor(
    private readonly remote: { uid: number; gid: number } | undefined,
    private readonly local: { uid: number; gid: number },
    private readonly forced: { uid?: number | undefined; gid?: number | undefined } = {},
  ) {}

  uid(remoteUid: number): number {
    if (this.forced.uid !== undefined) return this.forced.uid;
    return this.remote && remoteUid === this.remote.uid ? this.local.uid : remoteUid;
  }

  gid(remoteGid: number): number {
    if (this.forced.gid !== undefined) return this.forced.gid;
    return this.remote && remoteGid === this.remote.gid ? this.local.gid : remoteGid;
  }

  /** A local id given to chown, as the server knows it. */
  remoteUid(localUid: number): number {
    return this.remote && localUid === this.local.uid ? this.remote.uid : localUid;
  }

  remoteGid(localGid: number): number {
    return this.remote && localGid === this.local.gid ? this.remote.gid : localGid;
  }
}

/** A FUSE Attr from SFTP v3 attributes (whole seconds; no link count, so 1 as sshfs reports). */
export function attrFromStats(s: Stats, ids: IdMap): Attr {
  const size = Number(s.size ?? 0);
  const mtime = { sec: Number(s.mtime ?? 0), nsec: 0 };
  return {
    mode: s.mode ?? 0,
    nlink: 1,
    uid: ids.uid(s.uid ?? 0),
    gid: ids.gid(s.gid ?? 0),
    size,
    blksize: 4096,
    blocks: Math.ceil(size / 512),
    atime: { sec: Number(s.atime ?? 0), nsec: 0 },
    mtime,
    ctime: mtime,
  };
}
