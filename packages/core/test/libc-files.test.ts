import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, throwsSysError } from '@kmx/core/testing';
import * as libc from '../src/libc/index.js';

/** The *at file calls and extended attributes against the real kernel, in temporary directories. */


/** Runs `body` with an O_PATH fd of `dir`, closed afterwards. */
function withDirFd<T>(dir: string, body: (dirfd: number) => T): T {
  const dirfd = libc.openat2(libc.AT_FDCWD, dir, { flags: libc.O_PATH | libc.O_DIRECTORY | libc.O_CLOEXEC, resolve: 0 });
  try {
    return body(dirfd);
  } finally {
    libc.close(dirfd);
  }
}

const S_IFIFO = 0o010000;

describe('libc: openat2', () => {
  it('opens beneath a directory fd and refuses escapes with EXDEV', () => temporaryDirectory(async (dir) => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'f'), 'inside');
    symlinkSync('../..', join(dir, 'sub', 'up'));
    symlinkSync('/etc', join(dir, 'sub', 'absolute'));
    withDirFd(join(dir, 'sub'), (dirfd) => {
      const fd = libc.openat2(dirfd, 'f', { flags: libc.O_RDONLY | libc.O_CLOEXEC, resolve: libc.RESOLVE_BENEATH });
      try {
        assert.equal(readFileSync(fd, 'utf8'), 'inside');
      } finally {
        libc.close(fd);
      }
      const beneath = { flags: libc.O_PATH | libc.O_CLOEXEC, resolve: libc.RESOLVE_BENEATH };
      throwsSysError(() => libc.openat2(dirfd, '../sub/f', beneath), { code: 'EXDEV', errno: 18, syscall: 'openat2', path: '../sub/f' });
      throwsSysError(() => libc.openat2(dirfd, 'up', beneath), { code: 'EXDEV', errno: 18, syscall: 'openat2', path: 'up' });
      throwsSysError(() => libc.openat2(dirfd, 'absolute/passwd', beneath), { code: 'EXDEV', errno: 18, syscall: 'openat2', path: 'absolute/passwd' });
      throwsSysError(() => libc.openat2(dirfd, 'missing', beneath), { code: 'ENOENT', errno: 2, syscall: 'openat2', path: 'missing' });
    });
  }));

  it('refuses any symlink with RESOLVE_NO_SYMLINKS (ELOOP) and a symlink as last component with O_NOFOLLOW', () => temporaryDirectory(async (dir) => {
    mkdirSync(join(dir, 'real'));
    writeFileSync(join(dir, 'real', 'f'), '');
    symlinkSync('real', join(dir, 'link'));
    withDirFd(dir, (dirfd) => {
      const noSymlinks = { flags: libc.O_PATH | libc.O_CLOEXEC, resolve: libc.RESOLVE_NO_SYMLINKS };
      throwsSysError(() => libc.openat2(dirfd, 'link/f', noSymlinks), { code: 'ELOOP', errno: 40, syscall: 'openat2', path: 'link/f' });
      libc.close(libc.openat2(dirfd, 'real/f', noSymlinks));
      const noFollow = { flags: libc.O_RDONLY | libc.O_NOFOLLOW | libc.O_CLOEXEC, resolve: 0 };
      throwsSysError(() => libc.openat2(dirfd, 'link', noFollow), { code: 'ELOOP', errno: 40, syscall: 'openat2', path: 'link' });
      // With O_DIRECTORY the kernel names the other problem first.
      throwsSysError(() => libc.openat2(dirfd, 'link', { ...noFollow, flags: noFollow.flags | libc.O_DIRECTORY }), { code: 'ENOTDIR', errno: 20, syscall: 'openat2', path: 'link' });
      // Unknown resolve bits are refused, not ignored.
      throwsSysError(() => libc.openat2(dirfd, 'real', { flags: libc.O_PATH, resolve: 0x4000 }), { code: 'EINVAL', errno: 22, syscall: 'openat2', path: 'real' });
    });
  }));
});

