import { constants } from 'node:os';
import { SysError } from '@kmx/core';

// How a libnfs 4.0 call fails, in kmx's terms: the connection broke (ConnectionLost), the server
// does not know the client's NFSv4 state (NfsStateError), or it refused the request (an errno).

const EIO = 5;

/**
 * libnfs's words for a broken connection, as a user would say them. Its error string is the
 * context's last one, which may be an earlier call's (a failed lookup, say): only its words for
 * the connection count.
 */
export function plainReason(message: string): string {
  const socket = /socket error (.+?)\(\d+\)/.exec(message);
  if (socket) return socket[1]!.replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());
  if (/PDU exceeds limit/.test(message)) return 'an answer too large for libnfs (is it an NFS server?)';
  if (/timed out/i.test(message)) return 'no answer in time';
  return 'the server closed the connection';
}

/** The NFS statuses (v3 and v4) a server refuses a request with, as errnos. */
const STATUS_ERRNO: Record<string, keyof typeof constants.errno> = {
  PERM: 'EPERM', NOENT: 'ENOENT', IO: 'EIO', NXIO: 'ENXIO', ACCES: 'EACCES', ACCESS: 'EACCES', EXIST: 'EEXIST', XDEV: 'EXDEV',
  NODEV: 'ENODEV', NOTDIR: 'ENOTDIR', ISDIR: 'EISDIR', INVAL: 'EINVAL', FBIG: 'EFBIG', NOSPC: 'ENOSPC', ROFS: 'EROFS',
  MLINK: 'EMLINK', NAMETOOLONG: 'ENAMETOOLONG', NOTEMPTY: 'ENOTEMPTY', DQUOT: 'EDQUOT', STALE: 'ESTALE', BADHANDLE: 'ESTALE',
  FHEXPIRED: 'ESTALE', NOTSUPP: 'EOPNOTSUPP', ATTRNOTSUPP: 'EOPNOTSUPP', SYMLINK: 'ELOOP', SHARE_DENIED: 'EACCES',
  FILE_OPEN: 'EBUSY', LOCKED: 'EAGAIN', DENIED: 'EAGAIN', OPENMODE: 'EBADF', BADOWNER: 'EINVAL', BADNAME: 'EINVAL',
  BADCHAR: 'EINVAL', BADTYPE: 'EINVAL', WRONG_TYPE: 'EINVAL', TOOSMALL: 'EIO', SERVERFAULT: 'EIO', JUKEBOX: 'EAGAIN',
  DELAY: 'EAGAIN', GRACE: 'EAGAIN',
};

/**
 * NFSv4 statuses that say the client's state (its open-owner sequence, its stateids, its lease)
 * is not what the server has: the request was not carried out, and the state must be made anew.
 */
const STATE_STATUSES = new Set(['BAD_SEQID', 'STALE_CLIENTID', 'STALE_STATEID', 'BAD_STATEID', 'OLD_STATEID', 'EXPIRED', 'ADMIN_REVOKED', 'LEASE_MOVED']);

/** The errno of an NFS status code as a server sends it (v3 and v4 share the codes below 10000). */
export function statusErrno(status: number): number {
  const names: Record<number, string> = {
    1: 'PERM', 2: 'NOENT', 5: 'IO', 6: 'NXIO', 13: 'ACCES', 17: 'EXIST', 18: 'XDEV', 19: 'NODEV', 20: 'NOTDIR', 21: 'ISDIR',
    22: 'INVAL', 27: 'FBIG', 28: 'NOSPC', 30: 'ROFS', 31: 'MLINK', 63: 'NAMETOOLONG', 66: 'NOTEMPTY', 69: 'DQUOT', 70: 'STALE',
    10001: 'BADHANDLE', 10004: 'NOTSUPP', 10008: 'DELAY', 10013: 'GRACE', 10029: 'SYMLINK',
  };
  const errno = STATUS_ERRNO[names[status] ?? ''];
  return errno ? constants.errno[errno] : EIO;
}

/** How a libnfs call failed. */
export type Failure =
  | { kind: 'transport'; reason: string }
  /** NFSv4: the server does not know (or no longer accepts) this client's state; nothing was done. */
  | { kind: 'state'; status: string }
  /** The server (or libnfs, for it) refused the request: an errno for the caller. */
  | { kind: 'refused'; errno: number; status?: string };

/**
 * Sorts out a failed libnfs 4.0 call: `err` is its (negative) result, `message` the string it
 * handed over, `contextError` nfs_get_error() right after.
 * - libnfs reports a lost connection as EFAULT and a timeout as EINTR, but its NFSv3 READ and
 *   WRITE also answer a server's refusal (NOSPC, FBIG, STALE, ACCES…) with EFAULT, saying which
 *   in the context's error ("NFS: Write failed with NFS3ERR_NOSPC(-28)"): taken for a broken
 *   connection, such a write was sent again on a new one, refused again, and so on.
 * - Its errnos for NFSv4-only statuses (and for DQUOT) are ERANGE: the status named at the end
 *   of the message says what it was.
 */
export function classifyFailure(err: number, message: string, contextError: string): Failure {
  if (-err === constants.errno.EINTR) return { kind: 'transport', reason: /timed out/i.test(message) ? 'timed out' : 'cancelled' };
  if (-err === constants.errno.EFAULT) {
    const refused = /^NFS: (?:Read|Write) failed(?: with NFS3ERR_([A-Z_]+)\(-?\d+\)|\. No bytes (?:read|written).*)$/.exec(contextError);
    if (refused) {
      const errno = refused[1] === undefined ? undefined : STATUS_ERRNO[refused[1]];
      return { kind: 'refused', errno: errno ? constants.errno[errno] : EIO, ...(refused[1] ? { status: refused[1] } : {}) };
    }
    if (/^Symlink not found during lookup/.test(message)) return { kind: 'refused', errno: EIO };
    return { kind: 'transport', reason: plainReason(`${message} ${contextError}`) };
  }
  // The status ends the message ("NFS4: OPEN (path /a) failed with NFS4ERR_ACCESS(-13)"); the
  // path before it is only a name, whatever it reads like.
  const named = /failed with NFS[34]ERR_([A-Z_]+)\(-?\d+\)\s*$/.exec(message);
  if (named) {
    const status = named[1]!;
    if (STATE_STATUSES.has(status)) return { kind: 'state', status };
    const errno = STATUS_ERRNO[status];
    return { kind: 'refused', errno: errno ? constants.errno[errno] : EIO, status };
  }
  // libnfs's NFSv4 open checks the parent directory's ACCESS after the server has opened the
  // file: the caller may not have what it asked for there.
  if (/^Insufficient ACCESS/.test(message)) return { kind: 'refused', errno: constants.errno.EACCES, status: 'ACCESS' };
  const code = -err > 0 && -err < 200 && -err !== constants.errno.ERANGE ? -err : EIO;
  return { kind: 'refused', errno: code };
}

/**
 * NFSv4: the server does not know this client's state as libnfs has it (its open-owner
 * sequence is out of step, or a stateid or the lease is gone). The request was not carried out;
 * the connection starts a fresh NFSv4 client and sends it again (connection.ts).
 */
export class NfsStateError extends SysError {
  constructor(what: string, readonly status: string, detail: string) {
    super(EIO, what, undefined, { detail });
  }
}

/**
 * A call failed because the connection did (it broke, or the server left a call unanswered for
 * the timeout): an I/O error to whoever is not prepared to reconnect (see connection.ts).
 */
export class ConnectionLost extends SysError {
  constructor(what: string, readonly reason: string) {
    super(EIO, what, undefined, { detail: reason });
  }
}
