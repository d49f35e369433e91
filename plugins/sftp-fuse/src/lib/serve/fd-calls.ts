import * as fs from 'node:fs';
import { SysError, libc } from '@kmx/core';

// The few system calls the confined server needs that @kmx/core's libc layer does not bind:
// the forms that act on a file descriptor (O_PATH ones included, through AT_EMPTY_PATH) or on
// one name beneath a pinned directory, never on a path string. Loaded on first use, like
// core's (and through core's koffi).

type CFunction = ReturnType<ReturnType<ReturnType<typeof libc.koffi>['load']>['func']>;

let library: ReturnType<ReturnType<typeof libc.koffi>['load']> | undefined;
const functions = new Map<string, CFunction>();

function cfn(prototype: string): CFunction {
  let fn = functions.get(prototype);
  if (!fn) {
    library ??= libc.koffi().load('libc.so.6');
    fn = library.func(prototype);
    functions.set(prototype, fn);
  }
  return fn;
}

/** Throws a SysError when a call failed; on the line of the call (errno is the thread's, live). */
function check(result: number | bigint, syscall: string, path?: string): number {
  if (result < 0) throw new SysError(libc.koffi().errno(), syscall, path);
  return Number(result);
}

function syscall(): CFunction {
  return cfn('long syscall(long number, ...)');
}

// Raw system call numbers: x86-64 has its own table, arm64 the generic one (≥ 424 are shared).
const SYS_getdents64 = process.arch === 'arm64' ? 61 : 217;
const SYS_fchmodat2 = 452;
const ENOSYS = 38;
const { AT_EMPTY_PATH } = libc;

/** fchownat(2). With AT_EMPTY_PATH and path '' it changes the file `fd` refers to (a symlink too, for an O_PATH|O_NOFOLLOW fd). */
export function fchownat(fd: number, path: string, uid: number, gid: number, flags: number): void {
  check(cfn('int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)')(fd, path, uid, gid, flags), 'fchownat', path);
}

/**
 * fchmodat2(2) (Linux 6.6): with AT_EMPTY_PATH and path '' it changes the mode of the file
 * `fd` refers to, O_PATH fds included. A symlink's mode cannot change (EOPNOTSUPP).
 */
export function fchmodat2(fd: number, path: string, mode: number, flags: number): void {
  const result = Number(syscall()(SYS_fchmodat2, 'int', fd, 'const char *', path, 'uint32_t', mode, 'int', flags));
  if (result >= 0) return;
  const errno = libc.koffi().errno();
  if (errno !== ENOSYS || path !== '' || !(flags & AT_EMPTY_PATH)) throw new SysError(errno, 'fchmodat2', path);
  // Before Linux 6.6: what glibc does for fchmodat(AT_SYMLINK_NOFOLLOW), through the fd's own
  // magic link (exactly that inode; no name is looked up). Callers never pass a symlink here.
  fs.chmodSync(`/proc/self/fd/${fd}`, mode);
}

/** readlinkat(2). Path '' reads the symlink an O_PATH|O_NOFOLLOW fd refers to. */
export function readlinkat(fd: number, path: string): string {
  const buffer = Buffer.alloc(4097);
  const n = check(cfn('long readlinkat(int dirfd, const char *path, _Out_ uint8_t *buf, size_t size)')(fd, path, buffer, buffer.length), 'readlinkat', path);
  if (n >= buffer.length) throw SysError.of('ENAMETOOLONG', 'readlinkat', path);
  return buffer.toString('utf8', 0, n);
}

/** linkat(2): a new name `newpath` beneath `newdirfd` for `oldpath` beneath `olddirfd` (a symlink is linked, not followed, without AT_SYMLINK_FOLLOW). */
export function linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): void {
  check(cfn('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)')(olddirfd, oldpath, newdirfd, newpath, flags), 'linkat', newpath);
}

export interface FsStats {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/** fstatfs(2) of the filesystem that holds `fd` (an O_PATH fd will do). */
export function fstatfs(fd: number): FsStats {
  // struct statfs on 64-bit Linux (x86-64 and the generic layout alike): f_type, f_bsize,
  // f_blocks, f_bfree, f_bavail, f_files, f_ffree, … each 8 bytes; 120 bytes in all.
  const b = Buffer.alloc(120);
  check(cfn('int fstatfs(int fd, _Out_ uint8_t *buf)')(fd, b), 'fstatfs');
  const field = (i: number): number => Number(b.readBigUInt64LE(i * 8));
  return { bsize: field(1), blocks: field(2), bfree: field(3), bavail: field(4), files: field(5), ffree: field(6) };
}

/** Every name in the directory open as `fd` (getdents64(2) from its current offset to the end), '.' and '..' included. */
export function readDirectory(fd: number): string[] {
  const buffer = Buffer.alloc(32 * 1024);
  const names: string[] = [];
  for (;;) {
    const n = check(syscall()(SYS_getdents64, 'int', fd, 'uint8_t *', buffer, 'size_t', buffer.length), 'getdents64');
    if (n === 0) return names;
    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
    for (let p = 0; p < n;) {
      const reclen = buffer.readUInt16LE(p + 16);
      const end = buffer.indexOf(0, p + 19);
      names.push(buffer.toString('utf8', p + 19, end < 0 || end > p + reclen ? p + reclen : end));
      p += reclen;
    }
  }
}