describe('libc: mkdirat, symlinkat, mknodat, renameat2, fchdir', () => {
  it('makes directories with an exact mode, and reports EEXIST', () => temporaryDirectory(async (dir) => {
    withDirFd(dir, (dirfd) => {
      const previous = process.umask(0);
      try {
        libc.mkdirat(dirfd, 'd', 0o711);
      } finally {
        process.umask(previous);
      }
      assert.equal(statSync(join(dir, 'd')).mode & 0o7777, 0o711);
      throwsSysError(() => libc.mkdirat(dirfd, 'd', 0o700), { code: 'EEXIST', errno: 17, syscall: 'mkdirat', path: 'd' });
      throwsSysError(() => libc.mkdirat(dirfd, 'no/such', 0o700), { code: 'ENOENT', errno: 2, syscall: 'mkdirat', path: 'no/such' });
    });
  }));

  it('makes symlinks and FIFOs', () => temporaryDirectory(async (dir) => {
    withDirFd(dir, (dirfd) => {
      libc.symlinkat('../some/where', dirfd, 'link');
      assert.equal(readlinkSync(join(dir, 'link')), '../some/where');
      throwsSysError(() => libc.symlinkat('x', dirfd, 'link'), { code: 'EEXIST', errno: 17, syscall: 'symlinkat', path: 'link' });

      libc.mknodat(dirfd, 'fifo', S_IFIFO | 0o640, 0);
      const fifo = lstatSync(join(dir, 'fifo'));
      assert.ok(fifo.isFIFO());
      throwsSysError(() => libc.mknodat(dirfd, 'fifo', S_IFIFO | 0o640, 0), { code: 'EEXIST', errno: 17, syscall: 'mknodat', path: 'fifo' });
    });
  }));

  it('renames with RENAME_NOREPLACE and RENAME_EXCHANGE', () => temporaryDirectory(async (dir) => {
    writeFileSync(join(dir, 'a'), 'A');
    writeFileSync(join(dir, 'b'), 'B');
    withDirFd(dir, (dirfd) => {
      throwsSysError(() => libc.renameat2(dirfd, 'a', dirfd, 'b', 1), { code: 'EEXIST', errno: 17, syscall: 'renameat2', path: 'b' });
      libc.renameat2(dirfd, 'a', dirfd, 'b', 2);
    });
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'B');
    assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'A');
  }));

  it('changes the working directory with fchdir', () => temporaryDirectory(async (dir) => {
    const before = process.cwd();
    try {
      withDirFd(dir, (dirfd) => libc.fchdir(dirfd));
      assert.equal(readlinkSync('/proc/self/cwd'), dir); // process.cwd() is cached by Node
    } finally {
      process.chdir(before);
    }
    const file = libc.openat2(libc.AT_FDCWD, '/etc/hostname', { flags: libc.O_PATH | libc.O_CLOEXEC, resolve: 0 });
    try {
      throwsSysError(() => libc.fchdir(file), { code: 'ENOTDIR', errno: 20, syscall: 'fchdir' });
    } finally {
      libc.close(file);
    }
    throwsSysError(() => libc.close(file), { code: 'EBADF', errno: 9, syscall: 'close' });
  }));
});

describe('libc: utimensat', () => {
  it('sets nanosecond times, and honours UTIME_OMIT and UTIME_NOW', () => temporaryDirectory(async (dir) => {
    const file = join(dir, 'f');
    writeFileSync(file, '');
    libc.utimensat(libc.AT_FDCWD, file, { sec: 1_000_000_000, nsec: 123_456_789 }, { sec: 1_234_567_890, nsec: 987_654_321 });
    let times = statSync(file, { bigint: true });
    assert.equal(times.atimeNs, 1_000_000_000_123_456_789n);
    assert.equal(times.mtimeNs, 1_234_567_890_987_654_321n);

    const before = BigInt(Date.now() - 1000) * 1_000_000n;
    libc.utimensat(libc.AT_FDCWD, file, { sec: 0, nsec: libc.UTIME_OMIT }, { sec: 0, nsec: libc.UTIME_NOW });
    times = statSync(file, { bigint: true });
    assert.equal(times.atimeNs, 1_000_000_000_123_456_789n, 'UTIME_OMIT kept atime');
    assert.ok(times.mtimeNs >= before, 'UTIME_NOW set mtime to now');

    // Times before 1970 and a symlink's own times (AT_SYMLINK_NOFOLLOW).
    symlinkSync('f', join(dir, 'link'));
    libc.utimensat(libc.AT_FDCWD, join(dir, 'link'), { sec: -1, nsec: 0 }, { sec: -86_400, nsec: 5 }, libc.AT_SYMLINK_NOFOLLOW);
    assert.equal(lstatSync(join(dir, 'link'), { bigint: true }).mtimeNs, -86_400_000_000_000n + 5n);
    assert.equal(statSync(file, { bigint: true }).atimeNs, 1_000_000_000_123_456_789n, 'the target was not touched');

    throwsSysError(() => libc.utimensat(libc.AT_FDCWD, join(dir, 'missing'), { sec: 0, nsec: 0 }, { sec: 0, nsec: 0 }),
      { code: 'ENOENT', errno: 2, syscall: 'utimensat', path: join(dir, 'missing') });
    throwsSysError(() => libc.utimensat(libc.AT_FDCWD, file, { sec: 0, nsec: 1_000_000_000 }, { sec: 0, nsec: 0 }),
      { code: 'EINVAL', errno: 22, syscall: 'utimensat', path: file });
  }));

  it('sets the times of an open file when the path is null', () => temporaryDirectory(async (dir) => {
    const file = join(dir, 'f');
    writeFileSync(file, '');
    const fd = libc.openat2(libc.AT_FDCWD, file, { flags: libc.O_RDONLY | libc.O_CLOEXEC, resolve: 0 });
    try {
      libc.utimensat(fd, null, { sec: 5, nsec: 6 }, { sec: 7, nsec: 8 });
      throwsSysError(() => libc.utimensat(fd, null, { sec: 0, nsec: -1 }, { sec: 0, nsec: 0 }), { code: 'EINVAL', errno: 22, syscall: 'futimens' });
    } finally {
      libc.close(fd);
    }
    assert.equal(statSync(file, { bigint: true }).mtimeNs, 7_000_000_008n);
  }));
});

