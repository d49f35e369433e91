import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, Socket, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, throwsSysError } from '@kmx/core/testing';
import * as libc from '../src/libc/index.js';

/** Namespaces, pidfds, socket credentials, users and per-thread identity against the real kernel. */


function withFd<T>(path: string, body: (fd: number) => T): T {
  const fd = openSync(path, 'r');
  try {
    return body(fd);
  } finally {
    closeSync(fd);
  }
}

/** The pid that a pidfd refers to, from its fdinfo. */
function pidOfPidfd(pidfd: number): number {
  const match = /^Pid:\s+(-?\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8'));
  assert.ok(match, 'not a pidfd');
  return Number(match[1]);
}

describe('libc: nsfs ioctls, setns, unshare', () => {
  it('NS_GET_NSTYPE names the namespace type; a plain file gives ENOTTY', () => {
    assert.equal(withFd('/proc/self/ns/net', (fd) => libc.ioctl(fd, libc.NS_GET_NSTYPE)), libc.CLONE_NEWNET);
    assert.equal(withFd('/proc/self/ns/mnt', (fd) => libc.ioctl(fd, libc.NS_GET_NSTYPE)), libc.CLONE_NEWNS);
    assert.equal(withFd('/proc/self/ns/user', (fd) => libc.ioctl(fd, libc.NS_GET_NSTYPE)), libc.CLONE_NEWUSER);
    withFd('/etc/hostname', (fd) => throwsSysError(() => libc.ioctl(fd, libc.NS_GET_NSTYPE, 'NS_GET_NSTYPE'), { code: 'ENOTTY', errno: 25, syscall: 'NS_GET_NSTYPE' }));
  });

  it('NS_GET_ID gives a 64-bit id, stable per namespace', () => {
    const net = withFd('/proc/self/ns/net', (fd) => libc.ioctlOutU64(fd, libc.NS_GET_ID, 'NS_GET_ID'));
    assert.equal(typeof net, 'bigint');
    assert.ok(net > 0n);
    assert.equal(withFd('/proc/thread-self/ns/net', (fd) => libc.ioctlOutU64(fd, libc.NS_GET_ID)), net);
    assert.notEqual(withFd('/proc/self/ns/mnt', (fd) => libc.ioctlOutU64(fd, libc.NS_GET_ID)), net);
  });

  it('NS_GET_OWNER_UID reads a u32; NS_GET_USERNS on the initial user namespace is EPERM', () => {
    assert.equal(withFd('/proc/self/ns/user', (fd) => libc.ioctlOutU32(fd, libc.NS_GET_OWNER_UID, 'NS_GET_OWNER_UID')), 0);
    withFd('/proc/self/ns/net', (fd) => throwsSysError(() => libc.ioctlOutU32(fd, libc.NS_GET_OWNER_UID, 'NS_GET_OWNER_UID'), { code: 'EINVAL', errno: 22, syscall: 'NS_GET_OWNER_UID' }));
    withFd('/proc/self/ns/user', (fd) => throwsSysError(() => libc.ioctl(fd, libc.NS_GET_USERNS, 'NS_GET_USERNS'), { code: 'EPERM', errno: 1, syscall: 'NS_GET_USERNS' }));
    // The net namespace's owner is the initial user namespace: a new fd of the same namespace.
    const owner = withFd('/proc/self/ns/net', (fd) => libc.ioctl(fd, libc.NS_GET_USERNS, 'NS_GET_USERNS'));
    try {
      assert.equal(statSync(`/proc/self/fd/${owner}`).ino, statSync('/proc/self/ns/user').ino);
    } finally {
      closeSync(owner);
    }
  });

  it('NS_GET_PID_IN_PIDNS passes the pid by value', () => {
    assert.equal(withFd('/proc/self/ns/pid', (fd) => libc.ioctlValue(fd, libc.NS_GET_PID_IN_PIDNS, process.pid)), process.pid);
  });

  it('setns joins one\'s own net namespace, and refuses a wrong nstype with EINVAL', () => {
    withFd('/proc/self/ns/net', (fd) => {
      libc.setns(fd, libc.CLONE_NEWNET);
      libc.setns(fd, 0); // 0: any type
      throwsSysError(() => libc.setns(fd, libc.CLONE_NEWUTS), { code: 'EINVAL', errno: 22, syscall: 'setns' });
    });
  });

  it('unshare(CLONE_NEWUSER) fails with EINVAL: Node is multithreaded', () => {
    throwsSysError(() => libc.unshare(libc.CLONE_NEWUSER), { code: 'EINVAL', errno: 22, syscall: 'unshare' });
  });
});

describe('libc: pidfd_open', () => {
  it('opens a pidfd of this process', () => {
    const pidfd = libc.pidfdOpen(process.pid);
    try {
      assert.equal(pidOfPidfd(pidfd), process.pid);
    } finally {
      libc.close(pidfd);
    }
  });

  it('reports ESRCH for a process that has exited, EINVAL for bad flags', async () => {
    const child = spawn('true');
    await once(child, 'exit'); // reaped: the pid is free
    const pid = child.pid ?? -1;
    throwsSysError(() => libc.pidfdOpen(pid), { code: 'ESRCH', errno: 3, syscall: 'pidfd_open', path: String(pid) });
    throwsSysError(() => libc.pidfdOpen(process.pid, 0x1234), { code: 'EINVAL', errno: 22, syscall: 'pidfd_open', path: String(process.pid) });
  });
});

describe('libc: peer credentials of a UNIX socket', () => {
  /** Listens on a socket in `dir` and resolves with the server side of the first connection. */
  async function acceptOne(dir: string, connect: (path: string) => void): Promise<{ server: Server; socket: Socket }> {
    const path = join(dir, 'sock');
    const server = createServer();
    server.listen(path);
    await once(server, 'listening');
    chmodSync(path, 0o777);
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    connect(path);
    const [socket] = await accepted;
    return { server, socket };
  }

  async function close(server: Server, socket: Socket): Promise<void> {
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }

  it('sees this process\'s pid, uid and gid, and gives its pidfd', () => temporaryDirectory(async (dir) => {
    let client: Socket | undefined;
    const { server, socket } = await acceptOne(dir, (path) => {
      client = createConnection(path);
    });
    try {
      const fd = libc.socketFd(socket);
      assert.deepEqual(libc.peerCredentials(fd), { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
      const pidfd = libc.peerPidfd(fd);
      try {
        assert.equal(pidOfPidfd(pidfd), process.pid);
      } finally {
        libc.close(pidfd);
      }
    } finally {
      client?.destroy();
      await close(server, socket);
    }
  }));

  it('sees another user\'s process as it was at connect()', () => temporaryDirectory(async (dir) => {
    chmodSync(dir, 0o755);
    const script = `require('net').connect(process.argv[1]).on('connect', () => setTimeout(() => process.exit(0), 30000))`;
    let child: ReturnType<typeof spawn> | undefined;
    const { server, socket } = await acceptOne(dir, (path) => {
      child = spawn(process.execPath, ['-e', script, path], { uid: 65534, gid: 65534, stdio: 'ignore' });
    });
    try {
      assert.deepEqual(libc.peerCredentials(libc.socketFd(socket)), { pid: child?.pid, uid: 65534, gid: 65534 });
    } finally {
      child?.kill('SIGKILL');
      if (child && child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      await close(server, socket);
    }
  }));

  it('reports ENOTSOCK on a plain file, EBADF for an unconnected socket', () => {
    withFd('/etc/hostname', (fd) => throwsSysError(() => libc.peerCredentials(fd), { code: 'ENOTSOCK', errno: 88, syscall: 'getsockopt', path: 'SO_PEERCRED' }));
    throwsSysError(() => libc.socketFd(new Socket()), { code: 'EBADF', errno: 9, syscall: 'socket' });
  });
});

describe('libc: users through NSS', () => {
  it('finds root by id and by name; an unknown user is undefined', () => {
    const root = libc.userById(0);
    assert.equal(root?.name, 'root');
    assert.equal(root?.gid, 0);
    assert.equal(root?.home, readFileSync('/etc/passwd', 'utf8').match(/^root:[^:]*:0:0:[^:]*:([^:]*):/m)?.[1]);
    assert.deepEqual(libc.userByName('root'), root);
    assert.equal(libc.userByName('nobody')?.uid, 65534);
    assert.equal(libc.userById(4_000_000_000), undefined);
    assert.equal(libc.userByName('kmx-no-such-user'), undefined);
  });
});

describe('libc: per-thread identity', () => {
  it('sets and reads the thread\'s supplementary groups', () => {
    const original = libc.threadGroups();
    try {
      libc.setThreadGroups([4242, 4343]);
      assert.deepEqual(libc.threadGroups(), [4242, 4343]);
      assert.match(readFileSync('/proc/thread-self/status', 'utf8'), /^Groups:\t4242 4343 ?$/m);
      libc.setThreadGroups([]);
      assert.deepEqual(libc.threadGroups(), []);
    } finally {
      libc.setThreadGroups(original);
    }
    assert.deepEqual(libc.threadGroups(), original);
  });

  it('setfsuid/setfsgid make files as another user and drop root\'s file powers, then come back', () => temporaryDirectory(async (dir) => {
    const open = join(dir, 'open');
    const closed = join(dir, 'closed');
    chmodSync(dir, 0o755);
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    mkdirSync(closed, { mode: 0o700 });
    const QUERY = 0xffffffff; // an invalid id changes nothing and returns the current one
    const uid = libc.setfsuid(QUERY);
    const gid = libc.setfsgid(QUERY);
    try {
      assert.equal(libc.setfsgid(65534), gid);
      assert.equal(libc.setfsuid(65534), uid);
      assert.equal(libc.setfsuid(QUERY), 65534);
      // Synchronous fs calls run on this thread, so they act as 65534.
      writeFileSync(join(open, 'f'), '');
      assert.throws(() => writeFileSync(join(closed, 'f'), ''), { code: 'EACCES' });
    } finally {
      libc.setfsuid(uid);
      libc.setfsgid(gid);
    }
    assert.equal(libc.setfsuid(QUERY), uid);
    const made = statSync(join(open, 'f'));
    assert.deepEqual([made.uid, made.gid], [65534, 65534]);
    writeFileSync(join(closed, 'f'), ''); // root's powers are back
  }));
});
