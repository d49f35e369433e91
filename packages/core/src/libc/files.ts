import { SYS_openat2 } from './constants.js';
import { cfn, check, cstruct } from './library.js';

export interface OpenHow {
  flags: number;
  mode?: number;
  resolve: number;
}

/**
 * openat2(2): opens `path` beneath `dirfd` under RESOLVE_* rules. kmxd resolves user paths
 * with it once, to an fd, and never by string again. glibc 2.36 has no wrapper: raw syscall.
 */
export function openat2(dirfd: number, path: string, how: OpenHow): number {
  cstruct('kmx_open_how', { flags: 'uint64', mode: 'uint64', resolve: 'uint64' });
  const syscall = cfn('long syscall(long number, ...)');
  const value = { flags: how.flags, mode: how.mode ?? 0, resolve: how.resolve };
  return check(syscall(SYS_openat2, 'int', dirfd, 'const char *', path, 'kmx_open_how *', value, 'size_t', 24), 'openat2', path);
}

export function mkdirat(dirfd: number, path: string, mode: number): void {
  check(cfn('int mkdirat(int dirfd, const char *path, uint32_t mode)')(dirfd, path, mode), 'mkdirat', path);
}

export function symlinkat(target: string, dirfd: number, linkpath: string): void {
  check(cfn('int symlinkat(const char *target, int dirfd, const char *linkpath)')(target, dirfd, linkpath), 'symlinkat', linkpath);
}

/** mknodat(2): FIFOs, sockets and device nodes, which Node's fs cannot make. */
export function mknodat(dirfd: number, path: string, mode: number, dev: number): void {
  check(cfn('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)')(dirfd, path, mode, dev), 'mknodat', path);
}

/** A time for utimensat: seconds and nanoseconds, or UTIME_NOW / UTIME_OMIT in `nsec`. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/**
 * utimensat(2) with nanoseconds and UTIME_NOW/UTIME_OMIT, which Node's fs.utimes cannot
 * express (it takes float seconds and always sets both times). A null `path` sets the times
 * of the open file `dirfd` itself.
 */
export function utimensat(dirfd: number, path: string | null, atime: Timespec, mtime: Timespec, flags = 0): void {
  const times = new BigInt64Array([BigInt(atime.sec), BigInt(atime.nsec), BigInt(mtime.sec), BigInt(mtime.nsec)]);
  if (path === null) {
    // glibc's utimensat() refuses a NULL path with EINVAL; futimens() is the fd form of the same call.
    check(cfn('int futimens(int fd, const int64_t *times)')(dirfd, times), 'futimens');
    return;
  }
  const fn = cfn('int utimensat(int dirfd, const char *path, const int64_t *times, int flags)');
  check(fn(dirfd, path, times, flags), 'utimensat', path);
}

export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** fallocate(2): `mode` 0 allocates (growing the file), with the FALLOC_FL_* flags as the kernel has them. */
export function fallocate(fd: number, mode: number, offset: number, length: number): void {
  check(cfn('int fallocate(int fd, int mode, int64_t offset, int64_t len)')(fd, mode, offset, length), 'fallocate');
}

/**
 * fallocate(2) PUNCH_HOLE: the range reads as zeros from now on and gives its space back; the
 * size stays. Needs no free space, unlike writing zeros. Throws (EOPNOTSUPP) where the
 * filesystem cannot.
 */
export function punchHole(fd: number, offset: number, length: number): void {
  fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

/**
 * faccessat(2). With AT_EACCESS it checks with the effective, file-system identity (what
 * setfsuid set), where access(2) checks with the real uid, a root server's whatever fsuid is.
 */
export function faccessat(dirfd: number, path: string, mode: number, flags: number): void {
  check(cfn('int faccessat(int dirfd, const char *path, int mode, int flags)')(dirfd, path, mode, flags), 'access', path);
}

export function close(fd: number): void {
  check(cfn('int close(int fd)')(fd), 'close');
}

export function fchdir(fd: number): void {
  check(cfn('int fchdir(int fd)')(fd), 'fchdir');
}

/** renameat2(2): rename with RENAME_NOREPLACE (1) / RENAME_EXCHANGE (2), which Node's rename lacks. */
export function renameat2(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): void {
  const fn = cfn('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)');
  check(fn(olddirfd, oldpath, newdirfd, newpath, flags), 'renameat2', newpath);
}

/** unlinkat(2): with AT_REMOVEDIR removes an empty directory; always relative to a pinned dirfd. */
export function unlinkat(dirfd: number, path: string, flags: number): void {
  check(cfn('int unlinkat(int dirfd, const char *path, int flags)')(dirfd, path, flags), 'unlinkat', path);
}
