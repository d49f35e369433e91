import type { Socket } from 'node:net';
import { SOL_SOCKET, SO_PEERCRED, SO_PEERPIDFD } from './constants.js';
import { cfn, check } from './library.js';
import { SysError } from '../errors/index.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

function getsockopt(fd: number, option: number, out: Buffer, what: string): number {
  const fn = cfn('int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *length)');
  const length = new Uint32Array([out.length]);
  check(fn(fd, SOL_SOCKET, option, out, length), 'getsockopt', what);
  return length[0] ?? 0;
}

/** SO_PEERCRED: who connected to a UNIX socket, as the kernel recorded it at connect(). */
export function peerCredentials(fd: number): PeerCredentials {
  const buf = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  getsockopt(fd, SO_PEERCRED, buf, 'SO_PEERCRED');
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

/** SO_PEERPIDFD (Linux 6.5+): a pidfd of the peer as of connect(); the caller closes it. */
export function peerPidfd(fd: number): number {
  const buf = Buffer.alloc(4);
  getsockopt(fd, SO_PEERPIDFD, buf, 'SO_PEERPIDFD');
  return buf.readInt32LE(0);
}

/** The file descriptor under a connected net.Socket (Node keeps it on an internal handle). */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw SysError.of('EBADF', 'socket', undefined, { detail: 'socket has no file descriptor' });
  return fd;
}
