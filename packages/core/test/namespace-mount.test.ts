import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { temporaryDirectory, rejectsSysError } from '@kmx/core/testing';
import { rootContainer, Tokens } from '../src/di/index.js';
import { KmxError, SysError } from '../src/errors/index.js';
import * as libc from '../src/libc/index.js';
import {
  MountHelper, bindInNamespace, mountAt, mountInNamespace, readMountinfo, readMountinfoOfNamespace, unmountInNamespace,
  type MountInfo,
} from '../src/mount/index.js';
import { withHeldMountNamespace } from './held-namespace.js';

/** Mounting into another process's mount namespace through kmx-nshelper, and reading one that has no process. */


const options = (m: MountInfo | undefined): string[] => (m?.mountOptions ?? '').split(',');

/**
 * Runs `body` with the pid of `sleep` in a mount namespace of its own (a private copy of ours);
 * the process is killed by pid afterwards, which takes its namespace and mounts with it.
 */
async function withNamespaceProcess<T>(body: (pid: number) => Promise<T>): Promise<T> {
  const ours = readlinkSync('/proc/self/ns/mnt');
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
  try {
    const pid = child.pid;
    assert.ok(pid !== undefined, 'unshare did not start');
    // unshare execs sleep in the same process once the namespace is made.
    for (let tries = 0; ; tries++) {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm === 'sleep' && readlinkSync(`/proc/${pid}/ns/mnt`) !== ours) break;
      assert.ok(tries < 500, 'unshare did not make its namespace');
      await sleep(10);
    }
    return await body(pid);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
}

describe('mounting in another mount namespace', () => {
  it('mounts a tmpfs (nosuid,nodev) that only the target sees, and unmounts it there', () => temporaryDirectory(async (dir) => {
    const target = join(dir, 'target');
    mkdirSync(target);
    await withNamespaceProcess(async (pid) => {
      await mountInNamespace(pid, { fstype: 'tmpfs', source: 'kmx-ns-test', options: { size: '1m', mode: '0755' }, path: target });
      const theirs = mountAt(await readMountinfo(pid), target);
      assert.equal(theirs?.fstype, 'tmpfs');
      assert.equal(theirs?.source, 'kmx-ns-test');
      assert.ok(options(theirs).includes('nosuid') && options(theirs).includes('nodev'), theirs?.mountOptions);
      assert.equal(mountAt(await readMountinfo(), target), undefined, 'the mount leaked into our namespace');

      writeFileSync(`/proc/${pid}/root${target}/hello`, 'in their tmpfs');
      assert.equal(readFileSync(`/proc/${pid}/root${target}/hello`, 'utf8'), 'in their tmpfs');
      assert.equal(existsSync(join(target, 'hello')), false);

      await unmountInNamespace(pid, target);
      assert.equal(mountAt(await readMountinfo(pid), target), undefined);
      await rejectsSysError(unmountInNamespace(pid, target), { code: 'EINVAL', errno: 22, syscall: 'umount2', path: target });
    });
  }));

  it('adds attributes, takes a pidfd, and unmounts lazily', () => temporaryDirectory(async (dir) => {
    const target = join(dir, 'target');
    mkdirSync(target);
    await withNamespaceProcess(async (pid) => {
      const pidfd = libc.pidfdOpen(pid);
      try {
        await mountInNamespace({ pidfd }, { fstype: 'tmpfs', options: { size: '1m' }, path: target, attributes: libc.MOUNT_ATTR_RDONLY | libc.MOUNT_ATTR_NOEXEC });
        const theirs = mountAt(await readMountinfo(pid), target);
        assert.deepEqual(options(theirs).slice(0, 4), ['ro', 'nosuid', 'nodev', 'noexec'], theirs?.mountOptions);
        await unmountInNamespace({ pidfd }, target, { lazy: true });
        assert.equal(mountAt(await readMountinfo(pid), target), undefined);
      } finally {
        libc.close(pidfd);
      }
    });
  }));

  it('binds a directory read-only into the target', () => temporaryDirectory(async (dir) => {
    const source = join(dir, 'source');
    const target = join(dir, 'target');
    mkdirSync(source);
    mkdirSync(target);
    writeFileSync(join(source, 'file'), 'bound');
    await withNamespaceProcess(async (pid) => {
      await bindInNamespace(pid, source, target, { readOnly: true });
      assert.equal(readFileSync(`/proc/${pid}/root${target}/file`, 'utf8'), 'bound');
      assert.throws(() => writeFileSync(`/proc/${pid}/root${target}/new`, ''), { code: 'EROFS' });
      const theirs = mountAt(await readMountinfo(pid), target);
      assert.deepEqual(options(theirs).slice(0, 3), ['ro', 'nosuid', 'nodev'], theirs?.mountOptions);
      assert.equal(mountAt(await readMountinfo(), target), undefined);
      await rejectsSysError(bindInNamespace(pid, join(dir, 'missing'), target), { code: 'ENOENT', errno: 2, syscall: 'open_tree', path: join(dir, 'missing') });
    });
  }));

  it('refuses a symlink as the target and reports a missing one as ENOENT', () => temporaryDirectory(async (dir) => {
    const target = join(dir, 'target');
    mkdirSync(target);
    symlinkSync(target, join(dir, 'link'));
    await withNamespaceProcess(async (pid) => {
      const tmpfs = { fstype: 'tmpfs', options: { size: '1m' } };
      await rejectsSysError(mountInNamespace(pid, { ...tmpfs, path: join(dir, 'link') }), { code: 'ELOOP', errno: 40, syscall: 'openat2', path: join(dir, 'link') });
      await rejectsSysError(mountInNamespace(pid, { ...tmpfs, path: join(dir, 'missing') }), { code: 'ENOENT', errno: 2, syscall: 'openat2', path: join(dir, 'missing') });
      await rejectsSysError(mountInNamespace(pid, { ...tmpfs, path: 'relative' }), { code: 'EINVAL', errno: 22, syscall: 'move_mount', path: 'relative' });
      assert.deepEqual((await readMountinfo(pid)).filter((m) => m.mountpoint.startsWith(dir)), []);

      // Unmounting through a symlink is refused too (UMOUNT_NOFOLLOW from inside the parent).
      await mountInNamespace(pid, { ...tmpfs, path: target });
      await rejectsSysError(unmountInNamespace(pid, join(dir, 'link')), { code: 'EINVAL', errno: 22, syscall: 'umount2', path: join(dir, 'link') });
      await rejectsSysError(unmountInNamespace(pid, join(dir, 'missing', 'x')), { code: 'ENOENT', errno: 2, syscall: 'openat2', path: join(dir, 'missing', 'x') });
      assert.ok(mountAt(await readMountinfo(pid), target));
    });
  }));

  it('refuses bad options before the kernel sees them, and reports the kernel\'s refusals', () => temporaryDirectory(async (dir) => {
    await withNamespaceProcess(async (pid) => {
      await rejectsSysError(mountInNamespace(pid, { fstype: 'tmpfs', options: { mode: '0755,uid=0' }, path: dir }), { code: 'EINVAL', errno: 22, syscall: 'fsconfig', path: 'mode' });
      const err = await rejectsSysError(mountInNamespace(pid, { fstype: 'tmpfs', options: { kmxbogus: '1' }, path: dir }), { code: 'EINVAL', errno: 22, syscall: 'fsconfig', path: 'kmxbogus=1' });
      assert.match(err.message, /Unknown parameter/);
      await rejectsSysError(mountInNamespace(pid, { fstype: 'kmx-no-such-fs', path: dir }), { code: 'ENODEV', errno: 19, syscall: 'fsopen', path: 'kmx-no-such-fs' });
    });
  }));

  it('reports ESRCH for a process that does not exist', async () => {
    const child = spawn('true');
    await once(child, 'exit');
    const pid = child.pid ?? -1;
    await rejectsSysError(mountInNamespace(pid, { fstype: 'tmpfs', path: '/mnt' }), { code: 'ESRCH', errno: 3, syscall: 'pidfd_open', path: String(pid) });
    await rejectsSysError(unmountInNamespace(pid, '/mnt'), { code: 'ESRCH', errno: 3, syscall: 'pidfd_open', path: String(pid) });
  });
});

