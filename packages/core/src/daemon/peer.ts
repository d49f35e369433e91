import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { SysError } from '../errors/index.js';
import { close } from '../libc/files.js';
import { pidfdAlive, pidfdOpen } from '../libc/namespaces.js';
import { peerCredentials, peerPidfd, socketFd } from '../libc/socket.js';
import { userById, type PasswdEntry } from '../libc/users.js';
import { checkUserName } from './policy.js';

// Who is on the other end of a connection: from the kernel (SO_PEERCRED, SO_PEERPIDFD) and
// the passwd database, never from anything the client sends.

export interface Peer {
  uid: number;
  gid: number;
  pid: number;
  /** A pidfd of the connecting process: its mount namespace is where mounts land. */
  pidfd: number;
  user: PasswdEntry;
  /** `alice(1001) pid 4242`, for log lines. */
  label: string;
}

/** The real uid in /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs"). */
function statusUids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:')) ?? '';
  return line.split(/\s+/).slice(1).filter(Boolean).map(Number);
}

/**
 * A pidfd of the peer. SO_PEERPIDFD (Linux 6.5+) names the very process that connected; older
 * kernels get pidfd_open(pid), then a check that this process has the peer's uid and was still
 * alive after the check, so a recycled pid cannot stand in for the peer.
 */
function pidfdOf(fd: number, pid: number, uid: number): number {
  try {
    return peerPidfd(fd);
  } catch (err) {
    if (!(err instanceof SysError) || !['ENOPROTOOPT', 'EINVAL', 'EOPNOTSUPP'].includes(err.code)) throw err;
  }
  const pidfd = pidfdOpen(pid);
  try {
    if (!statusUids(pid).includes(uid) || !pidfdAlive(pidfd)) throw SysError.of('ESRCH', 'peer', String(pid), { detail: 'the connecting process is gone' });
    return pidfd;
  } catch (err) {
    close(pidfd);
    throw err;
  }
}

/** Identifies the peer of an accepted connection; the caller closes `pidfd` when the connection ends. */
export function identify(socket: Socket): Peer {
  const fd = socketFd(socket);
  const { uid, gid, pid } = peerCredentials(fd);
  if (pid <= 0) throw SysError.of('EPERM', 'peer', undefined, { detail: 'the connecting process is not visible from kmxd (another pid namespace)' });
  const user = userById(uid);
  if (!user) throw SysError.of('EPERM', 'peer', String(uid), { detail: `uid ${uid} has no passwd entry` });
  checkUserName(user.name);
  const pidfd = pidfdOf(fd, pid, uid);
  return { uid, gid, pid, pidfd, user, label: `${user.name}(${uid}) pid ${pid}` };
}
