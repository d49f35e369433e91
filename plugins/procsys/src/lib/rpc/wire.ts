import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { SysError, errnoName, errnoNumber, errnoOf, type Attr } from '@kmx/core';
import { ReadManyFiles, type Attr as WireAttr, type ReadManyReply, type ReadReply } from './generated/procsys.js';

const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);

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

/** Below this many bytes a batch of files goes as it is: deflating it would save little. */
const DEFLATE_FROM_BYTES = 4096;

/**
 * A ReadMany reply for a client that accepts deflate: the files encoded and compressed (level
 * 1: about tenfold smaller for /proc text, ~3 ms per MB), off the event loop. Small batches go
 * as they are.
 */
export async function readManyReply(files: ReadReply[], acceptDeflate: boolean): Promise<ReadManyReply> {
  if (!acceptDeflate || files.reduce((n, f) => n + f.data.length, 0) < DEFLATE_FROM_BYTES) return { files, deflated: Buffer.alloc(0) };
  const deflated = await deflateRaw(ReadManyFiles.encode({ files }).finish(), { level: 1 });
  return { files: [], deflated };
}

/** The files of a ReadMany reply, deflated or not (inflated off the event loop). */
export async function readManyFiles(reply: ReadManyReply): Promise<ReadReply[]> {
  if (reply.deflated.length === 0) return reply.files;
  try {
    return ReadManyFiles.decode(await inflateRaw(reply.deflated, { maxOutputLength: MAX_INFLATED })).files;
  } catch (err) {
    throw SysError.of('EPROTO', 'read', undefined, { detail: `the agent's compressed reply is broken: ${err instanceof Error ? err.message : String(err)}` });
  }
}

/** The largest a batch may inflate to: more than any agent sends (8192 files of 64 KiB at most). */
const MAX_INFLATED = 8192 * 65536 + 8192 * 64;