describe('reading the mount table of a namespace', () => {
  it('reads a namespace that only a bind mount keeps alive', () => temporaryDirectory(async (dir) => {
    const setup = (marker: string): string[] => ['mount', '-t', 'tmpfs', '-o', 'size=1m', 'kmx-ns-marker', marker];
    await withHeldMountNamespace(dir, setup, async (nsFile, marker) => {
      const theirs = await readMountinfoOfNamespace(nsFile);
      assert.equal(mountAt(theirs, marker)?.source, 'kmx-ns-marker');
      assert.ok(mountAt(theirs, '/'), 'the root is in the table');
      assert.equal(mountAt(await readMountinfo(), marker), undefined);
    });
  }));

  it('reads a process\'s namespace like /proc/PID/mountinfo, and refuses what is no mount namespace', () => temporaryDirectory(async (dir) => {
    await withNamespaceProcess(async (pid) => {
      const viaHelper = await readMountinfoOfNamespace(`/proc/${pid}/ns/mnt`);
      assert.deepEqual(viaHelper.map((m) => m.mountId), (await readMountinfo(pid)).map((m) => m.mountId));
    });
    writeFileSync(join(dir, 'plain'), '');
    await rejectsSysError(readMountinfoOfNamespace(join(dir, 'plain')), { code: 'EINVAL', errno: 22, syscall: 'setns' });
    await rejectsSysError(readMountinfoOfNamespace('/proc/self/ns/net'), { code: 'EINVAL', errno: 22, syscall: 'setns' });
    await rejectsSysError(readMountinfoOfNamespace(join(dir, 'missing')), { code: 'ENOENT', errno: 2, syscall: 'open', path: join(dir, 'missing') });
  }));
});

describe('the MountHelper service', () => {
  it('is registered in the container under Tokens.MountHelper', () => {
    assert.ok(rootContainer().resolve<MountHelper>(Tokens.MountHelper) instanceof MountHelper);
  });

  it('says how to build a helper that is missing', async () => {
    const helper = new MountHelper({ helperPath: '/nonexistent/kmx-nshelper' });
    await assert.rejects(helper.readMountinfoOfNamespace('/proc/self/ns/mnt'), (err: unknown) =>
      err instanceof KmxError && !(err instanceof SysError) && /npm run build/.test(err.hint ?? ''));
  });

  it('gives up on a helper that hangs, and does not mistake other output for a report', () => temporaryDirectory(async (dir) => {
    const fake = join(dir, 'fake-helper');
    writeFileSync(fake, '#!/bin/sh\n[ "$1" = mountinfo ] && exec sleep 30\necho "something odd" >&2; exit 3\n', { mode: 0o755 });
    const helper = new MountHelper({ helperPath: fake, timeoutMs: 200 });
    await rejectsSysError(helper.readMountinfoOfNamespace('/proc/self/ns/mnt'), { code: 'ETIMEDOUT', errno: 110, syscall: 'kmx-nshelper mountinfo' });
    await assert.rejects(helper.unmountInNamespace(process.pid, '/nonexistent'), (err: unknown) =>
      err instanceof KmxError && !(err instanceof SysError) && /failed \(3\): something odd/.test(err.message));
  }));
});
