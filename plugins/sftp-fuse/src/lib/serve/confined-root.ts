import * as fs from 'node:fs';
import { SysError, libc } from '@kmx/core';

const { O_PATH, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, RESOLVE_IN_ROOT, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS } = libc;

/** The longest path string the kernel takes (PATH_MAX, less its NUL). */
const PATH_LIMIT = 4095;

/**
 * A scoped lookup fails with EAGAIN when a rename or mount anywhere raced with a '..' in it
 * (the kernel cannot then be sure '..' stayed beneath the root): such a lookup is tried again.
 */
const EAGAIN_RETRIES = 32;

/**
 * A directory served as if it were `/`, the way a chroot would. Every client path is resolved
 * once, by the kernel, beneath the root's fd: openat2 with RESOLVE_IN_ROOT (a scoped lookup
 * like RESOLVE_BENEATH, with the same checks: `..` cannot climb above the root, a rename racing
 * a `..` fails the lookup, magic links are refused by RESOLVE_NO_MAGICLINKS) so `..` stops at
 * the root and absolute paths and symlinks (absolute or relative) are taken relative to it:
 * nothing outside can be named. The result is an fd, and every operation then acts on that fd
 * (f*, *at with AT_EMPTY_PATH) or, for operations on a name (unlink, mkdir, rename, symlink,
 * link), on one plain name beneath its pinned parent's fd with the *at call, which does not
 * follow that name. Nothing else resolves a client's path: a size reopens its file this same
 * way and checks it is the same inode, and REALPATH resolves its answer again to check it.
 *
 * A hard link inside the root to a file elsewhere is that file by inode, and is served like
 * any file under the root: confinement is of paths. A client cannot make one to a file
 * outside: the source of hardlink@openssh.com is a name beneath the root too, and a symlink
 * there is linked, not followed.
 */
export class ConfinedRoot {
  readonly fd: number;
  /** The root's real path on this host, to turn resolved fds back into client paths. */
  readonly realPath: string;

