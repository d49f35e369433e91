import assert from 'node:assert/strict';
import { fstatSync, openSync, closeSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SysError } from '@kmx/core';
import { run } from '@kmx/core/testing';
import {
  NamespaceError, NamespaceHandle, NoOwnerError, NoParentError, NotHierarchicalError, NotNamespaceError, NotUserNamespaceError,
  getNsId, getNsType, getOwnerUid, getParentNs, getUserNs, INITIAL_USER_NS_INODE,
} from '../src/index.js';
import { Findings } from '../src/lib/discovery/findings.js';
import { resolveRelations } from '../src/lib/discovery/relations.js';
import { NamespaceLab, comm, inodeOf, nsLink } from './lab.js';

/** The linuxns-rel functions on real namespaces: paths, fds, FileHandles, and each error case. */

const inode = (path: string): number => statSync(path).ino;

function fdIsOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

function throwsTyped(call: () => unknown, type: new (...args: never[]) => NamespaceError, code: string, pattern: RegExp): void {
  assert.throws(call, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.ok(err instanceof SysError, 'a SysError, with the errno');
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('namespace relations', () => {
  const lab = new NamespaceLab();
  let nested: number;
  let nobody: number;
  before(async () => {
    const ours = nsLink('self', 'user');
    nested = await lab.start('unshare', ['-Ur', 'unshare', '-Ur', 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ours);
    nobody = await lab.start('unshare', ['--user', 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ours, { uid: 65534, gid: 65534 });
  });
  after(() => lab.cleanUp());

  it('tells the type of a namespace given as a path, an fd or a FileHandle', async () => {
    assert.equal(getNsType('/proc/self/ns/net'), 'net');
    assert.equal(getNsType('/proc/self/ns/pid_for_children'), 'pid');
    const fd = openSync('/proc/self/ns/uts', 'r');
    try {
      assert.equal(getNsType(fd), 'uts');
      assert.ok(fdIsOpen(fd), 'a borrowed fd stays open');
    } finally {
      closeSync(fd);
    }
    const handle = await open('/proc/self/ns/cgroup');
    try {
      assert.equal(getNsType(handle), 'cgroup');
    } finally {
      await handle.close();
    }
    for (const type of ['ipc', 'mnt', 'time', 'user'] as const) assert.equal(getNsType(`/proc/self/ns/${type}`), type);
  });

  it('returns parents and owners as handles that close when disposed', () => {
    let fd: number;
    {
      using parent = getParentNs(`/proc/${nested}/ns/user`);
      fd = parent.fd;
      assert.equal(parent.type, 'user');
      using grandparent = getParentNs(parent);
      assert.equal(grandparent.inode, INITIAL_USER_NS_INODE);
      assert.equal(getParentNs(`/proc/${nested}/ns/user`).inode, parent.inode);
    }
    assert.equal(fdIsOpen(fd), false, 'using closed the handle');
    using owner = getUserNs('/proc/self/ns/net');
    assert.deepEqual([owner.type, owner.inode, owner.label], ['user', inode('/proc/self/ns/user'), `user:[${INITIAL_USER_NS_INODE}]`]);
    owner.close();
    owner.close(); // twice is fine
    assert.throws(() => owner.fd, (err: unknown) => err instanceof SysError && err.code === 'EBADF');
  });

  it('reads owner uids and 64-bit ids', () => {
    assert.equal(getOwnerUid(`/proc/${nobody}/ns/user`), 65534);
    assert.equal(getOwnerUid('/proc/self/ns/user'), 0);
    const id = getNsId('/proc/self/ns/net');
    assert.equal(typeof id, 'bigint');
    assert.equal(getNsId(`/proc/${process.pid}/ns/net`), id, 'the same namespace, the same id');
    assert.notEqual(getNsId(`/proc/${nested}/ns/user`), getNsId('/proc/self/ns/user'));
    assert.equal(inodeOf(nested, 'user'), NamespaceHandle.open(`/proc/${nested}/ns/user`).inode);
  });

  it('says which case happened, with a class per case', () => {
    throwsTyped(() => getParentNs('/proc/self/ns/net'), NotHierarchicalError, 'EINVAL', /only user and PID namespaces are hierarchical/);
    throwsTyped(() => getParentNs('/proc/self/ns/user'), NoParentError, 'EPERM', /initial namespace/);
    throwsTyped(() => getParentNs('/proc/self/ns/pid'), NoParentError, 'EPERM', /initial namespace/);
    throwsTyped(() => getUserNs('/proc/self/ns/user'), NoOwnerError, 'EPERM', /initial user namespace/);
    throwsTyped(() => getOwnerUid('/proc/self/ns/net'), NotUserNamespaceError, 'EINVAL', /not a user namespace/);
    throwsTyped(() => getNsType('/etc/hostname'), NotNamespaceError, 'ENOTTY', /^\/etc\/hostname is not a namespace/);
    throwsTyped(() => getUserNs('/dev/null'), NotNamespaceError, 'ENOTTY', /not an nsfs file/);
    const fd = openSync('/etc/hostname', 'r');
    try {
      throwsTyped(() => getParentNs(fd), NotNamespaceError, 'ENOTTY', new RegExp(`^fd ${fd} is not a namespace`));
    } finally {
      closeSync(fd);
    }
    assert.throws(() => getNsType('/nonexistent/ns'), (err: unknown) => err instanceof SysError && !(err instanceof NamespaceError) && err.code === 'ENOENT');
  });

  it('relates a namespace whose only way in is gone once the namespace below it leads there', async () => {
    using middle = getParentNs(`/proc/${nested}/ns/user`);
    const findings = new Findings();
    // Seen first in a process that has exited since (no such pid), then the namespace below it.
    findings.found('user', middle.inode, 'proc', '/proc/2147483647/ns/user');
    findings.found('user', inodeOf(nested, 'user'), 'proc', `/proc/${nested}/ns/user`);
    await resolveRelations(findings);
    assert.equal(findings.namespaces.get(middle.inode)?.parent, INITIAL_USER_NS_INODE);
    assert.deepEqual(findings.inaccessible, [], 'reached after all: not reported as inaccessible');
  });

  it('tells an inaccessible parent or owner from a missing one (inside unshare -Urm)', async () => {
    const probe = fileURLToPath(new URL('./fixtures/relations-probe.js', import.meta.url));
    const r = await run('unshare', ['-Urm', process.execPath, probe]);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as Record<string, { error?: string; code?: string; message?: string; inode?: number }>;
    assert.deepEqual([seen.parentOfOwnUserNs?.error, seen.parentOfOwnUserNs?.code], ['ParentInaccessibleError', 'EPERM']);
    assert.match(seen.parentOfOwnUserNs?.message ?? '', /outside the caller's namespace/);
    assert.deepEqual([seen.ownerOfOuterNet?.error, seen.ownerOfOuterNet?.code], ['OwnerInaccessibleError', 'EPERM']);
    assert.ok(seen.ownerOfOwnMnt?.inode, 'the owner of its own new mount namespace is its own user namespace');
  });
});
