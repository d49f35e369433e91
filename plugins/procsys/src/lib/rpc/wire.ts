import { SysError, errnoName, errnoNumber, errnoOf, type Attr } from '@kmx/core';
import type { Attr as WireAttr } from './generated/procsys.js';

// Conversions between the view's types and the agent protocol's messages.

export function toWireAttr(a: Attr): WireAttr {
  return {
    mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid, size: a.size, ino: a.ino ?? 0,
    atimeSec: a.atime.sec, atimeNsec: a.atime.nsec, mtimeSec: a.mtime.sec, mtimeNsec: a.mtime.nsec, ctimeSec: a.ctime.sec, ctimeNsec: a.ctime.nsec,
  };
}

export function fromWireAttr(w: WireAttr | undefined): Attr {
  if (!w) throw SysError.of('EPROTO', 'stat', undefined, { detail: 'the agent sent no attributes' });
  return {
    mode: w.mode, nlink: w.nlink, uid: w.uid, gid: w.gid, size: w.size, ino: w.ino,
    atime: { sec: w.atimeSec, nsec: w.atimeNsec }, mtime: { sec: w.mtimeSec, nsec: w.mtimeNsec }, ctime: { sec: w.ctimeSec, nsec: w.ctimeNsec },
  };
}

/** The errno name an operation failed with ('EIO' for failures without one). */
export function errorName(err: unknown): string {
  const errno = errnoOf(err);
  return errno === undefined ? 'EIO' : errnoName(errno);
}

/** Throws the SysError an agent's `error` field names; '' is success. Unknown names become EIO. */
export function throwIfError(error: string, syscall: string, path: string): void {
  if (!error) return;
  const errno = /^E[A-Z0-9]+$/.test(error) ? errnoNumber(error) : undefined;
  throw new SysError(errno ?? 5, syscall, path);
}
