import { SysError, errnoNumber } from '@kmx/core';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02). */
export const Status = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/**
 * Thrown when the connection carrying SFTP is gone (closed, timed out, never answered): the
 * connection layer decides whether to retry; a FUSE caller sees EIO.
 */
export class ConnectionLost extends SysError {
  constructor(operation: string, detail: string) {
    super(5, operation, undefined, { detail });
    this.name = 'ConnectionLost';
  }
}

/**
 * SSH_FX_FAILURE says nothing about why. OpenSSH's sftp-server maps ENOENT and EACCES/EPERM
 * to their own codes and everything else to FAILURE; kmx's server puts the errno name first
 * in the message ("ENOTEMPTY: …"). Otherwise the operation decides the likeliest errno, as
 * the kernel has already ruled out the obvious (a mkdir over an existing name never gets here).
 */
const FAILURE_ERRNO: Record<string, string> = {
  rmdir: 'ENOTEMPTY',
  mkdir: 'EEXIST',
  symlink: 'EEXIST',
  link: 'EEXIST',
  rename: 'EEXIST',
  write: 'EIO',
  read: 'EIO',
  fsync: 'EIO',
};

const PATH_MAX = 4096;
const NAME_MAX = 255;

/** Whether the kernel would refuse `path` as too long: PATH_MAX bytes with its NUL, or a name beyond NAME_MAX. */
export function nameTooLong(path: string | undefined): boolean {
  if (path === undefined) return false;
  if (Buffer.byteLength(path) >= PATH_MAX) return true;
  return path.split('/').some((name) => Buffer.byteLength(name) > NAME_MAX);
}

/** An errno-carrying error for a failed SFTP request. */
export function sftpError(err: unknown, operation: string, path: string | undefined): Error {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.code !== 'number') return new ConnectionLost(operation, message);
  const named = /^(E[A-Z0-9]+)\b/.exec(message)?.[1];
  const fromMessage = named ? errnoNumber(named) : undefined;
  switch (e.code) {
    case Status.NO_SUCH_FILE:
      return SysError.of('ENOENT', operation, path);
    case Status.PERMISSION_DENIED:
      return fromMessage === 1 ? SysError.of('EPERM', operation, path) : SysError.of('EACCES', operation, path);
    case Status.FAILURE:
      if (fromMessage !== undefined) return new SysError(fromMessage, operation, path);
      return SysError.of(FAILURE_ERRNO[operation] ?? 'EPERM', operation, path, { detail: message });
    case Status.BAD_MESSAGE:
      // OpenSSH's sftp-server's answer to ENAMETOOLONG and EINVAL (and to a malformed packet).
      if (fromMessage !== undefined) return new SysError(fromMessage, operation, path);
      if (path === undefined) return SysError.of('EIO', operation, path, { detail: message });
      return SysError.of(nameTooLong(path) ? 'ENAMETOOLONG' : 'EINVAL', operation, path);
    case Status.OP_UNSUPPORTED:
      return SysError.of('ENOSYS', operation, path);
    case Status.NO_CONNECTION:
    case Status.CONNECTION_LOST:
      return new ConnectionLost(operation, message);
    default:
      return SysError.of('EIO', operation, path, { detail: message });
  }
}
