import * as fs from 'node:fs';
import { SysError, libc } from '@kmx/core';

const { O_PATH, O_DIRECTORY, O_CLOEXEC, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS } = libc;

/**
 * A directory served as if it were `/`, the way a chroot would: every client path is resolved
 * by the kernel beneath the root's fd with RESOLVE_IN_ROOT, so `..` stops at the root, and
 * absolute paths and symlinks (absolute or relative) are taken relative to it — nothing
 * outside can be named. The final component of operations that must not follow it (lstat,
 * unlink, rename, symlink, readlink) is used beneath its resolved parent's fd, through
 * /proc/self/fd/N/NAME, where only the last, plain NAME is looked up by string.
 */
export class ConfinedRoot {
  readonly fd: number;
  /** The root's real path on this host, to turn resolved fds back into client paths. */
  readonly realPath: string;

  constructor(root: string) {
    this.realPath = fs.realpathSync(root);
    this.fd = fs.openSync(this.realPath, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }

  /** An fd of whatever `path` names, following symlinks inside the root. `flags` O_PATH by default. */
  open(path: string, flags = O_PATH, mode = 0): number {
    // openat2 refuses a mode without O_CREAT (EINVAL), unlike open(2).
    const how = { flags: flags | O_CLOEXEC, mode: flags & fs.constants.O_CREAT ? mode : 0, resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    return libc.openat2(this.fd, path === '' ? '.' : path, how);
  }

  /** Runs `fn` with a path that names what `path` resolves to (symlinks followed, inside the root). */
  followed<T>(path: string, fn: (resolved: string) => T): T {
    const fd = this.open(path);
    try {
      return fn(`/proc/self/fd/${fd}`);
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
    const trimmed = path.replace(/\/+$/, '');
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

  /** `path`'s last component beneath its parent, as a path string for Node's fs (not followed). */
  entry<T>(path: string, syscall: string, fn: (entryPath: string) => T): T {
    return this.beneath(path, (dirFd, name) => {
      if (name === null) throw SysError.of('EBUSY', syscall, path, { detail: 'not on the root or a dot name' });
      return fn(`/proc/self/fd/${dirFd}/${name}`);
    });
  }

  /** The client's name for a host path beneath the root ('/' for the root itself). */
  clientPath(hostPath: string): string {
    if (hostPath === this.realPath) return '/';
    if (hostPath.startsWith(`${this.realPath}/`)) return hostPath.slice(this.realPath.length);
    if (this.realPath === '/') return hostPath;
    return '/';
  }

  /** The canonical client path (sftp's REALPATH): symlinks resolved; a missing last name is kept. */
  realpath(path: string): string {
    try {
      return this.followed(path, (p) => this.clientPath(fs.readlinkSync(p)));
    } catch (err) {
      if (!(err instanceof SysError) || err.code !== 'ENOENT') throw err;
      return this.beneath(path, (dirFd, name) => {
        const dir = this.clientPath(fs.readlinkSync(`/proc/self/fd/${dirFd}`));
        if (name === null) return dir;
        return dir === '/' ? `/${name}` : `${dir}/${name}`;
      });
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
