import { fchmodSync, fchownSync, fstatSync, mkdirSync } from 'node:fs';
import { SysError } from '../errors/index.js';
import {
  AT_FDCWD, AT_REMOVEDIR, O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_PATH, O_RDONLY,
  RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV,
} from '../libc/constants.js';
import { close, mkdirat, openat2, unlinkat } from '../libc/files.js';
import { fsetxattr } from '../libc/xattr.js';

// /run/media and the per-user directories below it, held as fds from the moment they are made:
// every later step is an *at call on a pinned fd, never a path string resolved again.

const BENEATH = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
const ACL_ACCESS = 'system.posix_acl_access';

/** POSIX ACL u::rwx,u:UID:r-x,g::r-x,m::r-x,o::--- in the kernel's xattr format. */
function userReadAcl(uid: number): Buffer {
  const entries: Array<[number, number, number]> = [[0x01, 7, 0xffffffff], [0x02, 5, uid], [0x04, 5, 0xffffffff], [0x10, 5, 0xffffffff], [0x20, 0, 0xffffffff]];
  const buf = Buffer.alloc(4 + entries.length * 8);
  buf.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    buf.writeUInt16LE(tag, 4 + i * 8);
    buf.writeUInt16LE(perm, 6 + i * 8);
    buf.writeUInt32LE(id, 8 + i * 8);
  });
  return buf;
}

function mustBeRootDir(fd: number, path: string, mode: number): void {
  const st = fstatSync(fd);
  if (!st.isDirectory() || st.uid !== 0) throw SysError.of('EPERM', 'media', path, { detail: 'not a directory owned by root' });
  if ((st.mode & 0o022) !== 0 || (st.mode & 0o777) !== mode) fchmodSync(fd, mode);
}

export interface MediaUser {
  uid: number;
  name: string;
}

export class MediaRoot {
  private rootFd: number | undefined;
  private readonly userFds = new Map<number, number>();

  constructor(readonly root: string = '/run/media') {}

  /** Opens (creating it if needed) the media root: root-owned, 0755, not a symlink. */
  open(): void {
    if (this.rootFd !== undefined) return;
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    const fd = openat2(AT_FDCWD, this.root, { flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, resolve: RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS });
    try {
      mustBeRootDir(fd, this.root, 0o755);
    } catch (err) {
      close(fd);
      throw err;
    }
    this.rootFd = fd;
  }

  close(): void {
    for (const fd of this.userFds.values()) close(fd);
    this.userFds.clear();
    if (this.rootFd !== undefined) close(this.rootFd);
    this.rootFd = undefined;
  }

  /** /run/media/<user>, as the path the caller's namespace is expected to show. */
  userPath(user: MediaUser): string {
    return `${this.root}/${user.name}`;
  }

  /** The pinned fd of /run/media/<user>: root-owned 0750, readable by the user through an ACL. */
  userDir(user: MediaUser): number {
    const cached = this.userFds.get(user.uid);
    if (cached !== undefined) return cached;
    this.open();
    const rootFd = this.rootFd!;
    try {
      mkdirat(rootFd, user.name, 0o750);
    } catch (err) {
      if (!(err instanceof SysError && err.code === 'EEXIST')) throw err;
    }
    const fd = openat2(rootFd, user.name, { flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, resolve: BENEATH });
    try {
      const st = fstatSync(fd);
      if (!st.isDirectory()) throw SysError.of('ENOTDIR', 'media', this.userPath(user));
      fchownSync(fd, 0, 0);
      fchmodSync(fd, 0o750);
      try {
        fsetxattr(fd, ACL_ACCESS, userReadAcl(user.uid), 0);
      } catch (err) {
        // A filesystem without ACLs: fall back to a world-searchable directory, as /run/media is.
        if (!(err instanceof SysError && (err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUP'))) throw err;
        fchmodSync(fd, 0o755);
      }
    } catch (err) {
      close(fd);
      throw err;
    }
    this.userFds.set(user.uid, fd);
    return fd;
  }

  /**
   * Makes the mount directory (0700 root) and pins it as an O_PATH fd. It must not exist:
   * mkdirat's EEXIST is the refusal, so a planted directory or symlink is never used.
   */
  createMountDir(user: MediaUser, name: string): number {
    const userFd = this.userDir(user);
    try {
      mkdirat(userFd, name, 0o700);
    } catch (err) {
      if (err instanceof SysError && err.code === 'EEXIST') {
        throw SysError.of('EEXIST', 'mkdir', `${this.userPath(user)}/${name}`, { hint: 'choose another name, or unmount the mount of that name (kmx nfs list)' });
      }
      throw err;
    }
    try {
      return openat2(userFd, name, { flags: O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, resolve: BENEATH });
    } catch (err) {
      this.removeMountDir(user, name);
      throw err;
    }
  }

  /** Removes an (unmounted, empty) mount directory; a busy or non-empty one stays. */
  removeMountDir(user: MediaUser, name: string): boolean {
    try {
      unlinkat(this.userDir(user), name, AT_REMOVEDIR);
      return true;
    } catch (err) {
      if (err instanceof SysError && err.code === 'ENOENT') return true;
      return false;
    }
  }
}
