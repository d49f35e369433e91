import { cfn, check, koffi } from './library.js';
import { SysError } from '../errors/index.js';

// The l* variants: extended attributes of the path itself, never of a symlink's target.

const ERANGE = 34;
const XATTR_SIZE_MAX = 65536;

/** Calls a size-probing xattr function (value or name list) until the buffer is big enough. */
function readSized(syscall: string, path: string, call: (buf: Buffer | null, size: number) => number): Buffer {
  for (let attempt = 0; attempt < 4; attempt++) {
    const size = check(call(null, 0), syscall, path);
    if (size === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(Math.min(size, XATTR_SIZE_MAX));
    const n = call(buf, buf.length);
    if (n >= 0) return buf.subarray(0, n);
    const errno = koffi().errno();
    if (errno !== ERANGE) throw new SysError(errno, syscall, path); // ERANGE: it grew meanwhile
  }
  throw SysError.of('ERANGE', syscall, path);
}

export function lgetxattr(path: string, name: string): Buffer {
  const fn = cfn('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)');
  return readSized('lgetxattr', path, (buf, size) => Number(fn(path, name, buf, size)));
}

export function llistxattr(path: string): string[] {
  const fn = cfn('long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)');
  const list = readSized('llistxattr', path, (buf, size) => Number(fn(path, buf, size)));
  return list.toString('utf8').split('\0').filter((name) => name !== '');
}

/** `flags`: XATTR_CREATE (1) or XATTR_REPLACE (2). */
export function lsetxattr(path: string, name: string, value: Buffer, flags: number): void {
  const fn = cfn('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)');
  check(fn(path, name, value, value.length, flags), 'lsetxattr', path);
}

export function lremovexattr(path: string, name: string): void {
  check(cfn('int lremovexattr(const char *path, const char *name)')(path, name), 'lremovexattr', path);
}

/** fsetxattr(2) on an open (not O_PATH) fd: kmxd sets ACLs on directories it pinned. */
export function fsetxattr(fd: number, name: string, value: Buffer, flags: number): void {
  const fn = cfn('int fsetxattr(int fd, const char *name, const uint8_t *value, size_t size, int flags)');
  check(fn(fd, name, value, value.length, flags), 'fsetxattr', name);
}
