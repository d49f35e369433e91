import assert from 'node:assert/strict';
import { closeSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, withTestUsers } from '@kmx/core/testing';
import { SysError } from '../src/errors/index.js';
import * as libc from '../src/libc/index.js';
import { mountAt, mountPinned, readMountinfo, symlinkAsUser, unlinkAsUser, unmountPinned, type CallerNamespace } from '../src/mount/index.js';

/** kmxd's helper steps on pinned directories: mount, unmount by recorded id, symlinks as the user. */

// A symlink as the last component of an O_NOFOLLOW|O_DIRECTORY open is ENOTDIR; inside the path, ELOOP.
const SYMLINK = ['ELOOP', 'ENOTDIR'];

async function rejectsCode(promise: Promise<unknown>, code: string | string[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SysError, `not a SysError: ${String(err)}`);
    assert.ok([code].flat().includes(err.code), err.message);
    return true;
  });
}

function pin(path: string): number {
  return libc.openat2(libc.AT_FDCWD, path, { flags: libc.O_PATH | libc.O_DIRECTORY | libc.O_CLOEXEC, resolve: libc.RESOLVE_NO_SYMLINKS });
}

async function withSelf<T>(body: (self: CallerNamespace) => Promise<T>): Promise<T> {
  const pidfd = libc.pidfdOpen(process.pid);
  try {
    return await body({ pidfd });
  } finally {
    libc.close(pidfd);
  }
}

const tmpfs = (path: string, pinnedFd: number) => ({ path, pinnedFd, fstype: 'tmpfs', source: 'kmx-test', options: [['size', '1m'], ['mode', '0700']] as Array<[string, string]>, attributes: 0 });

describe('pinned mounts (kmx-nshelper mount-pinned / unmount-pinned)', () => {
  it('mounts nosuid,nodev on the pinned dir and unmounts only the recorded mount id', () => temporaryDirectory((dir) => withSelf(async (self) => {
    const target = join(dir, 'm');
    mkdirSync(target);
    const fd = pin(target);
    const parent = pin(dir);
    try {
      const id = await mountPinned(self, tmpfs(target, fd));
      const m = mountAt(await readMountinfo(), target);
      assert.equal(m?.fstype, 'tmpfs');
      assert.equal(BigInt(m?.mountId ?? -1), id);
      assert.ok(m?.mountOptions.split(',').includes('nosuid') && m.mountOptions.split(',').includes('nodev'));
      await rejectsCode(unmountPinned(self, target, parent, id + 1000n), 'ESTALE');
      assert.ok(mountAt(await readMountinfo(), target), 'a wrong id unmounted');
      await unmountPinned(self, target, parent, id);
      assert.equal(mountAt(await readMountinfo(), target), undefined);
    } finally {
      closeSync(fd);
      closeSync(parent);
    }
  })));

  it('refuses a path that no longer names the pinned dir, a symlink in the path, and smuggled options', () => temporaryDirectory((dir) => withSelf(async (self) => {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    symlinkSync(join(dir, 'b'), join(dir, 'link'));
    const fd = pin(join(dir, 'a'));
    try {
      await rejectsCode(mountPinned(self, tmpfs(join(dir, 'b'), fd)), 'EXDEV');
      await rejectsCode(mountPinned(self, tmpfs(join(dir, 'link'), fd)), SYMLINK);
      await rejectsCode(mountPinned(self, { ...tmpfs(join(dir, 'a'), fd), options: [['size', '1m,uid=0']] }), 'EINVAL');
      await rejectsCode(mountPinned(self, { ...tmpfs(join(dir, 'a'), fd), options: [['mode', '0700\nx']] }), 'EINVAL');
      await rejectsCode(mountPinned(self, { ...tmpfs(join(dir, 'a'), fd), options: [['nosuch', '1']] }), 'EINVAL');
      assert.deepEqual((await readMountinfo()).filter((m) => m.mountpoint.startsWith(dir)), []);
    } finally {
      closeSync(fd);
    }
  })));
});

describe('symlinks as the user (kmx-nshelper symlink-as-user / unlink-as-user)', () => {
  it('creates a link owned by the user beneath their home and removes only links to their targets', () => withTestUsers(2, ([alice, bob]) => withSelf(async (self) => {
    assert.ok(alice && bob);
    mkdirSync(join(alice.home, 'links'));
    chownSync(join(alice.home, 'links'), alice.uid, alice.gid);
    await symlinkAsUser(self, alice, 'links/photos', '/run/media/alice/photos');
    const link = join(alice.home, 'links', 'photos');
    assert.equal(readlinkSync(link), '/run/media/alice/photos');
    assert.equal(lstatSync(link).uid, alice.uid);
    await rejectsCode(symlinkAsUser(self, alice, 'links/photos', '/x'), 'EEXIST');
    await rejectsCode(unlinkAsUser(self, alice, 'links/photos', ['/run/media/alice/other']), 'EPERM');
    assert.ok(existsSync(link) || lstatSync(link).isSymbolicLink());
    await unlinkAsUser(self, alice, 'links/photos', ['/run/media/alice/other', '/run/media/alice/photos']);
    assert.throws(() => lstatSync(link), { code: 'ENOENT' });
  })));

  it('follows no symlink in the path, stays beneath the home, and refuses a home the user does not own', () => withTestUsers(2, ([alice, bob]) => withSelf(async (self) => {
    assert.ok(alice && bob);
    symlinkSync('/etc', join(alice.home, 'etc'));
    await rejectsCode(symlinkAsUser(self, alice, 'etc/evil', '/x'), SYMLINK);
    await rejectsCode(symlinkAsUser(self, alice, '../' + bob.name + '/evil', '/x'), 'EXDEV');
    await rejectsCode(symlinkAsUser(self, alice, '/tmp/evil', '/x'), 'EINVAL');
    await rejectsCode(symlinkAsUser(self, { ...alice, home: bob.home }, 'evil', '/x'), 'EPERM');
    // bob's home is 0700 bob: alice cannot write there even if asked to
    await rejectsCode(symlinkAsUser(self, { ...alice, home: alice.home }, 'nonexistent/evil', '/x'), 'ENOENT');
    assert.equal(existsSync(join(bob.home, 'evil')), false);
    assert.throws(() => lstatSync('/etc/evil'), { code: 'ENOENT' });
  })));
});
