import assert from 'node:assert/strict';
import { closeSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, throwsSysError } from '@kmx/core/testing';
import * as libc from '../src/libc/index.js';
import { mountAt, parseMountinfo, type MountInfo } from '../src/mount/mountinfo.js';

/** The mount system calls against the real kernel: tmpfs in temporary directories, typed errors. */


// Synchronous on purpose: the async readMountinfo would hop onto a libuv pool thread.
function mountinfoAt(path: string): MountInfo | undefined {
  return mountAt(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), path);
}

const options = (m: MountInfo | undefined): string[] => (m?.mountOptions ?? '').split(',');

/** A tmpfs made with the fd API and not yet attached: the detached mount's fd. */
function detachedTmpfs(source: string, attributes: number): number {
  const fsfd = libc.fsopen('tmpfs', libc.FSOPEN_CLOEXEC);
  try {
    libc.fsconfigString(fsfd, 'source', source);
    libc.fsconfigString(fsfd, 'size', '1m');
    libc.fsconfigCreate(fsfd);
    return libc.fsmount(fsfd, libc.FSMOUNT_CLOEXEC, attributes);
  } finally {
    libc.close(fsfd);
  }
}

function openPath(path: string): number {
  return libc.openat2(libc.AT_FDCWD, path, { flags: libc.O_PATH | libc.O_DIRECTORY | libc.O_CLOEXEC, resolve: libc.RESOLVE_NO_SYMLINKS });
}

/** Attaches a detached mount fd at `path` by fds alone, then closes both fds. */
function attachAt(mountFd: number, path: string): void {
  const targetFd = openPath(path);
  try {
    libc.moveMount(mountFd, '', targetFd, '', libc.MOVE_MOUNT_F_EMPTY_PATH | libc.MOVE_MOUNT_T_EMPTY_PATH);
  } finally {
    libc.close(targetFd);
    libc.close(mountFd);
  }
}

describe('libc: mount and umount2', () => {
  it('mounts a tmpfs and unmounts it', () => temporaryDirectory(async (dir) => {
    libc.mount('kmx-libc-test', dir, 'tmpfs', libc.MS_NOSUID | libc.MS_NODEV, 'size=1m,mode=0750');
    const mounted = mountinfoAt(dir);
    assert.equal(mounted?.fstype, 'tmpfs');
    assert.equal(mounted?.source, 'kmx-libc-test');
    assert.ok(options(mounted).includes('nosuid') && options(mounted).includes('nodev'), mounted?.mountOptions);
    assert.match(mounted?.superOptions ?? '', /mode=750/);
    libc.umount2(dir);
    assert.equal(mountinfoAt(dir), undefined);
  }));

  it('reports EINVAL for a path that is not a mount point, ENODEV for an unknown fs type', () => temporaryDirectory(async (dir) => {
    throwsSysError(() => libc.umount2(dir), { code: 'EINVAL', errno: 22, syscall: 'umount2', path: dir });
    throwsSysError(() => libc.umount2(join(dir, 'missing')), { code: 'ENOENT', errno: 2, syscall: 'umount2', path: join(dir, 'missing') });
    throwsSysError(() => libc.mount('none', dir, 'kmx-no-such-fs', 0), { code: 'ENODEV', errno: 19, syscall: 'mount', path: dir });
  }));

  it('detaches a busy mount with MNT_DETACH and refuses a symlink with UMOUNT_NOFOLLOW', () => temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    libc.mount('kmx-libc-test', mnt, 'tmpfs', 0, 'size=1m');
    libc.symlinkat(mnt, libc.AT_FDCWD, join(dir, 'link'));
    throwsSysError(() => libc.umount2(join(dir, 'link'), libc.UMOUNT_NOFOLLOW), { code: 'EINVAL', errno: 22, syscall: 'umount2', path: join(dir, 'link') });
    const busy = libc.openat2(libc.AT_FDCWD, mnt, { flags: libc.O_RDONLY | libc.O_DIRECTORY | libc.O_CLOEXEC, resolve: 0 });
    try {
      throwsSysError(() => libc.umount2(mnt), { code: 'EBUSY', errno: 16, syscall: 'umount2', path: mnt });
      libc.umount2(mnt, libc.MNT_DETACH);
      assert.equal(mountinfoAt(mnt), undefined);
    } finally {
      libc.close(busy);
    }
  }));
});

