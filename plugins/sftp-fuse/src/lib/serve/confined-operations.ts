import * as fs from 'node:fs';
import { SysError, libc } from '@kmx/core';
import type { InputAttributes } from 'ssh2';
import { OpenFlag } from '../protocol/session.js';
import { applyAttrs, checkSizable } from './attributes.js';
import type { ConfinedRoot } from './confined-root.js';
import type { DirHandle } from './handles.js';

// The requests that take more than one call beneath the root: each path is resolved once, by
// the ConfinedRoot, and the calls act on the fd or pinned parent it gave; what a race could
// swap between two calls (the type of a file opened, the file a size cuts) is checked again.

const { O_PATH, O_NOFOLLOW, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS } = libc;
const { O_WRONLY, O_NONBLOCK, O_NOCTTY, S_IFMT, S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = fs.constants;

/** An fd of the regular file `path` names, opened with SFTP's `pflags`; anything else is refused. */
export function openRegularFile(root: ConfinedRoot, path: string, pflags: number, mode: number | undefined): number {
  const wants = (bit: number): boolean => (pflags & bit) !== 0;
  let flags = wants(OpenFlag.READ) && wants(OpenFlag.WRITE) ? fs.constants.O_RDWR : wants(OpenFlag.WRITE) ? fs.constants.O_WRONLY : fs.constants.O_RDONLY;
  if (wants(OpenFlag.CREAT)) flags |= fs.constants.O_CREAT;
  if (wants(OpenFlag.TRUNC)) flags |= fs.constants.O_TRUNC;
  if (wants(OpenFlag.EXCL)) flags |= fs.constants.O_EXCL;
  if (wants(OpenFlag.APPEND)) flags |= fs.constants.O_APPEND;
  // Only regular files are served: opening a FIFO would block the whole server, and a device
  // may act on open. The type is checked before the open, and again after it (O_NONBLOCK, in
  // case a rename slipped something else in between).
  const notRegular = (st: fs.Stats): SysError | undefined => (st.isFile() ? undefined : SysError.of(st.isDirectory() ? 'EISDIR' : 'EINVAL', 'open', path, { detail: 'only regular files can be opened' }));
  let existing: SysError | undefined;
  try {
    existing = root.pinned(path, true, (pinned) => notRegular(fs.fstatSync(pinned)));
  } catch (err) {
    if (!(err instanceof SysError && err.code === 'ENOENT' && wants(OpenFlag.CREAT))) throw err;
  }
  if (existing) throw existing;
  const fd = root.open(path, flags | O_NOCTTY | O_NONBLOCK, (mode ?? 0o666) & 0o7777);
  const refused = notRegular(fs.fstatSync(fd));
  if (refused) {
    fs.closeSync(fd);
    throw refused;
  }
  return fd;
}

/**
 * SETSTAT (`follow`) and lsetstat@openssh.com: the object is pinned beneath the root, its
 * final symlink followed inside the root or not at all, and changed through that fd. A size
 * needs an fd open for writing: only a regular file gets one, opened beneath the root again
 * (O_NOFOLLOW without `follow`) and checked to be the very file pinned; a symlink's size is
 * refused (truncate(2) would cut the file it points to).
 */
export function setAttributes(root: ConfinedRoot, path: string, attrs: InputAttributes, follow: boolean): void {
  root.pinned(path, follow, (pinned) => {
    if (attrs.size === undefined) return applyAttrs(pinned, attrs);
    const st = fs.fstatSync(pinned);
    checkSizable(st, path);
    const fd = root.open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
    try {
      const now = fs.fstatSync(fd);
      if (now.dev !== st.dev || now.ino !== st.ino) throw SysError.of('EAGAIN', 'setstat', path, { detail: 'it was replaced meanwhile' });
      applyAttrs(fd, attrs);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** The stat of one listed name: '.' is the directory, '..' its parent inside the root (the root's own is the root). */
export function entryStat(root: ConfinedRoot, h: DirHandle, name: string): fs.BigIntStats {
  if (name === '.') return fs.fstatSync(h.fd, { bigint: true });
  if (name === '..') return root.pinned(`${h.path.replace(/\/+$/, '')}/..`, true, (fd) => fs.fstatSync(fd, { bigint: true }));
  // One plain name from the listing, beneath the directory's fd, not followed.
  const fd = libc.openat2(h.fd, name, { flags: O_PATH | O_NOFOLLOW | libc.O_CLOEXEC, resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS });
  try {
    return fs.fstatSync(fd, { bigint: true });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * mknod of kmx's extension: one name beneath its pinned parent, with mknodat (which never
 * follows it, EEXIST if it is there). FIFOs, sockets and regular files only: a device node is
 * never made (EPERM), whoever the server runs as; the client's rdev is not even read.
 */
export function mknod(root: ConfinedRoot, path: string, mode: number): void {
  const type = mode & S_IFMT;
  if (type === S_IFCHR || type === S_IFBLK) throw SysError.of('EPERM', 'mknod', path, { detail: 'kmx sftp serve makes no device nodes' });
  if (type !== S_IFIFO && type !== S_IFSOCK && type !== S_IFREG) throw SysError.of('EINVAL', 'mknod', path);
  root.entry(path, 'mknod', (dirFd, name) => libc.mknodat(dirFd, name, type | (mode & 0o7777), 0));
}

export function rename(root: ConfinedRoot, from: string, to: string, flags: number): void {
  root.beneath(from, (fromDir, fromName) => root.beneath(to, (toDir, toName) => {
    if (fromName === null || toName === null) throw SysError.of('EBUSY', 'rename', to);
    libc.renameat2(fromDir, fromName, toDir, toName, flags);
  }));
}