describe('libc: extended attributes (l* variants)', () => {
  it('sets, lists, reads and removes, with typed errors', () => temporaryDirectory(async (dir) => {
    const file = join(dir, 'f');
    writeFileSync(file, '');
    const XATTR_CREATE = 1;
    const XATTR_REPLACE = 2;
    libc.lsetxattr(file, 'user.color', Buffer.from('blue'), XATTR_CREATE);
    libc.lsetxattr(file, 'user.empty', Buffer.alloc(0), 0);
    libc.lsetxattr(file, 'user.big', Buffer.alloc(3000, 'x'), 0);
    assert.deepEqual(libc.llistxattr(file).sort(), ['user.big', 'user.color', 'user.empty']);
    assert.equal(libc.lgetxattr(file, 'user.color').toString(), 'blue');
    assert.equal(libc.lgetxattr(file, 'user.empty').length, 0);
    assert.deepEqual(libc.lgetxattr(file, 'user.big'), Buffer.alloc(3000, 'x'));

    throwsSysError(() => libc.lsetxattr(file, 'user.color', Buffer.from('red'), XATTR_CREATE), { code: 'EEXIST', errno: 17, syscall: 'lsetxattr', path: file });
    throwsSysError(() => libc.lsetxattr(file, 'user.none', Buffer.from('x'), XATTR_REPLACE), { code: 'ENODATA', errno: 61, syscall: 'lsetxattr', path: file });
    throwsSysError(() => libc.lgetxattr(file, 'user.none'), { code: 'ENODATA', errno: 61, syscall: 'lgetxattr', path: file });
    libc.lremovexattr(file, 'user.color');
    throwsSysError(() => libc.lremovexattr(file, 'user.color'), { code: 'ENODATA', errno: 61, syscall: 'lremovexattr', path: file });
    assert.deepEqual(libc.llistxattr(file).sort(), ['user.big', 'user.empty']);
    throwsSysError(() => libc.llistxattr(join(dir, 'missing')), { code: 'ENOENT', errno: 2, syscall: 'llistxattr', path: join(dir, 'missing') });
  }));

  it('acts on a symlink itself, never its target', () => temporaryDirectory(async (dir) => {
    writeFileSync(join(dir, 'target'), '');
    libc.lsetxattr(join(dir, 'target'), 'user.mark', Buffer.from('t'), 0);
    symlinkSync('target', join(dir, 'link'));
    assert.deepEqual(libc.llistxattr(join(dir, 'link')), []);
    throwsSysError(() => libc.lgetxattr(join(dir, 'link'), 'user.mark'), { code: 'ENODATA', errno: 61, syscall: 'lgetxattr', path: join(dir, 'link') });
    // user.* attributes are not allowed on symlinks at all.
    throwsSysError(() => libc.lsetxattr(join(dir, 'link'), 'user.mark', Buffer.from('l'), 0), { code: 'EPERM', errno: 1, syscall: 'lsetxattr', path: join(dir, 'link') });
  }));
});