describe('libc: the fd mount API', () => {
  it('fsopen → fsconfig → create → fsmount(nosuid,nodev) → move_mount onto an O_PATH fd', () => temporaryDirectory(async (dir) => {
    attachAt(detachedTmpfs('kmx-fd-test', libc.MOUNT_ATTR_NOSUID | libc.MOUNT_ATTR_NODEV), dir);
    const mounted = mountinfoAt(dir);
    assert.equal(mounted?.fstype, 'tmpfs');
    assert.equal(mounted?.source, 'kmx-fd-test');
    assert.ok(options(mounted).includes('nosuid') && options(mounted).includes('nodev'), mounted?.mountOptions);
    assert.match(mounted?.superOptions ?? '', /size=1024k/);
    writeFileSync(join(dir, 'f'), 'on tmpfs');

    // mountId (statx STATX_MNT_ID) is the first field of mountinfo, for the root and a file below it.
    assert.equal(libc.mountId(dir), mounted?.mountId);
    assert.equal(libc.mountId(join(dir, 'f')), mounted?.mountId);
    assert.notEqual(libc.mountId(join(dir, '..')), mounted?.mountId);
    libc.umount2(dir);
  }));

  it('sets a value-less option with fsconfigFlag', () => temporaryDirectory(async (dir) => {
    const fsfd = libc.fsopen('tmpfs', libc.FSOPEN_CLOEXEC);
    try {
      libc.fsconfigFlag(fsfd, 'inode64');
      libc.fsconfigCreate(fsfd);
      attachAt(libc.fsmount(fsfd, libc.FSMOUNT_CLOEXEC, libc.MOUNT_ATTR_NOSUID), dir);
    } finally {
      libc.close(fsfd);
    }
    assert.match(mountinfoAt(dir)?.superOptions ?? '', /inode64/);
    libc.umount2(dir);
  }));

  it('refuses a bad option with EINVAL and the kernel\'s own words', () => {
    const fsfd = libc.fsopen('tmpfs', libc.FSOPEN_CLOEXEC);
    try {
      assert.equal(libc.readFsLog(fsfd), '');
      const err = throwsSysError(() => libc.fsconfigString(fsfd, 'kmxbogus', '1'), { code: 'EINVAL', errno: 22, syscall: 'fsconfig', path: 'kmxbogus=1' });
      assert.match(err.message, /Unknown parameter 'kmxbogus'/);
      throwsSysError(() => libc.fsconfigFlag(fsfd, 'kmxflag'), { code: 'EINVAL', errno: 22, syscall: 'fsconfig', path: 'kmxflag' });
      assert.equal(libc.readFsLog(fsfd), '', 'the log was drained into the errors');
    } finally {
      libc.close(fsfd);
    }
    throwsSysError(() => libc.fsopen('kmx-no-such-fs', libc.FSOPEN_CLOEXEC), { code: 'ENODEV', errno: 19, syscall: 'fsopen', path: 'kmx-no-such-fs' });
  });

  it('makes a mount read-only with mount_setattr, keeping nosuid,nodev', () => temporaryDirectory(async (dir) => {
    attachAt(detachedTmpfs('kmx-ro-test', libc.MOUNT_ATTR_NOSUID | libc.MOUNT_ATTR_NODEV), dir);
    writeFileSync(join(dir, 'before'), 'x');
    libc.mountSetattr(libc.AT_FDCWD, dir, 0, { attrSet: libc.MOUNT_ATTR_RDONLY });
    const mounted = mountinfoAt(dir);
    assert.deepEqual(options(mounted).slice(0, 3), ['ro', 'nosuid', 'nodev'], mounted?.mountOptions);
    assert.throws(() => writeFileSync(join(dir, 'after'), 'x'), { code: 'EROFS' });
    libc.mountSetattr(libc.AT_FDCWD, dir, 0, { attrSet: 0, attrClr: libc.MOUNT_ATTR_RDONLY });
    writeFileSync(join(dir, 'after'), 'x');
    throwsSysError(() => libc.mountSetattr(libc.AT_FDCWD, join(dir, 'missing'), 0, { attrSet: libc.MOUNT_ATTR_RDONLY }),
      { code: 'ENOENT', errno: 2, syscall: 'mount_setattr', path: join(dir, 'missing') });
    libc.umount2(dir);
  }));

  it('clones a directory with open_tree and attaches the copy elsewhere', () => temporaryDirectory(async (dir) => {
    const source = join(dir, 'source');
    const target = join(dir, 'target');
    mkdirSync(source);
    mkdirSync(target);
    writeFileSync(join(source, 'hello'), 'from the source');
    const clone = libc.openTree(libc.AT_FDCWD, source, libc.OPEN_TREE_CLONE | libc.OPEN_TREE_CLOEXEC);
    assert.equal(mountinfoAt(target), undefined, 'a clone is detached until moved');
    attachAt(clone, target);
    assert.equal(readFileSync(join(target, 'hello'), 'utf8'), 'from the source');
    assert.equal(mountinfoAt(target)?.root.endsWith('/source'), true);
    libc.umount2(target);
    throwsSysError(() => libc.openTree(libc.AT_FDCWD, join(dir, 'missing'), libc.OPEN_TREE_CLONE),
      { code: 'ENOENT', errno: 2, syscall: 'open_tree', path: join(dir, 'missing') });
  }));

  it('reports ENOENT for a move_mount target that does not exist', () => temporaryDirectory(async (dir) => {
    const mountFd = detachedTmpfs('kmx-move-test', libc.MOUNT_ATTR_NOSUID | libc.MOUNT_ATTR_NODEV);
    try {
      throwsSysError(() => libc.moveMount(mountFd, '', libc.AT_FDCWD, join(dir, 'missing'), libc.MOVE_MOUNT_F_EMPTY_PATH),
        { code: 'ENOENT', errno: 2, syscall: 'move_mount', path: join(dir, 'missing') });
    } finally {
      closeSync(mountFd);
    }
  }));
});
