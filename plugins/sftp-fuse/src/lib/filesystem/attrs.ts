import type { Attr } from '@kmx/core';
import type { Stats } from 'ssh2';
import { decodeRecord, kmxPair, type StatRecord } from '../protocol/kmx-posix.js';

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

/**
 * st_blocks where the server does not say: the size rounded up to 4 KiB blocks, as most local
 * filesystems allocate them (and sshfs reports).
 */
export function estimatedBlocks(size: number): number {
  return Math.ceil(size / 4096) * 8;
}

/**
 * The st_ino shown for a file on another filesystem than the mounted directory's (a mount
 * beneath it on the server): its inode number mixed with its device's, so that it does not
 * pass for a file of the root's filesystem with the same number. 52 bits, never 0.
 */
function foreignIno(dev: bigint, ino: bigint): number {
  const mixed = BigInt.asUintN(52, (dev * 0x100000001b3n) ^ ino ^ (dev << 20n));
  return Number(mixed) || 1;
}

/**
 * A FUSE Attr from SFTP attributes. SFTP v3 has whole seconds (unsigned 32-bit), no ctime, no
 * link count, no inode number: ctime is the mtime and the link count 1, as sshfs reports. With
 * kmx's extension (`rootDev` given, the mounted directory's device), the server's STAT RECORD
 * says all of it.
 */
export function attrFromStats(s: Stats, ids: IdMap, rootDev?: bigint): Attr {
  const size = Number(s.size ?? 0);
  const record = rootDev === undefined ? undefined : kmxRecord(s);
  if (record) {
    return {
      mode: s.mode ?? 0,
      nlink: record.nlink,
      uid: ids.uid(s.uid ?? 0),
      gid: ids.gid(s.gid ?? 0),
      size,
      ino: record.dev === rootDev ? Number(record.ino) : foreignIno(record.dev, record.ino),
      rdev: record.rdev,
      blksize: record.blksize || 4096,
      blocks: record.blocks,
      atime: record.atime,
      mtime: record.mtime,
      ctime: record.ctime,
    };
  }
  const mtime = { sec: Number(s.mtime ?? 0), nsec: 0 };
  return {
    mode: s.mode ?? 0,
    nlink: 1,
    uid: ids.uid(s.uid ?? 0),
    gid: ids.gid(s.gid ?? 0),
    size,
    blksize: 4096,
    blocks: estimatedBlocks(size),
    atime: { sec: Number(s.atime ?? 0), nsec: 0 },
    mtime,
    ctime: mtime,
  };
}

/**
 * Whether attributes are SFTP v3's own (no inode number, ctime the mtime), not the server's
 * whole truth (kmx's extension): a change through the mount then moves no ctime of theirs.
 */
export function fromV3(attr: Attr): boolean {
  return attr.ino === undefined;
}

/** The STAT RECORD kmx's extension adds to attributes, if they carry one. */
export function kmxRecord(s: Stats): StatRecord | undefined {
  const data = kmxPair(s);
  return data ? decodeRecord(data) : undefined;
}