  constructor(root: string) {
    this.realPath = fs.realpathSync(root);
    this.fd = fs.openSync(this.realPath, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }

  /**
   * An fd of whatever `path` names, beneath the root, symlinks followed inside it (the last
   * one too, unless `flags` has O_NOFOLLOW). `flags` O_PATH by default; the caller closes it.
   */
  open(path: string, flags = O_PATH, mode = 0): number {
    // openat2 refuses a mode without O_CREAT (EINVAL), unlike open(2).
    const how = { flags: flags | O_CLOEXEC, mode: flags & fs.constants.O_CREAT ? mode : 0, resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    const relative = clientPath(path, 'open');
    if (Buffer.byteLength(relative) > PATH_LIMIT) return this.openLong(relative, how);
    return openat2(this.fd, relative === '' ? '.' : relative, how);
  }

  /**
   * A path longer than the kernel takes in one string (a client's mount of a directory deep in
   * the tree, or a deep tree): its leading directories, as many as fit, are resolved as any
   * path is (beneath the root, in it); each further piece beneath the directory the piece
   * before gave, with RESOLVE_BENEATH. So every piece stays beneath the root, and what the
   * path names is what one lookup would give, or nothing: a '..' or an absolute symlink that
   * would climb out of a piece's directory fails the lookup, with ENAMETOOLONG (the answer a
   * server that takes paths in one piece gives).
   */
  private openLong(relative: string, how: { flags: number; mode: number; resolve: number }): number {
    let rest = relative;
    let dir = this.fd;
    let resolve = how.resolve;
    try {
      while (Buffer.byteLength(rest) > PATH_LIMIT) {
        // The longest head that fits and ends at a '/' (bytes and UTF-16 agree on '/').
        const head = Buffer.from(rest).subarray(0, PATH_LIMIT + 1);
        const cut = head.lastIndexOf(0x2f);
        if (cut <= 0) throw SysError.of('ENAMETOOLONG', 'open', relative);
        const piece = head.subarray(0, cut).toString();
        rest = Buffer.from(rest).subarray(cut + 1).toString().replace(/^\/+/, '');
        const next = openat2(dir, piece, { flags: O_PATH | O_DIRECTORY | O_CLOEXEC, mode: 0, resolve });
        if (dir !== this.fd) fs.closeSync(dir);
        dir = next;
        resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
      }
      return openat2(dir, rest === '' ? '.' : rest, { ...how, resolve });
    } catch (err) {
      if (err instanceof SysError && err.code === 'EXDEV') throw SysError.of('ENAMETOOLONG', 'open', relative, { detail: 'a long path that leaves one of its pieces' });
      throw err;
    } finally {
      if (dir !== this.fd) fs.closeSync(dir);
    }
  }

  /** An O_PATH fd of what `path` names: its final symlink followed (inside the root) or, with `follow` false, the link itself. */
  pin(path: string, follow: boolean): number {
    return this.open(path, O_PATH | (follow ? 0 : O_NOFOLLOW));
  }

  /** Runs `fn` with `pin(path, follow)`, closed afterwards. */
  pinned<T>(path: string, follow: boolean, fn: (fd: number) => T): T {
    const fd = this.pin(path, follow);
    try {
      return fn(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Runs `fn` with the resolved parent directory's fd and the last component, not followed.
   * A path whose last component is '.', '..' or nothing names a directory by resolution:
   * `fn` gets (fd of it, null) then.
   */
  beneath<T>(path: string, fn: (dirFd: number, name: string | null) => T): T {
    const trimmed = clientPath(path, 'open').replace(/\/+$/, '');
    const slash = trimmed.lastIndexOf('/');
    const name = slash < 0 ? trimmed : trimmed.slice(slash + 1);
    const parent = slash < 0 ? '.' : trimmed.slice(0, slash) || '/';
    const plain = name !== '' && name !== '.' && name !== '..';
    const fd = this.open(plain ? parent : trimmed || '/', O_PATH | O_DIRECTORY);
    try {
      return fn(fd, plain ? name : null);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** `path`'s parent (pinned) and last name, for an *at call on that name; the root and dot names are refused. */
  entry<T>(path: string, syscall: string, fn: (dirFd: number, name: string) => T): T {
    return this.beneath(path, (dirFd, name) => {
      if (name === null) throw SysError.of('EBUSY', syscall, path, { detail: 'not on the root or a dot name' });
      return fn(dirFd, name);
    });
  }

  /**
   * The canonical client path (sftp's REALPATH): symlinks resolved; a missing last name is kept.
   * The answer names the object it was resolved to: it is resolved again and compared.
   */
  realpath(path: string): string {
    for (let attempt = 0; attempt < EAGAIN_RETRIES; attempt++) {
      const found = this.canonical(path);
      if (found !== undefined) return found;
    }
    throw SysError.of('EAGAIN', 'realpath', path, { detail: 'the tree kept changing' });
  }

  private canonical(path: string): string | undefined {
    try {
      return this.pinned(path, true, (fd) => this.verifiedName(fd));
    } catch (err) {
      if (!(err instanceof SysError) || err.code !== 'ENOENT') throw err;
    }
    // Only the last name may be missing: its parent must resolve.
    return this.beneath(path, (dirFd, name) => {
      const dir = this.verifiedName(dirFd);
      if (dir === undefined || name === null) return dir;
      return dir === '/' ? `/${name}` : `${dir}/${name}`;
    });
  }

  /** The client path of what `fd` refers to, if resolving that path now gives the same object. */
  private verifiedName(fd: number): string | undefined {
    const name = this.clientPathOf(fd);
    if (name === undefined) return undefined;
    const st = fs.fstatSync(fd);
    try {
      const again = this.pinned(name, true, (check) => fs.fstatSync(check));
      return again.dev === st.dev && again.ino === st.ino ? name : undefined;
    } catch (err) {
      if (err instanceof SysError) return undefined; // renamed meanwhile: try again
      throw err;
    }
  }

  /** The client's name for what `fd` refers to, from the kernel's name for it; undefined when that is not beneath the root. */
  private clientPathOf(fd: number): string | undefined {
    const hostPath = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (hostPath === this.realPath) return '/';
    if (this.realPath === '/') return hostPath;
    if (hostPath.startsWith(`${this.realPath}/`)) return hostPath.slice(this.realPath.length);
    return undefined;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** openat2, tried again while a rename races a '..' in the lookup (EAGAIN). */
function openat2(dirFd: number, path: string, how: { flags: number; mode: number; resolve: number }): number {
  for (let attempt = 0; ; attempt++) {
    try {
      return libc.openat2(dirFd, path, how);
    } catch (err) {
      if (!(err instanceof SysError) || err.code !== 'EAGAIN' || attempt >= EAGAIN_RETRIES) throw err;
    }
  }
}

/** A client path as it will be looked up: refused if it holds a NUL (C would cut it there). */
export function clientPath(path: string, syscall: string): string {
  if (path.includes('\0')) throw SysError.of('EINVAL', syscall, undefined, { detail: 'a NUL in a path' });
  return path;
}
